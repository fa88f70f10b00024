/* SPDX-License-Identifier: MIT */
/*
 * The emulated AMD-Vi driver: what the core and the tests may see.
 *
 * The core reaches the driver only through svf_amd_ops (iommu_driver.h).
 * The rest is the test-only introspection API: command encodings, the
 * command log, the IOTLB, the event log. None of it changes driver state or
 * counters. Threading as for vtd.h: meant for the writer thread; the IOTLB
 * peek is also safe against concurrent translations; the log calls take
 * the unit lock.
 */
#ifndef SOFTVFIO_AMD_H
#define SOFTVFIO_AMD_H

#include <stdbool.h>
#include <stdint.h>

#include "iommu_driver.h"

extern const struct svf_iommu_ops svf_amd_ops;

/* Every power of two from 4 KiB to 64 TiB except 512 GiB (Linux's v1 bitmap). */
#define SVF_AMD_PGSIZES          0x7f7ffffff000ull
#define SVF_AMD_DEFAULT_SETS     64u
#define SVF_AMD_DEFAULT_WAYS     8u
#define SVF_AMD_DEFAULT_CMDS     512u /* Linux's command buffer: 8 KiB of 16-byte commands */
#define SVF_AMD_LOG_DEPTH        256u /* commands kept in the log */
#define SVF_AMD_EVENT_DEPTH      512u /* event log entries (Linux's 8 KiB event buffer) */

/* Reserved regions every AMD-Vi domain reports (inclusive). */
#define SVF_AMD_MSI_START 0xfee00000ull
#define SVF_AMD_MSI_LAST  0xfeefffffull
#define SVF_AMD_HT_START  0xfd00000000ull
#define SVF_AMD_HT_LAST   0xffffffffffull

/* Command opcodes (bits 60..63 of the command's second word pair). */
enum svf_amd_cmd_op {
	SVF_AMD_CMD_COMPLETION_WAIT = 0x01,
	SVF_AMD_CMD_INV_DEVTAB_ENTRY = 0x02,
	SVF_AMD_CMD_INV_IOMMU_PAGES = 0x03,
	SVF_AMD_CMD_INV_IOMMU_ALL = 0x08,
};

/* One 128-bit command as the IOMMU reads it from the buffer. */
struct svf_amd_cmd {
	uint32_t w[4];
};

/* INVALIDATE_IOMMU_PAGES word 2 flags and the "every page" address. */
#define SVF_AMD_INV_S          0x1ull
#define SVF_AMD_INV_PDE        0x2ull
#define SVF_AMD_INV_ALL_ADDR   0x7ffffffffffff000ull
/* COMPLETION_WAIT word 0: store the data to the semaphore. */
#define SVF_AMD_CW_STORE       0x1u

/* A command decoded (what the unit does with it). */
struct svf_amd_cmd_info {
	uint8_t op;            /* enum svf_amd_cmd_op, or what the words say */
	uint16_t domid;        /* INV_IOMMU_PAGES */
	uint16_t devid;        /* INV_DEVTAB_ENTRY */
	bool s, pde;           /* INV_IOMMU_PAGES flags */
	uint64_t first, last;  /* INV_IOMMU_PAGES: the IOVA range covered (inclusive) */
	bool store;            /* COMPLETION_WAIT */
	uint64_t store_addr, store_data;
};

/*
 * The address field (with the S bit in bit 0) that makes one
 * INVALIDATE_IOMMU_PAGES cover [start, last]: the page itself with S clear
 * for one page; otherwise the smallest naturally aligned block containing
 * both ends, written as its base with every address bit below the block's
 * top bit set (the first zero bit at or above 12 then names the size), or
 * the "every page" address when the ends differ above bit 51.
 */
uint64_t svf_amd_inv_address(uint64_t start, uint64_t last);

/* Command builders (what the driver queues) and the decoder (what the unit reads). */
struct svf_amd_cmd svf_amd_cmd_inv_pages(uint16_t domid, uint64_t inv_address, bool pde);
struct svf_amd_cmd svf_amd_cmd_inv_devtab(uint16_t devid);
struct svf_amd_cmd svf_amd_cmd_inv_all(void);
struct svf_amd_cmd svf_amd_cmd_completion_wait(uint64_t store_addr, uint64_t data);
void svf_amd_cmd_decode(const struct svf_amd_cmd *c, struct svf_amd_cmd_info *out);

/*
 * The next naturally aligned block of an aligned-flush walk over
 * [addr, addr+size): the smaller of addr's alignment and the largest power
 * of two not above size (Linux's loop for units that cache non-present
 * entries). size > 0.
 */
uint64_t svf_amd_flush_block(uint64_t addr, uint64_t size);

/*
 * Event log entries (128 bits, as the unit writes them to the event log):
 * IO_PAGE_FAULT, event code 2 in bits 28..31 of word 1; word 0 the device
 * id, word 1 the domain id and the flags (bits 16..27), words 2/3 the
 * address of the access.
 */
#define SVF_AMD_EVENT_IO_PAGE_FAULT 0x2u
/* IO_PAGE_FAULT flags (AMD I/O Virtualization Technology specification). */
#define SVF_AMD_EVF_PR 0x010u /* the translation was present (a permission fault) */
#define SVF_AMD_EVF_RW 0x020u /* the access was a write */
#define SVF_AMD_EVF_PE 0x040u /* permission violation */

struct svf_amd_event {
	uint32_t w[4];
};

struct svf_amd_event_info {
	uint8_t code;     /* SVF_AMD_EVENT_* */
	uint16_t devid, domid;
	uint16_t flags;   /* SVF_AMD_EVF_* */
	uint64_t address;
};

void svf_amd_event_decode(const struct svf_amd_event *e, struct svf_amd_event_info *out);

/*
 * Render e as the line Linux's AMD IOMMU driver logs for it (no newline):
 *   AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0001 address=0x5000 flags=0x0020]
 * the text of its per-device message (the kernel log puts the device's
 * name before it), or with device_field the form it uses when no device
 * is bound, naming the device id as segment:bus:device.function:
 *   AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:00:08.0 domain=0x0001 ...]
 * Writes at most len bytes with the NUL, the full length through *n (may be
 * NULL; as snprintf). 0, or -EINVAL for an event that is not an
 * IO_PAGE_FAULT or a NULL buf with len > 0.
 */
int svf_amd_event_format(const struct svf_amd_event *e, bool device_field, char *buf, size_t len,
			 size_t *n);

/*
 * Take the oldest events not read yet (at most max, the number through
 * *nr); *overflow (may be NULL) tells whether events were lost because the
 * log was full (EventOverflow), and is cleared. Returns 0.
 */
int svf_amd_read_events(struct svf_iommu *u, struct svf_amd_event *out, size_t max, size_t *nr,
			bool *overflow);

/* The device id standing for a domain's one device (bus 0, device = domain id). */
uint16_t svf_amd_devid(const struct svf_domain *d);

/* Valid IOTLB entries now. */
unsigned svf_amd_iotlb_count(const struct svf_iommu *u);
/* As svf_vtd_iotlb_peek: the cached translation of iova, or -ENOENT. */
int svf_amd_iotlb_peek(const struct svf_iommu *u, uint16_t domid, uint64_t iova, uint64_t *phys,
		       uint64_t *block, int *prot);

/* Commands issued since the unit was created, and the nth of them (or -ENOENT). */
uint64_t svf_amd_cmd_logged(const struct svf_iommu *u);
int svf_amd_cmd_log(const struct svf_iommu *u, uint64_t n, struct svf_amd_cmd *out);
/* Commands in the buffer not yet processed. */
unsigned svf_amd_pending_cmds(const struct svf_iommu *u);
/* The completion-wait semaphore now, and the last value the driver waited for. */
void svf_amd_semaphore(const struct svf_iommu *u, uint64_t *now, uint64_t *waited);
/* Table pages waiting for the next completion wait to be freed. */
uint64_t svf_amd_deferred_pages(const struct svf_iommu *u);

/*
 * The page-table leaf translating iova in d: 0 with the raw entry of the
 * replica the walk reaches, its level, the leaf size and the replica count
 * (entries holding the same value), or -ENOENT.
 */
int svf_amd_leaf(struct svf_domain *d, uint64_t iova, uint64_t *pte, unsigned *level,
		 uint64_t *size, unsigned *replicas);

#endif

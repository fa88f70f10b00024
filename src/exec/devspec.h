/* SPDX-License-Identifier: MIT */
/*
 * Device specifications of `softvfio exec --device SPEC`, shared by the
 * command (which checks them before starting the program) and the preload
 * library (which builds the devices from them).
 *
 *   SPEC := KIND[,bdf=[DDDD:]BB:DD.F][,group=N][,dma_mask=MASK]
 *
 * KIND is "edu" (QEMU's edu device) or "ioat" (an Intel I/OAT DMA engine,
 * which ignores dma_mask). dma_mask is written as QEMU's edu
 * property is: a number, decimal or 0x hex (default 0xfffffff, 28 bits).
 * The list travels to the preload library in SOFTVFIO_DEVICES, the specs
 * joined by ';'. Devices without bdf= take 0000:00:03.0, then the next free
 * slot; devices without group= take the lowest group number no other device
 * uses, so each is alone in its group.
 */
#ifndef SVF_EXEC_DEVSPEC_H
#define SVF_EXEC_DEVSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SVF_EXEC_MAX_DEVICES 16
#define SVF_EXEC_DEFAULT_DMA_MASK ((1ULL << 28) - 1)

enum svf_exec_kind {
	SVF_EXEC_EDU = 0,
	SVF_EXEC_IOAT = 1,
};

struct svf_exec_devspec {
	enum svf_exec_kind kind;
	bool has_bdf, has_group;
	uint16_t domain;
	uint8_t bus, slot, fn;
	unsigned group;
	uint64_t dma_mask;
};

struct svf_exec_devlist {
	unsigned n;
	struct svf_exec_devspec dev[SVF_EXEC_MAX_DEVICES];
};

/*
 * Parse one SPEC and append it to l (before defaults are filled). 0, or
 * -EINVAL with a message in err (errlen bytes), -ENOSPC for too many.
 */
int svf_exec_devspec_add(struct svf_exec_devlist *l, const char *spec, char *err, size_t errlen);

/*
 * Parse a ';'-separated list (SOFTVFIO_DEVICES); NULL or "" gives the
 * default (one edu). Fills defaults. 0 or -EINVAL / -ENOSPC with err.
 */
int svf_exec_devlist_parse(struct svf_exec_devlist *l, const char *list, char *err, size_t errlen);

/*
 * Fill bdf and group defaults and check that no two devices share a BDF.
 * An empty list becomes one edu device. 0 or -EINVAL with err.
 */
int svf_exec_devlist_finish(struct svf_exec_devlist *l, char *err, size_t errlen);

/* "0000:00:03.0" into buf (at least 13 bytes). */
void svf_exec_bdf_name(const struct svf_exec_devspec *d, char *buf, size_t len);

/* The kind's name ("edu", "ioat"). */
const char *svf_exec_kind_name(enum svf_exec_kind k);

/* The canonical SPEC of d (every key written), for SOFTVFIO_DEVICES. */
int svf_exec_devspec_format(const struct svf_exec_devspec *d, char *buf, size_t len);

#endif

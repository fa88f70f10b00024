/* SPDX-License-Identifier: MIT */
/*
 * The emulated Intel VT-d driver: what the core and the tests may see.
 *
 * The core reaches the driver only through svf_vtd_ops (iommu/iommu_driver.h). The
 * rest of this header is the test-only introspection API: IOTLB contents,
 * the invalidation queue, the descriptor log and the mask arithmetic. None of it changes driver state or counters, so a test
 * can look without disturbing what it measures.
 *
 * Threading: the introspection calls are meant for the thread that drives
 * map/unmap/wait (the writer). svf_vtd_iotlb_peek() and svf_vtd_iotlb_count()
 * are also safe against concurrent translations; the queue and log calls
 * take the unit lock.
 */
#ifndef SOFTVFIO_VTD_H
#define SOFTVFIO_VTD_H

#include <stdbool.h>
#include <stdint.h>

#include "iommu_driver.h"

extern const struct svf_iommu_ops svf_vtd_ops;

/* Defaults; the published sources are named in vtd.c (above vtd_default_cost). */
#define SVF_VTD_DEFAULT_SETS           64u
#define SVF_VTD_DEFAULT_WAYS           8u
#define SVF_VTD_DEFAULT_QUEUE_DEPTH    1024u
#define SVF_VTD_DEFAULT_MAX_MASK_ORDER 18u /* QEMU's emulated VT-d (CAP_REG.MAMV) */
#define SVF_VTD_MAX_WAYS               64u
#define SVF_VTD_LOG_DEPTH              256u /* descriptors kept in the log */

/* The MSI window every VT-d domain reserves (inclusive). */
#define SVF_VTD_MSI_START 0xfee00000ull
#define SVF_VTD_MSI_LAST  0xfeefffffull

enum svf_vtd_desc_type {
	SVF_VTD_DESC_PAGE = 1, /* page-selective IOTLB invalidation within a domain */
	SVF_VTD_DESC_DOMAIN,   /* domain-selective */
	SVF_VTD_DESC_GLOBAL,   /* global */
	SVF_VTD_DESC_WAIT,     /* invalidation wait (completes everything before it) */
};

/* One invalidation descriptor, decoded. */
struct svf_vtd_desc {
	uint8_t type;   /* enum svf_vtd_desc_type */
	uint8_t order;  /* PAGE: address mask (the block is 2^order 4 KiB pages) */
	bool ih;        /* PAGE: invalidation hint (only leaf entries changed) */
	uint16_t did;   /* PAGE, DOMAIN: domain id */
	uint64_t addr;  /* PAGE: block start, aligned to 4 KiB << order */
};

/*
 * The page-selective mask VT-d needs for [start, last]: the naturally aligned
 * block of 2^order 4 KiB pages that covers it, starting from
 * order = ceil(log2(pages)) and growing until start and last agree above the
 * mask. Returns true with *addr and *order when order <= max_order, false
 * when a domain-selective invalidation is needed instead (*addr and *order
 * then hold the block that would have been needed). start <= last.
 */
bool svf_vtd_inv_mask(uint64_t start, uint64_t last, unsigned max_order, uint64_t *addr,
		      unsigned *order);

/* Valid IOTLB entries of the unit now. */
unsigned svf_vtd_iotlb_count(const struct svf_iommu *u);

/*
 * Look up (did, iova) in the IOTLB without counting, filling or walking.
 * Returns 0 with the cached translation of iova (phys of iova itself, the
 * leaf size, SVF_PROT_* bits), or -ENOENT when no entry covers it. Any out
 * pointer may be NULL.
 */
int svf_vtd_iotlb_peek(const struct svf_iommu *u, uint16_t did, uint64_t iova, uint64_t *phys,
		       uint64_t *leaf_size, int *prot);

/* The IOTLB set an entry (did, iova, leaf_size) lives in, for conflict tests. */
unsigned svf_vtd_iotlb_set_of(const struct svf_iommu *u, uint16_t did, uint64_t iova,
			      uint64_t leaf_size);

/* The geometry in force (configuration zeros resolved to defaults). */
void svf_vtd_geometry(const struct svf_iommu *u, unsigned *sets, unsigned *ways,
		      unsigned *queue_depth, unsigned *max_mask_order);

/* Invalidation descriptors queued and not yet completed by a wait. */
unsigned svf_vtd_pending_descs(const struct svf_iommu *u);

/* Page-table pages unlinked and waiting for the next wait to be freed. */
uint64_t svf_vtd_deferred_pages(const struct svf_iommu *u);

/* Descriptors issued since the unit was created (waits included). */
uint64_t svf_vtd_desc_logged(const struct svf_iommu *u);

/*
 * The nth descriptor issued (0-based, in issue order). Returns 0, or -ENOENT
 * when n was not issued yet or has left the log (it keeps the last
 * SVF_VTD_LOG_DEPTH).
 */
int svf_vtd_desc_log(const struct svf_iommu *u, uint64_t n, struct svf_vtd_desc *out);

#endif

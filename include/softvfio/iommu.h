/* SPDX-License-Identifier: MIT */
/*
 * softvfio IOMMU core: the driver-independent API (layer 4 of docs/design.md).
 *
 * A *unit* is one emulated IOMMU (its IOTLB, its invalidation queue, its cost
 * model, its counters). A *domain* is one I/O address space on a unit: one
 * page table and one domain id. The type1 container attaches domains; a
 * device translates through a domain.
 *
 * Range vocabulary: the API takes (iova, len); inside, a range is
 * [start, last] and "end" is exclusive.
 *
 * Unmap contract (as in Linux's fast unmap for type1, docs/design.md):
 * svf_iommu_unmap_fast() clears the translation and adds what it actually
 * removed (a whole superpage when the request falls inside one) to the
 * caller's gather, and may queue invalidations, but never
 * waits. Until svf_iommu_iotlb_sync() on that gather returns, the device may
 * still translate the removed range through its IOTLB, so the pages behind it
 * must stay pinned. svf_iommu_unmap() is unmap_fast followed by a sync.
 *
 * Threading: map, unmap, sync and flush on one domain are serialized by the
 * caller (the container's lock). Device-side translation
 * (svf_iommu_translate) may run concurrently from any number of threads.
 */
#ifndef SOFTVFIO_IOMMU_H
#define SOFTVFIO_IOMMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <softvfio/page.h>
#include <softvfio/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

struct svf_iommu;
struct svf_domain;

#define SVF_PROT_READ  1
#define SVF_PROT_WRITE 2

/* Invalidation cost model, in modeled nanoseconds of device time. */
struct svf_cost_model {
	bool enabled;          /* false: modeled_ns stays 0 */
	uint64_t inv_page_ns;  /* one page-selective descriptor */
	uint64_t inv_domain_ns;
	uint64_t inv_global_ns;
	uint64_t wait_ns;      /* one wait descriptor, queue drain included */
	uint64_t walk_level_ns;/* one page-table level read on an IOTLB miss */
};

struct svf_iommu_config {
	const char *driver;      /* "vtd" or "amd" (NULL means "vtd") */
	unsigned iotlb_sets;     /* 0: driver default */
	unsigned iotlb_ways;     /* 0: driver default */
	unsigned queue_depth;    /* invalidation queue descriptors; 0: default */
	unsigned max_mask_order; /* largest page-selective mask (VT-d MAMV); 0: default */
	bool check_unpin;        /* verify every unpin against IOTLB/queue/page table */
	bool hw_dirty;           /* the unit tracks dirtiness: device writes set PTE D bits */
	struct svf_cost_model cost; /* cost.enabled false and all zero: defaults */
	bool cost_off;           /* force the cost model off */
	/*
	 * AMD-Vi only. np_cache: the unit caches non-present entries (the
	 * NpCache capability, off on hardware): every map is then invalidated
	 * and waited for. covering_inv: a range is invalidated by one
	 * INVALIDATE_IOMMU_PAGES covering it (Linux on a unit without NpCache)
	 * instead of one per naturally aligned block (Linux with NpCache, as on
	 * an emulated AMD-Vi: the default); ignored with np_cache.
	 */
	bool np_cache;
	bool covering_inv;
};

/* The driver's published defaults (cost model source is named in the driver). */
void svf_iommu_default_config(const char *driver, struct svf_iommu_config *cfg);

/* Create a unit. Returns 0, -ENODEV for an unknown driver, -ENOMEM. */
int svf_iommu_create(const struct svf_iommu_config *cfg, struct svf_iommu **out);
/* Destroy a unit; every domain must have been freed. Never fails. */
void svf_iommu_destroy(struct svf_iommu *u);
const char *svf_iommu_driver_name(const struct svf_iommu *u);
/* Adds this unit's counters into *s. */
void svf_iommu_add_stats(const struct svf_iommu *u, struct svf_stats *s);

/*
 * The unit's own fault log, oldest unread entry first, rendered as the line
 * Linux's driver for that IOMMU prints to the kernel log (no newline). An
 * AMD-Vi unit logs an IO_PAGE_FAULT event for every device access that
 * does not translate or lacks the permission:
 *   AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0001 address=0x5000 flags=0x0020]
 * (flags: 0x020 a write, 0x010|0x040 a present translation without the
 * permission). Writes at most len bytes with the NUL and the full length
 * through *n (may be NULL). Returns 0; -ENOENT when nothing is unread;
 * -EOPNOTSUPP for a unit that keeps no log (VT-d: its faults are recorded
 * per device, svf_device_read_faults); -EINVAL for NULL buf with len > 0.
 */
int svf_iommu_fault_log_read(struct svf_iommu *u, char *buf, size_t len, size_t *n);

/* Allocate a domain on u (an empty page table). 0, -ENOMEM, -ENOSPC (ids). */
int svf_domain_alloc(struct svf_iommu *u, struct svf_domain **out);
/*
 * Free a domain: removes every translation, invalidates the domain and
 * waits, frees the page table. Never fails.
 */
void svf_domain_free(struct svf_domain *d);
struct svf_iommu *svf_domain_unit(const struct svf_domain *d);
uint16_t svf_domain_id(const struct svf_domain *d);

/* Page sizes the driver can map, as a bitmap of sizes (4 KiB = bit 12). */
uint64_t svf_domain_pgsize_bitmap(const struct svf_domain *d);
/* Highest IOVA the domain can translate (inclusive). */
uint64_t svf_domain_aperture_last(const struct svf_domain *d);
/* Whether the domain enforces cache coherency (VFIO_DMA_CC_IOMMU). */
bool svf_domain_enforces_coherency(const struct svf_domain *d);

struct svf_resv_region {
	uint64_t start, last; /* inclusive */
	const char *what;
};
/*
 * Reserved regions of the domain (the MSI window; on AMD-Vi also the
 * HyperTransport window). Writes at most max
 * entries, and the total through *nr. Returns 0.
 */
int svf_domain_resv_regions(const struct svf_domain *d, struct svf_resv_region *r,
			    size_t max, size_t *nr);

/*
 * Map [iova, iova+len) to [paddr, paddr+len) with prot (SVF_PROT_*), each
 * piece with the largest page size that alignment of iova and paddr and the
 * remaining length allow. iova, paddr and len must be 4 KiB aligned and the
 * range must not already be mapped.
 * Returns 0; -EINVAL (alignment, aperture, zero length); -EEXIST (a page is
 * already mapped); -ENOMEM (page-table page). On failure nothing of the
 * range stays mapped: what was mapped is unmapped and invalidated before
 * returning (Linux invalidates on a failed map too).
 */
int svf_iommu_map(struct svf_domain *d, uint64_t iova, uint64_t paddr, uint64_t len,
		  int prot);

/*
 * The gather: the IOVA ranges removed since the last sync, to be invalidated.
 * Preallocated by its owner; adding never allocates. With merge set,
 * adjacent or overlapping ranges become one range and a disjoint range
 * flushes (queues the invalidation of) the previous one first, as Linux's
 * iommu_iotlb_gather_add_page does; without merge every added range is
 * queued for invalidation at once (batched, on a driver that flushes per
 * unmap). Either way nothing waits until svf_iommu_iotlb_sync().
 */
struct svf_gather {
	struct svf_domain *dom; /* set by the first add; a gather serves one domain */
	uint64_t start, last;   /* pending merged range when !empty */
	bool empty;             /* no range waiting to be queued */
	bool queued;            /* descriptors queued since the last sync */
	bool merge;
	bool freed_tables;      /* page-table pages were unlinked: no leaf-only hint */
	bool need_domain_inv;   /* queueing a range failed: invalidate the domain at sync */
};

void svf_gather_init(struct svf_gather *g, bool merge);
/* True when the gather holds nothing to invalidate or wait for. */
bool svf_gather_is_empty(const struct svf_gather *g);

/*
 * Remove the translations of [iova, iova+len) without waiting, adding what
 * was removed to g. *unmapped receives the bytes actually removed, which may
 * exceed len where the range starts or ends inside a superpage, and is less
 * than len only when part of the range was not mapped (the walk stops at the
 * first unmapped page; that is not an error).
 * Returns 0, -EINVAL (alignment, aperture), or a driver errno. On error
 * *unmapped still says what was removed and added to g before the failure.
 */
int svf_iommu_unmap_fast(struct svf_domain *d, uint64_t iova, uint64_t len,
			 struct svf_gather *g, uint64_t *unmapped);

/*
 * unmap_fast of the physically contiguous run of translations that starts
 * at iova, at most maxlen bytes: the walk that removes the leaves also ends
 * the chunk where the next leaf is not physically contiguous, so finding
 * and removing a chunk costs one page-table descent (Linux's "look up,
 * extend while contiguous, unmap_fast" in one step). *first receives the
 * IOVA of the first leaf removed (below iova inside a superpage), *phys its
 * physical address, *unmapped the bytes removed from *first on (0 when iova
 * is not mapped). Returns as svf_iommu_unmap_fast().
 */
int svf_iommu_unmap_fast_run(struct svf_domain *d, uint64_t iova, uint64_t maxlen,
			     struct svf_gather *g, uint64_t *first, uint64_t *phys,
			     uint64_t *unmapped);

/* One physically contiguous run removed by svf_iommu_unmap_fast_runs(). */
struct svf_iommu_run {
	uint64_t iova;      /* IOVA of its first byte */
	uint64_t phys;      /* physical address of its first byte */
	uint64_t len;       /* bytes */
	bool freed_tables;  /* removing it unlinked page-table pages */
};

/*
 * svf_iommu_unmap_fast_run for every run of [iova, iova+len), in IOVA
 * order, at most max of them, in one call: the driver walks each leaf
 * table once and writes the runs into runs[] (what the unmap path's
 * pending list needs), adding them to g as it goes. Unmapped holes are
 * skipped (a run never spans one). *nruns receives the runs removed and
 * *end the IOVA below which [iova, end) holds nothing any more: iova+len,
 * or the start of the first run that did not fit. On error (nothing is
 * removed by the failing step) *nruns and *end say what was removed
 * before it. Returns as svf_iommu_unmap_fast().
 */
int svf_iommu_unmap_fast_runs(struct svf_domain *d, uint64_t iova, uint64_t len,
			      struct svf_gather *g, struct svf_iommu_run *runs, unsigned max,
			      unsigned *nruns, uint64_t *end);

/*
 * Invalidate everything in g and wait for it. An empty gather returns 0
 * without touching the driver. On success g is empty and reusable.
 * Returns 0; -EINVAL (g holds ranges of another domain); or a driver errno.
 * On a driver error g is not empty: its range was queued (or, where queueing
 * failed, is kept as a domain-wide invalidation still to do), and the next
 * sync on g invalidates and waits again. Until a sync of g has returned 0 the
 * caller must keep the pages behind its ranges pinned.
 */
int svf_iommu_iotlb_sync(struct svf_domain *d, struct svf_gather *g);

/*
 * unmap_fast then iotlb_sync on a private gather (a failed sync is retried
 * once). Returns unmap_fast's errno if it failed, else the sync's (0 or a
 * driver errno; then the removed range may still be cached: keep its pages
 * pinned).
 */
int svf_iommu_unmap(struct svf_domain *d, uint64_t iova, uint64_t len, uint64_t *unmapped);

/* Invalidate the whole domain and wait. Returns 0 or a driver errno. */
int svf_iommu_flush_all(struct svf_domain *d);

/*
 * Software page walk. Returns 0 with *phys (and, when non-NULL, the leaf
 * size and prot), or -ENOENT when iova is not mapped.
 */
int svf_iommu_iova_to_phys(struct svf_domain *d, uint64_t iova, uint64_t *phys,
			   uint64_t *leaf_size, int *prot);

/* Whether d's unit tracks dirtiness in its page table (svf_iommu_config.hw_dirty). */
bool svf_domain_hw_dirty(const struct svf_domain *d);

/*
 * Hardware dirty tracking, writer side: read and clear the dirty bits of
 * [iova, iova+len) in d. The pages of every dirty leaf that lie in the range
 * are ORed into bits, bit i standing for the 4 KiB page at base + i * 4 KiB
 * (bits NULL: clear only). Then the range is invalidated and waited for, so
 * translations the device cached as already dirty are gone and its next
 * write through them marks the page again. *ndirty (may be NULL) receives
 * the number of dirty leaves found. Returns 0, -EOPNOTSUPP when the unit
 * does not track dirtiness, -EINVAL, or a driver errno.
 */
int svf_iommu_read_clear_dirty(struct svf_domain *d, uint64_t iova, uint64_t len, uint64_t base,
			       uint64_t *bits, uint64_t *ndirty);

/*
 * Writer side (the caller serializes it with map and unmap of d, as the
 * container's lock does): the physical address at iova and the length of
 * the physically contiguous run of translations from iova on, clamped to
 * maxlen. One page-table descent per run of neighbouring leaves, where a
 * per-page svf_iommu_iova_to_phys would descend for every page.
 * Returns 0, or -ENOENT when iova is not mapped.
 */
int svf_iommu_phys_run(struct svf_domain *d, uint64_t iova, uint64_t maxlen, uint64_t *phys,
		       uint64_t *len);

/*
 * Device-side translation of one access at iova: SVF_PROT_READ,
 * SVF_PROT_WRITE, or both for a read-modify-write (it needs both
 * permissions). The thread's last translation or the IOTLB, else a page
 * walk and an IOTLB fill, then the permission check.
 * Returns 0 with *phys, -ENOENT (no translation), -EACCES (permission) or
 * -EINVAL (access is 0 or has a bit other than READ and WRITE).
 * Safe to call from many threads while the domain is being changed. The
 * result may be used to reach memory only inside a DMA section (below);
 * outside one it only tells what the translation was.
 */
int svf_iommu_translate(struct svf_domain *d, uint64_t iova, int access, uint64_t *phys);

/*
 * DMA sections: a device thread brackets translations and the memory
 * accesses that use them with svf_iommu_dma_begin/end. The barrier
 * guarantee: when a wait (svf_iommu_iotlb_sync, svf_iommu_unmap,
 * svf_iommu_flush_all) returns, every section that could have used a
 * translation removed by an invalidation queued before it has ended, and
 * every access made in it happened before the return; so pages unpinned
 * after the wait are not being touched. Sections nest, are per thread and
 * cover every domain; they are cheap (two stores to the thread's own cache
 * line, no locked instruction where membarrier(2) is available), but a wait
 * spins until open sections end, so keep them short (one request, or a
 * slice of one). Never call a waiting operation inside a section.
 */
void svf_iommu_dma_begin(struct svf_domain *d);
void svf_iommu_dma_end(struct svf_domain *d);

#ifdef __cplusplus
}
#endif
#endif

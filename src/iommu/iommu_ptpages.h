/* SPDX-License-Identifier: MIT */
/*
 * Page-table pages for the emulated IOMMU drivers: a unit-wide allocator
 * with a pool of released pages, and lists of unlinked pages waiting for a
 * grace period (iommu_reader.h) before they may be reused.
 *
 * Every driver's tables are 4 KiB pages of 512 64-bit entries in which
 * bit 0 clear means "not present" for a walker (VT-d: read permission;
 * AMD-Vi: PR). That is what makes the deferred list safe: while a page
 * waits, entry 0 links the list, and a 4 KiB-aligned pointer has bits
 * 0..11 clear, so a walker still inside the page reads it as not present.
 *
 * Fresh pages from the C heap cost a page fault and often a brk call
 * (microseconds each on the machines this runs on), and handing 4 KiB-
 * aligned blocks back makes the heap trim; recycling keeps table churn
 * (unmap, then map again) off both. Domains of one unit may be written by
 * different threads, so the counters are atomics and the pool has a lock.
 */
#ifndef SOFTVFIO_IOMMU_PTPAGES_H
#define SOFTVFIO_IOMMU_PTPAGES_H

#include <stdbool.h>
#include <stdint.h>

#define SVF_PT_PAGE_SIZE 4096ull
#define SVF_PT_ENTRIES (SVF_PT_PAGE_SIZE / sizeof(uint64_t)) /* entries of a table page */
#define SVF_PT_POOL_MAX 16384u /* pages kept for reuse (64 MiB) */

/* The unit's table-page allocator. */
struct svf_pt_pages {
	uint64_t now;     /* table pages in use, deferred ones included (atomic) */
	uint64_t peak;    /* atomic */
	uint64_t freed;   /* released after their wait or at teardown (atomic) */
	uint32_t lock;    /* protects pool and pooled */
	uint64_t *pool;   /* released pages, linked through entry 0; never above peak */
	uint64_t pooled;  /* pages on pool (read unlocked as a hint) */
};

/* Free the pool. Every table page must have been released. */
void svf_pt_pages_fini(struct svf_pt_pages *pp);

/* Pages waiting for a grace period; owned by whoever holds it (no lock). */
struct svf_pt_freelist {
	uint64_t *head;
	uint64_t *tail;
	uint64_t count;
};

/*
 * A zeroed table page from the pool or the heap, counted in now/peak
 * (SVF_FAULT_PT_ALLOC seam). NULL when out of memory.
 */
uint64_t *svf_pt_page_alloc(struct svf_pt_pages *pp);

/* Put an unlinked page on fl (its entry 0 becomes the list link). */
void svf_pt_freelist_push(struct svf_pt_freelist *fl, uint64_t *t);

/* Move every page of src onto dst; src becomes empty. */
void svf_pt_freelist_splice(struct svf_pt_freelist *dst, struct svf_pt_freelist *src);

/* Release every page on fl (after a grace period) to the pool or the heap. */
void svf_pt_freelist_release(struct svf_pt_freelist *fl, struct svf_pt_pages *pages);

/*
 * Entry access of the writer side, whatever the table format: its own
 * loads are relaxed (map and unmap of a domain are serialized by the
 * caller), its stores release, so that a walker's acquire load of a new
 * link finds the zeroed table behind it, and of a leaf what preceded it.
 */
static inline uint64_t svf_pte_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void svf_pte_store(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/*
 * The recursive walks (collecting a subtree, "holds no leaf", "maps
 * anything in a range") stay in each driver: they differ exactly in how an
 * entry says present, leaf or next table, and the map and unmap paths want
 * that decode inlined rather than called through a pointer.
 */

/* Every entry of table t in [from, to) is 0. */
static inline bool svf_pt_range_clear(const uint64_t *t, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to; i++)
		if (svf_pte_load(&t[i]))
			return false;
	return true;
}

/*
 * Every entry of table t outside [from, to) is 0. The neighbours of the run
 * go first: unmaps mostly arrive in IOVA order, one chunk at a time, so a
 * live entry usually sits right after (or before) the run and the answer
 * costs one load instead of a scan of the cleared part.
 */
static inline bool svf_pt_clear_outside(const uint64_t *t, unsigned from, unsigned to)
{
	if (to < SVF_PT_ENTRIES && svf_pte_load(&t[to]))
		return false;
	if (from > 0 && svf_pte_load(&t[from - 1]))
		return false;
	return svf_pt_range_clear(t, to, SVF_PT_ENTRIES) && svf_pt_range_clear(t, 0, from);
}

#endif

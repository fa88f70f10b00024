/* SPDX-License-Identifier: MIT */
/*
 * The type1 container's state, shared by container.c (mappings, map and
 * unmap paths) and uapi.c (the VFIO ioctl decoder).
 *
 * Lock: c->lock (a mutex) protects every field below except those marked
 * immutable. uapi.c takes it around each request; the container.c entry
 * points named svf_type1_* expect it held (asserted in debug builds).
 */
#ifndef SOFTVFIO_CONTAINER_PRIV_H
#define SOFTVFIO_CONTAINER_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* libbsd's tree.h marks the static generators __unused without defining it. */
#ifndef __unused
#define __unused __attribute__((unused))
#endif
#include <bsd/sys/tree.h>

#include <softvfio/softvfio.h>

#define SVF_MAX_DOMAINS 16
#define SVF_PGSIZE      4096ULL
#define SVF_MAX_IOVA_RANGES (SVF_MAX_DOMAINS * 4 + 1)

/* One user DMA mapping (Linux's struct vfio_dma). */
struct svf_dma {
	RB_ENTRY(svf_dma) node; /* keyed by iova; mappings never overlap */
	uint64_t iova;
	uint64_t size;
	uint64_t vaddr;         /* the user's current vaddr (VADDR update may change it) */
	uint64_t pin_vaddr;     /* the vaddr the pages were pinned through; unpin uses it */
	int prot;               /* SVF_PROT_* */
	bool vaddr_invalid;     /* UNMAP with FLAG_VADDR: pins and translations kept */
	uint64_t *bitmap;       /* dirty bits, one per 4 KiB page, while tracking (dirty.c) */
	/*
	 * A failed unmap left some domains without translations for part of
	 * the range; the next unmap finishes it (holes are skipped).
	 */
	bool partial;
};

RB_HEAD(svf_dma_tree, svf_dma);
RB_PROTOTYPE(svf_dma_tree, svf_dma, node, svf_dma_cmp);

/*
 * A region unmapped with unmap_fast but not yet unpinned: its pages stay
 * pinned until the sync that covers its invalidation has completed.
 */
struct svf_pending {
	uint64_t iova;
	struct svf_pin_region pin;
};

struct svf_iova_range {
	uint64_t start, last; /* inclusive */
};

struct svf_container {
	pthread_mutex_t lock;
	/* immutable after create */
	enum svf_policy policy;
	unsigned batch_cap;
	unsigned dma_entry_limit;
	struct svf_pinner *pinner;
	bool own_pinner;
	struct svf_iommu *own_unit;     /* default unit, or NULL */
	struct svf_domain *own_domain;  /* default domain, or NULL */

	/* protected by lock */
	int type;                       /* 0 before SET_IOMMU, else VFIO_TYPE1{,v2}_IOMMU */
	struct svf_dma_tree dmas;
	unsigned nr_dmas;
	unsigned dma_avail;
	unsigned vaddr_invalid_count;
	bool dirty_tracking;            /* VFIO_IOMMU_DIRTY_PAGES_FLAG_START until STOP */
	struct svf_domain *domains[SVF_MAX_DOMAINS]; /* domains[0] is the unmap walk's source */
	unsigned nr_domains;

	/* The seed's batch: preallocated, never grown on the unmap path. */
	struct svf_pending *pending;
	struct svf_pin_region *pending_pins; /* scratch for the batched unpin */
	unsigned nr_pending;
	struct svf_gather gather;       /* on domains[0], between syncs */

	struct svf_stats st;            /* container-side counters */
};

/* container.c, lock held */
int svf_type1_map(struct svf_container *c, uint64_t iova, uint64_t vaddr, uint64_t size,
		  int prot);
int svf_type1_map_vaddr(struct svf_container *c, uint64_t iova, uint64_t vaddr, uint64_t size);
/* bm: the caller's bitmap with GET_DIRTY_BITMAP (size checked against the request), else NULL */
int svf_type1_unmap(struct svf_container *c, uint64_t iova, uint64_t size, uint32_t flags,
		    const struct vfio_bitmap *bm, uint64_t *unmapped);
/* DIRTY_PAGES GET_BITMAP after the decoder's checks (from the bitmap page size on). */
int svf_type1_dirty_get(struct svf_container *c, uint64_t iova, uint64_t size,
			const struct vfio_bitmap *bm);
int svf_type1_iova_ranges(struct svf_container *c, struct svf_iova_range *r, unsigned max,
			  unsigned *nr);
uint64_t svf_type1_pgsize_bitmap(struct svf_container *c);
void svf_type1_lock(struct svf_container *c);
void svf_type1_unlock(struct svf_container *c);

#endif

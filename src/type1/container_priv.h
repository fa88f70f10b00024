/* SPDX-License-Identifier: MIT */
/*
 * The type1 container's state. Private to src/type1/: container.c (mappings,
 * map and unmap paths) owns it; uapi.c (the VFIO ioctl decoder), dirty.c,
 * vpfn.c and emulated.c work on it under its lock. Layers outside type1
 * reach a container only through functions (<softvfio/softvfio.h>,
 * dmacheck.h's svf_container_dma_state).
 *
 * Order of the files, each calling only those below it: uapi.c and
 * emulated.c on top; container.c; dirty.c, vpfn.c and flushq.c (the timer
 * knows only the lock) below it; dma_tree.c (the mapping tree's generated
 * functions) and dma_slab.c (where the mapping entries come from) at the
 * bottom.
 *
 * Lock: c->lock (a mutex) protects every field below except those marked
 * immutable. uapi.c takes it around each request; the container.c entry
 * points named svf_type1_* (other than lock and unlock) expect it held, and
 * assert at their top that it is held (by some thread: a trylock must fail;
 * compiled out with NDEBUG); the inline accounting helpers do not assert.
 */
#ifndef SOFTVFIO_CONTAINER_PRIV_H
#define SOFTVFIO_CONTAINER_PRIV_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* libbsd's tree.h marks the static generators __unused without defining it. */
#ifndef __unused
#define __unused __attribute__((unused))
#endif
#include <bsd/sys/tree.h>

#include <softvfio/emulated.h>
#include <softvfio/softvfio.h>

#include "dma_slab.h"

#define SVF_MAX_DOMAINS 16
#define SVF_MAX_IOVA_RANGES (SVF_MAX_DOMAINS * 4 + 1)
#define SVF_MAX_EMULATED 16

/* An emulated device attached to a container (emulated.c). Immutable after attach. */
struct svf_emu_device {
	struct svf_container *c;
	struct svf_emu_ops ops;
	void *opaque;
};

/*
 * One IOVA page pinned by emulated devices (Linux's struct vfio_pfn; vpfn.c).
 * own_pin: the page was pinned through the pinner for this entry (no IOMMU
 * domain held it); otherwise the mapping's own pin keeps it.
 */
struct svf_vpfn {
	RB_ENTRY(svf_vpfn) node; /* keyed by iova, per mapping */
	uint64_t iova;
	uint64_t phys;
	unsigned ref;
	bool own_pin;
};

RB_HEAD(svf_vpfn_tree, svf_vpfn);
RB_PROTOTYPE(svf_vpfn_tree, svf_vpfn, node, svf_vpfn_cmp);

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
	struct svf_vpfn_tree vpfns; /* pages pinned by emulated devices (vpfn.c) */
	unsigned nr_vpfns;
	/*
	 * A failed unmap left some domains without translations for part of
	 * the range; the next unmap finishes it (holes are skipped).
	 */
	bool partial;
	struct svf_dma_slab *slab; /* the slab it came from (dma_slab.h) */
};

RB_HEAD(svf_dma_tree, svf_dma);
RB_PROTOTYPE(svf_dma_tree, svf_dma, node, svf_dma_cmp);

/*
 * A region unmapped with unmap_fast but not yet unpinned: its pages stay
 * pinned until the sync that covers its invalidation has completed.
 */
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
	struct svf_dma_cache dmac;      /* where the entries of dmas come from */
	unsigned nr_dmas;
	unsigned dma_avail;
	unsigned vaddr_invalid_count;
	bool dirty_tracking;            /* VFIO_IOMMU_DIRTY_PAGES_FLAG_START until STOP */
	struct svf_emu_device *emus[SVF_MAX_EMULATED];
	unsigned nr_emus;
	uint64_t external_pins;         /* sum of svf_vpfn refs */
	struct svf_domain *domains[SVF_MAX_DOMAINS]; /* domains[0] is the unmap walk's source */
	unsigned nr_domains;

	/* The fast-unmap batch (docs/design.md): preallocated, never grown on the unmap path. */
	/*
	 * Pending region i: IOVA pending_iova[i], pinned run pending_pins[i]
	 * (handed to the batched unpin as it stands). runs: scratch the
	 * driver writes a batch of removed runs into.
	 */
	uint64_t *pending_iova;
	struct svf_pin_region *pending_pins;
	struct svf_iommu_run *runs;
	unsigned nr_pending;
	struct svf_gather gather;       /* on domains[0], between syncs */

	struct svf_stats st;            /* container-side counters */

	/*
	 * Devices and the lazy policy: the DMA state devices and check mode use
	 * (dmacheck.h; created with the container in check mode, else by the
	 * first device; written under lock, read by device threads as that
	 * header says) and the lazy policy's flush timer (flushq.h; lazy only,
	 * immutable after create).
	 */
	struct svf_dmacheck *dmachk;
	struct svf_flushq *flushq;
};

/* The debug check of the svf_type1_* entry points: c->lock is held. */
#define SVF_TYPE1_ASSERT_LOCKED(c) assert(pthread_mutex_trylock(&(c)->lock) == EBUSY)

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
/* The mapping containing iova, or NULL. */
struct svf_dma *svf_type1_dma_find(struct svf_container *c, uint64_t iova);

/* Pages pinned and unpinned through the pinner, for the counters (inline: every file of type1 counts). */
static inline void svf_type1_account_pin(struct svf_container *c, uint64_t pages)
{
	c->st.pages_pinned += pages;
	c->st.pinned_now += pages;
	if (c->st.pinned_now > c->st.pinned_peak)
		c->st.pinned_peak = c->st.pinned_now;
}

static inline void svf_type1_account_unpin(struct svf_container *c, uint64_t pages)
{
	c->st.pages_unpinned += pages;
	c->st.pinned_now -= pages;
}

/* Drop every mapping and the backend: the container's last group left. */
void svf_type1_release_backend(struct svf_container *c);
void svf_type1_lock(struct svf_container *c);
void svf_type1_unlock(struct svf_container *c);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The emulated Intel VT-d unit: svf_iommu_ops "vtd".
 *
 * Theory of operation. A unit owns an IOTLB (svf_iotlb), an invalidation
 * queue (vtd_queue), a list of page-table pages waiting to be freed, a cost
 * model and its counters; a domain owns one second-level page table
 * (vtd_pgtable). The hardware behaviour the core relies on:
 *  - map installs leaves and queues nothing (VT-d does not cache
 *    non-present entries here); unmap clears leaves and queues nothing
 *    either: the core invalidates from its gather.
 *  - A queued descriptor changes nothing until a wait processes the queue,
 *    in order. So after unmap and before the wait a device still translates
 *    the removed range through the IOTLB, exactly the window in which the
 *    pages behind it must stay pinned.
 *  - The wait completes every descriptor before it, and then frees the
 *    table pages unlinked before it, after a grace period for walkers.
 *
 * Threads and locks. Device threads call translate() at any time; it takes
 * no lock on a hit and only an IOTLB set lock on a fill, never the unit
 * lock. Map and unmap of one domain are serialized by the caller; they
 * touch the unit only to hand over deferred table pages (unit lock) and to
 * take table pages from its pool (the pool's own lock). The queue, the
 * deferred list and the writer counters are protected by the unit lock
 * (lock order: unit lock, then IOTLB set locks or the pool lock). Reader-side
 * counters (hits, misses, page-walk reads) live in per-thread stripes
 * indexed by the reader slot (iommu_reader.h) and are summed by add_stats.
 *
 * Errors. Every operation that can fail in hardware starts with its fault
 * seam: map_pages SVF_FAULT_IOMMU_MAP, unmap_range SVF_FAULT_IOMMU_UNMAP,
 * inv_* and wait SVF_FAULT_IOMMU_SYNC, all failing with -EIO before
 * changing anything. Teardown (domain_fini, unit_fini) has no seam and
 * never fails.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fault.h"

#include "vtd.h"
#include "iommu_iotlb.h"
#include "vtd_pgtable.h"
#include "vtd_queue.h"
#include "iommu_drvutil.h"
#include "iommu_reader.h"

_Static_assert(VTD_PTE_R == SVF_PROT_READ && VTD_PTE_W == SVF_PROT_WRITE,
	       "permission bits are used as SVF_PROT_* directly");
_Static_assert(VTD_PTE_R == SVF_TLB_R && VTD_PTE_W == SVF_TLB_W && VTD_DATA_WPERM == SVF_TLB_WPERM &&
		       VTD_PTE_ADDR_MASK == SVF_TLB_ADDR_MASK,
	       "IOTLB entry data is built from leaf bits directly");

#define VTD_APERTURE_LAST ((1ull << VTD_IAS_BITS) - 1)
#define VTD_PHYS_LAST     ((1ull << 52) - 1) /* address bits 12..51 */
#define VTD_MASK_ORDER_CAP 36u               /* 2^36 pages cover the whole 48-bit space */

/*
 * Cost model defaults, in modeled nanoseconds of device time.
 *
 * wait + one descriptor = 800 ns: an IOTLB flush on Intel VT-d hardware,
 * measured "800 ns or so", most of it waiting for the IOMMU to report
 * completion (Akaros, commit 81b6433a "proc: iommu: flush the iotlb during
 * shootdowns", B. Rhoden, 2020). It is the only published figure found that
 * isolates the invalidate-and-wait round trip; the Technion papers (Malka
 * et al. ASPLOS'15 rIOMMU, Peleg et al. ATC'15, Markuze et al. ASPLOS'16)
 * report a strict-mode IOTLB invalidation of the same order (~2,000 cycles)
 * but, like Akaros, never split a descriptor from its wait.
 *
 * No source times one descriptor inside a batch, so it is derived from a
 * published memory latency: the IOMMU fetches 16-byte descriptors from the
 * queue in memory, four per 64-byte line, one line read (~82 ns idle
 * local DRAM latency, Intel MLC on a Xeon Silver 4110 with DDR4-2666, Intel
 * community forum "Intel Memory Latency Checker v3.5 test") per four
 * descriptors: ~20 ns each. The wait keeps the rest of the 800 ns: 780.
 * Domain-selective and global descriptors cost the same fetch; matching is
 * a parallel tag compare in hardware.
 *
 * A page-walk level read on an IOTLB miss is one memory read: 82 ns (same
 * MLC figure; paging-structure caches are not modeled), so a 4-level miss
 * costs ~330 ns.
 *
 * Consequence for the bench target "strict/batched >= 100" (strict: one
 * descriptor and one wait per page; batched: one descriptor per page, one
 * wait per 512): (20 + 780) / (20 + 780/512) = 37. The target needs a
 * descriptor at or below ~6.3 ns, which no source supports; it is not
 * reachable with these figures.
 */
static const struct svf_cost_model vtd_default_cost = {
	.enabled = true,
	.inv_page_ns = 20,
	.inv_domain_ns = 20,
	.inv_global_ns = 20,
	.wait_ns = 780,
	.walk_level_ns = 82,
};

struct vtd_unit {
	struct svf_drv_stripe stripes[SVF_READER_SLOTS + 1]; /* by reader slot; last is shared */
	/* Read on every translation: kept off the writer's cache lines. */
	struct svf_iotlb iotlb;          /* its own locking (iommu_iotlb.h) */
	struct svf_cost_model cost;      /* immutable; all zero when off */
	unsigned max_mask_order;         /* immutable */
	bool hw_dirty;                   /* immutable: SLADS on, writes set PTE D bits */
	/* Writer side. */
	uint32_t lock __attribute__((aligned(64))); /* unit spinlock: 0 free, 1 held */
	struct svf_pt_pages pt;          /* table pages: counters and pool */
	struct vtd_queue queue;          /* under lock */
	struct svf_pt_freelist deferred; /* under lock */
	/* Under lock; add_stats reads them with relaxed loads. */
	uint64_t inv_page, inv_domain, inv_global, waits, modeled_ns;
	uint64_t wait_sync_ns; /* real time waits spent synchronizing with device threads */
};

struct vtd_domain {
	struct vtd_pt pt;
};

static inline struct vtd_unit *unit_of(const struct svf_iommu *u)
{
	return u->priv;
}

static inline void unit_lock(struct vtd_unit *vu)
{
	svf_drv_spin_lock(&vu->lock);
}

static inline void unit_unlock(struct vtd_unit *vu)
{
	svf_drv_spin_unlock(&vu->lock);
}

static void vtd_default_config(struct svf_iommu_config *cfg)
{
	cfg->iotlb_sets = SVF_VTD_DEFAULT_SETS;
	cfg->iotlb_ways = SVF_VTD_DEFAULT_WAYS;
	cfg->queue_depth = SVF_VTD_DEFAULT_QUEUE_DEPTH;
	/* QEMU's emulated VT-d advertises MAMV 18 (VTD_MAMV, hw/i386/intel_iommu_internal.h). */
	cfg->max_mask_order = SVF_VTD_DEFAULT_MAX_MASK_ORDER;
	cfg->cost = vtd_default_cost;
}

static int vtd_unit_init(struct svf_iommu *u)
{
	const struct svf_iommu_config *cfg = &u->cfg;
	unsigned sets = cfg->iotlb_sets ? cfg->iotlb_sets : SVF_VTD_DEFAULT_SETS;
	unsigned ways = cfg->iotlb_ways ? cfg->iotlb_ways : SVF_VTD_DEFAULT_WAYS;
	unsigned depth = cfg->queue_depth ? cfg->queue_depth : SVF_VTD_DEFAULT_QUEUE_DEPTH;
	unsigned mask = cfg->max_mask_order ? cfg->max_mask_order : SVF_VTD_DEFAULT_MAX_MASK_ORDER;
	size_t size = (sizeof(struct vtd_unit) + 63) & ~(size_t)63;
	struct vtd_unit *vu;
	int ret;

	if (ways > SVF_VTD_MAX_WAYS)
		ways = SVF_VTD_MAX_WAYS;
	if (mask > VTD_MASK_ORDER_CAP)
		mask = VTD_MASK_ORDER_CAP;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	vu = aligned_alloc(64, size);
	if (!vu)
		return -ENOMEM;
	memset(vu, 0, size);
	svf_drv_resolve_cost(cfg, &vtd_default_cost, &vu->cost);
	vu->max_mask_order = mask;
	vu->hw_dirty = cfg->hw_dirty;
	ret = svf_iotlb_init(&vu->iotlb, sets, ways);
	if (ret)
		goto err_free;
	ret = vtd_queue_init(&vu->queue, depth);
	if (ret)
		goto err_iotlb;
	u->priv = vu;
	return 0;

err_iotlb:
	svf_iotlb_fini(&vu->iotlb);
err_free:
	free(vu);
	return ret;
}

static void vtd_unit_fini(struct svf_iommu *u)
{
	struct vtd_unit *vu = unit_of(u);

	if (!vu)
		return;
	/* Queued descriptors die with the unit; its table pages must not. */
	svf_drv_release_deferred(&vu->deferred, &vu->pt);
	svf_pt_pages_fini(&vu->pt);
	vtd_queue_fini(&vu->queue);
	svf_iotlb_fini(&vu->iotlb);
	free(vu);
	u->priv = NULL;
}

/* Apply one descriptor to the IOTLB (unit lock held, generation bumped). */
static void process_desc(struct vtd_unit *vu, const struct svf_vtd_desc *d)
{
	struct svf_tlb_match m = { .did = d->did };
	uint64_t ns = 0;

	switch (d->type) {
	case SVF_VTD_DESC_PAGE:
		m.kind = SVF_TLB_MATCH_PAGES;
		m.first_pfn = d->addr >> VTD_PAGE_SHIFT;
		m.last_pfn = m.first_pfn + (1ull << d->order) - 1;
		ns = vu->cost.inv_page_ns;
		break;
	case SVF_VTD_DESC_DOMAIN:
		m.kind = SVF_TLB_MATCH_DOMAIN;
		ns = vu->cost.inv_domain_ns;
		break;
	case SVF_VTD_DESC_GLOBAL:
		m.kind = SVF_TLB_MATCH_ALL;
		ns = vu->cost.inv_global_ns;
		break;
	default:
		return;
	}
	(void)svf_iotlb_invalidate(&vu->iotlb, &m);
	svf_drv_ctr_add(&vu->modeled_ns, ns);
}

/*
 * The wait descriptor: complete the queue, then make it a barrier, then free
 * what it made unreachable.
 *
 * Why "when a wait completes, no device thread can still use a translation
 * that an invalidation before it removed" holds:
 *  1. gen becomes odd and a heavy fence follows (iommu_iotlb.h): a fill racing
 *     with the processing either sees the new gen and is refused, or is
 *     seen by the processing, which removes it under the set lock.
 *  2. The descriptors remove their entries; gen becomes even (release).
 *  3. svf_reader_synchronize(): a heavy fence, then every section open at
 *     that point is waited for. A device thread uses a translation only
 *     inside a section (svf_iommu_dma_begin/end; svf_iommu_translate opens
 *     one around its own walk), whether it came from a walk, the IOTLB or
 *     its per-thread cache. A section that began before the fence may hold
 *     a removed translation: it is waited for, and its exit (release) makes
 *     its memory accesses happen before we return. A section that began
 *     after it sees the removals of step 2 and the new gen (store-buffer
 *     pattern of iommu_reader.h), so it finds no removed entry in the IOTLB,
 *     its per-thread cache is stale, and its walk sees the leaves the
 *     unmap cleared before the wait was queued.
 * So the pages behind the removed translations may be unpinned when this
 * returns, and the table pages unlinked before it may be freed.
 *
 * The real cost: two heavy fences (membarrier(2) IPIs when device threads
 * exist) and the wait for open sections; measured in wait_sync_ns when
 * other reader threads exist, beside the modeled wait_ns.
 */
static void wait_locked(struct vtd_unit *vu)
{
	static const struct svf_vtd_desc wait_desc = { .type = SVF_VTD_DESC_WAIT };
	struct vtd_queue *q = &vu->queue;
	bool processed = vtd_queue_len(q) != 0;
	bool timed = (processed || vu->deferred.count) && svf_reader_others();
	struct timespec t0, t1;

	if (timed)
		clock_gettime(CLOCK_MONOTONIC, &t0);
	if (processed) {
		svf_iotlb_begin_invalidation(&vu->iotlb);
		for (uint64_t i = q->head; i < q->tail; i++)
			process_desc(vu, vtd_queue_slot(q, i));
		vtd_queue_retire(q);
		svf_iotlb_end_invalidation(&vu->iotlb);
	}
	vtd_queue_log(q, &wait_desc);
	if (processed || vu->deferred.count) {
		/* Device sections that may use what was removed, walkers inside unlinked pages. */
		svf_reader_synchronize();
		if (vu->deferred.count)
			svf_pt_freelist_release(&vu->deferred, &vu->pt);
	}
	if (timed) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		svf_drv_ctr_add(&vu->wait_sync_ns, (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u +
					       (uint64_t)t1.tv_nsec - (uint64_t)t0.tv_nsec);
	}
	svf_drv_ctr_add(&vu->waits, 1);
	svf_drv_ctr_add(&vu->modeled_ns, vu->cost.wait_ns);
}

/*
 * The slot the next descriptor is built in (vtd_queue_next); a full queue
 * is waited for first, as the hardware would stall.
 */
static struct svf_vtd_desc *queue_reserve(struct vtd_unit *vu)
{
	if (vtd_queue_full(&vu->queue))
		wait_locked(vu);
	return vtd_queue_next(&vu->queue);
}

/* Queue the descriptor built in the reserved slot, issued for the IOVAs [start, last]. */
static void queue_commit(struct vtd_unit *vu, uint64_t start, uint64_t last)
{
	switch (vtd_queue_next(&vu->queue)->type) {
	case SVF_VTD_DESC_PAGE:
		svf_drv_ctr_add(&vu->inv_page, 1);
		break;
	case SVF_VTD_DESC_DOMAIN:
		svf_drv_ctr_add(&vu->inv_domain, 1);
		break;
	case SVF_VTD_DESC_GLOBAL:
		svf_drv_ctr_add(&vu->inv_global, 1);
		break;
	default:
		break;
	}
	vtd_queue_push(&vu->queue, start, last);
}

/* Queue d, issued for the IOVAs [start, last]. */
static void queue_locked(struct vtd_unit *vu, const struct svf_vtd_desc *d, uint64_t start,
			 uint64_t last)
{
	*queue_reserve(vu) = *d;
	queue_commit(vu, start, last);
}

static void queue_desc(struct vtd_unit *vu, const struct svf_vtd_desc *d, uint64_t start,
		       uint64_t last)
{
	unit_lock(vu);
	queue_locked(vu, d, start, last);
	unit_unlock(vu);
}

static void defer_pages(struct vtd_unit *vu, struct svf_pt_freelist *fl)
{
	unit_lock(vu);
	svf_pt_freelist_splice(&vu->deferred, fl);
	unit_unlock(vu);
}

static int vtd_domain_init(struct svf_domain *d)
{
	struct vtd_unit *vu = unit_of(d->unit);
	struct vtd_domain *vd;
	int ret;

	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	vd = calloc(1, sizeof(*vd));
	if (!vd)
		return -ENOMEM;
	ret = vtd_pt_init(&vd->pt, &vu->pt);
	if (ret) {
		free(vd);
		return ret;
	}
	d->priv = vd;
	return 0;
}

static void vtd_domain_fini(struct svf_domain *d)
{
	struct vtd_unit *vu = unit_of(d->unit);
	struct vtd_domain *vd = d->priv;
	const struct svf_vtd_desc dsi = { .type = SVF_VTD_DESC_DOMAIN, .did = d->id };
	uint64_t *root;

	if (!vd)
		return;
	root = vtd_pt_detach(&vd->pt); /* from here walks find nothing */
	unit_lock(vu);
	queue_locked(vu, &dsi, 0, UINT64_MAX);
	wait_locked(vu);
	unit_unlock(vu);
	svf_reader_synchronize(); /* walkers that loaded the old root */
	vtd_pt_free_tree(root, &vu->pt);
	free(vd);
	d->priv = NULL;
}

static int vtd_map_pages(struct svf_domain *d, uint64_t iova, uint64_t paddr, uint64_t pgsize,
			 uint64_t pgcount, int prot, uint64_t *mapped)
{
	struct vtd_domain *vd = d->priv;
	struct svf_pt_freelist defer = { 0 };
	uint64_t perm = (uint64_t)prot & VTD_PTE_PRESENT;
	unsigned level;
	int ret;

	*mapped = 0;
	if (svf_should_fail(SVF_FAULT_IOMMU_MAP))
		return -EIO;
	switch (pgsize) {
	case 1ull << 12:
		level = 1;
		break;
	case 1ull << 21:
		level = 2;
		break;
	case 1ull << 30:
		level = 3;
		break;
	default:
		return -EINVAL;
	}
	if (!perm || (prot & ~(SVF_PROT_READ | SVF_PROT_WRITE)))
		return -EINVAL;
	if ((iova | paddr) & (pgsize - 1))
		return -EINVAL;
	if (!pgcount)
		return 0;
	if (!svf_drv_map_fits(iova, paddr, pgsize, pgcount, VTD_APERTURE_LAST, VTD_PHYS_LAST))
		return -EINVAL;
	ret = vtd_pt_map(&vd->pt, iova, paddr, level, pgcount, perm, mapped, &defer);
	if (defer.count)
		defer_pages(d->unit->priv, &defer);
	return ret;
}

static int vtd_unmap_range(struct svf_domain *d, uint64_t iova, uint64_t len, uint64_t *first,
			   uint64_t *unmapped, uint64_t *phys, bool *freed_tables)
{
	struct vtd_domain *vd = d->priv;
	struct svf_pt_freelist defer = { 0 };

	*first = iova;
	*unmapped = 0;
	*freed_tables = false;
	if (svf_should_fail(SVF_FAULT_IOMMU_UNMAP))
		return -EIO;
	if (!svf_drv_unmap_fits(iova, len, VTD_APERTURE_LAST))
		return -EINVAL;
	vtd_pt_unmap(&vd->pt, iova, iova + len - 1, first, unmapped, phys, &defer);
	if (defer.count) {
		*freed_tables = true;
		defer_pages(d->unit->priv, &defer);
	}
	return 0;
}

static int vtd_unmap_runs(struct svf_domain *d, uint64_t iova, uint64_t len,
			  struct svf_iommu_run *runs, unsigned max, unsigned *nruns, uint64_t *end)
{
	struct vtd_domain *vd = d->priv;
	struct svf_pt_freelist defer = { 0 };

	*nruns = 0;
	*end = iova;
	if (svf_should_fail(SVF_FAULT_IOMMU_UNMAP))
		return -EIO;
	if (!max || !svf_drv_unmap_fits(iova, len, VTD_APERTURE_LAST))
		return -EINVAL;
	*nruns = vtd_pt_unmap_runs(&vd->pt, iova, iova + len - 1, runs, max, end, &defer);
	if (defer.count)
		defer_pages(d->unit->priv, &defer);
	return 0;
}

static int vtd_iova_to_phys(struct svf_domain *d, uint64_t iova, uint64_t *phys,
			    uint64_t *leaf_size, int *prot)
{
	struct vtd_domain *vd = d->priv;
	unsigned level = 1, reads;
	uint64_t pte, size;
	int slot;

	if (iova > VTD_APERTURE_LAST)
		return -ENOENT;
	slot = svf_reader_slot();
	svf_reader_enter(slot);
	pte = vtd_pt_walk(&vd->pt, iova, &level, &reads);
	svf_reader_exit(slot);
	if (!pte)
		return -ENOENT;
	size = vtd_level_size(level);
	*phys = (pte & VTD_PTE_ADDR_MASK) + (iova & (size - 1));
	if (leaf_size)
		*leaf_size = size;
	if (prot)
		*prot = (int)(pte & VTD_PTE_PRESENT);
	return 0;
}

static int vtd_phys_run(struct svf_domain *d, uint64_t iova, uint64_t maxlen, uint64_t *phys,
			uint64_t *len)
{
	struct vtd_domain *vd = d->priv;

	return vtd_pt_phys_run(&vd->pt, iova, maxlen, phys, len);
}

/* The descriptor that invalidates [start, last] of d: page-selective, or a DSI past MAMV. */
static void range_desc(const struct vtd_unit *vu, const struct svf_domain *d, uint64_t start,
		       uint64_t last, bool leaf_only, struct svf_vtd_desc *desc)
{
	uint64_t addr;
	unsigned order;

	*desc = (struct svf_vtd_desc){ .did = d->id };
	if ((start ^ last) >> VTD_PAGE_SHIFT == 0) {
		/* One page (every 4 KiB run of a fragmented unmap): order 0, no search. */
		desc->type = SVF_VTD_DESC_PAGE;
		desc->addr = start & ~(uint64_t)(VTD_PAGE_SIZE - 1);
		desc->ih = leaf_only;
	} else if (svf_vtd_inv_mask(start, last, vu->max_mask_order, &addr, &order)) {
		desc->type = SVF_VTD_DESC_PAGE;
		desc->addr = addr;
		desc->order = (uint8_t)order;
		desc->ih = leaf_only;
	} else {
		/* Past MAMV (e.g. across a 4 GiB boundary) only a DSI covers it. */
		desc->type = SVF_VTD_DESC_DOMAIN;
	}
}

static int vtd_inv_range(struct svf_domain *d, uint64_t start, uint64_t last, bool leaf_only)
{
	struct vtd_unit *vu = unit_of(d->unit);
	struct svf_vtd_desc desc;

	if (svf_should_fail(SVF_FAULT_IOMMU_SYNC))
		return -EIO;
	if (start > last || last > VTD_APERTURE_LAST)
		return -EINVAL;
	range_desc(vu, d, start, last, leaf_only, &desc);
	queue_desc(vu, &desc, start, last);
	return 0;
}

static int vtd_inv_runs(struct svf_domain *d, const struct svf_iommu_run *runs, unsigned n)
{
	struct vtd_unit *vu = unit_of(d->unit);

	if (svf_should_fail(SVF_FAULT_IOMMU_SYNC))
		return -EIO;
	for (unsigned i = 0; i < n; i++)
		if (!runs[i].len || runs[i].iova + runs[i].len - 1 > VTD_APERTURE_LAST)
			return -EINVAL;
	unit_lock(vu);
	for (unsigned i = 0; i < n; i++) {
		const uint64_t last = runs[i].iova + runs[i].len - 1;

		/* Built once, in its ring slot. */
		range_desc(vu, d, runs[i].iova, last, !runs[i].freed_tables, queue_reserve(vu));
		queue_commit(vu, runs[i].iova, last);
	}
	unit_unlock(vu);
	return 0;
}

/*
 * inv_range then wait, under one lock: the descriptor is built in its ring
 * slot and the wait processes it at once. Both seams are taken before the
 * lock, in inv_range's then wait's order; a failed wait leaves the
 * descriptor queued, as a failed vtd_wait would.
 */
static int vtd_inv_range_wait(struct svf_domain *d, uint64_t start, uint64_t last, bool leaf_only,
			      bool *queued)
{
	struct vtd_unit *vu = unit_of(d->unit);
	bool wait_fails;

	*queued = false;
	if (svf_should_fail(SVF_FAULT_IOMMU_SYNC))
		return -EIO;
	if (start > last || last > VTD_APERTURE_LAST)
		return -EINVAL;
	wait_fails = svf_should_fail(SVF_FAULT_IOMMU_SYNC);
	unit_lock(vu);
	range_desc(vu, d, start, last, leaf_only, queue_reserve(vu));
	queue_commit(vu, start, last);
	if (!wait_fails)
		wait_locked(vu);
	unit_unlock(vu);
	*queued = true;
	return wait_fails ? -EIO : 0;
}

static int vtd_inv_domain(struct svf_domain *d)
{
	const struct svf_vtd_desc desc = { .type = SVF_VTD_DESC_DOMAIN, .did = d->id };

	if (svf_should_fail(SVF_FAULT_IOMMU_SYNC))
		return -EIO;
	queue_desc(unit_of(d->unit), &desc, 0, UINT64_MAX);
	return 0;
}

static int vtd_inv_global(struct svf_iommu *u)
{
	const struct svf_vtd_desc desc = { .type = SVF_VTD_DESC_GLOBAL };

	if (svf_should_fail(SVF_FAULT_IOMMU_SYNC))
		return -EIO;
	queue_desc(unit_of(u), &desc, 0, UINT64_MAX);
	return 0;
}

static int vtd_wait(struct svf_iommu *u)
{
	struct vtd_unit *vu = unit_of(u);

	if (svf_should_fail(SVF_FAULT_IOMMU_SYNC))
		return -EIO;
	unit_lock(vu);
	wait_locked(vu);
	unit_unlock(vu);
	return 0;
}

/*
 * The device path.
 *
 * Per-thread cache: each thread keeps the translations it used (domain,
 * leaf-aligned page, data; iommu_reader.h), tagged with the IOTLB
 * generation they were valid under; they hit while the generation has not
 * moved, i.e. while no wait has processed an invalidation since
 * (iommu_iotlb.h says why that is exact). It models the device's own
 * translation cache, is answered by svf_iommu_translate() before this
 * driver is called, and counts as an IOTLB hit. A 2 MiB or 1 GiB leaf
 * takes one entry there, as it takes one IOTLB entry.
 *
 * IOTLB hit: lock-free probes, one per leaf size. Miss: walk the table
 * inside a section and fill; a fill refused because an invalidation began
 * since the walk started means the walk may be stale, so walk again.
 *
 * A translation may be used (the memory it leads to read or written) only
 * inside a section (svf_iommu_dma_begin/end): then the wait that removes it
 * waits for the section to end. Outside one, the result only says what the
 * translation was.
 *
 * Hardware dirty tracking (hw_dirty): cached data grants W (bit 1) only
 * once the leaf's D bit is known set; VTD_DATA_WPERM records the real write
 * permission. A write through a clean leaf therefore misses the fast checks,
 * comes here, sets D in the PTE with an atomic OR (as the IOMMU does before
 * the first write through a translation) and then caches W for this thread.
 * Clearing D (read_clear_dirty) is followed by an invalidation and a wait,
 * which bump the IOTLB generation, so no cached W outlives the clear.
 */
/*
 * Set the D bit of the leaf translating iova, if it still maps what data
 * says. true when it does (D is set now).
 */
static bool set_dirty(struct svf_domain *d, uint64_t iova, uint64_t data)
{
	struct vtd_domain *vd = d->priv;
	int slot = svf_reader_slot();
	unsigned level = 1, reads;
	uint64_t *pte;
	bool ok = false;

	svf_reader_enter(slot);
	pte = vtd_pt_leaf_ptr(&vd->pt, iova, &level, &reads);
	if (pte) {
		uint64_t e = __atomic_load_n(pte, __ATOMIC_ACQUIRE);

		if ((e & VTD_PTE_W) && (e & VTD_PTE_ADDR_MASK) == (data & VTD_PTE_ADDR_MASK)) {
			if (!(e & VTD_PTE_D))
				__atomic_fetch_or(pte, VTD_PTE_D | VTD_PTE_A, __ATOMIC_RELAXED);
			ok = true;
		}
	}
	svf_reader_exit(slot);
	return ok;
}

static int vtd_translate(struct svf_domain *d, uint64_t iova, int access, uint64_t *phys)
{
	struct vtd_unit *vu = unit_of(d->unit);
	struct svf_tls *tl = &svf_tls;
	const uint16_t did = d->id;
	struct svf_iotlb_hint hint;
	uint64_t data, g1;
	unsigned code;
	bool cacheable;
	int slot;

	if (!access || (access & ~(SVF_PROT_READ | SVF_PROT_WRITE)))
		return -EINVAL;
	if (iova > VTD_APERTURE_LAST)
		return -ENOENT;
	slot = svf_reader_slot();
	g1 = svf_iotlb_gen(&vu->iotlb);
	if (svf_iotlb_lookup_hint(&vu->iotlb, did, iova, &data, &code, &hint)) {
		svf_drv_stripe_add(&vu->stripes[slot].hits, slot, 1);
		/* The probe's loads are ordered before this one by its acquire fence. */
		cacheable = !(g1 & 1) && __atomic_load_n(&vu->iotlb.gen, __ATOMIC_RELAXED) == g1;
	} else {
		struct vtd_domain *vd = d->priv;

		svf_drv_stripe_add(&vu->stripes[slot].misses, slot, 1);
		for (;;) {
			unsigned level = 1, reads;
			uint64_t pte;

			svf_reader_enter(slot);
			pte = vtd_pt_walk(&vd->pt, iova, &level, &reads);
			svf_reader_exit(slot);
			svf_drv_stripe_add(&vu->stripes[slot].walk_reads, slot, reads);
			if (!pte)
				return -ENOENT;
			code = level;
			data = (pte & VTD_PTE_ADDR_MASK) | (pte & VTD_PTE_R);
			if (pte & VTD_PTE_W) {
				data |= VTD_DATA_WPERM;
				if (!vu->hw_dirty || (pte & VTD_PTE_D))
					data |= VTD_PTE_W;
			}
			if (!svf_iotlb_fill_hint(&vu->iotlb, did, iova, code, data, g1, &hint, &data))
				break;
			g1 = svf_iotlb_gen(&vu->iotlb);
		}
		/* The fill checked that gen was still g1 after its fence. */
		cacheable = !(g1 & 1);
	}
	const uint64_t perm = (data & VTD_PTE_R) | ((data & VTD_DATA_WPERM) ? VTD_PTE_W : 0);

	if ((uint64_t)access & ~perm)
		return -EACCES; /* write to read-only, or read from write-only */
	if ((access & SVF_PROT_WRITE) && !(data & VTD_PTE_W)) {
		/* hw_dirty, clean leaf: mark it dirty before the write goes through. */
		if (set_dirty(d, iova, data))
			data |= VTD_PTE_W;
		else
			cacheable = false; /* the leaf changed under us: do not cache */
	}
	if (cacheable && slot < SVF_READER_SLOTS) /* a shared slot never hits */
		svf_tcache_fill(tl, slot, d->serial, &vu->iotlb.gen, g1, &vu->stripes[slot].hits,
				svf_tlb_shift(code), iova, data);
	*phys = (data & VTD_PTE_ADDR_MASK) + (iova & (vtd_level_size(code) - 1));
	return 0;
}


static int vtd_read_clear_dirty(struct svf_domain *d, uint64_t iova, uint64_t len, uint64_t base,
				uint64_t *bits, uint64_t *cleared)
{
	struct vtd_domain *vd = d->priv;

	*cleared = 0;
	if (!len || iova + len - 1 < iova)
		return -EINVAL;
	*cleared = vtd_pt_read_clear_dirty(&vd->pt, iova, iova + len - 1, base, bits);
	return 0;
}

static void vtd_dma_begin(struct svf_domain *d)
{
	(void)d;
	svf_reader_enter(svf_reader_slot());
}

static void vtd_dma_end(struct svf_domain *d)
{
	(void)d;
	svf_reader_exit(svf_tls.slot);
}

/*
 * For the unpin check: an IOTLB entry of d translating iova -> pa that d's
 * page table still holds is a live translation of another mapping of the
 * same frame (two IOVAs, one page, two pins), not a stale one.
 */
static bool still_mapped(void *arg, uint16_t did, uint64_t iova, uint64_t pa)
{
	struct svf_domain *d = arg;
	struct vtd_domain *vd = d->priv;
	unsigned level = 1, reads;
	uint64_t pte;
	int slot;

	if (did != d->id)
		return false;
	slot = svf_reader_slot();
	svf_reader_enter(slot);
	pte = vtd_pt_walk(&vd->pt, iova, &level, &reads);
	svf_reader_exit(slot);
	return pte && (pte & VTD_PTE_ADDR_MASK) == pa;
}

/*
 * Whether the page table still translates a page of [iova, last] to a frame
 * of [phys, plast]. Frames are compared, not just presence: under a lazy
 * flush an IOVA may be mapped again (to other memory) before the frames it
 * used to reach are unpinned, and that new translation is no danger to them.
 */
static bool pt_maps_frames(const struct vtd_domain *vd, uint64_t iova, uint64_t last,
			   uint64_t phys, uint64_t plast)
{
	uint64_t at = iova;

	if (!vtd_pt_any_mapped(&vd->pt, iova, last))
		return false;
	if (last - iova >= 512 * VTD_PAGE_SIZE) {
		/* Halve until the parts are small or empty: holes cost one descent each. */
		uint64_t mid = iova + ((last - iova) / 2 & ~(VTD_PAGE_SIZE - 1));

		return pt_maps_frames(vd, iova, mid + VTD_PAGE_SIZE - 1, phys, plast) ||
		       pt_maps_frames(vd, mid + VTD_PAGE_SIZE, last, phys, plast);
	}
	for (;;) {
		uint64_t p, n = VTD_PAGE_SIZE;

		if (!vtd_pt_phys_run(&vd->pt, at, last - at + 1, &p, &n) && p <= plast &&
		    phys <= p + (n - 1))
			return true;
		if (n > last - at)
			return false;
		at += n;
	}
}

static bool vtd_unpin_safe(struct svf_domain *d, uint64_t iova, uint64_t phys, uint64_t len)
{
	struct vtd_unit *vu = unit_of(d->unit);
	struct vtd_domain *vd = d->priv;
	uint64_t last, plast;
	bool busy;
	int slot;

	if (!len)
		return true;
	last = iova + len - 1 < iova ? UINT64_MAX : iova + len - 1;
	plast = phys + len - 1 < phys ? UINT64_MAX : phys + len - 1;

	slot = svf_reader_slot();
	svf_reader_enter(slot);
	busy = pt_maps_frames(vd, iova, last, phys, plast);
	svf_reader_exit(slot);
	if (busy)
		return false;
	if (svf_iotlb_covers(&vu->iotlb, d->id, iova, last, phys, plast, still_mapped, d))
		return false;
	unit_lock(vu);
	busy = vtd_queue_overlaps(&vu->queue, d->id, iova, last);
	unit_unlock(vu);
	return !busy;
}

static void vtd_add_stats(const struct svf_iommu *u, struct svf_stats *s)
{
	const struct vtd_unit *vu = unit_of(u);

	s->inv_page += svf_drv_ctr_read(&vu->inv_page);
	s->inv_domain += svf_drv_ctr_read(&vu->inv_domain);
	s->inv_global += svf_drv_ctr_read(&vu->inv_global);
	s->waits += svf_drv_ctr_read(&vu->waits);
	s->wait_sync_ns += svf_drv_ctr_read(&vu->wait_sync_ns);
	s->modeled_ns += svf_drv_ctr_read(&vu->modeled_ns);
	svf_drv_add_common_stats(s, vu->stripes, &vu->iotlb, &vu->pt, vu->cost.walk_level_ns);
}

static int vtd_resv_regions(const struct svf_domain *d, struct svf_resv_region *r, size_t max,
			    size_t *nr)
{
	(void)d;
	if (max >= 1)
		r[0] = (struct svf_resv_region){ .start = SVF_VTD_MSI_START,
						 .last = SVF_VTD_MSI_LAST,
						 .what = "msi" };
	*nr = 1;
	return 0;
}

const struct svf_iommu_ops svf_vtd_ops = {
	.name = "vtd",
	.pgsize_bitmap = (1ull << 12) | (1ull << 21) | (1ull << 30),
	.ias_bits = VTD_IAS_BITS,
	.default_config = vtd_default_config,
	.unit_init = vtd_unit_init,
	.unit_fini = vtd_unit_fini,
	.domain_init = vtd_domain_init,
	.domain_fini = vtd_domain_fini,
	.map_pages = vtd_map_pages,
	.unmap_range = vtd_unmap_range,
	.unmap_runs = vtd_unmap_runs,
	.phys_run = vtd_phys_run,
	.read_clear_dirty = vtd_read_clear_dirty,
	.iova_to_phys = vtd_iova_to_phys,
	.inv_range = vtd_inv_range,
	.inv_runs = vtd_inv_runs,
	.inv_range_wait = vtd_inv_range_wait,
	.inv_domain = vtd_inv_domain,
	.inv_global = vtd_inv_global,
	.wait = vtd_wait,
	.translate = vtd_translate,
	.dma_begin = vtd_dma_begin,
	.dma_end = vtd_dma_end,
	.unpin_safe = vtd_unpin_safe,
	.add_stats = vtd_add_stats,
	.resv_regions = vtd_resv_regions,
};

/* ---- test introspection (vtd.h) ---- */

unsigned svf_vtd_iotlb_count(const struct svf_iommu *u)
{
	return svf_iotlb_count(&unit_of(u)->iotlb);
}

int svf_vtd_iotlb_peek(const struct svf_iommu *u, uint16_t did, uint64_t iova, uint64_t *phys,
		       uint64_t *leaf_size, int *prot)
{
	uint64_t p, size, data;

	if (iova > VTD_APERTURE_LAST ||
	    svf_drv_iotlb_peek(&unit_of(u)->iotlb, did, iova, &p, &size, &data))
		return -ENOENT;
	if (phys)
		*phys = p;
	if (leaf_size)
		*leaf_size = size;
	/* The write permission is WPERM: with hw_dirty, W is cached once the leaf is dirty. */
	if (prot)
		*prot = (int)((data & VTD_PTE_R) | ((data & VTD_DATA_WPERM) ? VTD_PTE_W : 0));
	return 0;
}

unsigned svf_vtd_iotlb_set_of(const struct svf_iommu *u, uint16_t did, uint64_t iova,
			      uint64_t leaf_size)
{
	const struct svf_iotlb *t = &unit_of(u)->iotlb;
	unsigned code = leaf_size >= (1ull << 30) ? SVF_TLB_1G :
			leaf_size >= (1ull << 21) ? SVF_TLB_2M : SVF_TLB_4K;

	return svf_tlb_index(t, did, iova >> svf_tlb_shift(code));
}

void svf_vtd_geometry(const struct svf_iommu *u, unsigned *sets, unsigned *ways,
		      unsigned *queue_depth, unsigned *max_mask_order)
{
	const struct vtd_unit *vu = unit_of(u);

	if (sets)
		*sets = vu->iotlb.nsets;
	if (ways)
		*ways = vu->iotlb.ways;
	if (queue_depth)
		*queue_depth = vu->queue.depth;
	if (max_mask_order)
		*max_mask_order = vu->max_mask_order;
}

unsigned svf_vtd_pending_descs(const struct svf_iommu *u)
{
	struct vtd_unit *vu = unit_of(u);
	unsigned n;

	unit_lock(vu);
	n = vtd_queue_len(&vu->queue);
	unit_unlock(vu);
	return n;
}

uint64_t svf_vtd_deferred_pages(const struct svf_iommu *u)
{
	struct vtd_unit *vu = unit_of(u);
	uint64_t n;

	unit_lock(vu);
	n = vu->deferred.count;
	unit_unlock(vu);
	return n;
}

uint64_t svf_vtd_desc_logged(const struct svf_iommu *u)
{
	return __atomic_load_n(&unit_of(u)->queue.tail, __ATOMIC_RELAXED);
}

int svf_vtd_desc_log(const struct svf_iommu *u, uint64_t n, struct svf_vtd_desc *out)
{
	struct vtd_unit *vu = unit_of(u);
	int ret = -ENOENT;

	unit_lock(vu);
	if (vtd_queue_logged(&vu->queue, n, out))
		ret = 0;
	unit_unlock(vu);
	return ret;
}

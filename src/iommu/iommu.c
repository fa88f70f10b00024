/* SPDX-License-Identifier: MIT */
/*
 * IOMMU core: the driver-independent half of layer 4 of docs/design.md.
 *
 * Owns what Linux's drivers/iommu/iommu.c owns: argument checks against the
 * aperture and the smallest page size, splitting a map into the largest
 * leaves that alignment allows, the gather that turns "what was unmapped"
 * into invalidations, and the sync that waits for them. The emulated
 * hardware (page table, IOTLB, queue) is the driver's, behind svf_iommu_ops.
 *
 * Gather invariants:
 *  - g->empty == false  => [g->start, g->last] was unmapped in g->dom and its
 *    invalidation is not yet queued;
 *  - g->queued == true  => descriptors were queued for g->dom since the last
 *    wait, so a sync must wait even when the range part is empty;
 *  - a sync with neither returns without touching the driver (Linux's
 *    fast-unmap path syncs an empty gather on its error path; we never do).
 *  - if queueing an invalidation fails, the range is not dropped: the gather
 *    falls back to a domain-selective invalidation at the next sync, so a
 *    failed queue never lets a stale translation survive a successful sync.
 *
 * Locking: callers serialize map/unmap/sync/flush per domain (the
 * container's mutex). translate() is the concurrent device path and lives
 * entirely in the driver.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "iommu_driver.h"
#include "iommu_iotlb.h"
#include "iommu_reader.h"
#include "svf_log.h"
#include "svf_test.h"

static const struct svf_iommu_ops *const drivers[] = {
	&svf_vtd_ops,
	&svf_amd_ops,
};

static const struct svf_iommu_ops *find_driver(const char *name)
{
	if (!name)
		return drivers[0];
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (!strcmp(drivers[i]->name, name))
			return drivers[i];
	return NULL;
}

void svf_iommu_default_config(const char *driver, struct svf_iommu_config *cfg)
{
	const struct svf_iommu_ops *ops = find_driver(driver);

	memset(cfg, 0, sizeof(*cfg));
	if (!ops) {
		cfg->driver = driver; /* svf_iommu_create() will say -ENODEV */
		return;
	}
	ops->default_config(cfg);
	cfg->driver = ops->name;
}

static bool cost_is_unset(const struct svf_cost_model *c)
{
	return !c->enabled && !c->inv_page_ns && !c->inv_domain_ns && !c->inv_global_ns &&
	       !c->wait_ns && !c->walk_level_ns;
}

int svf_iommu_create(const struct svf_iommu_config *cfg, struct svf_iommu **out)
{
	const struct svf_iommu_ops *ops = find_driver(cfg ? cfg->driver : NULL);
	struct svf_iommu_config def;
	struct svf_iommu *u;
	int rc;

	*out = NULL;
	if (!ops)
		return -ENODEV;
	svf_iommu_default_config(ops->name, &def);
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->ops = ops;
	u->cfg = def;
	if (cfg) {
		/* Zero fields mean "driver default". */
		u->cfg.check_unpin = cfg->check_unpin;
		u->cfg.hw_dirty = cfg->hw_dirty;
		u->cfg.cost_off = cfg->cost_off;
		u->cfg.np_cache = cfg->np_cache;
		u->cfg.covering_inv = cfg->covering_inv;
		if (cfg->iotlb_sets)
			u->cfg.iotlb_sets = cfg->iotlb_sets;
		if (cfg->iotlb_ways)
			u->cfg.iotlb_ways = cfg->iotlb_ways;
		if (cfg->queue_depth)
			u->cfg.queue_depth = cfg->queue_depth;
		if (cfg->max_mask_order)
			u->cfg.max_mask_order = cfg->max_mask_order;
		if (!cost_is_unset(&cfg->cost))
			u->cfg.cost = cfg->cost;
	}
	if (u->cfg.cost_off)
		u->cfg.cost.enabled = false;
	u->cfg.driver = ops->name;
	u->next_domain_id = 1; /* VT-d reserves domain id 0 in caching mode */
	rc = ops->unit_init(u);
	if (rc)
		goto err_free;
	*out = u;
	return 0;

err_free:
	free(u);
	return rc;
}

void svf_iommu_destroy(struct svf_iommu *u)
{
	if (!u)
		return;
	u->ops->unit_fini(u);
	free(u);
}

const char *svf_iommu_driver_name(const struct svf_iommu *u)
{
	return u->ops->name;
}

void svf_iommu_add_stats(const struct svf_iommu *u, struct svf_stats *s)
{
	s->map_calls += u->map_calls;
	s->unmap_calls += u->unmap_calls;
	s->unmap_fast_calls += u->unmap_fast_calls;
	s->iotlb_syncs += u->iotlb_syncs;
	s->invariant_violations += atomic_load_explicit(&u->invariant_violations,
							 memory_order_relaxed);
	u->ops->add_stats(u, s);
}

int svf_iommu_fault_log_read(struct svf_iommu *u, char *buf, size_t len, size_t *n)
{
	if (!buf && len)
		return -EINVAL;
	if (!u->ops->fault_log_read)
		return -EOPNOTSUPP;
	return u->ops->fault_log_read(u, buf, len, n);
}

/* Serials of domains (struct svf_domain.serial): 64 bits never wrap. */
static uint64_t domain_serial;

int svf_domain_alloc(struct svf_iommu *u, struct svf_domain **out)
{
	struct svf_domain *d;
	int rc;

	*out = NULL;
	if (u->next_domain_id == 0) /* wrapped: 65535 domains were handed out */
		return -ENOSPC;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->unit = u;
	d->id = u->next_domain_id;
	d->serial = __atomic_add_fetch(&domain_serial, 1, __ATOMIC_RELAXED);
	d->aperture_last = u->ops->ias_bits >= 64 ? UINT64_MAX : (1ULL << u->ops->ias_bits) - 1;
	rc = u->ops->domain_init(d);
	if (rc) {
		free(d);
		return rc;
	}
	u->next_domain_id++;
	u->nr_domains++;
	*out = d;
	return 0;
}

void svf_domain_free(struct svf_domain *d)
{
	if (!d)
		return;
	d->unit->ops->domain_fini(d);
	d->unit->nr_domains--;
	free(d);
}

struct svf_iommu *svf_domain_unit(const struct svf_domain *d)
{
	return d->unit;
}

uint16_t svf_domain_id(const struct svf_domain *d)
{
	return d->id;
}

uint64_t svf_domain_pgsize_bitmap(const struct svf_domain *d)
{
	return d->unit->ops->pgsize_bitmap;
}

uint64_t svf_domain_aperture_last(const struct svf_domain *d)
{
	return d->aperture_last;
}

bool svf_domain_enforces_coherency(const struct svf_domain *d)
{
	(void)d;
	/* The emulated units snoop every access (VT-d SC capability set). */
	return true;
}

int svf_domain_resv_regions(const struct svf_domain *d, struct svf_resv_region *r, size_t max,
			    size_t *nr)
{
	return d->unit->ops->resv_regions(d, r, max, nr);
}

/*
 * Common range check: 4 KiB aligned, non-empty, no wrap, inside the aperture.
 * Computes last once, with the overflow check, so no caller recomputes it.
 */
static int check_range(const struct svf_domain *d, uint64_t iova, uint64_t len, uint64_t *last)
{
	const uint64_t mask = SVF_PAGE_SIZE - 1;

	if (!len || (iova & mask) || (len & mask))
		return -EINVAL;
	if (__builtin_add_overflow(iova, len - 1, last))
		return -EINVAL;
	if (*last > d->aperture_last)
		return -EINVAL;
	return 0;
}

/*
 * Largest page size usable at (iova, paddr) for at most len bytes, and how
 * many leaves of it to install before a larger size could take over (the
 * point where both addresses reach the next larger alignment).
 */
static void pick_pgsize(uint64_t bitmap, uint64_t iova, uint64_t paddr, uint64_t len,
			uint64_t *pgsize, uint64_t *count)
{
	uint64_t addr_merge = iova | paddr;
	uint64_t best = SVF_PAGE_SIZE;

	for (uint64_t b = bitmap; b; b &= b - 1) {
		uint64_t sz = b & -b;

		if (sz > len || (addr_merge & (sz - 1)))
			break;
		best = sz;
	}
	*pgsize = best;
	*count = len / best;

	/* Stop where a larger page would become possible, if it ever can. */
	uint64_t larger = bitmap & ~((best << 1) - 1);
	if (larger) {
		uint64_t next = larger & -larger;
		if (((iova ^ paddr) & (next - 1)) == 0) {
			uint64_t to_boundary = (next - (iova & (next - 1))) & (next - 1);
			if (to_boundary && to_boundary < len)
				*count = to_boundary / best;
		}
	}
}

int svf_iommu_map(struct svf_domain *d, uint64_t iova, uint64_t paddr, uint64_t len, int prot)
{
	const struct svf_iommu_ops *ops = d->unit->ops;
	uint64_t last, done = 0;
	int rc;

	rc = check_range(d, iova, len, &last);
	if (rc)
		return rc;
	if (paddr & (SVF_PAGE_SIZE - 1))
		return -EINVAL;
	if (!(prot & (SVF_PROT_READ | SVF_PROT_WRITE)))
		return -EINVAL;
	d->unit->map_calls++;
	while (done < len) {
		uint64_t pgsize, count, mapped = 0;

		pick_pgsize(ops->pgsize_bitmap, iova + done, paddr + done, len - done, &pgsize,
			    &count);
		rc = ops->map_pages(d, iova + done, paddr + done, pgsize, count, prot, &mapped);
		done += mapped;
		if (rc)
			goto err_undo;
	}
	if (ops->sync_map) {
		rc = ops->sync_map(d, iova, len);
		if (rc)
			goto err_undo;
	}
	return 0;

err_undo:
	/* Linux invalidates what a failed map had installed before undoing it. */
	if (done) {
		uint64_t unmapped;
		int urc = svf_iommu_unmap(d, iova, done, &unmapped);

		if (urc)
			svf_log(SVF_LOG_ERR, "undo of failed map at 0x%llx left %llu bytes (%d)",
				(unsigned long long)iova, (unsigned long long)(done - unmapped), urc);
	}
	return rc;
}

void svf_gather_init(struct svf_gather *g, bool merge)
{
	memset(g, 0, sizeof(*g));
	g->empty = true;
	g->merge = merge;
}

bool svf_gather_is_empty(const struct svf_gather *g)
{
	return g->empty && !g->queued && !g->need_domain_inv;
}

/* Queue the invalidation of the gather's pending range (no wait). */
static int gather_queue_range(struct svf_gather *g)
{
	struct svf_domain *d = g->dom;
	int rc;

	if (g->empty)
		return 0;
	rc = d->unit->ops->inv_range(d, g->start, g->last, !g->freed_tables);
	if (rc) {
		/* Not dropped: the next sync invalidates the whole domain. */
		g->need_domain_inv = true;
	} else {
		g->queued = true;
	}
	g->empty = true;
	g->freed_tables = false;
	return rc;
}

/* Add [start, last] (just unmapped in d) to g. Inline: once per batch of the unmap path. */
static inline int gather_add(struct svf_domain *d, struct svf_gather *g, uint64_t start, uint64_t last,
		      bool freed_tables)
{
	int rc = 0;

	if (!g->dom)
		g->dom = d;
	if (!g->empty && g->merge && start <= g->last + 1 && last + 1 >= g->start) {
		if (start < g->start)
			g->start = start;
		if (last > g->last)
			g->last = last;
		g->freed_tables |= freed_tables;
		return 0;
	}
	if (!g->empty)
		rc = gather_queue_range(g);
	g->start = start;
	g->last = last;
	g->empty = false;
	g->freed_tables = freed_tables;
	if (!g->merge) {
		int rc2 = gather_queue_range(g);
		if (!rc)
			rc = rc2;
	}
	return rc;
}

static int unmap_into_gather(struct svf_domain *d, uint64_t iova, uint64_t len,
			     struct svf_gather *g, uint64_t *first_out, uint64_t *phys,
			     uint64_t *unmapped)
{
	uint64_t last, first = iova, n = 0;
	bool freed = false;
	int rc, arc;

	*unmapped = 0;
	rc = check_range(d, iova, len, &last);
	if (rc)
		return rc;
	if (g->dom && g->dom != d)
		return -EINVAL; /* a gather serves one domain between syncs */
	rc = d->unit->ops->unmap_range(d, iova, len, &first, &n, phys, &freed);
	if (first_out)
		*first_out = first;
	if (n) {
		arc = gather_add(d, g, first, first + n - 1, freed);
		/*
		 * A failure to queue is remembered in the gather (domain-wide
		 * invalidation at sync), so the unmap itself stands.
		 */
		(void)arc;
		*unmapped = n;
	}
	return rc;
}

int svf_iommu_unmap_fast(struct svf_domain *d, uint64_t iova, uint64_t len, struct svf_gather *g,
			 uint64_t *unmapped)
{
	d->unit->unmap_fast_calls++;
	return unmap_into_gather(d, iova, len, g, NULL, NULL, unmapped);
}

int svf_iommu_unmap_fast_run(struct svf_domain *d, uint64_t iova, uint64_t maxlen,
			     struct svf_gather *g, uint64_t *first, uint64_t *phys,
			     uint64_t *unmapped)
{
	d->unit->unmap_fast_calls++;
	return unmap_into_gather(d, iova, maxlen, g, first, phys, unmapped);
}

int svf_iommu_unmap_fast_runs(struct svf_domain *d, uint64_t iova, uint64_t len,
			      struct svf_gather *g, struct svf_iommu_run *runs, unsigned max,
			      unsigned *nruns, uint64_t *end)
{
	const struct svf_iommu_ops *ops = d->unit->ops;
	const bool merge = g->merge; /* immutable; a local, as gather_add writes through g */
	uint64_t last, cur = iova;
	unsigned n = 0, n_queued = 0;
	int rc;

	*nruns = 0;
	*end = iova;
	rc = check_range(d, iova, len, &last);
	if (rc)
		return rc;
	if (g->dom && g->dom != d)
		return -EINVAL; /* a gather serves one domain between syncs */
	if (ops->unmap_runs) {
		rc = ops->unmap_runs(d, iova, len, runs, max, &n, &cur);
	} else {
		bool wrapped = false;

		while (n < max && cur <= last && !wrapped) {
			uint64_t first = cur, un = 0, phys = 0;
			bool freed = false;

			rc = ops->unmap_range(d, cur, last - cur + 1, &first, &un, &phys, &freed);
			if (rc)
				break;
			if (!un) {
				cur += SVF_PAGE_SIZE; /* a hole */
				wrapped = cur == 0;
				continue;
			}
			runs[n++] = (struct svf_iommu_run){ .iova = first, .phys = phys, .len = un,
							    .freed_tables = freed };
			cur = first + un;
			wrapped = cur == 0;
		}
	}
	/*
	 * A failure to queue is remembered in the gather (domain-wide
	 * invalidation at sync). A merging gather takes IOVA-adjacent runs as
	 * one range, added once.
	 */
	if (n && !g->merge && g->empty && ops->inv_runs) {
		/* Not merging: one descriptor per run, queued under one lock. */
		if (!g->dom)
			g->dom = d;
		if (ops->inv_runs(d, runs, n))
			g->need_domain_inv = true; /* not dropped: the sync invalidates the domain */
		else
			g->queued = true;
		n_queued = n;
	}
	for (unsigned i = n_queued; i < n;) {
		uint64_t start = runs[i].iova, next = start + runs[i].len;
		bool freed = runs[i].freed_tables;

		for (i++; merge && i < n && runs[i].iova == next; i++) {
			next += runs[i].len;
			freed |= runs[i].freed_tables;
		}
		(void)gather_add(d, g, start, next - 1, freed);
	}
	d->unit->unmap_fast_calls += n;
	*nruns = n;
	*end = cur;
	return rc;
}

int svf_iommu_iotlb_sync(struct svf_domain *d, struct svf_gather *g)
{
	const struct svf_iommu_ops *ops = d->unit->ops;
	int rc = 0;

	if (svf_gather_is_empty(g)) {
		g->dom = NULL;
		return 0;
	}
	if (g->dom && g->dom != d)
		return -EINVAL;
	d->unit->iotlb_syncs++;
	if (!g->empty && !g->need_domain_inv && ops->inv_range_wait) {
		/* The common sync: one range, queued and waited for in one step. */
		bool queued = false;

		rc = ops->inv_range_wait(d, g->start, g->last, !g->freed_tables, &queued);
		g->empty = true;
		g->freed_tables = false;
		if (!rc) {
			g->queued = false;
			g->dom = NULL;
			return 0;
		}
		if (queued) {
			g->queued = true;
			return rc; /* as a failed wait below: a retry waits again */
		}
		/* As a failed gather_queue_range: not dropped, the domain is invalidated. */
		g->need_domain_inv = true;
	}
	if (!g->empty)
		gather_queue_range(g);
	if (g->need_domain_inv) {
		rc = ops->inv_domain(d);
		if (rc)
			return rc; /* still needed: the caller may retry the sync */
		g->need_domain_inv = false;
		g->queued = true;
	}
	rc = ops->wait(d->unit);
	if (rc)
		return rc; /* queued stays set: a retry waits again */
	g->queued = false;
	g->dom = NULL;
	return 0;
}

int svf_iommu_unmap(struct svf_domain *d, uint64_t iova, uint64_t len, uint64_t *unmapped)
{
	struct svf_gather g;
	int rc, src;

	svf_gather_init(&g, true);
	d->unit->unmap_calls++;
	rc = unmap_into_gather(d, iova, len, &g, NULL, NULL, unmapped);
	src = svf_iommu_iotlb_sync(d, &g);
	if (src) {
		/* One retry: a transient queue error must not leave a stale IOTLB. */
		src = svf_iommu_iotlb_sync(d, &g);
	}
	return rc ? rc : src;
}

int svf_iommu_flush_all(struct svf_domain *d)
{
	int rc = d->unit->ops->inv_domain(d);

	if (rc)
		return rc;
	return d->unit->ops->wait(d->unit);
}

int svf_iommu_iova_to_phys(struct svf_domain *d, uint64_t iova, uint64_t *phys,
			   uint64_t *leaf_size, int *prot)
{
	if (iova > d->aperture_last)
		return -ENOENT;
	return d->unit->ops->iova_to_phys(d, iova, phys, leaf_size, prot);
}

int svf_iommu_phys_run(struct svf_domain *d, uint64_t iova, uint64_t maxlen, uint64_t *phys,
		       uint64_t *len)
{
	int rc;

	if (iova > d->aperture_last || !maxlen)
		return -ENOENT;
	rc = d->unit->ops->phys_run(d, iova, maxlen, phys, len);
	if (!rc && *len > maxlen)
		*len = maxlen;
	return rc;
}

bool svf_domain_hw_dirty(const struct svf_domain *d)
{
	return d->unit->cfg.hw_dirty && d->unit->ops->read_clear_dirty;
}

int svf_iommu_read_clear_dirty(struct svf_domain *d, uint64_t iova, uint64_t len, uint64_t base,
			       uint64_t *bits, uint64_t *ndirty)
{
	struct svf_gather g;
	uint64_t last, cleared = 0;
	int rc;

	if (ndirty)
		*ndirty = 0;
	if (!svf_domain_hw_dirty(d))
		return -EOPNOTSUPP;
	rc = check_range(d, iova, len, &last);
	if (rc)
		return rc;
	rc = d->unit->ops->read_clear_dirty(d, iova, len, base, bits, &cleared);
	if (rc)
		return rc;
	if (ndirty)
		*ndirty = cleared;
	if (!cleared)
		return 0; /* nothing was cached as dirty that is not still dirty */
	/* Leaf-only change: cached translations must re-walk to mark D again. */
	svf_gather_init(&g, true);
	g.dom = d;
	g.start = iova;
	g.last = last;
	g.empty = false;
	return svf_iommu_iotlb_sync(d, &g);
}

bool svf_iommu_checks_unpin(const struct svf_domain *d)
{
	return d->unit->cfg.check_unpin;
}

/*
 * The thread's own stripe (single writer, iommu_reader.h). On x86-64 one
 * unlocked add to memory: an aligned 8-byte store is atomic there, so a
 * reader summing the stripes sees the old or the new count, as with the
 * relaxed load and store used elsewhere (ThreadSanitizer sees those).
 */
static inline void count_hit(const struct svf_tls *tl)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
	__asm__("addq $1, %0" : "+m"(*tl->hits));
#else
	__atomic_store_n(tl->hits, __atomic_load_n(tl->hits, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
#endif
}

/* The rest of the thread's cache (iommu_reader.h), then the driver. */
static __attribute__((noinline)) int translate_cached(struct svf_domain *d, uint64_t iova,
						      int access, uint64_t *phys)
{
	struct svf_tls *tl = &svf_tls;
	uint64_t data;
	unsigned shift;

	if (tl->dom_serial == d->serial && tl->gen == __atomic_load_n(tl->genp, __ATOMIC_RELAXED) &&
	    (unsigned)access - 1u < 3u && svf_tcache_probe(tl, iova, &data, &shift) &&
	    !((uint64_t)access & ~data)) {
		count_hit(tl);
		*phys = (data & SVF_TLB_ADDR_MASK) + (iova & ((1ull << shift) - 1));
		return 0;
	}
	return d->unit->ops->translate(d, iova, access, phys);
}

/*
 * The hit path, inline here for every driver: this thread's last
 * translation (iommu_reader.h), valid while the unit's IOTLB generation has
 * not moved, answers without an indirect call and without a stack frame;
 * its hit is counted in the thread's own stripe. Then the rest of the
 * thread's cache, then the driver.
 */
int svf_iommu_translate(struct svf_domain *d, uint64_t iova, int access, uint64_t *phys)
{
	const struct svf_tls *tl = &svf_tls;

	if (__builtin_expect(tl->dom_serial == d->serial && (iova & tl->vmask) == tl->key &&
			     tl->gen == __atomic_load_n(tl->genp, __ATOMIC_RELAXED) &&
			     (unsigned)access < 4u && ((tl->ok >> access) & 1), 1)) {
		count_hit(tl);
		*phys = iova + tl->delta;
		return 0;
	}
	return translate_cached(d, iova, access, phys);
}

void svf_iommu_dma_begin(struct svf_domain *d)
{
	d->unit->ops->dma_begin(d);
}

void svf_iommu_dma_end(struct svf_domain *d)
{
	d->unit->ops->dma_end(d);
}

bool svf_iommu_check_unpin(struct svf_domain *d, uint64_t iova, uint64_t phys, uint64_t len)
{
	struct svf_iommu *u = d->unit;

	if (!u->cfg.check_unpin)
		return true;
	if (u->ops->unpin_safe(d, iova, phys, len))
		return true;
	atomic_fetch_add_explicit(&u->invariant_violations, 1, memory_order_relaxed);
	svf_log(SVF_LOG_ERR,
		"INVARIANT VIOLATION: unpin of phys 0x%llx+0x%llx (iova 0x%llx, domain %u) "
		"while a translation may remain",
		(unsigned long long)phys, (unsigned long long)len, (unsigned long long)iova,
		(unsigned)d->id);
	return false;
}

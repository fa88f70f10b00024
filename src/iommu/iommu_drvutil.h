/* SPDX-License-Identifier: MIT */
/*
 * Small pieces both emulated IOMMU drivers (vtd/, amd/) need in the same
 * form: their counters, the unit spinlock, the cost model's defaults, the
 * argument checks of map and unmap against the aperture, the release of
 * deferred table pages, and the IOTLB probe of the test introspection.
 * What the drivers do differently (page-table formats, invalidation
 * commands, permission bits) stays in each driver.
 *
 * Counters are plain uint64_t read with relaxed loads by the stats path.
 * svf_drv_ctr_add() is a single-writer bump: the caller holds the unit lock
 * or owns the counter's reader stripe. svf_drv_stripe_add() falls back to an
 * atomic add for the shared stripe (slot SVF_READER_SLOTS), which several
 * threads may bump at once.
 *
 * The unit lock is a spinlock rather than a mutex: it is taken once per
 * queued command or batch and held briefly, except across a wait; a waiter
 * yields the CPU after 256 spins. 0 is free, 1 held.
 */
#ifndef SOFTVFIO_IOMMU_DRVUTIL_H
#define SOFTVFIO_IOMMU_DRVUTIL_H

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include <softvfio/iommu.h>
#include <softvfio/page.h>
#include <softvfio/stats.h>

#include "iommu_iotlb.h"
#include "iommu_ptpages.h"
#include "iommu_reader.h"

/*
 * Reader-side counters of one thread slot, a cache line each: device
 * threads on different slots never write the same line.
 */
struct svf_drv_stripe {
	uint64_t hits;
	uint64_t misses;
	uint64_t walk_reads; /* page-table entries read by walks on a miss */
} __attribute__((aligned(64)));

static inline uint64_t svf_drv_ctr_read(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static inline void svf_drv_ctr_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void svf_drv_stripe_add(uint64_t *c, int slot, uint64_t n)
{
	if (__builtin_expect(slot < SVF_READER_SLOTS, 1))
		svf_drv_ctr_add(c, n);
	else
		__atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

/*
 * Add into s what every unit counts the same way: its reader stripes
 * (SVF_READER_SLOTS + 1 of them, the last one shared), its IOTLB's
 * invalidated entries, its table pages, and the modeled cost of the walks'
 * reads (walk_level_ns each). The driver adds its own command counters.
 */
static inline void svf_drv_add_common_stats(struct svf_stats *s,
					    const struct svf_drv_stripe *stripes,
					    const struct svf_iotlb *iotlb,
					    const struct svf_pt_pages *pt, uint64_t walk_level_ns)
{
	uint64_t walk_reads = 0;

	for (unsigned i = 0; i <= SVF_READER_SLOTS; i++) {
		s->iotlb_hits += svf_drv_ctr_read(&stripes[i].hits);
		s->iotlb_misses += svf_drv_ctr_read(&stripes[i].misses);
		walk_reads += svf_drv_ctr_read(&stripes[i].walk_reads);
	}
	s->iotlb_entries_invalidated += svf_drv_ctr_read(&iotlb->invalidated);
	s->pt_pages += svf_drv_ctr_read(&pt->now);
	s->pt_pages_peak += svf_drv_ctr_read(&pt->peak);
	s->pt_pages_freed += svf_drv_ctr_read(&pt->freed);
	s->modeled_ns += walk_reads * walk_level_ns;
}

/*
 * The cost model a unit runs with: none with cost_off; the driver's
 * defaults (dflt) when the configuration leaves the model all zero; none
 * when it sets costs but not enabled; else the configured one.
 */
static inline void svf_drv_resolve_cost(const struct svf_iommu_config *cfg,
					const struct svf_cost_model *dflt,
					struct svf_cost_model *out)
{
	const struct svf_cost_model *c = &cfg->cost;
	bool all_zero = !c->enabled && !c->inv_page_ns && !c->inv_domain_ns && !c->inv_global_ns &&
			!c->wait_ns && !c->walk_level_ns;

	if (cfg->cost_off || (!all_zero && !c->enabled))
		*out = (struct svf_cost_model){ 0 };
	else if (all_zero)
		*out = *dflt;
	else
		*out = *c;
}

/*
 * map_pages' bounds: pgcount pages of pgsize from iova lie inside
 * [0, aperture_last] and from paddr inside [0, phys_last], without
 * overflow. pgsize is a power of two, pgcount not 0.
 */
static inline bool svf_drv_map_fits(uint64_t iova, uint64_t paddr, uint64_t pgsize,
				    uint64_t pgcount, uint64_t aperture_last, uint64_t phys_last)
{
	return pgcount <= (aperture_last + 1) / pgsize && iova <= aperture_last &&
	       pgcount * pgsize - 1 <= aperture_last - iova && paddr <= phys_last &&
	       pgcount * pgsize - 1 <= phys_last - paddr;
}

/*
 * unmap_range's and unmap_runs' range: [iova, iova + len) not empty,
 * aligned to SVF_PAGE_SIZE (both drivers' smallest page, which each
 * asserts) and inside [0, aperture_last].
 */
static inline bool svf_drv_unmap_fits(uint64_t iova, uint64_t len, uint64_t aperture_last)
{
	return len && !((iova | len) & (SVF_PAGE_SIZE - 1)) && iova <= aperture_last &&
	       len - 1 <= aperture_last - iova;
}

/*
 * At unit teardown: table pages still waiting for their grace period are
 * released after one (no domain is left, so nothing queues more).
 */
static inline void svf_drv_release_deferred(struct svf_pt_freelist *deferred,
					    struct svf_pt_pages *pt)
{
	if (deferred->count) {
		svf_reader_synchronize();
		svf_pt_freelist_release(deferred, pt);
	}
}

/*
 * Test introspection: the IOTLB entry translating iova for did, of any
 * size (every size is probed: a lookup skips the sizes a counter says are
 * absent, and that counter is only a hint). 0 with the translation of
 * iova, the entry's size and its data word (permission bits, which each
 * driver decodes); -ENOENT when no entry holds iova.
 */
static inline int svf_drv_iotlb_peek(const struct svf_iotlb *t, uint16_t did, uint64_t iova,
				     uint64_t *phys, uint64_t *size, uint64_t *data)
{
	for (unsigned c = SVF_TLB_4K; c <= SVF_TLB_1G; c++) {
		if (svf_iotlb_probe(t, did, iova, c, data)) {
			*size = svf_tlb_size(c);
			*phys = (*data & SVF_TLB_ADDR_MASK) + (iova & (*size - 1));
			return 0;
		}
	}
	return -ENOENT;
}

static inline void svf_drv_spin_lock(uint32_t *lock)
{
	while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE)) {
		for (unsigned spins = 0; __atomic_load_n(lock, __ATOMIC_RELAXED); spins++) {
			if (spins < 256)
				svf_cpu_relax();
			else
				sched_yield();
		}
	}
}

static inline void svf_drv_spin_unlock(uint32_t *lock)
{
	__atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

#endif

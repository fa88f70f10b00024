/* SPDX-License-Identifier: MIT */
/*
 * Between the IOMMU core (iommu.c) and its drivers (vtd/, amd/): the unit and
 * domain objects and the driver ops (every backend sits behind an ops
 * struct).
 *
 * The core owns argument checking, page-size splitting, gather handling and
 * counters of calls; the driver owns the emulated hardware (page table,
 * IOTLB, invalidation queue, cost model) and its counters.
 */
#ifndef SOFTVFIO_IOMMU_DRIVER_H
#define SOFTVFIO_IOMMU_DRIVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <softvfio/iommu.h>

struct svf_iommu_ops {
	const char *name;
	uint64_t pgsize_bitmap;  /* e.g. 4K|2M|1G */
	unsigned ias_bits;       /* IOVA width: aperture is [0, 2^ias - 1] */
	void (*default_config)(struct svf_iommu_config *cfg);

	/* unit lifetime: allocate u->priv (IOTLB, queue). 0 or -ENOMEM. */
	int (*unit_init)(struct svf_iommu *u);
	void (*unit_fini)(struct svf_iommu *u);

	/* domain lifetime: allocate d->priv (root table). 0 or -ENOMEM. */
	int (*domain_init)(struct svf_domain *d);
	/* Tear down: clear, invalidate the domain, wait, free tables. */
	void (*domain_fini)(struct svf_domain *d);

	/*
	 * Install pgcount leaves of size pgsize (a bit of pgsize_bitmap) from
	 * iova -> paddr, both aligned to pgsize, in one descent where it can.
	 * *mapped receives the bytes installed before any failure. 0, -EEXIST
	 * (something is mapped there already), -ENOMEM (table page). A map
	 * queues no invalidation (sync_map, when the driver has one, follows).
	 */
	int (*map_pages)(struct svf_domain *d, uint64_t iova, uint64_t paddr, uint64_t pgsize,
			 uint64_t pgcount, int prot, uint64_t *mapped);
	/*
	 * Optional: after a whole svf_iommu_map() succeeded, make the new range
	 * visible to a unit that may cache non-present entries (AMD-Vi NpCache:
	 * invalidate it and wait, as Linux's iotlb_sync_map does). 0 or errno;
	 * on error the core unmaps the range again.
	 */
	int (*sync_map)(struct svf_domain *d, uint64_t iova, uint64_t len);

	/*
	 * Clear the leaves translating [iova, iova+len), in order, stopping at
	 * the first page that is not mapped. A leaf that begins before iova or
	 * ends after the range is removed whole. *first receives the IOVA of
	 * the first leaf removed and *unmapped the bytes removed from *first on
	 * (0 when iova itself is not mapped). Table pages left empty are
	 * unlinked and put on the unit's deferred-free list (released after the
	 * next wait) and *freed_tables is set. Never queues invalidations (the
	 * core does, from the gather). 0 or errno (then *unmapped tells what
	 * was removed before the failure). With phys non-NULL, also stop before
	 * the first leaf that does not continue the physical run and return the
	 * physical address of *first through it.
	 */
	int (*unmap_range)(struct svf_domain *d, uint64_t iova, uint64_t len, uint64_t *first,
			   uint64_t *unmapped, uint64_t *phys, bool *freed_tables);

	/*
	 * Optional, the batch form of unmap_range's run mode: remove the
	 * physically contiguous runs of [iova, iova+len) in IOVA order, at
	 * most max, skipping holes, into runs[] (see
	 * svf_iommu_unmap_fast_runs). *nruns and *end as there. 0 or errno
	 * (then nothing more was removed). Without it the core loops over
	 * unmap_range.
	 */
	int (*unmap_runs)(struct svf_domain *d, uint64_t iova, uint64_t len,
			  struct svf_iommu_run *runs, unsigned max, unsigned *nruns,
			  uint64_t *end);

	/*
	 * Hardware dirty tracking: clear the D bit of every dirty leaf of
	 * [iova, iova+len) and set its pages' bits in bits (bit 0 = page at
	 * base; NULL: only clear). *cleared receives the number of leaves
	 * cleared. Writer side. 0 or errno.
	 */
	int (*read_clear_dirty)(struct svf_domain *d, uint64_t iova, uint64_t len, uint64_t base,
				uint64_t *bits, uint64_t *cleared);

	/* Writer-side run lookup, see svf_iommu_phys_run(). 0 or -ENOENT. */
	int (*phys_run)(struct svf_domain *d, uint64_t iova, uint64_t maxlen, uint64_t *phys,
			uint64_t *len);

	/* Software walk: 0 with phys/leaf size/prot, or -ENOENT. */
	int (*iova_to_phys)(struct svf_domain *d, uint64_t iova, uint64_t *phys,
			    uint64_t *leaf_size, int *prot);

	/*
	 * Optional: inv_range for each of n runs (leaf_only where the run
	 * freed no table), under one acquisition of the queue's lock. 0 or
	 * errno (then none of them is queued).
	 */
	int (*inv_runs)(struct svf_domain *d, const struct svf_iommu_run *runs, unsigned n);

	/*
	 * Queue invalidation of [start, last] in d (page-selective with the
	 * smallest covering mask, domain-selective past the unit's largest
	 * mask). leaf_only sets the invalidation hint. Does not wait. 0 or errno.
	 */
	int (*inv_range)(struct svf_domain *d, uint64_t start, uint64_t last, bool leaf_only);
	/*
	 * Optional: inv_range of [start, last], then wait, under one
	 * acquisition of the queue's lock (a sync of a gather holding one
	 * range). The fault seams are inv_range's and wait's, hit in that
	 * order. *queued is set once the descriptor is queued: an error with
	 * *queued false is inv_range's (nothing queued), with *queued true
	 * wait's (the descriptor stays queued for the next wait). 0 or errno.
	 */
	int (*inv_range_wait)(struct svf_domain *d, uint64_t start, uint64_t last, bool leaf_only,
			      bool *queued);
	/* Queue a domain-selective invalidation of d. */
	int (*inv_domain)(struct svf_domain *d);
	/* Queue a global invalidation of the unit. */
	int (*inv_global)(struct svf_iommu *u);
	/*
	 * Queue a wait descriptor and complete it: every descriptor queued
	 * before it takes effect (IOTLB entries removed), deferred table pages
	 * are released, and no device translation that began before may still
	 * use a removed entry when it returns. 0 or errno.
	 */
	int (*wait)(struct svf_iommu *u);

	/* Device path, see svf_iommu_translate(). */
	int (*translate)(struct svf_domain *d, uint64_t iova, int access, uint64_t *phys);
	/* Device access sections, see svf_iommu_dma_begin(). Never fail. */
	void (*dma_begin)(struct svf_domain *d);
	void (*dma_end)(struct svf_domain *d);

	/*
	 * Unpin check: could anything of the unit still translate (d, iova
	 * range) or reach [phys, phys+len)? true when nothing can.
	 */
	bool (*unpin_safe)(struct svf_domain *d, uint64_t iova, uint64_t phys, uint64_t len);

	void (*add_stats)(const struct svf_iommu *u, struct svf_stats *s);
	/* Optional: the unit's fault log, see svf_iommu_fault_log_read(). */
	int (*fault_log_read)(struct svf_iommu *u, char *buf, size_t len, size_t *n);
	int (*resv_regions)(const struct svf_domain *d, struct svf_resv_region *r, size_t max,
			    size_t *nr);
};

struct svf_iommu {
	const struct svf_iommu_ops *ops; /* immutable */
	struct svf_iommu_config cfg;     /* immutable after create */
	void *priv;                      /* driver state */
	unsigned nr_domains;             /* protected by the caller's serialization */
	uint16_t next_domain_id;
	/* core call counters; written under the caller's serialization */
	uint64_t map_calls, unmap_calls, unmap_fast_calls, iotlb_syncs;
	atomic_uint_fast64_t invariant_violations;
};

struct svf_domain {
	struct svf_iommu *unit; /* immutable */
	uint16_t id;            /* immutable; VT-d domain id, AMD-Vi DomainID */
	/*
	 * Immutable; unique in the process, never 0 and never reused: what a
	 * thread's cached translation (struct svf_tls) names its domain by. A
	 * pointer would not do: a domain allocated later may sit at a freed
	 * one's address, and the cache would then be read through the freed
	 * domain's unit.
	 */
	uint64_t serial;
	uint64_t aperture_last; /* immutable; highest IOVA translated */
	void *priv;             /* driver state: the page table */
};

/* The drivers softvfio knows, looked up by name. */
extern const struct svf_iommu_ops svf_vtd_ops;
extern const struct svf_iommu_ops svf_amd_ops;

#endif

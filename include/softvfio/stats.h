/* SPDX-License-Identifier: MIT */
/*
 * softvfio counters: what the flush policies are compared by.
 *
 * One plain struct, filled by svf_container_get_stats() as the sum over the
 * container and every IOMMU unit its domains sit on. Counters only grow,
 * except the gauges marked "now" and "peak".
 */
#ifndef SOFTVFIO_STATS_H
#define SOFTVFIO_STATS_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct svf_stats {
	/* invalidation queue (emulated hardware) */
	uint64_t inv_page;        /* page-selective IOTLB invalidation descriptors */
	uint64_t inv_domain;      /* domain-selective */
	uint64_t inv_global;      /* global */
	uint64_t inv_devtab;      /* device table entry invalidations (AMD-Vi) */
	uint64_t waits;           /* wait descriptors completed */
	uint64_t iotlb_hits;
	uint64_t iotlb_misses;
	uint64_t iotlb_entries_invalidated;
	uint64_t pt_pages;        /* page-table pages now allocated (all domains) */
	uint64_t pt_pages_peak;
	uint64_t pt_pages_freed;  /* table pages released after their wait */
	uint64_t modeled_ns;      /* modeled device time of every descriptor and wait */
	uint64_t wait_sync_ns;    /* real time waits spent as barriers against device
				     threads (heavy fences, open DMA sections); counted
				     only while another thread translates */

	/* IOMMU core */
	uint64_t map_calls;
	uint64_t unmap_calls;       /* waiting unmaps */
	uint64_t unmap_fast_calls;  /* unmaps that leave the wait to a later sync */
	uint64_t iotlb_syncs;       /* gathers synced (each ends in one wait) */

	/* type1 container */
	uint64_t chunks_unmapped;   /* physically contiguous chunks unmapped */
	uint64_t regions_pending_peak; /* longest pending list seen */
	uint64_t pages_pinned;      /* pin operations, in 4 KiB pages */
	uint64_t pages_unpinned;
	uint64_t pinned_now;        /* pages pinned now by this container */
	uint64_t pinned_peak;
	uint64_t locked_bytes;      /* locked memory charged now */
	uint64_t unmap_fallbacks;   /* fast unmaps that failed and were redone waiting */
	uint64_t unmap_errors;      /* chunks that not even the waiting unmap removed */
	uint64_t invariant_violations; /* unpins the emulated IOMMU caught too early */
	uint64_t bookkeeping_bytes; /* heap held by container bookkeeping now */
	uint64_t cpu_ns;            /* thread CPU time inside softvfio_ioctl(), when measured */
	uint64_t cpu_time_measured; /* 1: cpu_ns is measured (config cpu_time); 0: off, cpu_ns 0 */

	/* lazy policy (flush queue) */
	uint64_t lazy_flush_full;     /* flushes because the queue was full */
	uint64_t lazy_flush_timeout;  /* flushes by the timer */

	/* emulated devices behind the container's domain (device.h) */
	uint64_t dma_requests;        /* DMA requests completed, faulted or not */
	uint64_t dma_pages;           /* pages translated and accessed */
	uint64_t dma_faults;          /* requests that ended in a fault */
	uint64_t dma_unpinned_access; /* check mode: accesses to a page no pin held (must be 0) */
	uint64_t dma_after_unmap;     /* check mode: accesses through an IOVA whose unmap had
					 returned before the request began (0 unless lazy) */
};

/* Writes s as one JSON object (no trailing newline). Returns 0, or -EIO when a write to f failed. */
int svf_stats_write_json(const struct svf_stats *s, FILE *f);

#ifdef __cplusplus
}
#endif
#endif

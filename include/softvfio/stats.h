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

/*
 * The counters, in one table: X(name, kind, what) for each, in the order
 * every writer uses (svf_stats_write_json, the command's tables and its
 * benchmarks). kind is SVF_STAT_COUNT for a counter that only grows (a
 * difference of two samples means something) or SVF_STAT_LEVEL for a gauge
 * ("now"), a high-water mark ("peak") or a flag, which are not
 * differenced. struct svf_stats is generated from it, one uint64_t each.
 */
#define SVF_STAT_COUNT 0
#define SVF_STAT_LEVEL 1
#define SVF_STATS_FIELDS(X)                                                                       \
	/* invalidation queue (emulated hardware) */                                              \
	X(waits, SVF_STAT_COUNT, "wait descriptors completed")                                    \
	X(inv_page, SVF_STAT_COUNT, "page-selective IOTLB invalidation descriptors")              \
	X(inv_domain, SVF_STAT_COUNT, "domain-selective IOTLB invalidation descriptors")          \
	X(inv_global, SVF_STAT_COUNT, "global IOTLB invalidation descriptors")                    \
	X(inv_devtab, SVF_STAT_COUNT, "device table entry invalidations (AMD-Vi)")                \
	X(iotlb_hits, SVF_STAT_COUNT, "translations found in the IOTLB")                          \
	X(iotlb_misses, SVF_STAT_COUNT, "translations that walked the page table")                \
	X(iotlb_entries_invalidated, SVF_STAT_COUNT, "IOTLB entries removed by invalidations")    \
	X(pt_pages, SVF_STAT_LEVEL, "page-table pages now allocated (all domains)")               \
	X(pt_pages_peak, SVF_STAT_LEVEL, "peak of pt_pages")                                      \
	X(pt_pages_freed, SVF_STAT_COUNT, "table pages released after their wait")                \
	X(modeled_ns, SVF_STAT_COUNT, "modeled device time of every descriptor and wait")         \
	/* IOMMU core */                                                                          \
	X(map_calls, SVF_STAT_COUNT, "svf_iommu_map calls")                                       \
	X(unmap_calls, SVF_STAT_COUNT, "waiting unmaps")                                          \
	X(unmap_fast_calls, SVF_STAT_COUNT, "chunks removed by unmaps leaving the wait for later") \
	X(iotlb_syncs, SVF_STAT_COUNT, "gathers synced (each ends in one wait)")                  \
	/* type1 container */                                                                     \
	X(chunks_unmapped, SVF_STAT_COUNT, "physically contiguous chunks unmapped")               \
	X(regions_pending_peak, SVF_STAT_LEVEL, "longest pending list seen")                      \
	X(pages_pinned, SVF_STAT_COUNT, "pin operations, in 4 KiB pages")                         \
	X(pages_unpinned, SVF_STAT_COUNT, "unpin operations, in 4 KiB pages")                     \
	X(pinned_now, SVF_STAT_LEVEL, "pages pinned now by this container")                       \
	X(pinned_peak, SVF_STAT_LEVEL, "peak of pinned_now")                                      \
	X(locked_bytes, SVF_STAT_LEVEL, "locked memory charged now")                              \
	X(unmap_fallbacks, SVF_STAT_COUNT, "fast unmaps that failed and were redone waiting")     \
	X(unmap_errors, SVF_STAT_COUNT, "chunks that not even the waiting unmap removed")         \
	X(invariant_violations, SVF_STAT_COUNT, "unpins the emulated IOMMU caught too early")     \
	X(bookkeeping_bytes, SVF_STAT_LEVEL, "heap held by container bookkeeping now")            \
	X(cpu_ns, SVF_STAT_COUNT, "thread CPU time inside softvfio_ioctl(), when measured")       \
	X(cpu_time_measured, SVF_STAT_LEVEL, "1: cpu_ns is measured (config cpu_time); 0: off")   \
	X(wait_sync_ns, SVF_STAT_COUNT,                                                           \
	  "real time waits spent as barriers against device threads (heavy fences, open DMA "     \
	  "sections); counted only while another thread translates")                              \
	/* lazy policy (flush queue) */                                                           \
	X(lazy_flush_full, SVF_STAT_COUNT, "flushes because the queue was full")                  \
	X(lazy_flush_timeout, SVF_STAT_COUNT, "flushes by the timer")                             \
	/* emulated devices behind the container's domain (device.h) */                           \
	X(dma_requests, SVF_STAT_COUNT, "DMA requests completed, faulted or not")                 \
	X(dma_pages, SVF_STAT_COUNT, "pages translated and accessed")                             \
	X(dma_faults, SVF_STAT_COUNT, "requests that ended in a fault")                           \
	X(dma_unpinned_access, SVF_STAT_COUNT,                                                    \
	  "check mode: accesses to a page no pin held (must be 0)")                               \
	X(dma_after_unmap, SVF_STAT_COUNT,                                                        \
	  "check mode: accesses through an IOVA whose unmap had returned before the request "     \
	  "began (0 unless lazy)")                                                                \
	X(dma_vanished, SVF_STAT_COUNT,                                                           \
	  "accesses to pinned memory the process unmapped without telling the library; each "     \
	  "failed as an IOMMU fault")

struct svf_stats {
#define SVF_STATS_MEMBER_(name, kind, what) uint64_t name;
	SVF_STATS_FIELDS(SVF_STATS_MEMBER_)
#undef SVF_STATS_MEMBER_
};

/* Writes s as one JSON object (no trailing newline). Returns 0, or -EIO when a write to f failed. */
int svf_stats_write_json(const struct svf_stats *s, FILE *f);

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
/* Counters as JSON: one flat object, keys named as in struct svf_stats. */
#include <errno.h>
#include <inttypes.h>

#include <softvfio/stats.h>

#define STATS_FIELDS(X)                                                                   \
	X(waits) X(inv_page) X(inv_domain) X(inv_global) X(inv_devtab) X(iotlb_hits) X(iotlb_misses)    \
	X(iotlb_entries_invalidated) X(pt_pages) X(pt_pages_peak) X(pt_pages_freed)        \
	X(modeled_ns) X(map_calls) X(unmap_calls) X(unmap_fast_calls) X(iotlb_syncs)       \
	X(chunks_unmapped) X(regions_pending_peak) X(pages_pinned) X(pages_unpinned)       \
	X(pinned_now) X(pinned_peak) X(locked_bytes) X(unmap_fallbacks) X(unmap_errors)    \
	X(invariant_violations) X(bookkeeping_bytes) X(cpu_ns) X(cpu_time_measured)        \
	X(wait_sync_ns) X(lazy_flush_full) X(lazy_flush_timeout) X(dma_requests)            \
	X(dma_pages) X(dma_faults) X(dma_unpinned_access) X(dma_after_unmap)

int svf_stats_write_json(const struct svf_stats *s, FILE *f)
{
	const char *sep = "";
	int rc = 0;

	if (fputc('{', f) == EOF)
		return -EIO;
#define EMIT(name)                                                                  \
	if (rc >= 0)                                                                \
		rc = fprintf(f, "%s\"" #name "\": %" PRIu64, sep, (uint64_t)s->name); \
	sep = ", ";
	STATS_FIELDS(EMIT)
#undef EMIT
	if (rc < 0 || fputc('}', f) == EOF)
		return -EIO;
	return 0;
}

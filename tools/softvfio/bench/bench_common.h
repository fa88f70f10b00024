/* SPDX-License-Identifier: MIT */
/*
 * What the two benchmarks of the softvfio command share (bench-unmap and
 * bench): clocks, counter deltas, bookkeeping and memory samples, and the
 * way figures are written for people (bytes, durations, rates, ratios).
 *
 * Nothing here asserts anything: benchmarks print figures; tests never
 * check time.
 */
#ifndef SOFTVFIO_BENCH_COMMON_H
#define SOFTVFIO_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <softvfio/softvfio.h>

/* IOVA of the first byte a benchmark maps: above the 32-bit hole and its MSI window. */
#define SVF_BENCH_IOVA  (UINT64_C(1) << 32)
/* Synthetic backend: the vaddr of the first byte (only a number). */
#define SVF_BENCH_VADDR (UINT64_C(1) << 32)
/* End of the VT-d 4-level aperture (48-bit IOVAs). */
#define SVF_BENCH_IOVA_LIMIT (UINT64_C(1) << 48)

/* clock_gettime(id) in nanoseconds. */
uint64_t svf_clock_ns(clockid_t id);

/* Container + pinner heap held for bookkeeping now. */
uint64_t svf_bench_bookkeeping(struct svf_container *c, struct svf_pinner *p);

/*
 * d = after - before for every counter that only grows (SVF_STAT_COUNT in
 * SVF_STATS_FIELDS); the gauges, peaks and flags (SVF_STAT_LEVEL) are
 * copied from after.
 */
void svf_stats_delta(const struct svf_stats *before, const struct svf_stats *after,
		     struct svf_stats *d);

/* Resident set of the process now (/proc/self/statm), and its peak (getrusage); 0 if unknown. */
uint64_t svf_rss_bytes(void);
uint64_t svf_peak_rss_bytes(void);

/* Bytes in the largest unit that keeps them exact, or at least 10 of it: "28 KiB", "16 GiB". */
void svf_human_bytes(uint64_t v, char *buf, size_t len);
/* A duration with three significant digits and a unit: "812 ns", "1.40 s". */
void svf_human_ns(double ns, char *buf, size_t len);
/* A count with three significant digits and an SI suffix: "950", "12.3k", "4.19M". */
void svf_human_count(double v, char *buf, size_t len);
/*
 * The ratio value/base the way a person compares figures: "1.00x", "0.52x",
 * "37x", "1/512" for small ratios; "-" when both are 0, "n/a" when only the
 * base is.
 */
void svf_human_ratio(double value, double base, char *buf, size_t len);

#endif

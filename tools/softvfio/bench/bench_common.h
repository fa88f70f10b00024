/* SPDX-License-Identifier: MIT */
/*
 * What the benchmarks of the softvfio command share: clocks, counter
 * deltas, bookkeeping and memory samples, the way figures are written for
 * people (bytes, durations, rates, ratios), and the VFIO rig of the
 * device benchmarks (bench-vfio, bench-ioat).
 *
 * Nothing here asserts anything: benchmarks print figures; tests never
 * check time.
 */
#ifndef SOFTVFIO_BENCH_COMMON_H
#define SOFTVFIO_BENCH_COMMON_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>

#include <softvfio/softvfio.h>
#include <softvfio/vfio.h>

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

/*
 * Bytes for people: exact in the largest unit that divides them when that
 * takes fewer than 10240 of it ("28 KiB", "1536 MiB", "3073 B", "16 GiB";
 * TiB always), else rounded to three significant digits in the largest
 * unit they reach, marked with a '~' ("~10.0 GiB" for 10 GiB + 1 byte).
 */
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

/*
 * A device set up as a userspace VFIO driver sets one up, through the
 * library's calls: a host with one emulated device, a type1 container with
 * the device's group in it, mem_size bytes of anonymous memory (filled with
 * 0x5a) mapped for DMA, read and write, at mem_iova, the device opened with
 * memory decoding and bus mastering on, and its BAR0 (bar_size bytes)
 * mapped from the device memfd. Single-threaded: the benchmark owns it.
 */
struct svf_bench_rig {
	struct svf_vfio *h;
	struct svf_container *c;
	struct svf_vfio_group *g;
	struct svf_vfio_device *d;
	uint8_t *mem;           /* the DMA memory, mem_size bytes */
	volatile uint8_t *bar;  /* BAR0, bar_size bytes */
	size_t mem_size, bar_size;
};

/*
 * Open r with a device of kind at bdf. 0, or a negative errno after
 * "softvfio CMD: STEP: ERROR" on err, with everything undone.
 */
int svf_bench_rig_open(struct svf_bench_rig *r, const char *cmd, const char *kind,
		       const char *bdf, size_t mem_size, uint64_t mem_iova, size_t bar_size,
		       FILE *err);
/* Undo what svf_bench_rig_open() did, in reverse; a zeroed rig is fine. Never fails. */
void svf_bench_rig_close(struct svf_bench_rig *r);

#endif

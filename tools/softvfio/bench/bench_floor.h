/* SPDX-License-Identifier: MIT */
/*
 * This machine's floor for real memory: what the kernel's own calls cost on
 * a range, measured by the benchmarks in the same process, on the same
 * range and in the same run as the softvfio figure they are printed beside.
 *
 *   lock floor    mlock() of the range and one bulk read of its
 *                 /proc/self/pagemap entries (what any pinner of this
 *                 process must at least do to pin and find its frames);
 *   unlock floor  munlock() of the range;
 *   pair floor    one page's mlock(), 8-byte pagemap read and munlock().
 *
 * The calls are raw system calls, as the process backend makes them
 * (sanitizers intercept the libc wrappers). Callers time them; nothing
 * here reads a clock. Also: how much of a range the kernel backs with
 * transparent huge pages, so that a figure "with THP" says whether it got
 * them, and the median of a few runs.
 *
 * Single-threaded: a struct svf_floor belongs to one caller.
 */
#ifndef SOFTVFIO_BENCH_FLOOR_H
#define SOFTVFIO_BENCH_FLOOR_H

#include <stdint.h>

struct svf_floor {
	int fd;          /* /proc/self/pagemap */
	uint64_t *buf;   /* pagemap entries of one read */
	uint64_t bufn;   /* entries buf holds */
};

/* Open the pagemap and allocate the read buffer. 0 or -errno. */
int svf_floor_open(struct svf_floor *f);
/* Close what svf_floor_open opened (also after a failed open). */
void svf_floor_close(struct svf_floor *f);
/* The lock floor on [va, va + len): 0, or mlock's -errno (ENOMEM, EPERM: the lock limit). */
int svf_floor_lock(struct svf_floor *f, void *va, uint64_t len);
/* The unlock floor on [va, va + len). 0 or -errno. */
int svf_floor_unlock(void *va, uint64_t len);
/* The pair floor on the 4 KiB page at va. 0 or -errno. */
int svf_floor_pair(struct svf_floor *f, void *va);

/* AnonHugePages of the whole process now (smaps_rollup), in bytes; 0 if unknown. */
uint64_t svf_thp_bytes(void);
/*
 * AnonHugePages of the mappings that overlap [va, va + len) (smaps), in
 * bytes; 0 if unknown. A mapping that reaches past the range counts whole.
 */
uint64_t svf_thp_bytes_in(const void *va, uint64_t len);

/* The median of v[0..n) (n >= 1); sorts v. */
double svf_median_u64(uint64_t *v, unsigned n);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * `softvfio bench-vfio`: what a VFIO program pays for softvfio's groups and
 * devices, on QEMU's edu (docs/benchmarks.md): config-space and BAR
 * register round trips through the library, doorbell-to-completion latency
 * of a DMA rung through the mapped BAR (while the watcher is hot and after
 * a quiet spell), what the watcher costs when nothing happens, and edu DMA
 * throughput in 4 KiB transfers with the IOTLB hit rate. Prints figures;
 * asserts nothing.
 */
#ifndef SOFTVFIO_BENCH_VFIO_H
#define SOFTVFIO_BENCH_VFIO_H

#include <stdint.h>
#include <stdio.h>

struct svf_bench_vfio_opts {
	uint64_t iters;      /* register round trips per row; 0: 1,000,000 */
	unsigned doorbells;  /* mapped-BAR doorbells in the hot row; 0: 2,000 */
	unsigned cold;       /* doorbells after a quiet spell; 0: 20 */
	uint64_t dmas;       /* 4 KiB DMAs per direction; 0: 100,000 */
	unsigned idle_ms;    /* quiet interval over which the watcher's cost is measured; 0: 1,000 */
};

void svf_bench_vfio_default_opts(struct svf_bench_vfio_opts *o);
/* Runs every row, prints a table on out. 0, or a negative errno (set-up). */
int svf_bench_vfio(const struct svf_bench_vfio_opts *o, FILE *out, FILE *err);

/* The command: parses argv (argv[0] is "bench-vfio"); returns the exit status. */
int svf_bench_vfio_main(int argc, char **argv);
extern const char svf_bench_vfio_help[];

#endif

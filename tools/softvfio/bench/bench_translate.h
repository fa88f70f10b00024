/* SPDX-License-Identifier: MIT */
/*
 * `softvfio bench-translate`: what a device pays to translate, and what an
 * unmap pays while devices run (docs/benchmarks.md). Prints
 * figures; asserts nothing.
 */
#ifndef SOFTVFIO_BENCH_TRANSLATE_H
#define SOFTVFIO_BENCH_TRANSLATE_H

#include <stdint.h>
#include <stdio.h>

struct svf_bench_translate_opts {
	unsigned threads;     /* device threads for the "all threads" rows; 0: online CPUs */
	uint64_t iters;       /* translations per thread per row; 0: 20,000,000 */
	unsigned mappings;    /* 4 KiB mappings for the miss and random rows; 0: 65,535 */
	unsigned unmaps;      /* map+unmap cycles per policy in the latency rows; 0: 2,000 */
	const char *driver;   /* IOMMU driver; NULL: vtd */
};

void svf_bench_translate_default_opts(struct svf_bench_translate_opts *o);
/* Runs every row, prints a table on out. 0, or a negative errno (set-up). */
int svf_bench_translate(const struct svf_bench_translate_opts *o, FILE *out, FILE *err);

/* The command: parses argv (argv[0] is "bench-translate"); returns the exit status. */
int svf_bench_translate_main(int argc, char **argv);
extern const char svf_bench_translate_help[];

#endif

/* SPDX-License-Identifier: MIT */
/*
 * softvfio bench-unmap: one large mapping unmapped under each flush policy.
 *
 * For each flush policy, on the synthetic pinning backend (no memory behind
 * the mapping, a chosen physical layout): map one mapping of the given size,
 * then time one VFIO_IOMMU_UNMAP_DMA of it, with the thread's CPU clock
 * around the ioctl only, and report the counter deltas (waits, invalidation
 * descriptors by kind, modeled device time), bookkeeping and peak RSS. Then
 * check the targets (docs/benchmarks.md) and print PASS or MISS for each:
 * a benchmark prints figures and never asserts.
 */
#ifndef SOFTVFIO_BENCH_UNMAP_H
#define SOFTVFIO_BENCH_UNMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <softvfio/softvfio.h>

struct svf_bench_unmap_opts {
	uint64_t size;                 /* bytes of the one mapping; default 16 GiB */
	enum svf_layout layout;        /* synthetic physical layout; default frag4k */
	bool policy[SVF_POLICY_NR];    /* which policies run; default strict, batched, gather */
	bool cost;                     /* the IOMMU cost model; default on */
	unsigned batch;                /* pending regions per wait; 0: 512 */
	const char *driver;            /* IOMMU driver; NULL: vtd */
};

void svf_bench_unmap_default_opts(struct svf_bench_unmap_opts *o);

/*
 * Run the benchmark, printing the table and the targets on out and problems
 * on err. Returns 0 when every selected policy ran or was skipped for not
 * being implemented, -EINVAL for a size it cannot map, or the errno of a
 * set-up, map or unmap failure.
 */
int svf_bench_unmap(const struct svf_bench_unmap_opts *o, FILE *out, FILE *err);

#endif

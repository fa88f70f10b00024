/* SPDX-License-Identifier: MIT */
/*
 * What softvfio bench prints and writes: the per-workload tables (every
 * figure of every policy, and its ratio to strict), the targets as
 * measured, the scaling table, and the JSON file.
 *
 * JSON: an array with one object per workload,
 *   {"workload": ID, "guest_bytes": N, ..., "results": [
 *     {"policy": "strict", "regions": N, "inv_descriptors": N, "waits": N,
 *      "cpu_ns": N, "modeled_ns": N, "pages": N, ...}, ...]}
 * with the summary keys first and more after them (see
 * man/softvfio.1); a policy that did not run is left out of "results"
 * and named in "skipped".
 */
#ifndef SOFTVFIO_BENCH_REPORT_H
#define SOFTVFIO_BENCH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "bench.h"

/* What runs, how it is measured; lazy is lazy_probe's answer (1, 0, -errno). */
void svf_bench_print_header(const struct svf_bench_opts *o, unsigned npolicies, int lazy,
			    FILE *out);
/* One workload's table: a row per policy and a row of ratios to strict under it. */
void svf_bench_print_entry(const struct svf_bench_entry *e, const bool policy[SVF_POLICY_NR],
			   FILE *out);
/*
 * Drivers side by side: for each workload (entries are nr_wl groups of ndrv,
 * one per driver), a column per driver and policy and a row each for
 * invalidation commands, waits, modeled device time and CPU time.
 */
void svf_bench_print_drivers(const struct svf_bench_entry *e, size_t nr_wl, unsigned ndrv,
			     const bool policy[SVF_POLICY_NR], FILE *out);
/* The targets (docs/benchmarks.md), for the workloads they are defined on (when present). */
void svf_bench_print_targets(const struct svf_bench_entry *e, size_t n, int cost, FILE *out);
/* CPU per page and memory by guest size, over the lifecycle workloads. */
void svf_bench_print_scaling(const struct svf_bench_entry *e, size_t n,
			     const bool policy[SVF_POLICY_NR], FILE *out);
/* The JSON array. 0 or -EIO. */
int svf_bench_write_json(const struct svf_bench_entry *e, size_t n, const bool *policy,
			 FILE *f);

#endif

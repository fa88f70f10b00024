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
 * and named in "skipped". A vm-real workload has "backing" and
 * "thp_bytes_before" too, and its results start with the figures per page
 * beside the floor: "start_ns_per_page", "start_floor_ns_per_page",
 * "start_ratio_to_floor", the same three for "teardown", and Linux's
 * published figures ("linux_start_ns_per_page", ...; null where none).
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
/*
 * The flatness table of the vm-real workloads: per backing and policy, the
 * figures per page at each guest size and their spread, (max - min) / min,
 * and whether softvfio's start and teardown are flat within 10 %. Prints
 * nothing (and returns false) unless some backing ran at two sizes.
 */
bool svf_bench_print_flatness(const struct svf_bench_entry *e, size_t n,
			      const bool policy[SVF_POLICY_NR], FILE *out);

/* vm-real's four figures: softvfio's start, its floor, the teardown, its floor. */
enum svf_vm_figure {
	SVF_VM_START = 0,
	SVF_VM_START_FLOOR,
	SVF_VM_TEARDOWN,
	SVF_VM_TEARDOWN_FLOOR,
};
/* A vm-real figure of one policy in ns per 4 KiB page (0 when it has no pages). */
double svf_vmreal_per_page(const struct svf_bench_result *r, enum svf_vm_figure f);
/* Linux's published figure for this vm-real entry's backing, ns per page; 0: none. */
double svf_vmreal_linux_ns(const struct svf_bench_entry *e, bool teardown);

/* The JSON array. 0 or -EIO. */
int svf_bench_write_json(const struct svf_bench_entry *e, size_t n, const bool *policy,
			 FILE *f);

#endif

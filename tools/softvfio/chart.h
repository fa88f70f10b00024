/* SPDX-License-Identifier: MIT */
/*
 * The benchmark's chart, as a standalone SVG file written by hand (no
 * library): one row per workload, and in each row two panels on log
 * scales, time per policy (CPU and modeled device time side by side) and
 * IOTLB waits per policy, every bar labelled with its value, decade ticks
 * labelled and minor ticks at 2..9.
 */
#ifndef SOFTVFIO_CHART_H
#define SOFTVFIO_CHART_H

#include <stdbool.h>
#include <stdio.h>

#include "bench.h"

/* Write the chart of n workloads. 0 or -EIO. */
int svf_chart_write_svg(const struct svf_bench_entry *e, size_t n, const bool *policy, FILE *f);
/*
 * The scaling plot of --scale: CPU time per 4 KiB page of guest (the map,
 * and the teardown per policy) against guest size, both on log axes, over
 * the lifecycle workloads among the n. 0 or -EIO.
 */
int svf_chart_write_scaling_svg(const struct svf_bench_entry *e, size_t n, const bool *policy,
				FILE *f);

#endif

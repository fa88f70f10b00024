/* SPDX-License-Identifier: MIT */
/* `softvfio bench-real`: real-memory map and unmap beside this machine's floor. */
#ifndef SOFTVFIO_BENCH_REAL_H
#define SOFTVFIO_BENCH_REAL_H

#include <stdint.h>
#include <stdio.h>

extern const char svf_bench_real_help[];
/* The command's main: 0, 1 (failed), 2 (usage). */
int svf_bench_real_main(int argc, char **argv);
/*
 * The tables of bench-real for a size-byte range (a multiple of 2 MiB),
 * reps runs a figure and pairs 4 KiB pairs a run, written to out ('softvfio
 * run' prints them after its workloads). 0, or -EIO when a figure could
 * not be measured (memory, the lock limit).
 */
int svf_bench_real_report(uint64_t size, unsigned reps, uint64_t pairs, FILE *out);

#endif

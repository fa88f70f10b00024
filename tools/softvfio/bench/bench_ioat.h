/* SPDX-License-Identifier: MIT */
/*
 * `softvfio bench-ioat`: copies through the emulated I/OAT engine as a
 * userspace driver makes them (descriptor ring by IOVA, doorbell through
 * the mapped BAR, completion word polled), for 64 B, 4 KiB and 64 KiB
 * copies: copies per second and GB/s, with the IOTLB hit rate, beside this
 * machine's memcpy of the same sizes over the same memory measured in the
 * same run. Prints figures; asserts nothing.
 */
#ifndef SOFTVFIO_BENCH_IOAT_H
#define SOFTVFIO_BENCH_IOAT_H

#include <stdint.h>
#include <stdio.h>

struct svf_bench_ioat_opts {
	uint64_t mib;        /* MiB copied per row of 4 KiB and 64 KiB; 0: 256 */
	uint64_t small;      /* 64-byte copies in their row; 0: 200,000 */
};

/* Runs every row, prints a table on out. 0, or a negative errno (set-up). */
int svf_bench_ioat(const struct svf_bench_ioat_opts *o, FILE *out, FILE *err);

/* The command: parses argv (argv[0] is "bench-ioat"); returns the exit status. */
int svf_bench_ioat_main(int argc, char **argv);
extern const char svf_bench_ioat_help[];

#endif

/* SPDX-License-Identifier: MIT */
/* `softvfio bench-real`: real-memory map and unmap beside this machine's floor. */
#ifndef SOFTVFIO_BENCH_REAL_H
#define SOFTVFIO_BENCH_REAL_H

extern const char svf_bench_real_help[];
/* The command's main: 0, 1 (failed), 2 (usage). */
int svf_bench_real_main(int argc, char **argv);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * `softvfio bench-exec`: what the preload library of `softvfio exec` costs.
 * Prints figures; asserts nothing.
 */
#ifndef SOFTVFIO_BENCH_EXEC_H
#define SOFTVFIO_BENCH_EXEC_H

/* The command: parses argv (argv[0] is "bench-exec"); returns the exit status. */
int svf_bench_exec_main(int argc, char **argv);
extern const char svf_bench_exec_help[];

#endif

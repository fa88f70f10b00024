/* SPDX-License-Identifier: MIT */
/* `softvfio bench-dirty`: the cost of GET_BITMAP, hardware dirty tracking against Linux's mode. */
#ifndef SOFTVFIO_BENCH_DIRTY_H
#define SOFTVFIO_BENCH_DIRTY_H

extern const char svf_bench_dirty_help[];
/* The command's main: 0, 1 (failed), 2 (usage). */
int svf_bench_dirty_main(int argc, char **argv);

#endif

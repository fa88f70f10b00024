/* SPDX-License-Identifier: MIT */
/*
 * The vfio-trace v1 replayer (docs/vfio-trace.md). The helpers the
 * subcommands share (container set-up, numbers, errno names) are in tool.h.
 *
 * Theory of operation. A trace is parsed whole before anything runs: the
 * parser turns the text into an array of operations and stops at the first
 * syntax error, which it reports as "error: LINE: MESSAGE". Only a trace that
 * parsed cleanly is replayed: one container (VFIO_TYPE1v2_IOMMU, one default
 * domain) is created, every operation goes through softvfio_ioctl() exactly
 * as a VMM would issue it, and one result line per operation is printed.
 * An operation's errno is a result, never a failure of the replay; only
 * set-up (the arena's mmap, the container) can fail a replay.
 *
 * The arena (process backend): SIZE bytes of anonymous private read-write
 * memory followed by a 1 GiB PROT_NONE guard, both carved from one PROT_NONE
 * reservation so that nothing else of the process can land in the guard.
 * `hole` munmap()s part of the arena; the replayer remembers the holes it
 * made so that `fill` over one reports EFAULT instead of crashing. With the
 * synthetic backend there is no memory at all: OFFSET is the vaddr itself
 * (arena base 0), `hole` and `fill` only keep the hole list, and since the
 * synthetic pinner has no notion of inaccessible memory, maps over holes or
 * past the arena succeed (no EFAULT).
 *
 * Ownership: a struct svf_trace owns its operations; svf_trace_replay()
 * creates and destroys everything it uses (container, pinner, arena) before
 * it returns.
 */
#ifndef SOFTVFIO_REPLAY_H
#define SOFTVFIO_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <softvfio/device.h>
#include <softvfio/softvfio.h>

#include "tool.h"

struct svf_trace;

/*
 * Parse a trace. On a syntax error, prints "error: LINE: MESSAGE" to err and
 * returns -EINVAL; -ENOMEM when memory runs out. 0 with *out otherwise.
 */
int svf_trace_parse(const char *text, size_t len, FILE *err, struct svf_trace **out);
void svf_trace_free(struct svf_trace *t);
/* Number of operations in a parsed trace. */
size_t svf_trace_nr_ops(const struct svf_trace *t);
/*
 * The most bytes one operation of t may touch or walk: the arena, or the
 * largest SIZE of a map, fill, dma or dirty bitmap request. The fuzzer uses
 * it to keep inputs within its memory and time budget.
 */
uint64_t svf_trace_footprint(const struct svf_trace *t);

/*
 * Replay a parsed trace: result lines on out, set-up problems explained on
 * err. When stats is not NULL it receives the container's counters after
 * the last operation. Returns 0 (whatever errnos the operations gave), or a
 * negative errno when the replay could not be set up (arena, pinner,
 * container; -ENODEV: unknown driver).
 */
int svf_trace_replay(const struct svf_trace *t, const struct svf_tool_config *cfg, FILE *out,
		     FILE *err, struct svf_stats *stats);

#endif

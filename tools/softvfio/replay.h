/* SPDX-License-Identifier: MIT */
/*
 * The vfio-trace v1 replayer (docs/vfio-trace.md), and the few helpers
 * the softvfio command shares between its subcommands.
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

struct svf_trace;

/* How the container behind a replay (or a benchmark run) is built. */
struct svf_tool_config {
	const char *driver;       /* IOMMU driver; NULL: "vtd" */
	enum svf_backend backend; /* default process */
	enum svf_layout layout;   /* synthetic backend's physical layout; default contig */
	enum svf_policy policy;   /* default gather */
	unsigned batch_cap;       /* 0: the library default (512) */
	int cost;                 /* -1: driver default, 0: cost model off, 1: on */
	bool check_unpin;         /* verify every unpin against the emulated IOMMU */
	bool dma_check;           /* check mode for the device (svf_container_config.dma_check) */
	bool hw_dirty;            /* the unit tracks dirtiness (svf_iommu_config.hw_dirty) */
	bool cpu_time;            /* per-request CPU time (svf_container_config.cpu_time) */
};

/* Defaults: vtd, process, contig, gather, batch 512, driver's cost model. */
void svf_tool_default_config(struct svf_tool_config *cfg);

/*
 * The IOMMU configuration for a driver name the command accepts: a
 * library driver ("vtd", "amd"), or an AMD-Vi variant: "amd-covering" (one
 * covering INVALIDATE_IOMMU_PAGES per range, Linux on a unit without
 * NpCache) or "amd-npcache" (the unit caches non-present entries: maps are
 * flushed too). Fills *ic with the driver's defaults and the variant's
 * flag. Returns 0; a name that is none of these is left for
 * svf_iommu_create() to refuse (-ENODEV).
 */
int svf_tool_driver_config(const char *name, struct svf_iommu_config *ic);

/*
 * Whether the IOMMU driver name is known to the library (probes by creating
 * and destroying a unit). 0, -ENODEV for an unknown name, -ENOMEM.
 */
int svf_tool_check_driver(const char *driver);

/*
 * Create a pinner for cfg's backend and layout, and a container on it with
 * one default domain of cfg's driver, switched to VFIO_TYPE1v2_IOMMU.
 * Returns 0 with both objects, or a negative errno (nothing is left
 * allocated). Destroy with svf_tool_container_destroy().
 */
int svf_tool_container_create(const struct svf_tool_config *cfg, struct svf_pinner **pinner,
			      struct svf_container **container);
void svf_tool_container_destroy(struct svf_pinner *pinner, struct svf_container *container);

/*
 * Parse a trace number: decimal or 0x hexadecimal, with an optional binary
 * suffix K, M, G or T. 0, -EINVAL (malformed) or -ERANGE (over 2^64 - 1).
 */
int svf_parse_u64(const char *s, uint64_t *out);

/*
 * The symbolic name of a positive errno value ("EINVAL"), or "E<number>"
 * written into buf when it has none. Returns the name.
 */
const char *svf_errno_name(int err, char buf[static 24]);

/*
 * Read a whole file ("-": standard input) into a NUL-terminated heap buffer.
 * 0 with *text (free() it) and *len, or a negative errno.
 */
int svf_read_file(const char *path, char **text, size_t *len);

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

/* Print every counter of s as "  name  value" lines. */
void svf_stats_print_table(const struct svf_stats *s, FILE *out);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * What the softvfio command's subcommands share, apart from the replayer:
 * how the container behind a replay or a benchmark is built, number
 * parsing, errno names, reading an input file, the counter table. The
 * benchmarks include this, not replay.h, so they do not depend on the
 * trace replayer.
 */
#ifndef SOFTVFIO_TOOL_H
#define SOFTVFIO_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <softvfio/softvfio.h>

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

/* Print every counter of s as "  name  value" lines. */
void svf_stats_print_table(const struct svf_stats *s, FILE *out);

#endif

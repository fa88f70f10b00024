/* SPDX-License-Identifier: MIT */
/*
 * softvfio bench: workloads people have, run under every flush policy in
 * one process, one policy after the other, so that the figures compare.
 *
 * Theory of operation. A workload is a recipe (struct svf_workload); the
 * bench runs each recipe once per selected policy, each time on a fresh
 * pinner and container (nothing carries over: page tables, IOTLB,
 * counters), and measures one phase of it, the phase where the policies
 * differ:
 *
 *   lifecycle  map a guest's RAM (size, physical layout, backend) in slices
 *              of --slice bytes, optionally run DMA traffic through the
 *              emulated device, then tear the guest down with ONE
 *              VFIO_IOMMU_UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_ALL.
 *              Measured: that unmap-all.
 *   small      COUNT mappings of SIZE bytes side by side (DPDK, SPDK), then
 *              either one unmap per mapping ("each") or one unmap-all
 *              ("all"). Measured: the unmaps.
 *   churn      a guest with a virtual IOMMU: COUNT short-lived buffers of
 *              SIZE bytes, DEPTH in flight, each mapped, optionally written
 *              by the device, and unmapped with its own ioctl. Measured: the
 *              whole loop, maps included (they interleave).
 *   trace      a vfio-trace file replayed on a fresh container. Measured:
 *              the whole replay.
 *
 * Figures of the measured phase are counter deltas (svf_stats) and the
 * process CPU time around it (CLOCK_PROCESS_CPUTIME_ID: every thread of the
 * library counts); the modeled device time is the emulated IOMMU's cost
 * model (it only counts: it does not spin, so CPU time is the same with the
 * model on or off). Nothing is asserted.
 *
 * Ownership: svf_bench() allocates the results and frees them before it
 * returns; workloads and their trace texts belong to the caller.
 */
#ifndef SOFTVFIO_BENCH_H
#define SOFTVFIO_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <softvfio/softvfio.h>

enum svf_wl_kind {
	SVF_WL_LIFECYCLE = 0,
	SVF_WL_SMALL,
	SVF_WL_CHURN,
	SVF_WL_TRACE,
};

struct svf_workload {
	enum svf_wl_kind kind;
	enum svf_backend backend;
	/*
	 * Synthetic: the physical layout. Process: the page size the kernel is
	 * asked for (contig and runs2m: transparent huge pages; frag4k and
	 * random: 4 KiB pages); the frames are whatever the kernel gives.
	 */
	enum svf_layout layout;
	uint64_t size;      /* lifecycle: guest bytes; small, churn: bytes of one buffer */
	uint64_t slice;     /* lifecycle: bytes per MAP_DMA; 0: the whole guest in one */
	uint64_t count;     /* small: mappings; churn: buffers mapped and unmapped */
	uint64_t depth;     /* churn: buffers in flight */
	bool unmap_each;    /* small: one unmap per mapping instead of one unmap-all */
	bool dma;           /* lifecycle, churn: device traffic (when the device exists) */
	const char *trace_path; /* trace: the file, for labels ("embedded: ..." for text) */
	const char *trace_text; /* trace: the text; NULL: read trace_path */
	size_t trace_len;
};

/* The defaults of a kind (those `softvfio bench --help` lists). */
void svf_workload_defaults(enum svf_wl_kind kind, struct svf_workload *w);

/*
 * Parse one workload spec "KIND[:KEY=VALUE,...]" (the keys are in
 * `softvfio bench --help`). "small" without unmap= expands into two
 * workloads (each, then all). Writes at most max workloads, *n of them.
 * Returns 0, or -EINVAL after printing why on err.
 */
int svf_workload_parse(const char *spec, struct svf_workload *out, size_t max, size_t *n,
		       FILE *err);

/* The workloads `softvfio run` and an argument-less `softvfio bench` use. */
extern const struct svf_workload svf_bench_default_workloads[];
extern const size_t svf_bench_nr_default_workloads;

/* A one-line description: "lifecycle: 8 GiB guest, frag4k, synthetic". */
void svf_workload_label(const struct svf_workload *w, char *buf, size_t len);
/* A short identifier for JSON and the chart: "lifecycle-frag4k-8G". */
void svf_workload_id(const struct svf_workload *w, char *buf, size_t len);

/* Figures of one workload under one policy. */
struct svf_bench_result {
	bool ran;
	char skip[256];          /* why it did not run (ran false) */
	char note[200];          /* what ran differently than asked (lazy as batched, ...) */
	/* the measured phase */
	uint64_t regions;        /* physically contiguous chunks unmapped */
	uint64_t inv_page, inv_domain, inv_global;
	uint64_t waits;
	uint64_t cpu_ns;         /* process CPU time */
	uint64_t wall_ns;
	uint64_t modeled_ns;     /* modeled device time (invalidations, waits, walks) */
	uint64_t pages;          /* 4 KiB pages unmapped */
	uint64_t ioctls;         /* VFIO requests issued */
	uint64_t fallbacks, errors, violations;
	/* the whole run of the workload */
	uint64_t pinned_peak;    /* pages pinned at once, highest */
	uint64_t bookkeeping_peak; /* container + pinner heap, highest sample */
	uint64_t pt_bytes_peak;  /* emulated page-table pages, highest, in bytes */
	uint64_t rss_bytes;      /* process resident set with the workload mapped */
	uint64_t map_cpu_ns;     /* set-up maps before the measured phase */
	uint64_t map_pages;
	uint64_t dma_cpu_ns;     /* the DMA phase, when it ran */
	uint64_t dma_requests;
	uint64_t dma_bytes;
	uint64_t dma_faults;
	uint64_t iotlb_hits, iotlb_misses;
};

/* One workload on one driver with its results, policy by policy. */
struct svf_bench_entry {
	struct svf_workload wl;
	char driver[16];         /* the IOMMU driver it ran on */
	char id[64];
	char label[128];
	char measured[96];       /* what the measured phase is */
	char note[448];          /* applies to every policy (DMA failed, guest not mapped, ...) */
	uint64_t guest_bytes;
	uint64_t mappings;       /* mappings created per policy */
	struct svf_bench_result res[SVF_POLICY_NR];
};

#define SVF_BENCH_MAX_DRIVERS 4

struct svf_bench_opts {
	const struct svf_workload *wl;
	size_t nr_wl;
	bool policy[SVF_POLICY_NR]; /* default: all four */
	int cost;                /* -1: the driver's default (on), 0 off, 1 on */
	unsigned batch;          /* pending regions per wait; 0: 512 */
	const char *driver;      /* NULL: vtd (ignored when nr_drivers is set) */
	/*
	 * Several drivers side by side: every workload runs on each, in this
	 * order, and a table puts their figures in columns per driver and
	 * policy. Entries are then one per workload and driver, their ids
	 * suffixed "@DRIVER".
	 */
	const char *drivers[SVF_BENCH_MAX_DRIVERS];
	unsigned nr_drivers;
	int progress;            /* -1: when stderr is a terminal, 0: never, 1: always */
	const char *json_path;   /* NULL: no JSON */
	const char *svg_path;   /* NULL: no chart */
	bool scaling;            /* print the scaling table (per guest size) too */
	const char *cmd;         /* for messages: "bench" or "run" */
};

void svf_bench_default_opts(struct svf_bench_opts *o);

/*
 * Run every workload under every selected policy, printing each workload's
 * table on out as it completes, then the targets, then (with scaling) the
 * scaling table; write the JSON and the chart when asked. A workload that
 * cannot run under a policy (no locked memory for a process guest, ...) is
 * reported as skipped and the others go on.
 * Trace files are read and parsed before anything runs.
 * Returns 0, -EINVAL (a trace with a syntax error, or a workload that
 * cannot be set up as given: explained on err), the errno of a trace file
 * that cannot be read, -ENOMEM, or -EIO when an output file could not be
 * written.
 */
int svf_bench(const struct svf_bench_opts *o, FILE *out, FILE *err);

#endif

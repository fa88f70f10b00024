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
 *   vm-real    a VM's start and teardown in real memory of this process
 *              (process backend; 4 KiB pages or transparent huge pages):
 *              one MAP_DMA per RAM section of the guest, laid out as QEMU's
 *              q35 machine lays out its RAM, then one UNMAP_DMA per
 *              section. Measured: both, each beside this machine's floor
 *              (bench_floor.h) on the same range in the same run, medians
 *              of a few repetitions.
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
	SVF_WL_VMREAL,
};

/* vm-real: size=max, the largest guest that fits (svf_vmreal_max_guest). */
#define SVF_VMREAL_SIZE_MAX UINT64_MAX

struct svf_workload {
	enum svf_wl_kind kind;
	enum svf_backend backend;
	/*
	 * Synthetic: the physical layout. Process: the page size the kernel is
	 * asked for (contig and runs2m: transparent huge pages; frag4k and
	 * random: 4 KiB pages); the frames are whatever the kernel gives.
	 * vm-real: runs2m asks for transparent huge pages, frag4k for 4 KiB.
	 */
	enum svf_layout layout;
	uint64_t size;      /* lifecycle, vm-real: guest bytes (vm-real: or SVF_VMREAL_SIZE_MAX);
			     * small, churn: bytes of one buffer */
	uint64_t slice;     /* lifecycle: bytes per MAP_DMA; 0: the whole guest in one */
	uint64_t count;     /* small: mappings; churn: buffers mapped and unmapped */
	uint64_t depth;     /* churn: buffers in flight */
	bool unmap_each;    /* small: one unmap per mapping instead of one unmap-all */
	bool dma;           /* lifecycle, churn: device traffic (when the device exists) */
	const char *trace_path; /* trace: the file, for labels ("embedded: ..." for text) */
	const char *trace_text; /* trace: the text; NULL: read trace_path */
	size_t trace_len;
	unsigned reps;      /* vm-real: repetitions, the medians are reported */
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

/*
 * The largest vm-real guest that fits this machine now, a multiple of
 * 1 GiB: half of MemAvailable (the machine is shared: the other half stays
 * free), and at most RLIMIT_MEMLOCK without CAP_IPC_LOCK. 0 when not even
 * 1 GiB fits. why (when not NULL) says which bound chose it.
 */
uint64_t svf_vmreal_max_guest(char *why, size_t len);

/*
 * One RAM section of a vm-real guest: guest-physical [iova, iova + size)
 * backed by the guest's RAM block at offset. A q35 guest of N bytes has
 * [0, 640 KiB) and [1 MiB, low) below 4 GiB and, when N exceeds low,
 * [4 GiB, 4 GiB + N - low) above it, where low = N up to 2.75 GiB and
 * 2 GiB beyond (QEMU's split). Returns the number of sections (at most 3)
 * written to s.
 */
struct svf_vmreal_section {
	uint64_t iova, offset, size;
};
#define SVF_VMREAL_MAX_SECTIONS 3
unsigned svf_vmreal_layout(uint64_t guest, struct svf_vmreal_section *s);

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
	/*
	 * vm-real: medians over the repetitions, in ns for the whole guest
	 * (divide by vm_pages for a figure per page). start and teardown are
	 * softvfio's (the MAP_DMAs, the UNMAP_DMAs), the floors the kernel's
	 * calls on the same range just before them. cpu_ns above is the
	 * teardown's median too, map_cpu_ns the start's.
	 */
	uint64_t vm_start_ns, vm_start_floor_ns;
	uint64_t vm_teardown_ns, vm_teardown_floor_ns;
	uint64_t vm_pages;       /* 4 KiB pages mapped by one start */
	/*
	 * The floor of a process-backed lifecycle or churn, measured on the
	 * same memory just before the run's own work (bench_floor.h):
	 * lifecycle: mlock + bulk pagemap read of each slice (map_floor_ns,
	 * beside the set-up's map) and munlock of each (floor_ns, beside the
	 * teardown), floor_ops = pages; churn: floor_ops pairs of one page's
	 * mlock + pagemap read + munlock (floor_ns, beside the loop per
	 * buffer). floor_ops 0: no floor.
	 */
	uint64_t floor_ns, map_floor_ns, floor_ops;
	uint64_t thp_bytes;      /* of the guest's memory in THPs after the last teardown */
	unsigned vm_reps;
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
	uint64_t mappings;       /* mappings created per policy (vm-real: RAM sections) */
	uint64_t thp_before;     /* vm-real: guest bytes in THPs once faulted in, before softvfio */
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
	uint64_t guest_size;     /* vm-real of the built-in workloads: guest bytes; 0: default */
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

/* SPDX-License-Identifier: MIT */
/*
 * softvfio bench: the workloads and the runner (see bench.h for the theory
 * of operation; bench_report.c prints and writes what this measures, and
 * chart.c draws it).
 *
 * One workload under one policy is a "run": a fresh pinner and container
 * (svf_tool_container_create), the workload's set-up, the measured phase
 * between two counter snapshots and two process-CPU clock reads, then the
 * container is destroyed. Guest memory of the process backend is allocated
 * once per workload and shared by its runs, so that every policy sees the
 * same pages; the synthetic backend has no memory, its vaddrs are numbers.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <softvfio/device.h>

#include "bench.h"
#include "bench_common.h"
#include "bench_floor.h"
#include "bench_report.h"
#include "chart.h"
#include "cli.h"
#include "progress.h"
#include "replay.h"
#include "session.h"

#define GiB (UINT64_C(1) << 30)
#define MiB (UINT64_C(1) << 20)
#define SLICE_WHOLE UINT64_MAX   /* slice=whole: the guest in one mapping */
#define AUTO_SLICE_MAX 1024      /* slice=auto: at most this many mappings */
#define CHURN_WINDOW (16 * GiB)  /* churn IOVAs cycle through this much */
#define UPDATE_EVERY 1024        /* loop iterations between progress updates */
#define DMA_MAX_REQS 16384       /* lifecycle: device requests spread over the guest */
#define CHURN_FLOOR_PAIRS 1024   /* churn, process: one-page floor pairs sampled */
#define DRAIN_POLL_US 200        /* lazy: how often the drain looks at the queue */
#define DRAIN_MAX_US 2000000     /* lazy: give up waiting for the timer after 2 s */
#define CAP_IPC_LOCK_BIT 14
#define VMREAL_SIZE  GiB         /* vm-real's guest without size= or --guest-size */
#define VMREAL_REPS  3
#define VMREAL_MAX_REPS 15

/* ------------------------------------------------------------------------ */
/* Workloads                                                                */
/* ------------------------------------------------------------------------ */

const struct svf_workload svf_bench_default_workloads[] = {
	/* The fully fragmented guest: every 4 KiB page its own chunk. */
	{ .kind = SVF_WL_LIFECYCLE, .backend = SVF_BACKEND_SYNTHETIC, .layout = SVF_LAYOUT_FRAG4K,
	  .size = 8 * GiB, .dma = true },
	/* A guest backed by 2 MiB huge pages, as most VMMs back a large guest. */
	{ .kind = SVF_WL_LIFECYCLE, .backend = SVF_BACKEND_SYNTHETIC, .layout = SVF_LAYOUT_RUNS2M,
	  .size = 64 * GiB, .dma = true },
	/* Real memory of this process, 4 KiB pages, mlock()ed. */
	{ .kind = SVF_WL_LIFECYCLE, .backend = SVF_BACKEND_PROCESS, .layout = SVF_LAYOUT_FRAG4K,
	  .size = 256 * MiB, .dma = true },
	/* SPDK-style 4 KiB buffers and DPDK-style 64 KiB buffers in huge pages. */
	{ .kind = SVF_WL_SMALL, .backend = SVF_BACKEND_SYNTHETIC, .layout = SVF_LAYOUT_RUNS2M,
	  .size = 4096, .count = 8192, .unmap_each = true },
	{ .kind = SVF_WL_SMALL, .backend = SVF_BACKEND_SYNTHETIC, .layout = SVF_LAYOUT_RUNS2M,
	  .size = 4096, .count = 8192, .unmap_each = false },
	{ .kind = SVF_WL_SMALL, .backend = SVF_BACKEND_SYNTHETIC, .layout = SVF_LAYOUT_RUNS2M,
	  .size = 64 * 1024, .count = 4096, .unmap_each = true },
	{ .kind = SVF_WL_SMALL, .backend = SVF_BACKEND_SYNTHETIC, .layout = SVF_LAYOUT_RUNS2M,
	  .size = 64 * 1024, .count = 4096, .unmap_each = false },
	/* A guest with a vIOMMU: 4 KiB packet buffers, 256 in flight. */
	{ .kind = SVF_WL_CHURN, .backend = SVF_BACKEND_PROCESS, .layout = SVF_LAYOUT_FRAG4K,
	  .size = 4096, .count = 100000, .depth = 256, .dma = true },
	/* The bundled VMM session (tests/traces/vmm-session.trace). */
	{ .kind = SVF_WL_TRACE, .backend = SVF_BACKEND_PROCESS, .layout = SVF_LAYOUT_CONTIG,
	  .trace_path = "embedded: vmm-session.trace", .trace_text = svf_session_trace },
	/*
	 * A VM's start and teardown in real memory, as QEMU maps its RAM, with
	 * 4 KiB pages and with huge pages (size 0: 1 GiB, or --guest-size).
	 */
	{ .kind = SVF_WL_VMREAL, .backend = SVF_BACKEND_PROCESS, .layout = SVF_LAYOUT_FRAG4K,
	  .reps = VMREAL_REPS },
	{ .kind = SVF_WL_VMREAL, .backend = SVF_BACKEND_PROCESS, .layout = SVF_LAYOUT_RUNS2M,
	  .reps = VMREAL_REPS },
};
const size_t svf_bench_nr_default_workloads =
	sizeof(svf_bench_default_workloads) / sizeof(svf_bench_default_workloads[0]);

static const char *const kind_names[] = {
	[SVF_WL_LIFECYCLE] = "lifecycle",
	[SVF_WL_SMALL] = "small",
	[SVF_WL_CHURN] = "churn",
	[SVF_WL_TRACE] = "trace",
	[SVF_WL_VMREAL] = "vm-real",
};

void svf_workload_defaults(enum svf_wl_kind kind, struct svf_workload *w)
{
	*w = (struct svf_workload){ .kind = kind, .backend = SVF_BACKEND_SYNTHETIC };
	switch (kind) {
	case SVF_WL_LIFECYCLE:
		w->layout = SVF_LAYOUT_FRAG4K;
		w->size = 8 * GiB;
		w->dma = true;
		break;
	case SVF_WL_SMALL:
		w->layout = SVF_LAYOUT_RUNS2M;
		w->size = 64 * 1024;
		w->count = 4096;
		break;
	case SVF_WL_CHURN:
		w->layout = SVF_LAYOUT_RUNS2M;
		w->size = 4096;
		w->count = 100000;
		w->depth = 256;
		w->dma = true;
		break;
	case SVF_WL_TRACE:
		w->backend = SVF_BACKEND_PROCESS;
		w->layout = SVF_LAYOUT_CONTIG;
		break;
	case SVF_WL_VMREAL:
		/* size 0: the default guest (svf_bench_opts.guest_size, or 1 GiB). */
		w->backend = SVF_BACKEND_PROCESS;
		w->layout = SVF_LAYOUT_FRAG4K;
		w->reps = VMREAL_REPS;
		break;
	}
}

/* "on"/"off" (and yes/no, 1/0). 0 or -EINVAL. */
static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "0")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

__attribute__((format(printf, 3, 4)))
static int spec_error(FILE *err, const char *spec, const char *fmt, ...)
{
	va_list ap;

	svf_cli_print_cut(err, "softvfio bench: workload '%s': ", spec);
	va_start(ap, fmt);
	svf_cli_vprint_cut(err, fmt, ap);
	va_end(ap);
	fputc('\n', err);
	return -EINVAL;
}

/*
 * One KEY=VALUE of a spec into w. *split_given: the key without which the
 * spec makes two workloads (small's unmap, vm-real's backing) was given.
 */
static int spec_key(struct svf_workload *w, const char *spec, char *kv, bool *split_given,
		    FILE *err)
{
	char *eq = strchr(kv, '=');
	const char *key = kv, *val;
	uint64_t v;

	if (!eq)
		return spec_error(err, spec, "'%s' is not KEY=VALUE", kv);
	*eq = '\0';
	val = eq + 1;
	if (w->kind == SVF_WL_VMREAL) {
		/* Always the process backend: no backend=, layout= is backing=. */
		if (!strcmp(key, "backing")) {
			if (!strcmp(val, "4k"))
				w->layout = SVF_LAYOUT_FRAG4K;
			else if (!strcmp(val, "thp"))
				w->layout = SVF_LAYOUT_RUNS2M;
			else
				return spec_error(err, spec, "backing wants 4k or thp, not '%s'", val);
			*split_given = true;
			return 0;
		}
		if (!strcmp(key, "size")) {
			if (!strcmp(val, "max")) {
				w->size = SVF_VMREAL_SIZE_MAX;
				return 0;
			}
			if (svf_parse_u64(val, &v) || v == 0 || v % (2 * MiB))
				return spec_error(err, spec, "size wants max or a non-zero multiple of "
						  "2 MiB (K/M/G/T suffixes), not '%s'", val);
			w->size = v;
			return 0;
		}
		if (!strcmp(key, "reps")) {
			if (svf_parse_u64(val, &v) || v == 0 || v > VMREAL_MAX_REPS)
				return spec_error(err, spec, "reps wants 1 to %d, not '%s'",
						  VMREAL_MAX_REPS, val);
			w->reps = (unsigned)v;
			return 0;
		}
		return spec_error(err, spec, "unknown key '%s' for vm-real (size, backing, reps)",
				  key);
	}
	if (!strcmp(key, "backend")) {
		if (svf_backend_parse(val, &w->backend))
			return spec_error(err, spec, "unknown backend '%s' (process, synthetic)", val);
		return 0;
	}
	if (!strcmp(key, "layout")) {
		if (svf_layout_parse(val, &w->layout))
			return spec_error(err, spec, "unknown layout '%s' (contig, frag4k, runs2m, "
					  "random)", val);
		return 0;
	}
	if (!strcmp(key, "dma") && (w->kind == SVF_WL_LIFECYCLE || w->kind == SVF_WL_CHURN)) {
		if (parse_bool(val, &w->dma))
			return spec_error(err, spec, "dma wants on or off, not '%s'", val);
		return 0;
	}
	if (!strcmp(key, "unmap") && w->kind == SVF_WL_SMALL) {
		if (!strcmp(val, "each"))
			w->unmap_each = true;
		else if (!strcmp(val, "all"))
			w->unmap_each = false;
		else
			return spec_error(err, spec, "unmap wants each or all, not '%s'", val);
		*split_given = true;
		return 0;
	}
	if (!strcmp(key, "slice") && w->kind == SVF_WL_LIFECYCLE) {
		if (!strcmp(val, "auto")) {
			w->slice = 0;
			return 0;
		}
		if (!strcmp(val, "whole")) {
			w->slice = SLICE_WHOLE;
			return 0;
		}
		if (svf_parse_u64(val, &v) || v == 0 || v % SVF_PAGE_SIZE)
			return spec_error(err, spec, "slice wants auto, whole or a non-zero multiple "
					  "of 4 KiB, not '%s'", val);
		w->slice = v;
		return 0;
	}
	if (!strcmp(key, "size") && w->kind != SVF_WL_TRACE) {
		if (svf_parse_u64(val, &v) || v == 0 || v % SVF_PAGE_SIZE)
			return spec_error(err, spec, "size wants a non-zero multiple of 4 KiB "
					  "(K/M/G/T suffixes), not '%s'", val);
		w->size = v;
		return 0;
	}
	if (!strcmp(key, "count") && (w->kind == SVF_WL_SMALL || w->kind == SVF_WL_CHURN)) {
		if (svf_parse_u64(val, &v) || v == 0 || v > (UINT64_C(1) << 32))
			return spec_error(err, spec, "count wants 1 to 4G, not '%s'", val);
		w->count = v;
		return 0;
	}
	if (!strcmp(key, "depth") && w->kind == SVF_WL_CHURN) {
		if (svf_parse_u64(val, &v) || v == 0 || v > 65535)
			return spec_error(err, spec, "depth wants 1 to 65535, not '%s'", val);
		w->depth = v;
		return 0;
	}
	return spec_error(err, spec, "unknown key '%s' for %s", key, kind_names[w->kind]);
}

/* Limits that need the whole spec. */
static int spec_check(const struct svf_workload *w, const char *spec, FILE *err)
{
	uint64_t room = SVF_BENCH_IOVA_LIMIT - SVF_BENCH_IOVA;

	switch (w->kind) {
	case SVF_WL_LIFECYCLE:
		if (w->size > room)
			return spec_error(err, spec, "a guest of at most 0x%" PRIx64 " bytes fits "
					  "the 48-bit IOVA space above 4 GiB", room);
		if (w->slice && w->slice != SLICE_WHOLE &&
		    (w->size + w->slice - 1) / w->slice > SVF_DEFAULT_DMA_ENTRY_LIMIT)
			return spec_error(err, spec, "%" PRIu64 " mappings exceed the container's "
					  "limit of %u: use a larger slice",
					  (w->size + w->slice - 1) / w->slice,
					  SVF_DEFAULT_DMA_ENTRY_LIMIT);
		break;
	case SVF_WL_SMALL:
		if (w->count > SVF_DEFAULT_DMA_ENTRY_LIMIT)
			return spec_error(err, spec, "count is at most %u (the container's "
					  "mapping limit)", SVF_DEFAULT_DMA_ENTRY_LIMIT);
		if (w->size > room / w->count)
			return spec_error(err, spec, "count x size does not fit the IOVA space");
		break;
	case SVF_WL_CHURN:
		if (w->depth > w->count)
			return spec_error(err, spec, "depth (%" PRIu64 ") exceeds count (%" PRIu64 ")",
					  w->depth, w->count);
		if (w->size > CHURN_WINDOW / (2 * w->depth))
			return spec_error(err, spec, "2 x depth x size must fit in %" PRIu64 " GiB",
					  CHURN_WINDOW / GiB);
		break;
	case SVF_WL_TRACE:
		if (!w->trace_path)
			return spec_error(err, spec, "which file? (trace:FILE or trace:file=FILE)");
		break;
	case SVF_WL_VMREAL:
		/* Above 4 GiB the guest's RAM continues at 4 GiB: it must stay in 48 bits. */
		if (w->size != SVF_VMREAL_SIZE_MAX && w->size > room)
			return spec_error(err, spec, "a guest of at most 0x%" PRIx64 " bytes fits "
					  "the 48-bit IOVA space", room);
		break;
	}
	return 0;
}

int svf_workload_parse(const char *spec, struct svf_workload *out, size_t max, size_t *n,
		       FILE *err)
{
	const char *colon = strchr(spec, ':'), *path = NULL;
	size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
	struct svf_workload w;
	bool split_given = false, found = false;
	char *copy = NULL, *save = NULL, *kv;
	int rc = 0;

	*n = 0;
	for (unsigned k = 0; k < sizeof(kind_names) / sizeof(kind_names[0]); k++) {
		if (strlen(kind_names[k]) == klen && !strncmp(spec, kind_names[k], klen)) {
			svf_workload_defaults((enum svf_wl_kind)k, &w);
			found = true;
		}
	}
	if (!found)
		return spec_error(err, spec, "unknown kind (lifecycle, small, churn, trace, "
				  "vm-real)");
	if (colon && w.kind == SVF_WL_TRACE) {
		/*
		 * A trace's path is the rest of the spec: "trace:FILE" without any
		 * '=', or the last key "file=FILE" (commas allowed in FILE). It
		 * points into the caller's spec, which outlives the workload.
		 */
		const char *f = strstr(colon + 1, "file=");

		while (f && f != colon + 1 && f[-1] != ',')
			f = strstr(f + 1, "file=");
		if (f)
			path = f + 5;
		else if (!strchr(colon + 1, '='))
			path = colon + 1;
	}
	if (colon) {
		size_t keys = path ? (size_t)(path - (colon + 1)) : strlen(colon + 1);

		if (path && path != colon + 1)
			keys -= 5; /* "file=" */
		copy = strndup(colon + 1, keys);
		if (!copy)
			return -ENOMEM;
	}
	for (kv = copy ? strtok_r(copy, ",", &save) : NULL; kv; kv = strtok_r(NULL, ",", &save)) {
		rc = spec_key(&w, spec, kv, &split_given, err);
		if (rc)
			goto out;
	}
	if (path) {
		if (!*path) {
			rc = spec_error(err, spec, "empty trace path");
			goto out;
		}
		w.trace_path = path;
	}
	rc = spec_check(&w, spec, err);
	if (rc)
		goto out;
	if (w.kind == SVF_WL_SMALL && !split_given) {
		if (max < 2) {
			rc = -ENOSPC;
			goto out;
		}
		w.unmap_each = true;
		out[(*n)++] = w;
		w.unmap_each = false;
	}
	/* vm-real without backing=: both, 4 KiB pages first. */
	if (w.kind == SVF_WL_VMREAL && !split_given) {
		if (max < 2) {
			rc = -ENOSPC;
			goto out;
		}
		w.layout = SVF_LAYOUT_FRAG4K;
		out[(*n)++] = w;
		w.layout = SVF_LAYOUT_RUNS2M;
	}
	if (*n >= max) {
		rc = -ENOSPC;
		goto out;
	}
	out[(*n)++] = w;
out:
	free(copy);
	return rc;
}

static void size_short(uint64_t v, char *buf, size_t len)
{
	static const char suffix[] = "KMGT";
	int u = -1;

	while (u < 3 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRIu64, v);
	else
		snprintf(buf, len, "%" PRIu64 "%c", v, suffix[u]);
}

static const char *trace_base(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!strncmp(path, "embedded: ", 10))
		return path + 10;
	return slash ? slash + 1 : path;
}

void svf_workload_label(const struct svf_workload *w, char *buf, size_t len)
{
	char sz[32];

	svf_human_bytes(w->size, sz, sizeof(sz));
	switch (w->kind) {
	case SVF_WL_LIFECYCLE:
		snprintf(buf, len, "VM lifecycle: %s guest, %s, %s backend", sz,
			 w->backend == SVF_BACKEND_PROCESS ?
				 (w->layout == SVF_LAYOUT_CONTIG || w->layout == SVF_LAYOUT_RUNS2M ?
					  "huge pages" : "4 KiB pages") :
				 svf_layout_name(w->layout),
			 svf_backend_name(w->backend));
		break;
	case SVF_WL_SMALL:
		snprintf(buf, len, "small mappings: %" PRIu64 " x %s, unmapped %s", w->count, sz,
			 w->unmap_each ? "one by one" : "all at once");
		break;
	case SVF_WL_CHURN:
		snprintf(buf, len, "vIOMMU churn: %" PRIu64 " buffers of %s, %" PRIu64
			 " in flight, %s backend", w->count, sz, w->depth,
			 svf_backend_name(w->backend));
		break;
	case SVF_WL_TRACE:
		snprintf(buf, len, "trace: %s, %s backend", w->trace_path,
			 svf_backend_name(w->backend));
		break;
	case SVF_WL_VMREAL:
		if (w->size == SVF_VMREAL_SIZE_MAX)
			snprintf(sz, sizeof(sz), "largest");
		else if (!w->size)
			snprintf(sz, sizeof(sz), "default");
		snprintf(buf, len, "VM start and teardown, real memory: %s guest, %s", sz,
			 w->layout == SVF_LAYOUT_FRAG4K ? "4 KiB pages" :
			 "THP asked");
		break;
	}
}

void svf_workload_id(const struct svf_workload *w, char *buf, size_t len)
{
	char sz[32];

	size_short(w->size, sz, sizeof(sz));
	switch (w->kind) {
	case SVF_WL_LIFECYCLE:
		snprintf(buf, len, "lifecycle-%s-%s%s", svf_layout_name(w->layout), sz,
			 w->backend == SVF_BACKEND_PROCESS ? "-process" : "");
		break;
	case SVF_WL_SMALL:
		snprintf(buf, len, "small-%sx%" PRIu64 "-%s", sz, w->count,
			 w->unmap_each ? "each" : "all");
		break;
	case SVF_WL_CHURN:
		snprintf(buf, len, "churn-%sx%" PRIu64 "-depth%" PRIu64 "%s", sz, w->count, w->depth,
			 w->backend == SVF_BACKEND_PROCESS ? "-process" : "");
		break;
	case SVF_WL_TRACE:
		snprintf(buf, len, "trace-%s", trace_base(w->trace_path));
		break;
	case SVF_WL_VMREAL:
		snprintf(buf, len, "vm-real-%s-%s", w->layout == SVF_LAYOUT_FRAG4K ? "4k" : "thp",
			 w->size == SVF_VMREAL_SIZE_MAX ? "max" : w->size ? sz : "default");
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* Guest memory                                                             */
/* ------------------------------------------------------------------------ */

/* What a workload's mappings point at: real memory, or synthetic numbers. */
struct guest_mem {
	void *map;       /* process backend: the mmap()ed range (NULL: synthetic) */
	size_t map_len;
	uint64_t vaddr;  /* first byte */
	uint64_t bytes;
	bool touched;    /* vm-real: every page written once (faulted in) */
};

static int guest_mem_create(const struct svf_workload *w, uint64_t bytes, struct guest_mem *g)
{
	size_t len = (size_t)(bytes + 2 * MiB);
	uintptr_t start, base;
	bool huge = w->layout == SVF_LAYOUT_CONTIG || w->layout == SVF_LAYOUT_RUNS2M;
	void *p;

	memset(g, 0, sizeof(*g));
	g->bytes = bytes;
	if (w->backend != SVF_BACKEND_PROCESS) {
		g->vaddr = SVF_BENCH_VADDR;
		return 0;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* 2 MiB aligned, so that huge pages can back it. */
	start = (uintptr_t)p;
	base = (start + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1);
	g->map = p;
	g->map_len = len;
	g->vaddr = base;
	/* Advice only: a kernel without THP still gives memory. */
	(void)madvise((void *)base, (size_t)bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return 0;
}

static void guest_mem_destroy(struct guest_mem *g)
{
	if (g->map)
		munmap(g->map, g->map_len);
	g->map = NULL;
}

/* ------------------------------------------------------------------------ */
/* One run: a workload under one policy                                     */
/* ------------------------------------------------------------------------ */

struct run {
	const struct svf_bench_opts *o;
	const struct svf_workload *w;
	struct svf_bench_entry *e;
	struct svf_bench_result *res;
	enum svf_policy policy;
	struct guest_mem *mem;
	struct svf_pinner *p;
	struct svf_container *c;
	struct svf_progress *pg;
	FILE *err;
};

/* A snapshot at the start of a measured phase. */
struct meter {
	struct svf_stats s;
	uint64_t cpu, wall;
};

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static void sample(struct run *r)
{
	r->res->bookkeeping_peak = max_u64(r->res->bookkeeping_peak,
					   svf_bench_bookkeeping(r->c, r->p));
}

static void meter_start(struct run *r, struct meter *m)
{
	svf_container_get_stats(r->c, &m->s);
	m->wall = svf_clock_ns(CLOCK_MONOTONIC);
	m->cpu = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

/*
 * Under lazy an unmap returns before its wait, and the pages stay pinned
 * until the flush queue is flushed (full, or by its timer). Every measured
 * phase ends with everything unmapped, so it is over when nothing is pinned
 * any more: wait for the timer's flush, so that its wait, its unpins and
 * its CPU time count in the phase.
 */
static void drain(struct run *r)
{
	struct svf_stats s;
	unsigned waited = 0;

	if (r->policy != SVF_POLICY_LAZY)
		return;
	for (;;) {
		svf_container_get_stats(r->c, &s);
		if (s.pinned_now == 0 || waited >= DRAIN_MAX_US)
			break;
		usleep(DRAIN_POLL_US);
		waited += DRAIN_POLL_US;
	}
	if (waited >= DRAIN_MAX_US)
		snprintf(r->res->note, sizeof(r->res->note), "the flush queue did not drain "
			 "within 2 s: %" PRIu64 " pages still pinned", s.pinned_now);
}

/* Counter deltas and CPU time since meter_start into the run's result. */
static void meter_stop(struct run *r, const struct meter *m)
{
	struct svf_bench_result *res = r->res;
	struct svf_stats now, d;
	uint64_t cpu, wall;

	drain(r);
	cpu = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	wall = svf_clock_ns(CLOCK_MONOTONIC);
	svf_container_get_stats(r->c, &now);
	svf_stats_delta(&m->s, &now, &d);
	res->cpu_ns = cpu - m->cpu;
	res->wall_ns = wall - m->wall;
	res->regions = d.chunks_unmapped;
	res->inv_page = d.inv_page;
	res->inv_domain = d.inv_domain;
	res->inv_global = d.inv_global;
	res->waits = d.waits;
	res->modeled_ns = d.modeled_ns;
	res->pages = d.pages_unpinned;
	res->fallbacks = d.unmap_fallbacks;
	res->errors = d.unmap_errors;
	res->violations = d.invariant_violations;
	sample(r);
}

/* Figures of the whole run, read just before the container goes. */
static void run_totals(struct run *r)
{
	struct svf_stats s;

	svf_container_get_stats(r->c, &s);
	r->res->pinned_peak = s.pinned_peak;
	r->res->pt_bytes_peak = s.pt_pages_peak * SVF_PAGE_SIZE;
	r->res->iotlb_hits = s.iotlb_hits;
	r->res->iotlb_misses = s.iotlb_misses;
	sample(r);
}

__attribute__((format(printf, 2, 3)))
static void skip(struct run *r, const char *fmt, ...)
{
	va_list ap;

	r->res->ran = false;
	va_start(ap, fmt);
	vsnprintf(r->res->skip, sizeof(r->res->skip), fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3)))
static void entry_note(struct svf_bench_entry *e, const char *fmt, ...)
{
	size_t len = strlen(e->note);
	va_list ap;

	if (len && len + 2 < sizeof(e->note)) {
		memcpy(e->note + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(e->note + len, sizeof(e->note) - len, fmt, ap);
	va_end(ap);
}

/* Whether this process may lock memory beyond RLIMIT_MEMLOCK (CAP_IPC_LOCK in CapEff). */
static bool has_cap_ipc_lock(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	unsigned long long caps = 0;
	char line[256];
	bool found = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1) {
			found = true;
			break;
		}
	fclose(f);
	return found && (caps >> CAP_IPC_LOCK_BIT) & 1;
}

/* Why a map of the process backend failed, for a person. */
static void explain_map_failure(struct run *r, const char *what, long rc)
{
	char ebuf[24], lim[32];
	struct rlimit rl;

	if (rc == -ENOMEM && !has_cap_ipc_lock() && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY) {
		svf_human_bytes((uint64_t)rl.rlim_cur, lim, sizeof(lim));
		skip(r, "%s: ENOMEM: locked memory is limited to %s (RLIMIT_MEMLOCK) and the "
		     "process lacks CAP_IPC_LOCK%s; run as root or raise 'ulimit -l'", what, lim,
		     r->w->backend == SVF_BACKEND_SYNTHETIC ? " (synthetic pins lock nothing, but "
		     "are charged as Linux charges pins)" : "");
		return;
	}
	skip(r, "%s: %s", what, svf_errno_name((int)-rc, ebuf));
}

static long map_one(struct run *r, uint64_t iova, uint64_t vaddr, uint64_t size)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = vaddr,
		.iova = iova,
		.size = size,
	};

	return softvfio_ioctl(r->c, VFIO_IOMMU_MAP_DMA, &m);
}

/* UNMAP_DMA of [iova, iova+size), or of everything with all. -EIO: a short unmap. */
static long unmap_one(struct run *r, uint64_t iova, uint64_t size, bool all)
{
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u),
		.flags = all ? VFIO_DMA_UNMAP_FLAG_ALL : 0,
		.iova = all ? 0 : iova,
		.size = all ? 0 : size,
	};
	long rc = softvfio_ioctl(r->c, VFIO_IOMMU_UNMAP_DMA, &u);

	if (rc >= 0 && !all && u.size != size)
		return -EIO;
	return rc;
}

/* Bytes per MAP_DMA of a lifecycle guest. */
static uint64_t lifecycle_slice(const struct svf_workload *w)
{
	uint64_t s = w->slice;

	if (s == SLICE_WHOLE || s > w->size)
		return w->size;
	if (s == 0) {
		/* auto: 1 GiB DIMM-sized slices, at most AUTO_SLICE_MAX of them. */
		s = GiB;
		if (w->size / s > AUTO_SLICE_MAX)
			s = (w->size / AUTO_SLICE_MAX + GiB - 1) / GiB * GiB;
		if (s > w->size)
			s = w->size;
	}
	return s;
}

/*
 * The device (<softvfio/device.h>): one DMA engine on the container's
 * domain. Requests run on the calling thread (svf_device_dma), so the
 * process CPU clock sees them like any other work of the phase.
 */
static int device_open(struct run *r, struct svf_device **dev)
{
	struct svf_device_config dc = { .threads = 1 };

	return svf_device_create(r->c, &dc, dev);
}

/* One request of the device; counts what it did. 0, or the request's -errno. */
static int dma_request(struct run *r, struct svf_device *dev, int access, uint64_t iova,
		       uint64_t len)
{
	struct svf_dma_req q = { .access = access, .iova = iova, .len = len, .byte = 0x5a };

	svf_device_dma(dev, &q);
	r->res->dma_requests++;
	r->res->dma_bytes += q.done_len;
	if (q.status == 1)
		r->res->dma_faults++;
	return q.status < 0 ? q.status : 0;
}

/*
 * The DMA phase of a guest: the device writes and reads 4 KiB requests
 * spread evenly over [iova, iova+bytes) (at most DMA_MAX_REQS of them), as
 * a device working on guest buffers would, so the IOTLB holds translations
 * when the guest is torn down. Returns 0, or -errno when the device could
 * not be created or a request failed.
 */
static int phase_dma(struct run *r, uint64_t iova, uint64_t bytes)
{
	uint64_t pages = bytes / SVF_PAGE_SIZE, reqs, stride;
	struct svf_device *dev;
	int rc;

	rc = device_open(r, &dev);
	if (rc)
		return rc;
	reqs = pages < DMA_MAX_REQS ? pages : DMA_MAX_REQS;
	stride = pages / reqs * SVF_PAGE_SIZE;
	for (uint64_t i = 0; i < reqs && !rc; i++)
		rc = dma_request(r, dev, i % 2 ? SVF_PROT_READ : SVF_PROT_WRITE, iova + i * stride,
				 SVF_PAGE_SIZE);
	svf_device_destroy(dev);
	return rc;
}

/* After a DMA phase: note once per entry what went wrong with it. */
static void dma_outcome(struct run *r, int rc)
{
	char ebuf[24];

	if (rc && !strstr(r->e->note, "DMA"))
		entry_note(r->e, "DMA traffic failed: %s", svf_errno_name(-rc, ebuf));
	if (!rc && r->res->dma_faults && !strstr(r->e->note, "DMA"))
		entry_note(r->e, "DMA faulted %" PRIu64 " times on mapped memory",
			   r->res->dma_faults);
}

/* Write every page of the guest once, the first time only: both sides then lock present pages. */
static void guest_touch(struct run *r, uint64_t bytes)
{
	uint8_t *base = (uint8_t *)(uintptr_t)r->mem->vaddr;
	const uint64_t npg = bytes / SVF_PAGE_SIZE;

	if (r->mem->touched || !r->mem->map)
		return;
	svf_progress_phase(r->pg, "fault-in");
	for (uint64_t p = 0; p < npg; p++) {
		base[p * SVF_PAGE_SIZE] = (uint8_t)p;
		if (p % (64 * UPDATE_EVERY) == 0)
			svf_progress_update(r->pg, 0.05 * (double)p / (double)npg);
	}
	r->mem->touched = true;
}

/*
 * A process-backed lifecycle's floor, on the guest just before it is
 * mapped: mlock + bulk pagemap read of each slice, then munlock of each.
 * 0, or mlock's -errno (the run is then skipped, as its map would be).
 */
static long lifecycle_floor(struct run *r, uint64_t slice)
{
	uint8_t *base = (uint8_t *)(uintptr_t)r->mem->vaddr;
	const uint64_t size = r->w->size;
	struct svf_floor fl = { .fd = -1 };
	uint64_t t0, t1, t2, off;
	long rc;

	rc = svf_floor_open(&fl);
	if (rc)
		return rc;
	svf_progress_phase(r->pg, "floor");
	t0 = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (off = 0; off < size && !rc; off += slice)
		rc = svf_floor_lock(&fl, base + off, size - off < slice ? size - off : slice);
	t1 = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (off = 0; off < size; off += slice)
		svf_floor_unlock(base + off, size - off < slice ? size - off : slice);
	t2 = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	svf_floor_close(&fl);
	if (rc)
		return rc;
	r->res->map_floor_ns = t1 - t0;
	r->res->floor_ns = t2 - t1;
	r->res->floor_ops = size / SVF_PAGE_SIZE;
	return 0;
}

static int run_lifecycle(struct run *r)
{
	const struct svf_workload *w = r->w;
	uint64_t slice = lifecycle_slice(w), off, t0;
	struct meter m;
	long rc;

	if (w->backend == SVF_BACKEND_PROCESS) {
		guest_touch(r, w->size);
		rc = lifecycle_floor(r, slice);
		if (rc) {
			explain_map_failure(r, "the floor's mlock", rc);
			return 0;
		}
	}
	svf_progress_phase(r->pg, "map");
	t0 = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (off = 0; off < w->size; off += slice) {
		uint64_t len = w->size - off < slice ? w->size - off : slice;

		rc = map_one(r, SVF_BENCH_IOVA + off, r->mem->vaddr + off, len);
		if (rc < 0) {
			explain_map_failure(r, "mapping the guest", rc);
			return 0;
		}
		svf_progress_update(r->pg, 0.9 * (double)(off + len) / (double)w->size);
	}
	r->res->map_cpu_ns = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - t0;
	r->res->map_pages = w->size / SVF_PAGE_SIZE;
	r->res->rss_bytes = svf_rss_bytes();
	r->e->mappings = (w->size + slice - 1) / slice;
	sample(r);

	if (w->dma) {
		svf_progress_phase(r->pg, "DMA");
		t0 = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		dma_outcome(r, phase_dma(r, SVF_BENCH_IOVA, w->size));
		r->res->dma_cpu_ns = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - t0;
	}

	svf_progress_phase(r->pg, "unmap-all");
	meter_start(r, &m);
	rc = unmap_one(r, 0, 0, true);
	meter_stop(r, &m);
	r->res->ioctls = 1;
	if (rc < 0) {
		skip(r, "UNMAP_DMA (all): %s", svf_errno_name((int)-rc, (char[24]){ 0 }));
		return 0;
	}
	r->res->ran = true;
	return 0;
}

static int run_small(struct run *r)
{
	const struct svf_workload *w = r->w;
	uint64_t i, t0;
	struct meter m;
	long rc;

	svf_progress_phase(r->pg, "map");
	t0 = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (i = 0; i < w->count; i++) {
		rc = map_one(r, SVF_BENCH_IOVA + i * w->size, r->mem->vaddr + i * w->size, w->size);
		if (rc < 0) {
			explain_map_failure(r, "mapping the buffers", rc);
			return 0;
		}
		if (i % UPDATE_EVERY == 0)
			svf_progress_update(r->pg, 0.5 * (double)i / (double)w->count);
	}
	r->res->map_cpu_ns = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - t0;
	r->res->map_pages = w->count * (w->size / SVF_PAGE_SIZE);
	r->res->rss_bytes = svf_rss_bytes();
	r->e->mappings = w->count;
	sample(r);

	svf_progress_phase(r->pg, w->unmap_each ? "unmap each" : "unmap-all");
	meter_start(r, &m);
	if (w->unmap_each) {
		for (i = 0, rc = 0; i < w->count && rc >= 0; i++) {
			rc = unmap_one(r, SVF_BENCH_IOVA + i * w->size, w->size, false);
			if (i % UPDATE_EVERY == 0)
				svf_progress_update(r->pg, 0.5 + 0.5 * (double)i / (double)w->count);
		}
		r->res->ioctls = i;
	} else {
		rc = unmap_one(r, 0, 0, true);
		r->res->ioctls = 1;
	}
	meter_stop(r, &m);
	if (rc < 0) {
		skip(r, "UNMAP_DMA: %s", svf_errno_name((int)-rc, (char[24]){ 0 }));
		return 0;
	}
	r->res->ran = true;
	return 0;
}

/* Churn buffer n: its IOVA (unique within the window) and its vaddr in the pool. */
static uint64_t churn_iova(const struct svf_workload *w, uint64_t n)
{
	return SVF_BENCH_IOVA + (n % (CHURN_WINDOW / w->size)) * w->size;
}

static uint64_t churn_vaddr(const struct run *r, uint64_t n)
{
	return r->mem->vaddr + (n % (2 * r->w->depth)) * r->w->size;
}

static int run_churn(struct run *r)
{
	const struct svf_workload *w = r->w;
	bool map_failed = false, unmap_failed = false;
	struct svf_device *dev = NULL;
	struct meter m;
	int dma_rc = 0;
	uint64_t n;
	long rc = 0;

	svf_progress_phase(r->pg, w->dma ? "map/DMA/unmap" : "map/unmap");
	r->e->mappings = w->count;
	if (w->backend == SVF_BACKEND_PROCESS) {
		struct svf_floor fl = { .fd = -1 };
		const uint64_t pool = 2 * w->depth * w->size / SVF_PAGE_SIZE;
		uint64_t t0;

		/*
		 * The floor of one buffer's life: one page's mlock, pagemap read
		 * and munlock, sampled over the buffer pool the loop uses.
		 */
		guest_touch(r, 2 * w->depth * w->size);
		rc = svf_floor_open(&fl);
		t0 = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		for (uint64_t i = 0; i < CHURN_FLOOR_PAIRS && !rc; i++)
			rc = svf_floor_pair(&fl, (uint8_t *)(uintptr_t)r->mem->vaddr +
					    (i % pool) * SVF_PAGE_SIZE);
		r->res->floor_ns = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - t0;
		r->res->floor_ops = CHURN_FLOOR_PAIRS;
		svf_floor_close(&fl);
		if (rc) {
			explain_map_failure(r, "the floor's mlock", rc);
			return 0;
		}
	}
	if (w->dma) {
		dma_rc = device_open(r, &dev);
		if (dma_rc)
			dma_outcome(r, dma_rc);
	}
	meter_start(r, &m);
	for (n = 0; n < w->count + w->depth; n++) {
		/* Buffer n - depth has completed: the guest unmaps it. */
		if (n >= w->depth) {
			rc = unmap_one(r, churn_iova(w, n - w->depth), w->size, false);
			r->res->ioctls++;
			if (rc < 0) {
				unmap_failed = true;
				break;
			}
		}
		if (n < w->count) {
			rc = map_one(r, churn_iova(w, n), churn_vaddr(r, n), w->size);
			r->res->ioctls++;
			if (rc < 0) {
				map_failed = true;
				break;
			}
			/* The device writes the buffer (a packet arrives). */
			if (dev && !dma_rc)
				dma_rc = dma_request(r, dev, SVF_PROT_WRITE, churn_iova(w, n),
						     w->size);
		}
		if (n % UPDATE_EVERY == 0) {
			sample(r);
			if (n == w->depth)
				r->res->rss_bytes = svf_rss_bytes();
			svf_progress_update(r->pg, (double)n / (double)(w->count + w->depth));
		}
	}
	if (map_failed) {
		if (dev)
			svf_device_destroy(dev);
		explain_map_failure(r, "mapping a buffer", rc);
		return 0;
	}
	meter_stop(r, &m);
	r->res->map_pages = w->count * (w->size / SVF_PAGE_SIZE);
	if (dev) {
		svf_device_destroy(dev);
		dma_outcome(r, dma_rc);
	}
	if (unmap_failed) {
		skip(r, "UNMAP_DMA of a buffer: %s", svf_errno_name((int)-rc, (char[24]){ 0 }));
		return 0;
	}
	r->res->ran = true;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* vm-real: a VM's start and teardown in real memory                        */
/* ------------------------------------------------------------------------ */

#define LOW_RAM_END   UINT64_C(0xa0000)      /* the legacy VGA window starts here */
#define HIGH_RAM_BASE (UINT64_C(1) << 32)
#define Q35_LOW_SPLIT UINT64_C(0xb0000000)   /* guests this large keep only 2 GiB low */

/*
 * QEMU's q35 machine puts guest RAM below 4 GiB up to "low" (all of it up
 * to 2.75 GiB, else 2 GiB, so that 1 GiB-aligned guest addresses stay
 * 1 GiB-aligned in the host) and the rest at 4 GiB. Its VFIO memory
 * listener maps each RAM section of the flattened address space with one
 * MAP_DMA at the section's guest-physical address. Of the RAM block,
 * [640 KiB, 1 MiB) is not a section at reset (the VGA window, the option
 * ROM and BIOS areas, which are other blocks: 384 KiB left out here).
 */
unsigned svf_vmreal_layout(uint64_t guest, struct svf_vmreal_section *s)
{
	uint64_t low = guest >= Q35_LOW_SPLIT ? 2 * GiB : guest;
	unsigned n = 0;

	s[n++] = (struct svf_vmreal_section){ .iova = 0, .offset = 0,
					      .size = low < LOW_RAM_END ? low : LOW_RAM_END };
	if (low > MiB)
		s[n++] = (struct svf_vmreal_section){ .iova = MiB, .offset = MiB, .size = low - MiB };
	if (guest > low)
		s[n++] = (struct svf_vmreal_section){ .iova = HIGH_RAM_BASE, .offset = low,
						      .size = guest - low };
	return n;
}

/* MemAvailable of /proc/meminfo in bytes, or 0. */
static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	uint64_t kb = 0;
	char line[256];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %" SCNu64, &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static bool has_cap_ipc_lock(void);
static void tool_config(const struct svf_bench_opts *o, const struct svf_workload *w,
			enum svf_policy policy, struct svf_tool_config *cfg);

uint64_t svf_vmreal_max_guest(char *why, size_t len)
{
	uint64_t avail = mem_available(), size = avail / 2;
	char a[32], l[32];
	struct rlimit rl;
	bool by_limit = false;

	if (!has_cap_ipc_lock() && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
	    rl.rlim_max != RLIM_INFINITY && (uint64_t)rl.rlim_max < size) {
		/* The bench raises the soft limit to the hard one before it runs. */
		size = (uint64_t)rl.rlim_max;
		by_limit = true;
	}
	size = size / GiB * GiB;
	if (why) {
		svf_human_bytes(avail, a, sizeof(a));
		if (by_limit) {
			svf_human_bytes((uint64_t)rl.rlim_max, l, sizeof(l));
			snprintf(why, len, "RLIMIT_MEMLOCK (%s) without CAP_IPC_LOCK", l);
		} else {
			snprintf(why, len, "half of MemAvailable (%s; the rest is left to the "
				 "machine)", a);
		}
	}
	return size;
}

/*
 * The guest's start and teardown under one policy, --reps times; each time
 * first this machine's floor on the same sections (mlock + bulk pagemap
 * read of each, then munlock of each), then softvfio (one MAP_DMA per
 * section, then one UNMAP_DMA per section, in the order QEMU's listener
 * removes them), so the two sides take turns under the same load. The
 * floor runs first: nothing softvfio does to the memory (a lock that
 * splits a huge page) can make the floor look worse. Every page is
 * written once before anything is timed: both sides lock present pages.
 * Each repetition after the first gets a fresh container, as each VM gets
 * its own: no page-table page of a previous start is reused.
 */
static int run_vmreal(struct run *r)
{
	const struct svf_workload *w = r->w;
	const unsigned reps = w->reps ? w->reps : 1;
	struct svf_vmreal_section sec[SVF_VMREAL_MAX_SECTIONS];
	uint64_t start[VMREAL_MAX_REPS], sfl[VMREAL_MAX_REPS], td[VMREAL_MAX_REPS],
		tfl[VMREAL_MAX_REPS], pages = 0, t0, t1, t2;
	unsigned ns = svf_vmreal_layout(w->size, sec), i, k;
	uint8_t *base = (uint8_t *)(uintptr_t)r->mem->vaddr;
	struct svf_floor fl = { .fd = -1 };
	struct meter m;
	long rc = 0;

	for (i = 0; i < ns; i++)
		pages += sec[i].size / SVF_PAGE_SIZE;
	r->e->mappings = ns;
	if (!r->mem->touched) {
		guest_touch(r, w->size);
		r->e->thp_before = svf_thp_bytes_in(base, w->size);
	}
	rc = svf_floor_open(&fl);
	if (rc) {
		skip(r, "the floor needs /proc/self/pagemap: %s", strerror((int)-rc));
		return 0;
	}
	for (k = 0; k < reps; k++) {
		if (k) {
			struct svf_tool_config cfg;

			tool_config(r->o, w, r->policy, &cfg);
			svf_tool_container_destroy(r->p, r->c);
			rc = svf_tool_container_create(&cfg, &r->p, &r->c);
			if (rc) {
				/* bench_entry destroys r->c: leave it a container to destroy. */
				r->c = NULL;
				r->p = NULL;
				skip(r, "cannot set up a fresh container: %s",
				     svf_errno_name((int)-rc, (char[24]){ 0 }));
				goto out;
			}
		}
		svf_progress_phase(r->pg, "floor");
		t0 = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		for (i = 0; i < ns && !rc; i++)
			rc = svf_floor_lock(&fl, base + sec[i].offset, sec[i].size);
		t1 = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		for (unsigned j = 0; j < ns; j++)
			svf_floor_unlock(base + sec[j].offset, sec[j].size);
		t2 = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		if (rc) {
			explain_map_failure(r, "the floor's mlock", rc);
			goto out;
		}
		sfl[k] = t1 - t0;
		tfl[k] = t2 - t1;
		svf_progress_update(r->pg, 0.2 + 0.8 * (k + 0.4) / reps);

		svf_progress_phase(r->pg, "start");
		t0 = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
		for (i = 0; i < ns && rc >= 0; i++)
			rc = map_one(r, sec[i].iova, r->mem->vaddr + sec[i].offset, sec[i].size);
		start[k] = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - t0;
		if (rc < 0) {
			explain_map_failure(r, "mapping the guest", rc);
			(void)unmap_one(r, 0, 0, true);
			goto out;
		}
		if (k == 0)
			r->res->rss_bytes = svf_rss_bytes();
		sample(r);
		svf_progress_update(r->pg, 0.2 + 0.8 * (k + 0.8) / reps);

		svf_progress_phase(r->pg, "teardown");
		meter_start(r, &m);
		for (i = 0; i < ns && rc >= 0; i++)
			rc = unmap_one(r, sec[i].iova, sec[i].size, false);
		meter_stop(r, &m);
		td[k] = r->res->cpu_ns;
		if (rc < 0) {
			skip(r, "UNMAP_DMA of a section: %s", svf_errno_name((int)-rc,
									      (char[24]){ 0 }));
			goto out;
		}
		svf_progress_update(r->pg, 0.2 + 0.8 * (k + 1.0) / reps);
	}
	r->res->vm_reps = reps;
	r->res->vm_pages = pages;
	r->res->vm_start_ns = (uint64_t)svf_median_u64(start, reps);
	r->res->vm_start_floor_ns = (uint64_t)svf_median_u64(sfl, reps);
	r->res->vm_teardown_ns = (uint64_t)svf_median_u64(td, reps);
	r->res->vm_teardown_floor_ns = (uint64_t)svf_median_u64(tfl, reps);
	r->res->cpu_ns = r->res->vm_teardown_ns;
	r->res->map_cpu_ns = r->res->vm_start_ns;
	r->res->map_pages = pages;
	r->res->ioctls = ns;
	r->res->thp_bytes = svf_thp_bytes_in(base, w->size);
	r->res->ran = true;
out:
	svf_floor_close(&fl);
	return 0;
}

/* The arena size of a trace (its first operation), or 0. */
static uint64_t trace_arena_bytes(const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char line[128], *save = NULL, *tok;
		uint64_t v;

		snprintf(line, sizeof(line), "%.*s", (int)(ll < sizeof(line) ? ll : sizeof(line) - 1),
			 p);
		p += ll + (nl ? 1 : 0);
		if (strchr(line, '#'))
			*strchr(line, '#') = '\0';
		tok = strtok_r(line, " \t\r", &save);
		if (!tok)
			continue;
		if (strcmp(tok, "arena"))
			return 0;
		tok = strtok_r(NULL, " \t\r", &save);
		return tok && !svf_parse_u64(tok, &v) ? v : 0;
	}
	return 0;
}

/* A trace replays on its own container (svf_trace_replay makes it); figures are its totals. */
static int run_trace(struct run *r, const struct svf_trace *t, const struct svf_tool_config *cfg)
{
	uint64_t cpu0, wall0;
	struct svf_stats st;
	FILE *null;
	int rc;

	null = fopen("/dev/null", "w");
	if (!null)
		return -errno;
	svf_progress_phase(r->pg, "replay");
	wall0 = svf_clock_ns(CLOCK_MONOTONIC);
	cpu0 = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	rc = svf_trace_replay(t, cfg, null, r->err, &st);
	r->res->cpu_ns = svf_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	r->res->wall_ns = svf_clock_ns(CLOCK_MONOTONIC) - wall0;
	fclose(null);
	if (rc) {
		skip(r, "the replay could not be set up: %s", svf_errno_name(-rc, (char[24]){ 0 }));
		return 0;
	}
	r->res->ran = true;
	r->res->regions = st.chunks_unmapped;
	r->res->inv_page = st.inv_page;
	r->res->inv_domain = st.inv_domain;
	r->res->inv_global = st.inv_global;
	r->res->waits = st.waits;
	r->res->modeled_ns = st.modeled_ns;
	r->res->pages = st.pages_unpinned;
	r->res->map_pages = st.pages_pinned;
	r->res->ioctls = svf_trace_nr_ops(t);
	r->res->fallbacks = st.unmap_fallbacks;
	r->res->errors = st.unmap_errors;
	r->res->violations = st.invariant_violations;
	r->res->pinned_peak = st.pinned_peak;
	r->res->pt_bytes_peak = st.pt_pages_peak * SVF_PAGE_SIZE;
	r->res->bookkeeping_peak = st.bookkeeping_bytes;
	r->res->iotlb_hits = st.iotlb_hits;
	r->res->iotlb_misses = st.iotlb_misses;
	if (st.pinned_now && r->policy == SVF_POLICY_LAZY)
		snprintf(r->res->note, sizeof(r->res->note), "figures up to the trace's last "
			 "operation: %" PRIu64 " pages were still in the flush queue, flushed when "
			 "the replay's container went, uncounted", st.pinned_now);
	return 0;
}

static void tool_config(const struct svf_bench_opts *o, const struct svf_workload *w,
			enum svf_policy policy, struct svf_tool_config *cfg)
{
	svf_tool_default_config(cfg);
	cfg->driver = o->driver ? o->driver : "vtd";
	cfg->backend = w->backend;
	cfg->layout = w->layout;
	cfg->policy = policy;
	cfg->batch_cap = o->batch;
	cfg->cost = o->cost;
}

/* ------------------------------------------------------------------------ */
/* The lazy policy: does this build defer its waits?                        */
/* ------------------------------------------------------------------------ */

/*
 * Map and unmap one page under lazy: a flush queue leaves the wait for
 * later (no wait during the unmap), the fallback does it at once as
 * batched. 1: defers, 0: behaves as batched, -errno: refused.
 */
static int lazy_probe(const struct svf_bench_opts *o)
{
	struct svf_workload w;
	struct svf_tool_config cfg;
	struct svf_stats s0, s1;
	struct run r = { 0 };
	int rc;

	svf_workload_defaults(SVF_WL_LIFECYCLE, &w);
	tool_config(o, &w, SVF_POLICY_LAZY, &cfg);
	cfg.backend = SVF_BACKEND_SYNTHETIC;
	rc = svf_tool_container_create(&cfg, &r.p, &r.c);
	if (rc)
		return rc;
	rc = (int)map_one(&r, SVF_BENCH_IOVA, SVF_BENCH_VADDR, SVF_PAGE_SIZE);
	if (rc >= 0) {
		svf_container_get_stats(r.c, &s0);
		rc = (int)unmap_one(&r, SVF_BENCH_IOVA, SVF_PAGE_SIZE, false);
		svf_container_get_stats(r.c, &s1);
		if (rc >= 0)
			rc = s1.waits == s0.waits;
	}
	svf_tool_container_destroy(r.p, r.c);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The runner                                                               */
/* ------------------------------------------------------------------------ */

void svf_bench_default_opts(struct svf_bench_opts *o)
{
	*o = (struct svf_bench_opts){
		.wl = svf_bench_default_workloads,
		.nr_wl = svf_bench_nr_default_workloads,
		.cost = -1,
		.progress = -1,
		.cmd = "bench",
	};
	for (int p = 0; p < SVF_POLICY_NR; p++)
		o->policy[p] = true;
}

/* Rough cost of a workload under one policy, for the progress bar (~microseconds). */
static double workload_weight(const struct svf_workload *w)
{
	double pages = (double)w->size / SVF_PAGE_SIZE;

	switch (w->kind) {
	case SVF_WL_LIFECYCLE:
		if (w->backend == SVF_BACKEND_PROCESS)
			return pages * 6;
		switch (w->layout) {
		case SVF_LAYOUT_CONTIG: return pages / 5000 + 10;
		case SVF_LAYOUT_RUNS2M: return pages / 512 * 1.5 + 10;
		case SVF_LAYOUT_RANDOM: return pages * 0.3 + 10;
		case SVF_LAYOUT_FRAG4K: return pages * 0.8 + 10;
		}
		return pages;
	case SVF_WL_SMALL:
		return (double)w->count * (2 + pages * 0.8);
	case SVF_WL_CHURN:
		return (double)w->count * (w->backend == SVF_BACKEND_PROCESS ? 8 : 3) * (1 + pages);
	case SVF_WL_TRACE:
		return 1000;
	case SVF_WL_VMREAL:
		/* Per page and repetition: floor and softvfio, lock and unlock (~1.5 us). */
		pages = (double)(w->size == SVF_VMREAL_SIZE_MAX ? svf_vmreal_max_guest(NULL, 0) :
				 w->size ? w->size : VMREAL_SIZE) / SVF_PAGE_SIZE;
		return pages * (w->layout == SVF_LAYOUT_FRAG4K ? 1.5 : 0.1) * (w->reps + 1);
	}
	return 1;
}

/* Soft RLIMIT_MEMLOCK up to the hard one: what `ulimit -l` would allow anyway. */
static void raise_memlock(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_MEMLOCK, &rl);
	}
}

/* Memory a workload's process-backed guest needs. */
static uint64_t guest_mem_bytes(const struct svf_workload *w)
{
	switch (w->kind) {
	case SVF_WL_LIFECYCLE: return w->size;
	case SVF_WL_SMALL: return w->count * w->size;
	case SVF_WL_CHURN: return 2 * w->depth * w->size;
	case SVF_WL_TRACE: return 0;
	case SVF_WL_VMREAL: return w->size;
	}
	return 0;
}

/* Run one workload under every selected policy into e. 0 or -errno (set-up). */
/*
 * vm-real's size=max, chosen once per bench (so that both backings and
 * every driver get the same guest, whatever the first one left free).
 */
struct vm_max {
	uint64_t bytes;  /* 0: not chosen yet */
	char why[160];
};

static int bench_entry(const struct svf_bench_opts *o, const struct svf_workload *wl,
		       struct svf_bench_entry *e, int lazy, struct vm_max *vmax,
		       struct svf_progress *pg, FILE *err)
{
	struct svf_workload resolved = *wl;
	const struct svf_workload *w = &resolved;
	struct svf_trace *trace = NULL;
	struct guest_mem mem = { 0 };
	char *text = NULL;
	bool is_max;
	double weight = workload_weight(wl);
	size_t len = 0;
	int rc = 0;

	/* vm-real's guest size: the default, or the largest that fits now. */
	if (w->kind == SVF_WL_VMREAL && !w->size)
		resolved.size = o->guest_size ? o->guest_size : VMREAL_SIZE;
	is_max = w->kind == SVF_WL_VMREAL && w->size == SVF_VMREAL_SIZE_MAX;
	if (is_max) {
		if (!vmax->bytes)
			vmax->bytes = svf_vmreal_max_guest(vmax->why, sizeof(vmax->why));
		resolved.size = vmax->bytes;
	}
	e->wl = *w;
	/* A size=max that found no room keeps "max" in its names. */
	svf_workload_id(w->size ? w : wl, e->id, sizeof(e->id));
	svf_workload_label(w->size ? w : wl, e->label, sizeof(e->label));
	switch (w->kind) {
	case SVF_WL_LIFECYCLE:
		e->guest_bytes = w->size;
		snprintf(e->measured, sizeof(e->measured), "the teardown: one UNMAP_DMA with "
			 "FLAG_ALL");
		break;
	case SVF_WL_SMALL:
		e->guest_bytes = w->count * w->size;
		snprintf(e->measured, sizeof(e->measured), "%s", w->unmap_each ?
			 "one UNMAP_DMA per mapping" : "one UNMAP_DMA with FLAG_ALL");
		break;
	case SVF_WL_CHURN:
		e->guest_bytes = 2 * w->depth * w->size;
		snprintf(e->measured, sizeof(e->measured), "the whole loop: %" PRIu64 " maps%s and "
			 "%" PRIu64 " unmaps, one ioctl each", w->count,
			 w->dma ? ", device writes" : "", w->count);
		break;
	case SVF_WL_TRACE:
		snprintf(e->measured, sizeof(e->measured), "the whole replay");
		if (w->trace_text) {
			len = strlen(w->trace_text);
		} else {
			rc = svf_read_file(w->trace_path, &text, &len);
			if (rc) {
				fprintf(err, "softvfio %s: cannot read '%s': %s\n", o->cmd,
					w->trace_path, strerror(-rc));
				return rc;
			}
		}
		rc = svf_trace_parse(w->trace_text ? w->trace_text : text, len, err, &trace);
		if (rc) {
			fprintf(err, "softvfio %s: the trace '%s' does not parse\n", o->cmd,
				w->trace_path);
			free(text);
			return rc == -ENOMEM ? rc : -EINVAL;
		}
		e->guest_bytes = trace_arena_bytes(w->trace_text ? w->trace_text : text, len);
		break;
	case SVF_WL_VMREAL:
		e->guest_bytes = w->size;
		snprintf(e->measured, sizeof(e->measured), "start (MAP_DMA per RAM section) and "
			 "teardown (UNMAP_DMA per section), beside the floor");
		if (is_max)
			entry_note(e, "the largest guest that fits: %s", vmax->why);
		if (!w->size) {
			entry_note(e, "not run: not even 1 GiB fits");
			goto out;
		}
		break;
	}

	if (w->kind != SVF_WL_TRACE) {
		rc = guest_mem_create(w, guest_mem_bytes(w), &mem);
		if (rc) {
			entry_note(e, "no guest memory (mmap of %" PRIu64 " bytes: %s)",
				   guest_mem_bytes(w), strerror(-rc));
			rc = 0;
			goto out;
		}
	}

	for (int p = 0; p < SVF_POLICY_NR; p++) {
		struct run r = {
			.o = o, .w = w, .e = e, .res = &e->res[p], .policy = (enum svf_policy)p,
			.mem = &mem, .pg = pg, .err = err,
		};
		struct svf_tool_config cfg;

		if (!o->policy[p])
			continue;
		svf_progress_begin(pg, weight, "%s | %s", e->id, svf_policy_name(p));
		if (p == SVF_POLICY_LAZY && lazy < 0) {
			skip(&r, "the library refuses the lazy policy: %s",
			     svf_errno_name(-lazy, (char[24]){ 0 }));
			svf_progress_end(pg);
			continue;
		}
		if (p == SVF_POLICY_LAZY && lazy == 0)
			snprintf(r.res->note, sizeof(r.res->note), "ran as batched: this build's "
				 "lazy policy does not defer waits yet");
		tool_config(o, w, (enum svf_policy)p, &cfg);
		if (w->kind == SVF_WL_TRACE) {
			rc = run_trace(&r, trace, &cfg);
		} else {
			rc = svf_tool_container_create(&cfg, &r.p, &r.c);
			if (rc) {
				skip(&r, "cannot set up the container: %s",
				     svf_errno_name(-rc, (char[24]){ 0 }));
				rc = 0;
				svf_progress_end(pg);
				continue;
			}
			switch (w->kind) {
			case SVF_WL_LIFECYCLE: rc = run_lifecycle(&r); break;
			case SVF_WL_SMALL: rc = run_small(&r); break;
			case SVF_WL_CHURN: rc = run_churn(&r); break;
			case SVF_WL_VMREAL: rc = run_vmreal(&r); break;
			case SVF_WL_TRACE: break;
			}
			/* vm-real makes a container per repetition: NULL if one failed. */
			if (r.c) {
				run_totals(&r);
				svf_progress_phase(pg, "destroy");
				svf_tool_container_destroy(r.p, r.c);
			}
		}
		svf_progress_end(pg);
		if (rc)
			break;
		if (!r.res->ran) {
			svf_progress_clear(pg);
			fprintf(err, "softvfio %s: %s, %s: skipped: %s\n", o->cmd, e->id,
				svf_policy_name(p), r.res->skip);
			/* The same guest would fail the same way under the other policies. */
			if (r.res->skip[0] && strstr(r.res->skip, "RLIMIT_MEMLOCK")) {
				entry_note(e, "not run: %s", r.res->skip);
				break;
			}
		}
	}
out:
	guest_mem_destroy(&mem);
	svf_trace_free(trace);
	free(text);
	return rc;
}

static int write_file(const char *cmd, const char *what, const char *path,
		      int (*fn)(const struct svf_bench_entry *, size_t, const bool *, FILE *),
		      const struct svf_bench_entry *e, size_t n, const bool *policy, FILE *err)
{
	bool to_stdout = strcmp(path, "-") == 0;
	FILE *f = to_stdout ? stdout : fopen(path, "w");
	int rc;

	if (!f) {
		fprintf(err, "softvfio %s: cannot write the %s to '%s': %s\n", cmd, what, path,
			strerror(errno));
		return -EIO;
	}
	rc = fn(e, n, policy, f);
	if ((to_stdout ? fflush(f) : fclose(f)) == EOF && !rc)
		rc = -EIO;
	if (rc)
		fprintf(err, "softvfio %s: writing the %s to '%s' failed\n", cmd, what, path);
	return rc ? -EIO : 0;
}

/*
 * Every trace file can be read and parses, before anything runs: 0, the
 * errno of a file that cannot be read, or -EINVAL for a syntax error (the
 * parser has said where on err).
 */
static int check_traces(const struct svf_bench_opts *o, FILE *err)
{
	for (size_t i = 0; i < o->nr_wl; i++) {
		const struct svf_workload *w = &o->wl[i];
		struct svf_trace *t;
		char *text;
		size_t len;
		int rc;

		if (w->kind != SVF_WL_TRACE || w->trace_text)
			continue;
		rc = svf_read_file(w->trace_path, &text, &len);
		if (rc) {
			fprintf(err, "softvfio %s: cannot read '%s': %s\n", o->cmd, w->trace_path,
				strerror(-rc));
			return rc;
		}
		rc = svf_trace_parse(text, len, err, &t);
		free(text);
		if (rc) {
			fprintf(err, "softvfio %s: the trace '%s' does not parse\n", o->cmd,
				w->trace_path);
			return rc == -ENOMEM ? rc : -EINVAL;
		}
		svf_trace_free(t);
	}
	return 0;
}

/* "chart written to softvfio-bench.svg (/home/me/softvfio-bench.svg)" */
static void print_written(FILE *out, const char *what, const char *path)
{
	char *abs = path[0] != '/' ? realpath(path, NULL) : NULL;

	fprintf(out, "%s written to %s", what, path);
	if (abs)
		fprintf(out, " (%s)", abs);
	fputc('\n', out);
	free(abs);
}

int svf_bench(const struct svf_bench_opts *o, FILE *out, FILE *err)
{
	struct svf_bench_entry *entries;
	struct svf_progress pg;
	const unsigned ndrv = o->nr_drivers ? o->nr_drivers : 1;
	double total = 0;
	unsigned npol = 0;
	uint64_t t0 = svf_clock_ns(CLOCK_MONOTONIC);
	int lazy = 1, rc = 0, wrc;
	struct vm_max vmax = { 0 };

	for (int p = 0; p < SVF_POLICY_NR; p++)
		npol += o->policy[p];
	for (size_t i = 0; i < o->nr_wl; i++) {
		total += workload_weight(&o->wl[i]) * npol;
		if (o->wl[i].backend == SVF_BACKEND_PROCESS)
			raise_memlock();
	}
	rc = check_traces(o, err);
	if (rc)
		return rc;
	entries = calloc(o->nr_wl ? o->nr_wl * ndrv : 1, sizeof(*entries));
	if (!entries)
		return -ENOMEM;
	if (o->policy[SVF_POLICY_LAZY])
		lazy = lazy_probe(o);

	svf_bench_print_header(o, npol, lazy, out);
	fflush(out);
	svf_progress_init(&pg, err, o->progress, total * ndrv);
	for (size_t i = 0; i < o->nr_wl && !rc; i++) {
		for (unsigned k = 0; k < ndrv; k++) {
			struct svf_bench_opts od = *o;
			struct svf_bench_entry *e = &entries[i * ndrv + k];

			od.driver = o->nr_drivers ? o->drivers[k] : o->driver;
			rc = bench_entry(&od, &o->wl[i], e, lazy, &vmax, &pg, err);
			if (rc)
				break;
			snprintf(e->driver, sizeof(e->driver), "%s", od.driver ? od.driver : "vtd");
			if (o->nr_drivers) {
				size_t il = strlen(e->id), ll = strlen(e->label);

				snprintf(e->id + il, sizeof(e->id) - il, "@%s", e->driver);
				snprintf(e->label + ll, sizeof(e->label) - ll, ", %s", e->driver);
			}
			svf_progress_clear(&pg);
			svf_bench_print_entry(e, o->policy, out);
			fflush(out);
		}
	}
	svf_progress_finish(&pg);
	if (rc) {
		free(entries);
		return rc;
	}
	if (o->nr_drivers)
		svf_bench_print_drivers(entries, o->nr_wl, ndrv, o->policy, out);
	svf_bench_print_targets(entries, o->nr_wl * ndrv, o->cost, out);
	if (o->scaling)
		svf_bench_print_scaling(entries, o->nr_wl * ndrv, o->policy, out);
	svf_bench_print_flatness(entries, o->nr_wl * ndrv, o->policy, out);
	if (o->json_path) {
		wrc = write_file(o->cmd, "JSON", o->json_path, svf_bench_write_json, entries,
				 o->nr_wl * ndrv, o->policy, err);
		if (wrc)
			rc = wrc;
		else if (strcmp(o->json_path, "-"))
			print_written(out, "JSON", o->json_path);
	}
	if (o->svg_path) {
		/* With --scale the chart is the scaling plot: time per page by guest size. */
		wrc = write_file(o->cmd, "chart", o->svg_path,
				 o->scaling ? svf_chart_write_scaling_svg : svf_chart_write_svg,
				 entries, o->nr_wl * ndrv, o->policy, err);
		if (wrc)
			rc = wrc;
		else
			print_written(out, "chart", o->svg_path);
	}
	fprintf(out, "(%zu workload%s x %u polic%s", o->nr_wl, o->nr_wl == 1 ? "" : "s", npol,
		npol == 1 ? "y" : "ies");
	if (ndrv > 1)
		fprintf(out, " x %u drivers", ndrv);
	fprintf(out, " in %.1f s)\n", (double)(svf_clock_ns(CLOCK_MONOTONIC) - t0) / 1e9);
	free(entries);
	return rc;
}

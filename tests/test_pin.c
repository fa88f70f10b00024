/* SPDX-License-Identifier: MIT */
/*
 * Pinning layer tests (<softvfio/pin.h>).
 *
 * Process backend: frames against an independent read of pagemap, reference
 * counts per frame and per virtual page (checked through the kernel's own
 * VmLck, so "munlock only at zero" is observed, not assumed), memfd aliases,
 * EFAULT for holes, PROT_NONE and write pins of read-only memory, runs that
 * split at a physical discontinuity, copy-on-write broken by write pins, the
 * lock-free device path racing pins, and the fault seam. Whatever needs the
 * limit enforced (RLIMIT_MEMLOCK, the override, the process-wide count) runs
 * in a forked child that first drops CAP_IPC_LOCK; a child that drops
 * CAP_SYS_ADMIN covers the pfn-less pagemap path when the suite runs as root.
 * Children report through their exit status (CHILD_CHECK), never through
 * cmocka, whose state belongs to the parent.
 *
 * Synthetic backend: every layout's runs and frames, determinism of the
 * random layout, the physical limit, and 1 TiB pinned in 2 MiB runs with
 * constant bookkeeping.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "svf_test.h"
#include <softvfio/pin.h>

#define PG SVF_PAGE_SIZE
#define SZ_2M (2ULL << 20)
#define PM_PRESENT (1ULL << 63)
#define PM_PFN_MASK ((1ULL << 55) - 1)
/*
 * Synthetic pins are charged like real ones; tests that pin more than an
 * unprivileged RLIMIT_MEMLOCK allows lift the limit with the override.
 */
#define NO_LIMIT UINT64_MAX

/* ---- helpers ---- */

static struct svf_pinner *new_process_pinner(void)
{
	struct svf_pinner_config cfg = { .backend = SVF_BACKEND_PROCESS };
	struct svf_pinner *p = NULL;
	int ret = svf_pinner_create(&cfg, &p);

	if (ret == -EOPNOTSUPP)
		skip();
	assert_int_equal(ret, 0);
	assert_non_null(p);
	return p;
}

static struct svf_pinner *new_synth(enum svf_layout layout, uint64_t seed, uint64_t base,
				    uint64_t limit)
{
	struct svf_pinner_config cfg = {
		.backend = SVF_BACKEND_SYNTHETIC,
		.layout = layout,
		.seed = seed,
		.phys_base = base,
		.memlock_limit_override = limit,
	};
	struct svf_pinner *p = NULL;

	assert_int_equal(svf_pinner_create(&cfg, &p), 0);
	return p;
}

static uint8_t *map_anon(size_t pages, int prot)
{
	void *m = mmap(NULL, pages * PG, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(m != MAP_FAILED);
	return m;
}

/* The test's own read of pagemap: the frame (or vpn when pfns are hidden), 0 if absent. */
static uint64_t pagemap_frame(const void *va, bool real)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &e, sizeof(e), ((uintptr_t)va / PG) * sizeof(e)),
			 (ssize_t)sizeof(e));
	close(fd);
	if (!(e & PM_PRESENT))
		return 0;
	return real ? (e & PM_PFN_MASK) : (uintptr_t)va / PG;
}

/* The kernel's count of mlocked memory of this process, in KiB. */
static long vmlck_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* Pin [va, va + n pages) in as many runs as it takes; returns the number of runs. */
static uint64_t pin_all(struct svf_pinner *p, uint64_t va, uint64_t n, bool write)
{
	uint64_t done = 0, runs = 0, phys, got;

	while (done < n) {
		assert_int_equal(svf_pin_run(p, va + done * PG, n - done, write, &phys, &got), 0);
		assert_true(got >= 1 && got <= n - done);
		done += got;
		runs++;
	}
	return runs;
}

/* Unpin what pin_all pinned, run by run, using lookup for the frames. */
static void unpin_all(struct svf_pinner *p, uint64_t va, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t phys;

		assert_int_equal(svf_pinner_lookup(p, va + i * PG, &phys), 0);
		svf_unpin_run(p, va + i * PG, phys, 1);
	}
}

static int drop_caps(uint64_t mask)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &hdr, d))
		return -errno;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		uint32_t m = (uint32_t)(mask >> (32 * i));

		d[i].effective &= ~m;
		d[i].permitted &= ~m;
		d[i].inheritable &= ~m;
	}
	if (syscall(SYS_capset, &hdr, d))
		return -errno;
	return 0;
}

static bool have_cap(int cap)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &hdr, d))
		return false;
	return d[CAP_TO_INDEX(cap)].effective & CAP_TO_MASK(cap);
}

/* In a forked child: report the failing line through the exit status. */
#define CHILD_CHECK(cond)                                                          \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "child check failed at %s:%d: %s\n",       \
				__FILE__, __LINE__, #cond);                         \
			_exit(1);                                                  \
		}                                                                  \
	} while (0)

static void run_child(void (*fn)(void))
{
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- names and arguments ---- */

static void test_names(void **state)
{
	enum svf_backend b;
	enum svf_layout l;
	static const char *const layouts[] = { "contig", "frag4k", "runs2m", "random" };

	(void)state;
	assert_int_equal(svf_backend_parse("process", &b), 0);
	assert_int_equal(b, SVF_BACKEND_PROCESS);
	assert_int_equal(svf_backend_parse("synthetic", &b), 0);
	assert_int_equal(b, SVF_BACKEND_SYNTHETIC);
	assert_int_equal(svf_backend_parse("Process", &b), -EINVAL);
	assert_int_equal(svf_backend_parse("", &b), -EINVAL);
	assert_int_equal(svf_backend_parse(NULL, &b), -EINVAL);
	assert_string_equal(svf_backend_name(SVF_BACKEND_PROCESS), "process");
	assert_string_equal(svf_backend_name(SVF_BACKEND_SYNTHETIC), "synthetic");
	assert_string_equal(svf_backend_name((enum svf_backend)7), "unknown");
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(svf_layout_parse(layouts[i], &l), 0);
		assert_int_equal(l, (enum svf_layout)i);
		assert_string_equal(svf_layout_name(l), layouts[i]);
	}
	assert_int_equal(svf_layout_parse("runs1g", &l), -EINVAL);
	assert_string_equal(svf_layout_name((enum svf_layout)9), "unknown");
}

static void test_create_invalid(void **state)
{
	struct svf_pinner_config cfg = { .backend = SVF_BACKEND_SYNTHETIC };
	struct svf_pinner *p = NULL;

	(void)state;
	assert_int_equal(svf_pinner_create(NULL, &p), -EINVAL);
	assert_int_equal(svf_pinner_create(&cfg, NULL), -EINVAL);
	cfg.backend = (enum svf_backend)5;
	assert_int_equal(svf_pinner_create(&cfg, &p), -EINVAL);
	cfg.backend = SVF_BACKEND_SYNTHETIC;
	cfg.layout = (enum svf_layout)4;
	assert_int_equal(svf_pinner_create(&cfg, &p), -EINVAL);
	cfg.layout = SVF_LAYOUT_CONTIG;
	cfg.phys_base = 0x800;
	assert_int_equal(svf_pinner_create(&cfg, &p), -EINVAL);
	cfg.phys_base = 1ULL << 52;
	assert_int_equal(svf_pinner_create(&cfg, &p), -EINVAL);
	assert_null(p);
	cfg.phys_base = 1ULL << 30;
	assert_int_equal(svf_pinner_create(&cfg, &p), 0);
	assert_int_equal(svf_pinner_backend(p), SVF_BACKEND_SYNTHETIC);
	svf_pinner_destroy(p);
}

static void test_pin_args(void **state)
{
	struct svf_pinner *p = new_synth(SVF_LAYOUT_CONTIG, 0, 0, NO_LIMIT);
	uint64_t phys = 1, n = 1;

	(void)state;
	assert_int_equal(svf_pin_run(p, 0x1000, 0, false, &phys, &n), -EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(svf_pin_run(p, 0x1001, 1, false, &phys, &n), -EINVAL);
	assert_int_equal(svf_pin_run(p, 0x1000, 1, false, NULL, &n), -EINVAL);
	assert_int_equal(svf_pin_run(p, 0x1000, 1, false, &phys, NULL), -EINVAL);
	assert_int_equal(svf_pin_run(NULL, 0x1000, 1, false, &phys, &n), -EINVAL);
	assert_int_equal(svf_pinner_lookup(p, 0x1000, NULL), -EINVAL);
	/* a request running past the top of the address space does not wrap to 0 */
	assert_int_equal(svf_pin_run(p, UINT64_MAX - PG + 1, 4, false, &phys, &n), -EFAULT);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_pinner_destroy(p);
}

/* ---- process backend ---- */

static void test_proc_frames_match_pagemap(void **state)
{
	const uint64_t n = 700; /* more than one batch and one table leaf */
	struct svf_pinner *p = new_process_pinner();
	bool real = svf_pinner_pfns_real(p);
	uint8_t *buf = map_anon(n, PROT_READ | PROT_WRITE);
	uint64_t done = 0, runs = 0;

	(void)state;
	while (done < n) {
		uint64_t va = (uintptr_t)buf + done * PG, phys, got, lk;

		assert_int_equal(svf_pin_run(p, va, n - done, true, &phys, &got), 0);
		assert_true(got >= 1 && got <= n - done);
		for (uint64_t i = 0; i < got; i++) {
			uint8_t *page = buf + (done + i) * PG;
			uint64_t frame = pagemap_frame(page, real);

			assert_int_not_equal(frame, 0);
			assert_int_equal(frame * PG, phys + i * PG);
			assert_int_equal(svf_pinner_refcount(p, phys + i * PG), 1);
			assert_ptr_equal(svf_pinner_phys_to_ptr(p, phys + i * PG + 123), page + 123);
			assert_int_equal(svf_pinner_lookup(p, (uintptr_t)page + 9, &lk), 0);
			assert_int_equal(lk, phys + i * PG + 9);
		}
		if (!real)
			assert_int_equal(phys, va);
		/* the run ended at a discontinuity, or at the end of the request */
		if (done + got < n) {
			uint64_t next = pagemap_frame(buf + (done + got) * PG, real);

			assert_int_not_equal(next * PG, phys + got * PG);
		}
		done += got;
		runs++;
	}
	if (!real)
		assert_int_equal(runs, 1);
	assert_int_equal(svf_pinner_pinned_pages(p), n);
	assert_int_equal(svf_pinner_locked_bytes(p), n * PG);
	assert_true(svf_pinner_bookkeeping_bytes(p) > 0);

	unpin_all(p, (uintptr_t)buf, n);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	assert_int_equal(svf_pinner_locked_bytes(p), 0);
	assert_null(svf_pinner_phys_to_ptr(p, pagemap_frame(buf, real) * PG));
	svf_pinner_destroy(p);
	munmap(buf, n * PG);
}

static void test_proc_refcount_and_munlock_at_zero(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	uint8_t *buf = map_anon(4, PROT_READ | PROT_WRITE);
	uint64_t va = (uintptr_t)buf, pa, na, pb, nb;
	long base = vmlck_kb();

	(void)state;
	assert_true(base >= 0);
	/* page 0 pinned once, page 1 twice (once for read, once for write) */
	assert_int_equal(svf_pin_run(p, va, 1, false, &pa, &na), 0);
	assert_int_equal(svf_pin_run(p, va + PG, 1, false, &pb, &nb), 0);
	assert_int_equal(vmlck_kb(), base + 8);
	uint64_t pb2, nb2;

	assert_int_equal(svf_pin_run(p, va + PG, 1, true, &pb2, &nb2), 0);
	assert_int_equal(pb2, pb);
	assert_int_equal(svf_pinner_refcount(p, pb), 2);
	assert_int_equal(svf_pinner_refcount(p, pa), 1);
	assert_int_equal(svf_pinner_pinned_pages(p), 3);
	assert_int_equal(svf_pinner_locked_bytes(p), 3 * PG);
	assert_int_equal(vmlck_kb(), base + 8); /* mlock is not a count: 2 pages locked */

	svf_unpin_run(p, va + PG, pb, 1);
	assert_int_equal(svf_pinner_refcount(p, pb), 1);
	assert_int_equal(vmlck_kb(), base + 8); /* still pinned once: still locked */
	assert_non_null(svf_pinner_phys_to_ptr(p, pb));
	svf_unpin_run(p, va + PG, pb, 1);
	assert_int_equal(svf_pinner_refcount(p, pb), 0);
	assert_int_equal(vmlck_kb(), base + 4); /* last reference: unlocked */
	assert_null(svf_pinner_phys_to_ptr(p, pb));
	svf_unpin_run(p, va, pa, 1);
	assert_int_equal(vmlck_kb(), base);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	assert_int_equal(svf_pinner_locked_bytes(p), 0);
	svf_pinner_destroy(p);
	munmap(buf, 4 * PG);
}

/* ---- 2 MiB units kept as one entry (huge pages pinned whole) ---- */

/*
 * Returns 0, or the failing line (the scenario runs both here and in a forked
 * child, where cmocka's asserts must not be used).
 */
#define UCHECK(c)                                                                   \
	do {                                                                        \
		if (!(c)) {                                                         \
			fprintf(stderr, "whole-unit check failed at %s:%d: %s\n",   \
				__FILE__, __LINE__, #c);                            \
			return __LINE__;                                            \
		}                                                                   \
	} while (0)

#define WPAGES 1024 /* two 2 MiB units */

struct wrun {
	uint64_t start, n, phys; /* page index in the range, pages, first frame's address */
};

struct wruns {
	struct wrun r[WPAGES];
	unsigned nr;
};

/*
 * Pin pages [a, b) of u, recording the runs. With fresh, the frames the runs
 * got go into f (pages that were not pinned may have moved since pagemap was
 * read: khugepaged, compaction); else each page must keep the frame in f.
 */
static int wpin(struct svf_pinner *p, uint8_t *u, uint64_t *f, uint64_t a, uint64_t b,
		bool write, bool fresh, struct wruns *runs)
{
	runs->nr = 0;
	while (a < b) {
		uint64_t phys, got;

		UCHECK(svf_pin_run(p, (uintptr_t)u + a * PG, b - a, write, &phys, &got) == 0);
		UCHECK(got >= 1 && got <= b - a);
		for (uint64_t i = 0; i < got; i++) {
			if (fresh)
				f[a + i] = phys / PG + i;
			UCHECK(f[a + i] == phys / PG + i);
		}
		runs->r[runs->nr++] = (struct wrun){ a, got, phys };
		a += got;
	}
	return 0;
}

/* Units of f that are one aligned 2 MiB block of frames. */
static unsigned wunits(const uint64_t *f, bool whole[2])
{
	for (unsigned k = 0; k < 2; k++) {
		const uint64_t *g = &f[k * 512];

		whole[k] = !(g[0] & 511);
		for (unsigned j = 1; j < 512; j++)
			whole[k] = whole[k] && g[j] == g[0] + j;
	}
	return whole[0] + whole[1];
}

/* Unpin pages [a, b) of what runs pinned, one call per run it meets. */
static void wunpin(struct svf_pinner *p, uint8_t *u, const struct wruns *runs, uint64_t a,
		   uint64_t b)
{
	for (unsigned i = 0; i < runs->nr; i++) {
		const struct wrun *r = &runs->r[i];
		uint64_t s = a > r->start ? a : r->start, e = b < r->start + r->n ? b : r->start + r->n;

		if (s < e)
			svf_unpin_run(p, (uintptr_t)u + s * PG, r->phys + (s - r->start) * PG, e - s);
	}
}

/* pagemap_frame without cmocka's asserts (the scenario also runs in a child): 0 when absent. */
static uint64_t pagemap_frame_nocheck(const void *va, bool real)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)va / PG * sizeof(e))) != sizeof(e))
		e = 0;
	close(fd);
	if (!(e & PM_PRESENT))
		return 0;
	return real ? (e & PM_PFN_MASK) : (uintptr_t)va / PG;
}

/* Every page of [a, b) has refs references and, when pinned, its CPU address. */
static int wrefs(struct svf_pinner *p, uint8_t *u, const uint64_t *f, uint64_t a, uint64_t b,
		 uint64_t refs)
{
	for (uint64_t i = a; i < b; i++) {
		UCHECK(svf_pinner_refcount(p, f[i] * PG) == refs);
		if (refs)
			UCHECK(svf_pinner_phys_to_ptr(p, f[i] * PG + 8) == u + i * PG + 8);
		else
			UCHECK(svf_pinner_phys_to_ptr(p, f[i] * PG + 8) == NULL);
	}
	return 0;
}

/*
 * Two 2 MiB units asked for as transparent huge pages (without real frame
 * numbers the virtual page stands in, so both units are always whole). A
 * unit whose frames pagemap shows as one aligned 2 MiB block is kept as one
 * entry; pins that split it, and unpins of part of it, turn it into 4 KiB
 * entries, and every page's count, CPU address and lock stay exact throughout.
 */
static int whole_scenario(struct svf_pinner *p, bool real, bool window)
{
	static struct wruns all, again, one;
	uint64_t f[WPAGES];
	unsigned nwhole;
	bool whole[2];
	uint8_t *raw, *u;
	long base;
	int ret;

	raw = mmap(NULL, WPAGES * PG + SZ_2M, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	UCHECK(raw != MAP_FAILED);
	u = (uint8_t *)(((uintptr_t)raw + SZ_2M - 1) & ~(uintptr_t)(SZ_2M - 1));
	madvise(u, WPAGES * PG, MADV_HUGEPAGE);
	for (uint64_t i = 0; i < WPAGES; i++)
		u[i * PG] = (uint8_t)(i * 7 + 1);
	base = vmlck_kb();
	UCHECK(base >= 0);

	/* everything, in one request: one entry per whole unit */
	if (window)
		svf_pinner_sample_begin(p);
	ret = wpin(p, u, f, 0, WPAGES, true, true, &all);
	if (window)
		svf_pinner_sample_end(p);
	UCHECK(ret == 0);
	UCHECK(pagemap_frame_nocheck(u, real) != 0);
	nwhole = wunits(f, whole);
	if (!real)
		UCHECK(nwhole == 2);
	UCHECK(svf_pinner_whole_units(p) == nwhole);
	UCHECK(svf_pinner_pinned_pages(p) == WPAGES && svf_pinner_locked_bytes(p) == WPAGES * PG);
	UCHECK(vmlck_kb() == base + 4096);
	UCHECK(wrefs(p, u, f, 0, WPAGES, 1) == 0);

	/* the second unit again, whole: the same entry counts two */
	UCHECK(wpin(p, u, f, 512, WPAGES, false, false, &again) == 0);
	UCHECK(svf_pinner_whole_units(p) == nwhole);
	UCHECK(wrefs(p, u, f, 512, WPAGES, 2) == 0);
	UCHECK(svf_pinner_locked_bytes(p) == (WPAGES + 512) * PG);

	/* one page of the first unit: that unit becomes 4 KiB entries */
	UCHECK(wpin(p, u, f, 5, 6, false, false, &one) == 0);
	UCHECK(svf_pinner_whole_units(p) == nwhole - whole[0]);
	UCHECK(wrefs(p, u, f, 0, 5, 1) == 0);
	UCHECK(wrefs(p, u, f, 5, 6, 2) == 0);
	UCHECK(wrefs(p, u, f, 6, 512, 1) == 0);

	wunpin(p, u, &again, 512, WPAGES);
	UCHECK(svf_pinner_whole_units(p) == nwhole - whole[0]);
	UCHECK(wrefs(p, u, f, 512, WPAGES, 1) == 0);
	wunpin(p, u, &one, 5, 6);
	UCHECK(wrefs(p, u, f, 0, 512, 1) == 0);
	UCHECK(vmlck_kb() == base + 4096);

	/* part of the second unit goes: it splits, the rest stays pinned and locked */
	wunpin(p, u, &all, 612, 712);
	UCHECK(svf_pinner_whole_units(p) == 0);
	UCHECK(wrefs(p, u, f, 512, 612, 1) == 0);
	UCHECK(wrefs(p, u, f, 612, 712, 0) == 0);
	UCHECK(wrefs(p, u, f, 712, WPAGES, 1) == 0);
	UCHECK(vmlck_kb() == base + 4096 - 400);
	wunpin(p, u, &all, 0, 612);
	wunpin(p, u, &all, 712, WPAGES);
	UCHECK(svf_pinner_pinned_pages(p) == 0 && svf_pinner_locked_bytes(p) == 0);
	UCHECK(vmlck_kb() == base);
	UCHECK(wrefs(p, u, f, 0, WPAGES, 0) == 0);

	/* whole units unpinned whole */
	UCHECK(wpin(p, u, f, 0, WPAGES, true, true, &all) == 0);
	UCHECK(svf_pinner_whole_units(p) == wunits(f, whole));
	wunpin(p, u, &all, 0, WPAGES);
	UCHECK(svf_pinner_whole_units(p) == 0 && svf_pinner_pinned_pages(p) == 0);
	UCHECK(vmlck_kb() == base);
	UCHECK(wrefs(p, u, f, 0, WPAGES, 0) == 0);

	/* a whole unit that leaves the process stays reachable until its last unpin */
	UCHECK(wpin(p, u, f, 0, WPAGES, true, true, &all) == 0);
	UCHECK(svf_pinner_release(p, (uintptr_t)u, 512 * PG) == 0);
	for (uint64_t i = 0; i < 512; i += 73) {
		uint8_t *q = svf_pinner_phys_to_ptr(p, f[i] * PG);

		UCHECK(q && q != u + i * PG && *q == (uint8_t)(i * 7 + 1));
	}
	UCHECK(wrefs(p, u, f, 512, WPAGES, 1) == 0);
	wunpin(p, u, &all, 0, WPAGES);
	UCHECK(svf_pinner_pinned_pages(p) == 0);
	UCHECK(svf_pinner_phys_to_ptr(p, f[0] * PG) == NULL);
	munmap(raw, WPAGES * PG + SZ_2M);
	return 0;
}

static void test_proc_whole_units(void **state)
{
	struct svf_pinner *p = new_process_pinner();

	(void)state;
	assert_int_equal(whole_scenario(p, svf_pinner_pfns_real(p), false), 0);
	assert_int_equal(whole_scenario(p, svf_pinner_pfns_real(p), true), 0);
	svf_pinner_destroy(p);
}

/* ---- lock granules: small requests inside huge pages keep 2 MiB locked ---- */

#define GRANS 4 /* granules of the test range */

/* One pin of one page, as one MAP_DMA makes it (inside a limit-sampling window). */
static int gpin(struct svf_pinner *p, const uint8_t *va, uint64_t *phys)
{
	uint64_t n = 0;
	int ret;

	svf_pinner_sample_begin(p);
	ret = svf_pin_run(p, (uintptr_t)va, 1, true, phys, &n);
	svf_pinner_sample_end(p);
	return ret ? ret : n == 1 ? 0 : -EIO;
}

/*
 * Whether the pinner will lock the granule of va whole: pagemap shows the
 * page where a huge page would put it (what the pinner asks), and the
 * kernel (or valgrind, which lacks it) takes mlock2's MLOCK_ONFAULT.
 */
static bool looks_huge(uint8_t *va)
{
	uint64_t f = pagemap_frame_nocheck(va, true);
	bool onfault = syscall(SYS_mlock2, va, PG, 1 /* MLOCK_ONFAULT */) == 0;

	if (onfault)
		syscall(SYS_munlock, va, PG);
	return onfault && f && !((f ^ ((uintptr_t)va / PG)) & 511);
}

static uint8_t *map_granules(uint8_t **raw)
{
	*raw = mmap(NULL, GRANS * SZ_2M + SZ_2M, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*raw == MAP_FAILED)
		return NULL;
	uint8_t *u = (uint8_t *)(((uintptr_t)*raw + SZ_2M - 1) & ~(uintptr_t)(SZ_2M - 1));

	madvise(u, GRANS * SZ_2M, MADV_HUGEPAGE);
	for (uint64_t i = 0; i < GRANS * SZ_2M / PG; i++)
		u[i * PG] = 1;
	return u;
}

/*
 * A 4 KiB MAP_DMA inside a huge page locks the page's 2 MiB granule once and
 * keeps it locked after the unpin; what is charged stays exactly the pinned
 * pages, and only the kernel's VmLck shows the granule. Memory mapped again
 * under a cached granule is seen, the cache is bounded in number and age,
 * and release and destroy give the locks back.
 */
static void test_proc_lock_granules(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	const bool real = svf_pinner_pfns_real(p);
	uint8_t *raw, *u = map_granules(&raw), *small;
	uint64_t phys, ph[3];
	bool huge;
	long base;

	(void)state;
	assert_non_null(u);
	base = vmlck_kb();
	huge = real && looks_huge(u + 5 * PG);

	/* without real frame numbers, or over 4 KiB pages, nothing is cached */
	assert_int_equal(gpin(p, u + 5 * PG, &phys), 0);
	assert_int_equal(svf_pinner_lock_cache(p, -1), huge ? 1 : 0);
	assert_int_equal(vmlck_kb(), base + (huge ? 2048 : 4));
	assert_int_equal(svf_pinner_locked_bytes(p), PG);
	assert_int_equal(svf_pinner_refcount(p, phys), 1);
	assert_int_equal(phys, pagemap_frame(u + 5 * PG, real) * PG);
	svf_unpin_run(p, (uintptr_t)u + 5 * PG, phys, 1);
	assert_int_equal(svf_pinner_locked_bytes(p), 0);
	assert_int_equal(svf_pinner_refcount(p, phys), 0);
	assert_int_equal(vmlck_kb(), base + (huge ? 2048 : 0)); /* cached after its last pin */

	/* more pins in the granule: no more locked, every count exact */
	for (int i = 0; i < 3; i++)
		assert_int_equal(gpin(p, u + (100 + 50 * i) * PG, &ph[i]), 0);
	assert_int_equal(gpin(p, u + 100 * PG, &phys), 0);
	assert_int_equal(phys, ph[0]);
	assert_int_equal(svf_pinner_refcount(p, ph[0]), 2);
	assert_int_equal(svf_pinner_refcount(p, ph[1]), 1);
	assert_int_equal(svf_pinner_locked_bytes(p), 4 * PG);
	assert_int_equal(vmlck_kb(), base + (huge ? 2048 : 12));
	svf_unpin_run(p, (uintptr_t)u + 100 * PG, ph[0], 1);
	for (int i = 0; i < 3; i++)
		svf_unpin_run(p, (uintptr_t)u + (100 + 50 * i) * PG, ph[i], 1);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	assert_int_equal(vmlck_kb(), base + (huge ? 2048 : 0));

	/*
	 * The program unmaps the memory and maps new memory there: the cached
	 * granule no longer locks anything, and the next pin must lock its page.
	 */
	assert_int_equal(munmap(u, GRANS * SZ_2M), 0);
	assert_true(mmap(u, GRANS * SZ_2M, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == u);
	madvise(u, GRANS * SZ_2M, MADV_HUGEPAGE);
	for (uint64_t i = 0; i < GRANS * SZ_2M / PG; i++)
		u[i * PG] = 2;
	assert_int_equal(gpin(p, u + 5 * PG, &phys), 0);
	assert_true(vmlck_kb() >= base + 4);
	assert_int_equal(vmlck_kb(), base + 4 + 2048 * (long)svf_pinner_lock_cache(p, -1));
	svf_unpin_run(p, (uintptr_t)u + 5 * PG, phys, 1);

	/* at most as many granules as allowed, least recently used out first */
	svf_pinner_lock_cache(p, 2);
	for (int k = 0; k < GRANS; k++) {
		assert_int_equal(gpin(p, u + k * SZ_2M + 7 * PG, &phys), 0);
		svf_unpin_run(p, (uintptr_t)u + k * SZ_2M + 7 * PG, phys, 1);
	}
	assert_true(svf_pinner_lock_cache(p, -1) <= 2);
	assert_int_equal(vmlck_kb(), base + 2048 * (long)svf_pinner_lock_cache(p, -1));

	/* idle granules go at the next unpin once 100 ms have passed */
	assert_int_equal(gpin(p, u + 5 * PG, &phys), 0);
	svf_unpin_run(p, (uintptr_t)u + 5 * PG, phys, 1);
	usleep(250 * 1000);
	small = map_anon(1, PROT_READ | PROT_WRITE);
	small[0] = 1;
	assert_int_equal(gpin(p, small, &phys), 0);
	svf_unpin_run(p, (uintptr_t)small, phys, 1);
	assert_int_equal(svf_pinner_lock_cache(p, -1), 0);
	assert_int_equal(vmlck_kb(), base);

	/* destroy gives back what is cached */
	assert_int_equal(gpin(p, u + 5 * PG, &phys), 0);
	svf_unpin_run(p, (uintptr_t)u + 5 * PG, phys, 1);
	svf_pinner_destroy(p);
	assert_int_equal(vmlck_kb(), base);

	/* release over a cached granule evicts it (memory about to leave must not stay locked) */
	p = new_process_pinner();
	bool huge3 = real && looks_huge(u + 3 * SZ_2M + 9 * PG); /* before anything is pinned */

	assert_int_equal(gpin(p, u + 3 * SZ_2M + 9 * PG, &phys), 0);
	assert_int_equal(gpin(p, u + 2 * SZ_2M + 9 * PG, &ph[0]), 0);
	unsigned before = svf_pinner_lock_cache(p, -1);

	assert_int_equal(svf_pinner_release(p, (uintptr_t)u + 3 * SZ_2M + 9 * PG, PG), 0);
	assert_int_equal(svf_pinner_lock_cache(p, -1), before - (huge3 ? 1 : 0));
	svf_unpin_run(p, (uintptr_t)u + 3 * SZ_2M + 9 * PG, phys, 1);
	svf_unpin_run(p, (uintptr_t)u + 2 * SZ_2M + 9 * PG, ph[0], 1);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_pinner_destroy(p);
	munmap(small, PG);
	munmap(raw, GRANS * SZ_2M + SZ_2M);
}

/*
 * Child without CAP_IPC_LOCK: the kernel's own limit counts a cached
 * granule, the pinner's accounting does not; a pin that fits the accounting
 * but not the kernel's count with the granule evicts the granule and succeeds.
 */
static void child_granule_limit(void)
{
	struct rlimit rl = { .rlim_cur = SZ_2M + 16 * PG, .rlim_max = SZ_2M + 16 * PG };
	struct svf_pinner_config cfg = { .backend = SVF_BACKEND_PROCESS };
	struct svf_pinner *p;
	uint8_t *raw, *u, *small;
	uint64_t phys, n, done = 0;
	bool huge;

	CHILD_CHECK(drop_caps(1ULL << CAP_IPC_LOCK) == 0);
	CHILD_CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);
	CHILD_CHECK(svf_pinner_create(&cfg, &p) == 0);
	u = map_granules(&raw);
	CHILD_CHECK(u != NULL);
	huge = svf_pinner_pfns_real(p) && looks_huge(u + 5 * PG);
	CHILD_CHECK(gpin(p, u + 5 * PG, &phys) == 0);
	svf_unpin_run(p, (uintptr_t)u + 5 * PG, phys, 1);
	CHILD_CHECK(svf_pinner_lock_cache(p, -1) == (huge ? 1u : 0u));
	small = mmap(NULL, 24 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHILD_CHECK(small != MAP_FAILED);
	memset(small, 1, 24 * PG);
	while (done < 24) {
		CHILD_CHECK(svf_pin_run(p, (uintptr_t)small + done * PG, 24 - done, true, &phys,
					&n) == 0);
		done += n;
	}
	CHILD_CHECK(svf_pinner_locked_bytes(p) == 24 * PG);
	CHILD_CHECK(svf_pinner_lock_cache(p, -1) == 0);
	CHILD_CHECK(vmlck_kb() == 24 * 4);
	svf_pinner_destroy(p);
	CHILD_CHECK(vmlck_kb() == 0);
}

static void test_proc_lock_granule_limit(void **state)
{
	(void)state;
	if (!have_cap(CAP_IPC_LOCK))
		skip(); /* the test needs the capability to drop */
	run_child(child_granule_limit);
}

/* Unpinning part of a run, in pieces, in another order than pinned. */
static void test_proc_partial_unpin(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	uint8_t *buf = map_anon(8, PROT_READ | PROT_WRITE);
	uint64_t va = (uintptr_t)buf, phys, n;
	long base = vmlck_kb();

	(void)state;
	assert_int_equal(svf_pin_run(p, va, 8, false, &phys, &n), 0);
	assert_true(n >= 1);
	assert_int_equal(vmlck_kb(), base + (long)(4 * n));
	if (n >= 3) {
		svf_unpin_run(p, va + PG, phys + PG, 1);
		assert_int_equal(vmlck_kb(), base + (long)(4 * (n - 1)));
		assert_int_equal(svf_pinner_refcount(p, phys + PG), 0);
		assert_int_equal(svf_pinner_refcount(p, phys + 2 * PG), 1);
		svf_unpin_run(p, va + 2 * PG, phys + 2 * PG, n - 2);
		svf_unpin_run(p, va, phys, 1);
	} else {
		svf_unpin_run(p, va, phys, n);
	}
	assert_int_equal(vmlck_kb(), base);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_pinner_destroy(p);
	munmap(buf, 8 * PG);
}

static void test_proc_memfd_aliases(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	bool real = svf_pinner_pfns_real(p);
	int fd = memfd_create("svf-pin-alias", 0);
	uint8_t *a, *b;
	uint64_t fa[2], fb[2], n;
	long base = vmlck_kb();

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 2 * PG), 0);
	a = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	b = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(a != MAP_FAILED && b != MAP_FAILED);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(svf_pin_run(p, (uintptr_t)a + i * PG, 1, true, &fa[i], &n), 0);
		assert_int_equal(svf_pin_run(p, (uintptr_t)b + i * PG, 1, true, &fb[i], &n), 0);
	}
	assert_int_equal(vmlck_kb(), base + 16); /* each mapping mlocked on its own */
	for (int i = 0; i < 2; i++) {
		if (real) {
			assert_int_equal(fa[i], fb[i]);
			assert_int_equal(fa[i], pagemap_frame(a + i * PG, true) * PG);
			assert_int_equal(svf_pinner_refcount(p, fa[i]), 2);
		} else {
			assert_int_equal(fa[i], (uintptr_t)a + i * PG);
			assert_int_equal(fb[i], (uintptr_t)b + i * PG);
			assert_int_equal(svf_pinner_refcount(p, fa[i]), 1);
		}
	}
	/* the device pointer reaches the shared page whichever alias it names */
	uint8_t *dev = svf_pinner_phys_to_ptr(p, fa[0] + 40);

	assert_true(dev == a + 40 || dev == b + 40);
	*dev = 0x5a;
	assert_int_equal(a[40], 0x5a);
	assert_int_equal(b[40], 0x5a);

	/* the alias that goes first must not leave the frame pointing at it */
	svf_unpin_run(p, (uintptr_t)a, fa[0], 1);
	assert_int_equal(vmlck_kb(), base + 12);
	if (real) {
		assert_int_equal(svf_pinner_refcount(p, fa[0]), 1);
		assert_ptr_equal(svf_pinner_phys_to_ptr(p, fa[0] + 1), b + 1);
	} else {
		assert_null(svf_pinner_phys_to_ptr(p, fa[0]));
	}
	svf_unpin_run(p, (uintptr_t)b, fb[0], 1);
	assert_int_equal(svf_pinner_refcount(p, fb[0]), 0);
	assert_null(svf_pinner_phys_to_ptr(p, fb[0]));
	/* and the other page, in the other order */
	svf_unpin_run(p, (uintptr_t)b + PG, fb[1], 1);
	if (real)
		assert_ptr_equal(svf_pinner_phys_to_ptr(p, fa[1]), a + PG);
	svf_unpin_run(p, (uintptr_t)a + PG, fa[1], 1);
	assert_null(svf_pinner_phys_to_ptr(p, fa[1]));
	assert_int_equal(vmlck_kb(), base);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_pinner_destroy(p);
	munmap(a, 2 * PG);
	munmap(b, 2 * PG);
	close(fd);
}

/* One memfd page mapped at two adjacent virtual pages: frames F, F, never F, F+1. */
static void test_proc_run_splits_at_discontinuity(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	bool real = svf_pinner_pfns_real(p);
	int fd = memfd_create("svf-pin-split", 0);
	uint8_t *v;
	uint64_t va, phys, n, phys2, n2;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, PG), 0);
	v = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(v != MAP_FAILED);
	assert_true(mmap(v + PG, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
		    v + PG);
	va = (uintptr_t)v;
	assert_int_equal(svf_pin_run(p, va, 2, false, &phys, &n), 0);
	if (real) {
		assert_int_equal(n, 1);
		assert_int_equal(svf_pin_run(p, va + PG, 1, false, &phys2, &n2), 0);
		assert_int_equal(phys2, phys);
		assert_int_equal(svf_pinner_refcount(p, phys), 2);
		svf_unpin_run(p, va + PG, phys2, 1);
	} else {
		assert_int_equal(n, 2); /* virtual contiguity stands in */
		assert_int_equal(phys, va);
		svf_unpin_run(p, va + PG, phys + PG, 1);
	}
	svf_unpin_run(p, va, phys, 1);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_pinner_destroy(p);
	munmap(v, 2 * PG);
	close(fd);
}

static void test_proc_efault_hole(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	uint8_t *buf = map_anon(4, PROT_READ | PROT_WRITE);
	uint64_t va = (uintptr_t)buf, phys = 7, n = 7, phys0, n0;
	long base = vmlck_kb();

	(void)state;
	assert_int_equal(munmap(buf + 2 * PG, PG), 0);
	/* the hole as the first page: an error, nothing pinned or locked */
	assert_int_equal(svf_pin_run(p, va + 2 * PG, 2, false, &phys, &n), -EFAULT);
	assert_int_equal(n, 0);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	assert_int_equal(svf_pinner_locked_bytes(p), 0);
	assert_int_equal(vmlck_kb(), base);
	/* the hole later: the run ends short before it */
	assert_int_equal(svf_pin_run(p, va, 4, false, &phys0, &n0), 0);
	assert_true(n0 >= 1 && n0 <= 2);
	if (n0 == 1) {
		assert_int_equal(svf_pin_run(p, va + PG, 3, false, &phys, &n), 0);
		assert_int_equal(n, 1);
		svf_unpin_run(p, va + PG, phys, 1);
	}
	assert_int_equal(svf_pinner_pinned_pages(p), n0);
	assert_int_equal(vmlck_kb(), base + 4 * (long)n0);
	/* a hole beyond any mapping, and the top of the address space */
	assert_int_equal(svf_pin_run(p, 1ULL << 62, 1, false, &phys, &n), -EFAULT);
	assert_int_equal(svf_pin_run(p, UINT64_MAX - PG + 1, 1, true, &phys, &n), -EFAULT);
	assert_int_equal(svf_pinner_lookup(p, va + 2 * PG, &phys), -EFAULT);
	svf_unpin_run(p, va, phys0, n0);
	assert_int_equal(vmlck_kb(), base);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_pinner_destroy(p);
	munmap(buf, 4 * PG);
}

/*
 * Pins inside a limit-sampling window (one MAP_DMA): the first pin locks
 * the whole request ahead of need; when the window closes, VmLck must be
 * exactly the pinned pages again, whether the request ended at its end, at
 * a hole, at a PROT_NONE page, at a read-only page of a write pin, or at
 * the memory limit.
 */
enum win_case { WIN_WHOLE, WIN_HOLE, WIN_PROT_NONE, WIN_READONLY, WIN_LIMIT };

/* The limit case runs in a child without CAP_IPC_LOCK, where cmocka cannot report. */
static bool win_in_child;
#define WCHECK(cond)                                                                \
	do {                                                                        \
		if (win_in_child)                                                   \
			CHILD_CHECK(cond);                                          \
		else                                                                \
			assert_true(cond);                                          \
	} while (0)

static void window_case(enum win_case wc)
{
	const uint64_t n = 64, bad = 40;
	struct svf_pinner_config cfg = { .backend = SVF_BACKEND_PROCESS };
	struct svf_pin_region r[64];
	uint8_t *buf = map_anon(n, PROT_READ | PROT_WRITE);
	uint64_t va = (uintptr_t)buf, done = 0, nr = 0, phys, got;
	struct svf_pinner *p;
	long base;
	int ret = 0;

	if (wc == WIN_LIMIT)
		cfg.memlock_limit_override = 20 * PG;
	WCHECK(svf_pinner_create(&cfg, &p) == 0);
	memset(buf, 1, n * PG);
	if (wc == WIN_HOLE)
		WCHECK(munmap(buf + bad * PG, PG) == 0);
	if (wc == WIN_PROT_NONE)
		WCHECK(mprotect(buf + bad * PG, PG, PROT_NONE) == 0);
	if (wc == WIN_READONLY)
		WCHECK(mprotect(buf + bad * PG, PG, PROT_READ) == 0);
	base = vmlck_kb();
	svf_pinner_sample_begin(p);
	while (done < n) {
		ret = svf_pin_run(p, va + done * PG, n - done, true, &phys, &got);
		if (ret)
			break;
		r[nr++] = (struct svf_pin_region){ .vaddr = va + done * PG, .phys = phys, .npages = got };
		done += got;
	}
	svf_pinner_sample_end(p);
	switch (wc) {
	case WIN_WHOLE:
		WCHECK(ret == 0);
		WCHECK(done == n);
		break;
	case WIN_LIMIT:
		WCHECK(ret == -ENOMEM);
		WCHECK(done <= 20);
		break;
	default:
		WCHECK(ret == -EFAULT);
		WCHECK(done == bad);
	}
	WCHECK(svf_pinner_pinned_pages(p) == done);
	WCHECK(vmlck_kb() == base + 4 * (long)done);
	svf_unpin_runs(p, r, nr); /* one call: adjacent regions share their munlock */
	WCHECK(vmlck_kb() == base);
	WCHECK(svf_pinner_pinned_pages(p) == 0);
	WCHECK(svf_pinner_locked_bytes(p) == 0);
	svf_pinner_destroy(p);
	munmap(buf, n * PG);
}

static void test_proc_window_whole(void **state)
{
	(void)state;
	svf_pinner_destroy(new_process_pinner()); /* skips where the backend cannot run */
	window_case(WIN_WHOLE);
}
static void test_proc_window_hole(void **state) { (void)state; window_case(WIN_HOLE); }
static void test_proc_window_prot_none(void **state) { (void)state; window_case(WIN_PROT_NONE); }
static void test_proc_window_readonly(void **state) { (void)state; window_case(WIN_READONLY); }
static void child_window_limit(void)
{
	win_in_child = true;
	CHILD_CHECK(drop_caps(1ULL << CAP_IPC_LOCK) == 0);
	window_case(WIN_LIMIT);
}

static void test_proc_window_limit(void **state)
{
	(void)state;
	svf_pinner_destroy(new_process_pinner()); /* skips where the backend cannot run */
	run_child(child_window_limit);
}

/* A window's lock spares pages another pin holds, and an unpin munlocks only at zero. */
static void test_proc_window_shared_pages(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	uint8_t *buf = map_anon(16, PROT_READ | PROT_WRITE);
	uint64_t va = (uintptr_t)buf, phys[16], got, done;
	long base;

	(void)state;
	memset(buf, 1, 16 * PG);
	base = vmlck_kb();
	/* pages 4..7 pinned outside any window */
	pin_all(p, va + 4 * PG, 4, true);
	assert_int_equal(vmlck_kb(), base + 16);
	/* a window over pages 0..15 that fails at a hole made at page 12 */
	assert_int_equal(munmap(buf + 12 * PG, PG), 0);
	svf_pinner_sample_begin(p);
	for (done = 0; done < 16; done += got) {
		if (svf_pin_run(p, va + done * PG, 16 - done, true, &phys[done], &got))
			break;
		svf_unpin_run(p, va + done * PG, phys[done], got); /* a map undone at once */
	}
	svf_pinner_sample_end(p);
	assert_int_equal(done, 12);
	assert_int_equal(vmlck_kb(), base + 16); /* only the pages pinned outside stay locked */
	assert_int_equal(svf_pinner_pinned_pages(p), 4);
	assert_int_equal(svf_pinner_lookup(p, va + 4 * PG, &phys[0]), 0);
	svf_unpin_run(p, va + 4 * PG, phys[0], 1);
	/* page by page: 5..7 need not be physically contiguous with each other */
	for (unsigned i = 5; i < 8; i++) {
		assert_int_equal(svf_pinner_lookup(p, va + i * PG, &phys[2]), 0);
		svf_unpin_run(p, va + i * PG, phys[2], 1);
	}
	assert_int_equal(vmlck_kb(), base);
	svf_pinner_destroy(p);
	munmap(buf, 16 * PG);
}

/* Another thread pins and releases a page inside an open window's range. */
struct win_peer {
	struct svf_pinner *p;
	uint64_t va;
	int ret;
};

static void *win_peer_fn(void *arg)
{
	struct win_peer *w = arg;
	uint64_t phys, got;

	w->ret = svf_pin_run(w->p, w->va, 1, true, &phys, &got);
	if (!w->ret)
		svf_unpin_run(w->p, w->va, phys, got);
	return NULL;
}

/*
 * The window keeps the rest of its request locked for the pins still to
 * come: a page that a pin of another thread (no window) takes and releases
 * meanwhile must stay locked, so that the window's later pin of it holds a
 * locked page.
 */
static void test_proc_window_peer_unpin(void **state)
{
	const uint64_t n = 64;
	struct svf_pinner *p = new_process_pinner();
	uint8_t *buf = map_anon(n, PROT_READ | PROT_WRITE);
	struct win_peer w = { .p = p, .ret = -1 };
	uint64_t va = (uintptr_t)buf, phys[64], got[64], done = 0, nr = 0;
	pthread_t t;
	long base;

	(void)state;
	memset(buf, 1, n * PG);
	base = vmlck_kb();
	svf_pinner_sample_begin(p);
	assert_int_equal(svf_pin_run(p, va, 1, true, &phys[0], &got[0]), 0);
	/* a one-page window, undone at once: nothing stays locked */
	svf_unpin_run(p, va, phys[0], got[0]);
	svf_pinner_sample_end(p);
	assert_int_equal(vmlck_kb(), base);

	svf_pinner_sample_begin(p);
	assert_int_equal(svf_pin_run(p, va, n, true, &phys[0], &got[0]), 0);
	done = got[0];
	nr = 1;
	assert_int_equal(vmlck_kb(), base + 4 * (long)n); /* the whole request is locked */
	if (done < n) {
		/* a page the window has not reached yet (runs end where frames do) */
		w.va = va + (done + (n - done) / 2) * PG;
		assert_int_equal(pthread_create(&t, NULL, win_peer_fn, &w), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(w.ret, 0);
		assert_int_equal(vmlck_kb(), base + 4 * (long)n); /* the peer spared the window */
	}
	while (done < n) {
		assert_int_equal(svf_pin_run(p, va + done * PG, n - done, true, &phys[nr], &got[nr]),
				 0);
		done += got[nr++];
	}
	svf_pinner_sample_end(p);
	assert_int_equal(vmlck_kb(), base + 4 * (long)n);
	for (uint64_t i = 0, off = 0; i < nr; off += got[i++])
		svf_unpin_run(p, va + off * PG, phys[i], got[i]);
	assert_int_equal(vmlck_kb(), base);
	svf_pinner_destroy(p);
	munmap(buf, n * PG);
}

static void test_proc_efault_prot_none(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	uint8_t *buf = map_anon(3, PROT_READ | PROT_WRITE);
	uint64_t va = (uintptr_t)buf, phys, n;
	long base = vmlck_kb();

	(void)state;
	buf[PG] = 1; /* present before it loses access: PROT_NONE, not absent, is the cause */
	assert_int_equal(mprotect(buf + PG, PG, PROT_NONE), 0);
	for (int w = 0; w < 2; w++) {
		assert_int_equal(svf_pin_run(p, va + PG, 2, w, &phys, &n), -EFAULT);
		assert_int_equal(svf_pinner_pinned_pages(p), 0);
		assert_int_equal(svf_pinner_locked_bytes(p), 0);
		assert_int_equal(vmlck_kb(), base);
	}
	assert_int_equal(svf_pin_run(p, va, 3, false, &phys, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(vmlck_kb(), base + 4);
	svf_unpin_run(p, va, phys, 1);
	assert_int_equal(vmlck_kb(), base);
	svf_pinner_destroy(p);
	munmap(buf, 3 * PG);
}

static void test_proc_write_pin_readonly(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	uint8_t *ro = map_anon(2, PROT_READ);
	uint64_t va = (uintptr_t)ro, phys, n;
	long base = vmlck_kb();

	(void)state;
	/* no SIGSEGV, no pin: a write pin of read-only memory is EFAULT */
	assert_int_equal(svf_pin_run(p, va, 2, true, &phys, &n), -EFAULT);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	assert_int_equal(vmlck_kb(), base);
	/* a read pin of the same memory is fine */
	assert_int_equal(svf_pin_run(p, va, 2, false, &phys, &n), 0);
	if (svf_pinner_pfns_real(p))
		assert_int_equal(n, 1); /* both pages are the one zero page: F, F */
	svf_unpin_run(p, va, phys, n);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	assert_int_equal(vmlck_kb(), base);
	svf_pinner_destroy(p);
	munmap(ro, 2 * PG);
}

/* A write pin gets the page's own frame, not the copy-on-write zero page. */
static void test_proc_write_pin_breaks_cow(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	bool real = svf_pinner_pfns_real(p);
	uint8_t *buf = map_anon(2, PROT_READ | PROT_WRITE);
	volatile uint8_t sink;
	uint64_t zero0, zero1, phys, n, lk;

	(void)state;
	sink = buf[0];
	sink = buf[PG];
	(void)sink;
	zero0 = pagemap_frame(buf, real);
	zero1 = pagemap_frame(buf + PG, real);
	assert_int_not_equal(zero0, 0);
	if (real)
		assert_int_equal(zero0, zero1); /* both read-faulted onto the zero page */
	assert_int_equal(svf_pin_run(p, (uintptr_t)buf, 1, true, &phys, &n), 0);
	assert_int_equal(n, 1);
	if (real)
		assert_int_not_equal(phys, zero0 * PG);
	assert_int_equal(phys, pagemap_frame(buf, real) * PG);
	assert_int_equal(svf_pinner_lookup(p, (uintptr_t)buf, &lk), 0);
	assert_int_equal(lk, phys);
	/* what the device writes through the pinned frame, the process reads */
	uint8_t *dev = svf_pinner_phys_to_ptr(p, phys + 17);

	assert_non_null(dev);
	*dev = 0xa5;
	assert_int_equal(buf[17], 0xa5);
	svf_unpin_run(p, (uintptr_t)buf, phys, 1);
	svf_pinner_destroy(p);
	munmap(buf, 2 * PG);
}

static void test_proc_fault_pin(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	uint8_t *buf = map_anon(4, PROT_READ | PROT_WRITE);
	uint64_t phys, n;
	long base = vmlck_kb();

	(void)state;
	if (svf_fault_arm(1, 1u << SVF_FAULT_PIN) == -ENOTSUP) {
		svf_pinner_destroy(p);
		munmap(buf, 4 * PG);
		skip();
	}
	assert_int_equal(svf_pin_run(p, (uintptr_t)buf, 4, true, &phys, &n), -EFAULT);
	assert_true(svf_fault_disarm());
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	assert_int_equal(svf_pinner_locked_bytes(p), 0);
	assert_int_equal(vmlck_kb(), base);
	/* and it works once disarmed */
	pin_all(p, (uintptr_t)buf, 4, true);
	unpin_all(p, (uintptr_t)buf, 4);
	assert_int_equal(vmlck_kb(), base);
	svf_pinner_destroy(p);
	munmap(buf, 4 * PG);
}

/*
 * Every allocation of create, pin and unpin fails in turn. A pin that fails
 * leaves nothing pinned, charged or locked; ASan checks nothing leaks.
 */
static void test_proc_fault_alloc_walk(void **state)
{
	const uint64_t n = 600;
	uint8_t *buf = map_anon(n, PROT_READ | PROT_WRITE);
	long base = vmlck_kb();
	bool fired = true;

	(void)state;
	if (svf_fault_arm(1, 1u << SVF_FAULT_ALLOC) == -ENOTSUP) {
		munmap(buf, n * PG);
		skip();
	}
	svf_fault_disarm();
	for (uint64_t nth = 1; fired; nth++) {
		struct svf_pinner_config cfg = { .backend = SVF_BACKEND_PROCESS };
		struct svf_pinner *p = NULL;
		uint64_t done = 0, phys, got;
		int ret;

		assert_true(nth < 1000);
		svf_fault_arm(nth, 1u << SVF_FAULT_ALLOC);
		ret = svf_pinner_create(&cfg, &p);
		if (ret == -EOPNOTSUPP) {
			svf_fault_disarm();
			munmap(buf, n * PG);
			skip();
		}
		if (ret) {
			assert_int_equal(ret, -ENOMEM);
			assert_true(svf_fault_disarm());
			continue;
		}
		while (done < n) {
			ret = svf_pin_run(p, (uintptr_t)buf + done * PG, n - done, true, &phys, &got);
			if (ret)
				break;
			done += got;
		}
		fired = svf_fault_disarm();
		if (ret) {
			assert_int_equal(ret, -ENOMEM);
			assert_true(fired);
		}
		assert_int_equal(svf_pinner_pinned_pages(p), done);
		assert_int_equal(svf_pinner_locked_bytes(p), done * PG);
		assert_int_equal(vmlck_kb(), base + 4 * (long)done);
		unpin_all(p, (uintptr_t)buf, done);
		assert_int_equal(svf_pinner_pinned_pages(p), 0);
		assert_int_equal(vmlck_kb(), base);
		svf_pinner_destroy(p);
	}
	munmap(buf, n * PG);
}

struct race {
	struct svf_pinner *p;
	uint64_t phys;
	void *want;
	_Atomic bool stop;
	_Atomic uint64_t bad;
	_Atomic uint64_t reads;
};

static void *race_reader(void *arg)
{
	struct race *r = arg;

	while (!atomic_load(&r->stop) || atomic_load(&r->reads) < 1000) {
		if (svf_pinner_phys_to_ptr(r->p, r->phys + 8) != (uint8_t *)r->want + 8)
			atomic_fetch_add(&r->bad, 1);
		atomic_fetch_add(&r->reads, 1);
	}
	return NULL;
}

/* The device path reads without the lock while another thread pins and unpins. */
static void test_proc_phys_to_ptr_races_pins(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	const uint64_t n = 1024;
	uint8_t *stable = map_anon(1, PROT_READ | PROT_WRITE);
	uint8_t *churn = map_anon(n, PROT_READ | PROT_WRITE);
	struct race r = { .p = p };
	pthread_t t;
	uint64_t got;

	(void)state;
	assert_int_equal(svf_pin_run(p, (uintptr_t)stable, 1, true, &r.phys, &got), 0);
	r.want = stable;
	assert_int_equal(pthread_create(&t, NULL, race_reader, &r), 0);
	for (int round = 0; round < 20; round++) {
		pin_all(p, (uintptr_t)churn, n, round & 1);
		unpin_all(p, (uintptr_t)churn, n);
	}
	atomic_store(&r.stop, true);
	pthread_join(t, NULL);
	assert_int_equal(atomic_load(&r.bad), 0);
	assert_true(atomic_load(&r.reads) >= 1000);
	svf_unpin_run(p, (uintptr_t)stable, r.phys, 1);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_pinner_destroy(p);
	munmap(stable, PG);
	munmap(churn, n * PG);
}

static void test_proc_destroy_with_pins(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	uint8_t *buf = map_anon(8, PROT_READ | PROT_WRITE);
	long base = vmlck_kb();

	(void)state;
	pin_all(p, (uintptr_t)buf, 8, true);
	pin_all(p, (uintptr_t)buf, 3, false);
	assert_int_equal(vmlck_kb(), base + 32);
	svf_pinner_destroy(p);
	assert_int_equal(vmlck_kb(), base);
	munmap(buf, 8 * PG);
}

/* ---- released and rebased ranges: slots reused ---- */

#define RELOC_LIMIT 1024 /* released or rebased ranges alive at once (pin.h: -ENOSPC) */

/*
 * A released or rebased range lives until the last pin through it goes, and
 * then frees its slot: release (and rebase) / unpin cycles far beyond the
 * limit succeed; RELOC_LIMIT ranges alive at once still fill it, and one
 * more is -ENOSPC with its pages left in place until one range dies.
 */
static void test_proc_release_slots_reused(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	const uint64_t n = RELOC_LIMIT + 1;
	uint8_t *buf = map_anon(2 * n, PROT_READ | PROT_WRITE);
	uint64_t va = (uintptr_t)buf, *phys = calloc(n, sizeof(*phys)), got;
	uint8_t *q;

	(void)state;
	assert_non_null(phys);
	for (unsigned i = 0; i < 3 * RELOC_LIMIT; i++) {
		buf[0] = (uint8_t)i;
		assert_int_equal(svf_pin_run(p, va, 1, true, &phys[0], &got), 0);
		assert_int_equal(got, 1);
		if (i % 2) {
			assert_int_equal(svf_pinner_rebase(p, va, va + PG, PG), 0);
			q = svf_pinner_phys_to_ptr(p, phys[0]);
			assert_ptr_equal(q, buf + PG);
		} else {
			assert_int_equal(svf_pinner_release(p, va, PG), 0);
			q = svf_pinner_phys_to_ptr(p, phys[0]);
			assert_true(q && q != buf && *q == (uint8_t)i);
		}
		svf_unpin_run(p, va, phys[0], 1);
		assert_null(svf_pinner_phys_to_ptr(p, phys[0]));
	}

	/* RELOC_LIMIT ranges alive at once, one page each (every other page). */
	for (uint64_t i = 0; i < n; i++) {
		buf[2 * i * PG] = (uint8_t)(i * 3 + 1);
		assert_int_equal(svf_pin_run(p, va + 2 * i * PG, 1, true, &phys[i], &got), 0);
		assert_int_equal(got, 1);
	}
	for (uint64_t i = 0; i < RELOC_LIMIT; i++)
		assert_int_equal(svf_pinner_release(p, va + 2 * i * PG, PG), 0);
	assert_int_equal(svf_pinner_release(p, va + 2 * RELOC_LIMIT * PG, PG), -ENOSPC);
	assert_int_equal(svf_pinner_rebase(p, va + 2 * RELOC_LIMIT * PG, va + PG, PG), -ENOSPC);
	/* The page that did not move is still reached where it is. */
	assert_ptr_equal(svf_pinner_phys_to_ptr(p, phys[RELOC_LIMIT]), buf + 2 * RELOC_LIMIT * PG);
	svf_unpin_run(p, va + 2 * 7 * PG, phys[7], 1);
	assert_int_equal(svf_pinner_release(p, va + 2 * RELOC_LIMIT * PG, PG), 0);
	for (uint64_t i = 0; i < n; i++) {
		q = svf_pinner_phys_to_ptr(p, phys[i]);
		if (i == 7) {
			assert_null(q);
			continue;
		}
		assert_true(q && q != buf + 2 * i * PG && *q == (uint8_t)(i * 3 + 1));
	}
	for (uint64_t i = 0; i < n; i++)
		if (i != 7)
			svf_unpin_run(p, va + 2 * i * PG, phys[i], 1);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	for (uint64_t i = 0; i < n; i++)
		assert_null(svf_pinner_phys_to_ptr(p, phys[i]));
	free(phys);
	svf_pinner_destroy(p);
	munmap(buf, 2 * n * PG);
}

/*
 * A live update done twice moves the device to the newest address (the
 * container names the pages by the address they were pinned through, which
 * the first rebase had already moved); and pages released before a rebase
 * stay in the pinner's memory, which the rebase must not take for the
 * program's new mapping, nor their unpins for its own; and when the new
 * address is unmapped in its turn, its pages are released from there.
 */
static void test_proc_rebase_twice_and_after_release(void **state)
{
	struct svf_pinner *p = new_process_pinner();
	uint8_t *buf = map_anon(8, PROT_READ | PROT_WRITE);
	uint64_t va = (uintptr_t)buf, phys[2], got;
	uint8_t *q;

	(void)state;
	for (int i = 0; i < 2; i++) {
		buf[i * PG] = (uint8_t)(0x40 + i);
		assert_int_equal(svf_pin_run(p, va + i * PG, 1, true, &phys[i], &got), 0);
		assert_int_equal(got, 1);
	}
	assert_int_equal(svf_pinner_rebase(p, va, va + 2 * PG, 2 * PG), 0);
	assert_ptr_equal(svf_pinner_phys_to_ptr(p, phys[0]), buf + 2 * PG);
	assert_int_equal(svf_pinner_rebase(p, va, va + 4 * PG, 2 * PG), 0);
	assert_ptr_equal(svf_pinner_phys_to_ptr(p, phys[0]), buf + 4 * PG);
	assert_ptr_equal(svf_pinner_phys_to_ptr(p, phys[1]), buf + 5 * PG);
	svf_unpin_run(p, va, phys[0], 1);
	assert_ptr_equal(svf_pinner_phys_to_ptr(p, phys[1]), buf + 5 * PG);
	svf_unpin_run(p, va + PG, phys[1], 1);
	assert_null(svf_pinner_phys_to_ptr(p, phys[1]));
	assert_int_equal(svf_pinner_pinned_pages(p), 0);

	/* Page 0 released, then both rebased: page 0 stays where the pinner keeps it. */
	for (int i = 0; i < 2; i++) {
		buf[i * PG] = (uint8_t)(0x50 + i);
		assert_int_equal(svf_pin_run(p, va + i * PG, 1, true, &phys[i], &got), 0);
	}
	assert_int_equal(svf_pinner_release(p, va, PG), 0);
	assert_int_equal(svf_pinner_rebase(p, va, va + 4 * PG, 2 * PG), 0);
	q = svf_pinner_phys_to_ptr(p, phys[0]);
	assert_true(q && q != buf && q != buf + 4 * PG && *q == 0x50);
	assert_ptr_equal(svf_pinner_phys_to_ptr(p, phys[1]), buf + 5 * PG);
	svf_unpin_run(p, va, phys[0], 1);
	assert_null(svf_pinner_phys_to_ptr(p, phys[0]));
	assert_ptr_equal(svf_pinner_phys_to_ptr(p, phys[1]), buf + 5 * PG);
	svf_unpin_run(p, va + PG, phys[1], 1);
	assert_null(svf_pinner_phys_to_ptr(p, phys[1]));
	assert_int_equal(svf_pinner_pinned_pages(p), 0);

	/* The new address unmapped in its turn: the pages are released from there. */
	for (int i = 0; i < 2; i++) {
		buf[(6 + i) * PG] = (uint8_t)(0x60 + i);
		assert_int_equal(svf_pin_run(p, va + i * PG, 1, true, &phys[i], &got), 0);
	}
	assert_int_equal(svf_pinner_rebase(p, va, va + 6 * PG, 2 * PG), 0);
	assert_int_equal(svf_pinner_release(p, va + 6 * PG, 2 * PG), 0);
	for (int i = 0; i < 2; i++) {
		q = svf_pinner_phys_to_ptr(p, phys[i]);
		assert_true(q && q != buf + (6 + i) * PG && *q == 0x60 + i);
	}
	svf_unpin_run(p, va, phys[0], 1);
	assert_null(svf_pinner_phys_to_ptr(p, phys[0]));
	q = svf_pinner_phys_to_ptr(p, phys[1]);
	assert_true(q && *q == 0x61);
	svf_unpin_run(p, va + PG, phys[1], 1);
	assert_null(svf_pinner_phys_to_ptr(p, phys[1]));
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_pinner_destroy(p);
	munmap(buf, 8 * PG);
}

/*
 * Child: without CAP_IPC_LOCK and with RLIMIT_MEMLOCK at 64 KiB, 16 pages
 * pin and the 17th is -ENOMEM with nothing more pinned; the override replaces
 * the rlimit; the count is process-wide across pinners; destroy uncharges.
 */
static void child_memlock_limit(void)
{
	struct rlimit rl = { .rlim_cur = 64 << 10, .rlim_max = 64 << 10 };
	struct svf_pinner_config cfg = { .backend = SVF_BACKEND_PROCESS };
	struct svf_pinner *p, *s1, *s2;
	uint8_t *buf;
	uint64_t done = 0, phys, n;
	long base;

	CHILD_CHECK(drop_caps(1ULL << CAP_IPC_LOCK) == 0);
	CHILD_CHECK(!have_cap(CAP_IPC_LOCK));
	CHILD_CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);

	CHILD_CHECK(svf_pinner_create(&cfg, &p) == 0);
	buf = mmap(NULL, 17 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHILD_CHECK(buf != MAP_FAILED);
	while (done < 16) {
		CHILD_CHECK(svf_pin_run(p, (uintptr_t)buf + done * PG, 16 - done, true, &phys, &n) == 0);
		done += n;
	}
	CHILD_CHECK(svf_pinner_locked_bytes(p) == 64 << 10);
	CHILD_CHECK(svf_pin_run(p, (uintptr_t)buf + 16 * PG, 1, true, &phys, &n) == -ENOMEM);
	CHILD_CHECK(n == 0);
	/* the same page again is charged again, so it is over the limit too */
	CHILD_CHECK(svf_pin_run(p, (uintptr_t)buf, 1, true, &phys, &n) == -ENOMEM);
	CHILD_CHECK(svf_pinner_pinned_pages(p) == 16);
	CHILD_CHECK(svf_pinner_locked_bytes(p) == 64 << 10);

	/* synthetic pinners share the count: nothing fits while 16 pages are held */
	cfg = (struct svf_pinner_config){ .backend = SVF_BACKEND_SYNTHETIC };
	CHILD_CHECK(svf_pinner_create(&cfg, &s1) == 0);
	CHILD_CHECK(svf_pin_run(s1, 0, 1, false, &phys, &n) == -ENOMEM);
	svf_pinner_destroy(p); /* with its 16 pages still pinned: uncharged */
	CHILD_CHECK(svf_pin_run(s1, 0, 16, false, &phys, &n) == 0 && n == 16);
	CHILD_CHECK(svf_pin_run(s1, 16 * PG, 1, false, &phys, &n) == -ENOMEM);
	svf_unpin_run(s1, 0, 0, 16);
	svf_pinner_destroy(s1);

	/* an override replaces the rlimit, and two pinners charge one count */
	cfg.memlock_limit_override = 32 << 10;
	CHILD_CHECK(svf_pinner_create(&cfg, &s1) == 0);
	CHILD_CHECK(svf_pinner_create(&cfg, &s2) == 0);
	CHILD_CHECK(svf_pin_run(s1, 0, 5, false, &phys, &n) == 0 && n == 5);
	CHILD_CHECK(svf_pin_run(s2, 0, 4, false, &phys, &n) == -ENOMEM); /* 5 + 4 > 8 */
	CHILD_CHECK(svf_pin_run(s2, 0, 3, false, &phys, &n) == 0 && n == 3);
	CHILD_CHECK(svf_pinner_locked_bytes(s1) == 5 * PG && svf_pinner_locked_bytes(s2) == 3 * PG);
	CHILD_CHECK(svf_pin_run(s1, 5 * PG, 1, false, &phys, &n) == -ENOMEM);
	svf_unpin_run(s2, 0, 0, 3);
	CHILD_CHECK(svf_pin_run(s1, 5 * PG, 3, false, &phys, &n) == 0 && n == 3);
	svf_unpin_run(s1, 0, 0, 8);
	CHILD_CHECK(svf_pinner_locked_bytes(s1) == 0);
	svf_pinner_destroy(s1);
	svf_pinner_destroy(s2);

	/* over the override, under the rlimit: the kernel's mlock succeeds and must be undone */
	cfg = (struct svf_pinner_config){ .backend = SVF_BACKEND_PROCESS,
					  .memlock_limit_override = 32 << 10 };
	CHILD_CHECK(svf_pinner_create(&cfg, &p) == 0);
	base = vmlck_kb();
	for (done = 0; done < 8; done += n)
		CHILD_CHECK(svf_pin_run(p, (uintptr_t)buf + done * PG, 8 - done, true, &phys, &n) == 0);
	CHILD_CHECK(vmlck_kb() == base + 32);
	CHILD_CHECK(svf_pin_run(p, (uintptr_t)buf + 8 * PG, 4, true, &phys, &n) == -ENOMEM);
	CHILD_CHECK(vmlck_kb() == base + 32);
	CHILD_CHECK(svf_pinner_pinned_pages(p) == 8);
	svf_pinner_destroy(p);
	CHILD_CHECK(vmlck_kb() == base);
}

static void test_memlock_limit(void **state)
{
	(void)state;
	svf_pinner_destroy(new_process_pinner()); /* skips where the backend cannot run */
	run_child(child_memlock_limit);
}

/* Child: with CAP_IPC_LOCK the limit does not apply (the pages still count). */
static void child_memlock_cap(void)
{
	struct rlimit rl = { .rlim_cur = 64 << 10, .rlim_max = 64 << 10 };
	struct svf_pinner_config cfg = { .backend = SVF_BACKEND_SYNTHETIC };
	struct svf_pinner *s;
	uint64_t phys, n;

	CHILD_CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);
	CHILD_CHECK(svf_pinner_create(&cfg, &s) == 0);
	CHILD_CHECK(svf_pin_run(s, 0, 1000, false, &phys, &n) == 0 && n == 1000);
	CHILD_CHECK(svf_pinner_locked_bytes(s) == 1000 * PG);
	CHILD_CHECK(drop_caps(1ULL << CAP_IPC_LOCK) == 0);
	CHILD_CHECK(svf_pin_run(s, 1000 * PG, 1, false, &phys, &n) == -ENOMEM);
	svf_unpin_run(s, 0, 0, 1000);
	svf_pinner_destroy(s);
}

static void test_memlock_cap_ipc_lock(void **state)
{
	(void)state;
	if (!have_cap(CAP_IPC_LOCK))
		skip();
	run_child(child_memlock_cap);
}

/*
 * Child: inside a sampling window the limit still holds, read once: with
 * RLIMIT_MEMLOCK at 64 KiB and no CAP_IPC_LOCK, 16 single-page pins fit and
 * the 17th is -ENOMEM; a limit raised inside the window is not seen until the
 * next window; CAP_IPC_LOCK is sampled once too (dropped mid-window, the
 * window still knows it had it).
 */
static void child_sample_window(void)
{
	struct rlimit rl = { .rlim_cur = 64 << 10, .rlim_max = 1 << 20 };
	struct svf_pinner_config cfg = { .backend = SVF_BACKEND_SYNTHETIC,
					 .layout = SVF_LAYOUT_FRAG4K };
	struct svf_pinner *s;
	uint64_t phys, n;

	CHILD_CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);
	CHILD_CHECK(svf_pinner_create(&cfg, &s) == 0);

	/* With the capability sampled at the first over-limit pin: the window keeps it. */
	svf_pinner_sample_begin(s);
	for (uint64_t i = 0; i < 17; i++)
		CHILD_CHECK(svf_pin_run(s, i * PG, 1, false, &phys, &n) == 0 && n == 1);
	CHILD_CHECK(drop_caps(1ULL << CAP_IPC_LOCK) == 0);
	CHILD_CHECK(svf_pin_run(s, 17 * PG, 1, false, &phys, &n) == 0);
	svf_pinner_sample_end(s);
	/* Outside the window the dropped capability is seen at once. */
	CHILD_CHECK(svf_pin_run(s, 18 * PG, 1, false, &phys, &n) == -ENOMEM);
	svf_unpin_run(s, 0, 0, 18);

	svf_pinner_sample_begin(s);
	for (uint64_t i = 0; i < 16; i++)
		CHILD_CHECK(svf_pin_run(s, i * PG, 1, false, &phys, &n) == 0);
	CHILD_CHECK(svf_pin_run(s, 16 * PG, 1, false, &phys, &n) == -ENOMEM);
	rl.rlim_cur = 1 << 20;
	CHILD_CHECK(setrlimit(RLIMIT_MEMLOCK, &rl) == 0);
	CHILD_CHECK(svf_pin_run(s, 16 * PG, 1, false, &phys, &n) == -ENOMEM); /* sampled */
	svf_pinner_sample_end(s);
	CHILD_CHECK(svf_pin_run(s, 16 * PG, 1, false, &phys, &n) == 0); /* sampled anew */
	CHILD_CHECK(svf_pinner_pinned_pages(s) == 17);
	svf_unpin_run(s, 0, 0, 17);
	svf_pinner_destroy(s);
}

static void test_sample_window(void **state)
{
	(void)state;
	if (!have_cap(CAP_IPC_LOCK))
		skip(); /* the first half needs the capability to drop */
	run_child(child_sample_window);
}

/* Child: without CAP_SYS_ADMIN pagemap hides frames; the virtual page stands in. */
static void child_pfnless(void)
{
	struct svf_pinner_config cfg = { .backend = SVF_BACKEND_PROCESS };
	struct svf_pinner *p;
	uint8_t *buf;
	uint64_t phys, n;
	int fd;
	uint8_t *a, *b;
	uint64_t fa, fb;

	CHILD_CHECK(drop_caps(1ULL << CAP_SYS_ADMIN) == 0);
	CHILD_CHECK(svf_pinner_create(&cfg, &p) == 0);
	CHILD_CHECK(!svf_pinner_pfns_real(p));
	buf = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHILD_CHECK(buf != MAP_FAILED);
	CHILD_CHECK(svf_pin_run(p, (uintptr_t)buf, 64, true, &phys, &n) == 0);
	CHILD_CHECK(n == 64 && phys == (uintptr_t)buf);
	CHILD_CHECK(svf_pinner_phys_to_ptr(p, phys + 5 * PG + 1) == buf + 5 * PG + 1);
	svf_unpin_run(p, (uintptr_t)buf, phys, 64);

	fd = memfd_create("svf-pin-nopfn", 0);
	CHILD_CHECK(fd >= 0 && ftruncate(fd, PG) == 0);
	a = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	b = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHILD_CHECK(a != MAP_FAILED && b != MAP_FAILED);
	CHILD_CHECK(svf_pin_run(p, (uintptr_t)a, 1, false, &fa, &n) == 0);
	CHILD_CHECK(svf_pin_run(p, (uintptr_t)b, 1, false, &fb, &n) == 0);
	CHILD_CHECK(fa == (uintptr_t)a && fb == (uintptr_t)b);
	CHILD_CHECK(svf_pinner_refcount(p, fa) == 1 && svf_pinner_refcount(p, fb) == 1);
	svf_unpin_run(p, (uintptr_t)a, fa, 1);
	svf_unpin_run(p, (uintptr_t)b, fb, 1);
	CHILD_CHECK(svf_pinner_pinned_pages(p) == 0);
	/* virtual contiguity stands in for physical: every aligned 2 MiB unit is whole */
	CHILD_CHECK(whole_scenario(p, false, false) == 0);
	CHILD_CHECK(whole_scenario(p, false, true) == 0);

	/*
	 * Runs are long here, so an allocation can fail in a later batch of a
	 * run (a new table leaf past a 512-page boundary): the batches already
	 * mlocked must be undone.
	 */
	long base = vmlck_kb();
	uint8_t *big = mmap(NULL, 1100 * PG, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool fired = true;

	CHILD_CHECK(big != MAP_FAILED);
	for (uint64_t nth = 1; fired; nth++) {
		int ret;

		CHILD_CHECK(nth < 100);
		if (svf_fault_arm(nth, 1u << SVF_FAULT_ALLOC) == -ENOTSUP)
			break;
		ret = svf_pin_run(p, (uintptr_t)big, 1100, true, &phys, &n);
		fired = svf_fault_disarm();
		CHILD_CHECK(ret == (fired ? -ENOMEM : 0));
		CHILD_CHECK(svf_pinner_pinned_pages(p) == (ret ? 0 : 1100));
		CHILD_CHECK(vmlck_kb() == base + (ret ? 0 : 4400));
		if (!ret)
			svf_unpin_run(p, (uintptr_t)big, phys, 1100);
		CHILD_CHECK(vmlck_kb() == base);
	}
	svf_pinner_destroy(p);
}

static void test_proc_pfnless_pagemap(void **state)
{
	(void)state;
	if (!have_cap(CAP_SYS_ADMIN))
		skip(); /* then every process test above already ran without frames */
	run_child(child_pfnless);
}

/* ---- synthetic backend ---- */

static void test_synth_contig(void **state)
{
	const uint64_t base = 1ULL << 32;
	struct svf_pinner *p = new_synth(SVF_LAYOUT_CONTIG, 0, base, NO_LIMIT);
	uint64_t phys, n, lk;

	(void)state;
	assert_false(svf_pinner_pfns_real(p));
	assert_int_equal(svf_pin_run(p, 0x10000, 100000, true, &phys, &n), 0);
	assert_int_equal(n, 100000);
	assert_int_equal(phys, base + 0x10000);
	assert_int_equal(svf_pinner_lookup(p, 0x10000 + 5 * PG + 3, &lk), 0);
	assert_int_equal(lk, base + 0x10000 + 5 * PG + 3);
	assert_int_equal(svf_pinner_refcount(p, phys), 0);
	assert_null(svf_pinner_phys_to_ptr(p, phys));
	assert_int_equal(svf_pinner_pinned_pages(p), 100000);
	assert_int_equal(svf_pinner_locked_bytes(p), 100000 * PG);
	svf_unpin_run(p, 0x10000, phys, 100000);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	assert_int_equal(svf_pinner_locked_bytes(p), 0);
	svf_pinner_destroy(p);
}

static void test_synth_frag4k(void **state)
{
	const uint64_t base = 1ULL << 30;
	struct svf_pinner *p = new_synth(SVF_LAYOUT_FRAG4K, 0, base, NO_LIMIT);
	uint64_t prev = 0;

	(void)state;
	for (uint64_t i = 0; i < 64; i++) {
		uint64_t phys, n, va = 0x200000 + i * PG;

		assert_int_equal(svf_pin_run(p, va, 64 - i, false, &phys, &n), 0);
		assert_int_equal(n, 1);
		assert_int_equal(phys, base + 2 * va);
		if (i)
			assert_int_not_equal(phys, prev + PG);
		prev = phys;
	}
	assert_int_equal(svf_pinner_pinned_pages(p), 64);
	for (uint64_t i = 0; i < 64; i++) {
		uint64_t va = 0x200000 + i * PG;

		svf_unpin_run(p, va, base + 2 * va, 1);
	}
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_pinner_destroy(p);
}

static void test_synth_runs2m(void **state)
{
	const uint64_t base = 1ULL << 34;
	struct svf_pinner *p = new_synth(SVF_LAYOUT_RUNS2M, 0, base, NO_LIMIT);
	uint64_t phys, n, phys2, n2, lk;

	(void)state;
	/* three pages before a 2M boundary: the run stops at it */
	assert_int_equal(svf_pin_run(p, SZ_2M - 3 * PG, 10, false, &phys, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(svf_pin_run(p, SZ_2M, 2000, false, &phys2, &n2), 0);
	assert_int_equal(n2, 512);
	assert_int_equal(phys2 % SZ_2M, 0);
	assert_int_not_equal(phys2, phys + 3 * PG); /* consecutive runs are not adjacent */
	assert_int_equal(svf_pinner_lookup(p, SZ_2M + 511 * PG, &lk), 0);
	assert_int_equal(lk, phys2 + 511 * PG);
	assert_int_equal(svf_pinner_lookup(p, 2 * SZ_2M, &lk), 0);
	assert_int_not_equal(lk, phys2 + 512 * PG);
	assert_int_equal(lk % SZ_2M, 0);
	svf_unpin_run(p, SZ_2M - 3 * PG, phys, 3);
	svf_unpin_run(p, SZ_2M, phys2, 512);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_pinner_destroy(p);
}

struct run_rec {
	uint64_t va, phys, n;
};

/* Walk [0, len) of a RANDOM pinner in runs, checking each, and record them. */
static size_t random_walk(uint64_t seed, uint64_t len, struct run_rec *rec, size_t max,
			  unsigned shapes[3])
{
	struct svf_pinner *p = new_synth(SVF_LAYOUT_RANDOM, seed, 0, NO_LIMIT);
	uint64_t va = 0;
	size_t nr = 0;

	while (va < len) {
		uint64_t phys, n, lk;

		assert_true(nr < max);
		assert_int_equal(svf_pin_run(p, va, (len - va) / PG, false, &phys, &n), 0);
		/* every run is a whole 4K page, 64K run or 2M run (or what is left of one) */
		assert_true(n == 1 || (n <= 16 && (va + n * PG) % 0x10000 == 0) ||
			    (n <= 512 && (va + n * PG) % SZ_2M == 0));
		for (uint64_t i = 0; i < n; i++) {
			assert_int_equal(svf_pinner_lookup(p, va + i * PG, &lk), 0);
			assert_int_equal(lk, phys + i * PG);
		}
		if (va + n * PG < len) {
			assert_int_equal(svf_pinner_lookup(p, va + n * PG, &lk), 0);
			assert_int_not_equal(lk, phys + n * PG);
		}
		if (va % SZ_2M == 0)
			shapes[n == 512 ? 2 : n == 16 ? 1 : 0]++;
		rec[nr++] = (struct run_rec){ va, phys, n };
		va += n * PG;
	}
	for (size_t i = 0; i < nr; i++)
		svf_unpin_run(p, rec[i].va, rec[i].phys, rec[i].n);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_pinner_destroy(p);
	return nr;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_synth_random(void **state)
{
	const uint64_t len = 64 * SZ_2M;
	const size_t max = len / PG;
	struct run_rec *r1 = calloc(max, sizeof(*r1));
	struct run_rec *r2 = calloc(max, sizeof(*r2));
	struct run_rec *r3 = calloc(max, sizeof(*r3));
	uint64_t *frames = calloc(max, sizeof(*frames));
	unsigned s1[3] = { 0 }, s2[3] = { 0 }, s3[3] = { 0 };
	size_t n1, n2, n3, k = 0;

	(void)state;
	assert_non_null(r1);
	assert_non_null(r2);
	assert_non_null(r3);
	assert_non_null(frames);
	n1 = random_walk(42, len, r1, max, s1);
	n2 = random_walk(42, len, r2, max, s2);
	n3 = random_walk(43, len, r3, max, s3);
	/* same seed, same layout */
	assert_int_equal(n1, n2);
	assert_memory_equal(r1, r2, n1 * sizeof(*r1));
	/* another seed, another layout */
	assert_true(n1 != n3 || memcmp(r1, r3, n1 * sizeof(*r1)) != 0);
	/* a mix: every shape shows up in 64 blocks */
	for (int i = 0; i < 3; i++)
		assert_true(s1[i] > 0);
	assert_int_equal(s1[0] + s1[1] + s1[2], 64);
	/* no two pages share a frame */
	for (size_t i = 0; i < n1; i++)
		for (uint64_t j = 0; j < r1[i].n; j++)
			frames[k++] = r1[i].phys + j * PG;
	assert_int_equal(k, max);
	qsort(frames, k, sizeof(*frames), cmp_u64);
	for (size_t i = 1; i < k; i++)
		assert_true(frames[i] != frames[i - 1]);
	free(r1);
	free(r2);
	free(r3);
	free(frames);
}

/* 1 TiB in 2 MiB runs: O(1) per run, O(1) bookkeeping, exact counts. */
static void test_synth_1tib(void **state)
{
	const uint64_t tib = 1ULL << 40, pages = tib / PG, va0 = 1ULL << 40;
	struct svf_pinner *p = new_synth(SVF_LAYOUT_RUNS2M, 0, 0, NO_LIMIT);
	uint64_t book = svf_pinner_bookkeeping_bytes(p), done = 0, runs = 0;

	(void)state;
	while (done < pages) {
		uint64_t phys, n;

		assert_int_equal(svf_pin_run(p, va0 + done * PG, pages - done, true, &phys, &n), 0);
		assert_int_equal(n, 512);
		done += n;
		runs++;
	}
	assert_int_equal(runs, tib / SZ_2M);
	assert_int_equal(svf_pinner_pinned_pages(p), pages);
	assert_int_equal(svf_pinner_locked_bytes(p), tib);
	assert_int_equal(svf_pinner_bookkeeping_bytes(p), book);
	for (uint64_t va = va0; va < va0 + tib; va += SZ_2M) {
		uint64_t phys = 0;

		assert_int_equal(svf_pinner_lookup(p, va, &phys), 0);
		svf_unpin_run(p, va, phys, 512);
	}
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	assert_int_equal(svf_pinner_locked_bytes(p), 0);
	assert_int_equal(svf_pinner_bookkeeping_bytes(p), book);
	svf_pinner_destroy(p);

	/* contiguous: one call */
	p = new_synth(SVF_LAYOUT_CONTIG, 0, 0, NO_LIMIT);
	uint64_t phys, n;

	assert_int_equal(svf_pin_run(p, va0, pages, true, &phys, &n), 0);
	assert_int_equal(n, pages);
	svf_unpin_run(p, va0, phys, n);
	svf_pinner_destroy(p);
}

static void test_synth_phys_limit(void **state)
{
	const uint64_t limit = 1ULL << 52;
	struct svf_pinner *p = new_synth(SVF_LAYOUT_CONTIG, 0, limit - 1024 * PG, NO_LIMIT);
	uint64_t phys, n;

	(void)state;
	/* the run stops below the limit; past it is -EFAULT */
	assert_int_equal(svf_pin_run(p, 1000 * PG, 100, false, &phys, &n), 0);
	assert_int_equal(n, 24);
	assert_int_equal(phys + n * PG, limit);
	assert_int_equal(svf_pin_run(p, 1024 * PG, 1, false, &phys, &n), -EFAULT);
	assert_int_equal(svf_pinner_lookup(p, 1024 * PG, &phys), -EFAULT);
	assert_int_equal(svf_pinner_pinned_pages(p), 24);
	svf_unpin_run(p, 1000 * PG, limit - 24 * PG, 24);
	svf_pinner_destroy(p);

	p = new_synth(SVF_LAYOUT_FRAG4K, 0, 0, NO_LIMIT);
	assert_int_equal(svf_pin_run(p, 1ULL << 62, 1, false, &phys, &n), -EFAULT);
	assert_int_equal(svf_pin_run(p, 1ULL << 51, 1, false, &phys, &n), -EFAULT);
	assert_int_equal(svf_pin_run(p, (1ULL << 51) - PG, 1, false, &phys, &n), 0);
	assert_int_equal(phys, limit - 2 * PG);
	svf_unpin_run(p, (1ULL << 51) - PG, phys, 1);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_pinner_destroy(p);
}

static void test_synth_fault_seam(void **state)
{
	struct svf_pinner *p = new_synth(SVF_LAYOUT_RUNS2M, 0, 0, NO_LIMIT);
	uint64_t phys = 3, n = 3;

	(void)state;
	if (svf_fault_arm(1, 1u << SVF_FAULT_PIN) == -ENOTSUP) {
		svf_pinner_destroy(p);
		skip();
	}
	assert_int_equal(svf_pin_run(p, 0, 512, false, &phys, &n), -EFAULT);
	assert_true(svf_fault_disarm());
	assert_int_equal(n, 0);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	assert_int_equal(svf_pinner_locked_bytes(p), 0);
	/* an allocation fault in create leaves nothing behind (ASan checks) */
	for (uint64_t nth = 1;; nth++) {
		struct svf_pinner *q = NULL;
		struct svf_pinner_config cfg = { .backend = SVF_BACKEND_SYNTHETIC };
		int ret;

		assert_true(nth < 10);
		svf_fault_arm(nth, 1u << SVF_FAULT_ALLOC);
		ret = svf_pinner_create(&cfg, &q);
		if (!svf_fault_disarm()) {
			assert_int_equal(ret, 0);
			svf_pinner_destroy(q);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_null(q);
	}
	svf_pinner_destroy(p);
}

/*
 * The pinner's lock under contention: threads pinning and unpinning at once
 * on one pinner. Its counters are plain stores under the lock, so a lock
 * that let two holders in would lose updates and leave the counts off.
 */
struct contend {
	struct svf_pinner *p;
	uint64_t base;
	unsigned fails;
};

static void *contend_fn(void *arg)
{
	struct contend *c = arg;

	for (unsigned i = 0; i < 20000; i++) {
		uint64_t va = c->base + (uint64_t)(i % 64) * PG, phys = 0, n = 0;

		if (svf_pin_run(c->p, va, 1, true, &phys, &n) || n != 1) {
			c->fails++;
			continue;
		}
		svf_unpin_run(c->p, va, phys, 1);
	}
	return NULL;
}

static void test_lock_contended(void **state)
{
	(void)state;
	struct svf_pinner *p = new_synth(SVF_LAYOUT_FRAG4K, 3, 0, UINT64_MAX);
	struct contend c[4];
	pthread_t t[4];

	for (unsigned i = 0; i < 4; i++) {
		c[i] = (struct contend){ .p = p, .base = (uint64_t)(i + 1) << 32 };
		assert_int_equal(pthread_create(&t[i], NULL, contend_fn, &c[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(c[i].fails, 0);
	}
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	assert_int_equal(svf_pinner_locked_bytes(p), 0);
	svf_pinner_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_create_invalid),
		cmocka_unit_test(test_pin_args),
		cmocka_unit_test(test_proc_frames_match_pagemap),
		cmocka_unit_test(test_proc_refcount_and_munlock_at_zero),
		cmocka_unit_test(test_proc_partial_unpin),
		cmocka_unit_test(test_proc_whole_units),
		cmocka_unit_test(test_proc_lock_granules),
		cmocka_unit_test(test_proc_lock_granule_limit),
		cmocka_unit_test(test_proc_memfd_aliases),
		cmocka_unit_test(test_proc_run_splits_at_discontinuity),
		cmocka_unit_test(test_proc_efault_hole),
		cmocka_unit_test(test_proc_efault_prot_none),
		cmocka_unit_test(test_proc_write_pin_readonly),
		cmocka_unit_test(test_proc_write_pin_breaks_cow),
		cmocka_unit_test(test_proc_fault_pin),
		cmocka_unit_test(test_proc_fault_alloc_walk),
		cmocka_unit_test(test_proc_phys_to_ptr_races_pins),
		cmocka_unit_test(test_proc_destroy_with_pins),
		cmocka_unit_test(test_proc_release_slots_reused),
		cmocka_unit_test(test_proc_rebase_twice_and_after_release),
		cmocka_unit_test(test_memlock_limit),
		cmocka_unit_test(test_memlock_cap_ipc_lock),
		cmocka_unit_test(test_sample_window),
		cmocka_unit_test(test_proc_window_whole),
		cmocka_unit_test(test_proc_window_hole),
		cmocka_unit_test(test_proc_window_prot_none),
		cmocka_unit_test(test_proc_window_readonly),
		cmocka_unit_test(test_proc_window_limit),
		cmocka_unit_test(test_proc_window_shared_pages),
		cmocka_unit_test(test_proc_window_peer_unpin),
		cmocka_unit_test(test_proc_pfnless_pagemap),
		cmocka_unit_test(test_synth_contig),
		cmocka_unit_test(test_synth_frag4k),
		cmocka_unit_test(test_synth_runs2m),
		cmocka_unit_test(test_synth_random),
		cmocka_unit_test(test_synth_1tib),
		cmocka_unit_test(test_synth_phys_limit),
		cmocka_unit_test(test_synth_fault_seam),
		cmocka_unit_test(test_lock_contended),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

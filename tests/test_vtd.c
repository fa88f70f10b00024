/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the emulated VT-d driver, through svf_vtd_ops directly (no
 * core): page table, mask arithmetic, IOTLB, invalidation queue, unpin
 * check, fault seams, cost model, and a concurrent translate smoke test.
 *
 * Each test builds its own unit and domains (struct fx) so geometry can vary
 * per test; teardown goes through domain_fini/unit_fini, so ASan's leak
 * check covers every path.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "svf_test.h"

#include "iommu_driver.h"
#include "vtd.h"
#include "iommu_iotlb.h"
#include "iommu_reader.h"

#define K4 0x1000ull
#define M2 0x200000ull
#define G1 0x40000000ull
#define RW (SVF_PROT_READ | SVF_PROT_WRITE)

static const struct svf_iommu_ops *ops = &svf_vtd_ops;

struct fx {
	struct svf_iommu u;
	struct svf_domain d;  /* id 1 */
	struct svf_domain d2; /* id 2 */
};

struct geo {
	unsigned sets, ways, depth, mask;
	bool cost_off;
};

static struct fx *fx_new(const struct geo *g)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->u.ops = ops;
	f->u.cfg.driver = "vtd";
	ops->default_config(&f->u.cfg);
	if (g) {
		if (g->sets)
			f->u.cfg.iotlb_sets = g->sets;
		if (g->ways)
			f->u.cfg.iotlb_ways = g->ways;
		if (g->depth)
			f->u.cfg.queue_depth = g->depth;
		if (g->mask)
			f->u.cfg.max_mask_order = g->mask;
		f->u.cfg.cost_off = g->cost_off;
	}
	assert_int_equal(ops->unit_init(&f->u), 0);
	f->d.unit = &f->u;
	f->d.id = 1;
	/* Serials name domains in a thread's cached translation: distinct, never 0. */
	f->d.serial = UINT64_MAX;
	assert_int_equal(ops->domain_init(&f->d), 0);
	f->d2.unit = &f->u;
	f->d2.id = 2;
	f->d2.serial = UINT64_MAX - 1;
	assert_int_equal(ops->domain_init(&f->d2), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	ops->domain_fini(&f->d2);
	ops->domain_fini(&f->d);
	ops->unit_fini(&f->u);
	free(f);
}

static int setup(void **state)
{
	*state = fx_new(NULL);
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

static struct svf_stats stats(struct fx *f)
{
	struct svf_stats s;

	memset(&s, 0, sizeof(s));
	ops->add_stats(&f->u, &s);
	return s;
}

static int map(struct svf_domain *d, uint64_t iova, uint64_t pa, uint64_t pgsize, uint64_t n,
	       int prot, uint64_t *mapped)
{
	uint64_t m;

	return ops->map_pages(d, iova, pa, pgsize, n, prot, mapped ? mapped : &m);
}

static void map_ok(struct svf_domain *d, uint64_t iova, uint64_t pa, uint64_t pgsize, uint64_t n,
		   int prot)
{
	uint64_t m = 0;

	assert_int_equal(map(d, iova, pa, pgsize, n, prot, &m), 0);
	assert_int_equal(m, pgsize * n);
}

static void unmap_ok(struct svf_domain *d, uint64_t iova, uint64_t len, uint64_t want_first,
		     uint64_t want_bytes)
{
	uint64_t first = 1, bytes = 1;
	bool freed;

	assert_int_equal(ops->unmap_range(d, iova, len, &first, &bytes, NULL, &freed), 0);
	assert_int_equal(first, want_first);
	assert_int_equal(bytes, want_bytes);
}

static void expect_phys(struct svf_domain *d, uint64_t iova, uint64_t phys, uint64_t leaf,
			int prot)
{
	uint64_t p = 0, l = 0;
	int pr = 0;

	assert_int_equal(ops->iova_to_phys(d, iova, &p, &l, &pr), 0);
	assert_int_equal(p, phys);
	assert_int_equal(l, leaf);
	assert_int_equal(pr, prot);
}

static void expect_unmapped(struct svf_domain *d, uint64_t iova)
{
	uint64_t p;

	assert_int_equal(ops->iova_to_phys(d, iova, &p, NULL, NULL), -ENOENT);
}

static void wait_ok(struct fx *f)
{
	assert_int_equal(ops->wait(&f->u), 0);
}

/* Arm the fault seam, or skip the test in a build without it. */
static void arm(uint64_t nth, uint32_t mask)
{
	int ret = svf_fault_arm(nth, mask);

	if (ret == -ENOTSUP)
		skip();
	assert_int_equal(ret, 0);
}

/* ---------------------------------------------------------------- page table */

static void test_map_leaf_sizes(void **state)
{
	struct fx *f = *state;

	map_ok(&f->d, 0x1000, 0x100000, K4, 1, RW);
	map_ok(&f->d, M2, 0x40000000, M2, 1, SVF_PROT_READ);
	map_ok(&f->d, G1, 0x80000000, G1, 1, SVF_PROT_WRITE);
	expect_phys(&f->d, 0x1000, 0x100000, K4, RW);
	expect_phys(&f->d, 0x1abc, 0x100abc, K4, RW);
	expect_phys(&f->d, M2 + 0x12345, 0x40012345, M2, SVF_PROT_READ);
	expect_phys(&f->d, G1 + 0x3fffffff, 0xbfffffff, G1, SVF_PROT_WRITE);
	expect_unmapped(&f->d, 0x0);
	expect_unmapped(&f->d, 0x2000);
	expect_unmapped(&f->d, 2 * G1);
	/* Root + level 3, 2 and 1 tables for the 4K leaf; the others share them. */
	assert_int_equal(stats(f).pt_pages, 2 + 3);
	/* Alignment and size rules. */
	assert_int_equal(map(&f->d, 0x3000, 0x1000, M2, 1, RW, NULL), -EINVAL);
	assert_int_equal(map(&f->d, 0x3000, 0x1000, 0x8000, 1, RW, NULL), -EINVAL);
	assert_int_equal(map(&f->d, 0x3000, 0x1000, K4, 1, 0, NULL), -EINVAL);
	assert_int_equal(map(&f->d, 1ull << 48, 0x1000, K4, 1, RW, NULL), -EINVAL);
}

static void test_map_split_unaligned(void **state)
{
	struct fx *f = *state;
	const uint64_t iova = M2 - K4, off = 0x40000000; /* 2 MiB + 8 KiB from here */

	/* What the core does with [iova, iova + 2M + 8K): 4K, 2M, 4K. */
	map_ok(&f->d, iova, iova + off, K4, 1, RW);
	map_ok(&f->d, M2, M2 + off, M2, 1, RW);
	map_ok(&f->d, 2 * M2, 2 * M2 + off, K4, 1, RW);
	expect_phys(&f->d, iova, iova + off, K4, RW);
	expect_phys(&f->d, M2 + 0x1000, M2 + 0x1000 + off, M2, RW);
	expect_phys(&f->d, 2 * M2, 2 * M2 + off, K4, RW);
	expect_unmapped(&f->d, 2 * M2 + K4);
	unmap_ok(&f->d, iova, M2 + 2 * K4, iova, M2 + 2 * K4);
	expect_unmapped(&f->d, iova);
	expect_unmapped(&f->d, M2);
	expect_unmapped(&f->d, 2 * M2);
}

static void test_unmap_superpage_middle(void **state)
{
	struct fx *f = *state;

	map_ok(&f->d, M2, 0x40000000, M2, 1, RW);
	unmap_ok(&f->d, M2 + 0x1000, K4, M2, M2);
	expect_unmapped(&f->d, M2);
	expect_unmapped(&f->d, M2 + 0x1fffff);

	/* A range that ends inside a 1 GiB leaf takes it whole, too. */
	map_ok(&f->d, G1, 0x80000000, G1, 1, RW);
	unmap_ok(&f->d, G1 + G1 - K4, 2 * K4, G1, G1);
	expect_unmapped(&f->d, G1);

	/* Starting inside the first leaf, continuing over the next ones. */
	map_ok(&f->d, 4 * M2, 0x40000000, M2, 2, RW);
	map_ok(&f->d, 6 * M2, 0x1000000, K4, 3, RW);
	unmap_ok(&f->d, 4 * M2 + K4, 2 * M2 + K4, 4 * M2, 2 * M2 + 2 * K4);
	expect_phys(&f->d, 6 * M2 + 2 * K4, 0x1002000, K4, RW);
}

static void test_unmap_stops_at_hole(void **state)
{
	struct fx *f = *state;
	uint64_t first, bytes;
	bool freed;

	map_ok(&f->d, 0x1000, 0x10000, K4, 1, RW);
	map_ok(&f->d, 0x3000, 0x30000, K4, 1, RW);
	unmap_ok(&f->d, 0x1000, 3 * K4, 0x1000, K4);
	expect_phys(&f->d, 0x3000, 0x30000, K4, RW);
	/* Unmapped start: nothing removed, first is the request. */
	unmap_ok(&f->d, 0x2000, 2 * K4, 0x2000, 0);
	expect_phys(&f->d, 0x3000, 0x30000, K4, RW);
	assert_int_equal(ops->unmap_range(&f->d, 0x1001, K4, &first, &bytes, NULL, &freed), -EINVAL);
	assert_int_equal(ops->unmap_range(&f->d, 0x1000, 0, &first, &bytes, NULL, &freed), -EINVAL);
	assert_int_equal(ops->unmap_range(&f->d, 1ull << 48, K4, &first, &bytes, NULL, &freed),
			 -EINVAL);
}

static void unmap_run_ok(struct svf_domain *d, uint64_t iova, uint64_t maxlen, uint64_t want_first,
			 uint64_t want_bytes, uint64_t want_phys)
{
	uint64_t first = 1, bytes = 1, phys = 1;
	bool freed;

	assert_int_equal(ops->unmap_range(d, iova, maxlen, &first, &bytes, &phys, &freed), 0);
	assert_int_equal(first, want_first);
	assert_int_equal(bytes, want_bytes);
	if (want_bytes)
		assert_int_equal(phys, want_phys);
}

/*
 * Run mode (phys non-NULL): the walk that clears leaves also ends the chunk
 * at a physical discontinuity, crosses leaf tables while the run goes on,
 * and takes superpage leaves whole.
 */
static void test_unmap_run_mode(void **state)
{
	struct fx *f = *state;

	/* Three contiguous pages, then a jump in phys, then two more. */
	map_ok(&f->d, 0x100000, 0x900000, K4, 3, RW);
	map_ok(&f->d, 0x103000, 0x700000, K4, 2, RW);
	unmap_run_ok(&f->d, 0x100000, 16 * K4, 0x100000, 3 * K4, 0x900000);
	expect_phys(&f->d, 0x103000, 0x700000, K4, RW);
	/* maxlen ends the run before its physical end. */
	unmap_run_ok(&f->d, 0x103000, K4, 0x103000, K4, 0x700000);
	unmap_run_ok(&f->d, 0x104000, 8 * K4, 0x104000, K4, 0x701000);
	/* Not mapped: nothing removed. */
	unmap_run_ok(&f->d, 0x104000, K4, 0x104000, 0, 0);

	/* A contiguous run of 4K leaves across a leaf-table (2 MiB) boundary. */
	map_ok(&f->d, M2 * 8 - 4 * K4, 0x40000000 - 4 * K4, K4, 8, RW);
	unmap_run_ok(&f->d, M2 * 8 - 4 * K4, 64 * K4, M2 * 8 - 4 * K4, 8 * K4, 0x40000000 - 4 * K4);

	/* Superpages: two physically adjacent 2M leaves then a 4K page elsewhere. */
	map_ok(&f->d, M2 * 20, M2 * 100, M2, 2, RW);
	map_ok(&f->d, M2 * 22, 0x5000, K4, 1, RW);
	unmap_run_ok(&f->d, M2 * 20 + 5 * K4, 4 * M2, M2 * 20, 2 * M2, M2 * 100);
	expect_phys(&f->d, M2 * 22, 0x5000, K4, RW);
	unmap_run_ok(&f->d, M2 * 22, K4, M2 * 22, K4, 0x5000);
}

static void test_tables_freed_after_wait(void **state)
{
	struct fx *f = *state;
	uint64_t first, bytes;
	bool freed = false;
	struct svf_stats s;

	s = stats(f);
	assert_int_equal(s.pt_pages, 2); /* two roots */
	map_ok(&f->d, 0x1000, 0x10000, K4, 2, RW);
	assert_int_equal(stats(f).pt_pages, 5);

	/* One of two leaves: the level-1 table keeps the other. */
	assert_int_equal(ops->unmap_range(&f->d, 0x1000, K4, &first, &bytes, NULL, &freed), 0);
	assert_false(freed);
	assert_int_equal(svf_vtd_deferred_pages(&f->u), 0);

	/* The last leaf: levels 1, 2, 3 empty out, unlinked but not freed. */
	assert_int_equal(ops->unmap_range(&f->d, 0x2000, K4, &first, &bytes, NULL, &freed), 0);
	assert_true(freed);
	assert_int_equal(svf_vtd_deferred_pages(&f->u), 3);
	s = stats(f);
	assert_int_equal(s.pt_pages, 5);
	assert_int_equal(s.pt_pages_freed, 0);
	expect_unmapped(&f->d, 0x2000);

	wait_ok(f);
	s = stats(f);
	assert_int_equal(svf_vtd_deferred_pages(&f->u), 0);
	assert_int_equal(s.pt_pages, 2);
	assert_int_equal(s.pt_pages_freed, 3);
	assert_int_equal(s.pt_pages_peak, 5);

	/* The tree grows back the same way. */
	map_ok(&f->d, 0x1000, 0x10000, K4, 1, RW);
	assert_int_equal(stats(f).pt_pages, 5);
}

static void test_map_eexist(void **state)
{
	struct fx *f = *state;
	uint64_t mapped = 99;

	map_ok(&f->d, 0x2000, 0x20000, K4, 1, RW);
	assert_int_equal(map(&f->d, 0x2000, 0x50000, K4, 1, RW, &mapped), -EEXIST);
	assert_int_equal(mapped, 0);
	/* Two leaves go in before the collision; *mapped says so. */
	assert_int_equal(map(&f->d, 0x0, 0x70000, K4, 4, RW, &mapped), -EEXIST);
	assert_int_equal(mapped, 2 * K4);
	expect_phys(&f->d, 0x1000, 0x71000, K4, RW);
	expect_phys(&f->d, 0x2000, 0x20000, K4, RW);
	/* A superpage over a table with leaves, and a leaf inside a superpage. */
	assert_int_equal(map(&f->d, 0x0, 0x200000, M2, 1, RW, &mapped), -EEXIST);
	map_ok(&f->d, M2, 0x400000, M2, 1, RW);
	assert_int_equal(map(&f->d, M2 + K4, 0x1000, K4, 1, RW, &mapped), -EEXIST);
	assert_int_equal(map(&f->d, 0x0, 0x0, G1, 1, RW, &mapped), -EEXIST);
	/* The other domain is independent. */
	map_ok(&f->d2, 0x2000, 0x90000, K4, 1, RW);
}

static void test_superpage_replaces_empty_table(void **state)
{
	struct fx *f = *state;

	/* Fail the third table allocation: levels 3 and 2 stay, empty. */
	arm(3, 1u << SVF_FAULT_PT_ALLOC);
	assert_int_equal(map(&f->d, 0x5000, 0x5000, K4, 1, RW, NULL), -ENOMEM);
	assert_true(svf_fault_disarm());
	assert_int_equal(stats(f).pt_pages, 4);
	expect_unmapped(&f->d, 0x5000);

	/* A 1 GiB leaf where the empty level-2 table stands: it is replaced. */
	map_ok(&f->d, 0, 0x80000000, G1, 1, RW);
	assert_int_equal(svf_vtd_deferred_pages(&f->u), 1);
	expect_phys(&f->d, 0x5000, 0x80005000, G1, RW);
	wait_ok(f);
	assert_int_equal(stats(f).pt_pages, 3);
}

/* Reference model: random 4K maps/unmaps over 3 level-1 tables' worth of IOVA. */
static void test_random_model(void **state)
{
	struct fx *f = *state;
	enum { NP = 1536 };
	static uint64_t model[NP]; /* 0 = unmapped, else phys */
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	const uint64_t base = 0x7fffe00000ull; /* three level-1 tables */

	memset(model, 0, sizeof(model));
	for (int op = 0; op < 6000; op++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		unsigned p = (unsigned)(rng % NP), n = 1 + (unsigned)((rng >> 20) % 8);

		if (p + n > NP)
			n = NP - p;
		if ((rng >> 40) & 1) {
			uint64_t pa = ((rng >> 8) & 0xffffff) << 12, mapped;
			unsigned free_run = 0;

			while (free_run < n && !model[p + free_run])
				free_run++;
			int ret = map(&f->d, base + p * K4, pa, K4, n, RW, &mapped);

			assert_int_equal(mapped, free_run * K4);
			assert_int_equal(ret, free_run == n ? 0 : -EEXIST);
			for (unsigned i = 0; i < free_run; i++)
				model[p + i] = pa + i * K4 + 1;
		} else {
			uint64_t first, bytes;
			bool freed;
			unsigned run = 0;

			while (run < n && model[p + run])
				run++;
			assert_int_equal(ops->unmap_range(&f->d, base + p * K4, n * K4, &first,
							  &bytes, NULL, &freed), 0);
			assert_int_equal(first, base + p * K4);
			assert_int_equal(bytes, run * K4);
			for (unsigned i = 0; i < run; i++)
				model[p + i] = 0;
		}
		if (op % 500 == 0)
			wait_ok(f);
	}
	for (unsigned i = 0; i < NP; i++) {
		if (model[i])
			expect_phys(&f->d, base + i * K4, model[i] - 1, K4, RW);
		else
			expect_unmapped(&f->d, base + i * K4);
	}
}

/* ---------------------------------------------------------- mask arithmetic */

static void test_inv_mask_table(void **state)
{
	static const struct {
		uint64_t start, last;
		unsigned max;
		bool ok;
		uint64_t addr;
		unsigned order;
	} rows[] = {
		{ 0x0, 0xfff, 18, true, 0x0, 0 },
		{ 0x5000, 0x5fff, 18, true, 0x5000, 0 },
		{ 0x1000, 0x2fff, 18, true, 0x0, 2 },          /* pages 1..2: order 2 at 0 */
		{ 0x2000, 0x3fff, 18, true, 0x2000, 1 },       /* pages 2..3: aligned pair */
		{ 0x1000, 0x3fff, 18, true, 0x0, 2 },          /* 3 pages round up to 4 */
		{ 0x200000, 0x3fffff, 18, true, 0x200000, 9 }, /* one aligned 2 MiB */
		{ 0x200000, 0x3fffff, 9, true, 0x200000, 9 },
		{ 0x1ff000, 0x200fff, 18, true, 0x0, 10 },     /* 2 pages across 2 MiB */
		{ 0x1ff000, 0x200fff, 9, false, 0x0, 10 },     /* ... past a mask of 9 */
		{ 0x40000000, 0x7fffffff, 18, true, 0x40000000, 18 },
		{ 0x0, 0x7fffffff, 18, false, 0x0, 19 },
		{ 0xfffff000, 0x100000fff, 18, false, 0x0, 21 }, /* across 4 GiB */
		{ 0xfffff000, 0x100000fff, 21, true, 0x0, 21 },
		{ 0xfffffffff000, 0xffffffffffff, 18, true, 0xfffffffff000, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint64_t addr = 1;
		unsigned order = 99;
		bool ok = svf_vtd_inv_mask(rows[i].start, rows[i].last, rows[i].max, &addr, &order);

		assert_int_equal(ok, rows[i].ok);
		assert_int_equal(order, rows[i].order);
		if (ok)
			assert_int_equal(addr, rows[i].addr);
	}
}

static void last_desc(struct fx *f, struct svf_vtd_desc *out)
{
	uint64_t n = svf_vtd_desc_logged(&f->u);

	assert_true(n > 0);
	assert_int_equal(svf_vtd_desc_log(&f->u, n - 1, out), 0);
}

static void test_inv_range_descriptors(void **state)
{
	struct fx *f = *state;
	struct svf_vtd_desc d;
	unsigned mask;

	svf_vtd_geometry(&f->u, NULL, NULL, NULL, &mask);
	assert_int_equal(mask, SVF_VTD_DEFAULT_MAX_MASK_ORDER);

	assert_int_equal(ops->inv_range(&f->d, 0x1000, 0x2fff, true), 0);
	last_desc(f, &d);
	assert_int_equal(d.type, SVF_VTD_DESC_PAGE);
	assert_int_equal(d.did, 1);
	assert_int_equal(d.addr, 0);
	assert_int_equal(d.order, 2);
	assert_true(d.ih);

	assert_int_equal(ops->inv_range(&f->d2, 0x1ff000, 0x200fff, false), 0);
	last_desc(f, &d);
	assert_int_equal(d.type, SVF_VTD_DESC_PAGE);
	assert_int_equal(d.did, 2);
	assert_int_equal(d.order, 10);
	assert_false(d.ih);

	/* Across a 4 GiB boundary the mask is too large: domain-selective. */
	assert_int_equal(ops->inv_range(&f->d, 0xfffff000, 0x100000fff, true), 0);
	last_desc(f, &d);
	assert_int_equal(d.type, SVF_VTD_DESC_DOMAIN);
	assert_int_equal(d.did, 1);

	assert_int_equal(svf_vtd_pending_descs(&f->u), 3);
	assert_int_equal(stats(f).inv_page, 2);
	assert_int_equal(stats(f).inv_domain, 1);
	wait_ok(f);
	last_desc(f, &d);
	assert_int_equal(d.type, SVF_VTD_DESC_WAIT);
	assert_int_equal(svf_vtd_pending_descs(&f->u), 0);
	assert_int_equal(ops->inv_range(&f->d, 0x2000, 0x1000, false), -EINVAL);
	assert_int_equal(svf_vtd_desc_log(&f->u, svf_vtd_desc_logged(&f->u), &d), -ENOENT);
}

/*
 * The queue's ring is the log: after the tail went round it several times
 * (a queue of 3 and full-queue waits between), the last SVF_VTD_LOG_DEPTH
 * descriptors read back in issue order, the one before them is gone, and
 * nothing queued was overwritten (every page invalidation was processed).
 */
static void test_desc_log_wraps(void **state)
{
	const struct geo g = { .depth = 3 };
	struct fx *f = fx_new(&g);
	const uint64_t n0 = svf_vtd_desc_logged(&f->u);
	struct svf_vtd_desc d;
	uint64_t n;

	(void)state;
	for (uint64_t i = 0; i < 3 * SVF_VTD_LOG_DEPTH; i++)
		assert_int_equal(ops->inv_range(&f->d, i * K4, i * K4 + K4 - 1, true), 0);
	assert_int_equal(svf_vtd_pending_descs(&f->u), 3);
	n = svf_vtd_desc_logged(&f->u);
	/* One wait per three page descriptors after the first three. */
	assert_int_equal(n - n0, 3 * SVF_VTD_LOG_DEPTH + (3 * SVF_VTD_LOG_DEPTH - 3) / 3);
	last_desc(f, &d);
	assert_int_equal(d.type, SVF_VTD_DESC_PAGE);
	assert_int_equal(d.addr, (3 * SVF_VTD_LOG_DEPTH - 1) * K4);
	assert_int_equal(svf_vtd_desc_log(&f->u, n - 4, &d), 0);
	assert_int_equal(d.type, SVF_VTD_DESC_WAIT);
	assert_int_equal(svf_vtd_desc_log(&f->u, n - SVF_VTD_LOG_DEPTH, &d), 0);
	assert_int_equal(svf_vtd_desc_log(&f->u, n - SVF_VTD_LOG_DEPTH - 1, &d), -ENOENT);
	wait_ok(f);
	assert_int_equal(svf_vtd_pending_descs(&f->u), 0);
	assert_int_equal(stats(f).inv_page, 3 * SVF_VTD_LOG_DEPTH);
	fx_free(f);
}

static void test_inv_small_max_mask(void **state)
{
	const struct geo g = { .mask = 9 };
	struct fx *f = fx_new(&g);
	struct svf_vtd_desc d;

	(void)state;
	assert_int_equal(ops->inv_range(&f->d, 0, 2 * M2 - 1, true), 0);
	last_desc(f, &d);
	assert_int_equal(d.type, SVF_VTD_DESC_DOMAIN);
	assert_int_equal(ops->inv_range(&f->d, M2, 2 * M2 - 1, true), 0);
	last_desc(f, &d);
	assert_int_equal(d.type, SVF_VTD_DESC_PAGE);
	assert_int_equal(d.order, 9);
	fx_free(f);
}

/* -------------------------------------------------------------------- IOTLB */

static void test_translate_fill_and_hit(void **state)
{
	struct fx *f = *state;
	uint64_t phys = 0;
	struct svf_stats s;

	map_ok(&f->d, 0x7000, 0x123000, K4, 1, RW);
	assert_int_equal(svf_vtd_iotlb_count(&f->u), 0); /* map does not fill */
	assert_int_equal(ops->translate(&f->d, 0x7008, SVF_PROT_READ, &phys), 0);
	assert_int_equal(phys, 0x123008);
	s = stats(f);
	assert_int_equal(s.iotlb_misses, 1);
	assert_int_equal(s.iotlb_hits, 0);
	assert_int_equal(s.modeled_ns, 4 * 82); /* a 4-level walk */
	assert_int_equal(svf_vtd_iotlb_count(&f->u), 1);

	assert_int_equal(ops->translate(&f->d, 0x7ff0, SVF_PROT_WRITE, &phys), 0);
	assert_int_equal(phys, 0x123ff0);
	s = stats(f);
	assert_int_equal(s.iotlb_misses, 1);
	assert_int_equal(s.iotlb_hits, 1);

	/* The same IOVA in another domain is another tag. */
	assert_int_equal(ops->translate(&f->d2, 0x7000, SVF_PROT_READ, &phys), -ENOENT);
	assert_int_equal(stats(f).iotlb_misses, 2);
	assert_int_equal(ops->translate(&f->d, 1ull << 48, SVF_PROT_READ, &phys), -ENOENT);
	assert_int_equal(ops->translate(&f->d, 0x7000, 0, &phys), -EINVAL);
}

static void test_invalidation_waits_for_wait(void **state)
{
	struct fx *f = *state;
	uint64_t phys = 0, first, bytes;
	bool freed;

	map_ok(&f->d, 0x7000, 0x123000, K4, 1, RW);
	assert_int_equal(ops->translate(&f->d, 0x7000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(ops->unmap_range(&f->d, 0x7000, K4, &first, &bytes, NULL, &freed), 0);
	expect_unmapped(&f->d, 0x7000);

	/* Unmapped, not invalidated: the device still translates. */
	assert_int_equal(ops->translate(&f->d, 0x7000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(phys, 0x123000);
	assert_int_equal(ops->inv_range(&f->d, 0x7000, 0x7fff, true), 0);
	assert_int_equal(svf_vtd_pending_descs(&f->u), 1);
	/* Queued, not waited: still there. */
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, 0x7000, &phys, NULL, NULL), 0);
	assert_int_equal(ops->translate(&f->d, 0x7000, SVF_PROT_WRITE, &phys), 0);
	assert_int_equal(stats(f).iotlb_entries_invalidated, 0);

	wait_ok(f);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, 0x7000, &phys, NULL, NULL), -ENOENT);
	assert_int_equal(svf_vtd_iotlb_count(&f->u), 0);
	assert_int_equal(ops->translate(&f->d, 0x7000, SVF_PROT_READ, &phys), -ENOENT);
	assert_int_equal(stats(f).iotlb_entries_invalidated, 1);
	assert_int_equal(stats(f).waits, 1);
}

static void test_page_inv_leaves_neighbours(void **state)
{
	struct fx *f = *state;
	uint64_t phys;

	map_ok(&f->d, 0x10000, 0x500000, K4, 4, RW);
	for (uint64_t i = 0; i < 4; i++)
		assert_int_equal(ops->translate(&f->d, 0x10000 + i * K4, SVF_PROT_READ, &phys), 0);
	map_ok(&f->d2, 0x10000, 0x600000, K4, 1, RW);
	assert_int_equal(ops->translate(&f->d2, 0x10000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(svf_vtd_iotlb_count(&f->u), 5);

	/* Pages 0x12000..0x13fff: an aligned pair, order 1; neighbours stay. */
	assert_int_equal(ops->inv_range(&f->d, 0x12000, 0x13fff, true), 0);
	wait_ok(f);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, 0x10000, NULL, NULL, NULL), 0);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, 0x11000, NULL, NULL, NULL), 0);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, 0x12000, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, 0x13000, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 2, 0x10000, NULL, NULL, NULL), 0);
	assert_int_equal(stats(f).iotlb_entries_invalidated, 2);
}

static void test_superpage_entry(void **state)
{
	struct fx *f = *state;
	uint64_t phys, leaf;

	map_ok(&f->d, 2 * M2, 0x40000000, M2, 1, RW);
	assert_int_equal(ops->translate(&f->d, 2 * M2 + 0x5000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(phys, 0x40005000);
	assert_int_equal(ops->translate(&f->d, 2 * M2 + 0x1ff000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(phys, 0x401ff000);
	assert_int_equal(stats(f).iotlb_hits, 1);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, 2 * M2 + 0x77000, &phys, &leaf, NULL), 0);
	assert_int_equal(leaf, M2);
	assert_int_equal(phys, 0x40077000);

	/* One 4K page inside the 2 MiB leaf: the whole entry overlaps, so it goes. */
	assert_int_equal(ops->inv_range(&f->d, 2 * M2 + 0x9000, 2 * M2 + 0x9fff, true), 0);
	wait_ok(f);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, 2 * M2, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(svf_vtd_iotlb_count(&f->u), 0);

	/* 1 GiB entry, removed by a domain-selective invalidation. */
	map_ok(&f->d, G1, 0x80000000, G1, 1, RW);
	assert_int_equal(ops->translate(&f->d, G1 + 0x12345678, SVF_PROT_WRITE, &phys), 0);
	assert_int_equal(phys, 0x92345678);
	assert_int_equal(ops->inv_domain(&f->d), 0);
	wait_ok(f);
	assert_int_equal(svf_vtd_iotlb_count(&f->u), 0);
}

static void test_set_conflict_eviction(void **state)
{
	const struct geo g = { .sets = 4, .ways = 2 };
	struct fx *f = fx_new(&g);
	const uint64_t a = 0x10000, b = a + 4 * K4, c = a + 8 * K4; /* 4 sets apart */
	uint64_t phys;
	unsigned sets, ways;

	(void)state;
	svf_vtd_geometry(&f->u, &sets, &ways, NULL, NULL);
	assert_int_equal(sets, 4);
	assert_int_equal(ways, 2);
	const unsigned set = svf_vtd_iotlb_set_of(&f->u, 1, a, K4);

	assert_int_equal(svf_vtd_iotlb_set_of(&f->u, 1, b, K4), set);
	assert_int_equal(svf_vtd_iotlb_set_of(&f->u, 1, c, K4), set);
	assert_int_not_equal(svf_vtd_iotlb_set_of(&f->u, 1, a + K4, K4), set);
	map_ok(&f->d, a, 0x100000, K4, 1, RW);
	map_ok(&f->d, b, 0x200000, K4, 1, RW);
	map_ok(&f->d, c, 0x300000, K4, 1, RW);
	assert_int_equal(ops->translate(&f->d, a, SVF_PROT_READ, &phys), 0);
	assert_int_equal(ops->translate(&f->d, b, SVF_PROT_READ, &phys), 0);
	assert_int_equal(ops->translate(&f->d, c, SVF_PROT_READ, &phys), 0);
	assert_int_equal(svf_vtd_iotlb_count(&f->u), 2);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, a, NULL, NULL, NULL), -ENOENT); /* oldest */
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, b, NULL, NULL, NULL), 0);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, c, NULL, NULL, NULL), 0);
	assert_int_equal(ops->translate(&f->d, a, SVF_PROT_READ, &phys), 0);
	assert_int_equal(stats(f).iotlb_misses, 4);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, b, NULL, NULL, NULL), -ENOENT);
	/* Eviction is not invalidation. */
	assert_int_equal(stats(f).iotlb_entries_invalidated, 0);
	fx_free(f);
}

static void test_permissions(void **state)
{
	struct fx *f = *state;
	uint64_t phys;

	map_ok(&f->d, 0x1000, 0x11000, K4, 1, SVF_PROT_READ);
	map_ok(&f->d, 0x2000, 0x22000, K4, 1, SVF_PROT_WRITE);
	for (int round = 0; round < 2; round++) { /* miss path, then hit path */
		assert_int_equal(ops->translate(&f->d, 0x1000, SVF_PROT_WRITE, &phys), -EACCES);
		assert_int_equal(ops->translate(&f->d, 0x1000, SVF_PROT_READ, &phys), 0);
		assert_int_equal(phys, 0x11000);
		assert_int_equal(ops->translate(&f->d, 0x2000, SVF_PROT_READ, &phys), -EACCES);
		assert_int_equal(ops->translate(&f->d, 0x2000, SVF_PROT_WRITE, &phys), 0);
		assert_int_equal(phys, 0x22000);
		assert_int_equal(ops->translate(&f->d, 0x2000, RW, &phys), -EACCES);
	}
	assert_int_equal(stats(f).iotlb_misses, 2);
	expect_phys(&f->d, 0x2000, 0x22000, K4, SVF_PROT_WRITE);
}

static void test_domain_and_global_invalidation(void **state)
{
	struct fx *f = *state;
	uint64_t phys;

	map_ok(&f->d, 0x1000, 0x11000, K4, 1, RW);
	map_ok(&f->d2, 0x1000, 0x21000, K4, 1, RW);
	assert_int_equal(ops->translate(&f->d, 0x1000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(ops->translate(&f->d2, 0x1000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(phys, 0x21000);
	assert_int_equal(ops->inv_domain(&f->d), 0);
	wait_ok(f);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, 0x1000, NULL, NULL, NULL), -ENOENT);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 2, 0x1000, NULL, NULL, NULL), 0);
	assert_int_equal(ops->translate(&f->d, 0x1000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(ops->inv_global(&f->u), 0);
	assert_int_equal(svf_vtd_iotlb_count(&f->u), 2);
	wait_ok(f);
	assert_int_equal(svf_vtd_iotlb_count(&f->u), 0);
	struct svf_stats s = stats(f);
	assert_int_equal(s.inv_domain, 1);
	assert_int_equal(s.inv_global, 1);
	assert_int_equal(s.waits, 2);
	assert_int_equal(s.iotlb_entries_invalidated, 3);
}

static void test_queue_full_waits(void **state)
{
	const struct geo g = { .depth = 4 };
	struct fx *f = fx_new(&g);
	uint64_t phys;

	(void)state;
	map_ok(&f->d, 0x1000, 0x11000, K4, 1, RW);
	assert_int_equal(ops->translate(&f->d, 0x1000, SVF_PROT_READ, &phys), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ops->inv_range(&f->d, 0x1000, 0x1fff, true), 0);
	assert_int_equal(svf_vtd_pending_descs(&f->u), 4);
	assert_int_equal(stats(f).waits, 0);
	assert_int_equal(svf_vtd_iotlb_count(&f->u), 1);
	/* The fifth finds the queue full: the driver waits first. */
	assert_int_equal(ops->inv_range(&f->d, 0x1000, 0x1fff, true), 0);
	assert_int_equal(svf_vtd_pending_descs(&f->u), 1);
	assert_int_equal(stats(f).waits, 1);
	assert_int_equal(stats(f).inv_page, 5);
	assert_int_equal(svf_vtd_iotlb_count(&f->u), 0);
	fx_free(f);
}

/* ---------------------------------------------------------------- unpin check */

static void test_unpin_safe(void **state)
{
	struct fx *f = *state;
	uint64_t phys, first, bytes;
	bool freed;

	/* Mapped: not safe. */
	map_ok(&f->d, 0x40000, 0x900000, K4, 2, RW);
	assert_false(ops->unpin_safe(&f->d, 0x40000, 0x900000, 2 * K4));
	assert_int_equal(ops->translate(&f->d, 0x41000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(ops->unmap_range(&f->d, 0x40000, 2 * K4, &first, &bytes, NULL, &freed), 0);
	/* Unmapped, but an IOTLB entry still points there. */
	assert_false(ops->unpin_safe(&f->d, 0x40000, 0x900000, 2 * K4));
	assert_false(ops->unpin_safe(&f->d, 0x41000, 0x901000, K4));
	assert_true(ops->unpin_safe(&f->d, 0x40000, 0x900000, K4)); /* page 0: never cached */
	assert_int_equal(ops->inv_range(&f->d, 0x40000, 0x41fff, true), 0);
	/* Entry and a queued descriptor: still not safe. */
	assert_false(ops->unpin_safe(&f->d, 0x40000, 0x900000, 2 * K4));
	wait_ok(f);
	assert_true(ops->unpin_safe(&f->d, 0x40000, 0x900000, 2 * K4));

	/* A queued descriptor alone (nothing cached) blocks too. */
	map_ok(&f->d, 0x80000, 0xa00000, K4, 1, RW);
	assert_int_equal(ops->unmap_range(&f->d, 0x80000, K4, &first, &bytes, NULL, &freed), 0);
	assert_true(ops->unpin_safe(&f->d, 0x80000, 0xa00000, K4));
	assert_int_equal(ops->inv_range(&f->d, 0x80000, 0x80fff, true), 0);
	assert_false(ops->unpin_safe(&f->d, 0x80000, 0xa00000, K4));
	assert_true(ops->unpin_safe(&f->d, 0x90000, 0xb00000, K4)); /* elsewhere */
	assert_true(ops->unpin_safe(&f->d2, 0x80000, 0xb00000, K4)); /* other domain */
	wait_ok(f);
	assert_true(ops->unpin_safe(&f->d, 0x80000, 0xa00000, K4));
	/* A queued domain-selective or global invalidation covers everything. */
	assert_int_equal(ops->inv_domain(&f->d), 0);
	assert_false(ops->unpin_safe(&f->d, 0x80000, 0xa00000, K4));
	assert_true(ops->unpin_safe(&f->d2, 0x80000, 0xa00000, K4));
	assert_int_equal(ops->inv_global(&f->u), 0);
	assert_false(ops->unpin_safe(&f->d2, 0x80000, 0xa00000, K4));
	wait_ok(f);

	/*
	 * Another domain's IOTLB entry reaching the same physical page is that
	 * domain's translation, under its own pin (two containers of one unit
	 * mapping one buffer): no concern of d's unpin. It counts for d2's.
	 */
	map_ok(&f->d2, 0x5000, 0xc00000, K4, 1, RW);
	assert_int_equal(ops->translate(&f->d2, 0x5000, SVF_PROT_READ, &phys), 0);
	assert_true(ops->unpin_safe(&f->d, 0x70000, 0xc00000, K4));
	assert_true(ops->unpin_safe(&f->d, 0x70000, 0xc01000, K4));
	assert_int_equal(ops->unmap_range(&f->d2, 0x5000, K4, &first, &bytes, NULL, &freed), 0);
	assert_false(ops->unpin_safe(&f->d2, 0x5000, 0xc00000, K4));
	assert_false(ops->unpin_safe(&f->d2, 0x6000, 0xc00000, K4)); /* the frame, at any IOVA */

	/* A huge range still sees a leaf near its start (no index truncation). */
	map_ok(&f->d, 0x1000, 0xd00000, K4, 1, RW);
	assert_false(ops->unpin_safe(&f->d, 0, 0xd00000, (1ull << 44) + 0x1000));
	assert_true(ops->unpin_safe(&f->d, 0x2000, 0xd00000, (1ull << 44)));
	/*
	 * Frames are compared: the IOVA mapped again to another frame (before
	 * a lazy flush unpins the old one) does not keep the old frame busy.
	 */
	assert_true(ops->unpin_safe(&f->d, 0x1000, 0xdead0000, K4));
	assert_true(ops->unpin_safe(&f->d, 0, 0xdead0000, (1ull << 44) + 0x1000));
}

/* --------------------------------------------------------------- fault seams */

static void test_fault_pt_alloc(void **state)
{
	struct fx *f = *state;
	uint64_t mapped = 99;
	struct svf_stats before = stats(f), after;

	arm(1, 1u << SVF_FAULT_PT_ALLOC);
	assert_int_equal(map(&f->d, 0x3000, 0x3000, K4, 1, RW, &mapped), -ENOMEM);
	assert_true(svf_fault_disarm());
	assert_int_equal(mapped, 0);
	after = stats(f);
	assert_int_equal(after.pt_pages, before.pt_pages);
	expect_unmapped(&f->d, 0x3000);

	/* Walk the Nth table allocation of a map that needs three. */
	for (uint64_t n = 1;; n++) {
		arm(n, 1u << SVF_FAULT_PT_ALLOC);
		int ret = map(&f->d, 0x8000000000ull + 0x3000, 0x3000, K4, 1, RW, &mapped);
		bool fired = svf_fault_disarm();

		if (!fired) {
			assert_int_equal(ret, 0);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_int_equal(mapped, 0);
		assert_true(n <= 3);
	}
	expect_phys(&f->d, 0x8000000000ull + 0x3000, 0x3000, K4, RW);
}

static void test_fault_driver_seams(void **state)
{
	struct fx *f = *state;
	uint64_t mapped = 99, first = 1, bytes = 1;
	bool freed = true;

	arm(1, 1u << SVF_FAULT_IOMMU_MAP);
	assert_int_equal(map(&f->d, 0x1000, 0x1000, K4, 1, RW, &mapped), -EIO);
	assert_true(svf_fault_disarm());
	assert_int_equal(mapped, 0);
	expect_unmapped(&f->d, 0x1000);

	map_ok(&f->d, 0x1000, 0x1000, K4, 1, RW);
	arm(1, 1u << SVF_FAULT_IOMMU_UNMAP);
	assert_int_equal(ops->unmap_range(&f->d, 0x1000, K4, &first, &bytes, NULL, &freed), -EIO);
	assert_true(svf_fault_disarm());
	assert_int_equal(bytes, 0);
	assert_false(freed);
	expect_phys(&f->d, 0x1000, 0x1000, K4, RW);

	const uint64_t logged = svf_vtd_desc_logged(&f->u);

	for (int which = 0; which < 4; which++) {
		int ret = 0;

		arm(1, 1u << SVF_FAULT_IOMMU_SYNC);
		switch (which) {
		case 0:
			ret = ops->inv_range(&f->d, 0x1000, 0x1fff, true);
			break;
		case 1:
			ret = ops->inv_domain(&f->d);
			break;
		case 2:
			ret = ops->inv_global(&f->u);
			break;
		case 3:
			ret = ops->wait(&f->u);
			break;
		}
		assert_true(svf_fault_disarm());
		assert_int_equal(ret, -EIO);
	}
	assert_int_equal(svf_vtd_desc_logged(&f->u), logged);
	assert_int_equal(svf_vtd_pending_descs(&f->u), 0);
	struct svf_stats s = stats(f);
	assert_int_equal(s.inv_page + s.inv_domain + s.inv_global + s.waits, 0);

	/* A failed wait leaves the queue for the next one. */
	assert_int_equal(ops->inv_range(&f->d, 0x1000, 0x1fff, true), 0);
	arm(1, 1u << SVF_FAULT_IOMMU_SYNC);
	assert_int_equal(ops->wait(&f->u), -EIO);
	svf_fault_disarm();
	assert_int_equal(svf_vtd_pending_descs(&f->u), 1);
	wait_ok(f);
	assert_int_equal(svf_vtd_pending_descs(&f->u), 0);
}

/*
 * inv_range_wait: inv_range then wait in one call, with the seams of both in
 * that order. Its inv seam fails with nothing queued; its wait seam leaves
 * the descriptor queued (the translation still cached) for the next wait.
 */
static void test_inv_range_wait(void **state)
{
	struct fx *f = *state;
	uint64_t phys = 0, first, bytes;
	const uint64_t logged0 = svf_vtd_desc_logged(&f->u);
	struct svf_vtd_desc desc;
	bool freed, queued = true;

	map_ok(&f->d, 0x7000, 0x123000, K4, 1, RW);
	assert_int_equal(ops->translate(&f->d, 0x7000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(ops->unmap_range(&f->d, 0x7000, K4, &first, &bytes, NULL, &freed), 0);

	arm(1, 1u << SVF_FAULT_IOMMU_SYNC); /* the inv seam */
	assert_int_equal(ops->inv_range_wait(&f->d, 0x7000, 0x7fff, true, &queued), -EIO);
	assert_true(svf_fault_disarm());
	assert_false(queued);
	assert_int_equal(svf_vtd_pending_descs(&f->u), 0);
	assert_int_equal(svf_vtd_desc_logged(&f->u), logged0);

	arm(2, 1u << SVF_FAULT_IOMMU_SYNC); /* the wait seam */
	assert_int_equal(ops->inv_range_wait(&f->d, 0x7000, 0x7fff, true, &queued), -EIO);
	assert_true(svf_fault_disarm());
	assert_true(queued);
	assert_int_equal(svf_vtd_pending_descs(&f->u), 1);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, 0x7000, &phys, NULL, NULL), 0);
	assert_int_equal(stats(f).waits, 0);
	wait_ok(f);
	assert_int_equal(svf_vtd_iotlb_peek(&f->u, 1, 0x7000, &phys, NULL, NULL), -ENOENT);
	assert_int_equal(svf_vtd_desc_logged(&f->u), logged0 + 2);
	assert_int_equal(svf_vtd_desc_log(&f->u, logged0, &desc), 0);
	assert_int_equal(desc.type, SVF_VTD_DESC_PAGE);
	assert_int_equal(desc.addr, 0x7000);
	assert_int_equal(desc.order, 0);
	assert_true(desc.ih);

	/* Unfailed: queued and completed, the page descriptor then the wait. */
	map_ok(&f->d, 0x7000, 0x123000, K4, 1, RW);
	assert_int_equal(ops->translate(&f->d, 0x7000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(ops->unmap_range(&f->d, 0x7000, K4, &first, &bytes, NULL, &freed), 0);
	queued = false;
	assert_int_equal(ops->inv_range_wait(&f->d, 0x7000, 0x7fff, false, &queued), 0);
	assert_true(queued);
	assert_int_equal(svf_vtd_pending_descs(&f->u), 0);
	assert_int_equal(svf_vtd_iotlb_count(&f->u), 0);
	assert_int_equal(ops->translate(&f->d, 0x7000, SVF_PROT_READ, &phys), -ENOENT);
	assert_int_equal(svf_vtd_desc_log(&f->u, logged0 + 2, &desc), 0);
	assert_int_equal(desc.type, SVF_VTD_DESC_PAGE);
	assert_false(desc.ih);
	assert_int_equal(svf_vtd_desc_log(&f->u, logged0 + 3, &desc), 0);
	assert_int_equal(desc.type, SVF_VTD_DESC_WAIT);
	assert_int_equal(stats(f).waits, 2);
	assert_int_equal(ops->inv_range_wait(&f->d, 0x8000, 0x7fff, false, &queued), -EINVAL);
}

static void test_fault_init_paths(void **state)
{
	(void)state;
	/* unit_init: three allocations (unit, IOTLB, queue). */
	for (uint64_t n = 1;; n++) {
		struct svf_iommu u = { .ops = ops };

		ops->default_config(&u.cfg);
		arm(n, 1u << SVF_FAULT_ALLOC);
		int ret = ops->unit_init(&u);
		bool fired = svf_fault_disarm();

		if (!fired) {
			assert_int_equal(ret, 0);
			ops->unit_fini(&u);
			assert_true(n > 3);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
	}
	/* domain_init: the domain (ALLOC) and its root (PT_ALLOC). */
	struct fx *f = fx_new(NULL);
	struct svf_domain d = { .unit = &f->u, .id = 7 };

	arm(1, 1u << SVF_FAULT_ALLOC);
	assert_int_equal(ops->domain_init(&d), -ENOMEM);
	svf_fault_disarm();
	arm(1, 1u << SVF_FAULT_PT_ALLOC);
	assert_int_equal(ops->domain_init(&d), -ENOMEM);
	svf_fault_disarm();
	assert_int_equal(stats(f).pt_pages, 2);
	assert_int_equal(ops->domain_init(&d), 0);
	assert_int_equal(stats(f).pt_pages, 3);
	ops->domain_fini(&d);
	assert_int_equal(stats(f).pt_pages, 2);
	fx_free(f);
}

/* ------------------------------------------------------ stats, cost, regions */

static void test_cost_model(void **state)
{
	struct fx *f = *state;
	struct svf_iommu_config def;
	uint64_t first, bytes;
	bool freed;

	memset(&def, 0, sizeof(def));
	ops->default_config(&def);
	assert_true(def.cost.enabled);
	assert_int_equal(def.cost.wait_ns, 780);
	assert_int_equal(def.cost.inv_page_ns, 20);

	/* Strict: one descriptor and one wait per page. */
	map_ok(&f->d, 0x100000, 0x100000, K4, 8, RW);
	for (int i = 0; i < 8; i++) {
		uint64_t iova = 0x100000 + i * K4;

		assert_int_equal(ops->unmap_range(&f->d, iova, K4, &first, &bytes, NULL, &freed), 0);
		assert_int_equal(ops->inv_range(&f->d, iova, iova + K4 - 1, true), 0);
		wait_ok(f);
	}
	assert_int_equal(stats(f).modeled_ns, 8 * (20 + 780));

	/* Batched: eight descriptors, one wait. */
	map_ok(&f->d, 0x100000, 0x100000, K4, 8, RW);
	for (int i = 0; i < 8; i++) {
		uint64_t iova = 0x100000 + i * K4;

		assert_int_equal(ops->unmap_range(&f->d, iova, K4, &first, &bytes, NULL, &freed), 0);
		assert_int_equal(ops->inv_range(&f->d, iova, iova + K4 - 1, true), 0);
	}
	wait_ok(f);
	assert_int_equal(stats(f).modeled_ns, 8 * (20 + 780) + 8 * 20 + 780);

	/* Off: nothing is charged, counters still count. */
	const struct geo off = { .cost_off = true };
	struct fx *g = fx_new(&off);
	uint64_t phys;

	map_ok(&g->d, 0x1000, 0x1000, K4, 1, RW);
	assert_int_equal(ops->translate(&g->d, 0x1000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(ops->inv_global(&g->u), 0);
	wait_ok(g);
	struct svf_stats s = stats(g);
	assert_int_equal(s.modeled_ns, 0);
	assert_int_equal(s.waits, 1);
	fx_free(g);

	/* A custom model is used as given; a disabled one with figures is off. */
	struct fx *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	h->u.ops = ops;
	h->u.cfg.cost =
		(struct svf_cost_model){ .enabled = true, .inv_global_ns = 5, .wait_ns = 100 };
	assert_int_equal(ops->unit_init(&h->u), 0);
	assert_int_equal(ops->inv_global(&h->u), 0);
	assert_int_equal(ops->wait(&h->u), 0);
	s = (struct svf_stats){ 0 };
	ops->add_stats(&h->u, &s);
	assert_int_equal(s.modeled_ns, 105);
	ops->unit_fini(&h->u);
	h->u.cfg.cost.enabled = false;
	assert_int_equal(ops->unit_init(&h->u), 0);
	assert_int_equal(ops->wait(&h->u), 0);
	s = (struct svf_stats){ 0 };
	ops->add_stats(&h->u, &s);
	assert_int_equal(s.modeled_ns, 0);
	ops->unit_fini(&h->u);
	free(h);
}

static void test_add_stats_accumulates(void **state)
{
	struct fx *f = *state;
	struct svf_stats s;

	assert_int_equal(ops->inv_global(&f->u), 0);
	wait_ok(f);
	memset(&s, 0, sizeof(s));
	s.waits = 10;
	s.pt_pages = 1;
	ops->add_stats(&f->u, &s);
	assert_int_equal(s.waits, 11);
	assert_int_equal(s.inv_global, 1);
	assert_int_equal(s.pt_pages, 3);
}

static void test_resv_regions_and_geometry(void **state)
{
	struct fx *f = *state;
	struct svf_resv_region r[2];
	size_t nr = 0;
	unsigned sets, ways, depth;

	assert_int_equal(ops->resv_regions(&f->d, r, 2, &nr), 0);
	assert_int_equal(nr, 1);
	assert_int_equal(r[0].start, 0xfee00000);
	assert_int_equal(r[0].last, 0xfeefffff);
	assert_int_equal(ops->resv_regions(&f->d, NULL, 0, &nr), 0);
	assert_int_equal(nr, 1);
	assert_string_equal(ops->name, "vtd");
	assert_int_equal(ops->pgsize_bitmap, 0x40201000ull);
	assert_int_equal(ops->ias_bits, 48);
	svf_vtd_geometry(&f->u, &sets, &ways, &depth, NULL);
	assert_int_equal(sets, 64);
	assert_int_equal(ways, 8);
	assert_int_equal(depth, 1024);
}

/* ------------------------------------------- white-box: the two race guards */

/* A fill whose walk began before an invalidation started is refused. */
static void test_iotlb_stale_fill_refused(void **state)
{
	struct svf_iotlb t;
	uint64_t out = 0, data;
	unsigned code;

	(void)state;
	assert_int_equal(svf_iotlb_init(&t, 4, 2), 0);
	uint64_t gen = svf_iotlb_gen(&t);

	svf_iotlb_begin_invalidation(&t); /* a wait starts processing meanwhile */
	assert_int_equal(svf_iotlb_fill(&t, 1, 0x5000, SVF_TLB_4K, 0x9000 | SVF_TLB_R, gen, &out),
			 -EAGAIN);
	assert_int_equal(svf_iotlb_count(&t), 0);
	assert_false(svf_iotlb_lookup(&t, 1, 0x5000, &data, &code));
	/* Walking again under the new generation fills. */
	gen = svf_iotlb_gen(&t);
	assert_int_equal(svf_iotlb_fill(&t, 1, 0x5000, SVF_TLB_4K, 0x9000 | SVF_TLB_R, gen, &out),
			 0);
	assert_int_equal(out, 0x9000 | SVF_TLB_R);
	assert_true(svf_iotlb_lookup(&t, 1, 0x5abc, &data, &code));
	assert_int_equal(code, SVF_TLB_4K);
	/* A second fill of the same tag keeps the cached entry. */
	assert_int_equal(svf_iotlb_fill(&t, 1, 0x5000, SVF_TLB_4K, 0x7000 | SVF_TLB_W, gen, &out),
			 0);
	assert_int_equal(out, 0x9000 | SVF_TLB_R);
	assert_int_equal(svf_iotlb_count(&t), 1);
	svf_iotlb_fini(&t);
}

struct walker {
	int slot;
	int inside, release, done;
};

static void *walker_thread(void *arg)
{
	struct walker *w = arg;

	w->slot = svf_reader_slot();
	svf_reader_enter(w->slot);
	__atomic_store_n(&w->inside, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&w->release, __ATOMIC_ACQUIRE))
		sched_yield();
	svf_reader_exit(w->slot);
	return NULL;
}

static void *sync_thread(void *arg)
{
	struct walker *w = arg;

	svf_reader_synchronize();
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * The probe's hint: a fill from a hint whose set changed since the probe
 * scans again (no second entry for a tag another thread filled meanwhile);
 * a fill from a current hint takes the empty way the probe saw, then the
 * round-robin victim once the set is full. Then a set of more than eight
 * ways (two fingerprint words): every way is found, an invalidation removes
 * exactly its entry.
 */
static void test_iotlb_hint_and_wide_sets(void **state)
{
	struct svf_iotlb t;
	struct svf_iotlb_hint h1, h2;
	uint64_t out = 0, data;
	unsigned code;

	(void)state;
	assert_int_equal(svf_iotlb_init(&t, 1, 2), 0);
	uint64_t gen = svf_iotlb_gen(&t);

	/* Two threads miss on one tag; both fill from their hints. */
	assert_false(svf_iotlb_probe_hint(&t, 1, 0x5000, SVF_TLB_4K, &data, &h1));
	assert_false(svf_iotlb_probe_hint(&t, 1, 0x5000, SVF_TLB_4K, &data, &h2));
	assert_int_equal(h1.empty, 0);
	assert_int_equal(svf_iotlb_fill_hint(&t, 1, 0x5000, SVF_TLB_4K, 0x9000 | SVF_TLB_R, gen, &h1,
					     &out), 0);
	assert_int_equal(svf_iotlb_fill_hint(&t, 1, 0x5000, SVF_TLB_4K, 0x7000 | SVF_TLB_R, gen, &h2,
					     &out), 0);
	assert_int_equal(out, 0x9000 | SVF_TLB_R); /* the first fill's entry, kept */
	assert_int_equal(svf_iotlb_count(&t), 1);
	/* A current hint: the second way; then the set is full: way 0 goes. */
	assert_false(svf_iotlb_probe_hint(&t, 1, 0x6000, SVF_TLB_4K, &data, &h1));
	assert_int_equal(h1.empty, 1);
	assert_int_equal(svf_iotlb_fill_hint(&t, 1, 0x6000, SVF_TLB_4K, 0xa000 | SVF_TLB_R, gen, &h1,
					     &out), 0);
	assert_false(svf_iotlb_probe_hint(&t, 1, 0x8000, SVF_TLB_4K, &data, &h1));
	assert_int_equal(h1.empty, -1);
	assert_int_equal(svf_iotlb_fill_hint(&t, 1, 0x8000, SVF_TLB_4K, 0xb000 | SVF_TLB_W, gen, &h1,
					     &out), 0);
	assert_int_equal(svf_iotlb_count(&t), 2);
	assert_false(svf_iotlb_lookup(&t, 1, 0x5000, &data, &code));
	assert_true(svf_iotlb_lookup(&t, 1, 0x6000, &data, &code));
	assert_int_equal(data, 0xa000 | SVF_TLB_R);
	assert_true(svf_iotlb_lookup(&t, 1, 0x8000, &data, &code));
	assert_int_equal(data, 0xb000 | SVF_TLB_W);
	svf_iotlb_fini(&t);

	/* 13 ways: two fingerprint words, the second one partly ways. */
	assert_int_equal(svf_iotlb_init(&t, 1, 13), 0);
	gen = svf_iotlb_gen(&t);
	for (uint64_t i = 0; i < 13; i++) {
		assert_false(svf_iotlb_probe_hint(&t, 1, i << 12, SVF_TLB_4K, &data, &h1));
		assert_int_equal(h1.empty, (int)i);
		assert_int_equal(svf_iotlb_fill_hint(&t, 1, i << 12, SVF_TLB_4K,
						     ((0x100 + i) << 12) | SVF_TLB_R, gen, &h1, &out),
				 0);
	}
	assert_int_equal(svf_iotlb_count(&t), 13);
	assert_false(svf_iotlb_probe_hint(&t, 1, 13 << 12, SVF_TLB_4K, &data, &h1));
	assert_int_equal(h1.empty, -1);
	for (uint64_t i = 0; i < 13; i++) {
		assert_true(svf_iotlb_lookup(&t, 1, (i << 12) + 0x123, &data, &code));
		assert_int_equal(data, ((0x100 + i) << 12) | SVF_TLB_R);
		assert_false(svf_iotlb_lookup(&t, 2, i << 12, &data, &code)); /* another domain */
	}
	const struct svf_tlb_match m = { .kind = SVF_TLB_MATCH_PAGES, .did = 1, .first_pfn = 11,
					 .last_pfn = 11 };

	svf_iotlb_begin_invalidation(&t);
	assert_int_equal(svf_iotlb_invalidate(&t, &m), 1);
	svf_iotlb_end_invalidation(&t);
	assert_int_equal(svf_iotlb_count(&t), 12);
	assert_false(svf_iotlb_lookup(&t, 1, 11 << 12, &data, &code));
	assert_true(svf_iotlb_lookup(&t, 1, 12 << 12, &data, &code));
	assert_false(svf_iotlb_probe_hint(&t, 1, 11 << 12, SVF_TLB_4K, &data, &h1));
	assert_int_equal(h1.empty, 11);
	svf_iotlb_fini(&t);
}

/* A grace period does not end while a walk that began before it is running. */
static void test_grace_period_waits_for_walker(void **state)
{
	struct walker w = { 0 };
	pthread_t a, b;

	(void)state;
	assert_int_equal(pthread_create(&a, NULL, walker_thread, &w), 0);
	while (!__atomic_load_n(&w.inside, __ATOMIC_ACQUIRE))
		sched_yield();
	assert_int_equal(pthread_create(&b, NULL, sync_thread, &w), 0);
	for (int i = 0; i < 2000; i++)
		sched_yield();
	assert_int_equal(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE), 0);
	__atomic_store_n(&w.release, 1, __ATOMIC_RELEASE);
	pthread_join(b, NULL);
	pthread_join(a, NULL);
	assert_int_equal(w.done, 1);
	/* Not inside a walk: returns at once. */
	svf_reader_synchronize();
}

/* ------------------------------------------------- concurrent translate smoke */

struct race {
	struct fx *f;
	uint64_t dead_epoch; /* epochs <= this are unmapped and waited for */
	int stop;
	int started;
	uint64_t violations;
	uint64_t translations;
	uint64_t successes;
};

#define RACE_PAGES 64
#define RACE_IOVA  0x200000000ull

static uint64_t race_phys(uint64_t epoch, unsigned page)
{
	return (epoch << 24) + (uint64_t)page * K4;
}

/*
 * The yields on both sides are switch points for a scheduler that runs one
 * thread at a time and switches only at a system call or after a long
 * quantum (valgrind: 100,000 superblocks of the running thread). Without
 * them the writer's only system calls in a round (the wait's clock reads
 * and membarrier) come after the unmap, and it runs far fewer blocks than a
 * quantum between them, so the readers ran only while the range was
 * unmapped: every translation failed, none could be a violation, and each
 * reader kept the CPU for a whole quantum per switch. Natively they cost a
 * system call per round and per 256 translations.
 */
static void *race_reader(void *arg)
{
	struct race *r = arg;
	unsigned page = 0, n = 0;

	__atomic_add_fetch(&r->started, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		uint64_t dead = __atomic_load_n(&r->dead_epoch, __ATOMIC_ACQUIRE), phys;
		int ret = ops->translate(&r->f->d, RACE_IOVA + page * K4, SVF_PROT_READ, &phys);

		if (ret == 0 && (phys >> 24) <= dead)
			__atomic_add_fetch(&r->violations, 1, __ATOMIC_RELAXED);
		if (ret == 0)
			__atomic_add_fetch(&r->successes, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&r->translations, 1, __ATOMIC_RELAXED);
		page = (page + 7) % RACE_PAGES;
		if ((++n & 255) == 0)
			sched_yield(); /* hand the CPU to the writer (see above) */
	}
	return NULL;
}

static void test_concurrent_translate(void **state)
{
	const struct geo g = { .sets = 16, .ways = 4 };
	struct race r = { .f = fx_new(&g) };
	pthread_t th[2];

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_reader, &r), 0);
	while (__atomic_load_n(&r.started, __ATOMIC_ACQUIRE) < 2)
		sched_yield();
	/* At least 400 rounds, and until the readers saw real translations. */
	for (uint64_t epoch = 1;
	     epoch <= 400 || (epoch < 200000 &&
			      (__atomic_load_n(&r.successes, __ATOMIC_RELAXED) < 2000 ||
			       __atomic_load_n(&r.translations, __ATOMIC_RELAXED) < 20000));
	     epoch++) {
		uint64_t first, bytes;
		bool freed;

		for (unsigned p = 0; p < RACE_PAGES; p += 8)
			map_ok(&r.f->d, RACE_IOVA + p * K4, race_phys(epoch, p), K4, 8, RW);
		for (int spin = 0; spin < 2000; spin++)
			__asm__ volatile("" ::: "memory");
		sched_yield(); /* let the readers run while the range is mapped (above) */
		assert_int_equal(ops->unmap_range(&r.f->d, RACE_IOVA, RACE_PAGES * K4, &first,
						  &bytes, NULL, &freed), 0);
		assert_int_equal(bytes, RACE_PAGES * K4);
		assert_int_equal(ops->inv_range(&r.f->d, RACE_IOVA, RACE_IOVA + RACE_PAGES * K4 - 1,
						!freed), 0);
		wait_ok(r.f);
		__atomic_store_n(&r.dead_epoch, epoch, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(r.violations, 0);
	assert_true(r.translations >= 20000);
	assert_true(r.successes >= 2000);
	assert_int_equal(svf_vtd_iotlb_count(&r.f->u), 0);
	fx_free(r.f);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_map_leaf_sizes),
		T(test_map_split_unaligned),
		T(test_unmap_superpage_middle),
		T(test_unmap_stops_at_hole),
		T(test_unmap_run_mode),
		T(test_tables_freed_after_wait),
		T(test_map_eexist),
		T(test_superpage_replaces_empty_table),
		T(test_random_model),
		cmocka_unit_test(test_inv_mask_table),
		T(test_inv_range_descriptors),
		cmocka_unit_test(test_desc_log_wraps),
		cmocka_unit_test(test_inv_small_max_mask),
		T(test_translate_fill_and_hit),
		T(test_invalidation_waits_for_wait),
		T(test_page_inv_leaves_neighbours),
		T(test_superpage_entry),
		cmocka_unit_test(test_set_conflict_eviction),
		T(test_permissions),
		T(test_domain_and_global_invalidation),
		cmocka_unit_test(test_queue_full_waits),
		T(test_unpin_safe),
		T(test_fault_pt_alloc),
		T(test_fault_driver_seams),
		T(test_inv_range_wait),
		cmocka_unit_test(test_fault_init_paths),
		T(test_cost_model),
		T(test_add_stats_accumulates),
		T(test_resv_regions_and_geometry),
		cmocka_unit_test(test_iotlb_stale_fill_refused),
		cmocka_unit_test(test_iotlb_hint_and_wide_sets),
		cmocka_unit_test(test_grace_period_waits_for_walker),
		cmocka_unit_test(test_concurrent_translate),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}

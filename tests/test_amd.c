/* SPDX-License-Identifier: MIT */
/*
 * The emulated AMD-Vi driver, white box: the v1 page-table format (every
 * leaf size, replication, NextLevel encodings, whole-leaf unmap), the
 * command encodings (size in the address at every alignment), Linux's
 * invalidation pattern per unmapped range, completion-wait ordering,
 * permission faults, device-table invalidations and the NpCache option.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <softvfio/iommu.h>

#include "amd.h"
#include "helpers.h"
#include "amd_pgtable.h"
#include "iommu_driver.h"

#define K4 0x1000ull
#define RW (SVF_PROT_READ | SVF_PROT_WRITE)

struct fx {
	struct svf_iommu *u;
	struct svf_domain *d;
};

static struct fx fx_open(bool np_cache, bool covering)
{
	struct svf_iommu_config cfg;
	struct fx f;

	svf_iommu_default_config("amd", &cfg);
	cfg.np_cache = np_cache;
	cfg.covering_inv = covering;
	assert_int_equal(svf_iommu_create(&cfg, &f.u), 0);
	assert_string_equal(svf_iommu_driver_name(f.u), "amd");
	assert_int_equal(svf_domain_alloc(f.u, &f.d), 0);
	return f;
}

static void fx_close(struct fx *f)
{
	svf_domain_free(f->d);
	svf_iommu_destroy(f->u);
}

static struct svf_stats stats_of(const struct fx *f)
{
	struct svf_stats s;

	memset(&s, 0, sizeof(s));
	svf_iommu_add_stats(f->u, &s);
	return s;
}

/* Decode the commands logged from n0 on into out (at most max); returns how many. */
static unsigned cmds_since(const struct fx *f, uint64_t n0, struct svf_amd_cmd_info *out,
			   unsigned max)
{
	uint64_t n1 = svf_amd_cmd_logged(f->u);
	unsigned k = 0;

	for (uint64_t n = n0; n < n1 && k < max; n++, k++) {
		struct svf_amd_cmd c;

		assert_int_equal(svf_amd_cmd_log(f->u, n, &c), 0);
		svf_amd_cmd_decode(&c, &out[k]);
	}
	return k;
}

static void test_driver_facts(void **state)
{
	struct fx f = fx_open(false, false);
	struct svf_resv_region r[4];
	size_t nr = 0;

	(void)state;
	/* Every power of two from 4 KiB to 64 TiB except 512 GiB. */
	assert_int_equal(svf_domain_pgsize_bitmap(f.d), 0x7f7ffffff000ull);
	for (unsigned b = 12; b <= 46; b++)
		assert_int_equal(!!(SVF_AMD_PGSIZES & (1ull << b)), b != 39);
	assert_int_equal(svf_domain_aperture_last(f.d), (1ull << 48) - 1);
	assert_int_equal(svf_domain_resv_regions(f.d, r, 4, &nr), 0);
	assert_int_equal(nr, 2);
	assert_int_equal(r[0].start, 0xfee00000ull);
	assert_int_equal(r[0].last, 0xfeefffffull);
	assert_int_equal(r[1].start, 0xfd00000000ull);
	assert_int_equal(r[1].last, 0xffffffffffull);
	fx_close(&f);
}

/* Map one leaf of every size the driver advertises and look at its entries. */
static void test_every_leaf_size(void **state)
{
	struct fx f = fx_open(false, false);
	uint64_t base_pages = stats_of(&f).pt_pages;

	(void)state;
	for (unsigned b = 12; b <= 46; b++) {
		const uint64_t size = 1ull << b;
		const uint64_t iova = size, pa = size * 2; /* both aligned to size */
		uint64_t pte, lsize, phys, got, unmapped;
		unsigned level, reps;

		if (!(SVF_AMD_PGSIZES & size))
			continue;
		assert_int_equal(svf_iommu_map(f.d, iova, pa, size, RW), 0);
		assert_int_equal(svf_amd_leaf(f.d, iova, &pte, &level, &lsize, &reps), 0);
		assert_int_equal(lsize, size);
		assert_int_equal(level, (b - 12) / 9 + 1);
		assert_int_equal(reps, 1u << ((b - 12) % 9));
		/* NextLevel 0 for a leaf of the level's own size, 7 otherwise. */
		assert_int_equal(amd_pte_nl(pte), reps == 1 ? 0 : 7);
		assert_true(pte & AMD_PTE_PR);
		assert_true(pte & AMD_PTE_IR);
		assert_true(pte & AMD_PTE_IW);
		if (reps > 1) {
			/* The first zero address bit at or above 12 is size's bit - 1. */
			assert_int_equal(__builtin_ctzll(~(pte | 0xfffull)), (int)b - 1);
			/* The last replica holds the same entry. */
			uint64_t pte2, s2;
			unsigned l2, r2;

			assert_int_equal(svf_amd_leaf(f.d, iova + size - K4, &pte2, &l2, &s2, &r2),
					 0);
			assert_int_equal(pte2, pte);
		}
		/* Translations at the first and last page of the leaf. */
		assert_int_equal(svf_iommu_iova_to_phys(f.d, iova + size - K4, &phys, &got, NULL),
				 0);
		assert_int_equal(phys, pa + size - K4);
		assert_int_equal(got, size);
		assert_int_equal(svf_iommu_translate(f.d, iova + 0x10, SVF_PROT_READ, &phys), 0);
		assert_int_equal(phys, pa + 0x10);
		assert_int_equal(svf_iommu_unmap(f.d, iova, size, &unmapped), 0);
		assert_int_equal(unmapped, size);
		assert_int_equal(svf_iommu_iova_to_phys(f.d, iova, &phys, NULL, NULL), -ENOENT);
		assert_int_equal(svf_iommu_translate(f.d, iova, SVF_PROT_READ, &phys), -ENOENT);
	}
	/* Every table page went back after its wait. */
	assert_int_equal(stats_of(&f).pt_pages, base_pages);
	assert_int_equal(svf_amd_deferred_pages(f.u), 0);
	fx_close(&f);
}

/* 512 GiB is not a leaf size (Linux's hardware erratum): two 256 GiB leaves. */
static void test_no_512g_leaf(void **state)
{
	struct fx f = fx_open(false, false);
	const uint64_t g512 = 1ull << 39;
	uint64_t pte, size, unmapped;
	unsigned level, reps;

	(void)state;
	assert_int_equal(svf_iommu_map(f.d, g512, g512, g512, RW), 0);
	assert_int_equal(svf_amd_leaf(f.d, g512, &pte, &level, &size, &reps), 0);
	assert_int_equal(size, g512 / 2);
	assert_int_equal(level, 3);
	assert_int_equal(reps, 256);
	assert_int_equal(svf_amd_leaf(f.d, g512 + g512 / 2, &pte, &level, &size, &reps), 0);
	assert_int_equal(size, g512 / 2);
	assert_int_equal(svf_iommu_unmap(f.d, g512, g512, &unmapped), 0);
	assert_int_equal(unmapped, g512);
	/* The driver refuses the size itself. */
	assert_int_equal(svf_amd_ops.map_pages(f.d, g512, g512, g512, 1, RW, &unmapped), -EINVAL);
	fx_close(&f);
}

/* A map of an aligned range uses the largest leaves alignment allows. */
static void test_map_largest_leaves(void **state)
{
	static const uint64_t want[] = { 0x8000, 0x4000, 0x2000, 0x1000 };
	struct fx f = fx_open(false, false);
	uint64_t iova = 0x100000, pte, size;
	unsigned level, reps;

	(void)state;
	assert_int_equal(svf_iommu_map(f.d, 0x100000, 0x200000, 0xf000, RW), 0);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(svf_amd_leaf(f.d, iova, &pte, &level, &size, &reps), 0);
		assert_int_equal(size, want[i]);
		assert_int_equal(level, 1);
		iova += size;
	}
	fx_close(&f);
}

/*
 * Unmapping part of a large leaf removes the whole leaf, as Linux's v1
 * unmap does (it never splits one): the bytes reported say so.
 */
static void test_partial_unmap_removes_leaf(void **state)
{
	struct fx f = fx_open(false, false);
	struct svf_gather g;
	uint64_t phys, unmapped;

	(void)state;
	assert_int_equal(svf_iommu_map(f.d, 0x40000, 0x80000, 0x10000, RW), 0); /* one 64 KiB leaf */
	assert_int_equal(svf_iommu_translate(f.d, 0x4c000, SVF_PROT_READ, &phys), 0);
	svf_gather_init(&g, true);
	assert_int_equal(svf_iommu_unmap_fast(f.d, 0x44000, K4, &g, &unmapped), 0);
	assert_int_equal(unmapped, 0x10000);
	assert_int_equal(g.start, 0x40000);
	assert_int_equal(g.last, 0x4ffff);
	for (uint64_t a = 0x40000; a < 0x50000; a += K4)
		assert_int_equal(svf_iommu_iova_to_phys(f.d, a, &phys, NULL, NULL), -ENOENT);
	/* Until the sync the IOTLB still translates it; after, nothing does. */
	assert_int_equal(svf_amd_iotlb_peek(f.u, svf_domain_id(f.d), 0x4c000, &phys, NULL, NULL), 0);
	assert_int_equal(svf_iommu_iotlb_sync(f.d, &g), 0);
	assert_int_equal(svf_amd_iotlb_peek(f.u, svf_domain_id(f.d), 0x4c000, &phys, NULL, NULL),
			 -ENOENT);
	assert_int_equal(svf_iommu_translate(f.d, 0x4c000, SVF_PROT_READ, &phys), -ENOENT);
	fx_close(&f);
}

/* The batch unmap: runs split where physical contiguity ends, holes skipped, max honoured. */
static void test_unmap_runs(void **state)
{
	struct fx f = fx_open(false, false);
	struct svf_iommu_run runs[4];
	struct svf_gather g;
	unsigned n;
	uint64_t end, phys;

	(void)state;
	/* [0x100000, +32K) at pa 0x800000 (one 32 KiB leaf), then 8K at 0x900000,
	 * a hole, 4K at 0x90a000 after a hole of one page, 2 MiB further a 2 MiB leaf. */
	assert_int_equal(svf_iommu_map(f.d, 0x100000, 0x800000, 0x8000, RW), 0);
	assert_int_equal(svf_iommu_map(f.d, 0x108000, 0x900000, 0x2000, RW), 0);
	assert_int_equal(svf_iommu_map(f.d, 0x10b000, 0x902000, 0x1000, RW), 0);
	assert_int_equal(svf_iommu_map(f.d, 0x200000, 0xa00000, 0x200000, RW), 0);
	svf_gather_init(&g, true);
	assert_int_equal(svf_iommu_unmap_fast_runs(f.d, 0x104000, 0x1000000, &g, runs, 2, &n, &end),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(runs[0].iova, 0x100000); /* the whole 32 KiB leaf */
	assert_int_equal(runs[0].phys, 0x800000);
	assert_int_equal(runs[0].len, 0x8000);
	assert_int_equal(runs[1].iova, 0x108000);
	assert_int_equal(runs[1].len, 0x2000);
	assert_int_equal(end, 0x10b000); /* the run that did not fit */
	assert_int_equal(svf_iommu_iova_to_phys(f.d, 0x10b000, &phys, NULL, NULL), 0);
	assert_int_equal(svf_iommu_unmap_fast_runs(f.d, end, 0x1104000 - end, &g, runs, 4, &n, &end),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(runs[0].iova, 0x10b000);
	assert_int_equal(runs[0].phys, 0x902000);
	assert_int_equal(runs[1].iova, 0x200000);
	assert_int_equal(runs[1].len, 0x200000);
	assert_int_equal(end, 0x1104000);
	assert_int_equal(svf_iommu_iotlb_sync(f.d, &g), 0);
	for (uint64_t a = 0x100000; a < 0x400000; a += K4)
		assert_int_equal(svf_iommu_iova_to_phys(f.d, a, &phys, NULL, NULL), -ENOENT);
	/* Every table page but the root went back. */
	struct svf_stats st = stats_of(&f);

	assert_int_equal(st.pt_pages, 1);
	fx_close(&f);
}

/* Replicas: every entry of a 16 KiB leaf holds it; unmap clears them all. */
static void test_replication(void **state)
{
	struct fx f = fx_open(false, false);
	uint64_t pte0 = 0, pte, size, phys, unmapped;
	unsigned level, reps;

	(void)state;
	assert_int_equal(svf_iommu_map(f.d, 0x10000, 0x30000, 0x4000, SVF_PROT_READ), 0);
	for (uint64_t a = 0x10000; a < 0x14000; a += K4) {
		assert_int_equal(svf_amd_leaf(f.d, a, &pte, &level, &size, &reps), 0);
		if (a == 0x10000)
			pte0 = pte;
		assert_int_equal(pte, pte0);
		assert_int_equal(size, 0x4000);
		assert_int_equal(reps, 4);
		assert_int_equal(svf_iommu_translate(f.d, a + 8, SVF_PROT_READ, &phys), 0);
		assert_int_equal(phys, 0x30000 + (a - 0x10000) + 8);
	}
	/* Unmap from the third replica: the walk goes back to the group's start. */
	assert_int_equal(svf_iommu_unmap(f.d, 0x12000, K4, &unmapped), 0);
	assert_int_equal(unmapped, 0x4000);
	for (uint64_t a = 0x10000; a < 0x14000; a += K4)
		assert_int_equal(svf_amd_leaf(f.d, a, &pte, &level, &size, &reps), -ENOENT);
	fx_close(&f);
}

static void test_leaf_encoding_rejects_bad_sizes(void **state)
{
	(void)state;
	/* NextLevel 7 at level 1 with no zero below bit 21 is not a level-1 size. */
	assert_int_equal(amd_leaf_size(0x1fffff000ull | (7ull << 9) | 1, 1), 0);
	assert_int_equal(amd_leaf_size(0x000000000ull | (7ull << 9) | 1, 1), 0x2000);
	assert_int_equal(amd_leaf_size(0x000001000ull | (7ull << 9) | 1, 1), 0x4000);
	assert_int_equal(amd_leaf_size(0x000000000ull | (7ull << 9) | 1, 2), 0);
	assert_int_equal(amd_leaf_size(0x0003ff000ull | (7ull << 9) | 1, 2), 0x800000);
	assert_int_equal(amd_leaf_size(1, 3), 1ull << 30);
	/* A NextLevel of 1..6 is a table, not a leaf. */
	assert_int_equal(amd_leaf_size(1 | (2ull << 9), 2), 0);
}

/* The size-in-address rule at every alignment. */
static void test_inv_address_every_alignment(void **state)
{
	(void)state;
	for (unsigned k = 12; k <= 51; k++) {
		for (unsigned sh = k; sh <= 51; sh += 7) {
			const uint64_t size = 1ull << k, start = (1ull << sh) | size;
			const uint64_t a = start & ~(size - 1);
			struct svf_amd_cmd c = svf_amd_cmd_inv_pages(7, svf_amd_inv_address(a, a + size - 1),
								     true);
			struct svf_amd_cmd_info ci;

			svf_amd_cmd_decode(&c, &ci);
			assert_int_equal(ci.op, SVF_AMD_CMD_INV_IOMMU_PAGES);
			assert_int_equal(ci.domid, 7);
			assert_true(ci.pde);
			assert_int_equal(ci.s, k > 12);
			/* An aligned block encodes exactly itself. */
			assert_int_equal(ci.first, a);
			assert_int_equal(ci.last, a + size - 1);
		}
	}
	/* Unaligned: the smallest naturally aligned block holding both ends. */
	for (uint64_t start = 0x1000; start < 0x40000; start += 0x3000) {
		for (uint64_t len = 0x1000; len < 0x80000; len += 0x5000) {
			uint64_t last = start + len - 1;
			struct svf_amd_cmd c = svf_amd_cmd_inv_pages(1, svf_amd_inv_address(start, last),
								     false);
			struct svf_amd_cmd_info ci;
			uint64_t size;

			svf_amd_cmd_decode(&c, &ci);
			assert_false(ci.pde);
			assert_true(ci.first <= start && ci.last >= last);
			size = ci.last - ci.first + 1;
			assert_int_equal(size & (size - 1), 0);
			assert_int_equal(ci.first & (size - 1), 0);
			/* Half of it would not do. */
			if (size > K4)
				assert_true((start & ~(size / 2 - 1)) != (last & ~(size / 2 - 1)));
		}
	}
	/* Ends that differ above bit 51: the "every page" address. */
	struct svf_amd_cmd c = svf_amd_cmd_inv_pages(3, svf_amd_inv_address(0, 1ull << 52), true);
	struct svf_amd_cmd_info ci;

	svf_amd_cmd_decode(&c, &ci);
	assert_int_equal(((uint64_t)c.w[3] << 32) | (c.w[2] & ~0xfffu), SVF_AMD_INV_ALL_ADDR);
	assert_true(ci.s);
	assert_int_equal(ci.first, 0);
	assert_int_equal(ci.last, UINT64_MAX);
	/* The raw words: opcode in bits 28..31 of word 1, domain id below it. */
	c = svf_amd_cmd_inv_pages(0x1234, svf_amd_inv_address(0x5000, 0x5fff), false);
	assert_int_equal(c.w[1], (0x3u << 28) | 0x1234);
	assert_int_equal(c.w[2], 0x5000);
	assert_int_equal(c.w[3], 0);
	c = svf_amd_cmd_inv_devtab(0x18);
	assert_int_equal(c.w[0], 0x18);
	assert_int_equal(c.w[1], 0x2u << 28);
	c = svf_amd_cmd_inv_all();
	assert_int_equal(c.w[1], 0x8u << 28);
	c = svf_amd_cmd_completion_wait(0x123456789abcull, 0x1122334455667788ull);
	assert_int_equal(c.w[0], 0x56789ab8u | 1);
	assert_int_equal(c.w[1], (0x1u << 28) | 0x1234);
	svf_amd_cmd_decode(&c, &ci);
	assert_true(ci.store);
	assert_int_equal(ci.store_addr, 0x123456789ab8ull);
	assert_int_equal(ci.store_data, 0x1122334455667788ull);
}

static void test_flush_blocks(void **state)
{
	(void)state;
	assert_int_equal(svf_amd_flush_block(0x100000, 0xf000), 0x8000);
	assert_int_equal(svf_amd_flush_block(0x108000, 0x7000), 0x4000);
	assert_int_equal(svf_amd_flush_block(0x101000, 0x10000), 0x1000);
	assert_int_equal(svf_amd_flush_block(0, 0x6d000), 0x40000);
	assert_int_equal(svf_amd_flush_block(0x40000, 0x2d000), 0x20000);
}

/*
 * Linux's pattern for one unmapped mapping: one INVALIDATE_IOMMU_PAGES per
 * naturally aligned block of its range, then one COMPLETION_WAIT.
 */
static void expect_pattern(struct fx *f, uint64_t iova, uint64_t len, unsigned want_inv)
{
	struct svf_amd_cmd_info ci[64];
	struct svf_stats s0 = stats_of(f), s1;
	uint64_t n0, unmapped, next = iova;
	unsigned n;

	assert_int_equal(svf_iommu_map(f->d, iova, 0x40000000, len, RW), 0);
	n0 = svf_amd_cmd_logged(f->u);
	assert_int_equal(svf_iommu_unmap(f->d, iova, len, &unmapped), 0);
	assert_int_equal(unmapped, len);
	n = cmds_since(f, n0, ci, 64);
	assert_int_equal(n, want_inv + 1);
	for (unsigned i = 0; i < want_inv; i++) {
		assert_int_equal(ci[i].op, SVF_AMD_CMD_INV_IOMMU_PAGES);
		assert_int_equal(ci[i].first, next);
		assert_int_equal(ci[i].first & (ci[i].last - ci[i].first), 0); /* aligned block */
		next = ci[i].last + 1;
	}
	assert_int_equal(next, iova + len);
	assert_int_equal(ci[want_inv].op, SVF_AMD_CMD_COMPLETION_WAIT);
	s1 = stats_of(f);
	assert_int_equal(s1.inv_page - s0.inv_page, want_inv);
	assert_int_equal(s1.inv_domain, s0.inv_domain); /* never a domain-wide flush */
	assert_int_equal(s1.waits - s0.waits, 1);
}

static void test_linux_pattern(void **state)
{
	struct fx f = fx_open(false, false);

	(void)state;
	expect_pattern(&f, 0x100000, K4, 1);
	expect_pattern(&f, 0x100000, 0xf000, 4);
	expect_pattern(&f, 0x100000, 0x6d000, 5);
	/* Across 4 GiB: two blocks, no domain flush (VT-d's MAMV would need one). */
	expect_pattern(&f, (4ull << 30) - 0x2000, 0x4000, 2);
	fx_close(&f);
}

/* Without the aligned-block rule: one covering command per range. */
static void test_covering_inv(void **state)
{
	struct fx f = fx_open(false, true);
	struct svf_amd_cmd_info ci[8];
	uint64_t n0, unmapped;

	(void)state;
	assert_int_equal(svf_iommu_map(f.d, 0x100000, 0x40000000, 0x6d000, RW), 0);
	n0 = svf_amd_cmd_logged(f.u);
	assert_int_equal(svf_iommu_unmap(f.d, 0x100000, 0x6d000, &unmapped), 0);
	assert_int_equal(cmds_since(&f, n0, ci, 8), 2);
	assert_int_equal(ci[0].op, SVF_AMD_CMD_INV_IOMMU_PAGES);
	assert_int_equal(ci[0].first, 0x100000);
	assert_int_equal(ci[0].last, 0x17ffff);
	assert_int_equal(ci[1].op, SVF_AMD_CMD_COMPLETION_WAIT);
	/* Across 4 GiB: one command, an 8 GiB block, still not a domain flush. */
	assert_int_equal(svf_iommu_map(f.d, (4ull << 30) - 0x2000, 0x40000000, 0x4000, RW), 0);
	n0 = svf_amd_cmd_logged(f.u);
	assert_int_equal(svf_iommu_unmap(f.d, (4ull << 30) - 0x2000, 0x4000, &unmapped), 0);
	assert_int_equal(cmds_since(&f, n0, ci, 8), 2);
	assert_int_equal(ci[0].first, 0);
	assert_int_equal(ci[0].last, (8ull << 30) - 1);
	assert_int_equal(stats_of(&f).inv_domain, 0);
	fx_close(&f);
}

/*
 * Completion-wait ordering: queued commands change nothing; the wait
 * applies them in order and only then stores to the semaphore.
 */
static void test_completion_wait_ordering(void **state)
{
	struct fx f = fx_open(false, false);
	const uint16_t id = svf_domain_id(f.d);
	uint64_t phys, unmapped, now, waited, now2, waited2;
	struct svf_gather g;

	(void)state;
	assert_int_equal(svf_iommu_map(f.d, 0x200000, 0x600000, 0x2000, RW), 0);
	assert_int_equal(svf_iommu_translate(f.d, 0x201000, SVF_PROT_WRITE, &phys), 0);
	assert_int_equal(phys, 0x601000);
	svf_amd_semaphore(f.u, &now, &waited);
	assert_int_equal(now, waited); /* setup ended in a completed wait */
	svf_gather_init(&g, true);
	assert_int_equal(svf_iommu_unmap_fast(f.d, 0x200000, 0x2000, &g, &unmapped), 0);
	assert_int_equal(svf_amd_ops.inv_range(f.d, g.start, g.last, true), 0);
	g.empty = true;
	g.queued = true;
	/* Queued, not processed: the IOTLB still holds the entry, no store yet. */
	assert_int_equal(svf_amd_pending_cmds(f.u), 1);
	assert_int_equal(svf_amd_iotlb_peek(f.u, id, 0x201000, &phys, NULL, NULL), 0);
	svf_amd_semaphore(f.u, &now2, &waited2);
	assert_int_equal(now2, now);
	assert_int_equal(svf_iommu_iotlb_sync(f.d, &g), 0);
	assert_int_equal(svf_amd_pending_cmds(f.u), 0);
	assert_int_equal(svf_amd_iotlb_peek(f.u, id, 0x201000, &phys, NULL, NULL), -ENOENT);
	svf_amd_semaphore(f.u, &now2, &waited2);
	assert_int_equal(waited2, waited + 1);
	assert_int_equal(now2, waited2);
	fx_close(&f);
}

static void test_permission_faults(void **state)
{
	struct fx f = fx_open(false, false);
	uint64_t phys;
	int prot;

	(void)state;
	assert_int_equal(svf_iommu_map(f.d, 0x10000, 0x20000, 0x8000, SVF_PROT_READ), 0);
	assert_int_equal(svf_iommu_map(f.d, 0x30000, 0x40000, K4, SVF_PROT_WRITE), 0);
	assert_int_equal(svf_iommu_translate(f.d, 0x10008, SVF_PROT_READ, &phys), 0);
	assert_int_equal(svf_iommu_translate(f.d, 0x10008, SVF_PROT_WRITE, &phys), -EACCES);
	assert_int_equal(svf_iommu_translate(f.d, 0x17000, SVF_PROT_WRITE, &phys), -EACCES);
	assert_int_equal(svf_iommu_translate(f.d, 0x30000, SVF_PROT_WRITE, &phys), 0);
	assert_int_equal(phys, 0x40000);
	assert_int_equal(svf_iommu_translate(f.d, 0x30000, SVF_PROT_READ, &phys), -EACCES);
	assert_int_equal(svf_iommu_translate(f.d, 0x30000, SVF_PROT_READ | SVF_PROT_WRITE, &phys),
			 -EACCES);
	assert_int_equal(svf_iommu_iova_to_phys(f.d, 0x30000, &phys, NULL, &prot), 0);
	assert_int_equal(prot, SVF_PROT_WRITE);
	assert_int_equal(svf_iommu_translate(f.d, 0x50000, SVF_PROT_READ, &phys), -ENOENT);
	assert_int_equal(svf_iommu_translate(f.d, 1ull << 48, SVF_PROT_READ, &phys), -ENOENT);
	fx_close(&f);
}

/* Setup and teardown invalidate the device table entry and wait. */
static void test_devtab_on_setup_teardown(void **state)
{
	struct fx f = fx_open(false, false);
	struct svf_domain *d2;
	struct svf_amd_cmd_info ci[4];
	struct svf_stats s;
	uint64_t n0;

	(void)state;
	s = stats_of(&f);
	assert_int_equal(s.inv_devtab, 1);
	assert_int_equal(s.waits, 1);
	n0 = svf_amd_cmd_logged(f.u);
	assert_int_equal(svf_domain_alloc(f.u, &d2), 0);
	assert_int_equal(cmds_since(&f, n0, ci, 4), 2);
	assert_int_equal(ci[0].op, SVF_AMD_CMD_INV_DEVTAB_ENTRY);
	assert_int_equal(ci[0].devid, svf_amd_devid(d2));
	assert_int_equal(ci[1].op, SVF_AMD_CMD_COMPLETION_WAIT);
	n0 = svf_amd_cmd_logged(f.u);
	svf_domain_free(d2);
	assert_int_equal(cmds_since(&f, n0, ci, 4), 3);
	assert_int_equal(ci[0].op, SVF_AMD_CMD_INV_DEVTAB_ENTRY);
	assert_int_equal(ci[1].op, SVF_AMD_CMD_INV_IOMMU_PAGES);
	assert_int_equal(ci[1].last, UINT64_MAX);
	assert_int_equal(ci[2].op, SVF_AMD_CMD_COMPLETION_WAIT);
	s = stats_of(&f);
	assert_int_equal(s.inv_devtab, 3);
	assert_int_equal(s.inv_domain, 1);
	fx_close(&f);
}

/* NpCache: a map is invalidated (aligned blocks) and waited for. */
static void test_np_cache_flushes_maps(void **state)
{
	struct fx f = fx_open(true, true); /* covering_inv is ignored with np_cache */
	struct svf_amd_cmd_info ci[8];
	uint64_t n0 = svf_amd_cmd_logged(f.u);
	struct svf_stats s0 = stats_of(&f);

	(void)state;
	assert_int_equal(svf_iommu_map(f.d, 0x100000, 0x200000, 0xf000, RW), 0);
	assert_int_equal(cmds_since(&f, n0, ci, 8), 5);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(ci[i].op, SVF_AMD_CMD_INV_IOMMU_PAGES);
	assert_int_equal(ci[4].op, SVF_AMD_CMD_COMPLETION_WAIT);
	assert_int_equal(stats_of(&f).waits - s0.waits, 1);
	fx_close(&f);

	/* Off (the default), a map queues nothing. */
	f = fx_open(false, false);
	n0 = svf_amd_cmd_logged(f.u);
	assert_int_equal(svf_iommu_map(f.d, 0x100000, 0x200000, 0xf000, RW), 0);
	assert_int_equal(svf_amd_cmd_logged(f.u), n0);
	fx_close(&f);
}

/* A full command buffer is caught up without a completion (and without freeing). */
static void test_full_buffer(void **state)
{
	struct svf_iommu_config cfg;
	struct svf_iommu *u;
	struct svf_domain *d;
	uint64_t unmapped, now, waited;
	struct svf_stats s;

	(void)state;
	svf_iommu_default_config("amd", &cfg);
	cfg.queue_depth = 4;
	assert_int_equal(svf_iommu_create(&cfg, &u), 0);
	assert_int_equal(svf_domain_alloc(u, &d), 0);
	assert_int_equal(svf_iommu_map(d, 0x100000, 0x200000, 0x6d000, RW), 0);
	memset(&s, 0, sizeof(s));
	svf_iommu_add_stats(u, &s);
	uint64_t w0 = s.waits;

	assert_int_equal(svf_iommu_unmap(d, 0x100000, 0x6d000, &unmapped), 0);
	memset(&s, 0, sizeof(s));
	svf_iommu_add_stats(u, &s);
	assert_int_equal(s.waits - w0, 1);
	svf_amd_semaphore(u, &now, &waited);
	assert_int_equal(now, waited);
	svf_domain_free(d);
	svf_iommu_destroy(u);
}

/* Unpin check: queued-but-unwaited invalidations and IOTLB entries keep pages busy. */
static void test_unpin_safe(void **state)
{
	struct fx f = fx_open(false, false);
	struct svf_gather g;
	uint64_t phys, unmapped;

	(void)state;
	assert_int_equal(svf_iommu_map(f.d, 0x100000, 0x500000, 0x4000, RW), 0);
	assert_false(svf_amd_ops.unpin_safe(f.d, 0x100000, 0x500000, 0x4000));
	assert_int_equal(svf_iommu_translate(f.d, 0x101000, SVF_PROT_READ, &phys), 0);
	svf_gather_init(&g, true);
	assert_int_equal(svf_iommu_unmap_fast(f.d, 0x100000, 0x4000, &g, &unmapped), 0);
	assert_false(svf_amd_ops.unpin_safe(f.d, 0x100000, 0x500000, 0x4000));
	assert_int_equal(svf_iommu_iotlb_sync(f.d, &g), 0);
	assert_true(svf_amd_ops.unpin_safe(f.d, 0x100000, 0x500000, 0x4000));
	fx_close(&f);
}

/*
 * Covering invalidations: the one command for the unmapped 0x10f000-0x113fff
 * names the aligned 128 KiB block at 0x100000, but it was queued for those
 * IOVAs only. A run at 0x101000 that was never mapped (a map that failed in
 * the IOMMU, unpinned under lazy while that command is still queued) is safe
 * to unpin; the unmapped IOVAs themselves are not until the wait.
 */
static void test_unpin_safe_covering_block(void **state)
{
	struct fx f = fx_open(false, true);
	struct svf_gather g;
	uint64_t unmapped;

	(void)state;
	assert_int_equal(svf_iommu_map(f.d, 0x10f000, 0x500000, 0x5000, RW), 0);
	svf_gather_init(&g, true);
	assert_int_equal(svf_iommu_unmap_fast(f.d, 0x10f000, 0x5000, &g, &unmapped), 0);
	/* Queued, not waited for: what a lazy unmap leaves behind. */
	assert_int_equal(svf_amd_ops.inv_range(f.d, 0x10f000, 0x113fff, true), 0);
	assert_true(svf_amd_ops.unpin_safe(f.d, 0x101000, 0x900000, K4));
	assert_true(svf_amd_ops.unpin_safe(f.d, 0x114000, 0x901000, K4));
	assert_false(svf_amd_ops.unpin_safe(f.d, 0x113000, 0x504000, K4));
	assert_false(svf_amd_ops.unpin_safe(f.d, 0x100000, 0x900000, 0x10000));
	assert_int_equal(svf_iommu_iotlb_sync(f.d, &g), 0);
	assert_true(svf_amd_ops.unpin_safe(f.d, 0x10f000, 0x500000, 0x5000));
	fx_close(&f);
}

/*
 * Through the container: Linux's pattern per mapping removed (strict), and
 * what the policies that share a wait save on one request removing three.
 */
struct cw_count {
	uint64_t inv, waits, domain;
};

static struct cw_count unmap_counts(enum svf_policy pol, bool all_at_once)
{
	static const uint64_t iova[] = { 0x100000, 0x200000, 0x400000 };
	static const uint64_t len[] = { 0x1000, 0xf000, 0x6d000 };
	struct th_opts o = { .policy = pol, .backend = SVF_BACKEND_SYNTHETIC,
			     .layout = SVF_LAYOUT_CONTIG };
	struct th_fixture f;
	struct svf_stats a, b;
	struct cw_count r;
	uint64_t sz;

	assert_int_equal(th_open(&o, &f), 0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(th_map(f.c, iova[i], 0x10000000 + iova[i], len[i], TH_RW), 0);
	a = th_stats(f.c);
	if (all_at_once) {
		assert_int_equal(th_unmap(f.c, 0, 1ull << 32, 0, &sz), 0);
	} else {
		for (unsigned i = 0; i < 3; i++) {
			struct svf_stats s0 = th_stats(f.c), s1;

			assert_int_equal(th_unmap(f.c, iova[i], len[i], 0, &sz), 0);
			assert_int_equal(sz, len[i]);
			s1 = th_stats(f.c);
			/* 4 KiB: 1 + 1; aligned 0xf000: 4 + 1; 0x6d000: 5 + 1. */
			assert_int_equal(s1.inv_page - s0.inv_page, i == 0 ? 1 : i == 1 ? 4 : 5);
			assert_int_equal(s1.waits - s0.waits, 1);
		}
	}
	b = th_stats(f.c);
	r.inv = b.inv_page - a.inv_page;
	r.waits = b.waits - a.waits;
	r.domain = b.inv_domain - a.inv_domain;
	assert_int_equal(b.invariant_violations, 0);
	assert_int_equal(svf_container_check(f.c), 0);
	th_close(&f);
	return r;
}

static void test_container_pattern(void **state)
{
	struct cw_count strict, strict_all, batched, gather;

	(void)state;
	strict = unmap_counts(SVF_POLICY_STRICT, false);
	assert_int_equal(strict.inv, 10);
	assert_int_equal(strict.waits, 3);
	strict_all = unmap_counts(SVF_POLICY_STRICT, true);
	assert_int_equal(strict_all.inv, 10);
	assert_int_equal(strict_all.waits, 3);
	/* One physically contiguous chunk per mapping: the same per mapping. */
	batched = unmap_counts(SVF_POLICY_BATCHED, true);
	assert_int_equal(batched.inv, 10);
	assert_int_equal(batched.waits, 3);
	gather = unmap_counts(SVF_POLICY_GATHER, true);
	assert_int_equal(gather.inv, 10);
	assert_int_equal(gather.waits, 1); /* gather syncs once per request */
	assert_int_equal(strict.domain + batched.domain + gather.domain, 0);
}

/* A fragmented 64 KiB mapping (16 chunks): where batched and gather save. */
static struct cw_count frag_counts(enum svf_policy pol)
{
	struct th_opts o = { .policy = pol, .backend = SVF_BACKEND_SYNTHETIC,
			     .layout = SVF_LAYOUT_FRAG4K };
	struct th_fixture f;
	struct svf_stats a, b;
	uint64_t sz;

	assert_int_equal(th_open(&o, &f), 0);
	assert_int_equal(th_map(f.c, 0x100000, 0, 0x10000, TH_RW), 0);
	a = th_stats(f.c);
	assert_int_equal(th_unmap(f.c, 0x100000, 0x10000, 0, &sz), 0);
	b = th_stats(f.c);
	assert_int_equal(b.invariant_violations, 0);
	th_close(&f);
	return (struct cw_count){ .inv = b.inv_page - a.inv_page, .waits = b.waits - a.waits,
				  .domain = b.inv_domain - a.inv_domain };
}

static void test_container_fragmented(void **state)
{
	struct cw_count strict = frag_counts(SVF_POLICY_STRICT);
	struct cw_count batched = frag_counts(SVF_POLICY_BATCHED);
	struct cw_count gather = frag_counts(SVF_POLICY_GATHER);

	(void)state;
	assert_int_equal(strict.inv, 16);
	assert_int_equal(strict.waits, 16);
	assert_int_equal(batched.inv, 16);
	assert_int_equal(batched.waits, 1);
	/* The merged range is one aligned 64 KiB block: one command. */
	assert_int_equal(gather.inv, 1);
	assert_int_equal(gather.waits, 1);
}

/* Faults become IO_PAGE_FAULT events, printed as Linux prints them. */
static void test_io_page_fault_events(void **state)
{
	struct fx f = fx_open(false, false);
	struct svf_amd_event ev[8];
	struct svf_amd_event_info ei;
	char line[160];
	size_t nr, n;
	bool ovf = true;
	uint64_t phys;

	(void)state;
	assert_int_equal(svf_iommu_map(f.d, 0x10000, 0x20000, K4, SVF_PROT_READ), 0);
	assert_int_equal(svf_iommu_map(f.d, 0x30000, 0x40000, K4, SVF_PROT_WRITE), 0);
	assert_int_equal(svf_iommu_translate(f.d, 0x50010, SVF_PROT_READ, &phys), -ENOENT);
	assert_int_equal(svf_iommu_translate(f.d, 0x50020, SVF_PROT_WRITE, &phys), -ENOENT);
	assert_int_equal(svf_iommu_translate(f.d, 0x10008, SVF_PROT_WRITE, &phys), -EACCES);
	assert_int_equal(svf_iommu_translate(f.d, 0x30000, SVF_PROT_READ, &phys), -EACCES);
	assert_int_equal(svf_iommu_translate(f.d, 1ull << 50, SVF_PROT_READ, &phys), -ENOENT);
	/* A software walk is not a device access: no event. */
	assert_int_equal(svf_iommu_iova_to_phys(f.d, 0x50000, &phys, NULL, NULL), -ENOENT);
	assert_int_equal(svf_amd_read_events(f.u, ev, 8, &nr, &ovf), 0);
	assert_int_equal(nr, 5);
	assert_false(ovf);
	static const struct {
		uint64_t addr;
		uint16_t flags;
		const char *line;
	} want[] = {
		{ 0x50010, 0x0000,
		  "AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0001 address=0x50010 flags=0x0000]" },
		{ 0x50020, 0x0020,
		  "AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0001 address=0x50020 flags=0x0020]" },
		{ 0x10008, 0x0070,
		  "AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0001 address=0x10008 flags=0x0070]" },
		{ 0x30000, 0x0050,
		  "AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0001 address=0x30000 flags=0x0050]" },
		{ 1ull << 50, 0x0000,
		  "AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0001 address=0x4000000000000 "
		  "flags=0x0000]" },
	};
	for (unsigned i = 0; i < 5; i++) {
		svf_amd_event_decode(&ev[i], &ei);
		assert_int_equal(ei.code, SVF_AMD_EVENT_IO_PAGE_FAULT);
		assert_int_equal(ei.domid, svf_domain_id(f.d));
		assert_int_equal(ei.devid, svf_amd_devid(f.d));
		assert_int_equal(ei.address, want[i].addr);
		assert_int_equal(ei.flags, want[i].flags);
		assert_int_equal(svf_amd_event_format(&ev[i], false, line, sizeof(line), &n), 0);
		assert_string_equal(line, want[i].line);
		assert_int_equal(n, strlen(want[i].line));
	}
	assert_int_equal(svf_amd_event_format(&ev[0], true, line, sizeof(line), NULL), 0);
	assert_string_equal(line, "AMD-Vi: Event logged [IO_PAGE_FAULT device=0000:00:01.0 "
				  "domain=0x0001 address=0x50010 flags=0x0000]");
	/* Truncation reports the full length, as snprintf. */
	assert_int_equal(svf_amd_event_format(&ev[0], false, line, 8, &n), 0);
	assert_int_equal(strlen(line), 7);
	assert_int_equal(n, strlen(want[0].line));
	/* The public path reads the same log, one line at a time. */
	assert_int_equal(svf_iommu_translate(f.d, 0x60000, SVF_PROT_WRITE, &phys), -ENOENT);
	assert_int_equal(svf_iommu_fault_log_read(f.u, line, sizeof(line), &n), 0);
	assert_string_equal(line,
			    "AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0001 address=0x60000 flags=0x0020]");
	assert_int_equal(svf_iommu_fault_log_read(f.u, line, sizeof(line), &n), -ENOENT);
	/* A full log drops and says so (EventOverflow). */
	for (unsigned i = 0; i < SVF_AMD_EVENT_DEPTH + 3; i++)
		assert_int_equal(svf_iommu_translate(f.d, 0x70000, SVF_PROT_READ, &phys), -ENOENT);
	size_t total = 0;

	do {
		assert_int_equal(svf_amd_read_events(f.u, ev, 8, &nr, &ovf), 0);
		if (total == 0)
			assert_true(ovf);
		total += nr;
	} while (nr);
	assert_int_equal(total, SVF_AMD_EVENT_DEPTH);
	fx_close(&f);

	/* VT-d keeps no unit fault log. */
	struct svf_iommu_config cfg;
	struct svf_iommu *u;

	svf_iommu_default_config("vtd", &cfg);
	assert_int_equal(svf_iommu_create(&cfg, &u), 0);
	assert_int_equal(svf_iommu_fault_log_read(u, line, sizeof(line), &n), -EOPNOTSUPP);
	svf_iommu_destroy(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_driver_facts),
		cmocka_unit_test(test_every_leaf_size),
		cmocka_unit_test(test_no_512g_leaf),
		cmocka_unit_test(test_map_largest_leaves),
		cmocka_unit_test(test_partial_unmap_removes_leaf),
		cmocka_unit_test(test_replication),
		cmocka_unit_test(test_unmap_runs),
		cmocka_unit_test(test_leaf_encoding_rejects_bad_sizes),
		cmocka_unit_test(test_inv_address_every_alignment),
		cmocka_unit_test(test_flush_blocks),
		cmocka_unit_test(test_linux_pattern),
		cmocka_unit_test(test_covering_inv),
		cmocka_unit_test(test_completion_wait_ordering),
		cmocka_unit_test(test_permission_faults),
		cmocka_unit_test(test_devtab_on_setup_teardown),
		cmocka_unit_test(test_np_cache_flushes_maps),
		cmocka_unit_test(test_full_buffer),
		cmocka_unit_test(test_unpin_safe),
		cmocka_unit_test(test_unpin_safe_covering_block),
		cmocka_unit_test(test_io_page_fault_events),
		cmocka_unit_test(test_container_pattern),
		cmocka_unit_test(test_container_fragmented),
	};

	setenv("SOFTVFIO_TEST_DRIVER", "amd", 1); /* the container fixtures' driver */

	return cmocka_run_group_tests(tests, NULL, NULL);
}

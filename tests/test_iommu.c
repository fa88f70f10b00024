/* SPDX-License-Identifier: MIT */
/*
 * The IOMMU core: page-size splitting, the gather (merging, what it covers,
 * an empty one never reaching the driver), unmap_fast versus unmap, and the
 * unpin check that enforces docs/design.md's first invariant.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"

/*
 * Under AddressSanitizer: no quarantine of freed memory, so that a domain
 * freed by a test is handed out again at once (test_cached_translation_of_freed_domain).
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=0";
}

#define PG  4096ULL
#define M2  (2ULL << 20)
#define G1  (1ULL << 30)

struct env {
	struct svf_iommu *u;
	struct svf_domain *d;
};

static int setup(void **state)
{
	static struct env e;
	struct svf_iommu_config cfg;

	svf_iommu_default_config("vtd", &cfg);
	cfg.check_unpin = true;
	if (svf_iommu_create(&cfg, &e.u) || svf_domain_alloc(e.u, &e.d))
		return -1;
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	svf_domain_free(e->d);
	svf_iommu_destroy(e->u);
	return 0;
}

static struct svf_stats unit_stats(struct env *e)
{
	struct svf_stats s;

	memset(&s, 0, sizeof(s));
	svf_iommu_add_stats(e->u, &s);
	return s;
}

static uint64_t leaf_at(struct env *e, uint64_t iova)
{
	uint64_t phys, leaf;

	assert_int_equal(svf_iommu_iova_to_phys(e->d, iova, &phys, &leaf, NULL), 0);
	return leaf;
}

static void test_unknown_driver(void **state)
{
	struct svf_iommu_config cfg;
	struct svf_iommu *u = (void *)1;

	(void)state;
	svf_iommu_default_config("nosuch", &cfg);
	assert_int_equal(svf_iommu_create(&cfg, &u), -ENODEV);
	assert_null(u);
}

/*
 * A thread's last translation belongs to the domain it was taken in. A
 * domain allocated after that one was freed may sit at its address, on
 * another unit: it must not take the cache for its own (the hit check read
 * the IOTLB generation of the freed domain's unit, destroyed meanwhile:
 * ASan reports the use after free; quarantine off below, so that the
 * allocator hands the freed domain's memory out again at once).
 */
static void test_cached_translation_of_freed_domain(void **state)
{
	static const char *const drivers[] = { "vtd", "amd" };
	unsigned reused = 0;

	(void)state;
	for (unsigned k = 0; k < 2; k++) {
		for (int round = 0; round < 8; round++) {
			struct svf_iommu_config cfg;
			struct svf_iommu *ua, *ub;
			struct svf_domain *da, *db;
			uint64_t phys = 0;

			svf_iommu_default_config(drivers[k], &cfg);
			assert_int_equal(svf_iommu_create(&cfg, &ua), 0);
			assert_int_equal(svf_iommu_create(&cfg, &ub), 0);
			assert_int_equal(svf_domain_alloc(ua, &da), 0);
			assert_int_equal(svf_iommu_map(da, 0x5000, 0x7000, PG, SVF_PROT_READ), 0);
			assert_int_equal(svf_iommu_translate(da, 0x5000, SVF_PROT_READ, &phys), 0);
			assert_int_equal(phys, 0x7000);
			svf_domain_free(da);
			svf_iommu_destroy(ua);
			assert_int_equal(svf_domain_alloc(ub, &db), 0);
			reused += db == da;
			/* Mapped in the freed domain, never in this one. */
			assert_int_equal(svf_iommu_translate(db, 0x5000, SVF_PROT_READ, &phys), -ENOENT);
			svf_domain_free(db);
			svf_iommu_destroy(ub);
		}
	}
	print_message("domain memory reused in %u of 16 rounds\n", reused);
}

static void test_map_split(void **state)
{
	struct env *e = *state;
	uint64_t unmapped;

	/* 4K below a 2M boundary, then 2M leaves, then 4K tails. */
	const uint64_t iova = 0x40000000 - 2 * PG, pa = 0x80000000 - 2 * PG;
	const uint64_t len = 2 * PG + 2 * M2 + 3 * PG;

	assert_int_equal(svf_iommu_map(e->d, iova, pa, len, SVF_PROT_READ | SVF_PROT_WRITE), 0);
	assert_int_equal(leaf_at(e, iova), PG);
	assert_int_equal(leaf_at(e, iova + PG), PG);
	assert_int_equal(leaf_at(e, 0x40000000), M2);
	assert_int_equal(leaf_at(e, 0x40000000 + M2 + 5 * PG), M2);
	assert_int_equal(leaf_at(e, 0x40000000 + 2 * M2), PG);
	/* iova and phys disagree modulo 2M: only 4K leaves are possible. */
	assert_int_equal(svf_iommu_map(e->d, 0x100000000ULL, 0x200001000ULL, 2 * M2, SVF_PROT_READ), 0);
	assert_int_equal(leaf_at(e, 0x100000000ULL), PG);
	/* A 1G leaf where both are 1G aligned. */
	assert_int_equal(svf_iommu_map(e->d, 16 * G1, 8 * G1, G1, SVF_PROT_READ), 0);
	assert_int_equal(leaf_at(e, 16 * G1 + 12345 * PG), G1);
	/* Overlap and bad arguments. */
	assert_int_equal(svf_iommu_map(e->d, iova, pa, PG, SVF_PROT_READ), -EEXIST);
	assert_int_equal(svf_iommu_map(e->d, 0x1000, 0x1000, 0, SVF_PROT_READ), -EINVAL);
	assert_int_equal(svf_iommu_map(e->d, 0x1800, 0x1000, PG, SVF_PROT_READ), -EINVAL);
	assert_int_equal(svf_iommu_map(e->d, 1ULL << 48, 0, PG, SVF_PROT_READ), -EINVAL);

	assert_int_equal(svf_iommu_unmap(e->d, iova, len, &unmapped), 0);
	assert_int_equal(unmapped, len);
	assert_int_equal(svf_iommu_unmap(e->d, 0x100000000ULL, 2 * M2, &unmapped), 0);
	assert_int_equal(unmapped, 2 * M2);
	assert_int_equal(svf_iommu_unmap(e->d, 16 * G1, G1, &unmapped), 0);
	assert_int_equal(unmapped, G1);
}

/* Unmapping inside a superpage removes, and gathers, the whole leaf. */
static void test_gather_covers_superpage(void **state)
{
	struct env *e = *state;
	struct svf_gather g;
	uint64_t unmapped, phys;

	assert_int_equal(svf_iommu_map(e->d, M2 * 10, M2 * 20, M2, SVF_PROT_READ), 0);
	svf_gather_init(&g, true);
	assert_int_equal(svf_iommu_unmap_fast(e->d, M2 * 10 + 8 * PG, PG, &g, &unmapped), 0);
	assert_int_equal(unmapped, M2);
	assert_false(g.empty);
	assert_int_equal(g.start, M2 * 10);
	assert_int_equal(g.last, M2 * 11 - 1);
	assert_int_equal(svf_iommu_iova_to_phys(e->d, M2 * 10, &phys, NULL, NULL), -ENOENT);
	assert_int_equal(svf_iommu_iotlb_sync(e->d, &g), 0);
	assert_true(svf_gather_is_empty(&g));
}

static void test_empty_gather_no_wait(void **state)
{
	struct env *e = *state;
	struct svf_gather g;
	struct svf_stats a, b;
	uint64_t unmapped;

	svf_gather_init(&g, true);
	a = unit_stats(e);
	assert_int_equal(svf_iommu_iotlb_sync(e->d, &g), 0);
	/* Nothing mapped there: unmap_fast removes nothing and gathers nothing. */
	assert_int_equal(svf_iommu_unmap_fast(e->d, 0x7000000, PG, &g, &unmapped), 0);
	assert_int_equal(unmapped, 0);
	assert_int_equal(svf_iommu_iotlb_sync(e->d, &g), 0);
	b = unit_stats(e);
	assert_int_equal(b.waits, a.waits);
	assert_int_equal(b.inv_page + b.inv_domain + b.inv_global,
			 a.inv_page + a.inv_domain + a.inv_global);
}

/*
 * A sync whose wait fails leaves the invalidation queued and the gather
 * not empty, so the retry waits; one whose invalidation cannot be queued
 * invalidates the whole domain instead, and succeeds.
 */
static void test_sync_faults(void **state)
{
	struct env *e = *state;
	struct svf_gather g;
	struct svf_stats a, b;
	uint64_t unmapped, phys;
	int ret;

	assert_int_equal(svf_iommu_map(e->d, 0x9000, 0x55000, PG, SVF_PROT_READ), 0);
	assert_int_equal(svf_iommu_translate(e->d, 0x9000, SVF_PROT_READ, &phys), 0);
	svf_gather_init(&g, true);
	assert_int_equal(svf_iommu_unmap_fast(e->d, 0x9000, PG, &g, &unmapped), 0);
	a = unit_stats(e);
	ret = svf_fault_arm(2, 1u << SVF_FAULT_IOMMU_SYNC); /* the wait */
	if (ret == -ENOTSUP)
		skip();
	assert_int_equal(ret, 0);
	assert_int_equal(svf_iommu_iotlb_sync(e->d, &g), -EIO);
	assert_true(svf_fault_disarm());
	assert_false(svf_gather_is_empty(&g));
	/* Not waited for: the device still translates the removed page. */
	assert_int_equal(svf_iommu_translate(e->d, 0x9000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(phys, 0x55000);
	assert_int_equal(svf_iommu_iotlb_sync(e->d, &g), 0);
	assert_true(svf_gather_is_empty(&g));
	assert_int_equal(svf_iommu_translate(e->d, 0x9000, SVF_PROT_READ, &phys), -ENOENT);
	b = unit_stats(e);
	assert_int_equal(b.inv_page - a.inv_page, 1);
	assert_int_equal(b.waits - a.waits, 1);

	assert_int_equal(svf_iommu_map(e->d, 0x9000, 0x55000, PG, SVF_PROT_READ), 0);
	assert_int_equal(svf_iommu_translate(e->d, 0x9000, SVF_PROT_READ, &phys), 0);
	assert_int_equal(svf_iommu_unmap_fast(e->d, 0x9000, PG, &g, &unmapped), 0);
	a = unit_stats(e);
	assert_int_equal(svf_fault_arm(1, 1u << SVF_FAULT_IOMMU_SYNC), 0); /* the range's */
	assert_int_equal(svf_iommu_iotlb_sync(e->d, &g), 0);
	assert_true(svf_fault_disarm());
	assert_true(svf_gather_is_empty(&g));
	assert_int_equal(svf_iommu_translate(e->d, 0x9000, SVF_PROT_READ, &phys), -ENOENT);
	b = unit_stats(e);
	assert_int_equal(b.inv_page - a.inv_page, 0);
	assert_int_equal(b.inv_domain - a.inv_domain, 1);
	assert_int_equal(b.waits - a.waits, 1);
}

/* Merging: adjacent ranges make one descriptor; a disjoint one flushes the first. */
static void test_gather_merge(void **state)
{
	struct env *e = *state;
	struct svf_gather g;
	struct svf_stats a, b;
	uint64_t unmapped;

	for (int i = 0; i < 8; i++)
		assert_int_equal(svf_iommu_map(e->d, 0x10000000 + i * PG, 0x50000000 + i * 2 * PG, PG,
					       SVF_PROT_READ), 0);
	assert_int_equal(svf_iommu_map(e->d, 0x20000000, 0x60000000, PG, SVF_PROT_READ), 0);

	svf_gather_init(&g, true);
	a = unit_stats(e);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(svf_iommu_unmap_fast(e->d, 0x10000000 + i * PG, PG, &g, &unmapped), 0);
		assert_int_equal(unmapped, PG);
	}
	assert_int_equal(g.start, 0x10000000);
	assert_int_equal(g.last, 0x10000000 + 8 * PG - 1);
	b = unit_stats(e);
	assert_int_equal(b.inv_page, a.inv_page); /* nothing queued yet */
	assert_int_equal(svf_iommu_unmap_fast(e->d, 0x20000000, PG, &g, &unmapped), 0);
	b = unit_stats(e);
	assert_int_equal(b.inv_page - a.inv_page, 1); /* the merged run, on the disjoint add */
	assert_int_equal(b.waits, a.waits);
	assert_int_equal(svf_iommu_iotlb_sync(e->d, &g), 0);
	b = unit_stats(e);
	assert_int_equal(b.inv_page - a.inv_page, 2);
	assert_int_equal(b.waits - a.waits, 1);
}

/* Without merging, every range is queued at once; still one wait per sync. */
static void test_gather_nomerge(void **state)
{
	struct env *e = *state;
	struct svf_gather g;
	struct svf_stats a, b;
	uint64_t unmapped;

	for (int i = 0; i < 4; i++)
		assert_int_equal(svf_iommu_map(e->d, 0x30000000 + i * PG, 0x70000000 + i * 2 * PG, PG,
					       SVF_PROT_READ), 0);
	svf_gather_init(&g, false);
	a = unit_stats(e);
	for (int i = 0; i < 4; i++)
		assert_int_equal(svf_iommu_unmap_fast(e->d, 0x30000000 + i * PG, PG, &g, &unmapped), 0);
	b = unit_stats(e);
	assert_int_equal(b.inv_page - a.inv_page, 4);
	assert_int_equal(b.waits, a.waits);
	assert_int_equal(svf_iommu_iotlb_sync(e->d, &g), 0);
	b = unit_stats(e);
	assert_int_equal(b.waits - a.waits, 1);
}

/*
 * The first invariant, enforced: after unmap_fast the device may still hold
 * the translation, so unpinning then is a violation; after the sync it is not.
 */
/* The library prints nothing: its diagnostics reach the log callback. */
struct log_capture {
	unsigned n;
	enum svf_log_level level;
	char last[256];
};

static void capture_log(void *opaque, enum svf_log_level level, const char *msg)
{
	struct log_capture *lc = opaque;

	lc->n++;
	lc->level = level;
	snprintf(lc->last, sizeof(lc->last), "%s", msg);
}

static void test_unpin_check(void **state)
{
	struct env *e = *state;
	struct log_capture lc = { 0 };
	struct svf_gather g;
	struct svf_stats a, b;
	uint64_t unmapped, phys;

	svf_set_log_fn(capture_log, &lc);

	assert_int_equal(svf_iommu_map(e->d, 0x40000000000ULL, 0x90000000, PG,
				       SVF_PROT_READ | SVF_PROT_WRITE), 0);
	assert_int_equal(svf_iommu_translate(e->d, 0x40000000000ULL, SVF_PROT_WRITE, &phys), 0);
	assert_int_equal(phys, 0x90000000);
	a = unit_stats(e);
	/* Still mapped: unpinning now would be wrong. */
	assert_false(svf_iommu_check_unpin(e->d, 0x40000000000ULL, 0x90000000, PG));
	svf_gather_init(&g, true);
	assert_int_equal(svf_iommu_unmap_fast(e->d, 0x40000000000ULL, PG, &g, &unmapped), 0);
	/* Unmapped but not synced: the IOTLB still holds it. */
	assert_false(svf_iommu_check_unpin(e->d, 0x40000000000ULL, 0x90000000, PG));
	assert_int_equal(svf_iommu_translate(e->d, 0x40000000000ULL, SVF_PROT_READ, &phys), 0);
	assert_int_equal(svf_iommu_iotlb_sync(e->d, &g), 0);
	assert_true(svf_iommu_check_unpin(e->d, 0x40000000000ULL, 0x90000000, PG));
	assert_int_equal(svf_iommu_translate(e->d, 0x40000000000ULL, SVF_PROT_READ, &phys), -ENOENT);
	b = unit_stats(e);
	assert_int_equal(b.invariant_violations - a.invariant_violations, 2);
	svf_set_log_fn(th_log_stderr, NULL);
	/* One line per violation, with the frame and the IOVA. */
	assert_int_equal(lc.n, 2);
	assert_int_equal(lc.level, SVF_LOG_ERR);
	assert_non_null(strstr(lc.last, "INVARIANT VIOLATION: unpin of phys 0x90000000+0x1000 "
					"(iova 0x40000000000"));
	assert_null(strchr(lc.last, '\n'));
}

/*
 * One frame mapped at two IOVAs (two mappings of one page, two pins): the
 * device's translation through the IOVA that stays mapped is live, so
 * releasing the other mapping's pin is safe; once that IOVA is unmapped
 * too, its cached translation is stale until the sync.
 */
static void test_unpin_check_shared_frame(void **state)
{
	struct env *e = *state;
	const uint64_t a = 0x50000000000ULL, b = 0x60000000000ULL, pa = 0xa0000000;
	struct svf_gather g;
	uint64_t unmapped, phys;

	assert_int_equal(svf_iommu_map(e->d, a, pa, PG, SVF_PROT_READ), 0);
	assert_int_equal(svf_iommu_map(e->d, b, pa, PG, SVF_PROT_READ), 0);
	assert_int_equal(svf_iommu_translate(e->d, b, SVF_PROT_READ, &phys), 0);
	assert_int_equal(svf_iommu_unmap(e->d, a, PG, &unmapped), 0);
	assert_true(svf_iommu_check_unpin(e->d, a, pa, PG));
	svf_gather_init(&g, true);
	assert_int_equal(svf_iommu_unmap_fast(e->d, b, PG, &g, &unmapped), 0);
	assert_false(svf_iommu_check_unpin(e->d, a, pa, PG));
	assert_int_equal(svf_iommu_iotlb_sync(e->d, &g), 0);
	assert_true(svf_iommu_check_unpin(e->d, b, pa, PG));
}

/*
 * The device thread's translation cache (svf_iommu_translate): a large leaf
 * is one entry there as in the IOTLB, what the thread used keeps hitting
 * even when a one-entry IOTLB evicted it (a device's own cache), and a wait
 * that processes an invalidation empties it. On both drivers: VT-d builds
 * 1 GiB leaves for the aligned 4 GiB, AMD-Vi one 4 GiB leaf that its IOTLB
 * caches in 1 GiB blocks.
 */
static void test_thread_cache(void **state)
{
	static const char *const drivers[] = { "vtd", "amd" };

	(void)state;
	for (unsigned k = 0; k < 2; k++) {
		struct svf_iommu_config cfg;
		struct env e;
		struct svf_stats s;
		uint64_t phys;

		svf_iommu_default_config(drivers[k], &cfg);
		cfg.iotlb_sets = 1;
		cfg.iotlb_ways = 1;
		assert_int_equal(svf_iommu_create(&cfg, &e.u), 0);
		assert_int_equal(svf_domain_alloc(e.u, &e.d), 0);
		assert_int_equal(svf_iommu_map(e.d, 4 * G1, 8 * G1, 4 * G1, SVF_PROT_READ), 0);
		assert_int_equal(svf_iommu_map(e.d, 16 * G1, 0x7000, PG,
					       SVF_PROT_READ | SVF_PROT_WRITE), 0);
		svf_iommu_dma_begin(e.d);
		for (unsigned round = 0; round < 2; round++) {
			for (uint64_t g = 0; g < 4; g++) {
				for (uint64_t off = 0x1000; off < G1; off += G1 / 2) {
					assert_int_equal(svf_iommu_translate(e.d, (4 + g) * G1 + off,
									     SVF_PROT_READ, &phys),
							 0);
					assert_int_equal(phys, (8 + g) * G1 + off);
				}
			}
		}
		/* A write through a read-only leaf is refused, cached or not. */
		assert_int_equal(svf_iommu_translate(e.d, 5 * G1, SVF_PROT_WRITE, &phys), -EACCES);
		svf_iommu_dma_end(e.d);
		s = unit_stats(&e);
		assert_int_equal(s.iotlb_misses, 4 + 1); /* one walk per 1 GiB, one for the write */
		assert_int_equal(s.iotlb_hits, 16 - 4);

		/* Another page of the domain, then back: no walk. */
		assert_int_equal(svf_iommu_translate(e.d, 16 * G1 + 8, SVF_PROT_WRITE, &phys), 0);
		assert_int_equal(phys, 0x7008);
		assert_int_equal(svf_iommu_translate(e.d, 6 * G1, SVF_PROT_READ, &phys), 0);
		assert_int_equal(unit_stats(&e).iotlb_misses, 6);

		/* An invalidation waited for empties the cache: walks again. */
		assert_int_equal(svf_iommu_flush_all(e.d), 0);
		assert_int_equal(svf_iommu_translate(e.d, 6 * G1, SVF_PROT_READ, &phys), 0);
		assert_int_equal(phys, 10 * G1);
		assert_int_equal(unit_stats(&e).iotlb_misses, 7);
		svf_domain_free(e.d);
		svf_iommu_destroy(e.u);
	}
}

/*
 * The access values a device may ask for: a read, a write, or both at once
 * (a read-modify-write such as an atomic operation), which needs both
 * permissions, as a mapping's READ|WRITE grants both; anything else is
 * -EINVAL. Each answer is asked twice, the second time from the thread's
 * cache, which must answer as the walk did. On both drivers; on a VT-d
 * unit that tracks dirtiness a read-modify-write marks the page dirty.
 */
static void test_access_values(void **state)
{
	static const char *const drivers[] = { "vtd", "amd" };
	static const int prots[] = { SVF_PROT_READ, SVF_PROT_WRITE, SVF_PROT_READ | SVF_PROT_WRITE };

	(void)state;
	for (unsigned k = 0; k < 2; k++) {
		struct svf_iommu_config cfg;
		struct env e;
		uint64_t phys, bits = 0, ndirty = 0;

		svf_iommu_default_config(drivers[k], &cfg);
		cfg.hw_dirty = k == 0;
		assert_int_equal(svf_iommu_create(&cfg, &e.u), 0);
		assert_int_equal(svf_domain_alloc(e.u, &e.d), 0);
		for (unsigned m = 0; m < 3; m++)
			assert_int_equal(svf_iommu_map(e.d, (m + 1) * PG, (m + 0x10) * PG, PG, prots[m]),
					 0);
		svf_iommu_dma_begin(e.d);
		for (unsigned m = 0; m < 3; m++) {
			const uint64_t iova = (m + 1) * PG + 8;

			for (unsigned a = 0; a < 3; a++) {
				const int want = (prots[a] & ~prots[m]) ? -EACCES : 0;

				for (unsigned twice = 0; twice < 2; twice++) {
					phys = 0;
					assert_int_equal(svf_iommu_translate(e.d, iova, prots[a], &phys), want);
					if (!want)
						assert_int_equal(phys, (m + 0x10) * PG + 8);
				}
			}
			/* Right after a translation of the page that the cache could answer. */
			assert_int_equal(svf_iommu_translate(e.d, iova, prots[m], &phys), 0);
			assert_int_equal(svf_iommu_translate(e.d, iova, 0, &phys), -EINVAL);
			assert_int_equal(svf_iommu_translate(e.d, iova, 4, &phys), -EINVAL);
			assert_int_equal(svf_iommu_translate(e.d, iova, 7, &phys), -EINVAL);
			assert_int_equal(svf_iommu_translate(e.d, iova, -1, &phys), -EINVAL);
		}
		svf_iommu_dma_end(e.d);
		if (cfg.hw_dirty) {
			/* The write-only and read-write pages were written, the read-only one not. */
			assert_int_equal(svf_iommu_read_clear_dirty(e.d, PG, 3 * PG, PG, &bits, &ndirty),
					 0);
			assert_int_equal(ndirty, 2);
			assert_int_equal(bits, 6);
			/* Clean again: a read leaves it so, a read-modify-write alone marks it. */
			svf_iommu_dma_begin(e.d);
			assert_int_equal(svf_iommu_translate(e.d, 3 * PG, SVF_PROT_READ, &phys), 0);
			assert_int_equal(svf_iommu_translate(e.d, 3 * PG, SVF_PROT_READ | SVF_PROT_WRITE,
							     &phys), 0);
			svf_iommu_dma_end(e.d);
			bits = 0;
			assert_int_equal(svf_iommu_read_clear_dirty(e.d, PG, 3 * PG, PG, &bits, &ndirty),
					 0);
			assert_int_equal(ndirty, 1);
			assert_int_equal(bits, 4);
		}
		svf_domain_free(e.d);
		svf_iommu_destroy(e.u);
	}
}

/*
 * Two domains of one unit (two containers of one IOMMU) mapping the same
 * frame, each with its own pin: a device's use of it through one domain
 * leaves an IOTLB entry of that domain, which is no leftover of the other
 * domain's mapping: unpinning there is safe (it was a false violation,
 * seen by the device fuzzer with two containers mapping one buffer). The
 * entry still counts for its own domain once that one unmaps.
 */
static void test_unpin_check_other_domain(void **state)
{
	static const char *const drivers[] = { "vtd", "amd" };
	const uint64_t iova = 0x100000, pa = 0xb0000000;

	(void)state;
	for (unsigned k = 0; k < 2; k++) {
		struct svf_iommu_config cfg;
		struct svf_domain *d1, *d2;
		struct svf_iommu *u;
		struct svf_gather g;
		uint64_t unmapped, phys;

		svf_iommu_default_config(drivers[k], &cfg);
		cfg.check_unpin = true;
		assert_int_equal(svf_iommu_create(&cfg, &u), 0);
		assert_int_equal(svf_domain_alloc(u, &d1), 0);
		assert_int_equal(svf_domain_alloc(u, &d2), 0);
		assert_int_equal(svf_iommu_map(d1, iova, pa, PG, SVF_PROT_READ), 0);
		assert_int_equal(svf_iommu_map(d2, iova, pa, PG, SVF_PROT_READ), 0);
		assert_int_equal(svf_iommu_translate(d1, iova, SVF_PROT_READ, &phys), 0);
		assert_int_equal(phys, pa);
		assert_int_equal(svf_iommu_unmap(d2, iova, PG, &unmapped), 0);
		assert_true(svf_iommu_check_unpin(d2, iova, pa, PG));
		/* d1's own unmap, not waited for yet: its entry is a leftover for d1. */
		svf_gather_init(&g, true);
		assert_int_equal(svf_iommu_unmap_fast(d1, iova, PG, &g, &unmapped), 0);
		assert_false(svf_iommu_check_unpin(d1, iova, pa, PG));
		assert_int_equal(svf_iommu_iotlb_sync(d1, &g), 0);
		assert_true(svf_iommu_check_unpin(d1, iova, pa, PG));
		svf_domain_free(d1);
		svf_domain_free(d2);
		svf_iommu_destroy(u);
	}
}

static void test_flush_all(void **state)
{
	struct env *e = *state;
	struct svf_stats a, b;

	a = unit_stats(e);
	assert_int_equal(svf_iommu_flush_all(e->d), 0);
	b = unit_stats(e);
	assert_int_equal(b.inv_domain - a.inv_domain, 1);
	assert_int_equal(b.waits - a.waits, 1);
}

static void test_resv_regions(void **state)
{
	struct env *e = *state;
	struct svf_resv_region r[4];
	size_t nr = 0;

	assert_int_equal(svf_domain_resv_regions(e->d, r, 4, &nr), 0);
	assert_int_equal(nr, 1);
	assert_int_equal(r[0].start, 0xfee00000);
	assert_int_equal(r[0].last, 0xfeefffff);
	assert_int_equal(svf_domain_aperture_last(e->d), (1ULL << 48) - 1);
	assert_int_equal(svf_domain_pgsize_bitmap(e->d), 0x40201000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_driver),
		cmocka_unit_test(test_map_split),
		cmocka_unit_test(test_gather_covers_superpage),
		cmocka_unit_test(test_empty_gather_no_wait),
		cmocka_unit_test(test_gather_merge),
		cmocka_unit_test(test_sync_faults),
		cmocka_unit_test(test_gather_nomerge),
		cmocka_unit_test(test_unpin_check),
		cmocka_unit_test(test_unpin_check_shared_frame),
		cmocka_unit_test(test_thread_cache),
		cmocka_unit_test(test_access_values),
		cmocka_unit_test(test_flush_all),
		cmocka_unit_test(test_resv_regions),
		cmocka_unit_test(test_cached_translation_of_freed_domain),
		cmocka_unit_test(test_unpin_check_other_domain),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: MIT */
/*
 * Dirty bitmaps at 64-bit word edges: mappings of 1, 63, 64 and 65 pages at
 * offsets that straddle the words of the caller's bitmap, queried from
 * different bases, through DIRTY_PAGES GET_BITMAP and through UNMAP with
 * GET_DIRTY_BITMAP. The words a report reaches are written (not ORed into
 * what the caller passed), exactly the pages of the mappings in range are
 * reported, and nothing stale survives
 * from one report to the next. Run for every policy.
 */
#include <errno.h>
#include <string.h>

#include "helpers.h"

#define PG   4096ULL
#define BASE 0x10000000ULL
#define NPAGES 320

/* {first page, pages} relative to BASE: gaps between, word edges crossed. */
static const struct { unsigned first, n; } maps[] = {
	{ 3, 1 }, { 10, 63 }, { 100, 64 }, { 170, 65 }, { 250, 1 },
};
#define NMAPS (sizeof(maps) / sizeof(maps[0]))

static bool page_mapped(unsigned pg)
{
	for (size_t i = 0; i < NMAPS; i++)
		if (pg >= maps[i].first && pg < maps[i].first + maps[i].n)
			return true;
	return false;
}

static long dirty_ctl(struct svf_container *c, uint32_t flag)
{
	struct vfio_iommu_type1_dirty_bitmap d = { .argsz = sizeof(d), .flags = flag };

	return softvfio_ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &d);
}

static long dirty_get(struct svf_container *c, uint64_t iova, uint64_t size, uint64_t *bits,
		      uint64_t bytes)
{
	struct th_dirty_req r = { .argsz = sizeof(r),
				  .flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
		.g = { .iova = iova, .size = size,
		       .bitmap = { .pgsize = PG, .size = bytes, .data = (__u64 *)bits } } };

	return softvfio_ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &r);
}

/* Every bit of [0, npages) of bits against the mappings, relative to page base. */
static void expect_bits(const uint64_t *bits, unsigned base, unsigned npages, unsigned extra)
{
	for (unsigned i = 0; i < npages; i++) {
		bool want = page_mapped(base + i) || i == extra;
		bool got = (bits[i / 64] >> (i % 64)) & 1;

		if (want != got)
			fail_msg("page %u (bit %u): dirty=%d, want %d", base + i, i, got, want);
	}
}

static void map_all(struct svf_container *c)
{
	for (size_t i = 0; i < NMAPS; i++)
		assert_int_equal(th_map(c, BASE + maps[i].first * PG, maps[i].first * PG,
					maps[i].n * PG, TH_RW), 0);
}

static void test_word_edges(void **state)
{
	const enum svf_policy pol = (enum svf_policy)(uintptr_t)*state;
	struct th_opts o = { .policy = pol, .backend = SVF_BACKEND_SYNTHETIC,
			     .layout = SVF_LAYOUT_FRAG4K };
	uint64_t bits[NPAGES / 64 + 1];
	struct th_fixture f;

	assert_int_equal(th_open(&o, &f), 0);
	map_all(f.c);
	assert_int_equal(dirty_ctl(f.c, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);

	/* Whole range: a stale bit the caller left in a reported word (page 80, a gap) is overwritten; one in a word no mapping reaches (page 300) stays. */
	memset(bits, 0, sizeof(bits));
	bits[1] |= 1ULL << (80 - 64);
	bits[4] |= 1ULL << (300 - 256);
	assert_int_equal(dirty_get(f.c, BASE, NPAGES * PG, bits, sizeof(bits)), 0);
	expect_bits(bits, 0, NPAGES, 300);

	/* Again from a base inside a word (the 63-page mapping's start): same pages, shifted. */
	for (int round = 0; round < 2; round++) {
		memset(bits, 0, sizeof(bits));
		assert_int_equal(dirty_get(f.c, BASE + 10 * PG, (NPAGES - 10) * PG, bits, sizeof(bits)),
				 0);
		expect_bits(bits, 10, NPAGES - 10, ~0u);
	}
	/* Only the 64- and 65-page mappings (base 100: mid-word both ends). */
	memset(bits, 0, sizeof(bits));
	assert_int_equal(dirty_get(f.c, BASE + 100 * PG, 135 * PG, bits, sizeof(bits)), 0);
	expect_bits(bits, 100, 135, ~0u);
	/* A query that bisects a mapping at either end is refused. */
	assert_int_equal(dirty_get(f.c, BASE + 11 * PG, 20 * PG, bits, sizeof(bits)), -EINVAL);
	assert_int_equal(dirty_get(f.c, BASE + 100 * PG, 10 * PG, bits, sizeof(bits)), -EINVAL);

	/* Unmap with the dirty bitmap reports the removed mappings the same way. */
	{
		uint64_t buf[sizeof(struct vfio_iommu_type1_dma_unmap) / 8 + 3];
		struct vfio_iommu_type1_dma_unmap *u = (void *)buf;
		struct vfio_bitmap *bm = (void *)u->data;

		memset(buf, 0, sizeof(buf));
		memset(bits, 0, sizeof(bits));
		u->argsz = sizeof(*u) + sizeof(*bm);
		u->flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
		u->iova = BASE + 10 * PG;
		u->size = 225 * PG; /* the 63-, 64- and 65-page mappings */
		bm->pgsize = PG;
		bm->size = sizeof(bits);
		bm->data = (__u64 *)bits;
		assert_int_equal(softvfio_ioctl(f.c, VFIO_IOMMU_UNMAP_DMA, u), 0);
		assert_int_equal(u->size, (63 + 64 + 65) * PG);
		expect_bits(bits, 10, 225, ~0u);
	}
	assert_int_equal(svf_container_nr_mappings(f.c), 2);
	assert_int_equal(dirty_ctl(f.c, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP), 0);
	assert_int_equal(svf_container_check(f.c), 0);
	th_close(&f);
}

/*
 * A map while tracking gets a bitmap; a failing bitmap allocation removes
 * the mapping (docs/uapi.md MAP row 12).
 */
static void test_map_while_tracking(void **state)
{
	(void)state;
	struct th_opts o = { .policy = SVF_POLICY_GATHER, .backend = SVF_BACKEND_SYNTHETIC,
			     .layout = SVF_LAYOUT_FRAG4K };
	uint64_t bits[2] = { 0 };
	struct th_fixture f;

	assert_int_equal(th_open(&o, &f), 0);
	assert_int_equal(dirty_ctl(f.c, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
	assert_int_equal(th_map(f.c, BASE, 0, 65 * PG, TH_RW), 0);
	assert_int_equal(dirty_get(f.c, BASE, 65 * PG, bits, sizeof(bits)), 0);
	assert_int_equal(bits[0], ~0ULL);
	assert_int_equal(bits[1], 1);
	/* The allocations of a map: the mapping, then its bitmap. */
	if (svf_fault_arm(2, 1u << SVF_FAULT_ALLOC) == 0) {
		struct svf_stats s;

		assert_int_equal(th_map(f.c, BASE + 0x100000, 0x100000, 4 * PG, TH_RW), -ENOMEM);
		assert_true(svf_fault_disarm());
		s = th_stats(f.c);
		assert_int_equal(s.pinned_now, 65);
		assert_int_equal(svf_container_nr_mappings(f.c), 1);
		assert_int_equal(th_dma_avail(f.c), SVF_DEFAULT_DMA_ENTRY_LIMIT - 1);
	}
	assert_int_equal(svf_container_check(f.c), 0);
	th_close(&f);
}

/* The device accesses a page through the IOMMU (access: SVF_PROT_READ or SVF_PROT_WRITE). */
static void device_access(struct svf_container *c, uint64_t iova, int access)
{
	struct svf_domain *d = svf_container_domain(c, 0);
	uint64_t phys;

	svf_iommu_dma_begin(d);
	assert_int_equal(svf_iommu_translate(d, iova, access, &phys), 0);
	svf_iommu_dma_end(d);
}

#define device_write(c, iova) device_access(c, iova, SVF_PROT_WRITE)
#define device_read(c, iova)  device_access(c, iova, SVF_PROT_READ)

static uint64_t popcount_bits(const uint64_t *bits, size_t words)
{
	uint64_t n = 0;

	for (size_t i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(bits[i]);
	return n;
}

/*
 * Hardware dirty tracking: only pages the device wrote after START are
 * reported, each report clears them, a page written again after a report is
 * reported again (the clear invalidated the cached writable translation),
 * reads dirty nothing, and a superpage leaf is dirty as a whole.
 */
static void test_hw_dirty(void **state)
{
	(void)state;
	struct th_opts o = { .policy = SVF_POLICY_GATHER, .backend = SVF_BACKEND_SYNTHETIC,
			     .layout = SVF_LAYOUT_FRAG4K, .hw_dirty = true };
	uint64_t bits[NPAGES / 64 + 1];
	struct th_fixture f;

	assert_int_equal(th_open(&o, &f), 0);
	map_all(f.c);
	device_write(f.c, BASE + 11 * PG); /* before START: not reported */
	assert_int_equal(dirty_ctl(f.c, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);

	memset(bits, 0, sizeof(bits));
	assert_int_equal(dirty_get(f.c, BASE, NPAGES * PG, bits, sizeof(bits)), 0);
	assert_int_equal(popcount_bits(bits, NPAGES / 64 + 1), 0);

	device_write(f.c, BASE + 3 * PG);
	device_write(f.c, BASE + 72 * PG);  /* last page of the 63-page mapping */
	device_write(f.c, BASE + 72 * PG);  /* twice: still one page */
	device_write(f.c, BASE + 163 * PG);   /* last page of the 64-page mapping */
	device_read(f.c, BASE + 100 * PG);  /* reads dirty nothing */
	memset(bits, 0, sizeof(bits));
	assert_int_equal(dirty_get(f.c, BASE, NPAGES * PG, bits, sizeof(bits)), 0);
	assert_int_equal(popcount_bits(bits, NPAGES / 64 + 1), 3);
	assert_true(bits[0] & (1ULL << 3));
	assert_true(bits[1] & (1ULL << (72 - 64)));
	assert_true(bits[2] & (1ULL << (163 - 128)));

	/* Read and cleared: nothing now; written again: reported again. */
	memset(bits, 0, sizeof(bits));
	assert_int_equal(dirty_get(f.c, BASE, NPAGES * PG, bits, sizeof(bits)), 0);
	assert_int_equal(popcount_bits(bits, NPAGES / 64 + 1), 0);
	device_write(f.c, BASE + 3 * PG);
	memset(bits, 0, sizeof(bits));
	assert_int_equal(dirty_get(f.c, BASE + 3 * PG, PG, bits, 8), 0);
	assert_int_equal(bits[0], 1);
	/*
	 * This thread's last translation is page 3, cached writable (its D bit
	 * was set). The report cleared D; unless it also invalidated, the
	 * cached translation would let this write through unrecorded.
	 */
	device_write(f.c, BASE + 3 * PG);
	memset(bits, 0, sizeof(bits));
	assert_int_equal(dirty_get(f.c, BASE + 3 * PG, PG, bits, 8), 0);
	assert_int_equal(bits[0], 1);

	/* Unmap with the bitmap reports the D bits of what it removes. */
	device_write(f.c, BASE + 180 * PG);
	{
		uint64_t buf[sizeof(struct vfio_iommu_type1_dma_unmap) / 8 + 3] = { 0 };
		struct vfio_iommu_type1_dma_unmap *u = (void *)buf;
		struct vfio_bitmap *bm = (void *)u->data;

		memset(bits, 0, sizeof(bits));
		u->argsz = sizeof(*u) + sizeof(*bm);
		u->flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
		u->iova = BASE + 170 * PG;
		u->size = 65 * PG;
		bm->pgsize = PG;
		bm->size = 16;
		bm->data = (__u64 *)bits;
		assert_int_equal(softvfio_ioctl(f.c, VFIO_IOMMU_UNMAP_DMA, u), 0);
		assert_int_equal(popcount_bits(bits, 2), 1);
		assert_int_equal(bits[0], 1ULL << 10);
	}
	assert_int_equal(dirty_ctl(f.c, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP), 0);
	assert_int_equal(svf_container_check(f.c), 0);
	assert_int_equal(th_stats(f.c).invariant_violations, 0);
	th_close(&f);

	/* A 2 MiB leaf is dirty as a whole, as the hardware records it. */
	o.layout = SVF_LAYOUT_CONTIG;
	assert_int_equal(th_open(&o, &f), 0);
	assert_int_equal(th_map(f.c, 0x40000000, 0x40000000, 4ULL << 20, TH_RW), 0);
	assert_int_equal(dirty_ctl(f.c, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
	device_write(f.c, 0x40000000 + (2ULL << 20) + 7 * PG);
	{
		uint64_t big[1024 / 64] = { 0 };

		assert_int_equal(dirty_get(f.c, 0x40000000, 4ULL << 20, big, sizeof(big)), 0);
		assert_int_equal(popcount_bits(big, 16), 512);
		assert_int_equal(big[0], 0);
		assert_int_equal(big[8], ~0ULL);
	}
	th_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_word_edges, (void *)(uintptr_t)SVF_POLICY_STRICT),
		cmocka_unit_test_prestate(test_word_edges, (void *)(uintptr_t)SVF_POLICY_BATCHED),
		cmocka_unit_test_prestate(test_word_edges, (void *)(uintptr_t)SVF_POLICY_GATHER),
		cmocka_unit_test(test_map_while_tracking),
		cmocka_unit_test(test_hw_dirty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

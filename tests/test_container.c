/* SPDX-License-Identifier: MIT */
/*
 * The type1 container's unmap path, checked through its counters: how many
 * waits and descriptors each flush policy spends, that batches span what
 * they should, that more domains are all unmapped, and that pins and locked
 * memory come back exactly. Lazy containers never flush by their timer
 * here (TH_LAZY_NEVER): what they defer is flushed by svf_container_flush,
 * so their figures are exact.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"

#define PG 4096ULL

static struct th_fixture open_or_fail(enum svf_policy pol, enum svf_backend be, enum svf_layout lay,
				      unsigned cap)
{
	struct th_opts o = { .policy = pol, .backend = be, .layout = lay, .batch_cap = cap,
			     .lazy_timeout_us = TH_LAZY_NEVER };
	struct th_fixture f;

	assert_int_equal(th_open(&o, &f), 0);
	return f;
}

static void close_checked(struct th_fixture *f)
{
	struct svf_stats s = th_stats(f->c);

	assert_int_equal(svf_container_check(f->c), 0);
	assert_int_equal(s.invariant_violations, 0);
	th_close(f);
}

struct unmap_cost {
	uint64_t waits, inv_page, inv_domain, chunks, pending_peak;
	uint64_t left_queued, flush_full; /* lazy: pages the ioctl left queued, full-queue flushes */
};

/* Map npages of fragmented memory as one mapping, unmap it, return the deltas. */
static struct unmap_cost unmap_one_fragmented(enum svf_policy pol, uint64_t npages, unsigned cap)
{
	struct th_fixture f = open_or_fail(pol, SVF_BACKEND_SYNTHETIC, SVF_LAYOUT_FRAG4K, cap);
	struct svf_stats a, b;
	uint64_t sz;

	assert_int_equal(th_map(f.c, 0x100000, 0, npages * PG, TH_RW), 0);
	a = th_stats(f.c);
	assert_int_equal(a.pinned_now, npages);
	assert_int_equal(th_unmap(f.c, 0x100000, npages * PG, 0, &sz), 0);
	assert_int_equal(sz, npages * PG);
	b = th_stats(f.c);
	uint64_t left_queued = b.pinned_now, flush_full = b.lazy_flush_full;
	if (pol == SVF_POLICY_LAZY)
		assert_int_equal(svf_container_flush(f.c), 0);
	else
		assert_int_equal(left_queued, 0);
	b = th_stats(f.c);
	assert_int_equal(b.pinned_now, 0);
	assert_int_equal(b.pages_unpinned - a.pages_unpinned, npages);
	struct unmap_cost r = {
		.left_queued = left_queued,
		.flush_full = flush_full,
		.waits = b.waits - a.waits,
		.inv_page = b.inv_page - a.inv_page,
		.inv_domain = b.inv_domain - a.inv_domain,
		.chunks = b.chunks_unmapped - a.chunks_unmapped,
		.pending_peak = b.regions_pending_peak,
	};
	close_checked(&f);
	return r;
}

static void test_waits_per_policy(void **state)
{
	(void)state;
	const uint64_t n = 2000; /* not a multiple of 512 */
	struct unmap_cost strict = unmap_one_fragmented(SVF_POLICY_STRICT, n, 0);
	struct unmap_cost batched = unmap_one_fragmented(SVF_POLICY_BATCHED, n, 0);
	struct unmap_cost gather = unmap_one_fragmented(SVF_POLICY_GATHER, n, 0);
	struct unmap_cost lazy = unmap_one_fragmented(SVF_POLICY_LAZY, n, 0);
	const uint64_t q = SVF_DEFAULT_LAZY_QUEUE_CAP;

	/* Every 4 KiB page is its own physically contiguous chunk. */
	assert_int_equal(strict.chunks, n);
	assert_int_equal(batched.chunks, n);
	assert_int_equal(strict.waits, n);
	assert_int_equal(batched.waits, (n + 511) / 512);
	assert_true(gather.waits <= batched.waits);
	assert_int_equal(gather.waits, (n + 511) / 512);
	/* One page-selective descriptor per chunk without merging ... */
	assert_int_equal(batched.inv_page + batched.inv_domain, n);
	/* ... and one per batch when the gather merges the adjacent IOVAs. */
	assert_int_equal(gather.inv_page + gather.inv_domain, (n + 511) / 512);
	assert_int_equal(batched.pending_peak, 512);
	/* Lazy: gather in queue-sized batches; the ioctl flushes only full queues. */
	assert_int_equal(lazy.chunks, n);
	assert_int_equal(lazy.flush_full, n / q);
	assert_int_equal(lazy.left_queued, n % q);
	assert_int_equal(lazy.waits, (n + q - 1) / q);
	assert_int_equal(lazy.inv_page + lazy.inv_domain, (n + q - 1) / q);
	assert_int_equal(lazy.pending_peak, q);
}

static void test_small_batch_cap(void **state)
{
	(void)state;
	struct unmap_cost b = unmap_one_fragmented(SVF_POLICY_BATCHED, 20, 8);

	assert_int_equal(b.waits, 3); /* 8 + 8 + 4 */
	assert_int_equal(b.pending_peak, 8);
}

/* Many small mappings removed by one request: only gather shares waits. */
static void many_mappings(enum svf_policy pol, uint64_t *waits, uint64_t *ioctl_waits)
{
	struct th_fixture f = open_or_fail(pol, SVF_BACKEND_SYNTHETIC, SVF_LAYOUT_FRAG4K, 0);
	const unsigned n = 100;
	struct svf_stats a, b;
	uint64_t sz;

	for (unsigned i = 0; i < n; i++)
		assert_int_equal(th_map(f.c, 0x200000 + i * 2 * PG, i * 2 * PG, PG, TH_RW), 0);
	a = th_stats(f.c);
	assert_int_equal(th_unmap(f.c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz), 0);
	assert_int_equal(sz, n * PG);
	b = th_stats(f.c);
	assert_int_equal(svf_container_nr_mappings(f.c), 0);
	*ioctl_waits = b.waits - a.waits;
	assert_int_equal(svf_container_flush(f.c), 0); /* lazy: the queue; else nothing */
	b = th_stats(f.c);
	assert_int_equal(b.pinned_now, 0);
	*waits = b.waits - a.waits;
	close_checked(&f);
}

static void test_many_mappings_share_waits(void **state)
{
	(void)state;
	uint64_t strict, batched, gather, lazy, in_strict, in_batched, in_gather, in_lazy;

	many_mappings(SVF_POLICY_STRICT, &strict, &in_strict);
	many_mappings(SVF_POLICY_BATCHED, &batched, &in_batched);
	many_mappings(SVF_POLICY_GATHER, &gather, &in_gather);
	many_mappings(SVF_POLICY_LAZY, &lazy, &in_lazy);
	assert_int_equal(strict, 100);
	assert_int_equal(batched, 100); /* batched syncs once per mapping */
	assert_int_equal(gather, 1);
	assert_int_equal(lazy, 1);      /* 100 regions fit the queue: one flush */
	/* Only lazy returns before its wait. */
	assert_int_equal(in_strict, strict);
	assert_int_equal(in_batched, batched);
	assert_int_equal(in_gather, gather);
	assert_int_equal(in_lazy, 0);
}

/* A contiguous guest is mapped with superpages and unmapped in one chunk. */
static void test_contiguous_superpages(void **state)
{
	(void)state;
	struct th_fixture f = open_or_fail(SVF_POLICY_BATCHED, SVF_BACKEND_SYNTHETIC,
					   SVF_LAYOUT_CONTIG, 0);
	struct svf_domain *d = svf_container_domain(f.c, 0);
	uint64_t phys, leaf, sz;
	struct svf_stats a, b;

	/* vaddr 2M-aligned so phys (phys_base + vaddr) is too. */
	assert_int_equal(th_map(f.c, 1ULL << 30, 1ULL << 30, 1ULL << 30, TH_RW), 0);
	assert_int_equal(svf_iommu_iova_to_phys(d, (1ULL << 30) + 5 * PG, &phys, &leaf, NULL), 0);
	assert_int_equal(leaf, 1ULL << 30);
	a = th_stats(f.c);
	assert_int_equal(th_unmap(f.c, 1ULL << 30, 1ULL << 30, 0, &sz), 0);
	b = th_stats(f.c);
	assert_int_equal(sz, 1ULL << 30);
	assert_int_equal(b.chunks_unmapped - a.chunks_unmapped, 1);
	assert_int_equal(b.waits - a.waits, 1);
	close_checked(&f);
}

/* A second domain attached later receives the mappings; unmap clears both. */
static void test_second_domain(void **state)
{
	(void)state;
	struct th_fixture f = open_or_fail(SVF_POLICY_GATHER, SVF_BACKEND_SYNTHETIC,
					   SVF_LAYOUT_RANDOM, 0);
	struct svf_iommu_config ic;
	struct svf_iommu *u2;
	struct svf_domain *d2;
	uint64_t phys0, phys1, sz;

	assert_int_equal(th_map(f.c, 0x10000000, 0, 64 << 20, TH_RW), 0);
	assert_int_equal(th_map(f.c, 0x20000000, 64 << 20, 8 * PG, VFIO_DMA_MAP_FLAG_READ), 0);
	svf_iommu_default_config(th_driver(), &ic);
	ic.check_unpin = true;
	assert_int_equal(svf_iommu_create(&ic, &u2), 0);
	assert_int_equal(svf_domain_alloc(u2, &d2), 0);
	assert_int_equal(svf_container_attach_domain(f.c, d2), 0);
	assert_int_equal(svf_container_attach_domain(f.c, d2), -EBUSY);
	assert_int_equal(svf_container_check(f.c), 0); /* every page in both domains */
	assert_int_equal(svf_iommu_iova_to_phys(svf_container_domain(f.c, 0), 0x10003000, &phys0,
						NULL, NULL), 0);
	assert_int_equal(svf_iommu_iova_to_phys(d2, 0x10003000, &phys1, NULL, NULL), 0);
	assert_int_equal(phys0, phys1);
	/* New mappings go to both. */
	assert_int_equal(th_map(f.c, 0x30000000, 128 << 20, 16 * PG, TH_RW), 0);
	assert_int_equal(svf_container_check(f.c), 0);

	assert_int_equal(th_unmap(f.c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz), 0);
	assert_int_equal(sz, (64 << 20) + 8 * PG + 16 * PG);
	assert_int_equal(svf_iommu_iova_to_phys(d2, 0x10003000, &phys1, NULL, NULL), -ENOENT);
	assert_int_equal(th_stats(f.c).pinned_now, 0);

	/* Detach, then the container still works on its own domain. */
	assert_int_equal(th_map(f.c, 0x10000000, 0, 4 * PG, TH_RW), 0);
	assert_int_equal(svf_container_detach_domain(f.c, d2), 0);
	assert_int_equal(svf_container_detach_domain(f.c, d2), -ENOENT);
	assert_int_equal(svf_iommu_iova_to_phys(d2, 0x10000000, &phys1, NULL, NULL), -ENOENT);
	assert_int_equal(svf_container_check(f.c), 0);
	svf_domain_free(d2);
	svf_iommu_destroy(u2);
	close_checked(&f);
}

/* Real memory: two mappings of one page pin it twice; pins and locked memory return. */
static void test_process_shared_pages(void **state)
{
	(void)state;
	struct th_fixture f = open_or_fail(SVF_POLICY_GATHER, SVF_BACKEND_PROCESS, 0, 0);
	const size_t len = 16 * PG;
	uint8_t *mem = th_alloc_mem(len);
	uint64_t phys, sz;
	struct svf_stats s;

	assert_non_null(mem);
	memset(mem, 0x5a, len);
	assert_int_equal(th_map(f.c, 0x100000, (uintptr_t)mem, len, TH_RW), 0);
	assert_int_equal(th_map(f.c, 0x900000, (uintptr_t)mem, 4 * PG, VFIO_DMA_MAP_FLAG_READ), 0);
	s = th_stats(f.c);
	assert_int_equal(s.pinned_now, 20);
	assert_int_equal(s.locked_bytes, 20 * PG); /* Linux counts each mapping's pins */
	assert_int_equal(svf_pinner_lookup(f.p, (uintptr_t)mem, &phys), 0);
	assert_int_equal(svf_pinner_refcount(f.p, phys), 2);
	assert_int_equal(svf_container_check(f.c), 0);

	assert_int_equal(th_unmap(f.c, 0x900000, 4 * PG, 0, &sz), 0);
	assert_int_equal(sz, 4 * PG);
	assert_int_equal(svf_pinner_refcount(f.p, phys), 1);
	assert_int_equal(th_unmap(f.c, 0x100000, len, 0, &sz), 0);
	assert_int_equal(svf_pinner_refcount(f.p, phys), 0);
	s = th_stats(f.c);
	assert_int_equal(s.pinned_now, 0);
	assert_int_equal(s.locked_bytes, 0);
	assert_int_equal(svf_pinner_pinned_pages(f.p), 0);
	assert_int_equal(svf_pinner_locked_bytes(f.p), 0);
	close_checked(&f);
	th_free_mem(mem, len);
}

/* The last domain leaving drops every mapping, as Linux releases the backend. */
static void test_last_domain_detach(void **state)
{
	(void)state;
	struct th_fixture f = open_or_fail(SVF_POLICY_BATCHED, SVF_BACKEND_SYNTHETIC,
					   SVF_LAYOUT_FRAG4K, 0);
	struct svf_domain *d = svf_container_domain(f.c, 0);

	assert_int_equal(th_map(f.c, 0x100000, 0, 32 * PG, TH_RW), 0);
	assert_int_equal(svf_container_detach_domain(f.c, d), 0);
	assert_int_equal(svf_container_nr_mappings(f.c), 0);
	assert_int_equal(th_stats(f.c).pinned_now, 0);
	/* No backend now: requests are EINVAL until a domain and SET_IOMMU return. */
	assert_int_equal(th_map(f.c, 0x100000, 0, PG, TH_RW), -EINVAL);
	assert_int_equal(svf_container_attach_domain(f.c, d), 0);
	assert_int_equal(softvfio_ioctl(f.c, VFIO_SET_IOMMU, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU),
			 0);
	assert_int_equal(th_map(f.c, 0x100000, 0, PG, TH_RW), 0);
	close_checked(&f);
}

/*
 * No allocation on the unmap path: every allocation passes the fault seam,
 * so counting ALLOC/PT_ALLOC points during a large unmap counts allocations.
 */
static void test_unmap_allocates_nothing(void **state)
{
	(void)state;
	for (enum svf_policy pol = SVF_POLICY_STRICT; pol < SVF_POLICY_NR; pol++) {
		struct th_fixture f = open_or_fail(pol, SVF_BACKEND_SYNTHETIC, SVF_LAYOUT_FRAG4K, 0);
		uint64_t sz;

		assert_int_equal(th_map(f.c, 0x100000, 0, 3000 * PG, TH_RW), 0);
		for (unsigned i = 0; i < 50; i++)
			assert_int_equal(th_map(f.c, 0x40000000 + i * 2 * PG, (1 << 24) + i * PG, PG,
						TH_RW), 0);
		assert_int_equal(svf_fault_arm(UINT64_MAX, (1u << SVF_FAULT_ALLOC) |
								(1u << SVF_FAULT_PT_ALLOC)), 0);
		assert_int_equal(th_unmap(f.c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz), 0);
		assert_int_equal(svf_fault_points_passed(), 0);
		assert_false(svf_fault_disarm());
		assert_int_equal(sz, 3050 * PG);
		close_checked(&f);
	}
}

/*
 * Mapping entries come from slabs: what they hold is counted as bookkeeping
 * while mappings live, and given back when they go (one empty slab may stay
 * for the next map); churn at any count does not grow it.
 */
static void test_mapping_entries_released(void **state)
{
	(void)state;
	struct th_fixture f = open_or_fail(SVF_POLICY_GATHER, SVF_BACKEND_SYNTHETIC,
					   SVF_LAYOUT_FRAG4K, 0);
	uint64_t base, full, after, sz;
	const unsigned n = 1000;

	base = th_stats(f.c).bookkeeping_bytes;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(th_map(f.c, 0x100000 + i * PG, i * PG, PG, TH_RW), 0);
	full = th_stats(f.c).bookkeeping_bytes;
	assert_true(full - base >= n * 3 * sizeof(uint64_t)); /* an entry holds at least its range */
	/* Out of order: every other one, then the rest. */
	for (unsigned i = 0; i < n; i += 2)
		assert_int_equal(th_unmap(f.c, 0x100000 + i * PG, PG, 0, &sz), 0);
	for (unsigned i = 1; i < n; i += 2)
		assert_int_equal(th_unmap(f.c, 0x100000 + i * PG, PG, 0, &sz), 0);
	after = th_stats(f.c).bookkeeping_bytes;
	assert_true(after - base < (full - base) / 8);
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < 100; i++)
			assert_int_equal(th_map(f.c, 0x100000 + i * PG, i * PG, PG, TH_RW), 0);
		for (unsigned i = 0; i < 100; i++)
			assert_int_equal(th_unmap(f.c, 0x100000 + i * PG, PG, 0, &sz), 0);
		assert_int_equal(th_stats(f.c).bookkeeping_bytes, after);
	}
	/* Mappings left at destroy are released with it (ASan and valgrind see no leak). */
	for (unsigned i = 0; i < 70; i++)
		assert_int_equal(th_map(f.c, 0x100000 + i * PG, i * PG, PG, TH_RW), 0);
	close_checked(&f);
}

/*
 * VADDR update on the process backend: the new vaddr must address the same
 * pages. A memfd mapped twice passes; unrelated memory is refused (when
 * pagemap gives real frames; without them nothing can be compared).
 */
static void test_vaddr_update_same_pages(void **state)
{
	(void)state;
	struct th_fixture f = open_or_fail(SVF_POLICY_GATHER, SVF_BACKEND_PROCESS, 0, 0);
	const size_t len = 8 * PG;
	int fd = memfd_create("softvfio-test", 0);
	uint8_t *a, *b, *other = th_alloc_mem(len);
	uint64_t sz;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(a != MAP_FAILED && b != MAP_FAILED && other);
	memset(a, 7, len);
	memset(other, 9, len);

	assert_int_equal(th_map(f.c, 0x100000, (uintptr_t)a, len, TH_RW), 0);
	assert_int_equal(th_unmap(f.c, 0x100000, len, VFIO_DMA_UNMAP_FLAG_VADDR, &sz), 0);
	assert_int_equal(sz, len);
	if (svf_pinner_pfns_real(f.p)) {
		assert_int_equal(th_map(f.c, 0x100000, (uintptr_t)other, len, VFIO_DMA_MAP_FLAG_VADDR),
				 -EINVAL);
		/* b was never touched: the check faults it in, as pinning would. */
		assert_int_equal(th_map(f.c, 0x100000, (uintptr_t)b, len, VFIO_DMA_MAP_FLAG_VADDR), 0);
	} else {
		assert_int_equal(th_map(f.c, 0x100000, (uintptr_t)other, len, VFIO_DMA_MAP_FLAG_VADDR),
				 0);
	}
	assert_int_equal(svf_container_check(f.c), 0);
	assert_int_equal(th_unmap(f.c, 0x100000, len, 0, &sz), 0);
	assert_int_equal(th_stats(f.c).pinned_now, 0);
	close_checked(&f);
	munmap(a, len);
	munmap(b, len);
	th_free_mem(other, len);
	close(fd);
}

/*
 * A map that fails part-way spends no more than Linux: a run is mapped only
 * once the next one is pinned, so a failing pin right after the first run
 * (Linux: while extending it) leaves nothing to invalidate or wait for, and
 * one after the second run costs the undo of the first, one wait.
 */
static void test_map_failure_cost(void **state)
{
	(void)state;
	for (uint64_t nth = 1; nth <= 3; nth++) {
		struct th_fixture f = open_or_fail(SVF_POLICY_GATHER, SVF_BACKEND_SYNTHETIC,
						   SVF_LAYOUT_FRAG4K, 0);
		struct svf_stats a = th_stats(f.c), b;

		assert_int_equal(svf_fault_arm(nth, 1u << SVF_FAULT_PIN), 0);
		assert_int_equal(th_map(f.c, 0x100000, 0, 8 * PG, TH_RW), -EFAULT);
		assert_true(svf_fault_disarm());
		b = th_stats(f.c);
		assert_int_equal(b.waits - a.waits, nth == 3 ? 1 : 0);
		assert_int_equal(b.inv_page + b.inv_domain - a.inv_page - a.inv_domain,
				 nth == 3 ? 1 : 0);
		assert_int_equal(b.pinned_now, 0);
		assert_int_equal(svf_container_nr_mappings(f.c), 0);
		close_checked(&f);
	}
}

/*
 * Lazy, then a map that fails in the IOMMU: the fresh run is unpinned
 * without ever having been mapped. A page-selective descriptor still queued
 * for an earlier unmap covers an aligned block around the new IOVA (the
 * unmapped 0x10f000-0x113fff needs the 32-page block at 0x100000), but it
 * was issued only for the IOVAs that were unmapped: the unpin check must not
 * count it against the new run at 0x101000.
 */
static void test_lazy_failed_map_inside_queued_block(void **state)
{
	struct th_fixture f = open_or_fail(SVF_POLICY_LAZY, SVF_BACKEND_SYNTHETIC, SVF_LAYOUT_FRAG4K,
					   0);
	struct svf_stats s;

	(void)state;
	assert_int_equal(th_map(f.c, 0x10f000, 1ULL << 40, 5 * PG, TH_RW), 0);
	assert_int_equal(th_map(f.c, 0x121000, (1ULL << 40) + 64 * PG, PG, TH_RW), 0);
	/* Two disjoint ranges: the first one's descriptor is queued, not waited for. */
	assert_int_equal(th_unmap(f.c, 0x10f000, 0x13000, 0, NULL), 0);
	assert_int_equal(svf_fault_arm(1, 1u << SVF_FAULT_IOMMU_MAP), 0);
	assert_int_not_equal(th_map(f.c, 0x101000, (1ULL << 40) + 128 * PG, PG, TH_RW), 0);
	assert_true(svf_fault_disarm());
	s = th_stats(f.c);
	assert_int_equal(s.invariant_violations, 0);
	assert_int_equal(svf_container_nr_mappings(f.c), 0);
	close_checked(&f);
}

/* Per-request CPU time is opt-in, and the counters say whether it was measured. */
static void test_cpu_time_opt_in(void **state)
{
	(void)state;
	for (int on = 0; on <= 1; on++) {
		struct th_opts o = { .policy = SVF_POLICY_GATHER, .backend = SVF_BACKEND_SYNTHETIC,
				     .layout = SVF_LAYOUT_FRAG4K, .cpu_time = on };
		struct th_fixture f;
		struct svf_stats s;

		assert_int_equal(th_open(&o, &f), 0);
		for (uint64_t i = 0; i < 64; i++) {
			assert_int_equal(th_map(f.c, 1ULL << 30, 1ULL << 40, 256 * PG, TH_RW), 0);
			assert_int_equal(th_unmap(f.c, 1ULL << 30, 256 * PG, 0, NULL), 0);
		}
		s = th_stats(f.c);
		assert_int_equal(s.cpu_time_measured, (uint64_t)on);
		if (on)
			assert_true(s.cpu_ns > 0);
		else
			assert_int_equal(s.cpu_ns, 0);
		close_checked(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waits_per_policy),
		cmocka_unit_test(test_small_batch_cap),
		cmocka_unit_test(test_many_mappings_share_waits),
		cmocka_unit_test(test_contiguous_superpages),
		cmocka_unit_test(test_second_domain),
		cmocka_unit_test(test_process_shared_pages),
		cmocka_unit_test(test_last_domain_detach),
		cmocka_unit_test(test_unmap_allocates_nothing),
		cmocka_unit_test(test_mapping_entries_released),
		cmocka_unit_test(test_vaddr_update_same_pages),
		cmocka_unit_test(test_cpu_time_opt_in),
		cmocka_unit_test(test_map_failure_cost),
		cmocka_unit_test(test_lazy_failed_map_inside_queued_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * The fault-injection walk: run a scenario with the Nth
 * injection point failing, for N = 1, 2, ... until the scenario runs with no
 * point fired. After each run the container must be consistent
 * (svf_container_check), hold exactly the pins of its surviving mappings,
 * never have unpinned early, and still be usable: an unmap-all succeeds and
 * returns pins and locked memory to zero (lazy: once its queue is flushed;
 * its timer never fires within the walk, so every run is the same). ASan
 * (in CI) catches leaks and use after free.
 *
 * A second walk (lifecycle) covers what the first arms only after: container
 * creation under every configuration (each policy, check mode, hardware
 * dirty tracking, an own or a caller's pinner), attaching and detaching
 * domains, attaching emulated devices and pinning for them, creating a DMA
 * device, and the last domain leaving while emulated devices stay.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <softvfio/device.h>

#include "helpers.h"

#define PG 4096ULL

struct scenario {
	const char *name;
	enum svf_policy policy;
	enum svf_backend backend;
	enum svf_layout layout;
	unsigned batch_cap;
	bool second_domain;
	bool hw_dirty; /* dirty tracking through the page tables' D bits */
};

static uint8_t *mem;
static const size_t mem_len = 256 * PG;

static uint64_t va(const struct scenario *s, uint64_t off)
{
	return s->backend == SVF_BACKEND_PROCESS ? (uintptr_t)mem + off : off;
}

static void dirty_op(struct svf_container *c, uint32_t flag, uint64_t iova, uint64_t size)
{
	static uint64_t bits[8];
	struct th_dirty_req r = { .argsz = sizeof(r), .flags = flag,
		.g = { .iova = iova, .size = size,
		       .bitmap = { .pgsize = PG, .size = sizeof(bits), .data = (__u64 *)bits } } };

	softvfio_ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &r);
}

static void unmap_dirty(struct svf_container *c, uint64_t iova, uint64_t size)
{
	static uint64_t bits[8];
	uint64_t buf[sizeof(struct vfio_iommu_type1_dma_unmap) / 8 + 3] = { 0 };
	struct vfio_iommu_type1_dma_unmap *u = (void *)buf;
	struct vfio_bitmap *bm = (void *)u->data;

	u->argsz = sizeof(*u) + sizeof(*bm);
	u->flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
	u->iova = iova;
	u->size = size;
	bm->pgsize = PG;
	bm->size = sizeof(bits);
	bm->data = (__u64 *)bits;
	softvfio_ioctl(c, VFIO_IOMMU_UNMAP_DMA, u);
}

/* The operations under test; their results are allowed to be errors. */
static void run_ops(const struct scenario *s, struct th_fixture *f, struct svf_domain *d2)
{
	uint64_t sz;

	th_map(f->c, 0x100000, va(s, 0), 64 * PG, TH_RW);
	th_map(f->c, 0x200000, va(s, 64 * PG), 16 * PG, VFIO_DMA_MAP_FLAG_READ);
	if (d2)
		svf_container_attach_domain(f->c, d2);
	th_map(f->c, 0x300000, va(s, 128 * PG), 64 * PG, VFIO_DMA_MAP_FLAG_WRITE);
	th_dma_avail(f->c);
	th_unmap(f->c, 0x200000, 16 * PG, 0, &sz);
	th_map(f->c, 0x400000, va(s, 0), 32 * PG, TH_RW); /* same pages again */
	th_unmap(f->c, 0x100000, 0x300000, 0, &sz);

	/* Dirty tracking: START (a bitmap per mapping), a map while tracking, GET, unmap+bitmap. */
	dirty_op(f->c, VFIO_IOMMU_DIRTY_PAGES_FLAG_START, 0, 0);
	th_map(f->c, 0x500000, va(s, 64 * PG), 16 * PG, TH_RW);
	{
		/* A device write, so a hardware-dirty report has D bits to clear. */
		struct svf_domain *d = svf_container_domain(f->c, 0);
		uint64_t phys;

		svf_iommu_dma_begin(d);
		svf_iommu_translate(d, 0x400000 + PG, SVF_PROT_WRITE, &phys);
		svf_iommu_translate(d, 0x500000, SVF_PROT_WRITE, &phys);
		svf_iommu_dma_end(d);
	}
	dirty_op(f->c, VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP, 0x400000, 32 * PG);
	unmap_dirty(f->c, 0x500000, 16 * PG);
	dirty_op(f->c, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP, 0, 0);

	/* VADDR: invalidate, then re-attach the same pages. */
	th_unmap(f->c, 0x400000, 32 * PG, VFIO_DMA_UNMAP_FLAG_VADDR, &sz);
	th_map(f->c, 0x400000, va(s, 0), 32 * PG, VFIO_DMA_MAP_FLAG_VADDR);
}

static void walk(const struct scenario *s)
{
	unsigned fired_runs = 0;

	for (uint64_t n = 1;; n++) {
		struct th_opts o = { .policy = s->policy, .backend = s->backend,
				     .layout = s->layout, .batch_cap = s->batch_cap,
				     .lazy_queue_cap = s->batch_cap,
				     .lazy_timeout_us = TH_LAZY_NEVER, .hw_dirty = s->hw_dirty };
		struct svf_iommu *u2 = NULL;
		struct svf_domain *d2 = NULL;
		struct th_fixture f;
		struct svf_stats st;
		uint64_t sz;
		bool fired;

		assert_int_equal(th_open(&o, &f), 0);
		if (s->second_domain) {
			struct svf_iommu_config ic;

			svf_iommu_default_config(th_driver(), &ic);
			ic.check_unpin = true;
			assert_int_equal(svf_iommu_create(&ic, &u2), 0);
			assert_int_equal(svf_domain_alloc(u2, &d2), 0);
		}
		assert_int_equal(svf_fault_arm(n, 0), 0);
		run_ops(s, &f, d2);
		fired = svf_fault_disarm();

		/* Consistent, nothing unpinned early, pins match the mappings. */
		if (svf_container_check(f.c) != 0)
			fail_msg("%s: inconsistent after failing point %llu", s->name,
				 (unsigned long long)n);
		st = th_stats(f.c);
		assert_int_equal(st.invariant_violations, 0);
		assert_int_equal(st.pinned_now, svf_pinner_pinned_pages(f.p));
		assert_int_equal(st.locked_bytes, svf_pinner_locked_bytes(f.p));

		/* Usable: everything can still be removed, and pins return to zero. */
		if (th_unmap(f.c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz) != 0)
			fail_msg("%s: unmap-all failed after failing point %llu", s->name,
				 (unsigned long long)n);
		if (s->policy == SVF_POLICY_LAZY)
			assert_int_equal(svf_container_flush(f.c), 0);
		st = th_stats(f.c);
		assert_int_equal(st.pinned_now, 0);
		assert_int_equal(svf_pinner_pinned_pages(f.p), 0);
		assert_int_equal(svf_pinner_locked_bytes(f.p), 0);
		assert_int_equal(svf_container_nr_mappings(f.c), 0);
		assert_int_equal(th_dma_avail(f.c), SVF_DEFAULT_DMA_ENTRY_LIMIT);

		if (d2) {
			svf_container_detach_domain(f.c, d2);
			svf_domain_free(d2);
			svf_iommu_destroy(u2);
		}
		th_close(&f);
		if (!fired)
			break;
		fired_runs++;
		assert_true(n < 100000);
	}
	/* The walk must have reached real points, or it proves nothing. */
	assert_true(fired_runs > 10);
	print_message("%s: %u failing points walked\n", s->name, fired_runs);
}

static void test_walk(void **state)
{
	walk(*state);
}

static const struct scenario scenarios[] = {
	{ "process/strict", SVF_POLICY_STRICT, SVF_BACKEND_PROCESS, 0, 0, false, false },
	{ "process/batched", SVF_POLICY_BATCHED, SVF_BACKEND_PROCESS, 0, 4, false, false },
	{ "process/gather+2dom", SVF_POLICY_GATHER, SVF_BACKEND_PROCESS, 0, 4, true, false },
	{ "synthetic-frag/batched+2dom", SVF_POLICY_BATCHED, SVF_BACKEND_SYNTHETIC,
	  SVF_LAYOUT_FRAG4K, 8, true, false },
	{ "synthetic-random/gather", SVF_POLICY_GATHER, SVF_BACKEND_SYNTHETIC, SVF_LAYOUT_RANDOM,
	  0, false, false },
	{ "process/gather+hw-dirty", SVF_POLICY_GATHER, SVF_BACKEND_PROCESS, 0, 4, false, true },
	{ "process/lazy", SVF_POLICY_LAZY, SVF_BACKEND_PROCESS, 0, 4, false, false },
	{ "synthetic-frag/lazy+2dom", SVF_POLICY_LAZY, SVF_BACKEND_SYNTHETIC, SVF_LAYOUT_FRAG4K,
	  8, true, false },
};

/* ---- the lifecycle walk ---- */

struct lifecycle {
	char name[64];
	enum svf_policy policy;
	bool dma_check;
	bool hw_dirty;
	bool own_pinner; /* the container creates its process pinner */
};

#define NR_LIFECYCLES (SVF_POLICY_NR * 4 + SVF_POLICY_NR)
static struct lifecycle lifecycles[NR_LIFECYCLES];

struct emu_state {
	struct svf_emu_device *dev;
};

/* The emulated device unpins whatever it holds in a range about to be unmapped. */
static void emu_dma_unmap(void *opaque, uint64_t iova, uint64_t len)
{
	struct emu_state *es = opaque;

	for (uint64_t off = 0; off < len; off += SVF_PIN_PAGES_MAX * PG) {
		uint64_t n = (len - off) / PG;

		svf_unpin_pages(es->dev, iova + off, n > SVF_PIN_PAGES_MAX ? SVF_PIN_PAGES_MAX : n);
	}
}

/*
 * From creation to destroy; results may be errors. Returns the container
 * (NULL when creation failed) with the steps after creation done.
 */
static struct svf_container *lifecycle_ops(const struct lifecycle *l, struct svf_pinner *p,
					   struct svf_domain *d2)
{
	const struct svf_emu_ops ops = { .dma_unmap = emu_dma_unmap };
	struct svf_container_config cc;
	struct svf_iommu_config ic;
	struct svf_container *c;
	struct svf_device *dev;
	struct emu_state es = { 0 };
	uint64_t phys[2];

	svf_iommu_default_config(th_driver(), &ic);
	ic.check_unpin = true;
	ic.hw_dirty = l->hw_dirty;
	svf_container_default_config(&cc);
	cc.policy = l->policy;
	cc.batch_cap = 4;
	cc.lazy_queue_cap = 4;
	cc.lazy_timeout_us = TH_LAZY_NEVER;
	cc.dma_check = l->dma_check;
	cc.pinner = p;
	cc.iommu = &ic;
	if (svf_container_create(&cc, &c))
		return NULL;
	softvfio_ioctl(c, VFIO_SET_IOMMU, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
	th_map(c, 0x100000, (uintptr_t)mem, 8 * PG, TH_RW);
	svf_container_attach_domain(c, d2); /* replays the mapping */
	if (svf_device_create(c, NULL, &dev) == 0) {
		struct svf_dma_req r = { .access = SVF_PROT_WRITE, .iova = 0x100000,
					 .len = 2 * PG, .byte = 3 };

		svf_device_dma(dev, &r);
		svf_device_destroy(dev);
	}
	if (svf_container_attach_emulated(c, &ops, &es, &es.dev) == 0) {
		svf_pin_pages(es.dev, 0x100000, 1, SVF_PROT_READ, phys);
		svf_container_detach_domain(c, d2);
		th_unmap(c, 0x100000, 8 * PG, 0, NULL); /* the device is asked to unpin first */
		th_map(c, 0x200000, (uintptr_t)mem + 8 * PG, 4 * PG, TH_RW);
		svf_pin_pages(es.dev, 0x200000, 2, SVF_PROT_WRITE, phys);
		/* The last domain leaves while the emulated device stays: pins of their own. */
		svf_container_detach_domain(c, svf_container_domain(c, 0));
		svf_container_detach_emulated(es.dev); /* the last group: releases the backend */
	} else {
		svf_container_detach_domain(c, d2);
	}
	return c;
}

static void lifecycle_walk(const struct lifecycle *l)
{
	unsigned fired_runs = 0;

	for (uint64_t n = 1;; n++) {
		struct svf_pinner_config pc = { .backend = SVF_BACKEND_PROCESS };
		struct svf_pinner *p = NULL;
		struct svf_iommu_config ic;
		struct svf_container *c;
		struct svf_iommu *u2;
		struct svf_domain *d2;
		struct svf_stats st;
		uint64_t sz;
		bool fired;

		if (!l->own_pinner)
			assert_int_equal(svf_pinner_create(&pc, &p), 0);
		svf_iommu_default_config(th_driver(), &ic);
		ic.check_unpin = true;
		assert_int_equal(svf_iommu_create(&ic, &u2), 0);
		assert_int_equal(svf_domain_alloc(u2, &d2), 0);

		assert_int_equal(svf_fault_arm(n, 0), 0);
		c = lifecycle_ops(l, p, d2);
		fired = svf_fault_disarm();
		if (!c && !fired)
			fail_msg("%s: container creation failed with no point fired", l->name);

		if (c) {
			/* Consistent, nothing unpinned early, no emulated pin left behind. */
			if (svf_container_check(c) != 0)
				fail_msg("%s: inconsistent after failing point %llu", l->name,
					 (unsigned long long)n);
			st = th_stats(c);
			assert_int_equal(st.invariant_violations, 0);
			assert_int_equal(st.dma_unpinned_access, 0);
			assert_int_equal(svf_container_external_pins(c), 0);
			/* Whatever a failed step left mapped can still be removed. */
			if (softvfio_ioctl(c, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)VFIO_UPDATE_VADDR) == 1 &&
			    th_unmap(c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz) != 0)
				fail_msg("%s: unmap-all failed after failing point %llu", l->name,
					 (unsigned long long)n);
			assert_int_equal(svf_container_flush(c), 0);
			assert_int_equal(svf_container_nr_mappings(c), 0);
			assert_int_equal(th_stats(c).pinned_now, 0);
			svf_container_destroy(c);
		}
		if (p) {
			assert_int_equal(svf_pinner_pinned_pages(p), 0);
			assert_int_equal(svf_pinner_locked_bytes(p), 0);
			svf_pinner_destroy(p);
		}
		svf_domain_free(d2);
		svf_iommu_destroy(u2);
		if (!fired)
			break;
		fired_runs++;
		assert_true(n < 100000);
	}
	assert_true(fired_runs > 10);
	print_message("%s: %u failing points walked\n", l->name, fired_runs);
}

static void test_lifecycle(void **state)
{
	lifecycle_walk(*state);
}

static void lifecycles_init(void)
{
	unsigned n = 0;

	for (unsigned pol = 0; pol < SVF_POLICY_NR; pol++) {
		for (unsigned k = 0; k < 5; k++) {
			struct lifecycle *l = &lifecycles[n++];

			l->policy = pol;
			l->dma_check = k & 1;
			l->hw_dirty = (k & 2) != 0;
			l->own_pinner = k == 4; /* with check mode and hardware dirty tracking */
			if (l->own_pinner)
				l->dma_check = l->hw_dirty = true;
			snprintf(l->name, sizeof(l->name), "lifecycle/%s%s%s%s", svf_policy_name(pol),
				 l->dma_check ? "+dma-check" : "", l->hw_dirty ? "+hw-dirty" : "",
				 l->own_pinner ? "+own-pinner" : "");
		}
	}
}

static int setup(void **state)
{
	(void)state;
	mem = th_alloc_mem(mem_len);
	if (!mem)
		return -1;
	memset(mem, 1, mem_len);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	th_free_mem(mem, mem_len);
	return 0;
}

int main(void)
{
	const size_t nscen = sizeof(scenarios) / sizeof(scenarios[0]);
	struct CMUnitTest tests[sizeof(scenarios) / sizeof(scenarios[0]) + NR_LIFECYCLES];

	for (size_t i = 0; i < nscen; i++) {
		tests[i] = (struct CMUnitTest)cmocka_unit_test_prestate(test_walk,
									(void *)&scenarios[i]);
		tests[i].name = scenarios[i].name;
	}
	lifecycles_init();
	for (size_t i = 0; i < NR_LIFECYCLES; i++) {
		tests[nscen + i] = (struct CMUnitTest)cmocka_unit_test_prestate(test_lifecycle,
										(void *)&lifecycles[i]);
		tests[nscen + i].name = lifecycles[i].name;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: MIT */
/*
 * Pinning for emulated devices (<softvfio/emulated.h>): reference counts,
 * locked-memory accounting with and without an IOMMU domain, every errno,
 * the unmap notification (a device that unpins, and one that does not), the
 * vaddr-update rules, and dirty reports of a container with only emulated
 * devices.
 */
#include <errno.h>
#include <string.h>

#include "helpers.h"

#define PG 4096ULL

/* A device whose callback unpins everything it pinned in the range (or not). */
struct fake_mdev {
	struct svf_emu_device *dev;
	bool cooperative;
	unsigned calls;
	uint64_t pinned[64]; /* iovas pinned, 0 = free slot */
};

static void fake_unmap(void *opaque, uint64_t iova, uint64_t len)
{
	struct fake_mdev *m = opaque;

	m->calls++;
	if (!m->cooperative)
		return;
	for (unsigned i = 0; i < 64; i++) {
		if (m->pinned[i] && m->pinned[i] >= iova && m->pinned[i] - iova < len) { /* no wrap at 2^64 */
			assert_int_equal(svf_unpin_pages(m->dev, m->pinned[i], 1), 0);
			m->pinned[i] = 0;
		}
	}
}

static const struct svf_emu_ops fake_ops = { .dma_unmap = fake_unmap };

static long fake_pin(struct fake_mdev *m, uint64_t iova, int prot, uint64_t *phys)
{
	long rc = svf_pin_pages(m->dev, iova, 1, prot, phys);

	if (!rc) {
		for (unsigned i = 0; i < 64; i++) {
			if (!m->pinned[i]) {
				m->pinned[i] = iova;
				break;
			}
		}
	}
	return rc;
}

static void test_pin_with_domain(void **state)
{
	(void)state;
	struct th_opts o = { .policy = SVF_POLICY_GATHER, .backend = SVF_BACKEND_SYNTHETIC,
			     .layout = SVF_LAYOUT_FRAG4K };
	struct fake_mdev m = { .cooperative = true };
	struct th_fixture f;
	uint64_t phys[4], p0, sz;
	struct svf_stats a, b;

	assert_int_equal(th_open(&o, &f), 0);
	assert_int_equal(svf_container_attach_emulated(f.c, &fake_ops, &m, &m.dev), 0);
	assert_int_equal(th_map(f.c, 0x100000, 0, 16 * PG, TH_RW), 0);
	a = th_stats(f.c);
	assert_int_equal(svf_pin_pages(m.dev, 0x102000, 4, SVF_PROT_READ, phys), 0);
	assert_int_equal(svf_iommu_iova_to_phys(svf_container_domain(f.c, 0), 0x103000, &p0, NULL,
						NULL), 0);
	assert_int_equal(phys[1], p0);
	b = th_stats(f.c);
	/* The mapping's pin holds these pages: nothing pinned or charged twice. */
	assert_int_equal(b.pinned_now, a.pinned_now);
	assert_int_equal(b.locked_bytes, a.locked_bytes);
	assert_int_equal(svf_container_external_pins(f.c), 4);
	/* A second pin of one page is a reference; unpin drops one. */
	assert_int_equal(svf_pin_pages(m.dev, 0x102000, 1, SVF_PROT_READ, phys), 0);
	assert_int_equal(svf_container_external_pins(f.c), 5);
	assert_int_equal(svf_unpin_pages(m.dev, 0x102000, 4), 0);
	assert_int_equal(svf_container_external_pins(f.c), 1);
	assert_int_equal(svf_unpin_pages(m.dev, 0x102000, 1), 0);
	assert_int_equal(svf_container_external_pins(f.c), 0);
	/* Unpinning what is not pinned is skipped, not an error. */
	assert_int_equal(svf_unpin_pages(m.dev, 0x102000, 1), 0);
	assert_int_equal(svf_container_external_pins(f.c), 0);

	/* Emulated device present: no vaddr update. */
	assert_int_equal(softvfio_ioctl(f.c, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)VFIO_UPDATE_VADDR),
			 0);
	assert_int_equal(th_unmap(f.c, 0x100000, 16 * PG, VFIO_DMA_UNMAP_FLAG_VADDR, &sz), -EBUSY);
	assert_int_equal(svf_container_check(f.c), 0);
	svf_container_detach_emulated(m.dev);
	assert_int_equal(softvfio_ioctl(f.c, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)VFIO_UPDATE_VADDR),
			 1);
	th_close(&f);
}

static void test_pin_errors(void **state)
{
	(void)state;
	struct th_opts o = { .policy = SVF_POLICY_BATCHED, .backend = SVF_BACKEND_SYNTHETIC,
			     .layout = SVF_LAYOUT_CONTIG };
	struct fake_mdev m = { .cooperative = true };
	struct th_fixture f;
	static uint64_t phys[SVF_PIN_PAGES_MAX + 1];

	assert_int_equal(th_open(&o, &f), 0);
	assert_int_equal(svf_container_attach_emulated(f.c, NULL, &m, &m.dev), -EINVAL);
	assert_int_equal(svf_container_attach_emulated(f.c, &fake_ops, &m, &m.dev), 0);
	assert_int_equal(th_map(f.c, 0x100000, 0, 4 * PG, VFIO_DMA_MAP_FLAG_READ), 0);
	assert_int_equal(svf_pin_pages(m.dev, 0x100000, 0, SVF_PROT_READ, phys), -EINVAL);
	assert_int_equal(svf_pin_pages(m.dev, 0x100800, 1, SVF_PROT_READ, phys), -EINVAL);
	assert_int_equal(svf_pin_pages(m.dev, 0x100000, 1, SVF_PROT_READ, NULL), -EINVAL);
	assert_int_equal(svf_pin_pages(m.dev, 0x100000, SVF_PIN_PAGES_MAX + 1, SVF_PROT_READ, phys),
			 -E2BIG);
	assert_int_equal(svf_pin_pages(m.dev, UINT64_MAX - PG + 1, 2, SVF_PROT_READ, phys),
			 -EOVERFLOW);
	assert_int_equal(svf_pin_pages(m.dev, 0x900000, 1, SVF_PROT_READ, phys), -EINVAL);
	assert_int_equal(svf_pin_pages(m.dev, 0x100000, 1, SVF_PROT_WRITE, phys), -EPERM);
	/* All or nothing: the 5th page is outside the mapping. */
	assert_int_equal(svf_pin_pages(m.dev, 0x100000, 5, SVF_PROT_READ, phys), -EINVAL);
	assert_int_equal(svf_container_external_pins(f.c), 0);
	assert_int_equal(phys[0], 0);
	assert_int_equal(svf_pin_pages(m.dev, 0x100000, SVF_PIN_PAGES_MAX, SVF_PROT_READ, phys),
			 -EINVAL);
	assert_int_equal(svf_container_external_pins(f.c), 0);
	/* An allocation failing midway undoes the pages before it. */
	if (svf_fault_arm(3, 1u << SVF_FAULT_ALLOC) == 0) {
		assert_int_equal(svf_pin_pages(m.dev, 0x100000, 4, SVF_PROT_READ, phys), -ENOMEM);
		assert_true(svf_fault_disarm());
		assert_int_equal(svf_container_external_pins(f.c), 0);
	}
	svf_container_detach_emulated(m.dev);
	th_close(&f);

	/* v1 containers: pinning is v2 only. */
	o.type = VFIO_TYPE1_IOMMU;
	assert_int_equal(th_open(&o, &f), 0);
	assert_int_equal(svf_container_attach_emulated(f.c, &fake_ops, &m, &m.dev), 0);
	assert_int_equal(th_map(f.c, 0x100000, 0, 4 * PG, VFIO_DMA_MAP_FLAG_READ), 0);
	assert_int_equal(svf_pin_pages(m.dev, 0x100000, 1, SVF_PROT_READ, phys), -EACCES);
	svf_container_detach_emulated(m.dev);
	th_close(&f);
}

static void test_unmap_notifies(void **state)
{
	(void)state;
	struct th_opts o = { .policy = SVF_POLICY_GATHER, .backend = SVF_BACKEND_SYNTHETIC,
			     .layout = SVF_LAYOUT_FRAG4K };
	struct fake_mdev m = { .cooperative = false };
	struct th_fixture f;
	uint64_t phys, sz = 0x1234;

	assert_int_equal(th_open(&o, &f), 0);
	assert_int_equal(svf_container_attach_emulated(f.c, &fake_ops, &m, &m.dev), 0);
	assert_int_equal(th_map(f.c, 0x100000, 0, 8 * PG, TH_RW), 0);
	assert_int_equal(th_map(f.c, 0x200000, 8 * PG, 8 * PG, TH_RW), 0);
	assert_int_equal(fake_pin(&m, 0x203000, SVF_PROT_WRITE, &phys), 0);

	/* The device does not unpin: the first mapping goes, the second stays whole. */
	assert_int_equal(th_unmap(f.c, 0x100000, 0x110000, 0, &sz), -EBUSY);
	assert_int_equal(m.calls, 1);
	assert_int_equal(svf_container_nr_mappings(f.c), 1);
	assert_int_equal(svf_container_external_pins(f.c), 1);
	assert_int_equal(svf_container_check(f.c), 0);

	/* A cooperative device unpins in the callback and the unmap completes. */
	m.cooperative = true;
	assert_int_equal(th_unmap(f.c, 0x200000, 8 * PG, 0, &sz), 0);
	assert_int_equal(sz, 8 * PG);
	assert_int_equal(m.calls, 2);
	assert_int_equal(svf_container_external_pins(f.c), 0);
	assert_int_equal(th_stats(f.c).pinned_now, 0);
	svf_container_detach_emulated(m.dev);
	th_close(&f);
}

/* A container whose only group is an emulated device, then an IOMMU domain joins and leaves. */
static void test_emulated_only_container(void **state)
{
	(void)state;
	struct svf_pinner_config pc = { .backend = SVF_BACKEND_SYNTHETIC, .layout = SVF_LAYOUT_FRAG4K };
	struct svf_container_config cc;
	struct fake_mdev m = { .cooperative = true };
	struct svf_iommu_config ic;
	struct svf_container *c;
	struct svf_pinner *p;
	struct svf_iommu *u;
	struct svf_domain *d;
	uint64_t phys[2], p0;
	struct svf_stats s;

	assert_int_equal(svf_pinner_create(&pc, &p), 0);
	svf_container_default_config(&cc);
	cc.attach_default_domain = false;
	cc.pinner = p;
	assert_int_equal(svf_container_create(&cc, &c), 0);
	assert_int_equal(softvfio_ioctl(c, VFIO_SET_IOMMU, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU),
			 -EINVAL); /* no group yet */
	assert_int_equal(svf_container_attach_emulated(c, &fake_ops, &m, &m.dev), 0);
	assert_int_equal(softvfio_ioctl(c, VFIO_SET_IOMMU, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU), 0);

	/* No domain: a map pins nothing; a device pin pins and charges its page. */
	assert_int_equal(th_map(c, 0x100000, 0, 16 * PG, TH_RW), 0);
	assert_int_equal(th_stats(c).pinned_now, 0);
	assert_int_equal(fake_pin(&m, 0x104000, SVF_PROT_READ, &phys[0]), 0);
	assert_int_equal(fake_pin(&m, 0x105000, SVF_PROT_READ, &phys[1]), 0);
	s = th_stats(c);
	assert_int_equal(s.pinned_now, 2);
	assert_int_equal(s.locked_bytes, 2 * PG);
	assert_int_equal(svf_container_check(c), 0);

	/* Dirty tracking with only emulated devices: just the pinned pages. */
	{
		uint64_t bits[1] = { 0 };
		struct th_dirty_req req = { .argsz = sizeof(req),
					    .flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_START };

		assert_int_equal(softvfio_ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &req), 0);
		req.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
		req.g.iova = 0x100000;
		req.g.size = 16 * PG;
		req.g.bitmap.pgsize = PG;
		req.g.bitmap.size = sizeof(bits);
		req.g.bitmap.data = (__u64 *)bits;
		assert_int_equal(softvfio_ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &req), 0);
		assert_int_equal(bits[0], 0x30);
		req.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP;
		assert_int_equal(softvfio_ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &req), 0);
	}

	/* A domain joins: every mapping is pinned and mapped; device pins ride on them. */
	svf_iommu_default_config(th_driver(), &ic);
	ic.check_unpin = true;
	assert_int_equal(svf_iommu_create(&ic, &u), 0);
	assert_int_equal(svf_domain_alloc(u, &d), 0);
	assert_int_equal(svf_container_attach_domain(c, d), 0);
	s = th_stats(c);
	assert_int_equal(s.pinned_now, 16);
	assert_int_equal(s.locked_bytes, 16 * PG);
	assert_int_equal(svf_iommu_iova_to_phys(d, 0x104000, &p0, NULL, NULL), 0);
	assert_int_equal(p0, phys[0]);
	assert_int_equal(svf_container_check(c), 0);

	/* It leaves: mappings stay, unpinned, and the device's pages keep their pins. */
	assert_int_equal(svf_container_detach_domain(c, d), 0);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	s = th_stats(c);
	assert_int_equal(s.pinned_now, 2);
	assert_int_equal(s.locked_bytes, 2 * PG);
	assert_int_equal(s.invariant_violations, 0);
	assert_int_equal(svf_container_check(c), 0);
	svf_domain_free(d);
	svf_iommu_destroy(u);

	/* The last group leaves: the backend and every mapping go. */
	svf_container_detach_emulated(m.dev);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	assert_int_equal(th_stats(c).pinned_now, 0);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_container_destroy(c);
	svf_pinner_destroy(p);
}

static void test_no_attach_while_vaddr_invalid(void **state)
{
	(void)state;
	struct th_opts o = { .policy = SVF_POLICY_GATHER, .backend = SVF_BACKEND_SYNTHETIC,
			     .layout = SVF_LAYOUT_CONTIG };
	struct fake_mdev m = { .cooperative = true };
	struct th_fixture f;
	uint64_t sz;

	assert_int_equal(th_open(&o, &f), 0);
	assert_int_equal(th_map(f.c, 0x100000, 0, 4 * PG, TH_RW), 0);
	assert_int_equal(th_unmap(f.c, 0x100000, 4 * PG, VFIO_DMA_UNMAP_FLAG_VADDR, &sz), 0);
	assert_int_equal(svf_container_attach_emulated(f.c, &fake_ops, &m, &m.dev), -EBUSY);
	assert_int_equal(th_map(f.c, 0x100000, 0x10000, 4 * PG, VFIO_DMA_MAP_FLAG_VADDR), 0);
	assert_int_equal(svf_container_attach_emulated(f.c, &fake_ops, &m, &m.dev), 0);
	svf_container_detach_emulated(m.dev);
	th_close(&f);
}

/*
 * Without an IOMMU domain there is no aperture: a mapping may end exactly at
 * 2^64. Its end must not wrap to 0 anywhere: an overlapping map is still
 * EEXIST, the checker sees the tree as it is, and unmap finds it.
 */
static void test_mapping_ending_at_2_64(void **state)
{
	(void)state;
	struct svf_pinner_config pc = { .backend = SVF_BACKEND_SYNTHETIC, .layout = SVF_LAYOUT_FRAG4K };
	struct svf_container_config cc;
	struct fake_mdev m = { .cooperative = true };
	const uint64_t top = 0ULL - 16 * PG; /* [top, 2^64 - 1] */
	struct svf_container *c;
	struct svf_pinner *p;
	uint64_t phys, sz;

	assert_int_equal(svf_pinner_create(&pc, &p), 0);
	svf_container_default_config(&cc);
	cc.attach_default_domain = false;
	cc.pinner = p;
	assert_int_equal(svf_container_create(&cc, &c), 0);
	assert_int_equal(svf_container_attach_emulated(c, &fake_ops, &m, &m.dev), 0);
	assert_int_equal(softvfio_ioctl(c, VFIO_SET_IOMMU, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU), 0);

	assert_int_equal(th_map(c, top, 0x100000, 16 * PG, TH_RW), 0);
	assert_int_equal(th_map(c, top + 15 * PG, 0x200000, PG, TH_RW), -EEXIST);
	assert_int_equal(th_map(c, top + 4 * PG, 0x200000, 2 * PG, TH_RW), -EEXIST);
	assert_int_equal(th_map(c, top - 16 * PG, 0x200000, 32 * PG, TH_RW), -EEXIST);
	assert_int_equal(th_map(c, top - 16 * PG, 0x200000, 16 * PG, TH_RW), 0); /* touches */
	assert_int_equal(th_map(c, top - 17 * PG, 0x300000, 2 * PG, TH_RW), -EEXIST);
	assert_int_equal(svf_container_nr_mappings(c), 2);
	assert_int_equal(svf_container_check(c), 0);
	assert_int_equal(fake_pin(&m, 0ULL - PG, SVF_PROT_WRITE, &phys), 0);
	/* Bisecting the top mapping at its last page is refused; the whole range goes. */
	assert_int_equal(th_unmap(c, 0ULL - PG, PG, 0, &sz), -EINVAL);
	assert_int_equal(th_unmap(c, top, 16 * PG, 0, &sz), 0);
	assert_int_equal(sz, 16 * PG);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	assert_int_equal(th_stats(c).pinned_now, 0);
	assert_int_equal(svf_container_check(c), 0);
	/* Destroyed with the device attached and a page still pinned: nothing leaks (ASan, valgrind). */
	assert_int_equal(th_map(c, 0x100000, 0x100000, PG, TH_RW), 0);
	assert_int_equal(fake_pin(&m, 0x100000, SVF_PROT_READ, &phys), 0);
	svf_container_destroy(c);
	assert_int_equal(svf_pinner_pinned_pages(p), 0);
	svf_pinner_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapping_ending_at_2_64),
		cmocka_unit_test(test_pin_with_domain),
		cmocka_unit_test(test_pin_errors),
		cmocka_unit_test(test_unmap_notifies),
		cmocka_unit_test(test_emulated_only_container),
		cmocka_unit_test(test_no_attach_while_vaddr_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * The caller's pointers, as Linux's copy_from_user/copy_to_user/access_ok
 * treat them: a request struct, a dirty bitmap or a capability buffer that
 * the process cannot read (or write) gives EFAULT and never a crash; a
 * bitmap outside the user address space gives EINVAL; a DIRTY_PAGES on a v1
 * container is EACCES before its argument is looked at. Dirty bitmaps are
 * written as whole words (what the caller left in them does not come
 * back), at any alignment, and a report that fails part-way loses nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "helpers.h"
#include "sanitize.h"
#include "uaccess.h"

#define PG   4096ULL
#define BASE 0x10000000ULL

static long dirty_ctl(struct svf_container *c, uint32_t flag)
{
	struct vfio_iommu_type1_dirty_bitmap d = { .argsz = sizeof(d), .flags = flag };

	return softvfio_ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &d);
}

static long dirty_get(struct svf_container *c, uint64_t iova, uint64_t size, void *bits,
		      uint64_t bytes)
{
	struct th_dirty_req r = { .argsz = sizeof(r),
				  .flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
		.g = { .iova = iova, .size = size,
		       .bitmap = { .pgsize = PG, .size = bytes, .data = (__u64 *)bits } } };

	return softvfio_ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &r);
}

static long unmap_dirty(struct svf_container *c, uint64_t iova, uint64_t size, void *bits,
			uint64_t bytes)
{
	uint64_t buf[sizeof(struct vfio_iommu_type1_dma_unmap) / 8 + 3] = { 0 };
	struct vfio_iommu_type1_dma_unmap *u = (void *)buf;
	struct vfio_bitmap bm = { .pgsize = PG, .size = bytes, .data = (__u64 *)bits };

	u->argsz = sizeof(*u) + sizeof(bm);
	u->flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
	u->iova = iova;
	u->size = size;
	memcpy(u->data, &bm, sizeof(bm));
	return softvfio_ioctl(c, VFIO_IOMMU_UNMAP_DMA, u);
}

static void open_synthetic(struct th_fixture *f, unsigned long type, bool hw_dirty)
{
	struct th_opts o = { .policy = SVF_POLICY_GATHER, .backend = SVF_BACKEND_SYNTHETIC,
			     .layout = SVF_LAYOUT_FRAG4K, .type = type, .hw_dirty = hw_dirty };

	assert_int_equal(th_open(&o, f), 0);
}

/* Two pages: the first read-write, the second as prot. */
static uint8_t *two_pages(int prot)
{
	uint8_t *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	memset(p, 0, 2 * PG);
	assert_int_equal(mprotect(p + PG, PG, prot), 0);
	return p;
}

static void test_null_and_unreadable_args(void **state)
{
	static const unsigned long reqs[] = { VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA,
					      VFIO_IOMMU_UNMAP_DMA, VFIO_IOMMU_DIRTY_PAGES };
	uint8_t *mem = two_pages(PROT_NONE);
	struct th_fixture f;

	(void)state;
	open_synthetic(&f, 0, false);
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		assert_int_equal(softvfio_ioctl(f.c, reqs[i], NULL), -EFAULT);
		assert_int_equal(softvfio_ioctl(f.c, reqs[i], mem + PG), -EFAULT);
		/* A struct that starts readable and runs into the page without access. */
		assert_int_equal(softvfio_ioctl(f.c, reqs[i], mem + PG - 4), -EFAULT);
		/* Not a user address at all. */
		assert_int_equal(softvfio_ioctl(f.c, reqs[i], (void *)0xffff800000001000ULL), -EFAULT);
	}
	th_close(&f);

	/* v1: DIRTY_PAGES is EACCES before its argument is read; the others still EFAULT. */
	open_synthetic(&f, VFIO_TYPE1_IOMMU, false);
	assert_int_equal(softvfio_ioctl(f.c, VFIO_IOMMU_DIRTY_PAGES, NULL), -EACCES);
	assert_int_equal(softvfio_ioctl(f.c, VFIO_IOMMU_DIRTY_PAGES, mem + PG), -EACCES);
	assert_int_equal(softvfio_ioctl(f.c, VFIO_IOMMU_MAP_DMA, NULL), -EFAULT);
	th_close(&f);
	munmap(mem, 2 * PG);
}

/* The request is read from read-only memory; writing size back fails after the unmap, as in Linux. */
static void test_readonly_unmap_struct(void **state)
{
	uint8_t *mem = two_pages(PROT_READ | PROT_WRITE);
	struct vfio_iommu_type1_dma_unmap *u = (void *)(mem + PG);
	struct vfio_iommu_type1_dma_map *m = (void *)mem;
	struct th_fixture f;

	(void)state;
	open_synthetic(&f, 0, false);
	*m = (struct vfio_iommu_type1_dma_map){ .argsz = sizeof(*m), .flags = TH_RW,
						.vaddr = 0x200000, .iova = BASE, .size = 4 * PG };
	assert_int_equal(mprotect(mem, PG, PROT_READ), 0);
	assert_int_equal(softvfio_ioctl(f.c, VFIO_IOMMU_MAP_DMA, m), 0); /* only read */
	*u = (struct vfio_iommu_type1_dma_unmap){ .argsz = sizeof(*u), .iova = BASE, .size = 4 * PG };
	assert_int_equal(mprotect(mem + PG, PG, PROT_READ), 0);
	assert_int_equal(softvfio_ioctl(f.c, VFIO_IOMMU_UNMAP_DMA, u), -EFAULT);
	assert_int_equal(svf_container_nr_mappings(f.c), 0);
	assert_int_equal(u->size, 4 * PG); /* untouched */
	assert_int_equal(th_stats(f.c).pinned_now, 0);
	th_close(&f);
	munmap(mem, 2 * PG);
}

/*
 * A request struct on the caller's stack (copied directly) and one in mapped
 * memory (copied through the kernel) give the same results, in both
 * directions: the unmap's size is written back either way.
 */
static void test_stack_and_heap_structs(void **state)
{
	uint8_t *mem = two_pages(PROT_READ | PROT_WRITE);
	struct vfio_iommu_type1_dma_unmap *hu = (void *)(mem + PG), su;
	struct vfio_iommu_type1_dma_map *hm = (void *)mem, sm;
	struct th_fixture f;

	(void)state;
	open_synthetic(&f, 0, false);
	sm = (struct vfio_iommu_type1_dma_map){ .argsz = sizeof(sm), .flags = TH_RW,
						.vaddr = 0x200000, .iova = BASE, .size = 4 * PG };
	*hm = sm;
	hm->iova = BASE + 16 * PG;
	assert_int_equal(softvfio_ioctl(f.c, VFIO_IOMMU_MAP_DMA, &sm), 0);
	assert_int_equal(softvfio_ioctl(f.c, VFIO_IOMMU_MAP_DMA, hm), 0);
	assert_int_equal(softvfio_ioctl(f.c, VFIO_IOMMU_MAP_DMA, &sm), -EEXIST);
	assert_int_equal(svf_container_nr_mappings(f.c), 2);
	/* a range covering both: each unmap reports the bytes it removed */
	su = (struct vfio_iommu_type1_dma_unmap){ .argsz = sizeof(su), .iova = BASE, .size = 8 * PG };
	*hu = (struct vfio_iommu_type1_dma_unmap){ .argsz = sizeof(*hu), .iova = BASE + 16 * PG,
						   .size = 8 * PG };
	assert_int_equal(softvfio_ioctl(f.c, VFIO_IOMMU_UNMAP_DMA, &su), 0);
	assert_int_equal(su.size, 4 * PG);
	assert_int_equal(softvfio_ioctl(f.c, VFIO_IOMMU_UNMAP_DMA, hu), 0);
	assert_int_equal(hu->size, 4 * PG);
	assert_int_equal(svf_container_nr_mappings(f.c), 0);
	th_close(&f);
	munmap(mem, 2 * PG);
}

/* The stack shortcut as a callee sees it: only its callers' frames count. */
static __attribute__((noinline)) bool callee_on_stack(const void *p, size_t len)
{
	return svf_on_own_stack(p, len);
}

/*
 * The direct copy of a request on the caller's stack is off under
 * AddressSanitizer, whichever compiler instruments the build (clang does
 * not define GCC's macro); otherwise a caller's local qualifies, and never
 * a range running past the top of the stack or a heap block.
 */
static void test_stack_shortcut(void **state)
{
	volatile uint64_t local[2] = { 1, 2 };
	uint64_t *heap = malloc(sizeof(*heap));

	(void)state;
	assert_non_null(heap);
	assert_int_equal(callee_on_stack((const void *)local, sizeof(local)), !SVF_ASAN);
	assert_false(callee_on_stack((const void *)local, (size_t)1 << 40));
	assert_false(callee_on_stack(heap, sizeof(*heap)));
	free(heap);
}

/* GET_INFO into a buffer whose capability part is read-only: EFAULT, no crash. */
static void test_info_caps_unwritable(void **state)
{
	uint8_t *mem = two_pages(PROT_READ);
	struct vfio_iommu_type1_info *info = (void *)(mem + PG - 24);
	struct th_fixture f;

	(void)state;
	open_synthetic(&f, 0, false);
	info->argsz = 24 + 256;
	assert_int_equal(softvfio_ioctl(f.c, VFIO_IOMMU_GET_INFO, info), -EFAULT);
	th_close(&f);
	munmap(mem, 2 * PG);
}

static void test_bitmap_bad_pointers(void **state)
{
	uint8_t *mem = two_pages(PROT_READ);
	struct th_fixture f;

	(void)state;
	open_synthetic(&f, 0, false);
	assert_int_equal(th_map(f.c, BASE, 0x200000, 4 * PG, TH_RW), 0);
	assert_int_equal(dirty_ctl(f.c, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
	/* NULL, read-only, and outside the user address space (access_ok: EINVAL). */
	assert_int_equal(dirty_get(f.c, BASE, 4 * PG, NULL, 8), -EFAULT);
	/* NULL again, the mapping starting mid-word and past word 0 (no NULL + offset arithmetic: UBSan). */
	assert_int_equal(dirty_get(f.c, BASE - 70 * PG, 74 * PG, NULL, 16), -EFAULT);
	assert_int_equal(dirty_get(f.c, BASE, 4 * PG, mem + PG, 8), -EFAULT);
	assert_int_equal(dirty_get(f.c, BASE, 4 * PG, (void *)(0x7ffffffff000ULL - 8), 8), -EINVAL);
	assert_int_equal(dirty_get(f.c, BASE, 4 * PG, (void *)0xffff800000000000ULL, 8), -EINVAL);
	assert_int_equal(unmap_dirty(f.c, BASE, 4 * PG, (void *)0xffff800000000000ULL, 8), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(f.c), 1);
	/* Unmap whose bitmap cannot be written: EFAULT before the mapping goes. */
	assert_int_equal(unmap_dirty(f.c, BASE, 4 * PG, NULL, 8), -EFAULT);
	assert_int_equal(unmap_dirty(f.c, BASE, 4 * PG, mem + PG, 8), -EFAULT);
	assert_int_equal(svf_container_nr_mappings(f.c), 1);
	assert_int_equal(unmap_dirty(f.c, BASE, 4 * PG, mem, 8), 0);
	assert_int_equal(mem[0], 0x0f);
	assert_int_equal(svf_container_nr_mappings(f.c), 0);
	assert_int_equal(th_stats(f.c).pinned_now, 0);
	th_close(&f);
	munmap(mem, 2 * PG);
}

/*
 * Whole words are written: what the caller left in a reported word does not
 * come back as dirty bits; words no mapping reaches stay as they were. Any
 * alignment of the bitmap pointer works.
 */
static void test_bitmap_written_not_ored(void **state)
{
	uint8_t raw[8 * 4 + 1];
	struct th_fixture f;

	(void)state;
	open_synthetic(&f, 0, false);
	assert_int_equal(th_map(f.c, BASE, 0x200000, 3 * PG, TH_RW), 0);          /* pages 0-2 */
	assert_int_equal(th_map(f.c, BASE + 70 * PG, 0x300000, 2 * PG, TH_RW), 0); /* pages 70, 71 */
	assert_int_equal(dirty_ctl(f.c, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
	for (size_t align = 0; align < 2; align++) {
		uint8_t *bits = raw + align;

		memset(raw, 0xf0, sizeof(raw));
		assert_int_equal(dirty_get(f.c, BASE, 192 * PG, bits, 24), 0);
		assert_int_equal(bits[0], 0x07);
		for (int i = 1; i < 8; i++)
			assert_int_equal(bits[i], 0);
		/*
		 * Pages 70, 71 are bits 6, 7 of word 1; as in Linux, the bits
		 * below a mapping that starts mid-word are read back and kept
		 * (here the caller's 0x30), the rest of the word is written.
		 */
		assert_int_equal(bits[8], 0xf0);
		for (int i = 9; i < 16; i++)
			assert_int_equal(bits[i], 0);
		for (int i = 16; i < 24; i++)
			assert_int_equal(bits[i], 0xf0); /* word 2: no mapping, not written */
	}
	/* A mapping that starts mid-word keeps the bits before it (the earlier mapping's). */
	assert_int_equal(th_map(f.c, BASE + 3 * PG, 0x400000, PG, TH_RW), 0); /* page 3 */
	memset(raw, 0, sizeof(raw));
	assert_int_equal(dirty_get(f.c, BASE, 192 * PG, raw + 1, 24), 0);
	assert_int_equal(raw[1], 0x0f);
	assert_int_equal(svf_container_check(f.c), 0);
	th_close(&f);
}

static void device_write(struct svf_container *c, uint64_t iova)
{
	struct svf_domain *d = svf_container_domain(c, 0);
	uint64_t phys;

	svf_iommu_dma_begin(d);
	assert_int_equal(svf_iommu_translate(d, iova, SVF_PROT_WRITE, &phys), 0);
	svf_iommu_dma_end(d);
}

/*
 * Hardware dirty tracking: a GET_BITMAP whose bitmap cannot be written for
 * the second mapping fails, and the retry still reports what the device
 * wrote to both (the first mapping's D bits were read but not delivered).
 */
static void test_failed_report_loses_nothing(void **state)
{
	uint8_t *mem = two_pages(PROT_READ);
	uint64_t bits[2];
	struct th_fixture f;

	(void)state;
	open_synthetic(&f, 0, true);
	assert_int_equal(th_map(f.c, BASE, 0x200000, 4 * PG, TH_RW), 0);
	assert_int_equal(th_map(f.c, BASE + 64 * PG, 0x300000, 4 * PG, TH_RW), 0);
	assert_int_equal(dirty_ctl(f.c, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
	device_write(f.c, BASE + PG);
	device_write(f.c, BASE + 66 * PG);
	/* Word 0 writable, word 1 in the read-only page. */
	assert_int_equal(dirty_get(f.c, BASE, 128 * PG, mem + PG - 8, 16), -EFAULT);
	memset(bits, 0, sizeof(bits));
	assert_int_equal(dirty_get(f.c, BASE, 128 * PG, bits, 16), 0);
	assert_int_equal(bits[0], 1ULL << 1);
	assert_int_equal(bits[1], 1ULL << 2);
	/* Delivered: cleared now. */
	memset(bits, 0, sizeof(bits));
	assert_int_equal(dirty_get(f.c, BASE, 128 * PG, bits, 16), 0);
	assert_int_equal(bits[0] | bits[1], 0);
	th_close(&f);
	munmap(mem, 2 * PG);
}

/*
 * A domain that cannot track dirtiness joins a container tracking in
 * hardware: from then on every mapped page is reported (Linux's rule when
 * it cannot know), never an empty bitmap over a page the device wrote.
 */
static void test_mode_switch_never_underreports(void **state)
{
	struct svf_iommu_config ic;
	struct svf_iommu *u2;
	struct svf_domain *d2;
	uint64_t bits[1];
	struct th_fixture f;

	(void)state;
	open_synthetic(&f, 0, true);
	assert_int_equal(th_map(f.c, BASE, 0x200000, 4 * PG, TH_RW), 0);
	assert_int_equal(dirty_ctl(f.c, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
	memset(bits, 0, sizeof(bits));
	assert_int_equal(dirty_get(f.c, BASE, 4 * PG, bits, 8), 0);
	assert_int_equal(bits[0], 0);
	device_write(f.c, BASE + 2 * PG);
	svf_iommu_default_config(th_driver(), &ic);
	ic.hw_dirty = false;
	assert_int_equal(svf_iommu_create(&ic, &u2), 0);
	assert_int_equal(svf_domain_alloc(u2, &d2), 0);
	assert_int_equal(svf_container_attach_domain(f.c, d2), 0);
	memset(bits, 0, sizeof(bits));
	assert_int_equal(dirty_get(f.c, BASE, 4 * PG, bits, 8), 0);
	assert_int_equal(bits[0], 0xf);
	/* The domain leaves again: the page written before is still reported once more at most. */
	assert_int_equal(svf_container_detach_domain(f.c, d2), 0);
	device_write(f.c, BASE + 3 * PG);
	memset(bits, 0, sizeof(bits));
	assert_int_equal(dirty_get(f.c, BASE, 4 * PG, bits, 8), 0);
	assert_true(bits[0] & (1ULL << 3));
	th_close(&f);
	svf_domain_free(d2);
	svf_iommu_destroy(u2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_and_unreadable_args),
		cmocka_unit_test(test_readonly_unmap_struct),
		cmocka_unit_test(test_stack_and_heap_structs),
		cmocka_unit_test(test_stack_shortcut),
		cmocka_unit_test(test_info_caps_unwritable),
		cmocka_unit_test(test_bitmap_bad_pointers),
		cmocka_unit_test(test_bitmap_written_not_ored),
		cmocka_unit_test(test_failed_report_loses_nothing),
		cmocka_unit_test(test_mode_switch_never_underreports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * Memory that leaves the process while pages of it are pinned for DMA. On
 * Linux the pages stay pinned and the device keeps reaching them (with
 * their last content) until they are unmapped for DMA; only the CPU loses
 * them. Here: svf_pinner_release() before the munmap keeps them, and a
 * VADDR update (live update) moves the device to the new address so the
 * old one may go. Process backend, real memory, a device thread.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <softvfio/device.h>
#include <softvfio/pin.h>

#include "helpers.h"

#define PG   4096ULL
#define BASE 0x10000000ULL
#define NPG  16

static uint32_t dev_io(struct svf_device *dev, int access, uint64_t iova, uint64_t len,
		       uint8_t byte, int *status)
{
	struct svf_dma_req req = { .access = access, .iova = iova, .len = len, .byte = byte };

	assert_int_equal(svf_device_submit(dev, 0, &req), 0);
	svf_device_wait(dev, &req);
	*status = req.status;
	return req.sum;
}

static void open_process(struct th_fixture *f, enum svf_policy pol)
{
	struct th_opts o = { .policy = pol, .backend = SVF_BACKEND_PROCESS };

	assert_int_equal(th_open(&o, f), 0);
}

static void test_release_keeps_pinned_pages(void **state)
{
	const enum svf_policy pol = (enum svf_policy)(uintptr_t)*state;
	uint8_t *mem = mmap(NULL, NPG * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	uint64_t va = (uint64_t)(uintptr_t)mem, sz;
	struct svf_device *dev;
	struct th_fixture f;
	int st;

	assert_true(mem != MAP_FAILED);
	memset(mem, 0x11, NPG * PG);
	open_process(&f, pol);
	assert_int_equal(svf_device_create(f.c, NULL, &dev), 0);
	assert_int_equal(th_map(f.c, BASE, va, NPG * PG, TH_RW), 0);

	/* The last 4 pages leave the process. */
	assert_int_equal(svf_pinner_release(f.p, va + 12 * PG, 4 * PG), 0);
	assert_int_equal(munmap(mem + 12 * PG, 4 * PG), 0);
	/* Releasing again (nothing left to keep there) is fine. */
	assert_int_equal(svf_pinner_release(f.p, va + 12 * PG, 4 * PG), 0);
	assert_int_equal(svf_pinner_release(f.p, va + 1, PG), -EINVAL);

	assert_int_equal(dev_io(dev, SVF_PROT_READ, BASE + 12 * PG, 4 * PG, 0, &st), 0x11 * 4 * PG);
	assert_int_equal(st, 0);
	dev_io(dev, SVF_PROT_WRITE, BASE + 13 * PG, PG, 0x23, &st);
	assert_int_equal(st, 0);
	assert_int_equal(dev_io(dev, SVF_PROT_READ, BASE + 13 * PG, PG, 0, &st), 0x23 * PG);
	assert_int_equal(dev_io(dev, SVF_PROT_READ, BASE, PG, 0, &st), 0x11 * PG);
	assert_int_equal(svf_container_check(f.c), 0);

	assert_int_equal(th_unmap(f.c, BASE, NPG * PG, 0, &sz), 0);
	assert_int_equal(sz, NPG * PG);
	svf_device_destroy(dev);
	th_close(&f);
	munmap(mem, 12 * PG);
}

/*
 * Live update as QEMU does it: UNMAP with FLAG_VADDR, MAP with FLAG_VADDR
 * at a new address of the same memory, then munmap of the old address. The
 * next device write must land in the memory, seen at the new address.
 */
static void test_vaddr_update_then_munmap_old(void **state)
{
	const enum svf_policy pol = (enum svf_policy)(uintptr_t)*state;
	int fd = memfd_create("svf-live-update", MFD_CLOEXEC);
	uint8_t *a, *b;
	struct svf_device *dev;
	struct th_fixture f;
	uint64_t sz;
	int st;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, NPG * PG), 0);
	a = mmap(NULL, NPG * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(a != MAP_FAILED);
	memset(a, 0x11, NPG * PG);
	open_process(&f, pol);
	assert_int_equal(svf_device_create(f.c, NULL, &dev), 0);
	assert_int_equal(th_map(f.c, BASE, (uint64_t)(uintptr_t)a, NPG * PG, TH_RW), 0);

	assert_int_equal(th_unmap(f.c, BASE, NPG * PG, VFIO_DMA_UNMAP_FLAG_VADDR, &sz), 0);
	b = mmap(NULL, NPG * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(b != MAP_FAILED);
	assert_int_equal(th_map(f.c, BASE, (uint64_t)(uintptr_t)b, NPG * PG,
				VFIO_DMA_MAP_FLAG_VADDR), 0);
	assert_int_equal(munmap(a, NPG * PG), 0);

	dev_io(dev, SVF_PROT_WRITE, BASE + 3 * PG, PG, 0x5a, &st);
	assert_int_equal(st, 0);
	assert_int_equal(b[3 * PG], 0x5a);
	assert_int_equal(b[4 * PG - 1], 0x5a);
	assert_int_equal(dev_io(dev, SVF_PROT_READ, BASE, PG, 0, &st), 0x11 * PG);
	assert_int_equal(th_unmap(f.c, BASE, NPG * PG, 0, &sz), 0);
	if (pol != SVF_POLICY_LAZY) /* lazy unpins when its queue is flushed */
		assert_int_equal(th_stats(f.c).pinned_now, 0);
	svf_device_destroy(dev);
	th_close(&f);
	munmap(b, NPG * PG);
	close(fd);
}

/*
 * Check mode costs memory only for what is really mapped: a 64 GiB map
 * over 16 pages of memory fails with EFAULT, as without check mode, and
 * leaves no shadow state for the 64 GiB behind (128 MiB of it, before).
 */
static void test_check_mode_huge_map(void **state)
{
	struct svf_pinner_config pc = { .backend = SVF_BACKEND_PROCESS };
	uint8_t *mem = mmap(NULL, NPG * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	struct svf_container_config cc;
	struct svf_container *c;
	struct svf_pinner *p;
	struct svf_stats s0, s1;

	(void)state;
	assert_true(mem != MAP_FAILED);
	assert_int_equal(svf_pinner_create(&pc, &p), 0);
	svf_container_default_config(&cc);
	cc.pinner = p;
	cc.dma_check = true;
	assert_int_equal(svf_container_create(&cc, &c), 0);
	assert_int_equal(softvfio_ioctl(c, VFIO_SET_IOMMU, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU), 0);
	svf_container_get_stats(c, &s0);
	assert_int_equal(th_map(c, 1ULL << 46, (uint64_t)(uintptr_t)mem, 1ULL << 36, TH_RW), -EFAULT);
	svf_container_get_stats(c, &s1);
	assert_true(s1.bookkeeping_bytes - s0.bookkeeping_bytes < (1u << 20));
	assert_int_equal(s1.pinned_now, 0);
	assert_int_equal(th_map(c, 0, (uint64_t)(uintptr_t)mem, NPG * PG, TH_RW), 0);
	svf_container_destroy(c);
	svf_pinner_destroy(p);
	munmap(mem, NPG * PG);
}

#define T(fn, pol) cmocka_unit_test_prestate(fn, (void *)(uintptr_t)(pol))

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_release_keeps_pinned_pages, SVF_POLICY_STRICT),
		T(test_release_keeps_pinned_pages, SVF_POLICY_GATHER),
		T(test_release_keeps_pinned_pages, SVF_POLICY_LAZY),
		T(test_vaddr_update_then_munmap_old, SVF_POLICY_BATCHED),
		T(test_vaddr_update_then_munmap_old, SVF_POLICY_LAZY),
		cmocka_unit_test(test_check_mode_huge_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "helpers.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TH_VALGRIND 1
#endif

static _Atomic(const char *) log_needle;
static _Atomic unsigned log_matches;

void th_log_stderr(void *opaque, enum svf_log_level level, const char *msg)
{
	const char *needle = atomic_load(&log_needle);

	(void)opaque;
	(void)level;
	if (needle && strstr(msg, needle))
		atomic_fetch_add(&log_matches, 1);
	fprintf(stderr, "softvfio: %s\n", msg);
}

void th_log_count_begin(const char *needle)
{
	atomic_store(&log_matches, 0);
	atomic_store(&log_needle, needle);
}

unsigned th_log_count_end(void)
{
	atomic_store(&log_needle, NULL);
	return atomic_load(&log_matches);
}

#ifdef TH_VALGRIND
/*
 * Valgrind grows the main thread's stack when the stack pointer moves into
 * new pages, but not to push a signal frame: a fault the library recovers
 * from, taken while the stack is near its deepest point so far, finds no
 * room for the handler's frame and ends the process ("can't extend stack
 * during signal delivery"). Reaching 64 KiB deeper first makes the room.
 */
static __attribute__((noinline)) void th_grow_stack(void)
{
	volatile char room[64 << 10];

	for (size_t i = 0; i < sizeof(room); i += 1024)
		room[i] = 0;
}
#endif

void th_bad_access_begin(void)
{
#ifdef TH_VALGRIND
	if (RUNNING_ON_VALGRIND)
		th_grow_stack();
	VALGRIND_DISABLE_ERROR_REPORTING;
#endif
}

void th_bad_access_end(void)
{
#ifdef TH_VALGRIND
	VALGRIND_ENABLE_ERROR_REPORTING;
#endif
}

/* Every suite shows the library's diagnostics, as the command does. */
__attribute__((constructor)) static void th_install_log(void)
{
	svf_set_log_fn(th_log_stderr, NULL);
}

const char *th_driver(void)
{
	const char *d = getenv("SOFTVFIO_TEST_DRIVER");

	return d && *d ? d : "vtd";
}

int th_open(const struct th_opts *o, struct th_fixture *f)
{
	struct svf_pinner_config pc = { .backend = o->backend, .layout = o->layout,
					.seed = 1, .phys_base = 1ULL << 32,
					.memlock_limit_override = o->memlock_limit };
	struct svf_container_config cc;
	struct svf_iommu_config ic;
	unsigned long type = o->type ? o->type : VFIO_TYPE1v2_IOMMU;
	int rc;

	memset(f, 0, sizeof(*f));
	rc = svf_pinner_create(&pc, &f->p);
	if (rc)
		return rc;
	svf_iommu_default_config(th_driver(), &ic);
	ic.check_unpin = true;
	ic.cost_off = o->cost_off;
	ic.hw_dirty = o->hw_dirty;
	svf_container_default_config(&cc);
	cc.policy = o->policy;
	cc.batch_cap = o->batch_cap;
	if (o->lazy_queue_cap)
		cc.lazy_queue_cap = o->lazy_queue_cap;
	if (o->lazy_timeout_us)
		cc.lazy_timeout_us = o->lazy_timeout_us;
	cc.dma_check = o->dma_check;
	cc.dma_entry_limit = o->dma_entry_limit;
	cc.pinner = f->p;
	cc.iommu = &ic;
	cc.cpu_time = o->cpu_time;
	rc = svf_container_create(&cc, &f->c);
	if (rc)
		goto err_pinner;
	if (type != ~0UL) {
		rc = (int)softvfio_ioctl(f->c, VFIO_SET_IOMMU, (void *)(uintptr_t)type);
		if (rc)
			goto err_container;
	}
	return 0;

err_container:
	svf_container_destroy(f->c);
err_pinner:
	svf_pinner_destroy(f->p);
	memset(f, 0, sizeof(*f));
	return rc;
}

void th_close(struct th_fixture *f)
{
	svf_container_destroy(f->c);
	svf_pinner_destroy(f->p);
	memset(f, 0, sizeof(*f));
}

long th_map(struct svf_container *c, uint64_t iova, uint64_t vaddr, uint64_t size, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = flags, .vaddr = vaddr, .iova = iova, .size = size,
	};

	return softvfio_ioctl(c, VFIO_IOMMU_MAP_DMA, &m);
}

long th_unmap(struct svf_container *c, uint64_t iova, uint64_t size, uint32_t flags,
	      uint64_t *size_out)
{
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u), .flags = flags, .iova = iova, .size = size,
	};
	long rc = softvfio_ioctl(c, VFIO_IOMMU_UNMAP_DMA, &u);

	if (size_out)
		*size_out = u.size;
	return rc;
}

long th_dma_avail(struct svf_container *c)
{
	uint64_t buf[64] = { 0 };
	struct vfio_iommu_type1_info *info = (void *)buf;
	long rc;

	info->argsz = sizeof(buf);
	rc = softvfio_ioctl(c, VFIO_IOMMU_GET_INFO, info);
	if (rc)
		return rc;
	if (!(info->flags & VFIO_IOMMU_INFO_CAPS) || !info->cap_offset)
		return -ENOENT;
	for (uint32_t off = info->cap_offset; off;) {
		struct vfio_info_cap_header *h = (void *)((char *)buf + off);

		if (h->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL)
			return ((struct vfio_iommu_type1_info_dma_avail *)h)->avail;
		off = h->next;
	}
	return -ENOENT;
}

void *th_alloc_mem(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void th_free_mem(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

struct svf_stats th_stats(struct svf_container *c)
{
	struct svf_stats s;

	svf_container_get_stats(c, &s);
	return s;
}

/* SPDX-License-Identifier: MIT */
/*
 * Conformance of the VFIO user API (softvfio_ioctl) to the tables of
 * docs/uapi.md, row by row ("row N" below is a row of the request's table).
 *
 * Every documented errno has a test expecting exactly it, and where two
 * rows fail at once a test checks that the earlier row decides, choosing
 * pairs whose errnos differ whenever the tables allow it.
 *
 * Variants: each test runs as one cmocka test per
 * variant, the const variant struct being its initial state. MAP/UNMAP
 * semantics run for every flush policy (strict, batched, gather, lazy) on
 * both pinning backends; under lazy the timer never fires within a test,
 * and what an unmap leaves behind is checked once its queue is flushed
 * (lazy_settle); tests that need real memory
 * (EFAULT, RLIMIT_MEMLOCK) run on the process backend only; container-level
 * and GET_INFO tests run once.
 *
 * Every test that opens a container ends with env_done(): the container's
 * consistency check and the unpin checker must be clean, and UNMAP_DMA with
 * FLAG_ALL must then leave no mapping, pin or locked byte behind.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include "helpers.h"

#define PG        4096ULL
#define MSI_START 0xfee00000ULL      /* x86 MSI window, reserved in every VT-d domain */
#define MSI_LAST  0xfeefffffULL
#define IOVA_TOP  (1ULL << 48)       /* first IOVA above the 48-bit aperture */
#define BASE      0x100000ULL        /* an IOVA well inside the low valid range */
#define MEM_PAGES 64ULL              /* process backend: pages of real memory per test */
#define SYN_VA    0x5a0000000000ULL  /* synthetic backend: vaddr is only a number */
#define LIMIT_DEF SVF_DEFAULT_DMA_ENTRY_LIMIT
#define MIB       (1ULL << 20)
/* GET_INFO: 24-byte info, MIGRATION 32, DMA_AVAIL 12 padded to 16, IOVA_RANGE 16 + 2 * 16. */
#define INFO_CAP_MIG   24u
#define INFO_CAP_AVAIL 56u
#define INFO_CAP_IOVA  72u
#define INFO_NEED      120u
/* An aligned range that wraps past 2^64: [2^64 - 2 pages, +4 pages). */
#define WRAP_IOVA (0ULL - 2 * PG)
#define WRAP_SIZE (4 * PG)

/* ------------------------------------------------------------------ */
/* Variants and the per-test environment                               */

struct variant {
	const char *name;
	enum svf_policy policy;
	enum svf_backend backend;
};

static const struct variant variants[] = {
	{ "strict,process", SVF_POLICY_STRICT, SVF_BACKEND_PROCESS },
	{ "batched,process", SVF_POLICY_BATCHED, SVF_BACKEND_PROCESS },
	{ "gather,process", SVF_POLICY_GATHER, SVF_BACKEND_PROCESS },
	{ "lazy,process", SVF_POLICY_LAZY, SVF_BACKEND_PROCESS },
	{ "strict,synthetic", SVF_POLICY_STRICT, SVF_BACKEND_SYNTHETIC },
	{ "batched,synthetic", SVF_POLICY_BATCHED, SVF_BACKEND_SYNTHETIC },
	{ "gather,synthetic", SVF_POLICY_GATHER, SVF_BACKEND_SYNTHETIC },
	{ "lazy,synthetic", SVF_POLICY_LAZY, SVF_BACKEND_SYNTHETIC },
};
#define NR_VARIANTS  (sizeof(variants) / sizeof(variants[0]))
#define NR_PROCESS   4u /* variants[0..3] use the process backend */
#define ONE_VARIANT  6u /* gather, synthetic: for tests that need one container */

struct env {
	const struct variant *v;
	struct th_fixture f;
	bool open;        /* f holds a container */
	bool backend_set; /* SET_IOMMU succeeded on it */
	uint8_t *mem;     /* process backend: MEM_PAGES pages */
	uint64_t va;      /* vaddr of page 0 (mem, or SYN_VA) */
	void *extra;      /* a test's own mapping of process memory, freed at teardown */
	size_t extra_len;
	bool cap_dropped; /* CAP_IPC_LOCK was dropped from the effective set */
};

struct env_opts {
	unsigned limit;         /* dma_entry_limit; 0: default */
	unsigned long type;     /* th_opts.type */
	uint64_t memlock;       /* th_opts.memlock_limit */
	enum svf_layout layout; /* synthetic layout */
};

static int cap_ipc_lock_set(bool on);

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	e->v = *state;
	*state = e;
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	svf_fault_disarm();
	if (e->cap_dropped)
		cap_ipc_lock_set(true);
	if (e->open)
		th_close(&e->f);
	th_free_mem(e->mem, MEM_PAGES * PG);
	th_free_mem(e->extra, e->extra_len);
	free(e);
	return 0;
}

static const char *errname(long rc)
{
	switch (rc) {
	case 0: return "ok";
	case -EINVAL: return "EINVAL";
	case -EEXIST: return "EEXIST";
	case -ENOSPC: return "ENOSPC";
	case -ENOMEM: return "ENOMEM";
	case -EFAULT: return "EFAULT";
	case -EOVERFLOW: return "EOVERFLOW";
	case -EBUSY: return "EBUSY";
	case -ENOENT: return "ENOENT";
	case -EACCES: return "EACCES";
	case -ENOTTY: return "ENOTTY";
	case -EBADF: return "EBADF";
	case -EUCLEAN: return "EUCLEAN";
	default: return rc > 0 ? "positive" : "other errno";
	}
}

/* The ioctl result must be exactly want (0, 1, or a negative errno). */
#define expect_rc(expr, want)                                                          \
	do {                                                                           \
		long rc_ = (long)(expr), want_ = (long)(want);                         \
		if (rc_ != want_)                                                      \
			fail_msg("%s = %ld (%s), want %ld (%s)", #expr, rc_, errname(rc_), \
				 want_, errname(want_));                               \
	} while (0)

static struct svf_container *env_open_with(struct env *e, const struct env_opts *eo)
{
	/* Lazy: no timer flush within a test, so every figure is the requests' own. */
	struct th_opts o = { .policy = e->v->policy, .backend = e->v->backend, .cost_off = true,
			     .lazy_timeout_us = TH_LAZY_NEVER };
	int rc;

	if (eo) {
		o.dma_entry_limit = eo->limit;
		o.type = eo->type;
		o.memlock_limit = eo->memlock;
		o.layout = eo->layout;
	}
	rc = th_open(&o, &e->f);
	if (rc)
		fail_msg("th_open: %d (%s)", rc, errname(rc));
	e->open = true;
	e->backend_set = o.type != ~0UL;
	if (e->v->backend == SVF_BACKEND_PROCESS) {
		e->mem = th_alloc_mem(MEM_PAGES * PG);
		assert_non_null(e->mem);
		memset(e->mem, 0x5a, MEM_PAGES * PG);
		e->va = (uint64_t)(uintptr_t)e->mem;
	} else {
		e->va = SYN_VA;
	}
	return e->f.c;
}

static struct svf_container *env_open(struct env *e)
{
	return env_open_with(e, NULL);
}

/* The after-test contract: consistent, no early unpin, and everything releasable. */
static void env_done(struct env *e)
{
	struct svf_container *c = e->f.c;
	struct svf_stats st;
	uint64_t sz = 0;

	assert_int_equal(svf_container_check(c), 0);
	assert_int_equal(th_stats(c).invariant_violations, 0);
	if (e->backend_set)
		expect_rc(th_unmap(c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz), 0);
	st = th_stats(c);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	if (e->v->policy != SVF_POLICY_LAZY) {
		assert_int_equal(st.pinned_now, 0);
		assert_int_equal(st.locked_bytes, 0);
	}
	assert_int_equal(st.invariant_violations, 0);
	assert_int_equal(svf_container_check(c), 0);
	/* Destroying the container releases the rest (lazy: its flush queue). */
	svf_container_destroy(c);
	e->f.c = NULL;
	assert_int_equal(svf_pinner_pinned_pages(e->f.p), 0);
	assert_int_equal(svf_pinner_locked_bytes(e->f.p), 0);
	th_close(&e->f);
	e->open = false;
}

/* ------------------------------------------------------------------ */
/* Request helpers                                                     */

/* MAP_DMA read-write of [iova, iova+size) from page `off` bytes into the test memory. */
static long map_at(struct env *e, uint64_t iova, uint64_t off, uint64_t size)
{
	return th_map(e->f.c, iova, e->va + off, size, TH_RW);
}

/* MAP_DMA with every field chosen; the struct sits in a larger zeroed buffer. */
static long map_raw(struct svf_container *c, uint32_t argsz, uint32_t flags, uint64_t vaddr,
		    uint64_t iova, uint64_t size)
{
	uint64_t buf[8] = { 0 };
	struct vfio_iommu_type1_dma_map *m = (void *)buf;

	m->argsz = argsz;
	m->flags = flags;
	m->vaddr = vaddr;
	m->iova = iova;
	m->size = size;
	return softvfio_ioctl(c, VFIO_IOMMU_MAP_DMA, m);
}

/* UNMAP_DMA with every field chosen; *size_out gets the size field afterwards. */
static long unmap_raw(struct svf_container *c, uint32_t argsz, uint32_t flags, uint64_t iova,
		      uint64_t size, uint64_t *size_out)
{
	uint64_t buf[8] = { 0 };
	struct vfio_iommu_type1_dma_unmap *u = (void *)buf;
	long rc;

	u->argsz = argsz;
	u->flags = flags;
	u->iova = iova;
	u->size = size;
	rc = softvfio_ioctl(c, VFIO_IOMMU_UNMAP_DMA, u);
	if (size_out)
		*size_out = u->size;
	return rc;
}

struct bm_req {
	uint32_t argsz;    /* 0: 48 (unmap struct + struct vfio_bitmap) */
	uint32_t flags;    /* added to GET_DIRTY_BITMAP */
	uint64_t iova, size;
	uint64_t pgsize;   /* bitmap page size */
	uint64_t bm_size;  /* bitmap size in bytes */
};

/* UNMAP_DMA with GET_DIRTY_BITMAP; the bitmap points at bits (8 words, zeroed). */
static long unmap_bitmap(struct svf_container *c, const struct bm_req *r, uint64_t *bits,
			 uint64_t *size_out)
{
	uint64_t buf[8] = { 0 };
	struct vfio_iommu_type1_dma_unmap *u = (void *)buf;
	struct vfio_bitmap *bm = (void *)u->data;
	long rc;

	u->argsz = r->argsz ? r->argsz : sizeof(*u) + sizeof(*bm);
	u->flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | r->flags;
	u->iova = r->iova;
	u->size = r->size;
	bm->pgsize = r->pgsize;
	bm->size = r->bm_size;
	bm->data = (void *)bits;
	rc = softvfio_ioctl(c, VFIO_IOMMU_UNMAP_DMA, u);
	if (size_out)
		*size_out = u->size;
	return rc;
}

static long dirty_raw(struct svf_container *c, uint32_t argsz, uint32_t flags)
{
	uint64_t buf[8] = { 0 };
	struct vfio_iommu_type1_dirty_bitmap *d = (void *)buf;

	d->argsz = argsz;
	d->flags = flags;
	return softvfio_ioctl(c, VFIO_IOMMU_DIRTY_PAGES, d);
}

static long dirty_get(struct svf_container *c, uint32_t argsz, uint64_t iova, uint64_t size,
		      uint64_t pgsize, uint64_t bm_size, uint64_t *bits)
{
	uint64_t buf[12] = { 0 };
	struct vfio_iommu_type1_dirty_bitmap *d = (void *)buf;
	struct vfio_iommu_type1_dirty_bitmap_get *g = (void *)d->data;

	d->argsz = argsz;
	d->flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	g->iova = iova;
	g->size = size;
	g->bitmap.pgsize = pgsize;
	g->bitmap.size = bm_size;
	g->bitmap.data = (void *)bits;
	return softvfio_ioctl(c, VFIO_IOMMU_DIRTY_PAGES, d);
}

/* A GET_INFO buffer: the fixed struct, room for the chain, and the raw bytes. */
union info_buf {
	struct vfio_iommu_type1_info info;
	uint64_t align;
	uint8_t b[256];
};

static long set_iommu(struct svf_container *c, unsigned long type)
{
	return softvfio_ioctl(c, VFIO_SET_IOMMU, (void *)(uintptr_t)type);
}

static long check_ext(struct svf_container *c, unsigned long ext)
{
	return softvfio_ioctl(c, VFIO_CHECK_EXTENSION, (void *)(uintptr_t)ext);
}

/* The device view: every page of [iova, iova+len) translates (read) in domain 0. */
static void expect_translated(struct env *e, uint64_t iova, uint64_t len)
{
	struct svf_domain *d = svf_container_domain(e->f.c, 0);

	assert_non_null(d);
	for (uint64_t off = 0; off < len; off += PG) {
		uint64_t phys = 0;

		expect_rc(svf_iommu_translate(d, iova + off, SVF_PROT_READ, &phys), 0);
	}
}

/*
 * Lazy returns from an unmap before its flush: until the queue is flushed
 * the pages stay pinned and the IOTLB may still translate them (test_device
 * checks that). The checks of what an unmap leaves behind look after the
 * flush, as the timer would do it.
 */
static void lazy_settle(struct env *e)
{
	if (e->v->policy == SVF_POLICY_LAZY)
		assert_int_equal(svf_container_flush(e->f.c), 0);
}

/* No page of [iova, iova+len) translates: not in the page table, not in the IOTLB. */
static void expect_untranslated(struct env *e, uint64_t iova, uint64_t len)
{
	struct svf_domain *d = svf_container_domain(e->f.c, 0);

	assert_non_null(d);
	lazy_settle(e);
	for (uint64_t off = 0; off < len; off += PG) {
		uint64_t phys = 0;

		expect_rc(svf_iommu_translate(d, iova + off, SVF_PROT_READ, &phys), -ENOENT);
	}
}

static uint64_t pinned_now(struct env *e)
{
	lazy_settle(e);
	return th_stats(e->f.c).pinned_now;
}

/* CAP_IPC_LOCK in this thread's effective set: 1, 0, or -errno. */
static int cap_ipc_lock_get(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	return !!(data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective & CAP_TO_MASK(CAP_IPC_LOCK));
}

/* Raise or drop CAP_IPC_LOCK in the effective set (raising needs it permitted). */
static int cap_ipc_lock_set(bool on)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	if (on)
		data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective |= CAP_TO_MASK(CAP_IPC_LOCK);
	else
		data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	return 0;
}

/* ------------------------------------------------------------------ */
/* ABI                                                                 */

static void t_abi_request_numbers(void **state)
{
	(void)state;
	assert_int_equal(VFIO_API_VERSION, 0);
	assert_int_equal(VFIO_GET_API_VERSION, 0x3b64);
	assert_int_equal(VFIO_CHECK_EXTENSION, 0x3b65);
	assert_int_equal(VFIO_SET_IOMMU, 0x3b66);
	assert_int_equal(VFIO_IOMMU_GET_INFO, 0x3b70);
	assert_int_equal(VFIO_IOMMU_MAP_DMA, 0x3b71);
	assert_int_equal(VFIO_IOMMU_UNMAP_DMA, 0x3b72);
	assert_int_equal(VFIO_IOMMU_DIRTY_PAGES, 0x3b75);

	assert_int_equal(VFIO_TYPE1_IOMMU, 1);
	assert_int_equal(VFIO_TYPE1v2_IOMMU, 3);
	assert_int_equal(VFIO_DMA_CC_IOMMU, 4);
	assert_int_equal(VFIO_UNMAP_ALL, 9);
	assert_int_equal(VFIO_UPDATE_VADDR, 10);

	assert_int_equal(VFIO_DMA_MAP_FLAG_READ, 1);
	assert_int_equal(VFIO_DMA_MAP_FLAG_WRITE, 2);
	assert_int_equal(VFIO_DMA_MAP_FLAG_VADDR, 4);
	assert_int_equal(VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, 1);
	assert_int_equal(VFIO_DMA_UNMAP_FLAG_ALL, 2);
	assert_int_equal(VFIO_DMA_UNMAP_FLAG_VADDR, 4);
	assert_int_equal(VFIO_IOMMU_INFO_PGSIZES, 1);
	assert_int_equal(VFIO_IOMMU_INFO_CAPS, 2);
	assert_int_equal(VFIO_IOMMU_DIRTY_PAGES_FLAG_START, 1);
	assert_int_equal(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP, 2);
	assert_int_equal(VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP, 4);

	assert_int_equal(VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1);
	assert_int_equal(VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 2);
	assert_int_equal(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 3);
}

#define assert_field(T, m, off, size)                                 \
	do {                                                          \
		assert_int_equal(offsetof(struct T, m), (off));       \
		assert_int_equal(sizeof(((struct T *)0)->m), (size)); \
	} while (0)

static void t_abi_struct_layouts(void **state)
{
	(void)state;
	assert_field(vfio_iommu_type1_info, argsz, 0, 4);
	assert_field(vfio_iommu_type1_info, flags, 4, 4);
	assert_field(vfio_iommu_type1_info, iova_pgsizes, 8, 8);
	assert_field(vfio_iommu_type1_info, cap_offset, 16, 4);
	assert_int_equal(sizeof(struct vfio_iommu_type1_info), 24);

	assert_field(vfio_iommu_type1_dma_map, argsz, 0, 4);
	assert_field(vfio_iommu_type1_dma_map, flags, 4, 4);
	assert_field(vfio_iommu_type1_dma_map, vaddr, 8, 8);
	assert_field(vfio_iommu_type1_dma_map, iova, 16, 8);
	assert_field(vfio_iommu_type1_dma_map, size, 24, 8);
	assert_int_equal(sizeof(struct vfio_iommu_type1_dma_map), 32);

	assert_field(vfio_iommu_type1_dma_unmap, argsz, 0, 4);
	assert_field(vfio_iommu_type1_dma_unmap, flags, 4, 4);
	assert_field(vfio_iommu_type1_dma_unmap, iova, 8, 8);
	assert_field(vfio_iommu_type1_dma_unmap, size, 16, 8);
	assert_int_equal(offsetof(struct vfio_iommu_type1_dma_unmap, data), 24);
	assert_int_equal(sizeof(struct vfio_iommu_type1_dma_unmap), 24);

	assert_field(vfio_iommu_type1_dirty_bitmap, argsz, 0, 4);
	assert_field(vfio_iommu_type1_dirty_bitmap, flags, 4, 4);
	assert_int_equal(offsetof(struct vfio_iommu_type1_dirty_bitmap, data), 8);
	assert_int_equal(sizeof(struct vfio_iommu_type1_dirty_bitmap), 8);
	assert_field(vfio_iommu_type1_dirty_bitmap_get, iova, 0, 8);
	assert_field(vfio_iommu_type1_dirty_bitmap_get, size, 8, 8);
	assert_field(vfio_iommu_type1_dirty_bitmap_get, bitmap, 16, 24);
	assert_int_equal(sizeof(struct vfio_iommu_type1_dirty_bitmap_get), 40);
	assert_field(vfio_bitmap, pgsize, 0, 8);
	assert_field(vfio_bitmap, size, 8, 8);
	assert_field(vfio_bitmap, data, 16, 8);
	assert_int_equal(sizeof(struct vfio_bitmap), 24);

	assert_field(vfio_info_cap_header, id, 0, 2);
	assert_field(vfio_info_cap_header, version, 2, 2);
	assert_field(vfio_info_cap_header, next, 4, 4);
	assert_int_equal(sizeof(struct vfio_info_cap_header), 8);
	assert_field(vfio_iommu_type1_info_cap_iova_range, nr_iovas, 8, 4);
	assert_field(vfio_iommu_type1_info_cap_iova_range, reserved, 12, 4);
	assert_int_equal(offsetof(struct vfio_iommu_type1_info_cap_iova_range, iova_ranges), 16);
	assert_int_equal(sizeof(struct vfio_iova_range), 16);
	assert_field(vfio_iova_range, start, 0, 8);
	assert_field(vfio_iova_range, end, 8, 8);
	assert_field(vfio_iommu_type1_info_cap_migration, flags, 8, 4);
	assert_field(vfio_iommu_type1_info_cap_migration, pgsize_bitmap, 16, 8);
	assert_field(vfio_iommu_type1_info_cap_migration, max_dirty_bitmap_size, 24, 8);
	assert_int_equal(sizeof(struct vfio_iommu_type1_info_cap_migration), 32);
	assert_field(vfio_iommu_type1_info_dma_avail, avail, 8, 4);
	assert_int_equal(sizeof(struct vfio_iommu_type1_info_dma_avail), 12);
}

/* ------------------------------------------------------------------ */
/* Container requests: GET_API_VERSION, CHECK_EXTENSION, SET_IOMMU      */

static void t_api_version(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .type = ~0UL });

	expect_rc(softvfio_ioctl(c, VFIO_GET_API_VERSION, NULL), 0);
	expect_rc(softvfio_ioctl(c, VFIO_GET_API_VERSION, (void *)(uintptr_t)77), 0);
	expect_rc(set_iommu(c, VFIO_TYPE1v2_IOMMU), 0);
	e->backend_set = true;
	expect_rc(softvfio_ioctl(c, VFIO_GET_API_VERSION, NULL), 0);
	env_done(e);
}

static const unsigned long unknown_exts[] = { 0, 2, 5, 6, 7, 8, 11, 1000, 0xffffffffUL, ~0UL };

static void expect_unknown_exts_zero(struct svf_container *c)
{
	for (size_t i = 0; i < sizeof(unknown_exts) / sizeof(unknown_exts[0]); i++)
		expect_rc(check_ext(c, unknown_exts[i]), 0);
}

static void t_check_extension_before_set_iommu(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .type = ~0UL });

	expect_rc(check_ext(c, VFIO_TYPE1_IOMMU), 1);
	expect_rc(check_ext(c, VFIO_TYPE1v2_IOMMU), 1);
	expect_rc(check_ext(c, VFIO_UNMAP_ALL), 1);
	expect_rc(check_ext(c, VFIO_UPDATE_VADDR), 0);
	expect_rc(check_ext(c, VFIO_DMA_CC_IOMMU), 0);
	expect_unknown_exts_zero(c);
	env_done(e);
}

static void t_check_extension_after_set_iommu_v2(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	expect_rc(check_ext(c, VFIO_TYPE1_IOMMU), 1);
	expect_rc(check_ext(c, VFIO_TYPE1v2_IOMMU), 1);
	expect_rc(check_ext(c, VFIO_UNMAP_ALL), 1);
	expect_rc(check_ext(c, VFIO_UPDATE_VADDR), 1);
	expect_rc(check_ext(c, VFIO_DMA_CC_IOMMU), 1); /* the emulated VT-d snoops */
	expect_unknown_exts_zero(c);
	env_done(e);
}

static void t_check_extension_after_set_iommu_v1(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .type = VFIO_TYPE1_IOMMU });

	expect_rc(check_ext(c, VFIO_TYPE1_IOMMU), 1);
	expect_rc(check_ext(c, VFIO_TYPE1v2_IOMMU), 1);
	expect_rc(check_ext(c, VFIO_UNMAP_ALL), 1);
	expect_rc(check_ext(c, VFIO_UPDATE_VADDR), 1);
	expect_rc(check_ext(c, VFIO_DMA_CC_IOMMU), 1);
	expect_unknown_exts_zero(c);
	env_done(e);
}

/*
 * Linux: a type no IOMMU driver claims is ENODEV; VFIO_UNMAP_ALL is an
 * extension type1 reports, so type1's open sees it and refuses it (EINVAL).
 */
static void t_set_iommu_bad_values(void **state)
{
	static const unsigned long bad[] = { 0, 2, 4, 5, 6, 7, 8, 9, 10, 1000, ~0UL };
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .type = ~0UL });

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_rc(set_iommu(c, bad[i]), bad[i] == VFIO_UNMAP_ALL ? -EINVAL : -ENODEV);
		/* Still no backend: a map is refused as before SET_IOMMU. */
		expect_rc(map_at(e, BASE, 0, PG), -EINVAL);
	}
	assert_int_equal(svf_container_nr_mappings(c), 0);
	expect_rc(set_iommu(c, VFIO_TYPE1_IOMMU), 0);
	e->backend_set = true;
	expect_rc(map_at(e, BASE, 0, PG), 0);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	env_done(e);
}

static void t_set_iommu_v1_then_again(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .type = ~0UL });

	expect_rc(set_iommu(c, VFIO_TYPE1_IOMMU), 0);
	e->backend_set = true;
	expect_rc(set_iommu(c, VFIO_TYPE1_IOMMU), -EINVAL);
	expect_rc(set_iommu(c, VFIO_TYPE1v2_IOMMU), -EINVAL);
	expect_rc(set_iommu(c, 0), -EINVAL);
	/* Still the v1 backend: a request inside a mapping succeeds with size 0. */
	uint64_t sz = 1;
	expect_rc(map_at(e, BASE, 0, 2 * PG), 0);
	expect_rc(th_unmap(c, BASE + PG, PG, 0, &sz), 0);
	assert_int_equal(sz, 0);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	env_done(e);
}

static void t_set_iommu_v2_then_again(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .type = ~0UL });

	expect_rc(set_iommu(c, VFIO_TYPE1v2_IOMMU), 0);
	e->backend_set = true;
	expect_rc(set_iommu(c, VFIO_TYPE1v2_IOMMU), -EINVAL);
	expect_rc(set_iommu(c, VFIO_TYPE1_IOMMU), -EINVAL);
	expect_rc(set_iommu(c, 42), -EINVAL);
	/* Still the v2 backend: a request inside a mapping is refused. */
	expect_rc(map_at(e, BASE, 0, 2 * PG), 0);
	expect_rc(th_unmap(c, BASE + PG, PG, 0, NULL), -EINVAL);
	env_done(e);
}

static void t_backend_requests_before_set_iommu(void **state)
{
	static const unsigned long unknown[] = { 0x3b67, 0x3b6b, 0x3b73, 0x3b7f, 0 };
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .type = ~0UL });
	union info_buf ib = { .info.argsz = sizeof(ib) };
	uint64_t buf[16] = { 0 }, sz = 0;

	expect_rc(softvfio_ioctl(c, VFIO_IOMMU_GET_INFO, &ib.info), -EINVAL);
	expect_rc(map_at(e, BASE, 0, PG), -EINVAL);
	expect_rc(th_unmap(c, BASE, PG, 0, &sz), -EINVAL);
	assert_int_equal(sz, PG); /* not written back */
	expect_rc(th_unmap(c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, NULL), -EINVAL);
	expect_rc(dirty_raw(c, 8, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), -EINVAL);
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		expect_rc(softvfio_ioctl(c, unknown[i], buf), -EINVAL);
	assert_int_equal(th_stats(c).pinned_now, 0);

	expect_rc(set_iommu(c, VFIO_TYPE1v2_IOMMU), 0);
	e->backend_set = true;
	assert_int_equal(svf_container_nr_mappings(c), 0);
	ib.info.argsz = sizeof(ib);
	expect_rc(softvfio_ioctl(c, VFIO_IOMMU_GET_INFO, &ib.info), 0);
	env_done(e);
}

static void t_unknown_request_after_set_iommu(void **state)
{
	static const unsigned long unknown[] = {
		0x3b67, /* VFIO_GROUP_GET_STATUS: a group request on the container */
		0x3b6b, /* VFIO_DEVICE_GET_INFO */
		0x3b73, /* VFIO_IOMMU_ENABLE (spapr) */
		0x3b74, /* VFIO_IOMMU_DISABLE (spapr) */
		0x3b76, /* VFIO_IOMMU_SPAPR_UNREGISTER_MEMORY */
		0x3b7f, 0x3bff, 0, 0x5401 /* TCGETS */, 0xdeadbeef,
	};
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t buf[16] = { 0 };

	expect_rc(map_at(e, BASE, 0, PG), 0);
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		expect_rc(softvfio_ioctl(c, unknown[i], buf), -ENOTTY);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_translated(e, BASE, PG);
	env_done(e);
}

/* ------------------------------------------------------------------ */
/* MAP_DMA, row by row                                                 */

static void t_map_success_baseline(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	expect_rc(th_dma_avail(c), LIMIT_DEF);
	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 1);
	assert_int_equal(pinned_now(e), 4);
	assert_int_equal(th_stats(c).locked_bytes, 4 * PG);
	expect_translated(e, BASE, 4 * PG);
	expect_untranslated(e, BASE + 4 * PG, PG);
	env_done(e);
}

static void t_map_row1_argsz(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	expect_rc(map_raw(c, 0, TH_RW, e->va, BASE, PG), -EINVAL);
	expect_rc(map_raw(c, 16, TH_RW, e->va, BASE, PG), -EINVAL);
	expect_rc(map_raw(c, 31, TH_RW, e->va, BASE, PG), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF);
	expect_untranslated(e, BASE, PG);
	/* 32 and larger are fine. */
	expect_rc(map_raw(c, 32, TH_RW, e->va, BASE, PG), 0);
	expect_rc(map_raw(c, 64, TH_RW, e->va + PG, BASE + PG, PG), 0);
	assert_int_equal(svf_container_nr_mappings(c), 2);
	env_done(e);
}

static void t_map_row1_flags(void **state)
{
	static const uint32_t bad[] = { 1u << 3, 1u << 4, 1u << 16, 1u << 31 };
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_rc(th_map(c, BASE, e->va, PG, TH_RW | bad[i]), -EINVAL);
		expect_rc(th_map(c, BASE, e->va, PG, VFIO_DMA_MAP_FLAG_READ | bad[i]), -EINVAL);
		expect_rc(th_map(c, BASE, e->va, PG, VFIO_DMA_MAP_FLAG_VADDR | bad[i]), -EINVAL);
	}
	assert_int_equal(svf_container_nr_mappings(c), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF);
	expect_rc(th_map(c, BASE, e->va, PG, TH_RW), 0);
	env_done(e);
}

static void t_map_row2_size_zero(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	expect_rc(map_at(e, BASE, 0, 0), -EINVAL);
	expect_rc(map_at(e, 0, 0, 0), -EINVAL);
	expect_rc(th_map(c, BASE, e->va, 0, VFIO_DMA_MAP_FLAG_READ), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF);
	env_done(e);
}

static void t_map_row3_wrap(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	/* iova + size - 1 wraps. */
	expect_rc(map_at(e, WRAP_IOVA, 0, WRAP_SIZE), -EOVERFLOW);
	expect_rc(map_at(e, 0ULL - PG, 0, 2 * PG), -EOVERFLOW);
	/* vaddr + size - 1 wraps. */
	expect_rc(th_map(c, BASE, 0ULL - PG, 2 * PG, TH_RW), -EOVERFLOW);
	expect_rc(th_map(c, BASE, 0ULL - 2 * PG, WRAP_SIZE, VFIO_DMA_MAP_FLAG_WRITE), -EOVERFLOW);
	/* Ending exactly at 2^64 is no wrap: the range check decides (above the aperture). */
	expect_rc(map_at(e, 0ULL - PG, 0, PG), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF);
	env_done(e);
}

static void t_map_row4_prot(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	struct svf_domain *d = svf_container_domain(c, 0);
	uint64_t phys;

	expect_rc(th_map(c, BASE, e->va, PG, 0), -EINVAL);
	/* VADDR with READ and/or WRITE; row 4 comes before row 6's ENOENT. */
	expect_rc(th_map(c, BASE, e->va, PG, VFIO_DMA_MAP_FLAG_VADDR | VFIO_DMA_MAP_FLAG_READ),
		  -EINVAL);
	expect_rc(th_map(c, BASE, e->va, PG, VFIO_DMA_MAP_FLAG_VADDR | VFIO_DMA_MAP_FLAG_WRITE),
		  -EINVAL);
	expect_rc(th_map(c, BASE, e->va, PG, VFIO_DMA_MAP_FLAG_VADDR | TH_RW), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF);

	/* READ alone and WRITE alone are valid, and keep their direction. */
	expect_rc(th_map(c, BASE, e->va, PG, VFIO_DMA_MAP_FLAG_READ), 0);
	expect_rc(th_map(c, BASE + PG, e->va + PG, PG, VFIO_DMA_MAP_FLAG_WRITE), 0);
	expect_rc(svf_iommu_translate(d, BASE, SVF_PROT_READ, &phys), 0);
	expect_rc(svf_iommu_translate(d, BASE, SVF_PROT_WRITE, &phys), -EACCES);
	expect_rc(svf_iommu_translate(d, BASE + PG, SVF_PROT_WRITE, &phys), 0);
	expect_rc(svf_iommu_translate(d, BASE + PG, SVF_PROT_READ, &phys), -EACCES);
	env_done(e);
}

static void t_map_row5_alignment(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	expect_rc(map_at(e, BASE, 0, PG + 0x800), -EINVAL);  /* size */
	expect_rc(map_at(e, BASE, 0, PG - 1), -EINVAL);
	expect_rc(map_at(e, BASE + 0x800, 0, PG), -EINVAL);  /* iova */
	expect_rc(map_at(e, BASE + 1, 0, PG), -EINVAL);
	expect_rc(map_at(e, BASE, 0x800, PG), -EINVAL);      /* vaddr */
	expect_rc(map_at(e, BASE, 8, 2 * PG), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF);
	assert_int_equal(pinned_now(e), 0);
	expect_untranslated(e, BASE, 2 * PG);
	expect_rc(map_at(e, BASE, 0, 2 * PG), 0);
	env_done(e);
}

static void t_map_row6_vaddr_no_mapping(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	expect_rc(th_map(c, BASE, e->va, 4 * PG, VFIO_DMA_MAP_FLAG_VADDR), -ENOENT);
	/* Mappings that do not overlap (one touching each side) do not count. */
	expect_rc(map_at(e, BASE - PG, 0, PG), 0);
	expect_rc(map_at(e, BASE + 4 * PG, PG, PG), 0);
	expect_rc(th_map(c, BASE, e->va, 4 * PG, VFIO_DMA_MAP_FLAG_VADDR), -ENOENT);
	assert_int_equal(svf_container_nr_mappings(c), 2);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 2);
	env_done(e);
}

static void t_map_row6_vaddr_over_valid_mapping(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	/* Found a mapping, but its vaddr is valid: EINVAL, not ENOENT nor EEXIST. */
	expect_rc(th_map(c, BASE, e->va, 4 * PG, VFIO_DMA_MAP_FLAG_VADDR), -EINVAL);
	expect_rc(th_map(c, BASE + PG, e->va, PG, VFIO_DMA_MAP_FLAG_VADDR), -EINVAL);
	expect_rc(th_map(c, BASE - PG, e->va, 2 * PG, VFIO_DMA_MAP_FLAG_VADDR), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 1);
	expect_translated(e, BASE, 4 * PG);
	env_done(e);
}

static void t_map_row7_overlap(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	const uint64_t a = BASE + 8 * PG; /* mapping A: [a, a + 4 pages) */
	uint64_t pins_before;

	expect_rc(map_at(e, a, 0, 4 * PG), 0);
	expect_translated(e, a, 4 * PG);
	pins_before = pinned_now(e);
	expect_rc(map_at(e, a, 8 * PG, 4 * PG), -EEXIST);          /* the same range */
	expect_rc(map_at(e, a + PG, 8 * PG, PG), -EEXIST);         /* inside */
	expect_rc(map_at(e, a - PG, 8 * PG, 6 * PG), -EEXIST);     /* covering */
	expect_rc(map_at(e, a - PG, 8 * PG, 2 * PG), -EEXIST);     /* over the start */
	expect_rc(map_at(e, a + 3 * PG, 8 * PG, 2 * PG), -EEXIST); /* over the end */
	expect_rc(map_at(e, a + 3 * PG, 8 * PG, PG), -EEXIST);     /* last page */
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 1);
	assert_int_equal(pinned_now(e), pins_before);
	expect_translated(e, a, 4 * PG);

	/* Touching is fine on both sides, and a gap can be filled exactly. */
	expect_rc(map_at(e, a - 2 * PG, 8 * PG, 2 * PG), 0);
	expect_rc(map_at(e, a + 4 * PG, 12 * PG, 2 * PG), 0);
	expect_rc(map_at(e, a + 8 * PG, 16 * PG, PG), 0);
	expect_rc(map_at(e, a + 6 * PG, 20 * PG, 2 * PG), 0);
	assert_int_equal(svf_container_nr_mappings(c), 5);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 5);
	expect_translated(e, a - 2 * PG, 11 * PG);
	assert_int_equal(svf_container_check(c), 0);
	env_done(e);
}

static void t_map_row8_entry_limit(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .limit = 4 });
	uint64_t sz;

	expect_rc(th_dma_avail(c), 4);
	for (unsigned i = 0; i < 4; i++) {
		expect_rc(map_at(e, BASE + 2 * i * PG, i * PG, PG), 0);
		expect_rc(th_dma_avail(c), 3 - i);
	}
	expect_rc(map_at(e, BASE + 16 * PG, 8 * PG, PG), -ENOSPC);
	expect_rc(map_at(e, BASE - 4 * PG, 8 * PG, 2 * PG), -ENOSPC);
	assert_int_equal(svf_container_nr_mappings(c), 4);
	expect_rc(th_dma_avail(c), 0);
	expect_untranslated(e, BASE + 16 * PG, PG);

	/* Unmapping one gives its slot back; it can be used again. */
	expect_rc(th_unmap(c, BASE + 2 * PG, PG, 0, &sz), 0);
	assert_int_equal(sz, PG);
	expect_rc(th_dma_avail(c), 1);
	expect_rc(map_at(e, BASE + 16 * PG, 8 * PG, PG), 0);
	expect_rc(th_dma_avail(c), 0);
	expect_rc(map_at(e, BASE + 2 * PG, 8 * PG, PG), -ENOSPC);
	env_done(e);
}

static void t_map_row9_msi_window(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	expect_rc(map_at(e, MSI_START, 0, PG), -EINVAL);
	expect_rc(map_at(e, MSI_LAST + 1 - PG, 0, PG), -EINVAL);
	expect_rc(map_at(e, MSI_START + 0x80000, 0, 4 * PG), -EINVAL);
	expect_rc(map_at(e, MSI_START - PG, 0, 2 * PG), -EINVAL);     /* crossing in */
	expect_rc(map_at(e, MSI_LAST + 1 - PG, 0, 2 * PG), -EINVAL);  /* crossing out */
	/* Spanning the whole window: both ends are valid, the middle is not. */
	expect_rc(th_map(c, MSI_START - PG, SYN_VA, MSI_LAST + 1 - MSI_START + 2 * PG,
			 TH_RW), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF);
	assert_int_equal(pinned_now(e), 0);

	/* Right up to the window, and right after it, are valid. */
	expect_rc(map_at(e, MSI_START - PG, 0, PG), 0);
	expect_rc(map_at(e, MSI_LAST + 1, PG, PG), 0);
	expect_translated(e, MSI_START - PG, PG);
	expect_translated(e, MSI_LAST + 1, PG);
	env_done(e);
}

static void t_map_row9_aperture(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	expect_rc(map_at(e, IOVA_TOP - PG, 0, 2 * PG), -EINVAL); /* crossing 2^48 */
	expect_rc(map_at(e, IOVA_TOP - 2 * PG, 0, 4 * PG), -EINVAL);
	expect_rc(map_at(e, IOVA_TOP, 0, PG), -EINVAL);          /* wholly above */
	expect_rc(map_at(e, 1ULL << 63, 0, PG), -EINVAL);
	expect_rc(map_at(e, 0ULL - 2 * PG, 0, 2 * PG), -EINVAL); /* the top of the space */
	assert_int_equal(svf_container_nr_mappings(c), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF);
	assert_int_equal(pinned_now(e), 0);

	/* The last page below 2^48 and IOVA 0 are valid. */
	expect_rc(map_at(e, IOVA_TOP - PG, 0, PG), 0);
	expect_rc(map_at(e, 0, PG, PG), 0);
	expect_translated(e, IOVA_TOP - PG, PG);
	expect_translated(e, 0, PG);
	env_done(e);
}

static void t_map_row10_enomem(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	expect_rc(map_at(e, BASE, 0, PG), 0);
	if (svf_fault_arm(1, 1u << SVF_FAULT_ALLOC) == -ENOTSUP) {
		env_done(e);
		skip();
	}
	expect_rc(map_at(e, BASE + 4 * PG, PG, 2 * PG), -ENOMEM);
	assert_true(svf_fault_disarm());
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 1);
	assert_int_equal(pinned_now(e), 1);
	expect_untranslated(e, BASE + 4 * PG, 2 * PG);
	expect_rc(map_at(e, BASE + 4 * PG, PG, 2 * PG), 0);
	env_done(e);
}

/*
 * Row 11, a domain map failing midway: the slot taken for the entry comes
 * back and nothing stays pinned or mapped. The synthetic backend uses
 * frag4k so the 4 pages are 4 runs and the failure hits the third.
 */
static void t_map_row11_domain_map_fails_gives_slot_back(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .layout = SVF_LAYOUT_FRAG4K });
	struct svf_stats before;
	bool fired;
	long rc;

	expect_rc(map_at(e, BASE, 0, PG), 0);
	before = th_stats(c);
	if (svf_fault_arm(3, 1u << SVF_FAULT_IOMMU_MAP) == -ENOTSUP) {
		env_done(e);
		skip();
	}
	rc = map_at(e, BASE + 4 * PG, 8 * PG, 4 * PG);
	fired = svf_fault_disarm();
	if (e->v->backend == SVF_BACKEND_SYNTHETIC)
		assert_true(fired);
	if (fired) {
		assert_true(rc < 0);
		assert_int_equal(svf_container_nr_mappings(c), 1);
		expect_rc(th_dma_avail(c), LIMIT_DEF - 1);
		assert_int_equal(pinned_now(e), before.pinned_now);
		assert_int_equal(th_stats(c).locked_bytes, before.locked_bytes);
		expect_untranslated(e, BASE + 4 * PG, 4 * PG);
		assert_int_equal(svf_container_check(c), 0);
		expect_rc(map_at(e, BASE + 4 * PG, 8 * PG, 4 * PG), 0);
	} else {
		expect_rc(rc, 0); /* process memory that pinned in fewer than 3 runs */
	}
	expect_translated(e, BASE + 4 * PG, 4 * PG);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 2);
	env_done(e);
}

/* Row 11, EFAULT: a map over unmapped or inaccessible memory leaves nothing behind. */
static void efault_case(struct env *e, uint64_t iova, uint64_t bad_page, bool unmap_it)
{
	struct svf_container *c = e->f.c;
	const uint64_t npages = 4;
	uint8_t *m = th_alloc_mem(npages * PG);
	struct svf_stats before;
	uint64_t pin_pages, pin_locked, sz = 1;

	assert_non_null(m);
	memset(m, 1, npages * PG);
	e->extra = m;
	e->extra_len = npages * PG;
	if (unmap_it)
		assert_int_equal(munmap(m + bad_page * PG, PG), 0);
	else
		assert_int_equal(mprotect(m + bad_page * PG, PG, PROT_NONE), 0);

	lazy_settle(e); /* what earlier unmaps queued is not this map's */
	before = th_stats(c);
	pin_pages = svf_pinner_pinned_pages(e->f.p);
	pin_locked = svf_pinner_locked_bytes(e->f.p);
	expect_rc(th_map(c, iova, (uint64_t)(uintptr_t)m, npages * PG, TH_RW), -EFAULT);

	expect_rc(th_dma_avail(c), LIMIT_DEF - 1);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	assert_int_equal(pinned_now(e), before.pinned_now);
	assert_int_equal(th_stats(c).locked_bytes, before.locked_bytes);
	assert_int_equal(svf_pinner_pinned_pages(e->f.p), pin_pages);
	assert_int_equal(svf_pinner_locked_bytes(e->f.p), pin_locked);
	assert_int_equal(th_stats(c).invariant_violations, 0);
	assert_int_equal(svf_container_check(c), 0);
	expect_untranslated(e, iova, npages * PG);
	expect_rc(th_unmap(c, iova, npages * PG, 0, &sz), 0);
	assert_int_equal(sz, 0);

	/* The same IOVA maps fine with good memory. */
	expect_rc(map_at(e, iova, 16 * PG, npages * PG), 0);
	expect_translated(e, iova, npages * PG);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 2);
	assert_int_equal(pinned_now(e), before.pinned_now + npages);
	expect_rc(th_unmap(c, iova, npages * PG, 0, &sz), 0);
	assert_int_equal(sz, npages * PG);

	th_free_mem(m, npages * PG); /* munmap skips the hole */
	e->extra = NULL;
	e->extra_len = 0;
}

static void t_map_row11_efault_hole_middle(void **state)
{
	struct env *e = *state;

	env_open(e);
	expect_rc(map_at(e, BASE, 0, 2 * PG), 0); /* something live to compare against */
	efault_case(e, BASE + 16 * PG, 2, true);
	env_done(e);
}

static void t_map_row11_efault_hole_first_and_last(void **state)
{
	struct env *e = *state;

	env_open(e);
	expect_rc(map_at(e, BASE, 0, 2 * PG), 0);
	efault_case(e, BASE + 16 * PG, 0, true);
	efault_case(e, BASE + 32 * PG, 3, true);
	env_done(e);
}

static void t_map_row11_efault_no_access(void **state)
{
	struct env *e = *state;

	env_open(e);
	expect_rc(map_at(e, BASE, 0, 2 * PG), 0);
	efault_case(e, BASE + 16 * PG, 1, false);
	env_done(e);
}

/*
 * Row 11, RLIMIT_MEMLOCK: with CAP_IPC_LOCK the limit is lifted but the
 * pages are still counted; without it, a map passing the limit is ENOMEM
 * and leaves nothing behind. Runs each branch this process can reach.
 */
static void t_map_row11_memlock(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .memlock = 2 * PG });
	int have = cap_ipc_lock_get();
	unsigned branches = 0;
	uint64_t sz;

	assert_true(have >= 0);
	if (have == 1) {
		expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
		assert_int_equal(th_stats(c).locked_bytes, 4 * PG);
		assert_int_equal(svf_pinner_locked_bytes(e->f.p), 4 * PG);
		expect_rc(th_unmap(c, BASE, 4 * PG, 0, &sz), 0);
		assert_int_equal(sz, 4 * PG);
		lazy_settle(e);
		assert_int_equal(svf_pinner_locked_bytes(e->f.p), 0);
		branches++;
		if (cap_ipc_lock_set(false) == 0) {
			e->cap_dropped = true;
			have = 0;
		}
	}
	if (have == 0) {
		expect_rc(map_at(e, BASE, 0, 2 * PG), 0);
		expect_rc(map_at(e, BASE + 4 * PG, 2 * PG, PG), -ENOMEM);
		expect_rc(map_at(e, BASE + 8 * PG, 4 * PG, 4 * PG), -ENOMEM);
		assert_int_equal(svf_container_nr_mappings(c), 1);
		expect_rc(th_dma_avail(c), LIMIT_DEF - 1);
		assert_int_equal(th_stats(c).locked_bytes, 2 * PG);
		assert_int_equal(svf_pinner_locked_bytes(e->f.p), 2 * PG);
		expect_untranslated(e, BASE + 4 * PG, PG);
		expect_untranslated(e, BASE + 8 * PG, 4 * PG);
		assert_int_equal(svf_container_check(c), 0);
		branches++;
	}
	if (e->cap_dropped) {
		assert_int_equal(cap_ipc_lock_set(true), 0);
		e->cap_dropped = false;
	}
	assert_true(branches >= 1);
	env_done(e);
}

/* ------------------------------------------------------------------ */
/* MAP_DMA: the first failing row decides                              */

static void t_map_order_row1_first(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	expect_rc(map_at(e, BASE, 0, PG), 0);
	/* argsz < 32 with: size 0, a wrap, an overlap, the MSI window. */
	expect_rc(map_raw(c, 31, TH_RW, e->va, BASE, 0), -EINVAL);
	expect_rc(map_raw(c, 31, TH_RW, e->va, WRAP_IOVA, WRAP_SIZE), -EINVAL);
	expect_rc(map_raw(c, 24, TH_RW, e->va, BASE, PG), -EINVAL);
	expect_rc(map_raw(c, 8, TH_RW, e->va, MSI_START, PG), -EINVAL);
	/* An unknown flag with a wrap (EOVERFLOW otherwise) or an overlap (EEXIST). */
	expect_rc(map_raw(c, 32, TH_RW | 8, e->va, WRAP_IOVA, WRAP_SIZE), -EINVAL);
	expect_rc(map_raw(c, 32, TH_RW | 8, e->va, BASE, PG), -EINVAL);
	expect_rc(map_raw(c, 32, VFIO_DMA_MAP_FLAG_VADDR | 16, e->va, BASE + 8 * PG, PG),
		  -EINVAL); /* ENOENT otherwise */
	assert_int_equal(svf_container_nr_mappings(c), 1);
	env_done(e);
}

static void t_map_order_row2_before_row3(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	/* Size 0 at a nonzero iova: iova + size - 1 would wrap, but row 2 decides. */
	expect_rc(map_at(e, BASE, 0, 0), -EINVAL);
	expect_rc(map_at(e, 0ULL - PG, 0, 0), -EINVAL);
	expect_rc(th_map(c, PG, e->va + PG, 0, TH_RW), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	env_done(e);
}

static void t_map_order_row3_before_rows4_5(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	/* wrap + misaligned iova/size/vaddr: row 3 before row 5. */
	expect_rc(map_at(e, 0ULL - 0x800, 0, PG), -EOVERFLOW);
	expect_rc(map_at(e, WRAP_IOVA, 0, WRAP_SIZE + 0x800), -EOVERFLOW);
	expect_rc(th_map(c, WRAP_IOVA, e->va + 0x800, WRAP_SIZE, TH_RW), -EOVERFLOW);
	/* wrap + no prot, or VADDR with READ: row 3 before row 4. */
	expect_rc(th_map(c, WRAP_IOVA, e->va, WRAP_SIZE, 0), -EOVERFLOW);
	expect_rc(th_map(c, BASE, 0ULL - PG, 2 * PG,
			 VFIO_DMA_MAP_FLAG_VADDR | VFIO_DMA_MAP_FLAG_READ), -EOVERFLOW);
	/* No prot + misaligned: row 4 (EINVAL, as row 5 would be). */
	expect_rc(th_map(c, BASE + 0x800, e->va, PG, 0), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	env_done(e);
}

static void t_map_order_row5_before_rows6_7(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	/* Misaligned and overlapping: row 5's EINVAL, not EEXIST. */
	expect_rc(map_at(e, BASE, 0x800, 4 * PG), -EINVAL);
	expect_rc(map_at(e, BASE + PG, 0, PG + 0x10), -EINVAL);
	/* VADDR, misaligned, no mapping there: row 5's EINVAL, not ENOENT. */
	expect_rc(th_map(c, BASE + 16 * PG, e->va + 0x800, PG, VFIO_DMA_MAP_FLAG_VADDR),
		  -EINVAL);
	expect_rc(th_map(c, BASE + 16 * PG + 0x800, e->va, PG, VFIO_DMA_MAP_FLAG_VADDR),
		  -EINVAL);
	/* VADDR over a valid mapping: row 6's EINVAL, not row 7's EEXIST. */
	expect_rc(th_map(c, BASE, e->va, 4 * PG, VFIO_DMA_MAP_FLAG_VADDR), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	env_done(e);
}

static void t_map_order_row7_before_rows8_9_11(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	expect_rc(map_at(e, IOVA_TOP - 2 * PG, 0, 2 * PG), 0);
	expect_rc(map_at(e, MSI_START - 2 * PG, 2 * PG, 2 * PG), 0);
	/* Overlap and above 2^48: EEXIST (row 7 before row 9). */
	expect_rc(map_at(e, IOVA_TOP - PG, 4 * PG, 2 * PG), -EEXIST);
	expect_rc(map_at(e, IOVA_TOP - 2 * PG, 4 * PG, 8 * PG), -EEXIST);
	/* Overlap and into the MSI window: EEXIST. */
	expect_rc(map_at(e, MSI_START - PG, 4 * PG, 2 * PG), -EEXIST);
	/* Overlap over a vaddr that cannot be pinned: EEXIST, not EFAULT (row 11). */
	expect_rc(th_map(c, MSI_START - 2 * PG, PG, PG, TH_RW), -EEXIST);
	assert_int_equal(svf_container_nr_mappings(c), 2);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 2);
	env_done(e);
}

static void t_map_order_limit_used_up(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .limit = 4 });

	for (unsigned i = 0; i < 4; i++)
		expect_rc(map_at(e, BASE + 4 * i * PG, i * PG, 2 * PG), 0);
	expect_rc(th_dma_avail(c), 0);
	/* Overlap with the limit used up: EEXIST (row 7 before row 8). */
	expect_rc(map_at(e, BASE + PG, 8 * PG, 2 * PG), -EEXIST);
	expect_rc(map_at(e, BASE, 8 * PG, 2 * PG), -EEXIST);
	/* The limit used up and the MSI window or above 2^48: ENOSPC (row 8 before 9). */
	expect_rc(map_at(e, MSI_START, 8 * PG, PG), -ENOSPC);
	expect_rc(map_at(e, IOVA_TOP, 8 * PG, PG), -ENOSPC);
	/* ... and a vaddr that cannot be pinned: ENOSPC (row 8 before row 11). */
	expect_rc(th_map(c, BASE + 32 * PG, PG, PG, TH_RW), -ENOSPC);
	/* Row 4 still comes first. */
	expect_rc(th_map(c, BASE + 32 * PG, e->va, PG, 0), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 4);
	expect_rc(th_dma_avail(c), 0);
	env_done(e);
}

static void t_map_order_row9_before_row11(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);

	/* vaddr 0x1000 is never mapped in a process: pinning it would be EFAULT. */
	expect_rc(th_map(c, MSI_START, PG, PG, TH_RW), -EINVAL);
	expect_rc(th_map(c, IOVA_TOP - PG, PG, 2 * PG, TH_RW), -EINVAL);
	expect_rc(th_map(c, IOVA_TOP, PG, PG, TH_RW), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF);
	assert_int_equal(pinned_now(e), 0);
	env_done(e);
}

/* ------------------------------------------------------------------ */
/* UNMAP_DMA, row by row                                               */

static void t_unmap_row1_argsz_and_flags(void **state)
{
	static const uint32_t bad_flags[] = { 1u << 3, 1u << 4, 1u << 31 };
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t sz;

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	expect_rc(unmap_raw(c, 0, 0, BASE, 4 * PG, &sz), -EINVAL);
	assert_int_equal(sz, 4 * PG);
	expect_rc(unmap_raw(c, 23, 0, BASE, 4 * PG, &sz), -EINVAL);
	assert_int_equal(sz, 4 * PG);
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		expect_rc(unmap_raw(c, 24, bad_flags[i], BASE, 4 * PG, &sz), -EINVAL);
		assert_int_equal(sz, 4 * PG);
		expect_rc(unmap_raw(c, 24, VFIO_DMA_UNMAP_FLAG_ALL | bad_flags[i], 0, 0, &sz),
			  -EINVAL);
		assert_int_equal(sz, 0);
	}
	/* argsz < 24 beats a wrap (EOVERFLOW otherwise). */
	expect_rc(unmap_raw(c, 23, 0, WRAP_IOVA, WRAP_SIZE, NULL), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_translated(e, BASE, 4 * PG);
	/* argsz larger than the struct is fine. */
	expect_rc(unmap_raw(c, 40, 0, BASE, 4 * PG, &sz), 0);
	assert_int_equal(sz, 4 * PG);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	env_done(e);
}

static void t_unmap_row2_dirty_bitmap_combinations(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t bits[8] = { 0 }, sz;

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	/* With ALL, with VADDR. */
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .flags = VFIO_DMA_UNMAP_FLAG_ALL,
						    .pgsize = PG, .bm_size = 8 }, bits, &sz),
		  -EINVAL);
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .flags = VFIO_DMA_UNMAP_FLAG_VADDR,
						    .iova = BASE, .size = 4 * PG,
						    .pgsize = PG, .bm_size = 8 }, bits, &sz),
		  -EINVAL);
	assert_int_equal(sz, 4 * PG);
	/* argsz < 48, even with a wrapping range (EOVERFLOW otherwise). */
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .argsz = 24, .iova = WRAP_IOVA,
						    .size = WRAP_SIZE, .pgsize = PG,
						    .bm_size = 8 }, bits, &sz), -EINVAL);
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .argsz = 47, .iova = WRAP_IOVA,
						    .size = WRAP_SIZE, .pgsize = PG,
						    .bm_size = 8 }, bits, &sz), -EINVAL);
	assert_int_equal(sz, WRAP_SIZE);
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .flags = VFIO_DMA_UNMAP_FLAG_VADDR,
						    .iova = WRAP_IOVA, .size = WRAP_SIZE,
						    .pgsize = PG, .bm_size = 8 }, bits, NULL),
		  -EINVAL);
	/* Control: a well-formed bitmap lets the wrap through to row 8. */
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = WRAP_IOVA, .size = WRAP_SIZE,
						    .pgsize = PG, .bm_size = 8 }, bits, NULL),
		  -EOVERFLOW);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_translated(e, BASE, 4 * PG);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(bits[i], 0);
	env_done(e);
}

static void t_unmap_row3_bitmap_checks(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	/*
	 * Static, not on the stack: a 256 MiB bitmap claimed at a stack
	 * address can pass the top of the user address space (access_ok's
	 * EINVAL, as on Linux); the data segment lies far below it.
	 */
	static uint64_t bits[8];
	uint64_t sz;

	memset(bits, 0, sizeof(bits));
	/* Wrapping ranges: whatever passes rows 1-3 answers row 8's EOVERFLOW. */
	const uint64_t w4 = WRAP_IOVA, s4 = WRAP_SIZE;         /* 4 pages */
	const uint64_t w65 = 0ULL - 64 * PG, s65 = 65 * PG;    /* 65 pages */

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	/* Bitmap of 0 bytes. */
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = w4, .size = s4, .pgsize = PG,
						    .bm_size = 0 }, bits, NULL), -EINVAL);
	/* size / bitmap pgsize gives 0 pages. */
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = w4, .size = s4, .pgsize = 1ULL << 21,
						    .bm_size = 8 }, bits, NULL), -EINVAL);
	/* Over 256 MiB; exactly 256 MiB passes. */
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = w4, .size = s4, .pgsize = PG,
						    .bm_size = 256 * MIB + 1 }, bits, NULL),
		  -EINVAL);
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = w4, .size = s4, .pgsize = PG,
						    .bm_size = 256 * MIB }, bits, NULL),
		  -EOVERFLOW);
	/* Too small for the pages, rounded up to 64-bit words. */
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = w4, .size = s4, .pgsize = PG,
						    .bm_size = 7 }, bits, NULL), -EINVAL);
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = w4, .size = s4, .pgsize = PG,
						    .bm_size = 8 }, bits, NULL), -EOVERFLOW);
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = w65, .size = s65, .pgsize = PG,
						    .bm_size = 8 }, bits, NULL), -EINVAL);
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = w65, .size = s65, .pgsize = PG,
						    .bm_size = 15 }, bits, NULL), -EINVAL);
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = w65, .size = s65, .pgsize = PG,
						    .bm_size = 16 }, bits, NULL), -EOVERFLOW);
	/* On a real mapping: nothing is removed, size is not written back. */
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = BASE, .size = 4 * PG, .pgsize = PG,
						    .bm_size = 0 }, bits, &sz), -EINVAL);
	assert_int_equal(sz, 4 * PG);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_translated(e, BASE, 4 * PG);
	env_done(e);
}

static void t_unmap_row5_misaligned_iova(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t sz;

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	expect_rc(th_unmap(c, BASE + 0x800, 4 * PG, 0, &sz), -EINVAL);
	assert_int_equal(sz, 4 * PG);
	expect_rc(th_unmap(c, BASE - 1, 4 * PG, 0, &sz), -EINVAL);
	/* With ALL too (row 5 before row 6), and before a wrap (row 8). */
	expect_rc(th_unmap(c, 0x800, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz), -EINVAL);
	expect_rc(th_unmap(c, WRAP_IOVA + 8, WRAP_SIZE, 0, &sz), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_translated(e, BASE, 4 * PG);
	env_done(e);
}

static void t_unmap_row6_all_with_range(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t sz;

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	expect_rc(th_unmap(c, BASE, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz), -EINVAL);
	assert_int_equal(sz, 0);
	expect_rc(th_unmap(c, 0, 4 * PG, VFIO_DMA_UNMAP_FLAG_ALL, &sz), -EINVAL);
	assert_int_equal(sz, 4 * PG);
	expect_rc(th_unmap(c, BASE, 4 * PG, VFIO_DMA_UNMAP_FLAG_ALL, &sz), -EINVAL);
	/* ALL with a nonzero, odd size: row 6 (there is no row 7 for ALL). */
	expect_rc(th_unmap(c, 0, 0x800, VFIO_DMA_UNMAP_FLAG_ALL, &sz), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_translated(e, BASE, 4 * PG);
	env_done(e);
}

static void t_unmap_row7_size(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t sz;

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	expect_rc(th_unmap(c, BASE, 0, 0, &sz), -EINVAL);
	assert_int_equal(sz, 0);
	expect_rc(th_unmap(c, BASE, 0x800, 0, &sz), -EINVAL);
	expect_rc(th_unmap(c, BASE, 4 * PG + 1, 0, &sz), -EINVAL);
	assert_int_equal(sz, 4 * PG + 1);
	/* A misaligned size that also wraps: row 7 before row 8. */
	expect_rc(th_unmap(c, WRAP_IOVA, WRAP_SIZE + 0x800, 0, &sz), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_translated(e, BASE, 4 * PG);
	env_done(e);
}

static void t_unmap_row8_wrap(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t sz;

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	expect_rc(th_unmap(c, WRAP_IOVA, WRAP_SIZE, 0, &sz), -EOVERFLOW);
	assert_int_equal(sz, WRAP_SIZE);
	expect_rc(th_unmap(c, PG, 0ULL - PG, 0, &sz), 0); /* ends exactly at 2^64 */
	assert_int_equal(sz, 4 * PG);
	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	/* Starting inside a mapping and wrapping: row 8 before row 10. */
	expect_rc(th_unmap(c, BASE + PG, 0ULL - BASE, 0, &sz), -EOVERFLOW);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_translated(e, BASE, 4 * PG);
	env_done(e);
}

static void t_unmap_row9_dirty_bitmap_tracking_off(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t bits[8] = { 0 }, sz;

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = BASE, .size = 4 * PG, .pgsize = PG,
						    .bm_size = 8 }, bits, &sz), -EINVAL);
	assert_int_equal(sz, 4 * PG);
	/* Bitmap page size other than 4 KiB, tracking off. */
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = BASE, .size = 4 * PG,
						    .pgsize = 2 * PG, .bm_size = 8 }, bits, &sz),
		  -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_translated(e, BASE, 4 * PG);
	assert_int_equal(bits[0], 0);
	env_done(e);
}

static void t_unmap_row10_bisect(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	const uint64_t a = BASE, b = BASE + 8 * PG; /* A and B: 4 pages each, a gap between */
	uint64_t sz;

	expect_rc(map_at(e, a, 0, 4 * PG), 0);
	expect_rc(map_at(e, b, 4 * PG, 4 * PG), 0);
	expect_translated(e, a, 4 * PG);
	expect_translated(e, b, 4 * PG);
	expect_rc(th_unmap(c, a + PG, 3 * PG, 0, &sz), -EINVAL);     /* starts inside A */
	assert_int_equal(sz, 3 * PG);
	expect_rc(th_unmap(c, a, 2 * PG, 0, &sz), -EINVAL);          /* ends inside A */
	assert_int_equal(sz, 2 * PG);
	expect_rc(th_unmap(c, a + 2 * PG, 4 * PG, 0, &sz), -EINVAL); /* inside A to the gap */
	expect_rc(th_unmap(c, a + 6 * PG, 4 * PG, 0, &sz), -EINVAL); /* the gap into B */
	expect_rc(th_unmap(c, a, 10 * PG, 0, &sz), -EINVAL);         /* all of A, half of B */
	assert_int_equal(sz, 10 * PG);
	expect_rc(th_unmap(c, a + PG, 11 * PG, 0, &sz), -EINVAL);    /* into A, all of B */
	expect_rc(th_unmap(c, a + PG, PG, 0, &sz), -EINVAL);         /* one page inside */
	/* Nothing was removed by any of them. */
	assert_int_equal(svf_container_nr_mappings(c), 2);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 2);
	assert_int_equal(pinned_now(e), 8);
	expect_translated(e, a, 4 * PG);
	expect_translated(e, b, 4 * PG);
	/* From the gap before A to the gap after B removes both whole. */
	expect_rc(th_unmap(c, a - PG, 14 * PG, 0, &sz), 0);
	assert_int_equal(sz, 8 * PG);
	expect_untranslated(e, a, 12 * PG);
	env_done(e);
}

static void t_unmap_size_written_back_only_on_success(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t sz;

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	expect_rc(unmap_raw(c, 24, 0, BASE + PG, 0x12345000, &sz), -EINVAL); /* bisect */
	assert_int_equal(sz, 0x12345000);
	expect_rc(unmap_raw(c, 24, 0, BASE + 0x10, 8 * PG, &sz), -EINVAL);   /* misaligned */
	assert_int_equal(sz, 8 * PG);
	expect_rc(unmap_raw(c, 24, 0, WRAP_IOVA, WRAP_SIZE, &sz), -EOVERFLOW);
	assert_int_equal(sz, WRAP_SIZE);
	/* Success writes the sum of the mappings removed, not the request. */
	expect_rc(unmap_raw(c, 24, 0, BASE - 8 * PG, 32 * PG, &sz), 0);
	assert_int_equal(sz, 4 * PG);
	/* Success with nothing there writes 0. */
	expect_rc(unmap_raw(c, 24, 0, BASE, 32 * PG, &sz), 0);
	assert_int_equal(sz, 0);
	env_done(e);
}

static void t_unmap_empty_range(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t sz = 1;

	expect_rc(th_unmap(c, BASE, PG, 0, &sz), 0); /* empty container */
	assert_int_equal(sz, 0);
	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	expect_rc(map_at(e, BASE + 8 * PG, 4 * PG, 4 * PG), 0);
	sz = 1;
	expect_rc(th_unmap(c, BASE + 4 * PG, 4 * PG, 0, &sz), 0); /* the gap, touching both */
	assert_int_equal(sz, 0);
	sz = 1;
	expect_rc(th_unmap(c, BASE + 64 * PG, 64 * PG, 0, &sz), 0);
	assert_int_equal(sz, 0);
	sz = 1;
	expect_rc(th_unmap(c, MSI_START, MSI_LAST + 1 - MSI_START, 0, &sz), 0);
	assert_int_equal(sz, 0);
	sz = 1;
	expect_rc(th_unmap(c, IOVA_TOP, PG, 0, &sz), 0);
	assert_int_equal(sz, 0);
	sz = 1;
	expect_rc(th_unmap(c, 0ULL - PG, PG, 0, &sz), 0);
	assert_int_equal(sz, 0);
	assert_int_equal(svf_container_nr_mappings(c), 2);
	expect_translated(e, BASE, 4 * PG);
	expect_translated(e, BASE + 8 * PG, 4 * PG);
	env_done(e);
}

static void t_unmap_several_mappings_summed(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t sz;

	expect_rc(map_at(e, BASE, 0, PG), 0);                    /* A: 1 page */
	expect_rc(map_at(e, BASE + 2 * PG, PG, 2 * PG), 0);      /* B: 2 pages */
	expect_rc(map_at(e, BASE + 8 * PG, 3 * PG, 4 * PG), 0);  /* C: 4 pages */
	expect_rc(map_at(e, BASE + 12 * PG, 7 * PG, 8 * PG), 0); /* D: 8 pages, touching C */
	/* Translate every page once so the IOTLB holds them. */
	expect_translated(e, BASE, PG);
	expect_translated(e, BASE + 2 * PG, 2 * PG);
	expect_translated(e, BASE + 8 * PG, 12 * PG);
	assert_int_equal(pinned_now(e), 15);

	/* Exactly B. */
	expect_rc(th_unmap(c, BASE + 2 * PG, 2 * PG, 0, &sz), 0);
	assert_int_equal(sz, 2 * PG);
	expect_untranslated(e, BASE + 2 * PG, 2 * PG);
	expect_translated(e, BASE, PG);
	assert_int_equal(pinned_now(e), 13);
	/* C and D together (touching), from exactly C's start to D's end. */
	expect_rc(th_unmap(c, BASE + 8 * PG, 12 * PG, 0, &sz), 0);
	assert_int_equal(sz, 12 * PG);
	expect_untranslated(e, BASE + 8 * PG, 12 * PG);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 1);
	/* Put them back and take everything with one range padded by gaps. */
	expect_rc(map_at(e, BASE + 2 * PG, PG, 2 * PG), 0);
	expect_rc(map_at(e, BASE + 8 * PG, 3 * PG, 4 * PG), 0);
	expect_rc(map_at(e, BASE + 12 * PG, 7 * PG, 8 * PG), 0);
	expect_translated(e, BASE + 8 * PG, 12 * PG);
	expect_rc(th_unmap(c, BASE - 16 * PG, 64 * PG, 0, &sz), 0);
	assert_int_equal(sz, 15 * PG);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF);
	assert_int_equal(pinned_now(e), 0);
	assert_int_equal(th_stats(c).locked_bytes, 0);
	expect_untranslated(e, BASE, 20 * PG);
	env_done(e);
}

/*
 * When an unmap's pages are released: at once under the waiting policies;
 * under lazy the ioctl returns with them still pinned (and no wait spent),
 * and the queue's flush releases them.
 */
static void t_unmap_release_point(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	struct svf_stats before, after;
	uint64_t sz;

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	expect_translated(e, BASE, 4 * PG);
	before = th_stats(c);
	expect_rc(th_unmap(c, BASE, 4 * PG, 0, &sz), 0);
	assert_int_equal(sz, 4 * PG);
	after = th_stats(c);
	if (e->v->policy == SVF_POLICY_LAZY) {
		assert_int_equal(after.pinned_now, 4);
		assert_int_equal(after.waits, before.waits);
		assert_int_equal(svf_container_flush(c), 0);
		after = th_stats(c);
		assert_int_equal(after.waits, before.waits + 1);
		assert_int_equal(after.lazy_flush_timeout + after.lazy_flush_full, 0);
	} else {
		assert_true(after.waits > before.waits);
	}
	assert_int_equal(after.pinned_now, 0);
	assert_int_equal(after.locked_bytes, 0);
	expect_untranslated(e, BASE, 4 * PG);
	env_done(e);
}

static void t_unmap_all(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t sz = 1;

	expect_rc(th_unmap(c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz), 0); /* nothing there */
	assert_int_equal(sz, 0);
	expect_rc(map_at(e, 0, 0, PG), 0);
	expect_rc(map_at(e, BASE, PG, 4 * PG), 0);
	expect_rc(map_at(e, MSI_LAST + 1, 5 * PG, 2 * PG), 0);
	expect_rc(map_at(e, IOVA_TOP - 3 * PG, 7 * PG, 3 * PG), 0);
	expect_translated(e, 0, PG);
	expect_translated(e, BASE, 4 * PG);
	expect_translated(e, MSI_LAST + 1, 2 * PG);
	expect_translated(e, IOVA_TOP - 3 * PG, 3 * PG);
	expect_rc(th_unmap(c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz), 0);
	assert_int_equal(sz, 10 * PG);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF);
	assert_int_equal(pinned_now(e), 0);
	expect_untranslated(e, 0, PG);
	expect_untranslated(e, BASE, 4 * PG);
	expect_untranslated(e, MSI_LAST + 1, 2 * PG);
	expect_untranslated(e, IOVA_TOP - 3 * PG, 3 * PG);
	expect_rc(th_unmap(c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz), 0);
	assert_int_equal(sz, 0);
	env_done(e);
}

static void t_unmap_v1_start_inside(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .type = VFIO_TYPE1_IOMMU });
	uint64_t sz;

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	expect_translated(e, BASE, 4 * PG);
	sz = 1;
	expect_rc(th_unmap(c, BASE + PG, PG, 0, &sz), 0);
	assert_int_equal(sz, 0);
	sz = 1;
	expect_rc(th_unmap(c, BASE + PG, 16 * PG, 0, &sz), 0); /* past its end */
	assert_int_equal(sz, 0);
	sz = 1;
	expect_rc(th_unmap(c, BASE + 3 * PG, PG, 0, &sz), 0);  /* its last page */
	assert_int_equal(sz, 0);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	assert_int_equal(pinned_now(e), 4);
	expect_translated(e, BASE, 4 * PG);
	env_done(e);
}

static void t_unmap_v1_first_byte_removes_whole(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .type = VFIO_TYPE1_IOMMU });
	const uint64_t a = BASE, b = BASE + 16 * PG;
	uint64_t sz;

	expect_rc(map_at(e, a, 0, 4 * PG), 0);
	expect_rc(map_at(e, b, 4 * PG, 8 * PG), 0);
	expect_translated(e, a, 4 * PG);
	expect_translated(e, b, 8 * PG);
	/* Covering only A's first page removes all of A. */
	expect_rc(th_unmap(c, a, PG, 0, &sz), 0);
	assert_int_equal(sz, 4 * PG);
	expect_untranslated(e, a, 4 * PG);
	assert_int_equal(pinned_now(e), 8);
	/* Starting in the gap before B and ending inside it removes all of B. */
	expect_rc(th_unmap(c, b - PG, 3 * PG, 0, &sz), 0);
	assert_int_equal(sz, 8 * PG);
	expect_untranslated(e, b, 8 * PG);
	assert_int_equal(svf_container_nr_mappings(c), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF);
	assert_int_equal(pinned_now(e), 0);
	env_done(e);
}

static void t_unmap_v1_all_and_checks(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .type = VFIO_TYPE1_IOMMU });
	uint64_t sz;

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	expect_rc(map_at(e, BASE + 8 * PG, 4 * PG, PG), 0);
	/* The argument rows hold for v1 too. */
	expect_rc(th_unmap(c, BASE + 0x800, PG, 0, &sz), -EINVAL);
	expect_rc(th_unmap(c, BASE, 0, 0, &sz), -EINVAL);
	expect_rc(th_unmap(c, WRAP_IOVA, WRAP_SIZE, 0, &sz), -EOVERFLOW);
	expect_rc(th_unmap(c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz), 0);
	assert_int_equal(sz, 5 * PG);
	assert_int_equal(pinned_now(e), 0);
	expect_untranslated(e, BASE, 9 * PG);
	env_done(e);
}

/* ------------------------------------------------------------------ */
/* VADDR: update the vaddr of a mapping (MAP row 6, UNMAP row 11)      */

static void t_vaddr_invalidate_and_update(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	const uint64_t a = BASE;
	uint64_t sz;

	expect_rc(map_at(e, a, 0, 4 * PG), 0);
	expect_translated(e, a, 4 * PG);
	/* VADDR unmap only marks the mapping: pins and translations stay. */
	expect_rc(th_unmap(c, a, 4 * PG, VFIO_DMA_UNMAP_FLAG_VADDR, &sz), 0);
	assert_int_equal(sz, 4 * PG);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	assert_int_equal(pinned_now(e), 4);
	expect_translated(e, a, 4 * PG);
	assert_int_equal(svf_container_check(c), 0);
	/* Already vaddr-invalid: row 11. */
	expect_rc(th_unmap(c, a, 4 * PG, VFIO_DMA_UNMAP_FLAG_VADDR, &sz), -EINVAL);
	/* MAP VADDR must match iova and size exactly (row 6's EINVAL). */
	expect_rc(th_map(c, a, e->va, 2 * PG, VFIO_DMA_MAP_FLAG_VADDR), -EINVAL);
	expect_rc(th_map(c, a + PG, e->va, 4 * PG, VFIO_DMA_MAP_FLAG_VADDR), -EINVAL);
	expect_rc(th_map(c, a - PG, e->va, 8 * PG, VFIO_DMA_MAP_FLAG_VADDR), -EINVAL);
	/* A normal map over it is still an overlap. */
	expect_rc(map_at(e, a, 0, 4 * PG), -EEXIST);
	/* The exact range: the vaddr is valid again. */
	expect_rc(th_map(c, a, e->va, 4 * PG, VFIO_DMA_MAP_FLAG_VADDR), 0);
	expect_rc(th_map(c, a, e->va, 4 * PG, VFIO_DMA_MAP_FLAG_VADDR), -EINVAL);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 1);
	assert_int_equal(pinned_now(e), 4);
	expect_translated(e, a, 4 * PG);
	/* A normal unmap removes it as usual. */
	expect_rc(th_unmap(c, a, 4 * PG, 0, &sz), 0);
	assert_int_equal(sz, 4 * PG);
	assert_int_equal(pinned_now(e), 0);
	env_done(e);
}

static void t_vaddr_unmap_rolls_back(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	const uint64_t a = BASE, b = BASE + 8 * PG;
	uint64_t sz;

	expect_rc(map_at(e, a, 0, 4 * PG), 0);
	expect_rc(map_at(e, b, 4 * PG, 4 * PG), 0);
	expect_rc(th_unmap(c, b, 4 * PG, VFIO_DMA_UNMAP_FLAG_VADDR, &sz), 0);
	assert_int_equal(sz, 4 * PG);
	/* A then B: B is already invalid, so the call fails and A is rolled back. */
	expect_rc(th_unmap(c, a, 12 * PG, VFIO_DMA_UNMAP_FLAG_VADDR, &sz), -EINVAL);
	assert_int_equal(sz, 12 * PG);
	expect_rc(th_map(c, a, e->va, 4 * PG, VFIO_DMA_MAP_FLAG_VADDR), -EINVAL); /* A valid */
	expect_rc(th_map(c, b, e->va + 4 * PG, 4 * PG, VFIO_DMA_MAP_FLAG_VADDR), 0); /* B not */
	assert_int_equal(svf_container_nr_mappings(c), 2);
	assert_int_equal(pinned_now(e), 8);
	expect_translated(e, a, 4 * PG);
	expect_translated(e, b, 4 * PG);
	env_done(e);
}

/* ------------------------------------------------------------------ */
/* DIRTY_PAGES argument rows, and UNMAP row 9 with tracking on          */

static void t_dirty_pages_v1_eacces(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .type = VFIO_TYPE1_IOMMU });

	expect_rc(dirty_raw(c, 8, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), -EACCES);
	expect_rc(dirty_raw(c, 0, 0xff), -EACCES); /* before the argument checks */
	expect_rc(softvfio_ioctl(c, VFIO_IOMMU_DIRTY_PAGES, NULL), -EACCES); /* before it is read */
	env_done(e);
}

static void t_dirty_pages_flags(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	const uint32_t start = VFIO_IOMMU_DIRTY_PAGES_FLAG_START;
	const uint32_t stop = VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP;
	const uint32_t get = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;

	expect_rc(dirty_raw(c, 7, start), -EINVAL);
	expect_rc(dirty_raw(c, 8, 8), -EINVAL);
	expect_rc(dirty_raw(c, 8, start | 8), -EINVAL);
	expect_rc(dirty_raw(c, 8, start | stop), -EINVAL);
	expect_rc(dirty_raw(c, 8, start | get), -EINVAL);
	expect_rc(dirty_raw(c, 8, 0), -EINVAL);
	expect_rc(dirty_raw(c, 8, start), 0);
	expect_rc(dirty_raw(c, 8, start), 0); /* idempotent */
	expect_rc(dirty_raw(c, 8, stop), 0);
	expect_rc(dirty_raw(c, 8, stop), 0);
	env_done(e);
}

static void t_dirty_pages_get_bitmap_order(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t bits[8] = { 0 };

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	expect_rc(dirty_get(c, 47, BASE, 4 * PG, PG, 8, bits), -EINVAL);        /* argsz-8 < 40 */
	expect_rc(dirty_get(c, 48, BASE, 0, PG, 8, bits), -EINVAL);             /* size 0 */
	expect_rc(dirty_get(c, 48, WRAP_IOVA, WRAP_SIZE, PG, 8, bits), -EOVERFLOW); /* tracking off */
	expect_rc(dirty_get(c, 48, WRAP_IOVA, WRAP_SIZE, PG, 0, bits), -EOVERFLOW); /* before bitmap */
	expect_rc(dirty_get(c, 48, BASE, 4 * PG, PG, 0, bits), -EINVAL);
	expect_rc(dirty_get(c, 48, BASE, 4 * PG, PG, 8, bits), -EINVAL);        /* tracking off */
	assert_int_equal(bits[0], 0);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	env_done(e);
}

static void t_unmap_row9_bitmap_pgsize_tracking_on(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t bits[8] = { 0 }, sz;

	expect_rc(map_at(e, BASE, 0, 4 * PG), 0);
	expect_rc(dirty_raw(c, 8, VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = BASE, .size = 4 * PG,
						    .pgsize = 2 * PG, .bm_size = 8 }, bits, &sz),
		  -EINVAL);
	assert_int_equal(sz, 4 * PG);
	assert_int_equal(svf_container_nr_mappings(c), 1);
	expect_translated(e, BASE, 4 * PG);
	/* Bisecting with tracking on is still row 10. */
	expect_rc(unmap_bitmap(c, &(struct bm_req){ .iova = BASE + PG, .size = 2 * PG,
						    .pgsize = PG, .bm_size = 8 }, bits, &sz),
		  -EINVAL);
	assert_int_equal(bits[0], 0);
	expect_rc(dirty_raw(c, 8, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP), 0);
	env_done(e);
}

/* ------------------------------------------------------------------ */
/* GET_INFO                                                            */

#define INFO_FILL 0xaa

/* GET_INFO into a 256-byte buffer filled with 0xAA, argsz set to argsz. */
static long get_info(struct svf_container *c, union info_buf *ib, uint32_t argsz)
{
	memset(ib->b, INFO_FILL, sizeof(ib->b));
	ib->info.argsz = argsz;
	return softvfio_ioctl(c, VFIO_IOMMU_GET_INFO, &ib->info);
}

static void expect_untouched(const union info_buf *ib, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (ib->b[i] != INFO_FILL)
			fail_msg("byte %zu was written (0x%02x)", i, ib->b[i]);
}

static void t_info_argsz_below_16(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	union info_buf buf;

	for (uint32_t argsz = 0; argsz < 16; argsz++) {
		expect_rc(get_info(c, &buf, argsz), -EINVAL);
		assert_int_equal(buf.info.argsz, argsz);
		expect_untouched(&buf, 4, 256);
	}
	env_done(e);
}

/* argsz 16..19: only argsz, flags and iova_pgsizes come back. */
static void t_info_argsz_16_to_19(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	struct vfio_iommu_type1_info *info;
	union info_buf buf;

	for (uint32_t argsz = 16; argsz < 20; argsz++) {
		expect_rc(get_info(c, &buf, argsz), 0);
		info = &buf.info;
		assert_int_equal(info->flags, VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
		assert_int_equal(info->iova_pgsizes, 0x40201000ULL);
		assert_int_equal(info->argsz, INFO_NEED);
		expect_untouched(&buf, 16, 256);
	}
	env_done(e);
}

/*
 * argsz 20..23: as in Linux (capsz = offsetofend(cap_offset) = 20), the
 * reply includes cap_offset, 0 since the chain does not fit; bytes from 20
 * on stay untouched.
 */
static void t_info_argsz_20_to_23(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	struct vfio_iommu_type1_info *info;
	union info_buf buf;

	for (uint32_t argsz = 20; argsz < 24; argsz++) {
		expect_rc(get_info(c, &buf, argsz), 0);
		info = &buf.info;
		assert_int_equal(info->flags, VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
		assert_int_equal(info->iova_pgsizes, 0x40201000ULL);
		assert_int_equal(info->argsz, INFO_NEED);
		assert_int_equal(info->cap_offset, 0);
		expect_untouched(&buf, 20, 256);
	}
	env_done(e);
}

static void t_info_argsz_too_small_for_caps(void **state)
{
	static const uint32_t sizes[] = { 24, 32, 64, INFO_NEED - 8, INFO_NEED - 1 };
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	struct vfio_iommu_type1_info *info;
	union info_buf buf;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		expect_rc(get_info(c, &buf, sizes[i]), 0);
		info = &buf.info;
		assert_int_equal(info->flags, VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
		assert_int_equal(info->iova_pgsizes, 0x40201000ULL);
		assert_int_equal(info->cap_offset, 0);
		assert_int_equal(info->argsz, INFO_NEED);
		expect_untouched(&buf, 24, 256);
	}
	env_done(e);
}

static void t_info_capability_chain(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	struct vfio_iommu_type1_info *info;
	struct vfio_info_cap_header *h;
	struct vfio_iommu_type1_info_cap_migration *mig;
	struct vfio_iommu_type1_info_dma_avail *avail;
	struct vfio_iommu_type1_info_cap_iova_range *ir;
	union info_buf buf;
	uint8_t *b = buf.b;

	expect_rc(map_at(e, BASE, 0, PG), 0);
	expect_rc(get_info(c, &buf, INFO_NEED), 0);
	info = &buf.info;
	assert_int_equal(info->argsz, INFO_NEED);
	assert_int_equal(info->flags, VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS);
	assert_int_equal(info->iova_pgsizes, 0x40201000ULL);
	assert_int_equal(info->cap_offset, INFO_CAP_MIG);

	/* MIGRATION first. */
	h = (void *)(b + info->cap_offset);
	assert_int_equal(h->id, VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION);
	assert_int_equal(h->version, 1);
	assert_int_equal(h->next, INFO_CAP_AVAIL);
	mig = (void *)h;
	assert_int_equal(mig->flags, 0);
	assert_int_equal(mig->pgsize_bitmap, 4096);
	assert_int_equal(mig->max_dirty_bitmap_size, 256 * MIB);

	/* DMA_AVAIL second, padded to 8 bytes. */
	h = (void *)(b + h->next);
	assert_int_equal(h->id, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL);
	assert_int_equal(h->version, 1);
	assert_int_equal(h->next, INFO_CAP_IOVA);
	assert_int_equal(h->next % 8, 0);
	avail = (void *)h;
	assert_int_equal(avail->avail, LIMIT_DEF - 1);

	/* IOVA_RANGE last: the two valid ranges, end inclusive. */
	h = (void *)(b + h->next);
	assert_int_equal(h->id, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
	assert_int_equal(h->version, 1);
	assert_int_equal(h->next, 0);
	ir = (void *)h;
	assert_int_equal(ir->nr_iovas, 2);
	assert_int_equal(ir->reserved, 0);
	assert_int_equal(ir->iova_ranges[0].start, 0);
	assert_int_equal(ir->iova_ranges[0].end, 0xfedfffffULL);
	assert_int_equal(ir->iova_ranges[1].start, 0xfef00000ULL);
	assert_int_equal(ir->iova_ranges[1].end, 0xffffffffffffULL);
	assert_int_equal((uint8_t *)&ir->iova_ranges[2] - b, INFO_NEED);

	/* A larger buffer: argsz is left as given, nothing beyond the chain is written. */
	expect_rc(get_info(c, &buf, 256), 0);
	assert_int_equal(info->argsz, 256);
	assert_int_equal(info->cap_offset, INFO_CAP_MIG);
	assert_int_equal(((struct vfio_info_cap_header *)(b + INFO_CAP_IOVA))->next, 0);
	expect_untouched(&buf, INFO_NEED, 256);
	env_done(e);
}

static void t_info_dma_avail_counts(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open(e);
	uint64_t sz;

	expect_rc(th_dma_avail(c), LIMIT_DEF);
	expect_rc(map_at(e, BASE, 0, PG), 0);
	expect_rc(map_at(e, BASE + 2 * PG, PG, PG), 0);
	expect_rc(map_at(e, BASE + 4 * PG, 2 * PG, PG), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 3);
	expect_rc(map_at(e, BASE, 0, PG), -EEXIST);
	expect_rc(map_at(e, MSI_START, 0, PG), -EINVAL);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 3);
	expect_rc(th_unmap(c, BASE + 2 * PG, PG, 0, &sz), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF - 2);
	expect_rc(th_unmap(c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz), 0);
	expect_rc(th_dma_avail(c), LIMIT_DEF);
	env_done(e);
}

static void t_info_dma_avail_small_limit(void **state)
{
	struct env *e = *state;
	struct svf_container *c = env_open_with(e, &(struct env_opts){ .limit = 4 });
	uint64_t sz;

	expect_rc(th_dma_avail(c), 4);
	for (unsigned i = 0; i < 4; i++)
		expect_rc(map_at(e, BASE + 2 * i * PG, i * PG, PG), 0);
	expect_rc(th_dma_avail(c), 0);
	expect_rc(map_at(e, BASE + 16 * PG, 0, PG), -ENOSPC);
	expect_rc(th_dma_avail(c), 0);
	expect_rc(th_unmap(c, BASE, 4 * PG, 0, &sz), 0);
	assert_int_equal(sz, 2 * PG);
	expect_rc(th_dma_avail(c), 2);
	env_done(e);
}

/* ------------------------------------------------------------------ */
/* Registration                                                        */

enum vset { V_ONE, V_ALL, V_PROC };

struct test_desc {
	const char *name;
	CMUnitTestFunction fn;
	enum vset vset;
};

#define T(fn, vs) { &#fn[2], fn, vs } /* the name without its "t_" */

static const struct test_desc tests[] = {
	T(t_abi_request_numbers, V_ONE),
	T(t_abi_struct_layouts, V_ONE),
	T(t_api_version, V_ONE),
	T(t_check_extension_before_set_iommu, V_ONE),
	T(t_check_extension_after_set_iommu_v2, V_ONE),
	T(t_check_extension_after_set_iommu_v1, V_ONE),
	T(t_set_iommu_bad_values, V_ONE),
	T(t_set_iommu_v1_then_again, V_ONE),
	T(t_set_iommu_v2_then_again, V_ONE),
	T(t_backend_requests_before_set_iommu, V_ONE),
	T(t_unknown_request_after_set_iommu, V_ONE),

	T(t_map_success_baseline, V_ALL),
	T(t_map_row1_argsz, V_ALL),
	T(t_map_row1_flags, V_ALL),
	T(t_map_row2_size_zero, V_ALL),
	T(t_map_row3_wrap, V_ALL),
	T(t_map_row4_prot, V_ALL),
	T(t_map_row5_alignment, V_ALL),
	T(t_map_row6_vaddr_no_mapping, V_ALL),
	T(t_map_row6_vaddr_over_valid_mapping, V_ALL),
	T(t_map_row7_overlap, V_ALL),
	T(t_map_row8_entry_limit, V_ALL),
	T(t_map_row9_msi_window, V_ALL),
	T(t_map_row9_aperture, V_ALL),
	T(t_map_row10_enomem, V_ALL),
	T(t_map_row11_domain_map_fails_gives_slot_back, V_ALL),
	T(t_map_row11_efault_hole_middle, V_PROC),
	T(t_map_row11_efault_hole_first_and_last, V_PROC),
	T(t_map_row11_efault_no_access, V_PROC),
	T(t_map_row11_memlock, V_PROC),
	T(t_map_order_row1_first, V_ALL),
	T(t_map_order_row2_before_row3, V_ALL),
	T(t_map_order_row3_before_rows4_5, V_ALL),
	T(t_map_order_row5_before_rows6_7, V_ALL),
	T(t_map_order_row7_before_rows8_9_11, V_ALL),
	T(t_map_order_limit_used_up, V_ALL),
	T(t_map_order_row9_before_row11, V_ALL),

	T(t_unmap_row1_argsz_and_flags, V_ALL),
	T(t_unmap_row2_dirty_bitmap_combinations, V_ALL),
	T(t_unmap_row3_bitmap_checks, V_ALL),
	T(t_unmap_row5_misaligned_iova, V_ALL),
	T(t_unmap_row6_all_with_range, V_ALL),
	T(t_unmap_row7_size, V_ALL),
	T(t_unmap_row8_wrap, V_ALL),
	T(t_unmap_row9_dirty_bitmap_tracking_off, V_ALL),
	T(t_unmap_row10_bisect, V_ALL),
	T(t_unmap_size_written_back_only_on_success, V_ALL),
	T(t_unmap_empty_range, V_ALL),
	T(t_unmap_several_mappings_summed, V_ALL),
	T(t_unmap_release_point, V_ALL),
	T(t_unmap_all, V_ALL),
	T(t_unmap_v1_start_inside, V_ALL),
	T(t_unmap_v1_first_byte_removes_whole, V_ALL),
	T(t_unmap_v1_all_and_checks, V_ALL),

	T(t_vaddr_invalidate_and_update, V_ALL),
	T(t_vaddr_unmap_rolls_back, V_ALL),

	T(t_dirty_pages_v1_eacces, V_ONE),
	T(t_dirty_pages_flags, V_ONE),
	T(t_dirty_pages_get_bitmap_order, V_ONE),
	T(t_unmap_row9_bitmap_pgsize_tracking_on, V_ALL),

	T(t_info_argsz_below_16, V_ONE),
	T(t_info_argsz_16_to_19, V_ONE),
	T(t_info_argsz_20_to_23, V_ONE),
	T(t_info_argsz_too_small_for_caps, V_ONE),
	T(t_info_capability_chain, V_ONE),
	T(t_info_dma_avail_counts, V_ONE),
	T(t_info_dma_avail_small_limit, V_ONE),
};

int main(void)
{
	const size_t ntests = sizeof(tests) / sizeof(tests[0]);
	struct CMUnitTest *cases = calloc(ntests * NR_VARIANTS, sizeof(*cases));
	size_t n = 0;
	int rc;

	if (!cases)
		return 1;
	for (size_t i = 0; i < ntests; i++) {
		size_t first = 0, last = 0;

		switch (tests[i].vset) {
		case V_ONE: first = ONE_VARIANT; last = ONE_VARIANT + 1; break;
		case V_ALL: first = 0; last = NR_VARIANTS; break;
		case V_PROC: first = 0; last = NR_PROCESS; break;
		}
		for (size_t v = first; v < last; v++) {
			char *name;

			if (tests[i].vset == V_ONE)
				name = strdup(tests[i].name);
			else if (asprintf(&name, "%s/%s", tests[i].name, variants[v].name) < 0)
				name = NULL;
			if (!name)
				return 1;
			cases[n++] = (struct CMUnitTest){
				.name = name,
				.test_func = tests[i].fn,
				.setup_func = env_setup,
				.teardown_func = env_teardown,
				.initial_state = (void *)&variants[v],
			};
		}
	}
	rc = _cmocka_run_group_tests("uapi", cases, n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free((void *)cases[i].name);
	free(cases);
	return rc;
}

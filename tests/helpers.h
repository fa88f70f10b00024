/* SPDX-License-Identifier: MIT */
/*
 * Test fixtures shared by the cmocka suites: a container on a chosen policy
 * and backend with the type1v2 backend set, and one-line wrappers of the
 * map and unmap ioctls that return the ioctl's result.
 */
#ifndef SOFTVFIO_TEST_HELPERS_H
#define SOFTVFIO_TEST_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <softvfio/softvfio.h>

#include "svf_test.h"

struct th_opts {
	enum svf_policy policy;
	enum svf_backend backend;
	enum svf_layout layout;
	unsigned batch_cap;       /* 0: default 512 */
	unsigned dma_entry_limit; /* 0: default */
	unsigned long type;       /* 0: VFIO_TYPE1v2_IOMMU; ~0UL: do not SET_IOMMU */
	bool cost_off;
	bool hw_dirty;            /* the unit tracks dirtiness in its page table */
	uint64_t memlock_limit;   /* process backend: locked-memory limit in bytes; 0: RLIMIT_MEMLOCK */
	bool cpu_time;            /* per-request CPU time (svf_container_config.cpu_time) */
	unsigned lazy_queue_cap;  /* lazy: flush queue regions; 0: default */
	uint64_t lazy_timeout_us; /* lazy: timer; 0: default; TH_LAZY_NEVER: never within a test */
	bool dma_check;           /* check mode (svf_container_config.dma_check) */
};

/* A lazy timeout no test outlives: the queue is flushed only when full or by destroy. */
#define TH_LAZY_NEVER (3600ull * 1000 * 1000)

struct th_fixture {
	struct svf_container *c;
	struct svf_pinner *p;
};

/*
 * The IOMMU driver the suites run on: SOFTVFIO_TEST_DRIVER from the
 * environment ("vtd" or "amd"; the build runs some suites on both), or vtd.
 */
const char *th_driver(void);

/* Create pinner + container (+ SET_IOMMU). 0 or -errno (nothing left behind). */
int th_open(const struct th_opts *o, struct th_fixture *f);
void th_close(struct th_fixture *f);

/* MAP_DMA with the given flags (VFIO_DMA_MAP_FLAG_*). Returns the ioctl result. */
long th_map(struct svf_container *c, uint64_t iova, uint64_t vaddr, uint64_t size, uint32_t flags);
#define TH_RW (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)
/* UNMAP_DMA; *size_out (may be NULL) receives the size field as the ioctl left it. */
long th_unmap(struct svf_container *c, uint64_t iova, uint64_t size, uint32_t flags,
	      uint64_t *size_out);
/* The DMA_AVAIL count from GET_INFO, or a negative errno. */
long th_dma_avail(struct svf_container *c);

/*
 * A VFIO_IOMMU_DIRTY_PAGES argument with its GET_BITMAP range: the two
 * fields of struct vfio_iommu_type1_dirty_bitmap, then in the place of its
 * data[] the range. The fields are spelled out because a struct ending in a
 * flexible array inside another struct is a GNU extension that clang
 * refuses under -Werror; the layout is the same (checked below).
 */
struct th_dirty_req {
	__u32 argsz;
	__u32 flags;
	struct vfio_iommu_type1_dirty_bitmap_get g;
};
_Static_assert(offsetof(struct th_dirty_req, flags) ==
		       offsetof(struct vfio_iommu_type1_dirty_bitmap, flags) &&
	       offsetof(struct th_dirty_req, g) == offsetof(struct vfio_iommu_type1_dirty_bitmap, data) &&
	       sizeof(struct th_dirty_req) == sizeof(struct vfio_iommu_type1_dirty_bitmap) +
		       sizeof(struct vfio_iommu_type1_dirty_bitmap_get),
	       "th_dirty_req is a dirty_bitmap header with its get range");

/* Anonymous rw memory of len bytes (page aligned); th_free_mem unmaps it. */
void *th_alloc_mem(size_t len);
void th_free_mem(void *p, size_t len);

/* The suites' log callback (installed before main): "softvfio: MSG" on stderr. */
void th_log_stderr(void *opaque, enum svf_log_level level, const char *msg);

/* Stats of c. */
struct svf_stats th_stats(struct svf_container *c);

/*
 * Count the log lines that contain needle (they are still printed) from
 * th_log_count_begin on; th_log_count_end returns the count and stops.
 */
void th_log_count_begin(const char *needle);
unsigned th_log_count_end(void);

/*
 * Around device accesses a test makes fault on purpose (memory it unmapped
 * behind the library's back), on the calling thread: valgrind's memcheck
 * does not report them as invalid accesses. No effect without valgrind.
 */
void th_bad_access_begin(void);
void th_bad_access_end(void);

#endif

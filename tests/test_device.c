/* SPDX-License-Identifier: MIT */
/*
 * The emulated device (device.h), the DMA barrier (iommu.h: a wait waits
 * for every DMA section that may use what it removed), the lazy policy's
 * flush queue, check mode, and the stress test: device threads doing random
 * DMA over mapped IOVAs while this thread maps and unmaps at random, under
 * every policy, at least a million DMAs each, counting accesses to unpinned
 * pages (must be 0) and accesses after a returned unmap (0 except lazy).
 *
 * SOFTVFIO_STRESS_DMAS overrides the DMAs per policy (default 1,000,000).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include <softvfio/device.h>

#include "helpers.h"

#define PG 4096ull

struct dev_env {
	struct svf_container *c;
	struct svf_pinner *p;
	uint8_t *mem;
	size_t mem_len;
};

static void env_open(struct dev_env *e, enum svf_policy policy, enum svf_backend backend,
		     bool check, unsigned lazy_cap, uint64_t lazy_timeout_us, size_t mem_len)
{
	struct svf_pinner_config pc = { .backend = backend };
	struct svf_container_config cc;

	memset(e, 0, sizeof(*e));
	assert_int_equal(svf_pinner_create(&pc, &e->p), 0);
	svf_container_default_config(&cc);
	cc.policy = policy;
	cc.pinner = e->p;
	cc.dma_check = check;
	if (lazy_cap)
		cc.lazy_queue_cap = lazy_cap;
	if (lazy_timeout_us)
		cc.lazy_timeout_us = lazy_timeout_us;
	assert_int_equal(svf_container_create(&cc, &e->c), 0);
	assert_int_equal(softvfio_ioctl(e->c, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU), 0);
	if (mem_len) {
		e->mem = backend == SVF_BACKEND_PROCESS ? th_alloc_mem(mem_len) :
							  (uint8_t *)(uintptr_t)0x10000000;
		e->mem_len = mem_len;
	}
}

static void env_close(struct dev_env *e)
{
	svf_container_destroy(e->c);
	assert_int_equal(svf_pinner_pinned_pages(e->p), 0);
	svf_pinner_destroy(e->p);
}

static void env_close_mem(struct dev_env *e, bool process)
{
	env_close(e);
	if (process && e->mem)
		th_free_mem(e->mem, e->mem_len);
}

static int dma(struct svf_device *dev, int access, uint64_t iova, uint64_t len, uint8_t byte,
	       uint32_t *sum, uint64_t *fault)
{
	struct svf_dma_req r = { .access = access, .iova = iova, .len = len, .byte = byte };
	int rc = svf_device_dma(dev, &r);

	if (sum)
		*sum = r.sum;
	if (fault)
		*fault = r.fault_iova;
	return rc;
}

/* Reads and writes reach the process's memory; faults are recorded. */
static void test_device_rw_and_faults(void **state)
{
	struct svf_device *dev;
	struct svf_dma_fault f[16];
	struct dev_env e;
	uint64_t fault;
	uint32_t sum;
	size_t nr;
	bool ovf;

	(void)state;
	env_open(&e, SVF_POLICY_GATHER, SVF_BACKEND_PROCESS, false, 0, 0, 4 * PG);
	memset(e.mem, 2, 4 * PG);
	assert_int_equal(th_map(e.c, 0x100000, (uintptr_t)e.mem, 2 * PG, TH_RW), 0);
	assert_int_equal(th_map(e.c, 0x200000, (uintptr_t)e.mem + 2 * PG, PG,
				VFIO_DMA_MAP_FLAG_READ), 0);
	assert_int_equal(th_map(e.c, 0x300000, (uintptr_t)e.mem + 3 * PG, PG,
				VFIO_DMA_MAP_FLAG_WRITE), 0);
	assert_int_equal(svf_device_create(e.c, NULL, &dev), 0);

	assert_int_equal(dma(dev, SVF_PROT_READ, 0x100000, 2 * PG, 0, &sum, NULL), 0);
	assert_int_equal(sum, 2 * 2 * PG);
	assert_int_equal(dma(dev, SVF_PROT_WRITE, 0x100010, 16, 9, NULL, NULL), 0);
	assert_int_equal(e.mem[0x10], 9);
	assert_int_equal(e.mem[0x1f], 9);
	assert_int_equal(e.mem[0x20], 2);

	/* No translation: the request's first IOVA, then the first page past a mapping. */
	assert_int_equal(dma(dev, SVF_PROT_READ, 0x180000, 8, 0, NULL, &fault), 1);
	assert_int_equal(fault, 0x180000);
	assert_int_equal(dma(dev, SVF_PROT_WRITE, 0x101ff0, 0x20, 5, NULL, &fault), 1);
	assert_int_equal(fault, 0x102000);
	assert_int_equal(e.mem[2 * PG - 1], 5); /* written up to the fault */
	/* Permission: write to read-only, read from write-only. */
	assert_int_equal(dma(dev, SVF_PROT_WRITE, 0x200000, 4, 1, NULL, &fault), 1);
	assert_int_equal(dma(dev, SVF_PROT_READ, 0x300000, 4, 0, NULL, &fault), 1);
	assert_int_equal(dma(dev, SVF_PROT_WRITE, 0x300000, 4, 7, NULL, NULL), 0);
	assert_int_equal(e.mem[3 * PG], 7);
	/* Above the address width. */
	assert_int_equal(dma(dev, SVF_PROT_READ, 1ull << 50, 4, 0, NULL, &fault), 1);

	assert_int_equal(svf_device_read_faults(dev, f, 16, &nr, &ovf), 0);
	assert_int_equal(nr, 5);
	assert_false(ovf);
	assert_int_equal(f[0].iova, 0x180000);
	assert_int_equal(f[0].err, -ENOENT);
	assert_int_equal(f[0].reason, SVF_DMA_FR_READ);
	assert_int_equal(f[1].iova, 0x102000);
	assert_int_equal(f[1].reason, SVF_DMA_FR_WRITE);
	assert_int_equal(f[2].err, -EACCES);
	assert_int_equal(f[2].access, SVF_PROT_WRITE);
	assert_int_equal(f[2].reason, SVF_DMA_FR_WRITE);
	assert_int_equal(f[3].err, -EACCES);
	assert_int_equal(f[3].reason, SVF_DMA_FR_READ);
	assert_int_equal(f[4].reason, SVF_DMA_FR_ADDR_BEYOND_AW);
	assert_int_equal(svf_device_read_faults(dev, f, 16, &nr, &ovf), 0);
	assert_int_equal(nr, 0);

	/* Bad requests. */
	assert_int_equal(dma(dev, SVF_PROT_READ | SVF_PROT_WRITE, 0x100000, 4, 0, NULL, NULL),
			 -EINVAL);

	struct svf_stats st;
	svf_device_destroy(dev);
	svf_container_get_stats(e.c, &st);
	assert_int_equal(st.dma_requests, 9);
	assert_int_equal(st.dma_faults, 5);
	env_close_mem(&e, true);
}

#define VANISHED_LOG "without svf_pinner_release"

/*
 * Memory the program unmaps behind the library's back (a plain munmap, not
 * svf_pinner_release) while it is mapped for DMA: a device write and a
 * device read of it fail as IOMMU faults (record err -EFAULT) instead of
 * killing the process; each is counted in dma_vanished, and the hole is
 * logged once however often it is reached. The pages still mapped keep
 * working; unmapping for DMA and closing still succeed. With and without
 * check mode.
 */
static void test_unmapped_behind_back(void **state)
{
	(void)state;
	for (int check = 0; check < 2; check++) {
		struct svf_dma_fault f[8];
		struct svf_device *dev;
		struct dev_env e;
		uint64_t fault = 0;
		uint32_t sum = 0;
		uint8_t *buf;
		size_t nr;

		env_open(&e, SVF_POLICY_STRICT, SVF_BACKEND_PROCESS, check, 0, 0, 0);
		buf = th_alloc_mem(4 * PG);
		assert_non_null(buf);
		memset(buf, 3, 4 * PG);
		assert_int_equal(th_map(e.c, 0x100000, (uintptr_t)buf, 4 * PG, TH_RW), 0);
		assert_int_equal(svf_device_create(e.c, NULL, &dev), 0);
		assert_int_equal(munmap(buf + PG, 2 * PG), 0);

		th_log_count_begin(VANISHED_LOG);
		th_bad_access_begin();
		/* The write runs up to the hole, then faults there. */
		assert_int_equal(dma(dev, SVF_PROT_WRITE, 0x100000, 4 * PG, 9, NULL, &fault), 1);
		th_bad_access_end();
		assert_int_equal(fault, 0x101000);
		assert_int_equal(buf[0], 9);
		assert_int_equal(buf[PG - 1], 9);
		assert_int_equal(buf[3 * PG], 3);
		assert_int_equal(th_stats(e.c).dma_vanished, 1);
		th_bad_access_begin();
		assert_int_equal(dma(dev, SVF_PROT_READ, 0x102ff8, 16, 0, NULL, &fault), 1);
		th_bad_access_end();
		assert_int_equal(fault, 0x102ff8);
		assert_int_equal(th_stats(e.c).dma_vanished, 2);
		assert_int_equal(th_log_count_end(), 1);

		assert_int_equal(svf_device_read_faults(dev, f, 8, &nr, NULL), 0);
		assert_int_equal(nr, 2);
		assert_int_equal(f[0].iova, 0x101000);
		assert_int_equal(f[0].err, -EFAULT);
		assert_int_equal(f[0].reason, SVF_DMA_FR_WRITE);
		assert_int_equal(f[1].iova, 0x102ff8);
		assert_int_equal(f[1].err, -EFAULT);
		assert_int_equal(f[1].reason, SVF_DMA_FR_READ);
		/* What the process still maps is reached as before. */
		assert_int_equal(dma(dev, SVF_PROT_READ, 0x103000, PG, 0, &sum, NULL), 0);
		assert_int_equal(sum, 3 * PG);
		assert_int_equal(th_stats(e.c).dma_faults, 2);
		assert_int_equal(th_stats(e.c).dma_unpinned_access, 0);
		svf_device_destroy(dev);
		assert_int_equal(th_unmap(e.c, 0x100000, 4 * PG, 0, NULL), 0);
		env_close(&e);
		munmap(buf, PG);
		munmap(buf + 3 * PG, PG);
	}
}

/*
 * A file mapping truncated under the device (SIGBUS where the CPU would
 * read) and memory made inaccessible (mprotect, SIGSEGV on a mapped page):
 * both fail as faults, each range logged once.
 */
static void test_truncated_and_protected(void **state)
{
	struct svf_device *dev;
	struct dev_env e;
	uint64_t fault = 0;
	uint8_t *file, *anon;
	int fd;

	(void)state;
	env_open(&e, SVF_POLICY_STRICT, SVF_BACKEND_PROCESS, false, 0, 0, 0);
	fd = memfd_create("svf-truncated", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 2 * PG), 0);
	file = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(file != MAP_FAILED);
	memset(file, 4, 2 * PG);
	anon = th_alloc_mem(PG);
	assert_non_null(anon);
	assert_int_equal(th_map(e.c, 0x100000, (uintptr_t)file, 2 * PG, TH_RW), 0);
	assert_int_equal(th_map(e.c, 0x200000, (uintptr_t)anon, PG, TH_RW), 0);
	assert_int_equal(svf_device_create(e.c, NULL, &dev), 0);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(mprotect(anon, PG, PROT_NONE), 0);

	th_log_count_begin(VANISHED_LOG);
	th_bad_access_begin();
	assert_int_equal(dma(dev, SVF_PROT_READ, 0x100000, 2 * PG, 0, NULL, &fault), 1);
	assert_int_equal(fault, 0x100000);
	assert_int_equal(dma(dev, SVF_PROT_WRITE, 0x101000, 8, 1, NULL, &fault), 1);
	assert_int_equal(dma(dev, SVF_PROT_WRITE, 0x200000, 8, 1, NULL, &fault), 1);
	assert_int_equal(fault, 0x200000);
	th_bad_access_end();
	assert_int_equal(th_log_count_end(), 2);
	assert_int_equal(th_stats(e.c).dma_vanished, 3);
	svf_device_destroy(dev);
	env_close(&e);
	munmap(file, 2 * PG);
	close(fd);
	th_free_mem(anon, PG);
}

static sigjmp_buf chain_env;
static volatile sig_atomic_t chain_hits;

static void chain_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	chain_hits++;
	siglongjmp(chain_env, 1);
}

/*
 * Faults that are not a device's still reach the program's own handler
 * while devices exist (the library's handler chains to it), and the
 * program's handler is back in place once the last device is gone.
 */
static void test_fault_handler_chains(void **state)
{
	struct sigaction sa, old_segv, now;
	struct svf_device *dev;
	struct dev_env e;
	volatile uint8_t *guard;

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = chain_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGSEGV, &sa, &old_segv), 0);
	guard = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(guard != MAP_FAILED);
	env_open(&e, SVF_POLICY_STRICT, SVF_BACKEND_PROCESS, false, 0, 0, PG);
	assert_int_equal(th_map(e.c, 0x100000, (uintptr_t)e.mem, PG, TH_RW), 0);
	assert_int_equal(svf_device_create(e.c, NULL, &dev), 0);
	assert_int_equal(sigaction(SIGSEGV, NULL, &now), 0);
	assert_true(now.sa_sigaction != chain_handler);

	chain_hits = 0;
	th_bad_access_begin();
	if (!sigsetjmp(chain_env, 1))
		guard[0] = 1; /* the program's own fault */
	th_bad_access_end();
	assert_int_equal(chain_hits, 1);
	if (!sigsetjmp(chain_env, 1))
		raise(SIGSEGV); /* a sent one */
	assert_int_equal(chain_hits, 2);
	assert_int_equal(dma(dev, SVF_PROT_WRITE, 0x100000, 8, 1, NULL, NULL), 0);

	svf_device_destroy(dev);
	assert_int_equal(sigaction(SIGSEGV, NULL, &now), 0);
	assert_true((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == chain_handler);
	assert_int_equal(th_unmap(e.c, 0x100000, PG, 0, NULL), 0);
	env_close_mem(&e, true);
	munmap((void *)guard, PG);
	assert_int_equal(sigaction(SIGSEGV, &old_segv, NULL), 0);
}

/* Submitted requests run on the device's threads; records overflow like VT-d's. */
static void test_device_submit_and_overflow(void **state)
{
	struct svf_device_config cfg = { .threads = 3, .queue_depth = 2, .fault_records = 2 };
	struct svf_dma_req r[6];
	struct svf_dma_fault f[4];
	struct svf_device *dev;
	struct dev_env e;
	uint8_t buf[64];
	size_t nr;
	bool ovf;

	(void)state;
	env_open(&e, SVF_POLICY_STRICT, SVF_BACKEND_PROCESS, false, 0, 0, PG);
	for (unsigned i = 0; i < PG; i++)
		e.mem[i] = (uint8_t)i;
	assert_int_equal(th_map(e.c, 0x100000, (uintptr_t)e.mem, PG, TH_RW), 0);
	assert_int_equal(svf_device_create(e.c, &cfg, &dev), 0);
	assert_int_equal(svf_device_threads(dev), 3);
	for (unsigned i = 0; i < 6; i++) {
		r[i] = (struct svf_dma_req){ .access = SVF_PROT_READ, .iova = 0x100000 + 64 * i,
					     .len = 64 };
		if (i == 0)
			r[i].buf = buf;
		if (i >= 3)
			r[i].iova = 0x900000 + PG * i; /* three faults, two records */
		assert_int_equal(svf_device_submit(dev, i % 3, &r[i]), 0);
	}
	assert_int_equal(svf_device_submit(dev, 3, &r[0]), -EINVAL);
	for (unsigned i = 0; i < 6; i++) {
		svf_device_wait(dev, &r[i]);
		assert_int_equal(r[i].status, i >= 3 ? 1 : 0);
	}
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(buf[i], i);
	assert_int_equal(svf_device_read_faults(dev, f, 4, &nr, &ovf), 0);
	assert_int_equal(nr, 2);
	assert_true(ovf);
	svf_device_destroy(dev);
	env_close_mem(&e, true);
}

/* Synthetic backend: translations only. */
static void test_device_synthetic(void **state)
{
	struct svf_device *dev;
	struct dev_env e;
	uint64_t fault;
	uint32_t sum = 1;

	(void)state;
	env_open(&e, SVF_POLICY_GATHER, SVF_BACKEND_SYNTHETIC, true, 0, 0, 0);
	assert_int_equal(th_map(e.c, 1ull << 40, 1ull << 30, 2ull << 20, TH_RW), 0);
	assert_int_equal(svf_device_create(e.c, NULL, &dev), 0);
	assert_int_equal(dma(dev, SVF_PROT_READ, 1ull << 40, 2ull << 20, 0, &sum, NULL), 0);
	assert_int_equal(sum, 0);
	assert_int_equal(dma(dev, SVF_PROT_WRITE, (1ull << 40) + (2ull << 20) - 8, 16, 1, NULL,
			     &fault), 1);
	assert_int_equal(fault, (1ull << 40) + (2ull << 20));
	svf_device_destroy(dev);
	struct svf_stats st;
	svf_container_get_stats(e.c, &st);
	assert_int_equal(st.dma_unpinned_access, 0);
	env_close(&e);
}

/*
 * The barrier: a wait does not complete while a DMA section that may use
 * what it removed is open. A device thread translates inside a section and
 * holds it; the unmap (strict: a wait per chunk) must return only after the
 * section ended, so the page is never unpinned under the device.
 */
struct barrier_arg {
	struct svf_domain *d;
	uint64_t iova;
	atomic_int phase; /* 1: translated inside the section; 2: section about to end */
	int rc;
};

static void *barrier_thread(void *p)
{
	struct barrier_arg *a = p;
	uint64_t phys;
	struct timespec ts = { .tv_nsec = 50 * 1000 * 1000 };

	svf_iommu_dma_begin(a->d);
	a->rc = svf_iommu_translate(a->d, a->iova, SVF_PROT_READ, &phys);
	atomic_store(&a->phase, 1);
	nanosleep(&ts, NULL);
	atomic_store(&a->phase, 2);
	svf_iommu_dma_end(a->d);
	return NULL;
}

static void test_wait_is_a_barrier(void **state)
{
	enum svf_policy policies[] = { SVF_POLICY_STRICT, SVF_POLICY_BATCHED, SVF_POLICY_GATHER };

	(void)state;
	for (unsigned i = 0; i < 3; i++) {
		struct barrier_arg a = { .iova = 0x100000 };
		struct dev_env e;
		pthread_t t;

		env_open(&e, policies[i], SVF_BACKEND_PROCESS, false, 0, 0, PG);
		assert_int_equal(th_map(e.c, 0x100000, (uintptr_t)e.mem, PG, TH_RW), 0);
		a.d = svf_container_domain(e.c, 0);
		assert_int_equal(pthread_create(&t, NULL, barrier_thread, &a), 0);
		while (atomic_load(&a.phase) < 1)
			sched_yield();
		assert_int_equal(th_unmap(e.c, 0x100000, PG, 0, NULL), 0);
		/* The unmap waited for the section: the device had finished with the page. */
		assert_int_equal(atomic_load(&a.phase), 2);
		assert_int_equal(a.rc, 0);
		pthread_join(t, NULL);
		env_close_mem(&e, true);
	}
}

/*
 * Lazy: the unmap returns before the flush. The timer cannot fire within
 * the test (TH_LAZY_NEVER), so what holds between the unmap and the flush
 * is checked exactly, however slow the machine: the pages stay pinned, the
 * IOTLB still translates the unmapped IOVA and the device reaches the page
 * through it, counted as an access after unmap and never as an access to
 * an unpinned page. Destroy flushes.
 */
static void test_lazy_unmap_returns_before_flush(void **state)
{
	struct svf_device *dev;
	struct svf_stats st;
	struct dev_env e;
	uint32_t sum;

	(void)state;
	env_open(&e, SVF_POLICY_LAZY, SVF_BACKEND_PROCESS, true, 0, TH_LAZY_NEVER, 4 * PG);
	memset(e.mem, 1, 4 * PG);
	assert_int_equal(th_map(e.c, 0x100000, (uintptr_t)e.mem, 4 * PG, TH_RW), 0);
	assert_int_equal(svf_device_create(e.c, NULL, &dev), 0);
	assert_int_equal(dma(dev, SVF_PROT_READ, 0x100000, 4 * PG, 0, &sum, NULL), 0);
	assert_int_equal(sum, 4 * PG);
	st = th_stats(e.c);
	uint64_t waits = st.waits;
	assert_int_equal(th_unmap(e.c, 0x100000, 4 * PG, 0, NULL), 0);
	st = th_stats(e.c);
	assert_int_equal(st.pinned_now, 4);
	assert_int_equal(st.waits, waits);
	assert_int_equal(st.lazy_flush_timeout, 0);
	assert_int_equal(dma(dev, SVF_PROT_READ, 0x100000, 8, 0, &sum, NULL), 0);
	assert_int_equal(sum, 8);
	st = th_stats(e.c);
	assert_int_equal(st.dma_after_unmap, 1);
	assert_int_equal(st.dma_unpinned_access, 0);
	svf_device_destroy(dev);
	assert_int_equal(svf_container_check(e.c), 0);
	env_close_mem(&e, true); /* destroy flushes; env_close checks no pin is left */
}

/*
 * Lazy: the timer flushes with no later call into the container (only
 * svf_container_get_stats, which flushes nothing). The poll has no time
 * limit that could fail on a slow machine short of the suite's timeout; what
 * is asserted is that the flush that happened was the timer's, exactly one,
 * and that it released the pages and the translation.
 */
static void test_lazy_timer(void **state)
{
	struct svf_device *dev;
	struct svf_stats st;
	struct dev_env e;

	(void)state;
	env_open(&e, SVF_POLICY_LAZY, SVF_BACKEND_PROCESS, true, 0, 1000, 4 * PG);
	memset(e.mem, 1, 4 * PG);
	assert_int_equal(th_map(e.c, 0x100000, (uintptr_t)e.mem, 4 * PG, TH_RW), 0);
	assert_int_equal(svf_device_create(e.c, NULL, &dev), 0);
	assert_int_equal(dma(dev, SVF_PROT_READ, 0x100000, 4 * PG, 0, NULL, NULL), 0);
	assert_int_equal(th_unmap(e.c, 0x100000, 4 * PG, 0, NULL), 0);
	do {
		usleep(1000);
		svf_container_get_stats(e.c, &st);
	} while (st.pinned_now);
	assert_int_equal(st.lazy_flush_timeout, 1);
	assert_int_equal(st.lazy_flush_full, 0);
	assert_int_equal(st.pages_unpinned, 4);
	assert_int_equal(st.dma_unpinned_access, 0);
	/* Invalidated and waited for: the device faults now. */
	assert_int_equal(dma(dev, SVF_PROT_READ, 0x100000, 8, 0, NULL, NULL), 1);
	svf_device_destroy(dev);
	assert_int_equal(svf_container_check(e.c), 0);
	env_close_mem(&e, true);
}

/* Lazy: a full queue flushes at once; destroy flushes the rest. */
static void test_lazy_full(void **state)
{
	struct svf_stats st;
	struct dev_env e;

	(void)state;
	env_open(&e, SVF_POLICY_LAZY, SVF_BACKEND_PROCESS, false, 4, 60ull * 1000 * 1000, 8 * PG);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(th_map(e.c, 0x100000 + 2 * PG * i, (uintptr_t)e.mem + PG * i, PG,
					TH_RW), 0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(th_unmap(e.c, 0x100000 + 2 * PG * i, PG, 0, NULL), 0);
	st = th_stats(e.c);
	assert_int_equal(st.waits, 0);
	assert_int_equal(st.pinned_now, 8);
	assert_int_equal(st.lazy_flush_full, 0);
	assert_int_equal(svf_container_check(e.c), 0);
	assert_int_equal(th_unmap(e.c, 0x100000 + 2 * PG * 3, PG, 0, NULL), 0);
	st = th_stats(e.c);
	assert_int_equal(st.lazy_flush_full, 1);
	assert_int_equal(st.waits, 1);
	assert_int_equal(st.pinned_now, 4);
	assert_int_equal(th_unmap(e.c, 0x100000 + 2 * PG * 4, PG, 0, NULL), 0);
	st = th_stats(e.c);
	assert_int_equal(st.pinned_now, 4);
	assert_int_equal(st.invariant_violations, 0);
	env_close_mem(&e, true); /* destroy flushes and unpins the rest (checked in env_close) */
}

/* Device creation walks every failure point and leaves nothing behind. */
static void test_device_create_faults(void **state)
{
	struct dev_env e;

	(void)state;
	env_open(&e, SVF_POLICY_GATHER, SVF_BACKEND_SYNTHETIC, false, 0, 0, 0);
	for (uint64_t n = 1;; n++) {
		struct svf_device_config cfg = { .threads = 2 };
		struct svf_device *dev = NULL;
		int rc;

		if (svf_fault_arm(n, 0) == -ENOTSUP)
			break;
		rc = svf_device_create(e.c, &cfg, &dev);
		if (!svf_fault_disarm()) {
			assert_int_equal(rc, 0);
			svf_device_destroy(dev);
			break;
		}
		assert_true(rc == -ENOMEM || rc == -EAGAIN);
		assert_null(dev);
	}
	env_close(&e);
}

/* ---- the stress test ---- */

#define SLOTS      64
#define SLOT_PAGES 4
#define SLOT_IOVA(i) (0x10000000ull + (uint64_t)(i) * 0x10000)

struct stress {
	atomic_uint_fast64_t issued;
	uint64_t target;
	unsigned seed[8];
};

static uint32_t xorshift(unsigned *s)
{
	unsigned x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

static bool stress_source(void *opaque, unsigned thread, struct svf_dma_req *req)
{
	struct stress *st = opaque;
	unsigned *s = &st->seed[thread];
	uint32_t r = xorshift(s), slot = r % SLOTS;
	uint64_t off = (xorshift(s) % (SLOT_PAGES * PG)) & ~7ull;
	uint64_t len = 1 + xorshift(s) % (2 * PG);

	if (atomic_fetch_add(&st->issued, 1) >= st->target)
		return false;
	if (off + len > SLOT_PAGES * PG)
		len = SLOT_PAGES * PG - off;
	req->access = (r >> 8) & 1 ? SVF_PROT_WRITE : SVF_PROT_READ;
	req->iova = SLOT_IOVA(slot) + off;
	req->len = len;
	req->byte = (uint8_t)r;
	return true;
}

static uint64_t stress_target(void)
{
	const char *s = getenv("SOFTVFIO_STRESS_DMAS");

	return s ? strtoull(s, NULL, 0) : 1000000;
}

static void stress_policy(enum svf_policy policy)
{
	struct stress st = { .target = stress_target() };
	struct svf_device_config cfg = {
		.threads = 2,
		.source = stress_source,
		.opaque = &st,
		.slice_bytes = 2 * PG,
	};
	bool mapped[SLOTS] = { 0 };
	unsigned wseed = 12345 + policy;
	struct svf_device *dev;
	struct svf_stats s;
	struct dev_env e;
	uint64_t maps = 0, unmaps = 0;

	for (unsigned i = 0; i < 8; i++)
		st.seed[i] = 0x9e3779b9u * (i + 1) + policy;
	/* Lazy: a short timeout and a small queue, so both flush triggers run. */
	env_open(&e, policy, SVF_BACKEND_PROCESS, true, 16, 500, SLOTS * SLOT_PAGES * PG);
	memset(e.mem, 0x5a, e.mem_len);
	for (unsigned i = 0; i < SLOTS; i += 2) {
		uint64_t vaddr = (uintptr_t)e.mem + (i % (SLOTS / 2)) * 2 * SLOT_PAGES * PG;

		assert_int_equal(th_map(e.c, SLOT_IOVA(i), vaddr, SLOT_PAGES * PG, TH_RW), 0);
		mapped[i] = true;
	}
	assert_int_equal(svf_device_create(e.c, &cfg, &dev), 0);
	while (atomic_load(&st.issued) < st.target) {
		uint32_t r = xorshift(&wseed), i = r % SLOTS;
		/* Slots alias: slot i and i + SLOTS/2 map the same memory (two pins per frame). */
		uint64_t vaddr = (uintptr_t)e.mem + (i % (SLOTS / 2)) * 2 * SLOT_PAGES * PG;

		if (mapped[i]) {
			assert_int_equal(th_unmap(e.c, SLOT_IOVA(i), SLOT_PAGES * PG, 0, NULL), 0);
			unmaps++;
		} else {
			uint32_t flags = (r >> 16) % 3 == 0 ? VFIO_DMA_MAP_FLAG_READ : TH_RW;

			assert_int_equal(th_map(e.c, SLOT_IOVA(i), vaddr, SLOT_PAGES * PG, flags), 0);
			maps++;
		}
		mapped[i] = !mapped[i];
	}
	svf_device_destroy(dev);
	svf_container_get_stats(e.c, &s);
	print_message("  %-8s dmas %llu pages %llu faults %llu | maps %llu unmaps %llu waits %llu "
		      "| unpinned %llu after-unmap %llu | wait sync %.1f us/wait\n",
		      svf_policy_name(policy), (unsigned long long)s.dma_requests,
		      (unsigned long long)s.dma_pages, (unsigned long long)s.dma_faults,
		      (unsigned long long)maps, (unsigned long long)unmaps,
		      (unsigned long long)s.waits, (unsigned long long)s.dma_unpinned_access,
		      (unsigned long long)s.dma_after_unmap,
		      s.waits ? s.wait_sync_ns / 1e3 / (double)s.waits : 0.0);
	assert_true(s.dma_requests >= st.target);
	assert_int_equal(s.dma_unpinned_access, 0);
	if (policy != SVF_POLICY_LAZY)
		assert_int_equal(s.dma_after_unmap, 0);
	assert_int_equal(s.invariant_violations, 0);
	assert_int_equal(svf_container_check(e.c), 0);
	env_close_mem(&e, true);
}

static void test_stress_strict(void **state)
{
	(void)state;
	stress_policy(SVF_POLICY_STRICT);
}

static void test_stress_batched(void **state)
{
	(void)state;
	stress_policy(SVF_POLICY_BATCHED);
}

static void test_stress_gather(void **state)
{
	(void)state;
	stress_policy(SVF_POLICY_GATHER);
}

static void test_stress_lazy(void **state)
{
	(void)state;
	stress_policy(SVF_POLICY_LAZY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_rw_and_faults),
		cmocka_unit_test(test_unmapped_behind_back),
		cmocka_unit_test(test_truncated_and_protected),
		cmocka_unit_test(test_fault_handler_chains),
		cmocka_unit_test(test_device_submit_and_overflow),
		cmocka_unit_test(test_device_synthetic),
		cmocka_unit_test(test_wait_is_a_barrier),
		cmocka_unit_test(test_lazy_unmap_returns_before_flush),
		cmocka_unit_test(test_lazy_timer),
		cmocka_unit_test(test_lazy_full),
		cmocka_unit_test(test_device_create_faults),
		cmocka_unit_test(test_stress_strict),
		cmocka_unit_test(test_stress_batched),
		cmocka_unit_test(test_stress_gather),
		cmocka_unit_test(test_stress_lazy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

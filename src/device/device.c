/* SPDX-License-Identifier: MIT */
/*
 * The emulated DMA engine (contract in <softvfio/device.h>).
 *
 * Theory of operation. A device holds its container's first domain, its
 * pinner and its DMA state (dmacheck.h), all fixed at create. Each device
 * thread owns a ring of submitted requests (queue_depth entries, allocated
 * at create) under its own mutex; it pops a request, runs it, marks it done
 * and signals, and when the ring is empty asks the source (if any) for a
 * request or sleeps on its condition variable.
 *
 * Running a request (dma_run): the request is cut at page boundaries; at
 * most slice_bytes of it run inside one DMA section. For each page: the
 * translation (a fault ends the request and is recorded), then, in check
 * mode, the pin state before, the access, and the pin state after; then the
 * access itself through the pinner's CPU pointer (process backend) or
 * nothing (synthetic). A process-backend frame without a CPU pointer is a
 * frame nothing pins: it is counted (check mode) and not touched.
 *
 * Memory the program unmapped behind the library's back: the CPU pointer
 * names an address the process no longer maps (or maps without access).
 * The access is guarded (recover.h; every device holds the handler from
 * create to destroy; one recovery point per slice, so the fast path adds
 * two stores per page): the fault ends the request as an IOMMU fault does
 * (a fault record with err -EFAULT; status 1), is counted (dma_vanished)
 * and logged once per range of the address space.
 *
 * Fault records: a fixed array under a mutex, as VT-d's fault recording
 * registers: a fault that finds every record full is dropped and sets the
 * overflow flag.
 *
 * Counters: each device thread counts in a private struct and folds it
 * into the container's DMA state every 256 requests and whenever it goes
 * idle; check-mode findings are added at once.
 *
 * Locking: a thread's ring, its done flags and its stop flag are protected
 * by the thread's mutex; the fault records by fault_lock; the rest is
 * immutable after create. Lock order: a thread mutex and fault_lock are
 * never held together. No device lock is held inside a DMA section except
 * fault_lock, which no waiter takes.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <softvfio/device.h>
#include <softvfio/softvfio.h>

#include "dmacheck.h"
#include "fault.h"
#include "recover.h"
#include "svf_log.h"

#define DEV_MAX_THREADS  64u
#define DEV_DEFAULT_DEPTH 64u
#define DEV_DEFAULT_FAULTS 8u
#define DEV_DEFAULT_SLICE (64u << 10)
#define DEV_FOLD_EVERY 256u
#define DEV_CALLER_THREAD UINT32_MAX

struct dev_counts {
	uint64_t requests, pages, faults;
};

struct dev_thread {
	struct svf_device *dev;
	unsigned index;
	pthread_t tid;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* work arrived, or a request completed */
	struct svf_dma_req **ring; /* queue_depth slots */
	unsigned head, len;       /* under lock */
	bool stop;                /* under lock */
	bool source_done;         /* thread-private */
	struct dev_counts counts; /* thread-private until folded */
};

struct svf_device {
	/* immutable after create */
	struct svf_container *c;
	struct svf_domain *dom;
	struct svf_pinner *pinner;
	struct svf_dmacheck *k;
	bool memory;              /* process backend: accesses touch memory */
	bool check;               /* check mode */
	uint64_t aperture_last;
	uint64_t slice;
	unsigned nthreads, depth;
	struct svf_device_config cfg;
	struct dev_thread *threads;

	pthread_mutex_t fault_lock;
	struct svf_dma_fault *faults; /* nfaults_max records */
	unsigned nfaults_max, nfaults; /* under fault_lock */
	bool fault_overflow;           /* under fault_lock */
};

static void *dev_zalloc(size_t n, size_t size)
{
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return NULL;
	return calloc(n, size);
}

static void record_fault(struct svf_device *dev, uint64_t iova, int access, int err,
			 unsigned thread)
{
	struct svf_dma_fault f = {
		.iova = iova,
		.access = access,
		.err = err,
		.thread = thread,
	};

	if (iova > dev->aperture_last)
		f.reason = SVF_DMA_FR_ADDR_BEYOND_AW;
	else
		f.reason = access == SVF_PROT_WRITE ? SVF_DMA_FR_WRITE : SVF_DMA_FR_READ;
	pthread_mutex_lock(&dev->fault_lock);
	if (dev->nfaults < dev->nfaults_max)
		dev->faults[dev->nfaults++] = f;
	else
		dev->fault_overflow = true;
	pthread_mutex_unlock(&dev->fault_lock);
}

static inline void count_add(uint64_t *ctr, uint64_t n)
{
	__atomic_add_fetch(ctr, n, __ATOMIC_RELAXED);
}

/*
 * The bus. The device reaches memory with relaxed atomic loads and stores
 * (aligned 8-byte words, bytes at the edges): two devices, or a device and
 * the CPU, racing on one page then get some interleaving of whole words, as
 * on hardware, instead of undefined behaviour; and ThreadSanitizer sees
 * accesses it can reason about. bus_write and bus_read are not inlined:
 * their loops then sit where their functions start, and their speed does
 * not move with the code around them (docs/benchmarks.md).
 */
static inline uint32_t word_sum(uint64_t w)
{
	w = (w & 0x00ff00ff00ff00ffull) + ((w >> 8) & 0x00ff00ff00ff00ffull);
	w = (w & 0x0000ffff0000ffffull) + ((w >> 16) & 0x0000ffff0000ffffull);
	return (uint32_t)((w & 0xffffffffull) + (w >> 32));
}

static __attribute__((noinline)) void bus_write(uint8_t *dst, const uint8_t *src, uint8_t byte, uint64_t n)
{
	const uint64_t fill = 0x0101010101010101ull * byte;
	uint64_t i = 0;

	for (; i < n && ((uintptr_t)(dst + i) & 7); i++)
		__atomic_store_n(dst + i, src ? src[i] : byte, __ATOMIC_RELAXED);
	for (; i + 8 <= n; i += 8) {
		uint64_t w = fill;

		if (src)
			memcpy(&w, src + i, 8);
		__atomic_store_n((uint64_t *)(void *)(dst + i), w, __ATOMIC_RELAXED);
	}
	for (; i < n; i++)
		__atomic_store_n(dst + i, src ? src[i] : byte, __ATOMIC_RELAXED);
}

static __attribute__((noinline)) uint32_t bus_read(uint8_t *dst, const uint8_t *src, uint64_t n)
{
	uint32_t sum = 0;
	uint64_t i = 0;

	for (; i < n && ((uintptr_t)(src + i) & 7); i++) {
		uint8_t b = __atomic_load_n(src + i, __ATOMIC_RELAXED);

		sum += b;
		if (dst)
			dst[i] = b;
	}
	for (; i + 8 <= n; i += 8) {
		uint64_t w = __atomic_load_n((const uint64_t *)(const void *)(src + i),
					     __ATOMIC_RELAXED);

		sum += word_sum(w);
		if (dst)
			memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++) {
		uint8_t b = __atomic_load_n(src + i, __ATOMIC_RELAXED);

		sum += b;
		if (dst)
			dst[i] = b;
	}
	return sum;
}

/* The memory access of one piece of a page; ptr is NULL on the synthetic backend. */
static void access_piece(struct svf_dma_req *req, uint8_t *ptr, uint64_t off, uint64_t n)
{
	if (!ptr)
		return;
	if (req->access == SVF_PROT_WRITE)
		bus_write(ptr, req->buf ? (const uint8_t *)req->buf + off : NULL, req->byte, n);
	else
		req->sum += bus_read(req->buf ? (uint8_t *)req->buf + off : NULL, ptr, n);
}

/* A guarded access faulted: count it; the first one in a range of the address space is logged. */
static void report_vanished(struct svf_device *dev, uint64_t iova, int access, uintptr_t bad,
			    int sig)
{
	uintptr_t lo, hi;
	bool mapped;

	count_add(&dev->k->dma_vanished, 1);
	if (!svf_recover_report(bad, &lo, &hi, &mapped))
		return;
	svf_log(SVF_LOG_ERR,
		"DMA %s of iova 0x%llx failed: the process %s pinned memory at 0x%llx "
		"(range 0x%llx-0x%llx) without svf_pinner_release; %s caught, reported as an "
		"IOMMU fault; repeats counted in dma_vanished only",
		access == SVF_PROT_WRITE ? "write" : "read", (unsigned long long)iova,
		!mapped ? "unmapped" : sig == SIGBUS ? "truncated the file under" : "revoked access to",
		(unsigned long long)bad,
		(unsigned long long)lo, (unsigned long long)hi, sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
}

/*
 * One page piece under check mode: pin state before and after, the unmap
 * stamp of its IOVA. Returns false when the frame must not be touched.
 */
static bool check_before(struct svf_device *dev, uint64_t phys, uint64_t *w1)
{
	*w1 = svf_pinner_pin_state(dev->pinner, phys);
	if (*w1 != UINT64_MAX && !SVF_PINSTATE_PINS(*w1)) {
		count_add(&dev->k->dma_unpinned_access, 1);
		return false;
	}
	return true;
}

static void check_after(struct svf_device *dev, uint64_t iova, uint64_t phys, uint64_t w1,
			uint64_t epoch0)
{
	uint64_t w2 = svf_pinner_pin_state(dev->pinner, phys);
	uint64_t *stamp;

	/* Acquire load above: a release that completed during the access shows here. */
	if (w1 != UINT64_MAX && SVF_PINSTATE_RELEASES(w2) != SVF_PINSTATE_RELEASES(w1))
		count_add(&dev->k->dma_unpinned_access, 1);
	stamp = dev->k->stamps ? svf_shadow_word(dev->k->stamps, iova >> SVF_PAGE_SHIFT) : NULL;
	if (stamp) {
		uint64_t s = __atomic_load_n(stamp, __ATOMIC_RELAXED);

		if (s && s <= epoch0)
			count_add(&dev->k->dma_after_unmap, 1);
	}
}

/* Where a request stands: in memory, so that it survives a jump out of an access. */
struct dma_pos {
	uint64_t iova, left, off;
	int status;
};

/*
 * Up to slice bytes of a request from *pos, inside a DMA section, each
 * access armed on r when memory is touched. *pos advances after each piece,
 * so after a jump out of an access it names that piece.
 */
static __attribute__((noinline)) void slice_pages(struct svf_device *dev,
						  struct svf_dma_req *req, unsigned thread,
						  struct dma_pos *pos, uint64_t slice,
						  uint64_t epoch0, struct dev_counts *cnt,
						  struct svf_recover *r)
{
	while (slice) {
		uint64_t phys, w1 = 0, iova = pos->iova;
		uint64_t n = SVF_PAGE_SIZE - (iova & (SVF_PAGE_SIZE - 1));
		uint8_t *ptr = NULL;
		bool touch = true;
		int rc;

		if (n > slice)
			n = slice;
		rc = iova > dev->aperture_last ?
			     -ENOENT :
			     svf_iommu_translate(dev->dom, iova, req->access, &phys);
		if (rc) {
			record_fault(dev, iova, req->access, rc, thread);
			req->fault_iova = iova;
			pos->status = 1;
			break;
		}
		if (dev->check)
			touch = check_before(dev, phys, &w1);
		if (dev->memory && touch) {
			ptr = svf_pinner_phys_to_ptr(dev->pinner, phys);
			if (!ptr && dev->check && w1 == UINT64_MAX)
				count_add(&dev->k->dma_unpinned_access, 1);
		}
		if (touch && ptr) {
			svf_recover_arm(r, ptr, n);
			access_piece(req, ptr, pos->off, n);
			svf_recover_disarm(r);
		}
		if (dev->check && touch)
			check_after(dev, iova, phys, w1, epoch0);
		cnt->pages++;
		pos->iova = iova + n;
		pos->off += n;
		pos->left -= n;
		slice -= n;
	}
}

/*
 * slice_pages under one recovery point (recover.h): its range names the
 * piece being accessed and is empty between accesses, so only a fault
 * inside an access comes back here. Not inlined, and nothing here is
 * modified between sigsetjmp and the jump: the recovery point's frame is
 * this one, and what the fault path reads is in memory (*pos, the request,
 * r's result). A point per slice rather than per page: sigsetjmp is the
 * guard's one real cost, and a page then pays two stores (docs/benchmarks.md).
 */
static __attribute__((noinline)) void run_slice(struct svf_device *dev, struct svf_dma_req *req,
						unsigned thread, struct dma_pos *pos,
						uint64_t slice, uint64_t epoch0,
						struct dev_counts *cnt)
{
	struct svf_recover r;

	if (!dev->memory) {
		slice_pages(dev, req, thread, pos, slice, epoch0, cnt, NULL);
		return;
	}
	svf_recover_init(&r);
	if (sigsetjmp(r.env, 0)) {
		svf_recover_resume(&r);
		report_vanished(dev, pos->iova, req->access, r.addr, r.sig);
		record_fault(dev, pos->iova, req->access, -EFAULT, thread);
		req->fault_iova = pos->iova;
		pos->status = 1;
		return;
	}
	svf_recover_enter(&r);
	slice_pages(dev, req, thread, pos, slice, epoch0, cnt, &r);
	svf_recover_leave();
}

/* Run one request; counts into *cnt. Returns req->status. */
static int dma_run(struct svf_device *dev, struct svf_dma_req *req, unsigned thread,
		   struct dev_counts *cnt)
{
	struct dma_pos pos = { .iova = req->iova, .left = req->len };
	uint64_t epoch0 = 0;

	req->sum = 0;
	req->fault_iova = 0;
	req->done_len = 0;
	cnt->requests++;
	if (req->access != SVF_PROT_READ && req->access != SVF_PROT_WRITE) {
		req->status = -EINVAL;
		return req->status;
	}
	/* The bus: an injected failure aborts the request before it starts. */
	if (svf_should_fail(SVF_FAULT_COPY)) {
		req->status = -EIO;
		return req->status;
	}
	if (dev->check)
		epoch0 = __atomic_load_n(&dev->k->epoch, __ATOMIC_ACQUIRE);
	while (pos.left && !pos.status) {
		svf_iommu_dma_begin(dev->dom);
		run_slice(dev, req, thread, &pos, pos.left < dev->slice ? pos.left : dev->slice,
			  epoch0, cnt);
		svf_iommu_dma_end(dev->dom);
	}
	if (pos.status)
		cnt->faults++;
	req->done_len = pos.off;
	req->status = pos.status;
	return pos.status;
}

static void fold_counts(struct svf_device *dev, struct dev_counts *cnt)
{
	if (cnt->requests)
		count_add(&dev->k->dma_requests, cnt->requests);
	if (cnt->pages)
		count_add(&dev->k->dma_pages, cnt->pages);
	if (cnt->faults)
		count_add(&dev->k->dma_faults, cnt->faults);
	*cnt = (struct dev_counts){ 0 };
}

static void *dev_thread_main(void *arg)
{
	struct dev_thread *t = arg;
	struct svf_device *dev = t->dev;
	const struct svf_device_config *cfg = &dev->cfg;
	unsigned since_fold = 0;

	for (;;) {
		struct svf_dma_req *req = NULL, gen;

		pthread_mutex_lock(&t->lock);
		while (!t->len && !t->stop && (t->source_done || !cfg->source)) {
			pthread_mutex_unlock(&t->lock);
			fold_counts(dev, &t->counts);
			since_fold = 0;
			pthread_mutex_lock(&t->lock);
			if (!t->len && !t->stop)
				pthread_cond_wait(&t->cond, &t->lock);
		}
		if (t->len) {
			req = t->ring[t->head];
			t->head = (t->head + 1) % dev->depth;
			t->len--;
		} else if (t->stop) {
			pthread_mutex_unlock(&t->lock);
			break;
		}
		pthread_mutex_unlock(&t->lock);

		if (req) {
			dma_run(dev, req, t->index, &t->counts);
			pthread_mutex_lock(&t->lock);
			__atomic_store_n(&req->done_, 1, __ATOMIC_RELEASE);
			pthread_cond_broadcast(&t->cond);
			pthread_mutex_unlock(&t->lock);
		} else {
			memset(&gen, 0, sizeof(gen));
			if (!cfg->source(cfg->opaque, t->index, &gen)) {
				t->source_done = true;
				continue;
			}
			dma_run(dev, &gen, t->index, &t->counts);
			if (cfg->complete)
				cfg->complete(cfg->opaque, t->index, &gen);
		}
		if (++since_fold == DEV_FOLD_EVERY) {
			fold_counts(dev, &t->counts);
			since_fold = 0;
		}
	}
	fold_counts(dev, &t->counts);
	return NULL;
}

static void stop_threads(struct svf_device *dev, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct dev_thread *t = &dev->threads[i];

		pthread_mutex_lock(&t->lock);
		t->stop = true;
		pthread_cond_broadcast(&t->cond);
		pthread_mutex_unlock(&t->lock);
	}
	for (unsigned i = 0; i < n; i++) {
		struct dev_thread *t = &dev->threads[i];

		if (t->started)
			pthread_join(t->tid, NULL);
	}
}

static void free_threads(struct svf_device *dev, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct dev_thread *t = &dev->threads[i];

		pthread_cond_destroy(&t->cond);
		pthread_mutex_destroy(&t->lock);
		free(t->ring);
	}
	free(dev->threads);
}

int svf_device_create(struct svf_container *c, const struct svf_device_config *ucfg,
		      struct svf_device **out)
{
	struct svf_device_config cfg = ucfg ? *ucfg : (struct svf_device_config){ 0 };
	struct svf_device *dev;
	unsigned i = 0;
	int rc;

	*out = NULL;
	if (!c || cfg.threads > DEV_MAX_THREADS || (cfg.complete && !cfg.source))
		return -EINVAL;
	if (!cfg.threads)
		cfg.threads = 1;
	if (!cfg.queue_depth)
		cfg.queue_depth = DEV_DEFAULT_DEPTH;
	if (!cfg.fault_records)
		cfg.fault_records = DEV_DEFAULT_FAULTS;
	if (!cfg.slice_bytes)
		cfg.slice_bytes = DEV_DEFAULT_SLICE;

	dev = dev_zalloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->c = c;
	dev->cfg = cfg;
	dev->nthreads = cfg.threads;
	dev->depth = cfg.queue_depth;
	dev->slice = cfg.slice_bytes;
	dev->nfaults_max = cfg.fault_records;
	rc = svf_container_dma_state(c, cfg.domain, &dev->dom, &dev->pinner, &dev->k);
	if (rc)
		goto err_dev;
	dev->memory = svf_pinner_backend(dev->pinner) == SVF_BACKEND_PROCESS;
	dev->check = dev->k->stamps != NULL;
	dev->aperture_last = svf_domain_aperture_last(dev->dom);
	if (dev->memory) {
		rc = svf_recover_get();
		if (rc)
			goto err_dev;
	}
	pthread_mutex_init(&dev->fault_lock, NULL);
	rc = -ENOMEM;
	dev->faults = dev_zalloc(dev->nfaults_max, sizeof(*dev->faults));
	if (!dev->faults)
		goto err_fault_lock;
	dev->threads = dev_zalloc(dev->nthreads, sizeof(*dev->threads));
	if (!dev->threads)
		goto err_faults;
	for (i = 0; i < dev->nthreads; i++) {
		struct dev_thread *t = &dev->threads[i];

		t->dev = dev;
		t->index = i;
		t->ring = dev_zalloc(dev->depth, sizeof(*t->ring));
		if (!t->ring)
			goto err_threads;
		pthread_mutex_init(&t->lock, NULL);
		pthread_cond_init(&t->cond, NULL);
	}
	for (i = 0; i < dev->nthreads; i++) {
		struct dev_thread *t = &dev->threads[i];

		if (svf_should_fail(SVF_FAULT_ALLOC)) {
			rc = -EAGAIN;
			goto err_started;
		}
		rc = -pthread_create(&t->tid, NULL, dev_thread_main, t);
		if (rc)
			goto err_started;
		t->started = true;
	}
	*out = dev;
	return 0;

err_started:
	stop_threads(dev, dev->nthreads);
	free_threads(dev, dev->nthreads);
	goto err_faults;
err_threads:
	/* Threads [0, i) have their ring and locks; i may have its ring. */
	free(dev->threads[i].ring);
	free_threads(dev, i);
err_faults:
	free(dev->faults);
err_fault_lock:
	pthread_mutex_destroy(&dev->fault_lock);
	if (dev->memory)
		svf_recover_put();
err_dev:
	free(dev);
	return rc;
}

void svf_device_destroy(struct svf_device *dev)
{
	if (!dev)
		return;
	stop_threads(dev, dev->nthreads);
	free_threads(dev, dev->nthreads);
	free(dev->faults);
	pthread_mutex_destroy(&dev->fault_lock);
	if (dev->memory)
		svf_recover_put();
	free(dev);
}

int svf_device_submit(struct svf_device *dev, unsigned thread, struct svf_dma_req *req)
{
	struct dev_thread *t;
	int rc = 0;

	if (!dev || !req || thread >= dev->nthreads ||
	    (req->access != SVF_PROT_READ && req->access != SVF_PROT_WRITE))
		return -EINVAL;
	t = &dev->threads[thread];
	req->done_ = 0;
	req->thread_ = thread;
	pthread_mutex_lock(&t->lock);
	if (t->len == dev->depth) {
		rc = -EAGAIN;
	} else {
		t->ring[(t->head + t->len) % dev->depth] = req;
		t->len++;
		pthread_cond_broadcast(&t->cond);
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void svf_device_wait(struct svf_device *dev, struct svf_dma_req *req)
{
	struct dev_thread *t = &dev->threads[req->thread_];

	/* The device thread sets done_ under this lock and broadcasts. */
	pthread_mutex_lock(&t->lock);
	while (!__atomic_load_n(&req->done_, __ATOMIC_ACQUIRE))
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
}

int svf_device_dma(struct svf_device *dev, struct svf_dma_req *req)
{
	struct dev_counts cnt = { 0 };
	int rc;

	if (!dev || !req)
		return -EINVAL;
	rc = dma_run(dev, req, DEV_CALLER_THREAD, &cnt);
	fold_counts(dev, &cnt);
	return rc;
}

int svf_device_read_faults(struct svf_device *dev, struct svf_dma_fault *out, size_t max,
			   size_t *nr, bool *overflow)
{
	size_t n;

	pthread_mutex_lock(&dev->fault_lock);
	n = dev->nfaults < max ? dev->nfaults : max;
	memcpy(out, dev->faults, n * sizeof(*out));
	memmove(dev->faults, dev->faults + n, (dev->nfaults - n) * sizeof(*out));
	dev->nfaults -= (unsigned)n;
	if (overflow)
		*overflow = dev->fault_overflow;
	dev->fault_overflow = false;
	pthread_mutex_unlock(&dev->fault_lock);
	*nr = n;
	return 0;
}

unsigned svf_device_threads(const struct svf_device *dev)
{
	return dev->nthreads;
}

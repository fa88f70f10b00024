/* SPDX-License-Identifier: MIT */
/*
 * Pinning front end (layer 3 of docs/design.md; contract in <softvfio/pin.h>).
 *
 * This file owns what both backends share: argument checks, the pinner
 * lock, the fault-injection point of every pin, locked-memory accounting,
 * the counters and the names. The backends (pin_process.c,
 * pin_synthetic.c) sit behind struct svf_pin_ops (pin_priv.h).
 *
 * Locked-memory accounting models Linux's mm->locked_vm: one count for the
 * whole process (process_locked_pages), shared by every pinner of either
 * backend. Every successful pin charges the pages it pinned, whatever their
 * reference counts, so two pinners (two containers) pinning the same memory
 * charge it twice, as Linux's type1 does. The limit is RLIMIT_MEMLOCK's soft
 * value, or cfg.memlock_limit_override when non-zero, and it is enforced only
 * when the calling thread lacks CAP_IPC_LOCK in its effective set. Both are
 * sampled on every pin, but lazily: the capability is asked for only when
 * the charge would pass the limit, so a pin under the limit costs one
 * getrlimit() (none with an override). The count is updated with a CAS loop
 * so that two pinners charging at once cannot both slip under the limit.
 *
 * Invariants (checked by the tests):
 *   - p->locked_pages == p->pinned_pages: every pinned reference is charged
 *     once; process_locked_pages is the sum of locked_pages over all live
 *     pinners of the process.
 *   - A failed svf_pin_run() leaves every count and every backend state as
 *     it found them (prepare/abort in pin_priv.h).
 *
 * Locking: p->lock serializes every entry point except
 * svf_pinner_phys_to_ptr() (lock-free, backend-defined) and the const
 * getters (relaxed atomic loads of counters written under the lock).
 *
 * Lifetime: the pinner lives from svf_pinner_create() to
 * svf_pinner_destroy(); destroying it with pins still held releases them
 * and uncharges them rather than leaking the process-wide count.
 */
#include <errno.h>
#include <linux/capability.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dmacheck.h"
#include "fault.h"
#include "pin_priv.h"
#include "svf_test.h"

_Thread_local const struct svf_pinner *svf_pin_lock_holder;

/* mm->locked_vm of this process, in pages. */
static _Atomic uint64_t process_locked_pages;

static const char *const backend_names[] = {
	[SVF_BACKEND_PROCESS] = "process",
	[SVF_BACKEND_SYNTHETIC] = "synthetic",
};

static const char *const layout_names[] = {
	[SVF_LAYOUT_CONTIG] = "contig",
	[SVF_LAYOUT_FRAG4K] = "frag4k",
	[SVF_LAYOUT_RUNS2M] = "runs2m",
	[SVF_LAYOUT_RANDOM] = "random",
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

const char *svf_backend_name(enum svf_backend b)
{
	if ((unsigned)b >= ARRAY_SIZE(backend_names))
		return "unknown";
	return backend_names[b];
}

const char *svf_layout_name(enum svf_layout l)
{
	if ((unsigned)l >= ARRAY_SIZE(layout_names))
		return "unknown";
	return layout_names[l];
}

int svf_backend_parse(const char *s, enum svf_backend *out)
{
	if (!s || !out)
		return -EINVAL;
	for (unsigned i = 0; i < ARRAY_SIZE(backend_names); i++) {
		if (strcmp(s, backend_names[i]) == 0) {
			*out = (enum svf_backend)i;
			return 0;
		}
	}
	return -EINVAL;
}

int svf_layout_parse(const char *s, enum svf_layout *out)
{
	if (!s || !out)
		return -EINVAL;
	for (unsigned i = 0; i < ARRAY_SIZE(layout_names); i++) {
		if (strcmp(s, layout_names[i]) == 0) {
			*out = (enum svf_layout)i;
			return 0;
		}
	}
	return -EINVAL;
}

void *svf_pin_zalloc(struct svf_pinner *p, size_t size)
{
	void *ptr;

	if (svf_should_fail(SVF_FAULT_ALLOC))
		return NULL;
	ptr = calloc(1, size);
	if (ptr)
		atomic_fetch_add_explicit(&p->heap_bytes, size, memory_order_relaxed);
	return ptr;
}

void svf_pin_free(struct svf_pinner *p, void *ptr, size_t size)
{
	if (!ptr)
		return;
	atomic_fetch_sub_explicit(&p->heap_bytes, size, memory_order_relaxed);
	free(ptr);
}

/*
 * p->lock is a futex mutex: 0 free, 1 held, 2 held and maybe waited for
 * (the second mutex of U. Drepper's "Futexes Are Tricky"). Uncontended,
 * taking and releasing it is one locked instruction each and no call;
 * every MAP_DMA and UNMAP_DMA takes it, and a pthread mutex cost about 55
 * instructions for the pair. A waiter sleeps in the kernel (the process
 * backend holds the lock across mlock and munlock of whole requests).
 */
static void pin_lock(struct svf_pinner *p)
{
	uint32_t c = 0;

	if (!__atomic_compare_exchange_n(&p->lock, &c, 1, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED)) {
		if (c != 2)
			c = __atomic_exchange_n(&p->lock, 2, __ATOMIC_ACQUIRE);
		while (c != 0) {
			(void)syscall(SYS_futex, &p->lock, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
			c = __atomic_exchange_n(&p->lock, 2, __ATOMIC_ACQUIRE);
		}
	}
	svf_pin_lock_holder = p;
}

static void pin_unlock(struct svf_pinner *p)
{
	svf_pin_lock_holder = NULL;
	if (__atomic_exchange_n(&p->lock, 0, __ATOMIC_RELEASE) == 2)
		(void)syscall(SYS_futex, &p->lock, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/*
 * A counter of p written only under p->lock (pin_priv.h): a relaxed load
 * and store, no locked instruction; readers load it relaxed without the
 * lock. process_locked_pages is shared by pinners and keeps its atomic
 * read-modify-writes.
 */
static inline void ctr_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline void ctr_sub(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
			      memory_order_relaxed);
}

/* CAP_IPC_LOCK in the calling thread's effective set (raw capget: no libcap). */
static bool has_cap_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		return false; /* cannot tell: enforce the limit, as the safe side */
	return (data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective & CAP_TO_MASK(CAP_IPC_LOCK)) != 0;
}

/* The limit in pages, or false when there is none. */
static bool memlock_limit_pages(const struct svf_pinner *p, uint64_t *limit)
{
	struct rlimit rl;

	if (p->cfg.memlock_limit_override) {
		*limit = p->cfg.memlock_limit_override >> SVF_PAGE_SHIFT;
		return true;
	}
	if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return false;
	*limit = (uint64_t)rl.rlim_cur >> SVF_PAGE_SHIFT;
	return true;
}

void svf_pinner_sample_begin(struct svf_pinner *p)
{
	pin_lock(p);
	if (p->sample_open && p->ops->window_end)
		p->ops->window_end(p); /* another thread's window: it pins on without one */
	p->sample_open = true;
	p->sample_thread = pthread_self();
	p->sample_have_limit = false;
	p->sample_cap = -1;
	pin_unlock(p);
}

void svf_pinner_sample_end(struct svf_pinner *p)
{
	pin_lock(p);
	if (svf_pin_in_window(p) && p->ops->window_end)
		p->ops->window_end(p);
	if (svf_pin_in_window(p))
		p->sample_open = false;
	pin_unlock(p);
}

/* Charge npages to the process-wide count. 0 or -ENOMEM (over the limit). */
static int locked_charge(struct svf_pinner *p, uint64_t npages)
{
	const bool window = svf_pin_in_window(p);
	uint64_t limit = 0, cur, next;
	bool limited, cap_known = false, cap = false;

	if (window && p->sample_have_limit) {
		limited = p->sample_limited;
		limit = p->sample_limit_pages;
	} else {
		limited = memlock_limit_pages(p, &limit);
		if (window) {
			p->sample_have_limit = true;
			p->sample_limited = limited;
			p->sample_limit_pages = limit;
		}
	}
	if (window && p->sample_cap >= 0) {
		cap_known = true;
		cap = p->sample_cap;
	}

	svf_pin_assert_held(p);
	cur = atomic_load_explicit(&process_locked_pages, memory_order_relaxed);
	do {
		next = cur + npages;
		if (next < cur)
			return -ENOMEM;
		if (limited && next > limit) {
			if (!cap_known) {
				cap = has_cap_ipc_lock();
				cap_known = true;
				if (window)
					p->sample_cap = cap;
			}
			if (!cap)
				return -ENOMEM;
		}
	} while (!atomic_compare_exchange_weak_explicit(&process_locked_pages, &cur, next,
							memory_order_relaxed,
							memory_order_relaxed));
	ctr_add(&p->locked_pages, npages);
	return 0;
}

static void locked_uncharge(struct svf_pinner *p, uint64_t npages)
{
	assert(atomic_load_explicit(&p->locked_pages, memory_order_relaxed) >= npages);
	ctr_sub(&p->locked_pages, npages);
	atomic_fetch_sub_explicit(&process_locked_pages, npages, memory_order_relaxed);
}

int svf_pinner_create(const struct svf_pinner_config *cfg, struct svf_pinner **out)
{
	const struct svf_pin_ops *ops;
	struct svf_pinner *p;
	int ret;

	if (!cfg || !out)
		return -EINVAL;
	switch (cfg->backend) {
	case SVF_BACKEND_PROCESS:
		ops = &svf_pin_process_ops;
		break;
	case SVF_BACKEND_SYNTHETIC:
		if ((unsigned)cfg->layout >= ARRAY_SIZE(layout_names))
			return -EINVAL;
		ops = &svf_pin_synthetic_ops;
		break;
	default:
		return -EINVAL;
	}

	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ops = ops;
	p->cfg = *cfg;
	atomic_init(&p->heap_bytes, sizeof(*p));
	p->lock = 0; /* free */
	ret = ops->init(p);
	if (ret)
		goto out_free;
	*out = p;
	return 0;

out_free:
	free(p);
	return ret;
}

void svf_pinner_destroy(struct svf_pinner *p)
{
	uint64_t left;

	if (!p)
		return;
	pin_lock(p);
	left = atomic_load_explicit(&p->locked_pages, memory_order_relaxed);
	if (left)
		locked_uncharge(p, left);
	p->ops->fini(p);
	pin_unlock(p);
	svf_shadow_destroy(p->check);
	free(p);
}

enum svf_backend svf_pinner_backend(const struct svf_pinner *p)
{
	return p->cfg.backend;
}

bool svf_pinner_pfns_real(const struct svf_pinner *p)
{
	return p->ops->pfns_real(p);
}

int svf_pin_run(struct svf_pinner *p, uint64_t vaddr, uint64_t npages, bool write,
		uint64_t *phys, uint64_t *pinned)
{
	uint64_t room, run_phys = 0, run_pages = 0;
	int ret;

	if (!p || !phys || !pinned)
		return -EINVAL;
	*phys = 0;
	*pinned = 0;
	if (npages == 0 || (vaddr & (SVF_PAGE_SIZE - 1)))
		return -EINVAL;
	/* A run cannot go past the top of the address space: clamp, do not wrap. */
	room = ((UINT64_MAX - vaddr) >> SVF_PAGE_SHIFT) + 1;
	if (npages > room)
		npages = room;

	pin_lock(p);
	/* Models get_user_pages() failing on the first page. */
	if (svf_should_fail(SVF_FAULT_PIN)) {
		ret = -EFAULT;
		goto out_failed;
	}
	ret = p->ops->pin_prepare(p, vaddr, npages, write, &run_phys, &run_pages);
	if (ret)
		goto out_failed;
	assert(run_pages >= 1 && run_pages <= npages);
	ret = locked_charge(p, run_pages);
	if (ret)
		goto out_abort;
	if (p->check) {
		ret = svf_shadow_ensure(p->check, run_phys >> SVF_PAGE_SHIFT, run_pages);
		if (ret) {
			locked_uncharge(p, run_pages);
			ret = -ENOMEM;
			goto out_abort;
		}
	}
	p->ops->pin_commit(p, vaddr, run_phys, run_pages);
	if (p->check)
		svf_shadow_pin(p->check, run_phys >> SVF_PAGE_SHIFT, run_pages);
	ctr_add(&p->pinned_pages, run_pages);
	ctr_add(&p->pins, 1);
	pin_unlock(p);
	*phys = run_phys;
	*pinned = run_pages;
	return 0;

out_abort:
	p->ops->pin_abort(p, vaddr, run_phys, run_pages);
out_failed:
	atomic_fetch_add_explicit(&p->pin_failures, 1, memory_order_relaxed);
	pin_unlock(p);
	return ret;
}

void svf_unpin_run(struct svf_pinner *p, uint64_t vaddr, uint64_t phys, uint64_t npages)
{
	uint64_t had;

	if (!p || npages == 0)
		return;
	assert(!(vaddr & (SVF_PAGE_SIZE - 1)) && !(phys & (SVF_PAGE_SIZE - 1)));
	pin_lock(p);
	had = atomic_load_explicit(&p->pinned_pages, memory_order_relaxed);
	assert(had >= npages);
	if (npages > had)
		npages = had; /* a caller bug; keep the counts from wrapping */
	if (p->check)
		svf_shadow_unpin(p->check, phys >> SVF_PAGE_SHIFT, npages);
	if (p->ops->unpin)
		p->ops->unpin(p, vaddr, phys, npages);
	if (p->ops->unpin_done)
		p->ops->unpin_done(p);
	ctr_sub(&p->pinned_pages, npages);
	locked_uncharge(p, npages);
	ctr_add(&p->unpins, 1);
	pin_unlock(p);
}

/* Regions ahead whose first frame svf_unpin_runs prefetches (twice as far: its slot). */
#define UNPIN_AHEAD 8

void svf_unpin_runs(struct svf_pinner *p, const struct svf_pin_region *r, size_t n)
{
	uint64_t total = 0, had;
	size_t each = n; /* regions released one by one */

	if (!p || !n)
		return;
	pin_lock(p);
	had = atomic_load_explicit(&p->pinned_pages, memory_order_relaxed);
	if (!p->check && !p->ops->unpin && !p->ops->unpin_prefetch) {
		/* Nothing to release region by region (synthetic, no check mode): the counts only. */
		for (size_t i = 0; i < n; i++) {
			assert(!(r[i].vaddr & (SVF_PAGE_SIZE - 1)) && !(r[i].phys & (SVF_PAGE_SIZE - 1)));
			total += r[i].npages;
		}
		assert(had >= total);
		if (total > had)
			total = had; /* a caller bug; keep the counts from wrapping */
		each = 0;
	}
	for (size_t i = 0; i < each; i++) {
		uint64_t np = r[i].npages;

		assert(!(r[i].vaddr & (SVF_PAGE_SIZE - 1)) && !(r[i].phys & (SVF_PAGE_SIZE - 1)));
		assert(had - total >= np);
		if (np > had - total)
			np = had - total; /* a caller bug; keep the counts from wrapping */
		if (p->ops->unpin_prefetch && i + 2 * UNPIN_AHEAD < each)
			p->ops->unpin_prefetch(p, r[i + 2 * UNPIN_AHEAD].phys, true);
		if (p->ops->unpin_prefetch && i + UNPIN_AHEAD < each)
			p->ops->unpin_prefetch(p, r[i + UNPIN_AHEAD].phys, false);
		if (np && p->check)
			svf_shadow_unpin(p->check, r[i].phys >> SVF_PAGE_SHIFT, np);
		if (np && p->ops->unpin)
			p->ops->unpin(p, r[i].vaddr, r[i].phys, np);
		total += np;
	}
	if (p->ops->unpin_done)
		p->ops->unpin_done(p);
	ctr_sub(&p->pinned_pages, total);
	locked_uncharge(p, total);
	ctr_add(&p->unpins, n);
	pin_unlock(p);
}

int svf_pinner_lookup(struct svf_pinner *p, uint64_t vaddr, uint64_t *phys)
{
	uint64_t frame = 0;
	int ret;

	if (!p || !phys)
		return -EINVAL;
	pin_lock(p);
	ret = p->ops->lookup(p, vaddr & ~(SVF_PAGE_SIZE - 1), &frame);
	pin_unlock(p);
	if (ret)
		return ret;
	*phys = frame | (vaddr & (SVF_PAGE_SIZE - 1));
	return 0;
}

static int range_args_ok(uint64_t vaddr, uint64_t len)
{
	uint64_t last;

	return len && !((vaddr | len) & (SVF_PAGE_SIZE - 1)) &&
	       !__builtin_add_overflow(vaddr, len - 1, &last);
}

int svf_pinner_release(struct svf_pinner *p, uint64_t vaddr, uint64_t len)
{
	int ret = 0;

	if (!p || !range_args_ok(vaddr, len))
		return -EINVAL;
	if (!p->ops->release)
		return 0;
	pin_lock(p);
	ret = p->ops->release(p, vaddr, len);
	pin_unlock(p);
	return ret;
}

int svf_pinner_rebase(struct svf_pinner *p, uint64_t old, uint64_t new_vaddr, uint64_t len)
{
	int ret = 0;

	if (!p || !range_args_ok(old, len) || !range_args_ok(new_vaddr, len))
		return -EINVAL;
	if (!p->ops->rebase || old == new_vaddr)
		return 0;
	pin_lock(p);
	ret = p->ops->rebase(p, old, new_vaddr, len);
	pin_unlock(p);
	return ret;
}

void *svf_pinner_phys_to_ptr(struct svf_pinner *p, uint64_t phys)
{
	if (!p)
		return NULL;
	return p->ops->phys_to_ptr(p, phys);
}

uint64_t svf_pinner_refcount(struct svf_pinner *p, uint64_t phys)
{
	uint64_t ref;

	if (!p)
		return 0;
	pin_lock(p);
	ref = p->ops->refcount(p, phys & ~(SVF_PAGE_SIZE - 1));
	pin_unlock(p);
	return ref;
}

uint64_t svf_pinner_whole_units(struct svf_pinner *p)
{
	uint64_t n = 0;

	if (!p || !p->ops->whole_units)
		return 0;
	pin_lock(p);
	n = p->ops->whole_units(p);
	pin_unlock(p);
	return n;
}

unsigned svf_pinner_lock_cache(struct svf_pinner *p, int max)
{
	unsigned n;

	if (!p || !p->ops->lock_cache)
		return 0;
	pin_lock(p);
	n = p->ops->lock_cache(p, max);
	pin_unlock(p);
	return n;
}

uint64_t svf_pinner_pinned_pages(const struct svf_pinner *p)
{
	return atomic_load_explicit(&p->pinned_pages, memory_order_relaxed);
}

uint64_t svf_pinner_locked_bytes(const struct svf_pinner *p)
{
	return atomic_load_explicit(&p->locked_pages, memory_order_relaxed) << SVF_PAGE_SHIFT;
}

uint64_t svf_pinner_bookkeeping_bytes(const struct svf_pinner *p)
{
	return atomic_load_explicit(&p->heap_bytes, memory_order_relaxed);
}

int svf_pinner_enable_check(struct svf_pinner *p)
{
	struct svf_shadow *sh;
	int ret = 0;

	if (!p)
		return -EINVAL;
	pin_lock(p);
	if (p->check)
		goto out;
	if (atomic_load_explicit(&p->pinned_pages, memory_order_relaxed)) {
		ret = -EBUSY;
		goto out;
	}
	ret = svf_shadow_create(&sh);
	if (!ret)
		__atomic_store_n(&p->check, sh, __ATOMIC_RELEASE);
out:
	pin_unlock(p);
	return ret;
}

uint64_t svf_pinner_pin_state(struct svf_pinner *p, uint64_t phys)
{
	struct svf_shadow *sh = __atomic_load_n(&p->check, __ATOMIC_ACQUIRE);
	uint64_t *w;

	if (!sh)
		return UINT64_MAX;
	w = svf_shadow_word(sh, phys >> SVF_PAGE_SHIFT);
	return w ? __atomic_load_n(w, __ATOMIC_ACQUIRE) : 0;
}

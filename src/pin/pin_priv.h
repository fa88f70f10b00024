/* SPDX-License-Identifier: MIT */
/*
 * Between the pinning front end (pin.c) and its backends (pin_process.c,
 * pin_synthetic.c): the pinner object and the backend ops.
 *
 * Division of work. pin.c owns argument checks, the pinner lock, the
 * fault-injection point of every pin, locked-memory accounting (the
 * process-wide count and its limit) and the counters. A backend owns the
 * translation of a virtual page to a frame and whatever per-page state it
 * keeps. A pin is done in three steps so that accounting can sit between
 * them and nothing stays behind on failure:
 *
 *   prepare  find the run and take every resource it needs (mlock, table
 *            leaves); may fail, and then has taken nothing;
 *   commit   make the pin visible (reference counts, device pointers);
 *            cannot fail;
 *   abort    give back what prepare took; cannot fail.
 *
 * pin.c calls prepare, charges locked memory, then commit, or abort when the
 * charge is refused.
 *
 * Locking: every op except phys_to_ptr runs with p->lock held (assert with
 * svf_pin_assert_held). phys_to_ptr runs without it, concurrently with any
 * op, and must not block.
 */
#ifndef SOFTVFIO_PIN_PRIV_H
#define SOFTVFIO_PIN_PRIV_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <softvfio/pin.h>

struct svf_pin_ops {
	const char *name;

	/* Allocate p->priv from p->cfg (already validated). 0 or -errno. */
	int (*init)(struct svf_pinner *p);
	/* Free p->priv. Pins still held are released (munlocked) first. */
	void (*fini)(struct svf_pinner *p);

	/*
	 * Find the longest physically contiguous run at vaddr (page aligned,
	 * 1 <= npages, the range does not wrap) and take what it needs.
	 * 0 with *phys and *pinned (>= 1); -EFAULT (the first page is not
	 * accessible); -ENOMEM. On error nothing is held.
	 */
	int (*pin_prepare)(struct svf_pinner *p, uint64_t vaddr, uint64_t npages, bool write,
			   uint64_t *phys, uint64_t *pinned);
	/* Make a prepared run pinned. Never fails. */
	void (*pin_commit)(struct svf_pinner *p, uint64_t vaddr, uint64_t phys, uint64_t npages);
	/* Give back what pin_prepare took for this run. Never fails. */
	void (*pin_abort)(struct svf_pinner *p, uint64_t vaddr, uint64_t phys, uint64_t npages);
	/* Release npages pinned pages (all, or part of, one committed run); NULL: nothing to do. */
	void (*unpin)(struct svf_pinner *p, uint64_t vaddr, uint64_t phys, uint64_t npages);
	/*
	 * Optional. An unpin of the page at phys follows soon (the regions of
	 * one svf_unpin_runs call, a few ahead): start loading what it will
	 * touch; with slot, what finding that takes (called further ahead).
	 * Never fails, changes nothing.
	 */
	void (*unpin_prefetch)(struct svf_pinner *p, uint64_t phys, bool slot);
	/*
	 * Optional. After the last unpin of one svf_unpin_run/svf_unpin_runs
	 * call: finish what unpin deferred (the process backend merges the
	 * munlocks of adjacent regions into one call). Never fails.
	 */
	void (*unpin_done)(struct svf_pinner *p);
	/*
	 * Optional. The calling thread's limit-sampling window (one MAP_DMA)
	 * closes, or another thread's opens: give back what pins made inside
	 * it took ahead of need (the process backend locks the whole request
	 * at its first pin and unlocks here what no pin came to hold).
	 */
	void (*window_end)(struct svf_pinner *p);

	/*
	 * Optional. [vaddr, vaddr + len) is about to leave the process (munmap,
	 * mremap, MADV_DONTNEED): keep the pinned pages in it reachable where
	 * the pinner owns them (svf_pinner_release). 0 or -errno.
	 */
	int (*release)(struct svf_pinner *p, uint64_t vaddr, uint64_t len);
	/*
	 * Optional. The pinned pages of [old, old + len) are reached through
	 * [new, new + len) from now on (svf_pinner_rebase). 0 or -errno.
	 */
	int (*rebase)(struct svf_pinner *p, uint64_t old, uint64_t new_vaddr, uint64_t len);

	/* The frame vaddr would pin to, without pinning. 0 or -EFAULT. */
	int (*lookup)(struct svf_pinner *p, uint64_t vaddr, uint64_t *phys);
	/* Lock-free: CPU pointer for a pinned phys, or NULL. */
	void *(*phys_to_ptr)(struct svf_pinner *p, uint64_t phys);
	/* Pin references on the page at phys (0 if the backend keeps none). */
	uint64_t (*refcount)(struct svf_pinner *p, uint64_t phys);
	/* Optional, tests only: 2 MiB units whose pin state is one entry now. */
	uint64_t (*whole_units)(struct svf_pinner *p);
	/* Optional, tests only: lock granules cached now; max >= 0 sets how many may be. */
	unsigned (*lock_cache)(struct svf_pinner *p, int max);
	/* Whether frame numbers are real (process) or invented. */
	bool (*pfns_real)(const struct svf_pinner *p);
};

extern const struct svf_pin_ops svf_pin_process_ops;
extern const struct svf_pin_ops svf_pin_synthetic_ops;

struct svf_pinner {
	const struct svf_pin_ops *ops;   /* immutable after create */
	struct svf_pinner_config cfg;    /* immutable after create */
	uint32_t lock;                   /* serializes every op but phys_to_ptr (pin.c) */

	/*
	 * Counters: written only with lock held, read by anyone (relaxed
	 * atomics, so the const getters need no lock).
	 */
	_Atomic uint64_t pinned_pages;   /* sum of pin references now */
	_Atomic uint64_t locked_pages;   /* pages charged to the process-wide count now */
	_Atomic uint64_t heap_bytes;     /* bookkeeping heap held, this struct included */
	_Atomic uint64_t pins;           /* successful svf_pin_run calls */
	_Atomic uint64_t unpins;         /* svf_unpin_run calls */
	_Atomic uint64_t pin_failures;   /* svf_pin_run calls that returned an error */

	/*
	 * Limit sampling window (svf_pinner_sample_begin/end), protected by
	 * lock: while open for sample_thread, RLIMIT_MEMLOCK is read once and
	 * CAP_IPC_LOCK at most once, instead of on every pin.
	 */
	bool sample_open;
	pthread_t sample_thread;
	bool sample_have_limit;          /* sampled: limited, limit_pages valid */
	bool sample_limited;
	uint64_t sample_limit_pages;
	int sample_cap;                  /* -1 not asked yet, else 0/1 */

	void *priv;                      /* backend state; lifetime = the pinner's */
	/*
	 * Check mode (dmacheck.h): pin state per frame, written under lock,
	 * read lock-free by devices. NULL until svf_pinner_enable_check().
	 */
	struct svf_shadow *check;
};

/* Which pinner's lock this thread holds (for the debug assertion only). */
extern _Thread_local const struct svf_pinner *svf_pin_lock_holder;

static inline void svf_pin_assert_held(const struct svf_pinner *p)
{
	assert(svf_pin_lock_holder == p);
	(void)p;
}

/* Lock held: whether the calling thread has the limit-sampling window open. */
static inline bool svf_pin_in_window(const struct svf_pinner *p)
{
	return p->sample_open && pthread_equal(p->sample_thread, pthread_self());
}

/* Heap bookkeeping: every backend allocation goes through these. */
void *svf_pin_zalloc(struct svf_pinner *p, size_t size);
void svf_pin_free(struct svf_pinner *p, void *ptr, size_t size);

#endif

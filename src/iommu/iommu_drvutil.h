/* SPDX-License-Identifier: MIT */
/*
 * Small pieces both emulated IOMMU drivers (vtd/, amd/) need in the same
 * form: their counters and the unit spinlock.
 *
 * Counters are plain uint64_t read with relaxed loads by the stats path.
 * svf_drv_ctr_add() is a single-writer bump: the caller holds the unit lock
 * or owns the counter's reader stripe. svf_drv_stripe_add() falls back to an
 * atomic add for the shared stripe (slot SVF_READER_SLOTS), which several
 * threads may bump at once.
 *
 * The unit lock is a spinlock rather than a mutex: it is taken once per
 * queued command or batch and held briefly, except across a wait; a waiter
 * yields the CPU after 256 spins. 0 is free, 1 held.
 */
#ifndef SOFTVFIO_IOMMU_DRVUTIL_H
#define SOFTVFIO_IOMMU_DRVUTIL_H

#include <sched.h>
#include <stdint.h>

#include "iommu_reader.h"

static inline uint64_t svf_drv_ctr_read(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static inline void svf_drv_ctr_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void svf_drv_stripe_add(uint64_t *c, int slot, uint64_t n)
{
	if (__builtin_expect(slot < SVF_READER_SLOTS, 1))
		svf_drv_ctr_add(c, n);
	else
		__atomic_add_fetch(c, n, __ATOMIC_RELAXED);
}

static inline void svf_drv_spin_lock(uint32_t *lock)
{
	while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE)) {
		for (unsigned spins = 0; __atomic_load_n(lock, __ATOMIC_RELAXED); spins++) {
			if (spins < 256)
				svf_cpu_relax();
			else
				sched_yield();
		}
	}
}

static inline void svf_drv_spin_unlock(uint32_t *lock)
{
	__atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

#endif

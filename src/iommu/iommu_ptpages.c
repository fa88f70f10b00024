/* SPDX-License-Identifier: MIT */
/*
 * Table-page allocator and deferred-free lists shared by the emulated
 * IOMMU drivers (the model and its invariants are in iommu_ptpages.h).
 */
#include <stdlib.h>
#include <string.h>

#include "fault.h"

#include "iommu_ptpages.h"
#include "iommu_reader.h"

static void pool_lock(struct svf_pt_pages *pp)
{
	while (__atomic_exchange_n(&pp->lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&pp->lock, __ATOMIC_RELAXED))
			svf_cpu_relax();
}

static void pool_unlock(struct svf_pt_pages *pp)
{
	__atomic_store_n(&pp->lock, 0, __ATOMIC_RELEASE);
}

static void count_alloc(struct svf_pt_pages *pp)
{
	uint64_t now = __atomic_add_fetch(&pp->now, 1, __ATOMIC_RELAXED);
	uint64_t peak = __atomic_load_n(&pp->peak, __ATOMIC_RELAXED);

	while (now > peak &&
	       !__atomic_compare_exchange_n(&pp->peak, &peak, now, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

uint64_t *svf_pt_page_alloc(struct svf_pt_pages *pp)
{
	uint64_t *t = NULL;

	if (svf_should_fail(SVF_FAULT_PT_ALLOC))
		return NULL;
	if (__atomic_load_n(&pp->pooled, __ATOMIC_RELAXED)) {
		pool_lock(pp);
		t = pp->pool;
		if (t) {
			pp->pool = (uint64_t *)(uintptr_t)t[0];
			__atomic_store_n(&pp->pooled, pp->pooled - 1, __ATOMIC_RELAXED);
		}
		pool_unlock(pp);
	}
	if (!t) {
		t = aligned_alloc(SVF_PT_PAGE_SIZE, SVF_PT_PAGE_SIZE);
		if (!t)
			return NULL;
	}
	/* Zeroed before it is linked: the linking store is a release. */
	memset(t, 0, SVF_PT_PAGE_SIZE);
	count_alloc(pp);
	return t;
}

void svf_pt_freelist_push(struct svf_pt_freelist *fl, uint64_t *t)
{
	/* Entry 0 links the list; see the deferral invariant in iommu_ptpages.h. */
	__atomic_store_n(&t[0], (uint64_t)(uintptr_t)fl->head, __ATOMIC_RELAXED);
	fl->head = t;
	if (!fl->tail)
		fl->tail = t;
	fl->count++;
}

void svf_pt_freelist_splice(struct svf_pt_freelist *dst, struct svf_pt_freelist *src)
{
	if (!src->count)
		return;
	__atomic_store_n(&src->tail[0], (uint64_t)(uintptr_t)dst->head, __ATOMIC_RELAXED);
	dst->head = src->head;
	if (!dst->tail)
		dst->tail = src->tail;
	dst->count += src->count;
	*src = (struct svf_pt_freelist){ 0 };
}

void svf_pt_freelist_release(struct svf_pt_freelist *fl, struct svf_pt_pages *pp)
{
	uint64_t *p = fl->head, *excess = NULL;
	uint64_t n = fl->count;

	if (!n)
		return;
	/* Pages on fl are unreachable now: plain stores may relink them. */
	pool_lock(pp);
	while (p && pp->pooled < SVF_PT_POOL_MAX) {
		uint64_t *next = (uint64_t *)(uintptr_t)__atomic_load_n(&p[0], __ATOMIC_RELAXED);

		p[0] = (uint64_t)(uintptr_t)pp->pool;
		pp->pool = p;
		__atomic_store_n(&pp->pooled, pp->pooled + 1, __ATOMIC_RELAXED);
		p = next;
	}
	excess = p;
	pool_unlock(pp);
	while (excess) {
		uint64_t *next = (uint64_t *)(uintptr_t)excess[0];

		free(excess);
		excess = next;
	}
	__atomic_sub_fetch(&pp->now, n, __ATOMIC_RELAXED);
	__atomic_add_fetch(&pp->freed, n, __ATOMIC_RELAXED);
	*fl = (struct svf_pt_freelist){ 0 };
}

void svf_pt_pages_fini(struct svf_pt_pages *pp)
{
	uint64_t *p = pp->pool;

	while (p) {
		uint64_t *next = (uint64_t *)(uintptr_t)p[0];

		free(p);
		p = next;
	}
	pp->pool = NULL;
	pp->pooled = 0;
}


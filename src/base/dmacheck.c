/* SPDX-License-Identifier: MIT */
/*
 * Check mode: the sparse word table and the container's DMA state (the
 * model, its ordering and lifetimes are in dmacheck.h).
 *
 * The table is three levels: a top array of 2^16 pointers allocated with
 * the table, middle nodes of 2^12 pointers and leaves of 2^12 words (32 KiB,
 * 16 MiB of address space each) allocated on demand by the writer.
 */
#include <errno.h>
#include <stdlib.h>

#include "fault.h"

#include "dmacheck.h"

#define LEAF_BITS 12
#define MID_BITS  12
#define TOP_BITS  (SVF_SHADOW_KEY_BITS - LEAF_BITS - MID_BITS)
#define LEAF_N    (1u << LEAF_BITS)
#define MID_N     (1u << MID_BITS)
#define TOP_N     (1u << TOP_BITS)

struct svf_shadow {
	uint64_t ***top; /* top[i] -> mid; mid[j] -> leaf; published with release */
	uint64_t bytes;  /* writer only */
};

static void *zalloc(size_t n, size_t size)
{
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return NULL;
	return calloc(n, size);
}

int svf_shadow_create(struct svf_shadow **out)
{
	struct svf_shadow *sh = zalloc(1, sizeof(*sh));

	if (!sh)
		return -ENOMEM;
	sh->top = zalloc(TOP_N, sizeof(*sh->top));
	if (!sh->top) {
		free(sh);
		return -ENOMEM;
	}
	sh->bytes = sizeof(*sh) + TOP_N * sizeof(*sh->top);
	*out = sh;
	return 0;
}

void svf_shadow_destroy(struct svf_shadow *sh)
{
	if (!sh)
		return;
	for (unsigned i = 0; i < TOP_N; i++) {
		uint64_t **mid = sh->top[i];

		if (!mid)
			continue;
		for (unsigned j = 0; j < MID_N; j++)
			free(mid[j]);
		free(mid);
	}
	free(sh->top);
	free(sh);
}

int svf_shadow_ensure(struct svf_shadow *sh, uint64_t key, uint64_t n)
{
	uint64_t last;

	if (!n)
		return 0;
	if (__builtin_add_overflow(key, n - 1, &last) || last >> SVF_SHADOW_KEY_BITS)
		return -EINVAL;
	/* One step per leaf. */
	for (uint64_t k = key & ~(uint64_t)(LEAF_N - 1); k <= last; k += LEAF_N) {
		unsigned ti = (unsigned)(k >> (LEAF_BITS + MID_BITS));
		unsigned mi = (unsigned)(k >> LEAF_BITS) & (MID_N - 1);
		uint64_t **mid = __atomic_load_n(&sh->top[ti], __ATOMIC_RELAXED);

		if (!mid) {
			mid = zalloc(MID_N, sizeof(*mid));
			if (!mid)
				return -ENOMEM;
			sh->bytes += MID_N * sizeof(*mid);
			__atomic_store_n(&sh->top[ti], mid, __ATOMIC_RELEASE);
		}
		if (!__atomic_load_n(&mid[mi], __ATOMIC_RELAXED)) {
			uint64_t *leaf = zalloc(LEAF_N, sizeof(*leaf));

			if (!leaf)
				return -ENOMEM;
			sh->bytes += LEAF_N * sizeof(*leaf);
			__atomic_store_n(&mid[mi], leaf, __ATOMIC_RELEASE);
		}
	}
	return 0;
}

uint64_t *svf_shadow_word(const struct svf_shadow *sh, uint64_t key)
{
	uint64_t **mid, *leaf;

	if (key >> SVF_SHADOW_KEY_BITS)
		return NULL;
	mid = __atomic_load_n(&sh->top[key >> (LEAF_BITS + MID_BITS)], __ATOMIC_ACQUIRE);
	if (!mid)
		return NULL;
	leaf = __atomic_load_n(&mid[(key >> LEAF_BITS) & (MID_N - 1)], __ATOMIC_ACQUIRE);
	if (!leaf)
		return NULL;
	return &leaf[key & (LEAF_N - 1)];
}

uint64_t svf_shadow_bytes(const struct svf_shadow *sh)
{
	return sh ? sh->bytes : 0;
}

void svf_shadow_pin(struct svf_shadow *sh, uint64_t pfn, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t *w = svf_shadow_word(sh, pfn + i);

		if (w) /* ensured before the pin was committed */
			__atomic_store_n(w, __atomic_load_n(w, __ATOMIC_RELAXED) + 1,
					 __ATOMIC_RELEASE);
	}
}

void svf_shadow_unpin(struct svf_shadow *sh, uint64_t pfn, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t *w = svf_shadow_word(sh, pfn + i);
		uint64_t v;

		if (!w)
			continue;
		v = __atomic_load_n(w, __ATOMIC_RELAXED);
		if (!SVF_PINSTATE_PINS(v))
			continue; /* the pinner asserts on this caller bug */
		v -= 1;
		if (!SVF_PINSTATE_PINS(v))
			v += 1ull << 32; /* the last pin went: a new release */
		__atomic_store_n(w, v, __ATOMIC_RELEASE);
	}
}

int svf_dmacheck_create(bool check, struct svf_dmacheck **out)
{
	struct svf_dmacheck *k = zalloc(1, sizeof(*k));
	int rc;

	if (!k)
		return -ENOMEM;
	if (check) {
		rc = svf_shadow_create(&k->stamps);
		if (rc) {
			free(k);
			return rc;
		}
	}
	*out = k;
	return 0;
}

void svf_dmacheck_destroy(struct svf_dmacheck *k)
{
	if (!k)
		return;
	svf_shadow_destroy(k->stamps);
	free(k);
}

int svf_dmacheck_map(struct svf_dmacheck *k, uint64_t iova, uint64_t size)
{
	uint64_t key = iova >> SVF_PAGE_SHIFT, n = size >> SVF_PAGE_SHIFT;
	int rc;

	if (!k || !k->stamps)
		return 0;
	rc = svf_shadow_ensure(k->stamps, key, n);
	if (rc)
		return rc == -EINVAL ? 0 : rc; /* past the table: such IOVAs are never checked */
	/* Relaxed: the page-table stores that publish the mapping are releases. */
	for (uint64_t i = 0; i < n; i++)
		__atomic_store_n(svf_shadow_word(k->stamps, key + i), 0, __ATOMIC_RELAXED);
	return 0;
}

void svf_dmacheck_unmapped(struct svf_dmacheck *k, uint64_t iova, uint64_t size)
{
	uint64_t key = iova >> SVF_PAGE_SHIFT, n = size >> SVF_PAGE_SHIFT;
	uint64_t stamp;

	if (!k || !k->stamps)
		return;
	stamp = __atomic_load_n(&k->epoch, __ATOMIC_RELAXED) + 1;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t *w = svf_shadow_word(k->stamps, key + i);

		if (w)
			__atomic_store_n(w, stamp, __ATOMIC_RELAXED);
	}
}

void svf_dmacheck_returned(struct svf_dmacheck *k)
{
	if (!k || !k->stamps)
		return;
	/* Release: the stamps above happen before a request that reads this value. */
	__atomic_store_n(&k->epoch, __atomic_load_n(&k->epoch, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELEASE);
}

void svf_dmacheck_add_stats(const struct svf_dmacheck *k, struct svf_stats *s)
{
	if (!k)
		return;
	s->dma_requests += __atomic_load_n(&k->dma_requests, __ATOMIC_RELAXED);
	s->dma_pages += __atomic_load_n(&k->dma_pages, __ATOMIC_RELAXED);
	s->dma_faults += __atomic_load_n(&k->dma_faults, __ATOMIC_RELAXED);
	s->dma_unpinned_access += __atomic_load_n(&k->dma_unpinned_access, __ATOMIC_RELAXED);
	s->dma_after_unmap += __atomic_load_n(&k->dma_after_unmap, __ATOMIC_RELAXED);
	s->dma_vanished += __atomic_load_n(&k->dma_vanished, __ATOMIC_RELAXED);
	if (k->stamps)
		s->bookkeeping_bytes += svf_shadow_bytes(k->stamps);
}

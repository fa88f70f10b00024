/* SPDX-License-Identifier: MIT */
/*
 * Dirty-page tracking of the type1 container (VFIO_IOMMU_DIRTY_PAGES and
 * UNMAP_DMA with GET_DIRTY_BITMAP).
 *
 * While tracking is on, every mapping owns a bitmap with one bit per 4 KiB
 * page. Without an IOMMU that tracks dirtiness (Linux's type1 never asks
 * one), every page pinned and mapped for DMA must be assumed dirty: the
 * bitmap is filled at START, at a map while tracking, and again after every
 * report, exactly as Linux does. A container with only emulated devices
 * reports just the pages they pin.
 *
 * Hardware mode (every attached domain's unit has hw_dirty): the device's
 * writes set D bits in the page tables; a report reads and clears them
 * (svf_iommu_read_clear_dirty, which invalidates and waits afterwards) and
 * the mapping's own bitmap only carries pages pinned by emulated devices.
 * START clears the D bits first, so only writes after it are reported.
 *
 * Reporting ORs a mapping's bits into the caller's zeroed bitmap at the
 * mapping's page offset from the start of the query. A mapping that starts
 * inside a 64-bit word of the caller's bitmap shares that word with the
 * mapping before it; bits are merged with OR, never stored as a whole
 * shifted word, so no stale bits from one mapping land on another's pages
 * (a bug real kernels have shipped).
 *
 * Memory: (pages + 63) / 64 words per mapping, allocated behind the fault
 * seam; START is all or nothing.
 *
 * Lock: the container's lock, held by every caller.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "container_priv.h"
#include "dirty.h"
#include "fault.h"

static uint64_t dma_pages(const struct svf_dma *dma)
{
	return dma->size / SVF_PGSIZE;
}

static uint64_t bitmap_words(uint64_t bits)
{
	return (bits + 63) / 64;
}

/* Set bits [first, first + n) of a word array. */
static void bits_set(uint64_t *map, uint64_t first, uint64_t n)
{
	while (n) {
		uint64_t word = first / 64, bit = first % 64;
		uint64_t take = 64 - bit < n ? 64 - bit : n;
		uint64_t mask = take == 64 ? ~0ULL : ((1ULL << take) - 1) << bit;

		map[word] |= mask;
		first += take;
		n -= take;
	}
}

/*
 * Linux without IOMMU dirty tracking: with an IOMMU domain every page pinned
 * for DMA may be written, so all are dirty; with only emulated devices, just
 * the pages they hold pinned are.
 */
bool svf_dirty_hw_mode(const struct svf_container *c)
{
	if (!c->nr_domains)
		return false;
	for (unsigned i = 0; i < c->nr_domains; i++)
		if (!svf_domain_hw_dirty(c->domains[i]))
			return false;
	return true;
}

static void populate(struct svf_container *c, struct svf_dma *dma)
{
	uint64_t n = dma_pages(dma);
	struct svf_vpfn *v;

	memset(dma->bitmap, 0, bitmap_words(n) * sizeof(uint64_t));
	if (c->nr_domains && !svf_dirty_hw_mode(c)) {
		bits_set(dma->bitmap, 0, n);
		return;
	}
	RB_FOREACH(v, svf_vpfn_tree, &dma->vpfns)
		bits_set(dma->bitmap, (v->iova - dma->iova) / SVF_PGSIZE, 1);
}

void svf_dirty_mark(struct svf_dma *dma, uint64_t iova)
{
	bits_set(dma->bitmap, (iova - dma->iova) / SVF_PGSIZE, 1);
}

int svf_dirty_dma_alloc(struct svf_container *c, struct svf_dma *dma)
{
	uint64_t words = bitmap_words(dma_pages(dma));

	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	dma->bitmap = calloc(words, sizeof(uint64_t));
	if (!dma->bitmap)
		return -ENOMEM;
	c->st.bookkeeping_bytes += words * sizeof(uint64_t);
	populate(c, dma);
	return 0;
}

void svf_dirty_dma_free(struct svf_container *c, struct svf_dma *dma)
{
	if (!dma->bitmap)
		return;
	c->st.bookkeeping_bytes -= bitmap_words(dma_pages(dma)) * sizeof(uint64_t);
	free(dma->bitmap);
	dma->bitmap = NULL;
}

int svf_dirty_start(struct svf_container *c)
{
	struct svf_dma *dma, *undo;
	int rc;

	if (c->dirty_tracking)
		return 0;
	RB_FOREACH(dma, svf_dma_tree, &c->dmas) {
		rc = svf_dirty_dma_alloc(c, dma);
		if (rc)
			goto err_free;
	}
	if (svf_dirty_hw_mode(c)) {
		/* Forget writes from before tracking began. */
		RB_FOREACH(dma, svf_dma_tree, &c->dmas) {
			for (unsigned i = 0; i < c->nr_domains; i++) {
				rc = svf_iommu_read_clear_dirty(c->domains[i], dma->iova, dma->size, 0,
								NULL, NULL);
				if (rc) {
					dma = NULL;
					goto err_free;
				}
			}
		}
	}
	c->dirty_tracking = true;
	return 0;

err_free:
	RB_FOREACH(undo, svf_dma_tree, &c->dmas) {
		if (undo == dma)
			break;
		svf_dirty_dma_free(c, undo);
	}
	return rc;
}

void svf_dirty_stop(struct svf_container *c)
{
	struct svf_dma *dma;

	RB_FOREACH(dma, svf_dma_tree, &c->dmas)
		svf_dirty_dma_free(c, dma);
	c->dirty_tracking = false;
}

int svf_dirty_report(struct svf_container *c, struct svf_dma *dma, uint64_t base,
		     uint64_t *user, uint64_t user_bytes)
{
	uint64_t first = (dma->iova - base) / SVF_PGSIZE, n = dma_pages(dma);

	if (!dma->bitmap)
		return 0;
	/* The caller checked the bitmap's size against the query; stay inside it anyway. */
	if (first + n > user_bytes * 8)
		return -EFAULT;
	if (svf_should_fail(SVF_FAULT_COPY))
		return -EFAULT;
	if (svf_dirty_hw_mode(c)) {
		/* The page tables know what the device wrote; every domain's writes count. */
		for (unsigned d = 0; d < c->nr_domains; d++) {
			int rc = svf_iommu_read_clear_dirty(c->domains[d], dma->iova, dma->size,
							    base, user, NULL);

			if (rc)
				return rc;
		}
	}
	for (uint64_t i = 0; i < n; i += 64) {
		uint64_t w = dma->bitmap[i / 64], take = n - i < 64 ? n - i : 64;
		uint64_t at = first + i, word = at / 64, shift = at % 64;

		if (take < 64)
			w &= (1ULL << take) - 1; /* never carry bits past the mapping */
		user[word] |= w << shift;
		if (shift && (w >> (64 - shift)))
			user[word + 1] |= w >> (64 - shift);
	}
	populate(c, dma); /* reported pages stay dirty while pinned */
	return 0;
}

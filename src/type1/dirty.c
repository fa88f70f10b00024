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
 * Reporting writes a mapping's bits into the caller's bitmap at the
 * mapping's page offset from the start of the query, as whole 64-bit words
 * (what the caller left in them does not survive). A mapping that starts
 * inside a word shares it with what precedes it: the bits below the mapping
 * are read back and kept. The shift is computed into a scratch buffer, never
 * into the mapping's own bitmap, so no stale bits from one report land on
 * another's pages (a bug real kernels have shipped). The caller's bitmap is
 * reached only through uaccess.h: a bad pointer is -EFAULT, not a crash.
 *
 * Nothing is lost on a failed report: D bits are first moved into the
 * mapping's bitmap (which a failed write leaves as it is), and a report
 * resets a mapping's bitmap only once the whole request was delivered
 * (svf_dirty_reset). A domain leaving while tracking in hardware has its D
 * bits folded in first (svf_dirty_fold_domain).
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
#include "uaccess.h"

static uint64_t dma_pages(const struct svf_dma *dma)
{
	return dma->size / SVF_PAGE_SIZE;
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
		bits_set(dma->bitmap, (v->iova - dma->iova) / SVF_PAGE_SIZE, 1);
}

void svf_dirty_mark(struct svf_dma *dma, uint64_t iova)
{
	bits_set(dma->bitmap, (iova - dma->iova) / SVF_PAGE_SIZE, 1);
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

/*
 * Move what the page tables recorded for dma into its own bitmap (read and
 * clear). From there a report delivers it; a report that fails leaves it
 * there, so a D bit once read is never lost. A domain that cannot be read
 * makes every page dirty: over-reporting is safe, under-reporting is not.
 */
static void fold_domain(struct svf_domain *d, struct svf_dma *dma)
{
	if (svf_iommu_read_clear_dirty(d, dma->iova, dma->size, dma->iova, dma->bitmap, NULL))
		bits_set(dma->bitmap, 0, dma_pages(dma));
}

void svf_dirty_fold_domain(struct svf_container *c, struct svf_domain *d)
{
	struct svf_dma *dma;

	if (!c->dirty_tracking || !svf_domain_hw_dirty(d))
		return;
	RB_FOREACH(dma, svf_dma_tree, &c->dmas)
		if (dma->bitmap)
			fold_domain(d, dma);
}

/* Output word i of dma's bits shifted left by shift (bit 0 = page shift of the word run). */
static uint64_t shifted_word(const uint64_t *bm, uint64_t n, uint64_t i, unsigned shift)
{
	uint64_t nin = bitmap_words(n), w = 0;

	if (i < nin)
		w = bm[i] << shift;
	if (shift && i >= 1 && i - 1 < nin)
		w |= bm[i - 1] >> (64 - shift);
	return w;
}

#define REPORT_CHUNK_WORDS 256 /* words written to the caller per copy */

/* Word i of the caller's bitmap, as an address only (user may be NULL or bad). */
static void *word_ptr(void *user, uint64_t i)
{
	return (void *)((uintptr_t)user + i * sizeof(uint64_t));
}

int svf_dirty_report(struct svf_container *c, struct svf_dma *dma, uint64_t base, void *user,
		     uint64_t user_bytes)
{
	uint64_t first = (dma->iova - base) / SVF_PAGE_SIZE, n = dma_pages(dma);
	uint64_t word0 = first / 64, nout, endbits, leftover = 0;
	unsigned shift = (unsigned)(first % 64);
	uint64_t buf[REPORT_CHUNK_WORDS];
	int rc;

	if (!dma->bitmap)
		return 0;
	nout = bitmap_words(n + shift);
	/* The caller checked the bitmap's size against the query; stay inside it anyway. */
	if (word0 + nout > user_bytes / 8)
		return -EFAULT;
	if (svf_should_fail(SVF_FAULT_COPY))
		return -EFAULT;
	if (svf_dirty_hw_mode(c)) {
		/* The page tables know what the device wrote; every domain's writes count. */
		for (unsigned d = 0; d < c->nr_domains; d++)
			fold_domain(c->domains[d], dma);
	} else if (c->nr_domains) {
		/*
		 * Some domain cannot tell what the device wrote, so every page
		 * pinned for it may be dirty (also right after such a domain
		 * joined a container that tracked in hardware).
		 */
		bits_set(dma->bitmap, 0, n);
	}
	/*
	 * Whole words are written, as Linux does: the bits of the first word
	 * below the mapping belong to what precedes it (an earlier mapping of
	 * this report) and are kept; everything else in the words is the
	 * mapping's, so whatever the caller left there does not come back.
	 */
	if (shift) {
		rc = svf_copy_from_user(&leftover, word_ptr(user, word0), sizeof(leftover));
		if (rc)
			return rc;
		leftover &= (1ULL << shift) - 1;
	}
	endbits = (n + shift) % 64;
	for (uint64_t o = 0; o < nout; o += REPORT_CHUNK_WORDS) {
		uint64_t m = nout - o < REPORT_CHUNK_WORDS ? nout - o : REPORT_CHUNK_WORDS;

		for (uint64_t k = 0; k < m; k++)
			buf[k] = shifted_word(dma->bitmap, n, o + k, shift);
		if (o == 0)
			buf[0] |= leftover;
		if (o + m == nout && endbits)
			buf[m - 1] &= (1ULL << endbits) - 1; /* never carry bits past the mapping */
		rc = svf_copy_to_user(word_ptr(user, word0 + o), buf, m * sizeof(uint64_t));
		if (rc)
			return rc;
	}
	return 0;
}

void svf_dirty_reset(struct svf_container *c, struct svf_dma *dma)
{
	if (dma->bitmap)
		populate(c, dma); /* reported pages stay dirty while pinned */
}

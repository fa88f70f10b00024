/* SPDX-License-Identifier: MIT */
/*
 * The type1 container (layer 2 of docs/design.md): user DMA mappings in an rb-tree
 * ordered by IOVA, the attached domains, the map path and the unmap path.
 *
 * Map: pin the user range in physically contiguous runs; map each run into
 * every attached domain; on any failure undo exactly what was done (the
 * domains of the failing run first, then the completed prefix through the
 * ordinary unmap path, which invalidates it) and give the entry back.
 *
 * Unmap (the fast-unmap patch, "vfio/type1: Adopt fast IOTLB flush
 * interface when unmap IOVAs", done right): for each mapping removed, domains other
 * than domains[0] are unmapped with a waiting unmap first; then
 * domains[0] is walked in physically contiguous chunks, each removed with
 * unmap_fast into c->gather and recorded on the preallocated pending list
 * c->pending. When the list holds batch_cap regions, or a fast unmap
 * fails, one iotlb_sync is done and only then are the pending regions
 * unpinned. A chunk whose fast unmap fails is redone with a waiting unmap;
 * if that fails too, the mapping is shrunk to what remains, the error is
 * returned, and the next unmap of the range finishes it.
 *
 * Policies are rows of one table of behaviours (policies[] below): strict
 * waits and unpins per chunk; batched syncs at the end of every mapping (as
 * the fast-unmap patch); gather merges adjacent ranges in the gather and
 * syncs only when the list is full or at the end of the request, so many
 * small mappings share waits; lazy is gather whose pending list is a flush
 * queue (flushq.h): the request returns without syncing, and the queue is
 * flushed when full (lazy_queue_cap), by the container's timer thread, or
 * by any request that flushes. The code asks the row, never the policy.
 *
 * Invariants (checked by svf_container_check and the emulated IOMMU):
 *  - a page is unpinned only after the sync covering its invalidation has
 *    returned 0 (pending_unpin is reached only from pending_flush after a
 *    successful sync, or from the strict path after a waiting unmap);
 *  - every request that may leave regions pending ends with pending_flush
 *    (lazy: except unmap, whose queue the timer flushes), so nothing is
 *    pending between requests unless a sync failed (then the pages stay
 *    pinned, and the next request retries the sync) or the policy is lazy;
 *  - st.pinned_now == pages of live mappings + pages on the pending list.
 *
 * Lock: c->lock, taken by the public entry points and by uapi.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "container_priv.h"
#include "dirty.h"
#include "dmacheck.h"
#include "fault.h"
#include "flushq.h"
#include "svf_log.h"
#include "svf_test.h"
#include "vpfn.h"

/*
 * What each flush policy does, as behaviours of the unmap path:
 *  wait_per_chunk    each chunk is removed with a waiting unmap and unpinned
 *                    at once; nothing is ever pending
 *  sync_per_mapping  the pending list is synced when a mapping is done
 *  merge_gather      adjacent removed ranges merge into one invalidation
 *                    (else each range is queued as it is removed)
 *  defer_to_timer    the pending list is a flush queue: a request returns
 *                    without syncing it; it is flushed when full (counted in
 *                    lazy_flush_full), by the timer, or by a request that
 *                    flushes; its capacity is lazy_queue_cap
 * Otherwise the pending list is synced when full (batch_cap) and at the end
 * of every request.
 */
struct svf_policy_desc {
	const char *name;
	bool wait_per_chunk;
	bool sync_per_mapping;
	bool merge_gather;
	bool defer_to_timer;
};

static const struct svf_policy_desc policies[SVF_POLICY_NR] = {
	[SVF_POLICY_STRICT] = { .name = "strict", .wait_per_chunk = true, .merge_gather = true },
	[SVF_POLICY_BATCHED] = { .name = "batched", .sync_per_mapping = true },
	[SVF_POLICY_GATHER] = { .name = "gather", .merge_gather = true },
	[SVF_POLICY_LAZY] = { .name = "lazy", .merge_gather = true, .defer_to_timer = true },
};

/* c's row (c->policy is immutable and valid after create). */
static const struct svf_policy_desc *policy_of(const struct svf_container *c)
{
	return &policies[c->policy];
}

const char *svf_policy_name(enum svf_policy p)
{
	return (unsigned)p < SVF_POLICY_NR ? policies[p].name : "?";
}

int svf_policy_parse(const char *s, enum svf_policy *out)
{
	for (unsigned i = 0; i < SVF_POLICY_NR; i++) {
		if (!strcmp(s, svf_policy_name(i))) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

void svf_type1_lock(struct svf_container *c)
{
	pthread_mutex_lock(&c->lock);
}

void svf_type1_unlock(struct svf_container *c)
{
	pthread_mutex_unlock(&c->lock);
}

/*
 * The last IOVA of a mapping. Ranges inside the container are [iova, last]:
 * a mapping may end exactly at 2^64 (a container without an IOMMU domain
 * has no aperture), where iova + size wraps to 0, so no comparison here
 * uses an exclusive end.
 */
static inline uint64_t dma_last(const struct svf_dma *d)
{
	return d->iova + (d->size - 1);
}

/*
 * The first mapping whose range ends after iova (so it contains or follows
 * it). One descent finds both neighbours of iova: the last mapping starting
 * at or below it (it holds iova if anything does: mappings never overlap)
 * and the first starting above it.
 */
static struct svf_dma *dma_first_ending_after(struct svf_container *c, uint64_t iova)
{
	struct svf_dma *d = RB_ROOT(&c->dmas), *below = NULL, *above = NULL;

	while (d) {
		if (d->iova <= iova) {
			below = d;
			if (d->iova == iova)
				break;
			d = RB_RIGHT(d, node);
		} else {
			above = d;
			d = RB_LEFT(d, node);
		}
	}
	if (below && dma_last(below) >= iova)
		return below;
	return above;
}

/* The mapping containing iova, or NULL. */
static struct svf_dma *dma_find(struct svf_container *c, uint64_t iova)
{
	struct svf_dma *d = dma_first_ending_after(c, iova);

	return d && d->iova <= iova ? d : NULL;
}

/*
 * Whether [iova, last] starts or ends inside a mapping (v2 unmap and dirty
 * GET refuse that); first is dma_first_ending_after(c, iova), which
 * answers for iova and, when it also holds last (mappings never overlap),
 * for last: a request for one whole mapping costs one tree search.
 */
static bool range_bisects_at(struct svf_container *c, struct svf_dma *first, uint64_t iova,
			     uint64_t last)
{
	struct svf_dma *dma;

	if (first && first->iova < iova)
		return true;
	dma = first && first->iova <= last && dma_last(first) >= last ? first : dma_find(c, last);
	return dma && dma_last(dma) != last;
}

static bool range_bisects(struct svf_container *c, uint64_t iova, uint64_t last)
{
	return range_bisects_at(c, dma_first_ending_after(c, iova), iova, last);
}

struct svf_dma *svf_type1_dma_find(struct svf_container *c, uint64_t iova)
{
	SVF_TYPE1_ASSERT_LOCKED(c);
	return dma_find(c, iova);
}

/* Unpin a region that no domain can translate any more (checked). */
static void unpin_region(struct svf_container *c, uint64_t iova, uint64_t phys, uint64_t len,
			 uint64_t vaddr)
{
	uint64_t pages = len / SVF_PAGE_SIZE;

	for (unsigned i = 0; i < c->nr_domains; i++)
		svf_iommu_check_unpin(c->domains[i], iova, phys, len);
	svf_unpin_run(c->pinner, vaddr, phys, pages);
	c->st.pages_unpinned += pages;
	c->st.pinned_now -= pages;
}

/* Unpin the whole pending list with one pinner call; the caller has synced. */
static void pending_unpin(struct svf_container *c)
{
	uint64_t pages = 0;

	for (unsigned d = 0; d < c->nr_domains; d++) {
		if (!svf_iommu_checks_unpin(c->domains[d]))
			continue;
		for (unsigned i = 0; i < c->nr_pending; i++)
			svf_iommu_check_unpin(c->domains[d], c->pending_iova[i],
					      c->pending_pins[i].phys,
					      c->pending_pins[i].npages * SVF_PAGE_SIZE);
	}
	for (unsigned i = 0; i < c->nr_pending; i++)
		pages += c->pending_pins[i].npages;
	svf_unpin_runs(c->pinner, c->pending_pins, c->nr_pending);
	c->st.pages_unpinned += pages;
	c->st.pinned_now -= pages;
	c->nr_pending = 0;
}

/*
 * Sync the gather and unpin the pending regions. On a failed sync the
 * regions stay pinned and listed; a later flush retries.
 */
static int pending_flush(struct svf_container *c)
{
	int rc;

	if (!c->nr_pending && svf_gather_is_empty(&c->gather))
		return 0;
	if (c->nr_domains) {
		rc = svf_iommu_iotlb_sync(c->domains[0], &c->gather);
		if (rc)
			return rc;
	}
	pending_unpin(c);
	return 0;
}

/*
 * Lazy: the flush timer's callback (flushq.h), lock held. A request may have
 * flushed the queue since the timer was armed; only a flush of something
 * counts as one by the timer.
 */
static int timer_flush(void *opaque)
{
	struct svf_container *c = opaque;
	int rc;

	if (!c->nr_pending && svf_gather_is_empty(&c->gather))
		return 0;
	rc = pending_flush(c);
	if (!rc)
		c->st.lazy_flush_timeout++;
	return rc;
}

/* Whether a pending (unmapped, not yet synced) region meets [iova, last]. */
static bool pending_overlaps(const struct svf_container *c, uint64_t iova, uint64_t last)
{
	for (unsigned i = 0; i < c->nr_pending; i++) {
		uint64_t at = c->pending_iova[i];

		if (at <= last && iova <= at + (c->pending_pins[i].npages * SVF_PAGE_SIZE - 1))
			return true;
	}
	return false;
}

/* Waiting unmap of [start, end) from d, skipping holes. 0 or errno. */
static int unmap_domain_range(struct svf_domain *d, uint64_t start, uint64_t end)
{
	uint64_t iova = start;

	while (iova < end) {
		uint64_t n = 0;
		int rc = svf_iommu_unmap(d, iova, end - iova, &n);

		if (rc)
			return rc;
		iova += n ? n : SVF_PAGE_SIZE;
	}
	return 0;
}

/* The vaddr the page at iova of dma was pinned through. */
static uint64_t pin_vaddr_at(const struct svf_dma *dma, uint64_t iova)
{
	return dma->pin_vaddr + (iova - dma->iova);
}

/*
 * Remove the physically contiguous chunk at iova (up to end) from d0 with a
 * waiting unmap and unpin what it removed at once: the strict policy's
 * step, and the fast-unmap patch's fallback for a chunk whose fast unmap failed.
 * *hole is set (and nothing done) when iova is not mapped. *n receives the
 * bytes removed, also on error. 0 or the driver's errno.
 */
static int unmap_chunk_waiting(struct svf_container *c, struct svf_dma *dma, struct svf_domain *d0,
			       uint64_t iova, uint64_t end, uint64_t *n, bool *hole)
{
	uint64_t phys, len;
	int rc;

	*n = 0;
	*hole = svf_iommu_phys_run(d0, iova, end - iova, &phys, &len) != 0;
	if (*hole)
		return 0;
	c->st.chunks_unmapped++;
	rc = svf_iommu_unmap(d0, iova, len, n);
	if (*n)
		unpin_region(c, iova, phys, *n, pin_vaddr_at(dma, iova));
	return rc;
}

/*
 * Unmap and unpin [start, end) of dma. *done receives the IOVA below which
 * everything is unmapped from every domain and either unpinned or pending.
 * Returns 0 or the errno of a failure that not even the fallback survived.
 */
static int unmap_unpin_range(struct svf_container *c, struct svf_dma *dma, uint64_t start,
			     uint64_t end, uint64_t *done)
{
	struct svf_domain *d0;
	uint64_t iova = start;
	int rc;

	*done = start;
	if (!c->nr_domains) {
		*done = end;
		return 0;
	}
	for (unsigned i = 1; i < c->nr_domains; i++) {
		rc = unmap_domain_range(c->domains[i], start, end);
		if (rc) {
			dma->partial = true;
			return rc;
		}
	}
	d0 = c->domains[0];
	while (iova < end) {
		uint64_t n = 0, m = 0;
		bool hole;
		int frc;

		if (policy_of(c)->wait_per_chunk) {
			/* As type1 before the fast-unmap patch: every chunk waits. */
			rc = unmap_chunk_waiting(c, dma, d0, iova, end, &n, &hole);
			iova += hole ? SVF_PAGE_SIZE : n; /* a hole: left by an earlier failed unmap */
			if (rc)
				goto err_chunk;
			*done = iova;
			continue;
		}

		/*
		 * Fast unmap, no wait: the driver removes as many physical chunks
		 * as the batch has room for, walking each leaf table once, and
		 * they go straight onto the pending list.
		 */
		unsigned nr = 0;
		uint64_t upto = iova;

		rc = svf_iommu_unmap_fast_runs(d0, iova, end - iova, &c->gather, c->runs,
					       c->batch_cap - c->nr_pending, &nr, &upto);
		if (nr) {
			const unsigned base = c->nr_pending;
			/* Locals: the stores below could alias c's and dma's fields otherwise. */
			const struct svf_iommu_run *run = c->runs;
			uint64_t *piova = c->pending_iova + base;
			struct svf_pin_region *pin = c->pending_pins + base;
			const uint64_t pin_delta = pin_vaddr_at(dma, 0);

			for (unsigned r = 0; r < nr; r++) {
				piova[r] = run[r].iova;
				pin[r] = (struct svf_pin_region){
					.vaddr = pin_delta + run[r].iova,
					.phys = run[r].phys,
					.npages = run[r].len / SVF_PAGE_SIZE,
				};
			}
			c->nr_pending = base + nr;
			if (c->nr_pending > c->st.regions_pending_peak)
				c->st.regions_pending_peak = c->nr_pending;
			if (c->flushq && base == 0)
				svf_flushq_arm(c->flushq); /* lazy: the timeout runs from the oldest region */
		}
		c->st.chunks_unmapped += nr;
		if (nr || !rc) {
			iova = upto;
			*done = iova;
		}
		if (rc) {
			/* Sync what is pending, then redo this chunk with a waiting unmap. */
			c->st.unmap_fallbacks++;
			frc = pending_flush(c);
			if (frc) {
				dma->partial = true;
				return frc;
			}
			rc = unmap_chunk_waiting(c, dma, d0, iova, end, &m, &hole);
			if (hole)
				continue; /* the failed call removed the rest of the chunk after all */
			iova += m;
			if (rc)
				goto err_chunk;
			*done = iova;
		}
		if (c->nr_pending == c->batch_cap) {
			if (policy_of(c)->defer_to_timer)
				c->st.lazy_flush_full++;
			rc = pending_flush(c);
			if (rc) {
				dma->partial = true;
				return rc;
			}
		}
	}
	if (policy_of(c)->sync_per_mapping) {
		/* Once per mapping, at its end, as the fast-unmap patch. */
		rc = pending_flush(c);
		if (rc)
			return rc;
	}
	return 0;

err_chunk:
	/* Not even the waiting unmap removed the chunk: it stays mapped and pinned. */
	c->st.unmap_errors++;
	dma->partial = true;
	*done = iova;
	return rc;
}

static void dma_free(struct svf_container *c, struct svf_dma *dma)
{
	svf_dmacheck_unmapped(c->dmachk, dma->iova, dma->size);
	if (dma->vaddr_invalid)
		c->vaddr_invalid_count--;
	if (dma->nr_vpfns)
		svf_vpfn_release_dma(c, dma);
	svf_dirty_dma_free(c, dma);
	RB_REMOVE(svf_dma_tree, &c->dmas, dma);
	c->nr_dmas--;
	c->dma_avail++;
	svf_dma_free(&c->dmac, dma);
}

/*
 * Remove dma entirely. On failure the mapping shrinks to the part not yet
 * unmapped and stays in the tree, so a later unmap finishes it.
 */
static int dma_remove(struct svf_container *c, struct svf_dma *dma)
{
	uint64_t done, end = dma->iova + dma->size;
	int rc = unmap_unpin_range(c, dma, dma->iova, end, &done);

	if (!rc && done == end) {
		dma_free(c, dma);
		return 0;
	}
	if (done >= end) {
		/* Everything left the domains; only the pending sync failed. */
		dma_free(c, dma);
		return rc;
	}
	/* Shrinking from the front keeps the tree order (the range only narrows). */
	dma->vaddr += done - dma->iova;
	dma->pin_vaddr += done - dma->iova;
	dma->size = end - done;
	dma->iova = done;
	return rc;
}

int svf_type1_iova_ranges(struct svf_container *c, struct svf_iova_range *r, unsigned max,
			  unsigned *nr)
{
	uint64_t top = UINT64_MAX;
	struct svf_resv_region resv[SVF_MAX_IOVA_RANGES];
	size_t nresv = 0;
	unsigned n = 0;

	SVF_TYPE1_ASSERT_LOCKED(c);
	*nr = 0;
	if (!c->nr_domains)
		return 0;
	for (unsigned i = 0; i < c->nr_domains; i++) {
		uint64_t l = svf_domain_aperture_last(c->domains[i]);
		size_t got = 0;

		if (l < top)
			top = l;
		svf_domain_resv_regions(c->domains[i], resv + nresv,
					SVF_MAX_IOVA_RANGES - nresv, &got);
		nresv += got < SVF_MAX_IOVA_RANGES - nresv ? got : SVF_MAX_IOVA_RANGES - nresv;
	}
	/* Sort reserved regions by start (few of them: insertion sort). */
	for (size_t i = 1; i < nresv; i++) {
		struct svf_resv_region t = resv[i];
		size_t j = i;

		for (; j > 0 && resv[j - 1].start > t.start; j--)
			resv[j] = resv[j - 1];
		resv[j] = t;
	}
	uint64_t cur = 0;
	bool open = true;
	for (size_t i = 0; i < nresv && open; i++) {
		if (resv[i].last < cur)
			continue;
		if (resv[i].start > top)
			break;
		if (resv[i].start > cur) {
			if (n < max)
				r[n] = (struct svf_iova_range){ cur, resv[i].start - 1 };
			n++;
		}
		if (resv[i].last >= top) {
			open = false;
			break;
		}
		cur = resv[i].last + 1;
	}
	if (open) {
		if (n < max)
			r[n] = (struct svf_iova_range){ cur, top };
		n++;
	}
	*nr = n;
	return n > max ? -ENOSPC : 0;
}

static bool iova_range_valid(struct svf_container *c, uint64_t iova, uint64_t last)
{
	struct svf_iova_range r[SVF_MAX_IOVA_RANGES];
	unsigned nr;

	if (!c->nr_domains)
		return true;
	if (svf_type1_iova_ranges(c, r, SVF_MAX_IOVA_RANGES, &nr))
		return false;
	for (unsigned i = 0; i < nr; i++)
		if (iova >= r[i].start && last <= r[i].last)
			return true;
	return false;
}

uint64_t svf_type1_pgsize_bitmap(struct svf_container *c)
{
	uint64_t bm = ~(SVF_PAGE_SIZE - 1);

	SVF_TYPE1_ASSERT_LOCKED(c);
	for (unsigned i = 0; i < c->nr_domains; i++)
		bm &= svf_domain_pgsize_bitmap(c->domains[i]);
	/* Linux clears the bits below PAGE_SIZE and sets PAGE_SIZE. */
	return (bm & ~(SVF_PAGE_SIZE - 1)) | SVF_PAGE_SIZE;
}

/*
 * Pin dma's pages in runs and map each run into every domain.
 *
 * A run is mapped only once the next one is pinned (or it is the last):
 * Linux extends a run page by page and finds that it ended only on the
 * next page's frame, so when that page fails the run is dropped unmapped
 * and a failure inside the first run costs no invalidation and no wait.
 * Pinning one run ahead gives the same: a run cut short by a failing page
 * is unpinned without having been mapped.
 */
static int pin_map_dma(struct svf_container *c, struct svf_dma *dma)
{
	uint64_t iova = dma->iova, vaddr = dma->pin_vaddr, left = dma->size / SVF_PAGE_SIZE;
	const bool write = dma->prot & SVF_PROT_WRITE;
	uint64_t next_phys = 0, next_n = 0; /* the run pinned ahead; next_n 0: none */
	int rc;

	if (!c->nr_domains)
		return 0; /* Linux pins nothing until a domain exists */
	while (left) {
		uint64_t phys, n;
		unsigned i;

		if (next_n) {
			phys = next_phys;
			n = next_n;
			next_n = 0;
		} else {
			rc = svf_pin_run(c->pinner, vaddr, left, write, &phys, &n);
			if (rc)
				goto err_unwind;
		}
		if (n < left) {
			rc = svf_pin_run(c->pinner, vaddr + n * SVF_PAGE_SIZE, left - n, write,
					 &next_phys, &next_n);
			if (rc) {
				/* Never mapped: nothing to invalidate or wait for. */
				svf_unpin_run(c->pinner, vaddr, phys, n);
				goto err_unwind;
			}
		}
		svf_type1_account_pin(c, n);
		/*
		 * Check mode: clear the IOVA stamps of this run before any domain
		 * maps it (a device may reach it from then on). Per pinned run, so
		 * the check's memory follows what is really mapped: a huge map that
		 * fails to pin costs nothing.
		 */
		i = 0;
		rc = svf_dmacheck_map(c->dmachk, iova, n * SVF_PAGE_SIZE);
		if (rc)
			goto err_unmap_run;
		for (i = 0; i < c->nr_domains; i++) {
			rc = svf_iommu_map(c->domains[i], iova, phys, n * SVF_PAGE_SIZE, dma->prot);
			if (rc)
				goto err_unmap_run;
		}
		iova += n * SVF_PAGE_SIZE;
		vaddr += n * SVF_PAGE_SIZE;
		left -= n;
		continue;

err_unmap_run:
		if (next_n) /* pinned ahead, never mapped */
			svf_unpin_run(c->pinner, vaddr + n * SVF_PAGE_SIZE, next_phys, next_n);
		while (i-- > 0) {
			int urc = unmap_domain_range(c->domains[i], iova, iova + n * SVF_PAGE_SIZE);

			if (urc) {
				/* Cannot prove the run unreachable: keep it pinned as part of dma. */
				iova += n * SVF_PAGE_SIZE;
				dma->partial = true;
				goto err_unwind;
			}
		}
		unpin_region(c, iova, phys, n * SVF_PAGE_SIZE, vaddr);
		goto err_unwind;
	}
	return 0;

err_unwind:
	if (iova > dma->iova) {
		uint64_t done;
		int urc = unmap_unpin_range(c, dma, dma->iova, iova, &done);

		if (!urc)
			urc = pending_flush(c);
		if (urc) {
			/* Keep what could not be undone as the mapping; report the map error. */
			svf_log(SVF_LOG_ERR, "map undo failed (%d); 0x%llx left mapped", urc,
				(unsigned long long)(iova - done));
		}
	}
	return rc;
}

int svf_type1_map(struct svf_container *c, uint64_t iova, uint64_t vaddr, uint64_t size,
		  int prot)
{
	uint64_t last = iova + size - 1;
	struct svf_dma *dma, *ovl;
	int rc;

	SVF_TYPE1_ASSERT_LOCKED(c);
	/* MAP rows 7-12 of docs/uapi.md. Row 7: overlap, before the IOVA range and pinning. */
	ovl = dma_first_ending_after(c, iova);
	if (ovl && ovl->iova <= last)
		return -EEXIST;
	if (!c->dma_avail) /* row 8 */
		return -ENOSPC;
	if (!iova_range_valid(c, iova, last)) /* row 9 */
		return -EINVAL;
	if (svf_should_fail(SVF_FAULT_ALLOC)) /* row 10 */
		return -ENOMEM;
	/*
	 * Lazy: an IOVA whose unmap is still queued (not invalidated yet) may
	 * be cached by the device with its old translation; mapping it again
	 * first completes the queue, so the device never reads the old pages
	 * through the new mapping.
	 */
	if (pending_overlaps(c, iova, last)) {
		rc = pending_flush(c);
		if (rc)
			return rc;
	}
	dma = svf_dma_alloc(&c->dmac);
	if (!dma)
		return -ENOMEM;
	dma->iova = iova;
	dma->size = size;
	dma->vaddr = vaddr;
	dma->pin_vaddr = vaddr;
	dma->prot = prot;
	RB_INSERT(svf_dma_tree, &c->dmas, dma);
	c->nr_dmas++;
	c->dma_avail--;

	svf_pinner_sample_begin(c->pinner); /* limits sampled once per MAP_DMA, as Linux */
	rc = pin_map_dma(c, dma); /* row 11 */
	svf_pinner_sample_end(c->pinner);
	if (rc) {
		if (dma->partial) {
			/* An undo failed: the remainder stays as a mapping to unmap later. */
			return rc;
		}
		dma_free(c, dma);
		return rc;
	}
	if (c->dirty_tracking) { /* row 12: no bitmap, no mapping */
		rc = svf_dirty_dma_alloc(c, dma);
		if (rc) {
			int urc = dma_remove(c, dma);

			if (!urc)
				urc = pending_flush(c);
			if (urc)
				svf_log(SVF_LOG_ERR, "map undo after bitmap failure: %d", urc);
			return rc;
		}
	}
	return 0;
}

/*
 * With real frame numbers, the new vaddr of a VADDR update must address the
 * very pages the mapping holds pinned (a live-update VMM that remaps guest
 * memory elsewhere would otherwise have the device and the CPU see
 * different memory). Linux does not check; softvfio refuses with -EINVAL.
 * Without real frames (no pagemap access) nothing can be compared.
 */
static int vaddr_same_pages(struct svf_container *c, struct svf_dma *dma, uint64_t vaddr)
{
	if (!c->nr_domains || svf_pinner_backend(c->pinner) != SVF_BACKEND_PROCESS ||
	    !svf_pinner_pfns_real(c->pinner))
		return 0;
	for (uint64_t off = 0; off < dma->size;) {
		uint64_t phys, len, want;

		if (svf_iommu_phys_run(c->domains[0], dma->iova + off, dma->size - off, &phys, &len)) {
			off += SVF_PAGE_SIZE; /* a hole of a partial mapping */
			continue;
		}
		for (uint64_t i = 0; i < len; i += SVF_PAGE_SIZE) {
			if (svf_pinner_lookup(c->pinner, vaddr + off + i, &want) ||
			    want != phys + i)
				return -EINVAL;
		}
		off += len;
	}
	return 0;
}

/*
 * MAP_DMA with FLAG_VADDR (docs/uapi.md MAP row 6): re-attach a vaddr to exactly the mapping
 * whose vaddr was invalidated. Pins and translations never changed, and
 * unpinning keeps using the vaddr the pages were pinned through.
 */
int svf_type1_map_vaddr(struct svf_container *c, uint64_t iova, uint64_t vaddr, uint64_t size)
{
	struct svf_dma *dma = dma_first_ending_after(c, iova);
	int rc;

	SVF_TYPE1_ASSERT_LOCKED(c);
	if (!dma || dma->iova > iova + size - 1)
		return -ENOENT;
	if (!dma->vaddr_invalid || dma->iova != iova || dma->size != size)
		return -EINVAL;
	rc = vaddr_same_pages(c, dma, vaddr);
	if (rc)
		return rc;
	/*
	 * Devices reach the pinned pages through the new address from now on,
	 * so the program may unmap the old one (a live update does).
	 */
	if (c->nr_domains) {
		rc = svf_pinner_rebase(c->pinner, dma->pin_vaddr, vaddr, size);
		if (rc)
			return rc;
	}
	dma->vaddr = vaddr;
	dma->vaddr_invalid = false;
	c->vaddr_invalid_count--;
	return 0;
}

/* UNMAP with FLAG_VADDR: mark [first, ...) up to last vaddr-invalid; all or nothing (row 11). */
static int invalidate_vaddrs(struct svf_container *c, struct svf_dma *first, uint64_t iova,
			     uint64_t last, uint64_t *total)
{
	struct svf_dma *dma;

	for (dma = first; dma && dma->iova <= last; dma = RB_NEXT(svf_dma_tree, &c->dmas, dma)) {
		if (c->type != VFIO_TYPE1v2_IOMMU && iova > dma->iova)
			break;
		if (dma->vaddr_invalid) {
			/* Roll back the ones this call marked. */
			for (struct svf_dma *r = first; r != dma;
			     r = RB_NEXT(svf_dma_tree, &c->dmas, r)) {
				r->vaddr_invalid = false;
				c->vaddr_invalid_count--;
			}
			*total = 0;
			return -EINVAL;
		}
		dma->vaddr_invalid = true;
		c->vaddr_invalid_count++;
		*total += dma->size;
	}
	return 0;
}

/* UNMAP rows 5-13 of docs/uapi.md, in order (rows 1-4 are checked in uapi.c). */
/*
 * Ask every emulated device to unpin in [iova, iova + len). Called with the
 * lock held; drops it around the callbacks, which take it again to unpin.
 */
static void notify_emulated_unmap(struct svf_container *c, uint64_t iova, uint64_t len)
{
	struct svf_emu_device *devs[SVF_MAX_EMULATED];
	unsigned n = c->nr_emus;

	memcpy(devs, c->emus, n * sizeof(devs[0]));
	pthread_mutex_unlock(&c->lock);
	for (unsigned i = 0; i < n; i++)
		devs[i]->ops.dma_unmap(devs[i]->opaque, iova, len);
	pthread_mutex_lock(&c->lock);
}

int svf_type1_unmap(struct svf_container *c, uint64_t iova, uint64_t size, uint32_t flags,
		    const struct vfio_bitmap *bm, uint64_t *unmapped)
{
	const bool all = flags & VFIO_DMA_UNMAP_FLAG_ALL;
	const uint64_t mask = SVF_PAGE_SIZE - 1;
	uint64_t last, total = 0;
	struct svf_dma *dma;
	int rc = 0, frc;

	SVF_TYPE1_ASSERT_LOCKED(c);
	*unmapped = 0;
	if (iova & mask) /* row 5 */
		return -EINVAL;
	if (all) {
		if (iova || size) /* row 6 */
			return -EINVAL;
		last = UINT64_MAX;
	} else {
		if (!size || (size & mask)) /* row 7 */
			return -EINVAL;
		if (__builtin_add_overflow(iova, size - 1, &last)) /* row 8 */
			return -EOVERFLOW;
	}
	if ((flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) && /* row 9 */
	    (!c->dirty_tracking || bm->pgsize != SVF_PAGE_SIZE))
		return -EINVAL;
	dma = dma_first_ending_after(c, iova);
	if (c->type == VFIO_TYPE1v2_IOMMU && !all && range_bisects_at(c, dma, iova, last)) /* row 10 */
		return -EINVAL;
	if (flags & VFIO_DMA_UNMAP_FLAG_VADDR) {
		rc = invalidate_vaddrs(c, dma, iova, last, &total);
		if (!rc)
			*unmapped = total;
		return rc;
	}
	uint64_t notified = 0;
	bool have_notified = false;
	while (dma && dma->iova <= last) {
		struct svf_dma *next = RB_NEXT(svf_dma_tree, &c->dmas, dma);
		uint64_t sz = dma->size;

		/* v1: a request starting inside a mapping stops there. */
		if (c->type != VFIO_TYPE1v2_IOMMU && iova > dma->iova)
			break;
		if (dma->nr_vpfns) {
			/*
			 * Emulated devices hold pages here: ask them to unpin
			 * (the lock is dropped meanwhile, so look again after).
			 * A device that does not unpin fails the unmap cleanly.
			 */
			if (have_notified && notified == dma->iova) {
				rc = -EBUSY;
				break;
			}
			have_notified = true;
			notified = dma->iova;
			notify_emulated_unmap(c, dma->iova, dma->size);
			/* The lock was dropped: the tree may have changed. */
			dma = dma_first_ending_after(c, iova);
			continue;
		}
		if (bm) {
			/* UNMAP row 12: mappings removed before a failed write stay removed. */
			rc = svf_dirty_report(c, dma, iova, (void *)(uintptr_t)bm->data, bm->size);
			if (rc)
				break;
		}
		rc = dma_remove(c, dma);
		if (rc)
			break;
		total += sz;
		dma = next;
	}
	/* A flush queue returns with the regions queued (flushq.h). */
	frc = policy_of(c)->defer_to_timer ? 0 : pending_flush(c);
	svf_dmacheck_returned(c->dmachk);
	if (!rc)
		rc = frc;
	if (!rc)
		*unmapped = total;
	return rc;
}

int svf_type1_dirty_get(struct svf_container *c, uint64_t iova, uint64_t size,
			const struct vfio_bitmap *bm)
{
	const uint64_t last = iova + size - 1; /* the decoder ruled out a wrap */
	struct svf_dma *dma;
	int rc;

	SVF_TYPE1_ASSERT_LOCKED(c);
	if (bm->pgsize != SVF_PAGE_SIZE)
		return -EINVAL;
	if ((iova | size) & (SVF_PAGE_SIZE - 1))
		return -EINVAL;
	if (!c->dirty_tracking)
		return -EINVAL;
	if (range_bisects(c, iova, last))
		return -EINVAL;
	/* Deliver every mapping's bits first; reset them only once all were delivered. */
	for (dma = dma_first_ending_after(c, iova); dma && dma->iova <= last;
	     dma = RB_NEXT(svf_dma_tree, &c->dmas, dma)) {
		rc = svf_dirty_report(c, dma, iova, (void *)(uintptr_t)bm->data, bm->size);
		if (rc)
			return rc;
	}
	for (dma = dma_first_ending_after(c, iova); dma && dma->iova <= last;
	     dma = RB_NEXT(svf_dma_tree, &c->dmas, dma))
		svf_dirty_reset(c, dma);
	return 0;
}

void svf_container_default_config(struct svf_container_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->policy = SVF_POLICY_GATHER;
	cfg->batch_cap = SVF_DEFAULT_BATCH_CAP;
	cfg->dma_entry_limit = SVF_DEFAULT_DMA_ENTRY_LIMIT;
	cfg->attach_default_domain = true;
	cfg->lazy_queue_cap = SVF_DEFAULT_LAZY_QUEUE_CAP;
	cfg->lazy_timeout_us = SVF_DEFAULT_LAZY_TIMEOUT_US;
}

int svf_container_create(const struct svf_container_config *ucfg, struct svf_container **out)
{
	struct svf_container_config cfg;
	struct svf_container *c;
	int rc;

	*out = NULL;
	if (ucfg)
		cfg = *ucfg;
	else
		svf_container_default_config(&cfg);
	if ((unsigned)cfg.policy >= SVF_POLICY_NR)
		return -EINVAL;
	if (!cfg.batch_cap)
		cfg.batch_cap = SVF_DEFAULT_BATCH_CAP;
	if (!cfg.dma_entry_limit)
		cfg.dma_entry_limit = SVF_DEFAULT_DMA_ENTRY_LIMIT;
	if (policies[cfg.policy].defer_to_timer) /* the pending list is the flush queue */
		cfg.batch_cap = cfg.lazy_queue_cap ? cfg.lazy_queue_cap : SVF_DEFAULT_LAZY_QUEUE_CAP;
	if (!cfg.lazy_timeout_us)
		cfg.lazy_timeout_us = SVF_DEFAULT_LAZY_TIMEOUT_US;

	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	RB_INIT(&c->dmas);
	svf_dma_cache_init(&c->dmac, &c->st.bookkeeping_bytes);
	c->policy = cfg.policy;
	c->batch_cap = cfg.batch_cap;
	c->dma_entry_limit = cfg.dma_entry_limit;
	c->dma_avail = cfg.dma_entry_limit;
	c->st.cpu_time_measured = cfg.cpu_time; /* immutable after create */
	svf_gather_init(&c->gather, policy_of(c)->merge_gather);

	rc = -ENOMEM;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		goto err_free;
	c->pending_iova = calloc(c->batch_cap, sizeof(*c->pending_iova));
	if (!c->pending_iova)
		goto err_free;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		goto err_pending;
	c->pending_pins = calloc(c->batch_cap, sizeof(*c->pending_pins));
	if (!c->pending_pins)
		goto err_pending;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		goto err_pending;
	c->runs = calloc(c->batch_cap, sizeof(*c->runs));
	if (!c->runs)
		goto err_pending;
	c->st.bookkeeping_bytes = sizeof(*c) + (uint64_t)c->batch_cap *
				  (sizeof(*c->pending_iova) + sizeof(*c->pending_pins) +
				   sizeof(*c->runs));

	if (cfg.pinner) {
		c->pinner = cfg.pinner;
	} else {
		struct svf_pinner_config pc = { .backend = SVF_BACKEND_PROCESS };

		rc = svf_pinner_create(&pc, &c->pinner);
		if (rc)
			goto err_pending;
		c->own_pinner = true;
	}
	if (cfg.attach_default_domain) {
		rc = svf_iommu_create(cfg.iommu, &c->own_unit);
		if (rc)
			goto err_pinner;
		rc = svf_domain_alloc(c->own_unit, &c->own_domain);
		if (rc)
			goto err_unit;
		rc = svf_container_attach_domain(c, c->own_domain);
		if (rc)
			goto err_domain;
	}
	if (cfg.dma_check) {
		rc = svf_pinner_enable_check(c->pinner);
		if (!rc)
			rc = svf_dmacheck_create(true, &c->dmachk);
		if (rc)
			goto err_check;
	}
	if (policy_of(c)->defer_to_timer) {
		rc = svf_flushq_start(&c->lock, cfg.lazy_timeout_us * 1000, timer_flush, c,
				      &c->flushq);
		if (rc)
			goto err_check;
	}
	*out = c;
	return 0;

err_check:
	/*
	 * Detach first: the release it does (last domain) stamps and reads the
	 * DMA state, which must still exist; only then free it.
	 */
	if (c->own_domain)
		svf_container_detach_domain(c, c->own_domain);
	svf_dmacheck_destroy(c->dmachk);
	c->dmachk = NULL;
	if (!c->own_domain)
		goto err_pinner;
err_domain:
	svf_domain_free(c->own_domain);
err_unit:
	svf_iommu_destroy(c->own_unit);
err_pinner:
	if (c->own_pinner)
		svf_pinner_destroy(c->pinner);
err_pending:
	free(c->pending_pins);
	free(c->pending_iova);
	free(c->runs);
err_free:
	pthread_mutex_destroy(&c->lock);
	free(c);
	return rc;
}

/* Drop every mapping. Retries a failing sync once; what still fails stays pinned (reported). */
static void remove_all(struct svf_container *c)
{
	uint64_t unmapped;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (!svf_type1_unmap(c, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL, NULL, &unmapped) &&
		    !pending_flush(c) && !c->nr_pending)
			return;
	}
	if (c->nr_dmas || c->nr_pending)
		svf_log(SVF_LOG_ERR, "%u mappings and %u pending regions could not be released",
			c->nr_dmas, c->nr_pending);
}

void svf_type1_release_backend(struct svf_container *c)
{
	SVF_TYPE1_ASSERT_LOCKED(c);
	remove_all(c);
	c->type = 0;
}

void svf_container_destroy(struct svf_container *c)
{
	if (!c)
		return;
	svf_flushq_stop(c->flushq); /* lazy: remove_all below flushes what is queued */
	c->flushq = NULL;
	/* Emulated devices still attached are detached (and freed), their leftover pins released. */
	while (c->nr_emus)
		svf_container_detach_emulated(c->emus[c->nr_emus - 1]);
	pthread_mutex_lock(&c->lock);
	remove_all(c);
	c->nr_domains = 0;
	pthread_mutex_unlock(&c->lock);
	if (c->own_domain)
		svf_domain_free(c->own_domain);
	if (c->own_unit)
		svf_iommu_destroy(c->own_unit);
	if (c->own_pinner)
		svf_pinner_destroy(c->pinner);
	free(c->pending_pins);
	free(c->pending_iova);
	free(c->runs);
	svf_dmacheck_destroy(c->dmachk);
	svf_dma_cache_fini(&c->dmac); /* also the entries of mappings that could not be released */
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Map every existing mapping into d (Linux's vfio_iommu_replay). */
static int replay_into(struct svf_container *c, struct svf_domain *d)
{
	struct svf_domain *src = c->domains[0];
	struct svf_dma *dma;
	int rc;

	RB_FOREACH(dma, svf_dma_tree, &c->dmas) {
		uint64_t iova = dma->iova, end = dma->iova + dma->size;

		while (iova < end) {
			uint64_t phys, len;

			if (svf_iommu_phys_run(src, iova, end - iova, &phys, &len)) {
				iova += SVF_PAGE_SIZE; /* hole of a partial mapping */
				continue;
			}
			rc = svf_iommu_map(d, iova, phys, len, dma->prot);
			if (rc)
				goto err_undo;
			iova += len;
		}
	}
	return 0;

err_undo:
	RB_FOREACH(dma, svf_dma_tree, &c->dmas) {
		if (unmap_domain_range(d, dma->iova, dma->iova + dma->size))
			svf_log(SVF_LOG_ERR, "attach undo failed on domain %u", svf_domain_id(d));
	}
	return rc;
}

/*
 * The first IOMMU domain arrives while mappings exist (set up with only
 * emulated devices): pin and map every mapping into it, as Linux's replay
 * does, and let pages pinned by emulated devices rely on those pins.
 * All or nothing.
 */
static int pin_all_into_first(struct svf_container *c, struct svf_domain *d)
{
	struct svf_dma *dma, *undo;
	int rc = 0;

	c->domains[c->nr_domains++] = d;
	RB_FOREACH(dma, svf_dma_tree, &c->dmas) {
		rc = pin_map_dma(c, dma);
		if (rc)
			break;
	}
	if (!rc) {
		RB_FOREACH(dma, svf_dma_tree, &c->dmas)
			svf_vpfn_drop_own_pins(c, dma);
		return 0;
	}
	/* pin_map_dma undid the failing mapping; undo the ones before it. */
	RB_FOREACH(undo, svf_dma_tree, &c->dmas) {
		uint64_t done;

		if (undo == dma)
			break;
		if (unmap_unpin_range(c, undo, undo->iova, undo->iova + undo->size, &done))
			svf_log(SVF_LOG_ERR, "attach undo failed at 0x%llx",
				(unsigned long long)undo->iova);
	}
	if (pending_flush(c))
		svf_log(SVF_LOG_ERR, "attach undo: pending sync failed");
	c->nr_domains--;
	return rc;
}

int svf_container_attach_domain(struct svf_container *c, struct svf_domain *d)
{
	struct svf_dma *dma;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < c->nr_domains; i++) {
		if (c->domains[i] == d) {
			rc = -EBUSY;
			goto out;
		}
	}
	if (c->nr_domains == SVF_MAX_DOMAINS) {
		rc = -ENOSPC;
		goto out;
	}
	if (!(svf_domain_pgsize_bitmap(d) & SVF_PAGE_SIZE)) {
		rc = -EINVAL;
		goto out;
	}
	/* Existing mappings must fit the new domain's aperture and reserved regions. */
	c->domains[c->nr_domains++] = d;
	RB_FOREACH(dma, svf_dma_tree, &c->dmas) {
		if (!iova_range_valid(c, dma->iova, dma_last(dma))) {
			rc = -EINVAL;
			break;
		}
	}
	c->nr_domains--;
	if (rc)
		goto out;
	if (c->nr_domains) {
		rc = replay_into(c, d);
		if (rc)
			goto out;
	} else if (c->nr_dmas) {
		rc = pin_all_into_first(c, d);
		goto out;
	}
	c->domains[c->nr_domains++] = d;
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/*
 * The last IOMMU domain is leaving while emulated devices stay: pages they
 * pinned get pins of their own. 0, or the pinner's errno (nothing changed).
 */
static int take_own_pins(struct svf_container *c)
{
	struct svf_dma *dma, *undo;
	int rc;

	RB_FOREACH(dma, svf_dma_tree, &c->dmas) {
		rc = svf_vpfn_take_own_pins(c, dma);
		if (rc)
			goto err_undo;
	}
	return 0;

err_undo:
	RB_FOREACH(undo, svf_dma_tree, &c->dmas) {
		if (undo == dma)
			break;
		svf_vpfn_drop_own_pins(c, undo);
	}
	return rc;
}

int svf_container_detach_domain(struct svf_container *c, struct svf_domain *d)
{
	unsigned i;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nr_domains && c->domains[i] != d; i++)
		;
	if (i == c->nr_domains) {
		rc = -ENOENT;
		goto out;
	}
	/* Hardware dirty tracking: what d's page tables recorded must not leave with d. */
	svf_dirty_fold_domain(c, d);
	if (c->nr_domains == 1 && !c->nr_emus) {
		/* The container's last group leaving releases the backend, as in Linux. */
		svf_type1_release_backend(c);
	} else if (c->nr_domains == 1) {
		/*
		 * Emulated devices stay: the mappings stay too, unpinned (Linux's
		 * unmap_unpin_reaccount); pages they pinned get pins of their own.
		 */
		struct svf_dma *dma, *m;
		bool after = false;

		rc = take_own_pins(c);
		if (rc)
			goto out;
		RB_FOREACH(dma, svf_dma_tree, &c->dmas) {
			uint64_t done;

			rc = unmap_unpin_range(c, dma, dma->iova, dma->iova + dma->size, &done);
			if (rc)
				break;
		}
		if (!rc)
			rc = pending_flush(c); /* dma is NULL: every mapping was removed */
		if (rc) {
			/*
			 * d could not be emptied, so it stays attached: what it may
			 * still translate stays pinned. What left it stays removed:
			 * those mappings are partial (later unmaps skip the holes)
			 * and the pages emulated devices pinned there keep the pins
			 * of their own they just got; mappings not reached give them
			 * back (their own pin holds the pages again).
			 */
			RB_FOREACH(m, svf_dma_tree, &c->dmas) {
				if (after)
					svf_vpfn_drop_own_pins(c, m);
				else
					m->partial = true;
				if (m == dma)
					after = true;
			}
			svf_log(SVF_LOG_ERR, "detach: domain %u could not be emptied (%d); it stays attached",
				svf_domain_id(d), rc);
			goto out;
		}
	} else {
		struct svf_dma *dma;

		if (i == 0 && pending_flush(c))
			svf_log(SVF_LOG_ERR, "detach: pending sync failed");
		RB_FOREACH(dma, svf_dma_tree, &c->dmas)
			if (unmap_domain_range(d, dma->iova, dma->iova + dma->size))
				svf_log(SVF_LOG_ERR, "detach: unmap failed on domain %u",
					svf_domain_id(d));
	}
	memmove(&c->domains[i], &c->domains[i + 1], (c->nr_domains - i - 1) * sizeof(c->domains[0]));
	c->nr_domains--;
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int svf_container_dma_state(struct svf_container *c, struct svf_domain *want,
			    struct svf_domain **dom, struct svf_pinner **pinner,
			    struct svf_dmacheck **k)
{
	unsigned i = 0;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	if (want)
		for (i = 0; i < c->nr_domains && c->domains[i] != want; i++)
			;
	if (i >= c->nr_domains) {
		rc = -ENODEV;
		goto out;
	}
	if (!c->dmachk)
		rc = svf_dmacheck_create(false, &c->dmachk);
	*dom = c->domains[i];
	*pinner = c->pinner;
	*k = c->dmachk;
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

struct svf_domain *svf_container_domain(struct svf_container *c, unsigned n)
{
	struct svf_domain *d;

	pthread_mutex_lock(&c->lock);
	d = n < c->nr_domains ? c->domains[n] : NULL;
	pthread_mutex_unlock(&c->lock);
	return d;
}

int svf_container_flush(struct svf_container *c)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = pending_flush(c);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

unsigned svf_container_nr_mappings(struct svf_container *c)
{
	unsigned n;

	pthread_mutex_lock(&c->lock);
	n = c->nr_dmas;
	pthread_mutex_unlock(&c->lock);
	return n;
}

void svf_container_get_stats(struct svf_container *c, struct svf_stats *out)
{
	const struct svf_iommu *seen[SVF_MAX_DOMAINS];
	unsigned nseen = 0;

	pthread_mutex_lock(&c->lock);
	*out = c->st;
	out->locked_bytes = c->st.pinned_now * SVF_PAGE_SIZE;
	for (unsigned i = 0; i < c->nr_domains; i++) {
		const struct svf_iommu *u = svf_domain_unit(c->domains[i]);
		bool dup = false;

		for (unsigned j = 0; j < nseen; j++)
			dup |= seen[j] == u;
		if (!dup) {
			seen[nseen++] = u;
			svf_iommu_add_stats(u, out);
		}
	}
	if (c->own_unit && !nseen)
		svf_iommu_add_stats(c->own_unit, out);
	svf_dmacheck_add_stats(c->dmachk, out);
	pthread_mutex_unlock(&c->lock);
}

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			svf_log(SVF_LOG_ERR, "check failed: " __VA_ARGS__); \
			rc = -EUCLEAN;                                     \
			goto out;                                          \
		}                                                          \
	} while (0)

int svf_container_check(struct svf_container *c)
{
	struct svf_dma *dma, *prev = NULL;
	uint64_t pages = 0;
	unsigned n = 0;
	int rc = 0;

	pthread_mutex_lock(&c->lock);
	RB_FOREACH(dma, svf_dma_tree, &c->dmas) {
		n++;
		CHECK(dma->size && !(dma->size % SVF_PAGE_SIZE) && !(dma->iova % SVF_PAGE_SIZE),
		      "mapping 0x%llx size 0x%llx misaligned", (unsigned long long)dma->iova,
		      (unsigned long long)dma->size);
		CHECK(!prev || dma_last(prev) < dma->iova, "mappings overlap at 0x%llx",
		      (unsigned long long)dma->iova);
		prev = dma;
		if (!c->nr_domains) {
			struct svf_vpfn *v;

			RB_FOREACH(v, svf_vpfn_tree, &dma->vpfns)
				pages += v->own_pin;
			continue;
		}
		pages += dma->size / SVF_PAGE_SIZE;
		if (dma->partial)
			continue;
		for (uint64_t off = 0; off < dma->size; off += SVF_PAGE_SIZE) {
			uint64_t want, phys;
			int prot;

			if (svf_pinner_lookup(c->pinner, dma->pin_vaddr + off, &want))
				continue; /* the process unmapped it; the pin still holds the frame */
			for (unsigned i = 0; i < c->nr_domains; i++) {
				int lrc = svf_iommu_iova_to_phys(c->domains[i], dma->iova + off, &phys,
								 NULL, &prot);

				CHECK(!lrc, "iova 0x%llx not mapped in domain %u",
				      (unsigned long long)(dma->iova + off), i);
				CHECK(phys == want, "iova 0x%llx maps 0x%llx, pinned frame is 0x%llx",
				      (unsigned long long)(dma->iova + off), (unsigned long long)phys,
				      (unsigned long long)want);
				CHECK(prot == dma->prot, "iova 0x%llx prot %d, want %d",
				      (unsigned long long)(dma->iova + off), prot, dma->prot);
			}
		}
	}
	CHECK(n == c->nr_dmas, "tree holds %u mappings, count says %u", n, c->nr_dmas);
	CHECK(c->dma_avail + c->nr_dmas == c->dma_entry_limit, "dma_avail %u + %u != limit %u",
	      c->dma_avail, c->nr_dmas, c->dma_entry_limit);
	for (unsigned i = 0; i < c->nr_pending; i++)
		pages += c->pending_pins[i].npages;
	/* partial mappings may hold fewer pins than their size; exact otherwise */
	prev = NULL;
	bool any_partial = false;
	RB_FOREACH(dma, svf_dma_tree, &c->dmas)
		any_partial |= dma->partial;
	if (!any_partial)
		CHECK(pages == c->st.pinned_now, "pinned %llu pages, mappings hold %llu",
		      (unsigned long long)c->st.pinned_now, (unsigned long long)pages);
out:
	pthread_mutex_unlock(&c->lock);
	return rc;
}

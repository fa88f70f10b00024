/* SPDX-License-Identifier: MIT */
/*
 * VT-d second-level page table (format, invariants and the concurrency
 * contract are in vtd_pgtable.h).
 *
 * Unmap walks the tree once: a recursive descent that iterates within each
 * table from the entry holding the current IOVA, so a run of 4 KiB leaves
 * costs one load and one store per page and no re-descent. A table is known
 * to be empty without scanning when the run covered all of it; otherwise
 * only the entries outside the run are scanned, and only if every entry in
 * the run was cleared.
 *
 * All entry accesses are __atomic loads and stores because walkers read the
 * same words concurrently; the writer's own loads are relaxed (it is the
 * only writer of the tree).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <softvfio/fault.h>

#include "vtd_pgtable.h"

static inline uint64_t pte_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void pte_store(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline unsigned pte_index(uint64_t iova, unsigned level)
{
	return (iova >> vtd_level_shift(level)) & 511;
}

static void stats_alloc(struct vtd_pt_stats *st)
{
	uint64_t now = __atomic_add_fetch(&st->now, 1, __ATOMIC_RELAXED);
	uint64_t peak = __atomic_load_n(&st->peak, __ATOMIC_RELAXED);

	while (now > peak &&
	       !__atomic_compare_exchange_n(&st->peak, &peak, now, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

static void stats_free(struct vtd_pt_stats *st, uint64_t n)
{
	__atomic_sub_fetch(&st->now, n, __ATOMIC_RELAXED);
	__atomic_add_fetch(&st->freed, n, __ATOMIC_RELAXED);
}

static uint64_t *table_alloc(struct vtd_pt_stats *st)
{
	uint64_t *t;

	if (svf_should_fail(SVF_FAULT_PT_ALLOC))
		return NULL;
	t = aligned_alloc(VTD_PAGE_SIZE, VTD_PAGE_SIZE);
	if (!t)
		return NULL;
	/* Zeroed before it is linked: the linking store is a release. */
	memset(t, 0, VTD_PAGE_SIZE);
	stats_alloc(st);
	return t;
}

static uint64_t table_link(const uint64_t *t)
{
	return ((uint64_t)(uintptr_t)t & VTD_PTE_ADDR_MASK) | VTD_PTE_R | VTD_PTE_W;
}

static void freelist_push(struct vtd_pt_freelist *fl, uint64_t *t)
{
	/* Entry 0 links the list; see the deferral invariant in the header. */
	__atomic_store_n(&t[0], (uint64_t)(uintptr_t)fl->head, __ATOMIC_RELAXED);
	fl->head = t;
	if (!fl->tail)
		fl->tail = t;
	fl->count++;
}

void vtd_pt_freelist_splice(struct vtd_pt_freelist *dst, struct vtd_pt_freelist *src)
{
	if (!src->count)
		return;
	__atomic_store_n(&src->tail[0], (uint64_t)(uintptr_t)dst->head, __ATOMIC_RELAXED);
	dst->head = src->head;
	if (!dst->tail)
		dst->tail = src->tail;
	dst->count += src->count;
	*src = (struct vtd_pt_freelist){ 0 };
}

void vtd_pt_freelist_release(struct vtd_pt_freelist *fl, struct vtd_pt_stats *stats)
{
	uint64_t *p = fl->head;
	uint64_t n = 0;

	while (p) {
		uint64_t *next = (uint64_t *)(uintptr_t)__atomic_load_n(&p[0], __ATOMIC_RELAXED);

		free(p);
		p = next;
		n++;
	}
	if (n)
		stats_free(stats, n);
	*fl = (struct vtd_pt_freelist){ 0 };
}

int vtd_pt_init(struct vtd_pt *pt, struct vtd_pt_stats *stats)
{
	uint64_t *root = table_alloc(stats);

	if (!root)
		return -ENOMEM;
	pt->stats = stats;
	__atomic_store_n(&pt->root, root, __ATOMIC_RELEASE);
	return 0;
}

uint64_t *vtd_pt_detach(struct vtd_pt *pt)
{
	return __atomic_exchange_n(&pt->root, NULL, __ATOMIC_ACQ_REL);
}

static uint64_t free_subtree(uint64_t *t, unsigned level)
{
	uint64_t n = 1;

	if (level > 1) {
		for (unsigned i = 0; i < VTD_PT_ENTRIES; i++) {
			uint64_t e = pte_load(&t[i]);

			if ((e & VTD_PTE_PRESENT) && !(e & VTD_PTE_PS))
				n += free_subtree(vtd_pte_table(e), level - 1);
		}
	}
	free(t);
	return n;
}

void vtd_pt_free_tree(uint64_t *root, struct vtd_pt_stats *stats)
{
	if (root)
		stats_free(stats, free_subtree(root, VTD_LEVELS));
}

/* True when no leaf exists below table t (level = t's level). */
static bool subtree_empty(const uint64_t *t, unsigned level)
{
	for (unsigned i = 0; i < VTD_PT_ENTRIES; i++) {
		uint64_t e = pte_load(&t[i]);

		if (!(e & VTD_PTE_PRESENT))
			continue;
		if (level == 1 || (e & VTD_PTE_PS))
			return false;
		if (!subtree_empty(vtd_pte_table(e), level - 1))
			return false;
	}
	return true;
}

/* Defer every page of an already unlinked, leafless subtree. */
static void defer_subtree(uint64_t *t, unsigned level, struct vtd_pt_freelist *defer)
{
	if (level > 1) {
		for (unsigned i = 0; i < VTD_PT_ENTRIES; i++) {
			uint64_t e = pte_load(&t[i]);

			if (e & VTD_PTE_PRESENT)
				defer_subtree(vtd_pte_table(e), level - 1, defer);
		}
	}
	freelist_push(defer, t);
}

/* The table at level `level` (>= 1) holding iova, allocating tables on the way. */
static int descend(struct vtd_pt *pt, uint64_t iova, unsigned level, uint64_t **out)
{
	uint64_t *t = __atomic_load_n(&pt->root, __ATOMIC_RELAXED);

	for (unsigned lvl = VTD_LEVELS; lvl > level; lvl--) {
		uint64_t *slot = &t[pte_index(iova, lvl)];
		uint64_t e = pte_load(slot);

		if (!(e & VTD_PTE_PRESENT)) {
			uint64_t *nt = table_alloc(pt->stats);

			if (!nt)
				return -ENOMEM;
			pte_store(slot, table_link(nt));
			t = nt;
		} else if (e & VTD_PTE_PS) {
			return -EEXIST; /* a superpage covers the range */
		} else {
			t = vtd_pte_table(e);
		}
	}
	*out = t;
	return 0;
}

int vtd_pt_map(struct vtd_pt *pt, uint64_t iova, uint64_t paddr, unsigned level, uint64_t count,
	       uint64_t perm, uint64_t *mapped, struct vtd_pt_freelist *defer)
{
	const uint64_t size = vtd_level_size(level);
	const uint64_t flags = perm | (level > 1 ? VTD_PTE_PS : 0);
	uint64_t done = 0;
	int ret = 0;

	while (done < count) {
		uint64_t *t;

		ret = descend(pt, iova, level, &t);
		if (ret)
			break;
		unsigned idx = pte_index(iova, level);
		uint64_t n = VTD_PT_ENTRIES - idx;

		if (n > count - done)
			n = count - done;
		for (uint64_t i = 0; i < n; i++, idx++) {
			uint64_t old = pte_load(&t[idx]);

			if (old && (level == 1 || (old & VTD_PTE_PS) ||
				    !subtree_empty(vtd_pte_table(old), level - 1))) {
				ret = -EEXIST;
				goto out;
			}
			/* One store replaces an empty table by the leaf: a walker
			 * sees either the empty table or the leaf. */
			pte_store(&t[idx], (paddr & VTD_PTE_ADDR_MASK) | flags);
			if (old)
				defer_subtree(vtd_pte_table(old), level - 1, defer);
			iova += size;
			paddr += size;
			done++;
		}
	}
out:
	*mapped = done * size;
	return ret;
}

struct unmap_ctx {
	uint64_t cur;      /* next IOVA to clear */
	uint64_t last;     /* inclusive end of the request */
	uint64_t first;    /* start of the first leaf cleared */
	uint64_t unmapped; /* bytes cleared from first on */
	bool started;
	bool stop;         /* met a hole */
	struct vtd_pt_freelist *defer;
};

static bool range_clear(const uint64_t *t, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to; i++)
		if (pte_load(&t[i]))
			return false;
	return true;
}

/* Clear leaves of table t (covering IOVAs from base); true when t ends up empty. */
static bool unmap_table(struct unmap_ctx *c, uint64_t *t, unsigned level, uint64_t base)
{
	const unsigned shift = vtd_level_shift(level);
	const unsigned i0 = (unsigned)((c->cur - base) >> shift);
	unsigned i = i0;
	bool all_cleared = true;

	if (level == 1) {
		uint64_t want = ((c->last - c->cur) >> VTD_PAGE_SHIFT) + 1;
		unsigned n = VTD_PT_ENTRIES - i0;

		if (want < n)
			n = (unsigned)want;
		for (unsigned end = i0 + n; i < end; i++) {
			if (!(pte_load(&t[i]) & VTD_PTE_PRESENT)) {
				c->stop = true;
				break;
			}
			__atomic_store_n(&t[i], 0, __ATOMIC_RELEASE);
		}
		if (i > i0) {
			if (!c->started) {
				c->first = c->cur;
				c->started = true;
			}
			c->unmapped += (uint64_t)(i - i0) << VTD_PAGE_SHIFT;
			c->cur += (uint64_t)(i - i0) << VTD_PAGE_SHIFT;
		}
	} else {
		const uint64_t size = 1ull << shift;

		for (; i < VTD_PT_ENTRIES && c->cur <= c->last && !c->stop; i++) {
			uint64_t e = pte_load(&t[i]);
			uint64_t ebase = base + (uint64_t)i * size;

			if (!(e & VTD_PTE_PRESENT)) {
				c->stop = true;
				break;
			}
			if (e & VTD_PTE_PS) {
				__atomic_store_n(&t[i], 0, __ATOMIC_RELEASE);
				if (!c->started) {
					c->first = ebase;
					c->started = true;
				}
				c->unmapped += size;
				c->cur = ebase + size;
				continue;
			}
			uint64_t *child = vtd_pte_table(e);

			if (unmap_table(c, child, level - 1, ebase)) {
				__atomic_store_n(&t[i], 0, __ATOMIC_RELEASE);
				freelist_push(c->defer, child);
			} else {
				all_cleared = false;
			}
		}
	}
	/* Entries [i0, i) are clear if all_cleared; entry i is a hole or unvisited. */
	return all_cleared && range_clear(t, 0, i0) && range_clear(t, i, VTD_PT_ENTRIES);
}

void vtd_pt_unmap(struct vtd_pt *pt, uint64_t iova, uint64_t last, uint64_t *first,
		  uint64_t *unmapped, struct vtd_pt_freelist *defer)
{
	struct unmap_ctx c = { .cur = iova, .last = last, .first = iova, .defer = defer };
	uint64_t *root = __atomic_load_n(&pt->root, __ATOMIC_RELAXED);

	if (root)
		(void)unmap_table(&c, root, VTD_LEVELS, 0); /* the root stays */
	*first = c.first;
	*unmapped = c.unmapped;
}

static bool any_mapped(const uint64_t *t, unsigned level, uint64_t base, uint64_t start,
		       uint64_t last)
{
	const unsigned shift = vtd_level_shift(level);
	unsigned i = start > base ? (unsigned)((start - base) >> shift) : 0;
	unsigned end = (unsigned)((last - base) >> shift);

	if (end >= VTD_PT_ENTRIES)
		end = VTD_PT_ENTRIES - 1;
	for (; i <= end; i++) {
		uint64_t e = __atomic_load_n(&t[i], __ATOMIC_ACQUIRE);

		if (!(e & VTD_PTE_PRESENT))
			continue;
		if (level == 1 || (e & VTD_PTE_PS))
			return true;
		if (any_mapped(vtd_pte_table(e), level - 1, base + ((uint64_t)i << shift), start,
			       last))
			return true;
	}
	return false;
}

bool vtd_pt_any_mapped(const struct vtd_pt *pt, uint64_t start, uint64_t last)
{
	const uint64_t *root = __atomic_load_n(&pt->root, __ATOMIC_ACQUIRE);
	const uint64_t top = (1ull << VTD_IAS_BITS) - 1;

	if (!root || start > top)
		return false;
	if (last > top)
		last = top;
	return any_mapped(root, VTD_LEVELS, 0, start, last);
}

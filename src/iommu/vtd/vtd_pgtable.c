/* SPDX-License-Identifier: MIT */
/*
 * VT-d second-level page table (format, invariants and the concurrency
 * contract are in vtd_pgtable.h).
 *
 * Unmap of a chunk inside one leaf table or superpage (the per-chunk call
 * of the type1 unmap loop) descends once and prunes upwards (unmap_fast).
 * Anything larger walks the tree once: a recursive descent that iterates
 * within each table from the entry holding the current IOVA, so a run of
 * 4 KiB leaves costs one load and one store per page and no re-descent.
 * Whether a table emptied is read from the population count its link keeps
 * (link_add), never by scanning it.
 *
 * All entry accesses are __atomic loads and stores because walkers read the
 * same words concurrently; the writer's own loads are relaxed (it is the
 * only writer of the tree).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

#include "vtd_pgtable.h"
#include "iommu_reader.h"

_Static_assert(VTD_PT_ENTRIES == SVF_PT_ENTRIES, "a table page holds SVF_PT_ENTRIES entries");

static inline unsigned pte_index(uint64_t iova, unsigned level)
{
	return (iova >> vtd_level_shift(level)) & 511;
}

/* The entry linking the fresh (empty) table t: its population count is 0. */
static uint64_t table_link(const uint64_t *t)
{
	return ((uint64_t)(uintptr_t)t & VTD_PTE_ADDR_MASK) | VTD_PTE_R | VTD_PTE_W;
}

/*
 * Population counts (writer only). The entry that links a table other than
 * the root keeps in bits 52..61, which the hardware ignores in a non-leaf
 * entry and every walk masks off, how many entries of that table are
 * present (invariant C: exact for every linked table). A table is then known
 * to be empty from its link alone: a lone 4 KiB mapping's unmap (a map and
 * unmap pair of vIOMMU churn) would otherwise scan its level-1, 2 and 3
 * tables, 1,536 entries, to prune them. link is NULL for the root, which
 * has no count and is never pruned. Returns the new count (1 for the root).
 */
#define LINK_CNT_SHIFT 52
#define LINK_CNT_MASK  (0x3ffull << LINK_CNT_SHIFT)

static unsigned link_add(uint64_t *link, int delta)
{
	uint64_t e;
	unsigned n;

	if (!link)
		return 1;
	e = svf_pte_load(link);
	n = (unsigned)((e & LINK_CNT_MASK) >> LINK_CNT_SHIFT) + (unsigned)delta;
	assert(n <= VTD_PT_ENTRIES);
	if (delta)
		svf_pte_store(link, (e & ~LINK_CNT_MASK) | ((uint64_t)n << LINK_CNT_SHIFT));
	return n;
}

int vtd_pt_init(struct vtd_pt *pt, struct svf_pt_pages *pages)
{
	uint64_t *root = svf_pt_page_alloc(pages);

	if (!root)
		return -ENOMEM;
	pt->pages = pages;
	__atomic_store_n(&pt->root, root, __ATOMIC_RELEASE);
	return 0;
}

uint64_t *vtd_pt_detach(struct vtd_pt *pt)
{
	pt->l1_cache = NULL;
	return __atomic_exchange_n(&pt->root, NULL, __ATOMIC_ACQ_REL);
}

/*
 * Put every table page below and including t on fl, children first: a
 * detached tree, or an unlinked subtree that holds no leaf.
 */
static void collect_subtree(uint64_t *t, unsigned level, struct svf_pt_freelist *fl)
{
	if (level > 1) {
		for (unsigned i = 0; i < VTD_PT_ENTRIES; i++) {
			uint64_t e = svf_pte_load(&t[i]);

			if ((e & VTD_PTE_PRESENT) && !(e & VTD_PTE_PS))
				collect_subtree(vtd_pte_table(e), level - 1, fl);
		}
	}
	svf_pt_freelist_push(fl, t);
}

void vtd_pt_free_tree(uint64_t *root, struct svf_pt_pages *pages)
{
	struct svf_pt_freelist fl = { 0 };

	if (!root)
		return;
	collect_subtree(root, VTD_LEVELS, &fl);
	svf_pt_freelist_release(&fl, pages);
}

/* True when no leaf exists below table t (level = t's level). */
static bool subtree_empty(const uint64_t *t, unsigned level)
{
	for (unsigned i = 0; i < VTD_PT_ENTRIES; i++) {
		uint64_t e = svf_pte_load(&t[i]);

		if (!(e & VTD_PTE_PRESENT))
			continue;
		if (level == 1 || (e & VTD_PTE_PS))
			return false;
		if (!subtree_empty(vtd_pte_table(e), level - 1))
			return false;
	}
	return true;
}

/*
 * The table at level `level` (>= 1) holding iova, allocating tables on the
 * way, and the entry linking it (*linkp; NULL for the root).
 */
static int descend(struct vtd_pt *pt, uint64_t iova, unsigned level, uint64_t **out,
		   uint64_t **linkp)
{
	uint64_t *t = __atomic_load_n(&pt->root, __ATOMIC_RELAXED), *link = NULL;

	if (level == 1 && pt->l1_cache && pt->l1_base == iova >> 21) {
		*out = pt->l1_cache;
		*linkp = pt->l1_link;
		return 0;
	}
	for (unsigned lvl = VTD_LEVELS; lvl > level; lvl--) {
		uint64_t *slot = &t[pte_index(iova, lvl)];
		uint64_t e = svf_pte_load(slot);

		if (!(e & VTD_PTE_PRESENT)) {
			uint64_t *nt = svf_pt_page_alloc(pt->pages);

			if (!nt)
				return -ENOMEM;
			svf_pte_store(slot, table_link(nt));
			link_add(link, 1);
			t = nt;
		} else if (e & VTD_PTE_PS) {
			return -EEXIST; /* a superpage covers the range */
		} else {
			t = vtd_pte_table(e);
		}
		link = slot;
	}
	if (level == 1) {
		pt->l1_cache = t;
		pt->l1_base = iova >> 21;
		pt->l1_link = link;
	}
	*out = t;
	*linkp = link;
	return 0;
}

int vtd_pt_map(struct vtd_pt *pt, uint64_t iova, uint64_t paddr, unsigned level, uint64_t count,
	       uint64_t perm, uint64_t *mapped, struct svf_pt_freelist *defer)
{
	const uint64_t size = vtd_level_size(level);
	const uint64_t flags = perm | (level > 1 ? VTD_PTE_PS : 0);
	uint64_t done = 0;
	int ret = 0;

	while (done < count) {
		uint64_t *t, *link;
		unsigned added = 0;

		ret = descend(pt, iova, level, &t, &link);
		if (ret)
			break;
		unsigned idx = pte_index(iova, level);
		uint64_t n = VTD_PT_ENTRIES - idx;

		if (n > count - done)
			n = count - done;
		for (uint64_t i = 0; i < n; i++, idx++) {
			uint64_t old = svf_pte_load(&t[idx]);

			if (old && (level == 1 || (old & VTD_PTE_PS) ||
				    !subtree_empty(vtd_pte_table(old), level - 1))) {
				ret = -EEXIST;
				link_add(link, (int)added);
				goto out;
			}
			/* One store replaces an empty table by the leaf: a walker
			 * sees either the empty table or the leaf. */
			svf_pte_store(&t[idx], (paddr & VTD_PTE_ADDR_MASK) | flags);
			if (old) {
				/* present before and after: t's count stays */
				collect_subtree(vtd_pte_table(old), level - 1, defer);
				pt->l1_cache = NULL;
			} else {
				added++;
			}
			iova += size;
			paddr += size;
			done++;
		}
		link_add(link, (int)added);
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
	bool stop;         /* met a hole, or the end of the physical run */
	bool by_run;       /* stop where the next leaf is not physically contiguous */
	uint64_t phys0;    /* with by_run: physical address of first */
	uint64_t expect;   /* with by_run: physical address the next leaf must have */
	struct svf_pt_freelist *defer;
};

/* by_run bookkeeping for a leaf about to be cleared; false ends the run before it. */
static bool run_continues(struct unmap_ctx *c, uint64_t e, uint64_t size)
{
	uint64_t pa = e & VTD_PTE_ADDR_MASK;

	if (!c->by_run)
		return true;
	if (c->started && pa != c->expect)
		return false;
	if (!c->started)
		c->phys0 = pa;
	c->expect = pa + size;
	return true;
}

/*
 * Clear leaves of table t (covering IOVAs from base, linked by link: NULL
 * for the root); true when t ends up empty (never for the root).
 */
static bool unmap_table(struct unmap_ctx *c, uint64_t *t, unsigned level, uint64_t base,
			uint64_t *link)
{
	const unsigned shift = vtd_level_shift(level);
	const unsigned i0 = (unsigned)((c->cur - base) >> shift);
	unsigned i = i0, removed = 0;

	if (level == 1) {
		uint64_t want = ((c->last - c->cur) >> VTD_PAGE_SHIFT) + 1;
		unsigned n = VTD_PT_ENTRIES - i0;

		if (want < n)
			n = (unsigned)want;
		for (unsigned end = i0 + n; i < end; i++) {
			uint64_t e = svf_pte_load(&t[i]);

			if (!(e & VTD_PTE_PRESENT) || !run_continues(c, e, VTD_PAGE_SIZE)) {
				c->stop = true;
				break;
			}
			if (!c->started) {
				c->started = true;
				c->first = c->cur;
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
			removed = i - i0;
		}
	} else {
		const uint64_t size = 1ull << shift;

		for (; i < VTD_PT_ENTRIES && c->cur <= c->last && !c->stop; i++) {
			uint64_t e = svf_pte_load(&t[i]);
			uint64_t ebase = base + (uint64_t)i * size;

			if (!(e & VTD_PTE_PRESENT)) {
				c->stop = true;
				break;
			}
			if (e & VTD_PTE_PS) {
				if (!run_continues(c, e, size)) {
					c->stop = true;
					break;
				}
				__atomic_store_n(&t[i], 0, __ATOMIC_RELEASE);
				removed++;
				if (!c->started) {
					c->first = ebase;
					c->started = true;
				}
				c->unmapped += size;
				c->cur = ebase + size;
				continue;
			}
			uint64_t *child = vtd_pte_table(e);

			if (unmap_table(c, child, level - 1, ebase, &t[i])) {
				__atomic_store_n(&t[i], 0, __ATOMIC_RELEASE);
				svf_pt_freelist_push(c->defer, child);
				removed++;
			}
		}
	}
	return link_add(link, -(int)removed) == 0;
}

/*
 * Lock-free readers may hold t: unlink the now empty table t of level lvl
 * (path[l] is the table at level l above it, for the IOVA iova) and every
 * ancestor that empties with it, onto defer. The root stays.
 */
static void prune_up(uint64_t *t, unsigned lvl, uint64_t *const path[], uint64_t iova,
		     struct svf_pt_freelist *defer)
{
	for (;;) {
		__atomic_store_n(&path[lvl + 1][pte_index(iova, lvl + 1)], 0, __ATOMIC_RELEASE);
		svf_pt_freelist_push(defer, t);
		t = path[lvl + 1];
		lvl++;
		if (lvl == VTD_LEVELS || link_add(&path[lvl + 1][pte_index(iova, lvl + 1)], -1))
			return;
	}
}

/*
 * The usual call removes one chunk that lies inside one leaf table (a run of
 * 4 KiB leaves) or one superpage leaf: descend once remembering the path,
 * clear the run, then prune upwards, each level costing a neighbour check
 * (clear_outside) unless the table really emptied. Returns false, having
 * changed nothing, when the request reaches past that table or leaf; the
 * general walk handles it then.
 */
static bool unmap_fast(struct vtd_pt *pt, uint64_t *root, uint64_t iova, uint64_t last,
		       uint64_t *first, uint64_t *unmapped, uint64_t *phys, bool *more,
		       struct svf_pt_freelist *defer)
{
	uint64_t *path[VTD_LEVELS + 1];
	uint64_t *t = root;
	unsigned lvl = VTD_LEVELS;
	bool have_path = false;

	if (pt->l1_cache && pt->l1_base == iova >> 21) {
		t = pt->l1_cache;
		lvl = 1;
		if (!(svf_pte_load(&t[pte_index(iova, 1)]) & VTD_PTE_PRESENT))
			return true; /* a hole at iova: nothing to remove */
	} else {
		for (;;) {
			uint64_t e = svf_pte_load(&t[pte_index(iova, lvl)]);

			if (!(e & VTD_PTE_PRESENT))
				return true;
			if (lvl == 1 || (e & VTD_PTE_PS))
				break;
			path[lvl] = t;
			t = vtd_pte_table(e);
			lvl--;
		}
		have_path = true;
		if (lvl == 1) {
			pt->l1_cache = t;
			pt->l1_base = iova >> 21;
			pt->l1_link = &path[2][pte_index(iova, 2)];
		}
	}

	const unsigned shift = vtd_level_shift(lvl);
	const uint64_t tbase = iova & ~((1ull << (shift + 9)) - 1); /* IOVA of t[0] */
	uint64_t end = (last - tbase) >> shift;                     /* last entry wanted */
	unsigned a = pte_index(iova, lvl), b = a;

	if (lvl == 1 ? end >= VTD_PT_ENTRIES : end != a) {
		if (!phys)
			return false;
		/*
		 * A run may end anywhere: clear what this table holds of it and
		 * let the caller go on (*more) if it runs to the table's end.
		 */
		end = lvl == 1 ? VTD_PT_ENTRIES - 1 : a;
		*more = true;
	}
	uint64_t expect = 0;

	for (; b <= end; b++) {
		uint64_t e = svf_pte_load(&t[b]);

		if (!(e & VTD_PTE_PRESENT))
			break;
		if (phys) {
			if (b == a)
				*phys = e & VTD_PTE_ADDR_MASK;
			else if ((e & VTD_PTE_ADDR_MASK) != expect)
				break; /* the physical run ends here */
			expect = (e & VTD_PTE_ADDR_MASK) + (1ull << shift);
		}
		__atomic_store_n(&t[b], 0, __ATOMIC_RELEASE);
	}
	*first = tbase + ((uint64_t)a << shift);
	*unmapped = (uint64_t)(b - a) << shift;
	if (b <= end)
		*more = false; /* the run or the mapping ended inside this table */

	/* Prune: a table left with no present entry leaves its parent. */
	if (lvl == VTD_LEVELS ||
	    link_add(have_path ? &path[lvl + 1][pte_index(iova, lvl + 1)] : pt->l1_link,
		     -(int)(b - a)))
		return true;
	if (!have_path) {
		uint64_t *p = root;

		for (unsigned l = VTD_LEVELS; l > 1; l--) {
			path[l] = p;
			p = vtd_pte_table(svf_pte_load(&p[pte_index(iova, l)]));
		}
	}
	pt->l1_cache = NULL;
	prune_up(t, lvl, path, iova, defer);
	return true;
}

void vtd_pt_unmap(struct vtd_pt *pt, uint64_t iova, uint64_t last, uint64_t *first,
		  uint64_t *unmapped, uint64_t *phys, struct svf_pt_freelist *defer)
{
	struct unmap_ctx c = { .cur = iova, .last = last, .first = iova, .defer = defer,
			       .by_run = phys != NULL };
	uint64_t *root = __atomic_load_n(&pt->root, __ATOMIC_RELAXED);

	bool more = false;

	*first = iova;
	*unmapped = 0;
	if (!root)
		return;
	if (unmap_fast(pt, root, iova, last, first, unmapped, phys, &more, defer)) {
		if (!more)
			return;
		/* The run filled its table to the end: continue it with the general walk. */
		c.cur = *first + *unmapped;
		c.first = *first;
		c.unmapped = *unmapped;
		c.started = true;
		c.phys0 = *phys;
		c.expect = *phys + *unmapped;
		if (c.cur == 0 || c.cur - 1 >= last)
			return;
	}
	pt->l1_cache = NULL; /* the general walk may unlink any table */
	(void)unmap_table(&c, root, VTD_LEVELS, 0, NULL); /* the root stays */
	*first = c.first;
	*unmapped = c.unmapped;
	if (phys && c.unmapped)
		*phys = c.phys0;
}

unsigned vtd_pt_unmap_runs(struct vtd_pt *pt, uint64_t iova, uint64_t last,
			   struct svf_iommu_run *runs, unsigned max, uint64_t *end,
			   struct svf_pt_freelist *defer)
{
	uint64_t *root = __atomic_load_n(&pt->root, __ATOMIC_RELAXED);
	uint64_t cur = iova;
	unsigned n = 0;
	bool open = false; /* runs[n - 1] may still grow at cur */

	*end = last + 1;
	if (!root)
		return 0;
	pt->l1_cache = NULL; /* tables may be unlinked below */
	while (cur <= last) {
		uint64_t *path[VTD_LEVELS + 1], *t = root, e = 0;
		unsigned lvl = VTD_LEVELS;

		/* one descent per leaf table */
		while (lvl > 1) {
			e = svf_pte_load(&t[pte_index(cur, lvl)]);
			if (!(e & VTD_PTE_PRESENT) || (e & VTD_PTE_PS))
				break;
			path[lvl] = t;
			t = vtd_pte_table(e);
			lvl--;
		}
		if (lvl > 1 && !(e & VTD_PTE_PRESENT)) {
			/* a hole as large as the entry: skip it */
			uint64_t next = (cur | (vtd_level_size(lvl) - 1)) + 1;

			open = false;
			if (!next || next > last)
				break;
			cur = next;
			continue;
		}
		if (lvl > 1) {
			/* a superpage: remove its run with the general walk, merging a continued run */
			const uint64_t size = vtd_level_size(lvl);
			const uint64_t at = (e & VTD_PTE_ADDR_MASK) + (cur & (size - 1));
			bool cont = open && runs[n - 1].iova + runs[n - 1].len == cur &&
				    runs[n - 1].phys + runs[n - 1].len == at;
			uint64_t first, un = 0, phys = 0, fr = defer->count;

			if (!cont && n == max) {
				*end = cur;
				return n;
			}
			vtd_pt_unmap(pt, cur, last, &first, &un, &phys, defer);
			if (!un)
				break; /* cannot happen: the leaf is present */
			if (cont) {
				runs[n - 1].len += un;
			} else {
				runs[n++] = (struct svf_iommu_run){ .iova = first, .phys = phys,
								    .len = un };
			}
			runs[n - 1].freed_tables |= defer->count != fr;
			open = true;
			cur = first + un;
			if (!cur)
				break;
			pt->l1_cache = NULL;
			continue;
		}

		/* a leaf table: every entry of it in [cur, last], in one pass */
		const uint64_t tbase = cur & ~((1ull << 21) - 1);
		const unsigned a = pte_index(cur, 1);
		unsigned lim = VTD_PT_ENTRIES - 1, b, cleared = 0;

		if (last - tbase < (uint64_t)VTD_PT_ENTRIES << VTD_PAGE_SHIFT)
			lim = (unsigned)((last - tbase) >> VTD_PAGE_SHIFT);
		for (b = a; b <= lim; b++) {
			const uint64_t pe = svf_pte_load(&t[b]);
			const uint64_t va = tbase + ((uint64_t)b << VTD_PAGE_SHIFT);
			const uint64_t ph = pe & VTD_PTE_ADDR_MASK;

			if (!(pe & VTD_PTE_PRESENT)) {
				open = false;
				continue;
			}
			if (open && runs[n - 1].phys + runs[n - 1].len == ph &&
			    runs[n - 1].iova + runs[n - 1].len == va) {
				runs[n - 1].len += VTD_PAGE_SIZE;
			} else {
				if (n == max)
					break;
				runs[n++] = (struct svf_iommu_run){ .iova = va, .phys = ph,
								    .len = VTD_PAGE_SIZE };
				open = true;
			}
			__atomic_store_n(&t[b], 0, __ATOMIC_RELEASE);
			cleared++;
		}
		/* as the chunk walk: only a table this pass removed leaves from is pruned */
		if (cleared && !link_add(&path[2][pte_index(cur, 2)], -(int)cleared)) {
			prune_up(t, 1, path, cur, defer);
			runs[n - 1].freed_tables = true;
		}
		if (b <= lim) {
			*end = tbase + ((uint64_t)b << VTD_PAGE_SHIFT); /* the run that did not fit */
			return n;
		}
		cur = tbase + ((uint64_t)lim << VTD_PAGE_SHIFT) + VTD_PAGE_SIZE;
		if (!cur)
			break;
	}
	if (cur > last && cur - 1 > last)
		*end = cur; /* a superpage run reached past last, as the chunk walk reports it */
	return n;
}

static bool any_mapped(const uint64_t *t, unsigned level, uint64_t base, uint64_t start,
		       uint64_t last)
{
	const unsigned shift = vtd_level_shift(level);
	const uint64_t want = (last - base) >> shift; /* may lie far past this table */
	unsigned i = start > base ? (unsigned)((start - base) >> shift) : 0;
	unsigned end = want >= VTD_PT_ENTRIES ? VTD_PT_ENTRIES - 1 : (unsigned)want;

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

/* Descend to the leaf for iova: its entry, level and (for level 1) its table. */
static uint64_t walk_leaf(const struct vtd_pt *pt, uint64_t iova, unsigned *level,
			  const uint64_t **leaf_table)
{
	const uint64_t *t = __atomic_load_n(&pt->root, __ATOMIC_RELAXED);

	for (unsigned lvl = VTD_LEVELS; t; lvl--) {
		uint64_t e = __atomic_load_n(&t[(iova >> vtd_level_shift(lvl)) & 511],
					     __ATOMIC_RELAXED);

		if (!(e & VTD_PTE_PRESENT))
			return 0;
		if (lvl == 1 || (e & VTD_PTE_PS)) {
			*level = lvl;
			*leaf_table = t;
			return e;
		}
		t = vtd_pte_table(e);
	}
	return 0;
}

int vtd_pt_phys_run(const struct vtd_pt *pt, uint64_t iova, uint64_t maxlen, uint64_t *phys,
		    uint64_t *len)
{
	const uint64_t *t;
	unsigned level;
	uint64_t e = walk_leaf(pt, iova, &level, &t);
	uint64_t size, run, next_phys;

	if (!e)
		return -ENOENT;
	size = vtd_level_size(level);
	*phys = (e & VTD_PTE_ADDR_MASK) + (iova & (size - 1));
	run = size - (iova & (size - 1));
	next_phys = *phys + run;
	while (run < maxlen && iova + run - 1 < (1ull << VTD_IAS_BITS) - 1) {
		uint64_t at = iova + run;

		if (level == 1 && ((at >> VTD_PAGE_SHIFT) & 511)) {
			/* Same leaf table: read the neighbour directly. */
			e = __atomic_load_n(&t[(at >> VTD_PAGE_SHIFT) & 511], __ATOMIC_RELAXED);
			if (!(e & VTD_PTE_PRESENT))
				break;
		} else {
			e = walk_leaf(pt, at, &level, &t);
			if (!e)
				break;
		}
		if ((e & VTD_PTE_ADDR_MASK) != next_phys)
			break;
		size = vtd_level_size(level);
		run += size;
		next_phys += size;
	}
	*len = run;
	return 0;
}

/* Set bits for pages [first, last] (IOVAs) relative to base. */
static void dirty_bits_set(uint64_t *bits, uint64_t base, uint64_t first, uint64_t last)
{
	uint64_t a = (first - base) >> VTD_PAGE_SHIFT, b = (last - base) >> VTD_PAGE_SHIFT;

	for (uint64_t i = a; i <= b;) {
		uint64_t take = 64 - i % 64;
		uint64_t n = b - i + 1 < take ? b - i + 1 : take;

		bits[i / 64] |= (n == 64 ? ~0ull : ((1ull << n) - 1)) << (i % 64);
		i += n;
	}
}

static uint64_t dirty_table(uint64_t *t, unsigned level, uint64_t tbase, uint64_t iova,
			    uint64_t last, uint64_t base, uint64_t *bits)
{
	const unsigned shift = vtd_level_shift(level);
	const uint64_t want = (last - tbase) >> shift;
	unsigned i = iova > tbase ? (unsigned)((iova - tbase) >> shift) : 0;
	unsigned end = want >= VTD_PT_ENTRIES ? VTD_PT_ENTRIES - 1 : (unsigned)want;
	uint64_t cleared = 0;

	if (level == 1) {
		/* 64 leaves to a word: gather D bits, clear the set ones, merge the word. */
		while (i <= end) {
			unsigned n = end - i + 1 < 64 ? end - i + 1 : 64;
			uint64_t word = 0;

			for (unsigned j = 0; j < n; j++) {
				uint64_t e = svf_pte_load(&t[i + j]);

				if ((e & VTD_PTE_D) && (e & VTD_PTE_PRESENT)) {
					__atomic_fetch_and(&t[i + j], ~VTD_PTE_D, __ATOMIC_RELAXED);
					word |= 1ull << j;
				}
			}
			if (word) {
				cleared += (uint64_t)__builtin_popcountll(word);
				if (bits) {
					uint64_t at = (tbase + ((uint64_t)i << VTD_PAGE_SHIFT) - base) >>
						      VTD_PAGE_SHIFT;

					bits[at / 64] |= word << (at % 64);
					if (at % 64 && (word >> (64 - at % 64)))
						bits[at / 64 + 1] |= word >> (64 - at % 64);
				}
			}
			i += n;
		}
		return cleared;
	}
	for (; i <= end; i++) {
		uint64_t e = svf_pte_load(&t[i]);
		uint64_t ebase = tbase + ((uint64_t)i << shift);

		if (!(e & VTD_PTE_PRESENT))
			continue;
		if (e & VTD_PTE_PS) {
			if (e & VTD_PTE_D) {
				__atomic_fetch_and(&t[i], ~VTD_PTE_D, __ATOMIC_RELAXED);
				cleared++;
				if (bits) {
					uint64_t lo = ebase < iova ? iova : ebase;
					uint64_t hi = ebase + (1ull << shift) - 1;

					dirty_bits_set(bits, base, lo, hi > last ? last : hi);
				}
			}
			continue;
		}
		cleared += dirty_table(vtd_pte_table(e), level - 1, ebase, iova, last, base, bits);
	}
	return cleared;
}

uint64_t vtd_pt_read_clear_dirty(struct vtd_pt *pt, uint64_t iova, uint64_t last, uint64_t base,
				 uint64_t *bits)
{
	uint64_t *root = __atomic_load_n(&pt->root, __ATOMIC_RELAXED);

	if (!root || iova > (1ull << VTD_IAS_BITS) - 1)
		return 0;
	if (last > (1ull << VTD_IAS_BITS) - 1)
		last = (1ull << VTD_IAS_BITS) - 1;
	return dirty_table(root, VTD_LEVELS, 0, iova, last, base, bits);
}

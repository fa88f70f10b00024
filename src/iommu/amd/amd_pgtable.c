/* SPDX-License-Identifier: MIT */
/*
 * AMD-Vi v1 I/O page table (format, invariants and the concurrency contract
 * are in amd_pgtable.h).
 *
 * Unmap walks the tree once, recursively, iterating within each table from
 * the entry that holds the current IOVA; a replicated leaf is cleared as a
 * group from its first replica, wherever in the group the walk arrived. A
 * table is known empty without a scan when nothing outside the cleared run
 * is present, and the run's neighbours are looked at first (unmaps mostly
 * come in IOVA order, so a live neighbour usually answers at once).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "amd_pgtable.h"
#include "iommu_reader.h"

_Static_assert(AMD_PT_ENTRIES == SVF_PT_ENTRIES, "a table page holds SVF_PT_ENTRIES entries");

static inline unsigned pte_index(uint64_t iova, unsigned level)
{
	return (iova >> amd_level_shift(level)) & 511;
}

static inline bool pte_is_leaf(uint64_t e)
{
	unsigned nl = amd_pte_nl(e);

	return nl == 0 || nl == AMD_NL_SIZE;
}

/* A PDE at level (>= 2) pointing at table t of level - 1. */
static uint64_t pde_make(const uint64_t *t, unsigned level)
{
	return ((uint64_t)(uintptr_t)t & AMD_PTE_ADDR_MASK) |
	       ((uint64_t)(level - 1) << AMD_PTE_NL_SHIFT) | AMD_PTE_PR | AMD_PTE_IR | AMD_PTE_IW;
}

uint64_t amd_leaf_encode(uint64_t paddr, uint64_t size, uint64_t perm, unsigned *level,
			 unsigned *replicas)
{
	unsigned lg = (unsigned)__builtin_ctzll(size);
	unsigned lvl = (lg - AMD_PAGE_SHIFT) / 9 + 1;
	unsigned reps = 1u << ((lg - AMD_PAGE_SHIFT) % 9);
	uint64_t e;

	if (reps == 1) {
		e = paddr & AMD_PTE_ADDR_MASK; /* NextLevel 0: the level's own size */
	} else {
		/* Ones below the size, except its highest bit: size = 2 << first zero. */
		e = ((paddr | (size - 1)) & ~(size >> 1) & AMD_PTE_ADDR_MASK) |
		    ((uint64_t)AMD_NL_SIZE << AMD_PTE_NL_SHIFT);
	}
	*level = lvl;
	*replicas = reps;
	return e | AMD_PTE_PR | (perm & (AMD_PTE_IR | AMD_PTE_IW));
}

int amd_pt_init(struct amd_pt *pt, struct svf_pt_pages *pages)
{
	uint64_t *root = svf_pt_page_alloc(pages);

	if (!root)
		return -ENOMEM;
	pt->pages = pages;
	__atomic_store_n(&pt->root, root, __ATOMIC_RELEASE);
	return 0;
}

uint64_t *amd_pt_detach(struct amd_pt *pt)
{
	return __atomic_exchange_n(&pt->root, NULL, __ATOMIC_ACQ_REL);
}

/* Put every table page below and including t on fl, children first. */
static void collect_subtree(uint64_t *t, unsigned level, struct svf_pt_freelist *fl)
{
	if (level > 1) {
		for (unsigned i = 0; i < AMD_PT_ENTRIES; i++) {
			uint64_t e = svf_pte_load(&t[i]);

			if ((e & AMD_PTE_PR) && !pte_is_leaf(e))
				collect_subtree(amd_pte_table(e), level - 1, fl);
		}
	}
	svf_pt_freelist_push(fl, t);
}

void amd_pt_free_tree(uint64_t *root, struct svf_pt_pages *pages)
{
	struct svf_pt_freelist fl = { 0 };

	if (!root)
		return;
	collect_subtree(root, AMD_LEVELS, &fl);
	svf_pt_freelist_release(&fl, pages);
}

static bool subtree_empty(const uint64_t *t, unsigned level)
{
	for (unsigned i = 0; i < AMD_PT_ENTRIES; i++) {
		uint64_t e = svf_pte_load(&t[i]);

		if (!(e & AMD_PTE_PR))
			continue;
		if (level == 1 || pte_is_leaf(e))
			return false;
		if (!subtree_empty(amd_pte_table(e), level - 1))
			return false;
	}
	return true;
}

/* The table of `level` holding iova, allocating tables on the way down. */
static int descend(struct amd_pt *pt, uint64_t iova, unsigned level, uint64_t **out)
{
	uint64_t *t = __atomic_load_n(&pt->root, __ATOMIC_RELAXED);

	for (unsigned lvl = AMD_LEVELS; lvl > level; lvl--) {
		uint64_t *slot = &t[pte_index(iova, lvl)];
		uint64_t e = svf_pte_load(slot);

		if (!(e & AMD_PTE_PR)) {
			uint64_t *nt = svf_pt_page_alloc(pt->pages);

			if (!nt)
				return -ENOMEM;
			svf_pte_store(slot, pde_make(nt, lvl));
			t = nt;
		} else if (pte_is_leaf(e)) {
			return -EEXIST; /* a larger leaf covers the range */
		} else {
			t = amd_pte_table(e);
		}
	}
	*out = t;
	return 0;
}

int amd_pt_map(struct amd_pt *pt, uint64_t iova, uint64_t paddr, uint64_t size, uint64_t count,
	       uint64_t perm, uint64_t *mapped, struct svf_pt_freelist *defer)
{
	uint64_t done = 0;
	int ret = 0;

	while (done < count) {
		unsigned level, reps;
		uint64_t e = amd_leaf_encode(paddr, size, perm, &level, &reps);
		uint64_t *t;

		ret = descend(pt, iova, level, &t);
		if (ret)
			break;
		unsigned idx = pte_index(iova, level); /* a multiple of reps: iova is aligned */

		for (unsigned k = 0; k < reps; k++) {
			uint64_t old = svf_pte_load(&t[idx + k]);

			if (old && (level == 1 || pte_is_leaf(old) ||
				    !subtree_empty(amd_pte_table(old), level - 1))) {
				ret = -EEXIST;
				goto out;
			}
		}
		for (unsigned k = 0; k < reps; k++) {
			uint64_t old = svf_pte_load(&t[idx + k]);

			/* One store replaces an empty table: a walker sees it or the leaf. */
			svf_pte_store(&t[idx + k], e);
			if (old)
				collect_subtree(amd_pte_table(old), level - 1, defer);
		}
		iova += size;
		paddr += size;
		done++;
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
	bool by_run;
	uint64_t phys0;    /* by_run: physical address of first */
	uint64_t expect;   /* by_run: where the next leaf must start physically */
	struct svf_pt_freelist *defer;
};

/* Clear leaves of table t (level, covering IOVAs from base); true when t ends up empty. */
static bool unmap_table(struct unmap_ctx *c, uint64_t *t, unsigned level, uint64_t base)
{
	const unsigned shift = amd_level_shift(level);
	unsigned i = (unsigned)((c->cur - base) >> shift);
	unsigned lo = i;
	bool all_cleared = true;

	while (i < AMD_PT_ENTRIES && c->cur <= c->last && !c->stop) {
		uint64_t e = svf_pte_load(&t[i]);

		if (!(e & AMD_PTE_PR)) {
			c->stop = true;
			break;
		}
		if (!pte_is_leaf(e)) {
			uint64_t *child = amd_pte_table(e);

			if (level == 1 || amd_pte_nl(e) != level - 1) {
				c->stop = true; /* malformed: this writer never builds it */
				break;
			}
			if (unmap_table(c, child, level - 1, base + ((uint64_t)i << shift))) {
				svf_pte_store(&t[i], 0);
				svf_pt_freelist_push(c->defer, child);
			} else {
				all_cleared = false;
			}
			i++;
			continue;
		}
		uint64_t size = amd_leaf_size(e, level);

		if (!size) {
			c->stop = true;
			break;
		}
		unsigned reps = (unsigned)(size >> shift);
		unsigned g = i & ~(reps - 1);
		uint64_t gbase = base + ((uint64_t)g << shift);
		uint64_t pa = amd_leaf_base(e, size);

		if (c->by_run && c->started && pa != c->expect) {
			c->stop = true;
			break;
		}
		if (!c->started) {
			c->started = true;
			c->first = gbase;
			c->phys0 = pa;
		}
		c->expect = pa + size;
		for (unsigned k = g; k < g + reps; k++)
			svf_pte_store(&t[k], 0);
		if (g < lo)
			lo = g;
		c->unmapped += size;
		c->cur = gbase + size;
		i = g + reps;
	}
	/* [lo, i) is clear when all_cleared; entry i is a hole or was not visited. */
	return all_cleared && svf_pt_clear_outside(t, lo, i);
}

void amd_pt_unmap(struct amd_pt *pt, uint64_t iova, uint64_t last, uint64_t *first,
		  uint64_t *unmapped, uint64_t *phys, struct svf_pt_freelist *defer)
{
	struct unmap_ctx c = { .cur = iova, .last = last, .first = iova, .defer = defer,
			       .by_run = phys != NULL };
	uint64_t *root = __atomic_load_n(&pt->root, __ATOMIC_RELAXED);

	*first = iova;
	*unmapped = 0;
	if (!root)
		return;
	(void)unmap_table(&c, root, AMD_LEVELS, 0); /* the root stays */
	*first = c.first;
	*unmapped = c.unmapped;
	if (phys && c.unmapped)
		*phys = c.phys0;
}

struct runs_ctx {
	uint64_t cur, last;
	struct svf_iommu_run *runs;
	unsigned max, n;
	bool open;          /* runs[n - 1] may still grow */
	bool full;          /* a run did not fit: stop before it */
	struct svf_pt_freelist *defer;
};

/* Record leaf [gbase, gbase + size) at pa; false (nothing cleared) when no run is left. */
static bool runs_add(struct runs_ctx *c, uint64_t gbase, uint64_t pa, uint64_t size)
{
	struct svf_iommu_run *r = c->n ? &c->runs[c->n - 1] : NULL;

	if (c->open && r->iova + r->len == gbase && r->phys + r->len == pa) {
		r->len += size;
		return true;
	}
	if (c->n == c->max) {
		c->full = true;
		return false;
	}
	c->runs[c->n++] = (struct svf_iommu_run){ .iova = gbase, .phys = pa, .len = size };
	c->open = true;
	return true;
}

/* As unmap_table, holes skipped (each ends the open run); true when t ends up empty. */
static bool unmap_runs_table(struct runs_ctx *c, uint64_t *t, unsigned level, uint64_t base)
{
	const unsigned shift = amd_level_shift(level);
	unsigned i = (unsigned)((c->cur - base) >> shift);
	unsigned lo = i;
	bool all_cleared = true;

	while (i < AMD_PT_ENTRIES && c->cur <= c->last && !c->full) {
		uint64_t e = svf_pte_load(&t[i]);
		uint64_t ebase = base + ((uint64_t)i << shift);

		if (!(e & AMD_PTE_PR)) {
			c->open = false;
			c->cur = ebase + (1ull << shift);
			i++;
			continue;
		}
		if (!pte_is_leaf(e)) {
			if (level == 1 || amd_pte_nl(e) != level - 1) {
				all_cleared = false; /* malformed: not ours; skip it */
				c->open = false;
				c->cur = ebase + (1ull << shift);
				i++;
				continue;
			}
			uint64_t *child = amd_pte_table(e);

			if (unmap_runs_table(c, child, level - 1, ebase)) {
				svf_pte_store(&t[i], 0);
				svf_pt_freelist_push(c->defer, child);
				if (c->n)
					c->runs[c->n - 1].freed_tables = true;
			} else {
				all_cleared = false;
			}
			if (c->full)
				break;
			i++;
			continue;
		}
		uint64_t size = amd_leaf_size(e, level);

		if (!size) {
			all_cleared = false;
			c->open = false;
			c->cur = ebase + (1ull << shift);
			i++;
			continue;
		}
		unsigned reps = (unsigned)(size >> shift);
		unsigned g = i & ~(reps - 1);
		uint64_t gbase = base + ((uint64_t)g << shift);

		if (!runs_add(c, gbase, amd_leaf_base(e, size), size)) {
			all_cleared = false;
			break;
		}
		for (unsigned k = g; k < g + reps; k++)
			svf_pte_store(&t[k], 0);
		if (g < lo)
			lo = g;
		c->cur = gbase + size;
		i = g + reps;
	}
	return all_cleared && svf_pt_clear_outside(t, lo, i);
}

unsigned amd_pt_unmap_runs(struct amd_pt *pt, uint64_t iova, uint64_t last,
			   struct svf_iommu_run *runs, unsigned max, uint64_t *end,
			   struct svf_pt_freelist *defer)
{
	struct runs_ctx c = { .cur = iova, .last = last, .runs = runs, .max = max, .defer = defer };
	uint64_t *root = __atomic_load_n(&pt->root, __ATOMIC_RELAXED);

	*end = last + 1;
	if (!root || !max)
		return 0;
	(void)unmap_runs_table(&c, root, AMD_LEVELS, 0);
	if (c.full)
		*end = c.cur;
	return c.n;
}

static bool any_mapped(const uint64_t *t, unsigned level, uint64_t base, uint64_t start,
		       uint64_t last)
{
	const unsigned shift = amd_level_shift(level);
	const uint64_t want = (last - base) >> shift;
	unsigned i = start > base ? (unsigned)((start - base) >> shift) : 0;
	unsigned end = want >= AMD_PT_ENTRIES ? AMD_PT_ENTRIES - 1 : (unsigned)want;

	for (; i <= end; i++) {
		uint64_t e = __atomic_load_n(&t[i], __ATOMIC_ACQUIRE);

		if (!(e & AMD_PTE_PR))
			continue;
		if (level == 1 || pte_is_leaf(e))
			return true;
		if (any_mapped(amd_pte_table(e), level - 1, base + ((uint64_t)i << shift), start,
			       last))
			return true;
	}
	return false;
}

bool amd_pt_any_mapped(const struct amd_pt *pt, uint64_t start, uint64_t last)
{
	const uint64_t *root = __atomic_load_n(&pt->root, __ATOMIC_ACQUIRE);
	const uint64_t top = (1ull << AMD_IAS_BITS) - 1;

	if (!root || start > top)
		return false;
	if (last > top)
		last = top;
	return any_mapped(root, AMD_LEVELS, 0, start, last);
}

int amd_pt_phys_run(const struct amd_pt *pt, uint64_t iova, uint64_t maxlen, uint64_t *phys,
		    uint64_t *len)
{
	const uint64_t top = (1ull << AMD_IAS_BITS) - 1;
	unsigned level, reads;
	uint64_t size, perm, *slot, *tab, e, run, next_phys;

	e = amd_pt_walk(pt, iova, &level, &size, &perm, &reads, &slot);
	if (!e)
		return -ENOENT;
	*phys = amd_leaf_base(e, size) + (iova & (size - 1));
	run = size - (iova & (size - 1));
	next_phys = *phys + run;
	tab = level == 1 ? slot - ((iova >> AMD_PAGE_SHIFT) & 511) : NULL;
	while (run < maxlen && iova + run - 1 < top) {
		uint64_t at = iova + run;
		unsigned idx = (unsigned)((at >> AMD_PAGE_SHIFT) & 511);

		if (tab && idx) {
			/* Same level-1 table: read the next leaf's first entry directly. */
			e = __atomic_load_n(&tab[idx], __ATOMIC_RELAXED);
			if (!(e & AMD_PTE_PR) || !pte_is_leaf(e) || !(size = amd_leaf_size(e, 1)))
				break;
		} else {
			e = amd_pt_walk(pt, at, &level, &size, &perm, &reads, &slot);
			if (!e)
				break;
			tab = level == 1 ? slot - idx : NULL;
		}
		if (amd_leaf_base(e, size) != next_phys)
			break;
		run += size;
		next_phys += size;
	}
	*len = run;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * VT-d second-level page table: format, map, unmap, walk, deferred freeing.
 *
 * Format (VT-d spec, second-level paging entries): 4 levels of 4 KiB table
 * pages, 512 64-bit entries each, indexed by IOVA bits 47..39 (level 4, the
 * root), 38..30 (level 3), 29..21 (level 2) and 20..12 (level 1). Bit 0 is
 * read, bit 1 write, bit 7 page size (a leaf at level 3 = 1 GiB or level 2 =
 * 2 MiB), bits 12..51 the address. An entry is present when read or write
 * is set, so a write-only leaf stays write-only. Non-leaf entries carry
 * read|write and the address of the next table; in this emulation that
 * address is the host virtual address of the table page (x86-64 user
 * addresses fit in bits 12..46).
 *
 * Invariants:
 *  - A linked table page (other than the root) holds at least one present
 *    entry, except transiently after a failed map left an allocated table
 *    empty; the next unmap over it or a superpage map on top prunes it.
 *  - The entry linking a table other than the root counts that table's
 *    present entries in bits 52..61 (ignored by the hardware in non-leaf
 *    entries; walks mask them off with the address): the writer knows a
 *    table is empty without scanning it.
 *  - A table page unlinked from its parent goes on a deferred-free list and
 *    is freed only after a grace period (svf_reader_synchronize), which the
 *    unit runs when a wait completes. While deferred, entry 0 of the page
 *    links the list: a 4 KiB-aligned pointer has bits 0..11 clear, so a
 *    walker still inside the page reads it as "not present".
 *
 * Concurrency: one writer per page table (the caller serializes map and
 * unmap on a domain); any number of walkers (vtd_pt_walk) at the same time.
 * Writers publish with release stores: a new table page is zeroed before the
 * release store that links it, so a walker's acquire load of the link sees
 * a zeroed page. Leaf stores are release too (free on x86) so a walker never
 * sees a half-built entry (entries are single 64-bit atomics anyway).
 * Walkers must bracket a walk with svf_reader_enter/exit.
 *
 * Table pages come from the unit's allocator (struct svf_pt_pages,
 * iommu_ptpages.h), shared by its domains: the counters (pt_pages
 * now/peak/freed) and a pool of released pages.
 */
#ifndef SOFTVFIO_VTD_PGTABLE_H
#define SOFTVFIO_VTD_PGTABLE_H

#include <stdbool.h>
#include <stdint.h>

#include <softvfio/iommu.h>
#include <softvfio/page.h>

#include "iommu_ptpages.h"

#define VTD_PTE_R         (1ull << 0)
#define VTD_PTE_W         (1ull << 1)
#define VTD_PTE_PS        (1ull << 7)
#define VTD_PTE_ADDR_MASK 0x000ffffffffff000ull /* bits 12..51 */
#define VTD_PTE_PRESENT   (VTD_PTE_R | VTD_PTE_W)
/* Second-level accessed/dirty bits (VT-d SLADS), set by the device with hw_dirty. */
#define VTD_PTE_A         (1ull << 8)
#define VTD_PTE_D         (1ull << 9)
#define VTD_LEVELS        4
#define VTD_IAS_BITS      48
#define VTD_PAGE_SHIFT    12
#define VTD_PAGE_SIZE     (1ull << VTD_PAGE_SHIFT)
/* VT-d's 4 KiB page is the page of every softvfio interface. */
_Static_assert(VTD_PAGE_SHIFT == SVF_PAGE_SHIFT, "VT-d page != SVF_PAGE_SIZE");
#define VTD_PT_ENTRIES    512u

static inline unsigned vtd_level_shift(unsigned level)
{
	return VTD_PAGE_SHIFT + 9 * (level - 1);
}

static inline uint64_t vtd_level_size(unsigned level)
{
	return 1ull << vtd_level_shift(level);
}

static inline uint64_t *vtd_pte_table(uint64_t pte)
{
	return (uint64_t *)(uintptr_t)(pte & VTD_PTE_ADDR_MASK);
}

struct vtd_pt {
	uint64_t *root;             /* atomic; NULL once detached for teardown */
	struct svf_pt_pages *pages; /* immutable: the unit's allocator */
	/*
	 * Writer-only shortcut for chunk-by-chunk map and unmap: the level-1
	 * table translating IOVAs [l1_base << 21, +2 MiB), or NULL. Dropped
	 * whenever a table of this tree is unlinked, so it never names a
	 * table off the tree.
	 */
	uint64_t *l1_cache;
	uint64_t l1_base;
	uint64_t *l1_link; /* the entry linking l1_cache (its population count) */
};

/* Allocate the root table. 0 or -ENOMEM (SVF_FAULT_PT_ALLOC seam). */
int vtd_pt_init(struct vtd_pt *pt, struct svf_pt_pages *pages);

/* Unpublish the root (walkers now find nothing); returns it for freeing. */
uint64_t *vtd_pt_detach(struct vtd_pt *pt);

/* Release a detached tree. Only after a grace period since vtd_pt_detach(). */
void vtd_pt_free_tree(uint64_t *root, struct svf_pt_pages *pages);

/*
 * Install count leaves at level (1: 4 KiB, 2: 2 MiB, 3: 1 GiB) from iova to
 * paddr, both aligned to the leaf size, with VTD_PTE_R/W bits perm. Empty
 * tables standing where a superpage goes are unlinked onto defer.
 * *mapped = bytes installed before any failure. 0, -EEXIST, -ENOMEM.
 */
int vtd_pt_map(struct vtd_pt *pt, uint64_t iova, uint64_t paddr, unsigned level, uint64_t count,
	       uint64_t perm, uint64_t *mapped, struct svf_pt_freelist *defer);

/*
 * Clear the leaves covering [iova, last] in order, stopping at the first
 * hole; a superpage leaf that starts before iova or ends after last goes
 * whole. *first = start of the first leaf removed (iova if none),
 * *unmapped = bytes removed from *first on. Tables left empty are unlinked
 * onto defer. With phys non-NULL the walk also stops before the first leaf
 * that does not continue the physical run, and *phys receives the physical
 * address of *first (valid when *unmapped is non-zero). Never fails.
 */
void vtd_pt_unmap(struct vtd_pt *pt, uint64_t iova, uint64_t last, uint64_t *first,
		  uint64_t *unmapped, uint64_t *phys, struct svf_pt_freelist *defer);

/*
 * The batch form of vtd_pt_unmap's run mode: remove the physically
 * contiguous runs of [iova, last] in IOVA order, at most max, skipping
 * holes (a run never spans one), writing them to runs[]. Each leaf table is
 * descended to once and cleared in one pass; a superpage goes through
 * vtd_pt_unmap. Tables left empty are unlinked onto defer, and the run
 * whose removal did so is marked freed_tables. *end = last + 1, or the IOVA
 * of the first run that did not fit. Returns the number of runs. Never fails.
 */
unsigned vtd_pt_unmap_runs(struct vtd_pt *pt, uint64_t iova, uint64_t last,
			   struct svf_iommu_run *runs, unsigned max, uint64_t *end,
			   struct svf_pt_freelist *defer);

/* True when any leaf of the table translates a page of [start, last]. Walker rules apply. */
bool vtd_pt_any_mapped(const struct vtd_pt *pt, uint64_t start, uint64_t last);

/*
 * Walk to the leaf for iova (< 2^48). Returns the leaf entry (0 when not
 * present) with its level and the number of entries read (one per level
 * visited, for the cost model). Caller is inside svf_reader_enter/exit.
 */
static inline uint64_t vtd_pt_walk(const struct vtd_pt *pt, uint64_t iova, unsigned *level,
				   unsigned *reads)
{
	const uint64_t *t = __atomic_load_n(&pt->root, __ATOMIC_ACQUIRE);

	if (!t) {
		*reads = 0;
		return 0;
	}
	/* Unrolled: every level's shift is a constant. */
#pragma GCC unroll 4
	for (unsigned lvl = VTD_LEVELS; lvl >= 1; lvl--) {
		/* Acquire: pairs with the release store that linked the next table. */
		uint64_t e = __atomic_load_n(&t[(iova >> vtd_level_shift(lvl)) & 511],
					     __ATOMIC_ACQUIRE);

		if (!(e & VTD_PTE_PRESENT)) {
			*reads = VTD_LEVELS + 1 - lvl;
			return 0;
		}
		if (lvl == 1 || (e & VTD_PTE_PS)) {
			*level = lvl;
			*reads = VTD_LEVELS + 1 - lvl;
			return e;
		}
		t = vtd_pte_table(e);
	}
	__builtin_unreachable(); /* level 1 always returns */
}

/*
 * Writer side only (the caller serializes against map and unmap, so no table
 * can be freed under it and no reader registration is needed): the physical
 * address at iova and the length of the physically contiguous run of
 * present leaves from iova on, at most maxlen bytes (the last leaf may
 * reach past maxlen; the caller clamps). Neighbouring 4 KiB leaves are read
 * from the same leaf table without a new descent. 0 or -ENOENT.
 */
int vtd_pt_phys_run(const struct vtd_pt *pt, uint64_t iova, uint64_t maxlen, uint64_t *phys,
		    uint64_t *len);

/*
 * Writer side: for every present leaf of [iova, last] whose D bit is set,
 * clear D and, when bits is non-NULL, set the bits of the leaf's pages that
 * lie in [iova, last], bit i standing for the 4 KiB page at base + i * 4 KiB
 * (OR: other bits are untouched). Leaf tables are scanned 64 entries to a
 * bitmap word. Returns the number of leaves whose D bit was cleared; the
 * caller must invalidate the range (cached translations may hold the page
 * as already dirty) before relying on new writes being seen.
 */
uint64_t vtd_pt_read_clear_dirty(struct vtd_pt *pt, uint64_t iova, uint64_t last, uint64_t base,
				 uint64_t *bits);

/*
 * Like vtd_pt_walk, but the address of the present leaf entry (or NULL).
 * Caller is inside svf_reader_enter/exit.
 */
static inline uint64_t *vtd_pt_leaf_ptr(const struct vtd_pt *pt, uint64_t iova, unsigned *level,
					unsigned *reads)
{
	uint64_t *t = __atomic_load_n(&pt->root, __ATOMIC_ACQUIRE);
	unsigned lvl = VTD_LEVELS, n = 0;

	while (t) {
		uint64_t *slot = &t[(iova >> vtd_level_shift(lvl)) & 511];
		uint64_t e = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

		n++;
		if (!(e & VTD_PTE_PRESENT))
			break;
		if (lvl == 1 || (e & VTD_PTE_PS)) {
			*level = lvl;
			*reads = n;
			return slot;
		}
		t = vtd_pte_table(e);
		lvl--;
	}
	*reads = n;
	return NULL;
}

/* Translation data bit (IOTLB and per-thread caches): the leaf allows writes. */
#define VTD_DATA_WPERM (1ull << 10)

#endif

/* SPDX-License-Identifier: MIT */
/*
 * AMD-Vi v1 I/O page table (host translation): format, map, unmap, walk.
 *
 * Format (AMD I/O Virtualization Technology specification, "I/O Page
 * Tables for Host Translations"; the bit names are those of Linux's
 * drivers/iommu/amd/amd_iommu_types.h): table pages of 512 64-bit entries,
 * level L (1 = the table of 4 KiB entries) indexed by IOVA bits
 * 12 + 9 (L - 1) and up. An entry is present when PR (bit 0) is set; bits
 * 9..11 hold NextLevel, bits 12..51 the address, bit 61 IR (read) and bit
 * 62 IW (write). NextLevel means:
 *   1..6  a table of level NextLevel follows (a PDE at level NextLevel + 1);
 *   0     a leaf of the level's own size (4 KiB, 2 MiB, 1 GiB, 512 GiB);
 *   7     a leaf of a larger power-of-two size encoded in the address: the
 *         address bits below the size are ones except the highest of them,
 *         so the size is 2 << (the first zero address bit at or above 12).
 *         A leaf of 2^k entries' worth is written into all 2^k entries it
 *         covers (replicated), each holding the same value, so a walk that
 *         lands on any of them finds the whole leaf.
 * Up to 6 levels are defined; this emulation uses 4 (mode 4, a 48-bit
 * IOVA space), the mode Linux settles on for a 48-bit aperture. A leaf
 * lives at the level whose entries are the largest not above its size:
 * sizes 2^12..2^20 at level 1 (1..256 replicas), 2^21..2^29 at level 2,
 * 2^30..2^38 at level 3, 2^39..2^47 at level 4 (512 GiB itself excluded,
 * as Linux excludes it). Read/write permission is the AND of IR/IW along the
 * path; PDEs carry both, so the leaf decides.
 *
 * In this emulation a PDE's address is the host virtual address of the
 * next table page (x86-64 user addresses fit in bits 12..46).
 *
 * Invariants:
 *  - the replicas of a leaf are written and cleared together by the one
 *    writer; a walker may see a leaf half written or half cleared, and
 *    each replica it can see is a whole, correct entry;
 *  - a linked table page other than the root holds a present entry, except
 *    transiently after a failed map (pruned by the next unmap over it);
 *  - unlinked table pages go on a deferred list and are freed only after a
 *    grace period (iommu_ptpages.h, iommu_reader.h).
 *
 * Concurrency: one writer per table (the caller serializes map and unmap of
 * a domain), any number of walkers inside svf_reader_enter/exit. Links and
 * leaves are published with release stores, walkers load with acquire.
 */
#ifndef SOFTVFIO_AMD_PGTABLE_H
#define SOFTVFIO_AMD_PGTABLE_H

#include <stdbool.h>
#include <stdint.h>

#include <softvfio/iommu.h>

#include "iommu_ptpages.h"

#define AMD_PTE_PR        (1ull << 0)
#define AMD_PTE_HD        (1ull << 6)
#define AMD_PTE_NL_SHIFT  9
#define AMD_PTE_NL_MASK   (7ull << AMD_PTE_NL_SHIFT)
#define AMD_PTE_ADDR_MASK 0x000ffffffffff000ull /* bits 12..51 */
#define AMD_PTE_IR        (1ull << 61)
#define AMD_PTE_IW        (1ull << 62)
#define AMD_NL_SIZE       7u /* NextLevel of a leaf whose size is in the address */
#define AMD_LEVELS        4
#define AMD_IAS_BITS      48
#define AMD_PAGE_SHIFT    12
#define AMD_PAGE_SIZE     (1ull << AMD_PAGE_SHIFT)
#define AMD_PT_ENTRIES    512u

static inline unsigned amd_level_shift(unsigned level)
{
	return AMD_PAGE_SHIFT + 9 * (level - 1);
}

static inline unsigned amd_pte_nl(uint64_t e)
{
	return (unsigned)((e >> AMD_PTE_NL_SHIFT) & 7);
}

static inline uint64_t *amd_pte_table(uint64_t e)
{
	return (uint64_t *)(uintptr_t)(e & AMD_PTE_ADDR_MASK);
}

/*
 * The size of the leaf e at level (NextLevel 0: the level's size; 7: from
 * the address encoding). 0 when the encoding is not a valid leaf for the
 * level (the walk then treats it as a page-table error: no translation).
 */
static inline uint64_t amd_leaf_size(uint64_t e, unsigned level)
{
	unsigned nl = amd_pte_nl(e), z;

	if (nl == 0)
		return 1ull << amd_level_shift(level);
	if (nl != AMD_NL_SIZE)
		return 0;
	z = (unsigned)__builtin_ctzll(~(e | 0xfffull)); /* first zero address bit */
	if (z + 1 <= amd_level_shift(level) || z + 1 >= amd_level_shift(level) + 9 || z > 51)
		return 0;
	return 2ull << z;
}

/* The physical base of leaf e of size size. */
static inline uint64_t amd_leaf_base(uint64_t e, uint64_t size)
{
	return e & AMD_PTE_ADDR_MASK & ~(size - 1);
}

/*
 * The leaf entry value for a page of size (a power of two, 4 KiB..2^47)
 * at paddr with IR/IW bits perm, and the level and replica count it takes.
 */
uint64_t amd_leaf_encode(uint64_t paddr, uint64_t size, uint64_t perm, unsigned *level,
			 unsigned *replicas);

struct amd_pt {
	uint64_t *root;             /* atomic; NULL once detached */
	struct svf_pt_pages *pages; /* immutable: the unit's allocator */
};

/* Allocate the root. 0 or -ENOMEM (SVF_FAULT_PT_ALLOC seam). */
int amd_pt_init(struct amd_pt *pt, struct svf_pt_pages *pages);
/* Unpublish the root (walkers find nothing); returns it for freeing. */
uint64_t *amd_pt_detach(struct amd_pt *pt);
/* Release a detached tree, after a grace period since amd_pt_detach(). */
void amd_pt_free_tree(uint64_t *root, struct svf_pt_pages *pages);

/*
 * Install count leaves of size (power of two, 4 KiB..2^47, not 512 GiB)
 * from iova to paddr, both aligned to size, with IR/IW bits perm. Empty
 * tables standing where a leaf goes are unlinked onto defer. *mapped =
 * bytes installed before a failure. 0, -EEXIST, -ENOMEM.
 */
int amd_pt_map(struct amd_pt *pt, uint64_t iova, uint64_t paddr, uint64_t size, uint64_t count,
	       uint64_t perm, uint64_t *mapped, struct svf_pt_freelist *defer);

/*
 * Clear the leaves covering [iova, last] in order, stopping at the first
 * hole. A leaf that starts before iova or ends after last is removed whole
 * (Linux's v1 unmap never splits a leaf). *first = start of the first leaf
 * removed (iova if none), *unmapped = bytes from *first on. With phys
 * non-NULL also stop before the first leaf that does not continue the
 * physical run, and return the physical address of *first. Tables left
 * empty are unlinked onto defer. Never fails.
 */
void amd_pt_unmap(struct amd_pt *pt, uint64_t iova, uint64_t last, uint64_t *first,
		  uint64_t *unmapped, uint64_t *phys, struct svf_pt_freelist *defer);

/*
 * Walk to the leaf for iova (< 2^48): the leaf entry (0 when there is no
 * valid translation), its level, size and the AND of IR/IW along the path
 * (*perm), and the entries read (for the cost model). Inside a reader
 * section.
 */
static inline uint64_t amd_pt_walk(const struct amd_pt *pt, uint64_t iova, unsigned *level,
				   uint64_t *size, uint64_t *perm, unsigned *reads,
				   uint64_t **slot)
{
	uint64_t *t = __atomic_load_n(&pt->root, __ATOMIC_ACQUIRE);
	uint64_t p = AMD_PTE_IR | AMD_PTE_IW;
	unsigned lvl = AMD_LEVELS, n = 0;

	while (t) {
		uint64_t *s = &t[(iova >> amd_level_shift(lvl)) & 511];
		uint64_t e = __atomic_load_n(s, __ATOMIC_ACQUIRE);
		unsigned nl = amd_pte_nl(e);

		n++;
		if (!(e & AMD_PTE_PR))
			break;
		p &= e;
		if (nl == 0 || nl == AMD_NL_SIZE) {
			uint64_t sz = amd_leaf_size(e, lvl); /* only level 6 may not hold leaves */

			if (!sz)
				break;
			*level = lvl;
			*size = sz;
			*perm = p & (AMD_PTE_IR | AMD_PTE_IW);
			*reads = n;
			if (slot)
				*slot = s;
			return e;
		}
		if (nl != lvl - 1)
			break; /* a PDE must name the next level down */
		t = amd_pte_table(e);
		lvl--;
	}
	*reads = n;
	return 0;
}

/*
 * The batch form of amd_pt_unmap's run mode: remove the physically
 * contiguous runs of [iova, last] in IOVA order, at most max, skipping holes
 * (a run never spans one), into runs[], in one walk of the tree. The run
 * whose removal unlinked a table is marked freed_tables. *end = last + 1,
 * or the IOVA of the first run that did not fit. Returns the number of
 * runs. Never fails.
 */
unsigned amd_pt_unmap_runs(struct amd_pt *pt, uint64_t iova, uint64_t last,
			   struct svf_iommu_run *runs, unsigned max, uint64_t *end,
			   struct svf_pt_freelist *defer);

/* True when any leaf translates a page of [start, last]. Walker rules apply. */
bool amd_pt_any_mapped(const struct amd_pt *pt, uint64_t start, uint64_t last);

/*
 * Writer side: physical address at iova and the length of the physically
 * contiguous run of leaves from iova, at most about maxlen (the last leaf
 * may reach past it). 0 or -ENOENT.
 */
int amd_pt_phys_run(const struct amd_pt *pt, uint64_t iova, uint64_t maxlen, uint64_t *phys,
		    uint64_t *len);

#endif

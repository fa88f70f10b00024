/* SPDX-License-Identifier: MIT */
/*
 * The emulated IOTLB: a set-associative cache of leaf translations.
 *
 * An entry is tagged by (domain id, leaf-aligned IOVA, leaf size) and
 * caches the leaf's physical base and its read/write permissions. Entries
 * are created only by a fill after a page walk (a translation that missed)
 * and removed only by invalidation descriptors processed at wait time, or
 * replaced by a later fill into a full set. A 4 KiB, a 2 MiB and a 1 GiB
 * entry for the same address live in different sets (the set index hashes
 * the leaf-sized page number with the domain id), so a lookup probes up to
 * three sets, smallest leaf first, and skips sizes that have no entry
 * anywhere (a count per size; invalidations skip on it too, see
 * iommu_iotlb.c for why that is safe).
 *
 * Concurrency. Each set has a sequence count and a spinlock. Lookups are
 * lock-free: read the sequence (acquire), read tags and data (relaxed),
 * fence (acquire), re-read the sequence; retry while it is odd or changed.
 * Fills and invalidations take the set lock and make the sequence odd while
 * they change the set. Nothing that map/unmap take is taken here, and the
 * hit path takes nothing at all.
 *
 * The stale-fill race. A device thread may walk the page table, read a leaf,
 * and be about to fill it when the writer clears that leaf, queues its
 * invalidation and waits: the wait's processing finds no entry to remove,
 * and the late fill would then leave a stale entry behind the wait. To
 * prevent it, every wait that processes descriptors first bumps the
 * invalidation generation `gen` (svf_iotlb_begin_invalidation), and a fill
 * is refused (-EAGAIN; the caller walks again) when gen moved since the
 * caller read it before its walk. Ordering, again a store-buffer pattern:
 *   fill:  lock; seq = odd; light fence; load gen ...
 *   wait:  gen++; heavy fence; read the set's seq and tags ...
 * (light and heavy fences: iommu_reader.h; together they order like two
 * seq_cst fences.)
 * Either the fill sees the new gen and backs off, or the wait sees the odd
 * (or later) sequence and processes the set under its lock, after the fill.
 * And a walk that began after the gen bump (acquire load of gen) sees every
 * leaf store made before the bump, so it can only fill current entries.
 *
 * The generation also versions each device thread's translation cache
 * (iommu_reader.h; the drivers' translate paths fill it). A wait that
 * processes descriptors makes gen odd before it removes anything and even
 * again (release) after: a thread caches a
 * translation only under an even gen that it read (acquire) before finding
 * the translation and read again, unchanged, after; so a cached
 * translation is one no invalidation had removed when gen had that value,
 * and any later wait that removes something moves gen on. The wait's grace
 * period (iommu_reader.h) then waits out every section that may still use
 * one.
 *
 * Lifetimes: the set array belongs to the unit (svf_iotlb_init/fini).
 * Writer-side entry points (begin_invalidation, invalidate) are called with
 * the unit lock held, so only one writer processes descriptors at a time.
 */
#ifndef SOFTVFIO_IOMMU_IOTLB_H
#define SOFTVFIO_IOMMU_IOTLB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iommu_reader.h"

/*
 * Leaf-size codes kept in the tag: 0 means an empty way. Code c caches a
 * naturally aligned block of 4 KiB << 9 * (c - 1) bytes. A driver whose
 * leaves have other sizes (AMD-Vi's any power of two) caches the largest
 * block of these sizes that lies inside the leaf and holds the address used.
 */
#define SVF_TLB_4K 1u
#define SVF_TLB_2M 2u
#define SVF_TLB_1G 3u

struct svf_iotlb_set {
	uint32_t seq;  /* odd while a fill or invalidation changes the set */
	uint32_t lock; /* 0 free, 1 held */
	uint32_t next; /* round-robin victim, under lock */
	uint32_t pad;
	uint64_t way[]; /* tags[ways] then data[ways] */
};

struct svf_iotlb {
	unsigned nsets;   /* power of two; immutable */
	unsigned ways;    /* immutable */
	size_t stride;    /* bytes per set, a multiple of 64; immutable */
	unsigned char *sets;
	uint64_t gen;     /* invalidation generation (see above) */
	uint64_t nr_size[4]; /* entries per size code, never below the true count */
	uint64_t invalidated; /* entries removed by invalidations (unit lock) */
};

/* What an invalidation removes. */
enum svf_tlb_match_kind { SVF_TLB_MATCH_PAGES, SVF_TLB_MATCH_DOMAIN, SVF_TLB_MATCH_ALL };

struct svf_tlb_match {
	enum svf_tlb_match_kind kind;
	uint16_t did;
	uint64_t first_pfn, last_pfn; /* PAGES: 4 KiB page numbers, inclusive */
};

/* sets rounded down to a power of two (at least 1). 0 or -ENOMEM. */
int svf_iotlb_init(struct svf_iotlb *t, unsigned sets, unsigned ways);
void svf_iotlb_fini(struct svf_iotlb *t);

/*
 * Entry data: the physical base of the cached block, bits 12..51, with the
 * read and write permissions in bits 0 and 1 and, for drivers that track
 * dirtiness, the leaf's real write permission in bit 10 (W then means
 * "writes need no page-table update").
 */
#define SVF_TLB_R         (1ull << 0)
#define SVF_TLB_W         (1ull << 1)
#define SVF_TLB_WPERM     (1ull << 10)
#define SVF_TLB_ADDR_MASK 0x000ffffffffff000ull
_Static_assert(SVF_TLB_ADDR_MASK == SVF_TC_ADDR_MASK && SVF_TLB_R == 1 && SVF_TLB_W == 2,
	       "the thread's translation cache reads entry data as the IOTLB does");

static inline unsigned svf_tlb_shift(unsigned code)
{
	return 12 + 9 * (code - 1);
}

static inline uint64_t svf_tlb_size(unsigned code)
{
	return 1ull << svf_tlb_shift(code);
}

static inline uint64_t svf_tlb_tag(uint16_t did, uint64_t pn, unsigned code)
{
	return (pn << 18) | ((uint64_t)did << 2) | code;
}

static inline unsigned svf_tlb_index(const struct svf_iotlb *t, uint16_t did, uint64_t pn)
{
	return (unsigned)((pn ^ ((uint64_t)did * 0x9e37u)) & (t->nsets - 1));
}

static inline struct svf_iotlb_set *svf_tlb_set(const struct svf_iotlb *t, unsigned idx)
{
	return (struct svf_iotlb_set *)(t->sets + (size_t)idx * t->stride);
}

/* One lock-free probe of one size. */
static inline bool svf_iotlb_probe(const struct svf_iotlb *t, uint16_t did, uint64_t iova,
				   unsigned code, uint64_t *data)
{
	const uint64_t pn = iova >> svf_tlb_shift(code);
	const uint64_t tag = svf_tlb_tag(did, pn, code);
	struct svf_iotlb_set *s = svf_tlb_set(t, svf_tlb_index(t, did, pn));
	const unsigned ways = t->ways;

	for (;;) {
		uint32_t q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		bool hit = false;
		uint64_t d = 0;

		if (__builtin_expect(q & 1, 0)) {
			svf_cpu_relax();
			continue;
		}
		for (unsigned w = 0; w < ways; w++) {
			if (__atomic_load_n(&s->way[w], __ATOMIC_RELAXED) == tag) {
				d = __atomic_load_n(&s->way[ways + w], __ATOMIC_RELAXED);
				hit = true;
				break;
			}
		}
		svf_fence(__ATOMIC_ACQUIRE);
		if (__builtin_expect(__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == q, 1)) {
			*data = d;
			return hit;
		}
	}
}

/*
 * Look iova up for did, smallest leaf first, skipping sizes with no entry
 * anywhere (a fill racing with that read is missed at worst, and the
 * caller walks and finds the entry in its own fill). On a hit, *data =
 * phys base | SVF_TLB_R/W and *code = the leaf-size code.
 */
static inline bool svf_iotlb_lookup(const struct svf_iotlb *t, uint16_t did, uint64_t iova,
				    uint64_t *data, unsigned *code)
{
	/* Spelled out: each probe then has a constant shift. */
	if (__atomic_load_n(&t->nr_size[SVF_TLB_4K], __ATOMIC_RELAXED) &&
	    svf_iotlb_probe(t, did, iova, SVF_TLB_4K, data)) {
		*code = SVF_TLB_4K;
		return true;
	}
	if (__atomic_load_n(&t->nr_size[SVF_TLB_2M], __ATOMIC_RELAXED) &&
	    svf_iotlb_probe(t, did, iova, SVF_TLB_2M, data)) {
		*code = SVF_TLB_2M;
		return true;
	}
	if (__atomic_load_n(&t->nr_size[SVF_TLB_1G], __ATOMIC_RELAXED) &&
	    svf_iotlb_probe(t, did, iova, SVF_TLB_1G, data)) {
		*code = SVF_TLB_1G;
		return true;
	}
	return false;
}

/* The generation to pass to svf_iotlb_fill(); read before the page walk. */
static inline uint64_t svf_iotlb_gen(const struct svf_iotlb *t)
{
	return __atomic_load_n(&t->gen, __ATOMIC_ACQUIRE);
}

/*
 * Insert the walked translation (data = phys base | R/W bits) unless an
 * invalidation began since gen was read: then -EAGAIN and nothing changes.
 * When an entry with the same tag already exists (another thread filled it)
 * it is kept and *out receives its data. 0 or -EAGAIN.
 */
int svf_iotlb_fill(struct svf_iotlb *t, uint16_t did, uint64_t iova, unsigned code, uint64_t data,
		   uint64_t gen, uint64_t *out);

/* Writer: announce that descriptors are about to be processed (gen becomes odd). */
void svf_iotlb_begin_invalidation(struct svf_iotlb *t);
/* Writer: the descriptors are processed (gen becomes even). */
void svf_iotlb_end_invalidation(struct svf_iotlb *t);

/* Writer: remove the entries m selects; returns how many. */
uint64_t svf_iotlb_invalidate(struct svf_iotlb *t, const struct svf_tlb_match *m);

/*
 * True when an entry of did maps a page of physical [phys, plast] or a
 * page of [iova, last]. An entry is not counted when live(arg, its did,
 * its iova, its phys) says the page table still maps it so: that frame is
 * also pinned by another, still mapped IOVA, and the unpin being checked
 * does not release it. Entries of other domains are not counted: a frame
 * they reach is pinned for their own mappings (two containers of one unit
 * may map one buffer), and a leftover of theirs shows when they unpin.
 * Lock-free scan of every set.
 */
bool svf_iotlb_covers(const struct svf_iotlb *t, uint16_t did, uint64_t iova, uint64_t last,
		      uint64_t phys, uint64_t plast,
		      bool (*live)(void *arg, uint16_t did, uint64_t iova, uint64_t pa), void *arg);

/* Valid entries now. */
unsigned svf_iotlb_count(const struct svf_iotlb *t);

#endif

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
 * Ways. Beside its tags, a set keeps one fingerprint byte per way (7 bits
 * of a hash of the tag with bit 7 set; 0: the way is empty), eight to a
 * word, so a probe compares eight ways at once with word arithmetic and
 * reads only the tags whose fingerprint matches (1 in 128 by chance), and
 * learns the first empty way on the way. Each way keeps its tag and data
 * side by side. A tag and its fingerprint change together, under the set's
 * lock.
 *
 * Concurrency. Each set has one 64-bit word that is both its sequence
 * count and its lock: even when free, odd while a writer holds it (taken by
 * a compare-and-swap from an even value, released by a store of the next
 * even value). Lookups are lock-free: read the sequence (acquire), read
 * fingerprints, tags and data (relaxed), fence (acquire), re-read the
 * sequence; retry while it is odd or changed. Fills and invalidations hold
 * the set while they change it. Nothing that map/unmap take is taken here,
 * and the hit path takes nothing at all.
 *
 * One pass for a miss. A probe that misses may leave a hint: the set, the
 * sequence it saw and the first empty way. A fill of the same tag then takes
 * the set by a compare-and-swap from exactly that sequence: when it
 * succeeds, nothing changed the set since the probe (the count is 64 bits
 * and only grows), so the tag is still absent and the empty way still
 * empty, and the fill writes without scanning the ways again; when it
 * fails, the fill takes the set as usual and scans.
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

#include <errno.h>
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
	uint64_t seq;  /* the sequence count and the lock: odd while a writer holds the set */
	uint32_t next; /* round-robin victim, under the set's lock */
	uint32_t pad;
	uint64_t word[]; /* nfp fingerprint words, then (tag, data) per way */
};

struct svf_iotlb {
	unsigned nsets;   /* power of two; immutable */
	unsigned ways;    /* immutable */
	unsigned nfp;     /* fingerprint words per set: ways / 8 rounded up; immutable */
	uint64_t fp_last; /* bit 7 of each byte of the last fingerprint word that is a way */
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

static inline uint64_t *svf_tlb_fpw(struct svf_iotlb_set *s)
{
	return s->word;
}

/* Way w of s: [0] its tag (0: empty), [1] its data. */
static inline uint64_t *svf_tlb_way(const struct svf_iotlb *t, struct svf_iotlb_set *s, unsigned w)
{
	return s->word + t->nfp + 2 * (size_t)w;
}

/* A tag's fingerprint byte: 7 bits of a multiplicative hash, bit 7 set (never 0). */
static inline uint64_t svf_tlb_fp(uint64_t tag)
{
	return ((tag * 0x9e3779b97f4a7c15ull) >> 57) | 0x80;
}

#define SVF_TLB_BYTES_1 0x0101010101010101ull
#define SVF_TLB_BYTES_8 0x8080808080808080ull

/*
 * Bit 7 of every byte of x that is zero (and possibly of a byte 0x01 just
 * above one, so a match is confirmed on the tag; fingerprint bytes are 0 or
 * >= 0x80, so the lowest flagged byte of a fingerprint word is exact).
 */
static inline uint64_t svf_tlb_zero_bytes(uint64_t x)
{
	return (x - SVF_TLB_BYTES_1) & ~x & SVF_TLB_BYTES_8;
}

/*
 * What a probe that missed saw of the set a fill of the same tag goes to
 * (see "One pass for a miss" above). set NULL: no hint.
 */
struct svf_iotlb_hint {
	struct svf_iotlb_set *set;
	uint64_t seq; /* the set's sequence the probe validated (even) */
	uint64_t tag; /* the tag probed for */
	int empty;    /* the first empty way then, or -1 */
};

/* The probe of a set of more than eight ways (out of line: rare). */
bool svf_iotlb_probe_wide(const struct svf_iotlb *t, uint16_t did, uint64_t iova, unsigned code,
			  uint64_t *data, struct svf_iotlb_hint *h);

/*
 * One lock-free probe of one size; a miss leaves a hint in *h when h is not
 * NULL. Inline in every lookup for sets of up to eight ways (one
 * fingerprint word): it is most of an IOTLB hit and of what a miss pays
 * before its walk.
 */
static inline __attribute__((always_inline)) bool svf_iotlb_probe_hint(
	const struct svf_iotlb *t, uint16_t did, uint64_t iova, unsigned code, uint64_t *data,
	struct svf_iotlb_hint *h)
{
	const uint64_t pn = iova >> svf_tlb_shift(code);
	const uint64_t tag = svf_tlb_tag(did, pn, code);
	const uint64_t pat = svf_tlb_fp(tag) * SVF_TLB_BYTES_1;
	struct svf_iotlb_set *s;

	if (__builtin_expect(t->nfp != 1, 0))
		return svf_iotlb_probe_wide(t, did, iova, code, data, h);
	s = svf_tlb_set(t, svf_tlb_index(t, did, pn));
	for (;;) {
		const uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		const uint64_t f = __atomic_load_n(&svf_tlb_fpw(s)[0], __ATOMIC_RELAXED);
		uint64_t m = svf_tlb_zero_bytes(f ^ pat) & t->fp_last;
		uint64_t d = 0;
		bool hit = false;

		for (; m; m &= m - 1) {
			const uint64_t *way = svf_tlb_way(t, s, __builtin_ctzll(m) / 8);

			if (__atomic_load_n(&way[0], __ATOMIC_RELAXED) == tag) {
				d = __atomic_load_n(&way[1], __ATOMIC_RELAXED);
				hit = true;
				break;
			}
		}
		svf_fence(__ATOMIC_ACQUIRE);
		if (__builtin_expect(!(q & 1) && __atomic_load_n(&s->seq, __ATOMIC_RELAXED) == q, 1)) {
			*data = d;
			if (h && !hit) {
				m = svf_tlb_zero_bytes(f) & t->fp_last;
				*h = (struct svf_iotlb_hint){ s, q, tag,
							      m ? (int)(__builtin_ctzll(m) / 8) : -1 };
			}
			return hit;
		}
		svf_cpu_relax();
	}
}

static inline bool svf_iotlb_probe(const struct svf_iotlb *t, uint16_t did, uint64_t iova,
				   unsigned code, uint64_t *data)
{
	return svf_iotlb_probe_hint(t, did, iova, code, data, NULL);
}

/*
 * Look iova up for did, smallest leaf first, skipping sizes with no entry
 * anywhere (a fill racing with that read is missed at worst, and the
 * caller walks and finds the entry in its own fill). On a hit, *data =
 * phys base | SVF_TLB_R/W and *code = the leaf-size code. On a miss, *h
 * (when not NULL) holds the hint of the last size probed, or set NULL.
 */
static inline bool svf_iotlb_lookup_hint(const struct svf_iotlb *t, uint16_t did, uint64_t iova,
					 uint64_t *data, unsigned *code, struct svf_iotlb_hint *h)
{
	if (h)
		h->set = NULL;
	/* Spelled out: each probe then has a constant shift. */
	if (__atomic_load_n(&t->nr_size[SVF_TLB_4K], __ATOMIC_RELAXED) &&
	    svf_iotlb_probe_hint(t, did, iova, SVF_TLB_4K, data, h)) {
		*code = SVF_TLB_4K;
		return true;
	}
	if (__atomic_load_n(&t->nr_size[SVF_TLB_2M], __ATOMIC_RELAXED) &&
	    svf_iotlb_probe_hint(t, did, iova, SVF_TLB_2M, data, h)) {
		*code = SVF_TLB_2M;
		return true;
	}
	if (__atomic_load_n(&t->nr_size[SVF_TLB_1G], __ATOMIC_RELAXED) &&
	    svf_iotlb_probe_hint(t, did, iova, SVF_TLB_1G, data, h)) {
		*code = SVF_TLB_1G;
		return true;
	}
	return false;
}

static inline bool svf_iotlb_lookup(const struct svf_iotlb *t, uint16_t did, uint64_t iova,
				    uint64_t *data, unsigned *code)
{
	return svf_iotlb_lookup_hint(t, did, iova, data, code, NULL);
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

/* Release the set taken at even sequence q: readers that overlapped retry. */
static inline void svf_tlb_set_unlock(struct svf_iotlb_set *s, uint64_t q)
{
	__atomic_store_n(&s->seq, q + 2, __ATOMIC_RELEASE);
}

/* Way w's fingerprint byte becomes fp (0: empty); the set is held. */
static inline void svf_tlb_set_fp(struct svf_iotlb_set *s, unsigned w, uint64_t fp)
{
	uint64_t *word = &svf_tlb_fpw(s)[w / 8];
	const unsigned sh = 8 * (w % 8);
	uint64_t f = __atomic_load_n(word, __ATOMIC_RELAXED);

	__atomic_store_n(word, (f & ~(0xffull << sh)) | (fp << sh), __ATOMIC_RELAXED);
}

/*
 * The rest of a fill once the set is held (taken at even sequence q) and
 * known not to hold tag: into the empty way victim, or the round-robin
 * victim when it is -1. Releases the set. 0 or -EAGAIN.
 */
static inline __attribute__((always_inline)) int
svf_iotlb_fill_held(struct svf_iotlb *t, struct svf_iotlb_set *s, uint64_t q, int victim,
		    uint64_t tag, uint64_t data, uint64_t gen, uint64_t *out)
{
	const unsigned code = tag & 3;

	if (victim < 0) {
		victim = (int)s->next;
		s->next = s->next + 1 < t->ways ? s->next + 1 : 0;
	}
	uint64_t *way = svf_tlb_way(t, s, (unsigned)victim);
	uint64_t old = __atomic_load_n(&way[0], __ATOMIC_RELAXED);
	/* Replacing an entry of the same size leaves that size's count as it is. */
	bool raise = (old & 3) != code;

	/*
	 * Odd sequence (taking the set made it odd) and raised size hint, then
	 * the light fence, then the generation check: the fill's half of the
	 * store-buffer pattern (above; the wait's half is a heavy fence). The
	 * fence also orders the odd sequence before the way stores below, as
	 * a seqlock writer must.
	 */
	if (raise)
		__atomic_add_fetch(&t->nr_size[code], 1, __ATOMIC_RELAXED);
	svf_light_fence();
	if (__atomic_load_n(&t->gen, __ATOMIC_RELAXED) != gen) {
		if (raise)
			__atomic_sub_fetch(&t->nr_size[code], 1, __ATOMIC_RELAXED);
		svf_tlb_set_unlock(s, q);
		return -EAGAIN;
	}
	__atomic_store_n(&way[0], tag, __ATOMIC_RELAXED);
	__atomic_store_n(&way[1], data, __ATOMIC_RELAXED);
	svf_tlb_set_fp(s, (unsigned)victim, svf_tlb_fp(tag));
	if (old && raise)
		__atomic_sub_fetch(&t->nr_size[old & 3], 1, __ATOMIC_RELAXED);
	svf_tlb_set_unlock(s, q);
	*out = data;
	return 0;
}

/*
 * svf_iotlb_fill() with the hint of the lookup that missed (h may be NULL
 * or for another tag): when the set is unchanged since that probe, taken
 * by one compare-and-swap and filled inline, without a scan.
 */
static inline __attribute__((always_inline)) int
svf_iotlb_fill_hint(struct svf_iotlb *t, uint16_t did, uint64_t iova, unsigned code, uint64_t data,
		    uint64_t gen, const struct svf_iotlb_hint *h, uint64_t *out)
{
	const uint64_t tag = svf_tlb_tag(did, iova >> svf_tlb_shift(code), code);

	if (h && h->set && h->tag == tag) {
		uint64_t q = h->seq;

		/* Unchanged since the probe: the tag is absent, its empty way still empty. */
		if (__atomic_compare_exchange_n(&h->set->seq, &q, q + 1, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return svf_iotlb_fill_held(t, h->set, h->seq, h->empty, tag, data, gen, out);
	}
	return svf_iotlb_fill(t, did, iova, code, data, gen, out);
}

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

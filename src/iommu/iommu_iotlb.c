/* SPDX-License-Identifier: MIT */
/*
 * The emulated IOTLB (the model, its ordering argument and lifetimes are in
 * iommu_iotlb.h).
 *
 * Invariant kept for the size counts: nr_size[c] is raised before an entry
 * of size c becomes visible and lowered only after one is removed, so it
 * never reads below the number of entries of that size. A writer that reads
 * zero after its generation fence may therefore skip every set of that size
 * (all sets, when every count is zero, the common case while no device
 * translates): a fill racing with it raised the count before its own fence,
 * so either the writer reads it non-zero or the fill sees the new
 * generation and backs off.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

#include "iommu_iotlb.h"

static uint64_t iotlb_gen_base = 1;

/*
 * Take the set: a compare-and-swap of its sequence from an even value to
 * the odd one after it. Returns the even value it held.
 */
static uint64_t set_lock(struct svf_iotlb_set *s)
{
	for (;;) {
		uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);

		if (!(q & 1) && __atomic_compare_exchange_n(&s->seq, &q, q + 1, false,
							    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return q;
		svf_cpu_relax();
	}
}

int svf_iotlb_init(struct svf_iotlb *t, unsigned sets, unsigned ways)
{
	size_t stride;

	memset(t, 0, sizeof(*t));
	if (sets == 0)
		sets = 1;
	while (sets & (sets - 1))
		sets &= sets - 1; /* round down to a power of two */
	if (ways == 0)
		ways = 1;
	t->nfp = (ways + 7) / 8;
	t->fp_last = ways % 8 ? SVF_TLB_BYTES_8 & ((1ull << (8 * (ways % 8))) - 1) : SVF_TLB_BYTES_8;
	stride = sizeof(struct svf_iotlb_set) + sizeof(uint64_t) * (t->nfp + 2 * (size_t)ways);
	stride = (stride + 63) & ~(size_t)63;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	t->sets = aligned_alloc(64, stride * sets);
	if (!t->sets)
		return -ENOMEM;
	memset(t->sets, 0, stride * sets);
	t->nsets = sets;
	t->ways = ways;
	/*
	 * Generations of different units never meet (2^32 waits each), so a
	 * device thread's cached translation (a driver's per-thread cache) tagged with a unit's
	 * generation can never look current on a later unit that took the
	 * freed unit's address.
	 */
	t->gen = __atomic_fetch_add(&iotlb_gen_base, 1, __ATOMIC_RELAXED) << 32;
	t->stride = stride;
	return 0;
}

void svf_iotlb_fini(struct svf_iotlb *t)
{
	free(t->sets);
	t->sets = NULL;
}

bool svf_iotlb_probe_wide(const struct svf_iotlb *t, uint16_t did, uint64_t iova, unsigned code,
			  uint64_t *data, struct svf_iotlb_hint *h)
{
	const uint64_t pn = iova >> svf_tlb_shift(code);
	const uint64_t tag = svf_tlb_tag(did, pn, code);
	const uint64_t pat = svf_tlb_fp(tag) * SVF_TLB_BYTES_1;
	struct svf_iotlb_set *s = svf_tlb_set(t, svf_tlb_index(t, did, pn));

	for (;;) {
		const uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		bool hit = false;
		uint64_t d = 0;
		int empty = -1;

		for (unsigned k = 0; k < t->nfp && !hit; k++) {
			const uint64_t f = __atomic_load_n(&svf_tlb_fpw(s)[k], __ATOMIC_RELAXED);
			const uint64_t valid = k + 1 < t->nfp ? SVF_TLB_BYTES_8 : t->fp_last;
			uint64_t m = svf_tlb_zero_bytes(f ^ pat) & valid;

			for (; m; m &= m - 1) {
				const uint64_t *way = svf_tlb_way(t, s, k * 8 + __builtin_ctzll(m) / 8);

				if (__atomic_load_n(&way[0], __ATOMIC_RELAXED) == tag) {
					d = __atomic_load_n(&way[1], __ATOMIC_RELAXED);
					hit = true;
					break;
				}
			}
			m = svf_tlb_zero_bytes(f) & valid;
			if (empty < 0 && m)
				empty = (int)(k * 8 + __builtin_ctzll(m) / 8);
		}
		svf_fence(__ATOMIC_ACQUIRE);
		if (!(q & 1) && __atomic_load_n(&s->seq, __ATOMIC_RELAXED) == q) {
			*data = d;
			if (h && !hit)
				*h = (struct svf_iotlb_hint){ s, q, tag, empty };
			return hit;
		}
		svf_cpu_relax();
	}
}

int svf_iotlb_fill(struct svf_iotlb *t, uint16_t did, uint64_t iova, unsigned code, uint64_t data,
		   uint64_t gen, uint64_t *out)
{
	const uint64_t pn = iova >> svf_tlb_shift(code);
	const uint64_t tag = svf_tlb_tag(did, pn, code);
	struct svf_iotlb_set *s = svf_tlb_set(t, svf_tlb_index(t, did, pn));
	const uint64_t q = set_lock(s);
	int victim = -1;

	for (unsigned w = 0; w < t->ways; w++) {
		const uint64_t *way = svf_tlb_way(t, s, w);
		uint64_t cur = __atomic_load_n(&way[0], __ATOMIC_RELAXED);

		if (cur == tag) {
			*out = __atomic_load_n(&way[1], __ATOMIC_RELAXED);
			svf_tlb_set_unlock(s, q);
			return 0;
		}
		if (!cur && victim < 0)
			victim = (int)w;
	}
	return svf_iotlb_fill_held(t, s, q, victim, tag, data, gen, out);
}

void svf_iotlb_begin_invalidation(struct svf_iotlb *t)
{
	/*
	 * Odd while descriptors are being processed. A store, not a locked
	 * read-modify-write: waits are serialized by the unit lock, so nothing
	 * else writes gen. Release, for the walk that reads the new gen
	 * (acquire) and must see the leaves cleared before it; the heavy fence
	 * that follows orders it before the processing's loads (a seq_cst
	 * read-modify-write would only be a second full barrier).
	 */
	__atomic_store_n(&t->gen, __atomic_load_n(&t->gen, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
	/* The writer's half of the store-buffer pattern (iommu_iotlb.h). */
	svf_heavy_fence();
}

void svf_iotlb_end_invalidation(struct svf_iotlb *t)
{
	/*
	 * Even again. Release: a device thread that reads this value with
	 * acquire sees every entry removal before it, so a translation it then
	 * finds in the IOTLB may be cached under this generation.
	 */
	__atomic_store_n(&t->gen, __atomic_load_n(&t->gen, __ATOMIC_RELAXED) + 1,
			 __ATOMIC_RELEASE);
}

static inline bool tag_matches(uint64_t tag, const struct svf_tlb_match *m)
{
	unsigned code = tag & 3, s;
	uint64_t first, last;

	if (!code)
		return false;
	if (m->kind == SVF_TLB_MATCH_ALL)
		return true;
	if (((tag >> 2) & 0xffff) != m->did)
		return false;
	if (m->kind == SVF_TLB_MATCH_DOMAIN)
		return true;
	s = 9 * (code - 1);
	first = (tag >> 18) << s;
	last = first + (1ull << s) - 1;
	return first <= m->last_pfn && last >= m->first_pfn;
}

static uint64_t inv_set(struct svf_iotlb *t, struct svf_iotlb_set *s, const struct svf_tlb_match *m)
{
	uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
	uint64_t n = 0;

	/* Lock-free look first: most sets hold nothing to remove. */
	if (!(q & 1)) {
		bool any = false;

		for (unsigned w = 0; w < t->ways && !any; w++)
			any = tag_matches(__atomic_load_n(&svf_tlb_way(t, s, w)[0], __ATOMIC_RELAXED),
					  m);
		svf_fence(__ATOMIC_ACQUIRE);
		if (!any && __atomic_load_n(&s->seq, __ATOMIC_RELAXED) == q)
			return 0;
	}
	q = set_lock(s);
	for (unsigned w = 0; w < t->ways; w++) {
		uint64_t *way = svf_tlb_way(t, s, w);
		uint64_t tag = __atomic_load_n(&way[0], __ATOMIC_RELAXED);

		if (!tag_matches(tag, m))
			continue;
		__atomic_store_n(&way[0], 0, __ATOMIC_RELAXED);
		svf_tlb_set_fp(s, w, 0);
		__atomic_sub_fetch(&t->nr_size[tag & 3], 1, __ATOMIC_RELAXED);
		n++;
	}
	svf_tlb_set_unlock(s, q);
	return n;
}

static uint64_t inv_all_sets(struct svf_iotlb *t, const struct svf_tlb_match *m)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < t->nsets; i++)
		n += inv_set(t, svf_tlb_set(t, i), m);
	return n;
}

uint64_t svf_iotlb_invalidate(struct svf_iotlb *t, const struct svf_tlb_match *m)
{
	uint64_t n = 0;
	bool any = false;

	/* Sizes with no entry are skipped: safe after the generation fence (see top). */
	for (unsigned code = SVF_TLB_4K; code <= SVF_TLB_1G; code++)
		any |= __atomic_load_n(&t->nr_size[code], __ATOMIC_RELAXED) != 0;
	if (!any)
		return 0;
	if (m->kind != SVF_TLB_MATCH_PAGES ||
	    m->last_pfn - m->first_pfn + 1 >= t->nsets) {
		/* Every set may hold a match (the 4 KiB run alone spans them all). */
		n = inv_all_sets(t, m);
	} else {
		for (unsigned code = SVF_TLB_4K; code <= SVF_TLB_1G; code++) {
			unsigned s = 9 * (code - 1);

			if (!__atomic_load_n(&t->nr_size[code], __ATOMIC_RELAXED))
				continue;
			for (uint64_t pn = m->first_pfn >> s; pn <= m->last_pfn >> s; pn++)
				n += inv_set(t, svf_tlb_set(t, svf_tlb_index(t, m->did, pn)), m);
		}
	}
	/* Writers are serialized by the unit lock: no locked add needed. */
	if (n)
		__atomic_store_n(&t->invalidated,
				 __atomic_load_n(&t->invalidated, __ATOMIC_RELAXED) + n,
				 __ATOMIC_RELAXED);
	return n;
}

/* A consistent copy of one set's ways. */
static void set_snapshot(const struct svf_iotlb *t, struct svf_iotlb_set *s, uint64_t *tags,
			 uint64_t *dat)
{
	for (;;) {
		uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

		if (q & 1) {
			svf_cpu_relax();
			continue;
		}
		for (unsigned w = 0; w < t->ways; w++) {
			const uint64_t *way = svf_tlb_way(t, s, w);

			tags[w] = __atomic_load_n(&way[0], __ATOMIC_RELAXED);
			dat[w] = __atomic_load_n(&way[1], __ATOMIC_RELAXED);
		}
		svf_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == q)
			return;
	}
}

bool svf_iotlb_covers(const struct svf_iotlb *t, uint16_t did, uint64_t iova, uint64_t last,
		      uint64_t phys, uint64_t plast,
		      bool (*live)(void *arg, uint16_t did, uint64_t iova, uint64_t pa), void *arg)
{
	uint64_t tags[64], dat[64];

	for (unsigned i = 0; i < t->nsets; i++) {
		set_snapshot(t, svf_tlb_set(t, i), tags, dat);
		for (unsigned w = 0; w < t->ways; w++) {
			unsigned code = tags[w] & 3;

			if (!code)
				continue;
			uint64_t size = svf_tlb_size(code);
			uint64_t pbase = dat[w] & SVF_TLB_ADDR_MASK;
			uint64_t ibase = (tags[w] >> 18) << svf_tlb_shift(code);

			/*
			 * Only did's own entries: another domain's entry reaching
			 * the frame is that domain's translation, backed by its
			 * own pin (a leftover there is found when it unpins).
			 */
			if (((tags[w] >> 2) & 0xffff) == did && pbase <= plast &&
			    pbase + size - 1 >= phys &&
			    !(live && live(arg, (tags[w] >> 2) & 0xffff, ibase, pbase)))
				return true;
			/*
			 * An entry at the IOVA that the page table maps as it
			 * says is the IOVA's new mapping (mapped again before a
			 * lazy flush), not a leftover of the unpinned one.
			 */
			if (((tags[w] >> 2) & 0xffff) == did && ibase <= last &&
			    ibase + size - 1 >= iova &&
			    !(live && live(arg, (tags[w] >> 2) & 0xffff, ibase, pbase)))
				return true;
		}
	}
	return false;
}

unsigned svf_iotlb_count(const struct svf_iotlb *t)
{
	uint64_t tags[64], dat[64];
	unsigned n = 0;

	for (unsigned i = 0; i < t->nsets; i++) {
		set_snapshot(t, svf_tlb_set(t, i), tags, dat);
		for (unsigned w = 0; w < t->ways; w++)
			n += (tags[w] & 3) != 0;
	}
	return n;
}

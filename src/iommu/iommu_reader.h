/* SPDX-License-Identifier: MIT */
/*
 * Reader registry for the emulated IOMMUs: lets device threads walk page
 * tables without locks while the writer unlinks and frees table pages.
 *
 * Theory of operation. Every thread that translates gets a slot (a cache
 * line of its own) the first time it asks, held until the thread exits.
 * While it is inside a section it keeps its slot's sequence odd
 * (svf_reader_enter/exit). A section covers a page walk, and on the device
 * path (svf_iommu_dma_begin/end) also every use of the translations taken
 * inside it: the device's reads and writes of the memory they lead to.
 * svf_reader_synchronize() waits until every slot that was odd when it
 * looked has moved on. The wait descriptor calls it after processing its
 * invalidations (each driver's wait), which gives both guarantees the
 * hardware gives: a table page unlinked before the wait is no longer being
 * walked, and no device access that used a translation removed by an
 * invalidation before the wait is still in flight (the drain of reads
 * and writes on IOTLB invalidation). It is a grace period in the RCU sense.
 *
 * Memory ordering (a store-buffer pattern, so both sides need a full fence):
 *   reader:  slot.seq = odd;  light fence;  load PTEs, IOTLB, generation ...
 *   writer:  store 0 into the parent entry / remove IOTLB entries;
 *            heavy fence;  load slot.seq
 * Either the writer's fence comes first, and the reader's loads see the
 * unlinked parent entry and the removed IOTLB entries (it never reaches the
 * page, and never uses the old translation), or the reader's fence comes
 * first, and the writer sees the odd sequence and waits for it to change;
 * the reader's exit is a release store and the writer's loads of the
 * sequence are acquires, so everything the section did happens before the
 * waiter goes on to free tables or unpin pages. (light/heavy fences: below.)
 *
 * The slot index doubles as an index into per-unit counter stripes: a slot
 * has one owner at a time, so its stripe can be bumped with a plain
 * load/store pair instead of a locked instruction. Threads beyond
 * SVF_READER_SLOTS share one overflow slot, counted with atomic adds (their
 * walks then delay a grace period until the overflow count reads zero).
 *
 * Lifetimes: the registry is process-wide and static; a slot is returned at
 * thread exit by a pthread key destructor.
 */
#ifndef SOFTVFIO_IOMMU_READER_H
#define SOFTVFIO_IOMMU_READER_H

#include <stdbool.h>
#include <stdint.h>

#define SVF_READER_SLOTS 256 /* exclusive slots; index SVF_READER_SLOTS is the shared one */

/*
 * Fences. ThreadSanitizer does not model fences (GCC refuses them under
 * -fsanitize=thread), so there each fence becomes a seq_cst read-modify-write
 * of one shared word: all such RMWs are totally ordered and each
 * synchronizes with the one before it, which gives TSan at least the
 * ordering the fence promises.
 *
 * Asymmetric fences. Every store-buffer pattern of this driver has a hot
 * side (a device thread entering a section or filling the IOTLB) and a rare
 * side (the wait). Where the kernel offers membarrier(2) with
 * MEMBARRIER_CMD_PRIVATE_EXPEDITED, the hot side's fence is only a compiler
 * barrier (svf_light_fence) and the rare side pays for both
 * (svf_heavy_fence: a seq_cst fence, then membarrier(), which runs a full
 * memory barrier on every CPU that is running a thread of this process
 * before it returns). Then any light fence acts as a full one with respect
 * to the heavy fence: either the other thread's barrier point comes before
 * its store (so its later loads see everything the waiter stored before
 * the heavy fence), or after it (so its store is visible to every load the
 * waiter makes after membarrier returned) - the argument of liburcu's
 * "membarrier" flavour and folly's asymmetric barriers. Without membarrier
 * (old kernel, seccomp) both are seq_cst fences, decided once per process
 * before the first reader registers, so the two sides always agree.
 *
 * membarrier() is skipped when no thread other than the caller holds a
 * reader slot: a thread that registers later issues a seq_cst fence after
 * taking its slot (svf_reader_register), which orders all of its later
 * loads after the waiter's stores, exactly what the IPI would have given.
 */
#if defined(__SANITIZE_THREAD__)
extern uint64_t svf_tsan_fence_word;
#define svf_fence(order) \
	((void)(order), (void)__atomic_fetch_add(&svf_tsan_fence_word, 0, __ATOMIC_SEQ_CST))
#else
#define svf_fence(order) __atomic_thread_fence(order)
#endif

/* 1 when membarrier(2) pairs with light fences (set once, before any reader). */
extern int svf_asym_fences;

static inline void svf_light_fence(void)
{
#if defined(__SANITIZE_THREAD__)
	svf_fence(__ATOMIC_SEQ_CST);
#else
	if (__builtin_expect(__atomic_load_n(&svf_asym_fences, __ATOMIC_RELAXED), 1))
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	else
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/* The waiter's half: orders its earlier stores before its later loads against every light fence. */
void svf_heavy_fence(void);

struct svf_reader_slot {
	uint64_t seq;   /* odd while the owner walks; written only by the owner */
	uint32_t owner; /* 0 free, 1 taken */
} __attribute__((aligned(64)));

/*
 * The thread's translation cache: what a device keeps of the translations
 * it used (the drivers' translate paths fill it; svf_iommu_translate()
 * answers from it without calling the driver). Entries of one domain and
 * one IOTLB generation only: the whole cache is valid while the unit's
 * generation still has the value it had when the entries were filled, so a
 * wait that processes any invalidation empties it for every thread at once
 * (iommu_iotlb.h argues why that is exact), and nothing else removes an
 * entry except a later fill into the same place. One direct-mapped array
 * per IOTLB leaf size, indexed by the low bits of the leaf-sized page
 * number, so a large leaf takes one entry as it takes one IOTLB entry.
 *
 * Storage: the arrays are indexed by reader slot (a thread owns its slot
 * exclusively, and a thread taking a slot over starts with dom_serial 0, so it
 * clears what it finds before using it); only the last translation used
 * and the validity tags live in the thread's TLS, which stays small.
 */
#define SVF_TC_ENTRIES 64u /* per leaf size; a power of two */
/* Entry data's physical base bits; the same as SVF_TLB_ADDR_MASK (asserted there). */
#define SVF_TC_ADDR_MASK 0x000ffffffffff000ull

struct svf_tc_entry {
	uint64_t tag;  /* leaf-sized page number + 1; 0: empty */
	uint64_t data; /* as an IOTLB entry's: phys base | R/W */
};

struct svf_tcache {
	struct svf_tc_entry e[3][SVF_TC_ENTRIES]; /* by leaf-size code - 1 */
} __attribute__((aligned(64)));

extern struct svf_tcache svf_tcaches[SVF_READER_SLOTS];

/*
 * Per-thread state: the reader slot, the section nesting depth, and the
 * translation cache's header: the domain and IOTLB generation its entries
 * belong to, and the last translation used (checked first).
 */
struct svf_tls {
	int slot;              /* -1 until registered; SVF_READER_SLOTS = shared */
	unsigned depth;        /* nested sections; the slot is odd while > 0 */
	/*
	 * The cache's domain, by its serial (struct svf_domain.serial: never
	 * reused, where a freed domain's address may be), or 0: empty.
	 */
	uint64_t dom_serial;
	uint64_t gen;          /* IOTLB generation its entries were taken under */
	/*
	 * The last translation, in the form the hit path wants: iova hits
	 * when (iova & vmask) == key, leads to iova + delta, and an
	 * access value a (1 read, 2 write, 3 both) is allowed when bit a of
	 * ok is set.
	 */
	uint64_t vmask;        /* ~(leaf size - 1) */
	uint64_t key;          /* leaf-aligned IOVA */
	uint64_t delta;        /* its physical base - key (modulo 2^64) */
	unsigned ok;           /* allowed access values, a bit each */
	unsigned sizes;        /* bit c: svf_tcaches[slot].e[c] may hold entries */
	/*
	 * Set with dom_serial by the driver that filled the cache: the IOTLB
	 * generation word gen was read from, and this thread's hit counter
	 * in that unit (single writer).
	 */
	const uint64_t *genp;
	uint64_t *hits;
};

extern struct svf_reader_slot svf_reader_slots[SVF_READER_SLOTS];
extern uint64_t svf_reader_overflow_active;
extern __thread struct svf_tls svf_tls __attribute__((tls_model("initial-exec")));

int svf_reader_register(void);

/* Make (shift, iova's leaf, data as an IOTLB entry's) the last translation. */
static inline void svf_tcache_set_last(struct svf_tls *tl, unsigned shift, uint64_t iova,
				       uint64_t data)
{
	/*
	 * By data's R (bit 0) and W (bit 1): bit 1 (read) needs R, bit 2
	 * (write) W, bit 3 (both) R and W; four 4-bit values in one constant.
	 */
	const unsigned ok_of = (0u << 0) | (0x2u << 4) | (0x4u << 8) | (0xeu << 12);
	const uint64_t vmask = ~((1ull << shift) - 1);

	tl->vmask = vmask;
	tl->key = iova & vmask;
	tl->delta = (data & SVF_TC_ADDR_MASK) - (iova & vmask);
	tl->ok = (ok_of >> (4 * (data & 3))) & 0xf;
}

/*
 * Driver side: cache the translation of iova (data as an IOTLB entry's,
 * leaf-size shift) for the domain of serial dom_serial, found under generation gen of the IOTLB
 * whose generation word is genp, for a thread in slot slot (< SVF_READER_SLOTS).
 * Only a translation that is current under an even gen may be cached (the
 * drivers' translate paths say when).
 */
static inline void svf_tcache_fill(struct svf_tls *tl, int slot, uint64_t dom_serial,
				   const uint64_t *genp, uint64_t gen, uint64_t *hits,
				   unsigned shift, uint64_t iova, uint64_t data)
{
	struct svf_tcache *tc = &svf_tcaches[slot];
	const unsigned c = (shift - 12) / 9;
	const uint64_t pn = iova >> shift;

	if (tl->dom_serial != dom_serial || tl->gen != gen || tl->genp != genp) {
		for (unsigned m = tl->dom_serial ? tl->sizes : 7u; m; m &= m - 1)
			__builtin_memset(tc->e[__builtin_ctz(m)], 0, sizeof(tc->e[0]));
		tl->sizes = 0;
		tl->dom_serial = dom_serial;
		tl->gen = gen;
		tl->genp = genp;
		tl->hits = hits;
	}
	tc->e[c][pn & (SVF_TC_ENTRIES - 1)] = (struct svf_tc_entry){ pn + 1, data };
	tl->sizes |= 1u << c;
	svf_tcache_set_last(tl, shift, iova, data);
}

/*
 * Reader side, once the header is known valid for the domain: look iova up
 * in the thread's arrays; on a hit it becomes the last translation.
 */
static inline bool svf_tcache_probe(struct svf_tls *tl, uint64_t iova, uint64_t *data,
				    unsigned *shift)
{
	const struct svf_tcache *tc = &svf_tcaches[tl->slot];

	for (unsigned m = tl->sizes; m; m &= m - 1) {
		const unsigned c = (unsigned)__builtin_ctz(m), s = 12 + 9 * c;
		const uint64_t pn = iova >> s;
		const struct svf_tc_entry *e = &tc->e[c][pn & (SVF_TC_ENTRIES - 1)];

		if (e->tag == pn + 1) {
			svf_tcache_set_last(tl, s, iova, e->data);
			*data = e->data;
			*shift = s;
			return true;
		}
	}
	return false;
}

/* This thread's slot (registers on first use); SVF_READER_SLOTS = shared. */
static inline int svf_reader_slot(void)
{
	int s = svf_tls.slot;

	return __builtin_expect(s >= 0, 1) ? s : svf_reader_register();
}

/*
 * Begin a section: from here until the matching exit, no table page we
 * reach is freed and no wait that removes a translation we use completes.
 * Sections nest; only the outermost one touches the slot.
 */
static inline void svf_reader_enter(int slot)
{
	if (svf_tls.depth++)
		return;
	if (__builtin_expect(slot < SVF_READER_SLOTS, 1)) {
		struct svf_reader_slot *s = &svf_reader_slots[slot];
		uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);

		__atomic_store_n(&s->seq, q + 1, __ATOMIC_RELAXED);
		svf_light_fence();
	} else {
		__atomic_add_fetch(&svf_reader_overflow_active, 1, __ATOMIC_SEQ_CST);
	}
}

/*
 * End the section; release orders every load and store made inside it
 * (table reads, and the device's reads and writes of the memory a
 * translation led to) before the sequence change a waiter acquires.
 */
static inline void svf_reader_exit(int slot)
{
	if (--svf_tls.depth)
		return;
	if (__builtin_expect(slot < SVF_READER_SLOTS, 1)) {
		struct svf_reader_slot *s = &svf_reader_slots[slot];
		uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);

		__atomic_store_n(&s->seq, q + 1, __ATOMIC_RELEASE);
	} else {
		__atomic_sub_fetch(&svf_reader_overflow_active, 1, __ATOMIC_RELEASE);
	}
}

/* Whether this thread is inside a section. */
static inline bool svf_reader_inside(void)
{
	return svf_tls.depth != 0;
}

/*
 * Wait until every section that began before this call has ended: a heavy
 * fence, then every odd slot is waited for until its sequence moves. Never
 * fails; spins, yielding after a while (a device section may hold a long
 * DMA). Must not be called inside a section.
 */
void svf_reader_synchronize(void);

/* Whether a thread other than the caller holds a reader slot now (a hint). */
bool svf_reader_others(void);

static inline void svf_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

#endif

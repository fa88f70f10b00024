/* SPDX-License-Identifier: MIT */
/*
 * Reader registry for the emulated VT-d: lets device threads walk page
 * tables without locks while the writer unlinks and frees table pages.
 *
 * Theory of operation. Every thread that translates gets a slot (a cache
 * line of its own) the first time it asks, held until the thread exits.
 * While it walks a page table it keeps its slot's sequence odd
 * (vtd_reader_enter/exit). A table page that the writer unlinked is freed
 * only after vtd_reader_synchronize(), which waits until every slot that was
 * odd when it looked has moved on: a walker that could have reached the
 * unlinked page has left it. This is a grace period in the RCU sense, with
 * the wait descriptor of the emulated hardware as its only caller.
 *
 * Memory ordering (a store-buffer pattern, so both sides need a full fence):
 *   reader:  slot.seq = odd;  fence(seq_cst);  load PTEs ...
 *   writer:  store 0 into the parent entry;  fence(seq_cst);  load slot.seq
 * Either the writer's fence comes first in the single total order of
 * seq_cst fences, and the reader's loads see the unlinked parent entry (it
 * never reaches the page), or the reader's fence comes first, and the writer
 * sees the odd sequence and waits for it to change.
 *
 * The slot index doubles as an index into per-unit counter stripes: a slot
 * has one owner at a time, so its stripe can be bumped with a plain
 * load/store pair instead of a locked instruction. Threads beyond
 * VTD_READER_SLOTS share one overflow slot, counted with atomic adds (their
 * walks then delay a grace period until the overflow count reads zero).
 *
 * Lifetimes: the registry is process-wide and static; a slot is returned at
 * thread exit by a pthread key destructor.
 */
#ifndef SOFTVFIO_VTD_READER_H
#define SOFTVFIO_VTD_READER_H

#include <stdint.h>

#define VTD_READER_SLOTS 256 /* exclusive slots; index VTD_READER_SLOTS is the shared one */

/*
 * Memory fences for the emulated VT-d. ThreadSanitizer does not model
 * fences (GCC refuses them under -fsanitize=thread), so there each fence
 * becomes a seq_cst read-modify-write of one shared word: all such RMWs are
 * totally ordered and each synchronizes with the one before it, which gives
 * TSan at least the ordering the fence promises.
 */
#if defined(__SANITIZE_THREAD__)
extern uint64_t vtd_tsan_fence_word;
#define vtd_fence(order) \
	((void)(order), (void)__atomic_fetch_add(&vtd_tsan_fence_word, 0, __ATOMIC_SEQ_CST))
#else
#define vtd_fence(order) __atomic_thread_fence(order)
#endif

struct vtd_reader_slot {
	uint64_t seq;   /* odd while the owner walks; written only by the owner */
	uint32_t owner; /* 0 free, 1 taken */
} __attribute__((aligned(64)));

extern struct vtd_reader_slot vtd_reader_slots[VTD_READER_SLOTS];
extern uint64_t vtd_reader_overflow_active;
extern __thread int vtd_reader_tls_slot __attribute__((tls_model("initial-exec")));

int vtd_reader_register(void);

/* This thread's slot (registers on first use); VTD_READER_SLOTS = shared. */
static inline int vtd_reader_slot(void)
{
	int s = vtd_reader_tls_slot;

	return __builtin_expect(s >= 0, 1) ? s : vtd_reader_register();
}

/* Begin a page walk: from here until exit, no table page we reach is freed. */
static inline void vtd_reader_enter(int slot)
{
	if (__builtin_expect(slot < VTD_READER_SLOTS, 1)) {
		struct vtd_reader_slot *s = &vtd_reader_slots[slot];
		uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);

		__atomic_store_n(&s->seq, q + 1, __ATOMIC_RELAXED);
		vtd_fence(__ATOMIC_SEQ_CST);
	} else {
		__atomic_add_fetch(&vtd_reader_overflow_active, 1, __ATOMIC_SEQ_CST);
	}
}

/* End the walk; release orders our table loads before the sequence change. */
static inline void vtd_reader_exit(int slot)
{
	if (__builtin_expect(slot < VTD_READER_SLOTS, 1)) {
		struct vtd_reader_slot *s = &vtd_reader_slots[slot];
		uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);

		__atomic_store_n(&s->seq, q + 1, __ATOMIC_RELEASE);
	} else {
		__atomic_sub_fetch(&vtd_reader_overflow_active, 1, __ATOMIC_RELEASE);
	}
}

/*
 * Wait until every walk that began before this call has ended. Never fails;
 * spins (walks are tens of nanoseconds). Must not be called inside a walk.
 */
void vtd_reader_synchronize(void);

static inline void vtd_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

#endif

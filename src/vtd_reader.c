/* SPDX-License-Identifier: MIT */
/*
 * Reader registry: slot allocation and grace periods (see vtd_reader.h for
 * the ordering argument).
 *
 * Invariants: a slot's owner field is 1 exactly while some live thread holds
 * the slot in its vtd_reader_tls_slot; slot.seq is written only by that
 * owner; reader_hwm is one past the highest slot ever handed out, so a grace
 * period scans only slots that can have been used.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vtd_reader.h"

struct vtd_reader_slot vtd_reader_slots[VTD_READER_SLOTS];
uint64_t vtd_reader_overflow_active __attribute__((aligned(64)));
__thread int vtd_reader_tls_slot __attribute__((tls_model("initial-exec"))) = -1;
#if defined(__SANITIZE_THREAD__)
uint64_t vtd_tsan_fence_word;
#endif

static unsigned reader_hwm;
static pthread_once_t reader_once = PTHREAD_ONCE_INIT;
static pthread_key_t reader_key;
static bool reader_key_ok;

/* Thread exit: give the slot back. Its sequence is even (no walk in flight). */
static void reader_release(void *arg)
{
	int slot = (int)(intptr_t)arg - 1;

	if (slot >= 0 && slot < VTD_READER_SLOTS)
		__atomic_store_n(&vtd_reader_slots[slot].owner, 0, __ATOMIC_RELEASE);
	vtd_reader_tls_slot = -1;
}

static void reader_key_init(void)
{
	reader_key_ok = pthread_key_create(&reader_key, reader_release) == 0;
}

int vtd_reader_register(void)
{
	pthread_once(&reader_once, reader_key_init);
	for (int i = 0; i < VTD_READER_SLOTS; i++) {
		uint32_t free_val = 0;

		if (__atomic_load_n(&vtd_reader_slots[i].owner, __ATOMIC_RELAXED))
			continue;
		if (!__atomic_compare_exchange_n(&vtd_reader_slots[i].owner, &free_val, 1, false,
						 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			continue;
		/* Without a destructor the slot stays taken after exit: a leak of
		 * one slot, never a correctness problem. */
		if (reader_key_ok)
			(void)pthread_setspecific(reader_key, (void *)(intptr_t)(i + 1));
		unsigned hwm = __atomic_load_n(&reader_hwm, __ATOMIC_RELAXED);
		while (hwm < (unsigned)i + 1 &&
		       !__atomic_compare_exchange_n(&reader_hwm, &hwm, (unsigned)i + 1, false,
						    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			;
		vtd_reader_tls_slot = i;
		return i;
	}
	vtd_reader_tls_slot = VTD_READER_SLOTS;
	return VTD_READER_SLOTS;
}

void vtd_reader_synchronize(void)
{
	/* Pairs with the fence in vtd_reader_enter(): see vtd_reader.h. */
	vtd_fence(__ATOMIC_SEQ_CST);
	unsigned n = __atomic_load_n(&reader_hwm, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n; i++) {
		uint64_t q = __atomic_load_n(&vtd_reader_slots[i].seq, __ATOMIC_ACQUIRE);

		if (!(q & 1))
			continue;
		while (__atomic_load_n(&vtd_reader_slots[i].seq, __ATOMIC_ACQUIRE) == q)
			vtd_cpu_relax();
	}
	while (__atomic_load_n(&vtd_reader_overflow_active, __ATOMIC_ACQUIRE) != 0)
		vtd_cpu_relax();
}

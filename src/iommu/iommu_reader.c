/* SPDX-License-Identifier: MIT */
/*
 * Reader registry: slot allocation, asymmetric fences and grace periods
 * (see iommu_reader.h for the ordering argument).
 *
 * Invariants: a slot's owner field is 1 exactly while some live thread holds
 * the slot in its svf_tls.slot; slot.seq is written only by that owner;
 * reader_hwm is one past the highest slot ever handed out, so a grace
 * period scans only slots that can have been used; reader_owned counts the
 * threads that hold a slot (the shared one included) and is raised, with a
 * seq_cst fence after it, before the thread's first section.
 */
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "iommu_reader.h"

struct svf_reader_slot svf_reader_slots[SVF_READER_SLOTS];
struct svf_tcache svf_tcaches[SVF_READER_SLOTS];
uint64_t svf_reader_overflow_active __attribute__((aligned(64)));
__thread struct svf_tls svf_tls __attribute__((tls_model("initial-exec"))) = { .slot = -1 };
int svf_asym_fences;
#if defined(__SANITIZE_THREAD__)
uint64_t svf_tsan_fence_word;
#endif

static unsigned reader_hwm;
static uint64_t reader_owned;
static pthread_once_t reader_once = PTHREAD_ONCE_INIT;
/* 1 once reader_init has run (release): heavy fences skip pthread_once's call after. */
static int reader_ready;
static pthread_key_t reader_key;
static bool reader_key_ok;

/* Thread exit: give the slot back. Its sequence is even (no section open). */
static void reader_release(void *arg)
{
	int slot = (int)(intptr_t)arg - 1;

	svf_tls.dom_serial = 0; /* the translation cache's arrays go with the slot */
	if (slot >= 0 && slot < SVF_READER_SLOTS)
		__atomic_store_n(&svf_reader_slots[slot].owner, 0, __ATOMIC_RELEASE);
	__atomic_sub_fetch(&reader_owned, 1, __ATOMIC_RELEASE);
	svf_tls.slot = -1;
}

/*
 * Once per process, before any slot is handed out and before any heavy
 * fence: the pthread key, and whether membarrier(2) can pair with light
 * fences. Registration for the expedited command is required before using
 * it; if either step fails, both sides use seq_cst fences.
 */
static void reader_init(void)
{
	reader_key_ok = pthread_key_create(&reader_key, reader_release) == 0;
#if !defined(__SANITIZE_THREAD__) && defined(SYS_membarrier)
	long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
		__atomic_store_n(&svf_asym_fences, 1, __ATOMIC_RELAXED);
#endif
	__atomic_store_n(&reader_ready, 1, __ATOMIC_RELEASE);
}

static void take_key(int value)
{
	/* Without a destructor the slot stays taken after exit: a leak of one
	 * slot (and membarrier calls that could be skipped), never a
	 * correctness problem. */
	if (reader_key_ok)
		(void)pthread_setspecific(reader_key, (void *)(intptr_t)value);
}

int svf_reader_register(void)
{
	int got = SVF_READER_SLOTS;

	pthread_once(&reader_once, reader_init);
	for (int i = 0; i < SVF_READER_SLOTS; i++) {
		uint32_t free_val = 0;

		if (__atomic_load_n(&svf_reader_slots[i].owner, __ATOMIC_RELAXED))
			continue;
		if (!__atomic_compare_exchange_n(&svf_reader_slots[i].owner, &free_val, 1, false,
						 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			continue;
		unsigned hwm = __atomic_load_n(&reader_hwm, __ATOMIC_RELAXED);
		while (hwm < (unsigned)i + 1 &&
		       !__atomic_compare_exchange_n(&reader_hwm, &hwm, (unsigned)i + 1, false,
						    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			;
		got = i;
		break;
	}
	take_key(got + 1);
	__atomic_add_fetch(&reader_owned, 1, __ATOMIC_SEQ_CST);
	/* Pairs with the fence of a heavy fence that skipped membarrier (iommu_reader.h). */
	svf_fence(__ATOMIC_SEQ_CST);
	svf_tls.slot = got;
	return got;
}

void svf_heavy_fence(void)
{
	svf_fence(__ATOMIC_SEQ_CST);
#if !defined(__SANITIZE_THREAD__) && defined(SYS_membarrier)
	if (!__atomic_load_n(&reader_ready, __ATOMIC_ACQUIRE))
		pthread_once(&reader_once, reader_init);
	if (__atomic_load_n(&svf_asym_fences, __ATOMIC_RELAXED)) {
		uint64_t others = __atomic_load_n(&reader_owned, __ATOMIC_SEQ_CST);

		if (svf_tls.slot >= 0)
			others--;
		if (others)
			(void)syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
	}
#endif
}

bool svf_reader_others(void)
{
	uint64_t n = __atomic_load_n(&reader_owned, __ATOMIC_RELAXED);

	return n > (svf_tls.slot >= 0 ? 1u : 0u);
}

void svf_reader_synchronize(void)
{
	svf_heavy_fence();
	unsigned n = __atomic_load_n(&reader_hwm, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n; i++) {
		if ((int)i == svf_tls.slot)
			continue; /* our own section (a caller bug) cannot end while we wait */
		uint64_t q = __atomic_load_n(&svf_reader_slots[i].seq, __ATOMIC_ACQUIRE);
		unsigned spins = 0;

		if (!(q & 1))
			continue;
		while (__atomic_load_n(&svf_reader_slots[i].seq, __ATOMIC_ACQUIRE) == q) {
			if (++spins < 1024)
				svf_cpu_relax();
			else
				sched_yield(); /* the reader may be preempted mid-DMA */
		}
	}
	while (__atomic_load_n(&svf_reader_overflow_active, __ATOMIC_ACQUIRE) != 0)
		sched_yield();
}

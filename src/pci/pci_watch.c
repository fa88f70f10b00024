/* SPDX-License-Identifier: MIT */
/*
 * The doorbell watcher of mmapped BARs (contract in pci.h).
 *
 * Stores a program makes through its own mapping of a BAR cannot be
 * trapped, so a thread of the device looks at the registers that start
 * work (the model's poll callback) and serves what it finds. To bound the
 * latency without keeping a core busy when nothing happens, the polling
 * adapts to the time since the last activity (a doorbell served, an
 * interrupt unmask eventfd armed; not region accesses, which take effect
 * without the watcher, so a program that only uses them pays only the idle
 * wake-ups):
 *  - spinning: for watch_spin_ns after a doorbell it served it polls back
 *    to back, yielding the CPU every 64 polls, so a driver's next doorbell
 *    is served within a poll (a sleeping thread's wake-up alone can cost
 *    tens of microseconds);
 *  - hot: until watch_hot_ns it sleeps watch_fast_ns between polls (a
 *    timed condition wait, with the timer slack lowered to 1 us);
 *  - idle: after that the period doubles on every empty poll up to
 *    watch_idle_ns, so an idle device costs one wake-up per watch_idle_ns
 *    and a doorbell rung after a quiet spell waits at most that long.
 *
 * Stop: watch_stop under watch_lock and a signal of watch_cond, which the
 * thread sleeps on (a timed wait), so stopping never waits a whole period.
 */
#include <errno.h>
#include <sched.h>
#include <sys/prctl.h>
#include <time.h>

#include "fault.h"

#include "pci.h"

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

/*
 * A flag, not a time stamp: region accesses call this on their fast path,
 * and reading the clock there would cost more than the access. The
 * watcher turns the flag into its own time of last activity.
 */
void svf_pci_watch_kick(struct svf_pci_dev *pd)
{
	if (!__atomic_load_n(&pd->watch_kicked, __ATOMIC_RELAXED))
		__atomic_store_n(&pd->watch_kicked, true, __ATOMIC_RELAXED);
}

static void *watch_main(void *arg)
{
	struct svf_pci_dev *pd = arg;
	uint64_t period = pd->watch_fast_ns, last = svf_pci_now_ns(), last_served = 0;
	unsigned spins = 0;

	/*
	 * Sleeps of a few microseconds need the timer to fire when asked: the
	 * default slack (50 us) would be the latency floor.
	 */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	/*
	 * A thread inherits its creator's CPU affinity, and a program may have
	 * pinned the thread that opens the device (DPDK pins its main thread
	 * before probing) to the very CPU it then busy-polls on: the watcher
	 * would only run when that thread yields. It may run anywhere.
	 */
	{
		cpu_set_t all;

		CPU_ZERO(&all);
		for (int i = 0; i < CPU_SETSIZE; i++)
			CPU_SET(i, &all);
		(void)pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
	}
	pthread_mutex_lock(&pd->watch_lock);
	while (!pd->watch_stop) {
		struct timespec ts;
		uint64_t now, deadline, since;
		bool served;

		pthread_mutex_unlock(&pd->watch_lock);
		pthread_mutex_lock(&pd->lock);
		served = svf_pci_poll_unmask(pd);
		if (pd->ops->poll && pd->ops->poll(pd))
			served = true;
		pthread_mutex_unlock(&pd->lock);
		__atomic_add_fetch(&pd->watch_polls, 1, __ATOMIC_RELAXED);
		now = svf_pci_now_ns();
		if (served)
			__atomic_add_fetch(&pd->watch_served, 1, __ATOMIC_RELAXED);
		if (served)
			last_served = now;
		if (served || __atomic_exchange_n(&pd->watch_kicked, false, __ATOMIC_RELAXED))
			last = now;
		since = now - last;
		if (now - last_served < pd->watch_spin_ns) {
			if (++spins % 64 == 0)
				sched_yield();
			else
				cpu_relax();
			pthread_mutex_lock(&pd->watch_lock);
			continue;
		}
		if (since < pd->watch_hot_ns)
			period = pd->watch_fast_ns;
		else if (period < pd->watch_idle_ns)
			period = period * 2 > pd->watch_idle_ns ? pd->watch_idle_ns : period * 2;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		deadline = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + period;
		ts.tv_sec = (time_t)(deadline / 1000000000ull);
		ts.tv_nsec = (long)(deadline % 1000000000ull);
		pthread_mutex_lock(&pd->watch_lock);
		while (!pd->watch_stop &&
		       pthread_cond_timedwait(&pd->watch_cond, &pd->watch_lock, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&pd->watch_lock);
	return NULL;
}

int svf_pci_watch_start(struct svf_pci_dev *pd)
{
	pthread_condattr_t ca;
	bool any = false;
	int rc;

	for (int b = 0; b < SVF_PCI_NBARS; b++)
		any |= pd->bar_mem[b] != NULL;
	if (!any || (!pd->ops->poll))
		return 0;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -EAGAIN;
	/* The timed wait runs on CLOCK_MONOTONIC, as the deadline above. */
	pthread_cond_destroy(&pd->watch_cond);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pd->watch_cond, &ca);
	pthread_condattr_destroy(&ca);
	pd->watch_stop = false;
	rc = -pthread_create(&pd->watch_tid, NULL, watch_main, pd);
	if (rc)
		return rc;
	pd->watch_running = true;
	return 0;
}

void svf_pci_watch_stop(struct svf_pci_dev *pd)
{
	if (!pd->watch_running)
		return;
	pthread_mutex_lock(&pd->watch_lock);
	pd->watch_stop = true;
	pthread_cond_broadcast(&pd->watch_cond);
	pthread_mutex_unlock(&pd->watch_lock);
	pthread_join(pd->watch_tid, NULL);
	pd->watch_running = false;
}

/* SPDX-License-Identifier: MIT */
/*
 * The doorbell watcher of mmapped BARs (contract in pci.h).
 *
 * Stores a program makes through its own mapping of a BAR cannot be
 * trapped, so a thread of the device looks at the registers that start
 * work (the model's poll callback) and serves what it finds. To bound the
 * latency without keeping a core busy, the polling period adapts:
 *  - hot: for watch_hot_ns after the last activity (a doorbell served, a
 *    region access, an interrupt unmask armed), it polls every
 *    watch_fast_ns, sleeping in between (clock_nanosleep, no spinning);
 *  - idle: after that the period doubles on every empty poll up to
 *    watch_idle_ns.
 * So a doorbell rung while the device is hot is served within
 * watch_fast_ns (plus the work and the scheduler's wake-up), and one rung
 * after a long quiet spell within watch_idle_ns; an idle device costs one
 * wake-up per watch_idle_ns.
 *
 * Stop: watch_stop under watch_lock and a signal of watch_cond, which the
 * thread sleeps on (a timed wait), so stopping never waits a whole period.
 */
#include <errno.h>
#include <time.h>

#include "fault.h"

#include "pci.h"

void svf_pci_watch_kick(struct svf_pci_dev *pd)
{
	__atomic_store_n(&pd->watch_kick_ns, svf_pci_now_ns(), __ATOMIC_RELAXED);
}

static void *watch_main(void *arg)
{
	struct svf_pci_dev *pd = arg;
	uint64_t period = pd->watch_fast_ns;

	pthread_mutex_lock(&pd->watch_lock);
	while (!pd->watch_stop) {
		struct timespec ts;
		uint64_t now, deadline;
		bool served;

		pthread_mutex_unlock(&pd->watch_lock);
		pthread_mutex_lock(&pd->lock);
		served = svf_pci_poll_unmask(pd);
		if (pd->ops->poll && pd->ops->poll(pd))
			served = true;
		pthread_mutex_unlock(&pd->lock);
		__atomic_add_fetch(&pd->watch_polls, 1, __ATOMIC_RELAXED);
		now = svf_pci_now_ns();
		if (served) {
			__atomic_add_fetch(&pd->watch_served, 1, __ATOMIC_RELAXED);
			svf_pci_watch_kick(pd);
		}
		if (now - __atomic_load_n(&pd->watch_kick_ns, __ATOMIC_RELAXED) < pd->watch_hot_ns)
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
	svf_pci_watch_kick(pd);
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

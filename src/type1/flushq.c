/* SPDX-License-Identifier: MIT */
/*
 * The lazy policy's flush timer (the model is in flushq.h).
 *
 * Fields: lock, timeout_ns, flush, opaque and cond are immutable after
 * start; armed, deadline and stop are protected by *lock (the container's).
 * The timer never looks inside the container: what to flush, and whether
 * anything is there, is the flush callback's business.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "fault.h"
#include "flushq.h"

struct svf_flushq {
	pthread_mutex_t *lock;
	uint64_t timeout_ns;
	int (*flush)(void *opaque);
	void *opaque;
	pthread_cond_t cond;  /* on *lock, CLOCK_MONOTONIC */
	pthread_t tid;
	bool armed;           /* a region is queued: flush at deadline */
	bool stop;
	uint64_t deadline;    /* CLOCK_MONOTONIC ns */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *flushq_main(void *arg)
{
	struct svf_flushq *fq = arg;

	pthread_mutex_lock(fq->lock);
	while (!fq->stop) {
		uint64_t now;

		if (!fq->armed) {
			pthread_cond_wait(&fq->cond, fq->lock);
			continue;
		}
		now = mono_ns();
		if (now < fq->deadline) {
			struct timespec ts = {
				.tv_sec = (time_t)(fq->deadline / 1000000000u),
				.tv_nsec = (long)(fq->deadline % 1000000000u),
			};

			pthread_cond_timedwait(&fq->cond, fq->lock, &ts);
			continue;
		}
		fq->armed = false;
		if (fq->flush(fq->opaque)) {
			/* The pages stay pinned; try again a timeout later. */
			fq->armed = true;
			fq->deadline = now + fq->timeout_ns;
		}
	}
	pthread_mutex_unlock(fq->lock);
	return NULL;
}

int svf_flushq_start(pthread_mutex_t *lock, uint64_t timeout_ns, int (*flush)(void *opaque),
		     void *opaque, struct svf_flushq **out)
{
	pthread_condattr_t attr;
	struct svf_flushq *fq;
	int rc;

	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	fq = calloc(1, sizeof(*fq));
	if (!fq)
		return -ENOMEM;
	fq->lock = lock;
	fq->timeout_ns = timeout_ns;
	fq->flush = flush;
	fq->opaque = opaque;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = -pthread_cond_init(&fq->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (rc)
		goto err_free;
	rc = -EAGAIN;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		goto err_cond;
	rc = -pthread_create(&fq->tid, NULL, flushq_main, fq);
	if (rc)
		goto err_cond;
	*out = fq;
	return 0;

err_cond:
	pthread_cond_destroy(&fq->cond);
err_free:
	free(fq);
	return rc;
}

void svf_flushq_stop(struct svf_flushq *fq)
{
	if (!fq)
		return;
	pthread_mutex_lock(fq->lock);
	fq->stop = true;
	pthread_cond_signal(&fq->cond);
	pthread_mutex_unlock(fq->lock);
	pthread_join(fq->tid, NULL);
	pthread_cond_destroy(&fq->cond);
	free(fq);
}

void svf_flushq_arm(struct svf_flushq *fq)
{
	fq->armed = true;
	fq->deadline = mono_ns() + fq->timeout_ns;
	pthread_cond_signal(&fq->cond);
}

/* SPDX-License-Identifier: MIT */
/*
 * The lazy policy's flush timer (after dma-iommu's flush queue).
 *
 * Under SVF_POLICY_LAZY the container's preallocated pending list is the
 * flush queue: an unmap removes translations with unmap_fast, gathers their
 * invalidations and queues the regions, and returns without waiting. The
 * queue is flushed (one iotlb_sync, then one unpin of every queued region)
 * when it is full (container.c, at lazy_queue_cap regions), by any later
 * request that flushes (map undo, detach, destroy), or by this timer, at
 * most timeout after the region that found the queue empty was queued, with
 * no later call needed. Pages stay pinned until the flush that covers them
 * has completed, so a device that still hits a stale IOTLB entry reaches
 * memory that is unmapped but never memory that is unpinned.
 *
 * Theory of operation. One thread per lazy container, started at create and
 * joined at destroy. It sleeps on a condition variable that uses the
 * container's own mutex, so every look at the queue and every flush runs
 * under the lock that serializes the container, like any ioctl. arm() is
 * called (lock held) when a region enters an empty queue and sets the
 * deadline; once the deadline has passed the thread calls the container's
 * flush callback, which flushes whatever is still queued (a request may
 * have flushed it meanwhile). A failed flush keeps the regions pinned and
 * re-arms. The timer knows nothing of the container but its lock.
 *
 * Nothing here allocates after start.
 */
#ifndef SOFTVFIO_FLUSHQ_H
#define SOFTVFIO_FLUSHQ_H

#include <pthread.h>
#include <stdint.h>

struct svf_flushq;

/*
 * Start a timer whose state *lock (the container's mutex) protects.
 * flush(opaque) is called with *lock held once timeout_ns have passed since
 * the last arm; it returns 0, or an errno to be called again a timeout
 * later. Returns 0, -ENOMEM, -EAGAIN (the thread).
 */
int svf_flushq_start(pthread_mutex_t *lock, uint64_t timeout_ns, int (*flush)(void *opaque),
		     void *opaque, struct svf_flushq **out);
/* Stop and join the timer; call without *lock held. NULL is a no-op. Never fails. */
void svf_flushq_stop(struct svf_flushq *fq);
/* *lock held: the queue was empty and now holds a region. */
void svf_flushq_arm(struct svf_flushq *fq);

#endif

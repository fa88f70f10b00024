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
 * deadline; the thread flushes once the deadline has passed. A failed
 * flush keeps the regions pinned and re-arms.
 *
 * Nothing here allocates after start.
 */
#ifndef SOFTVFIO_FLUSHQ_H
#define SOFTVFIO_FLUSHQ_H

#include <stdint.h>

struct svf_container;
struct svf_flushq;

/*
 * Start the timer of c. flush is called with c's lock held and returns 0 or
 * an errno; flushed tells whether anything was pending. 0, -ENOMEM, -EAGAIN.
 */
int svf_flushq_start(struct svf_container *c, uint64_t timeout_ns,
		     int (*flush)(struct svf_container *c), struct svf_flushq **out);
/* Stop and join the timer; call without c's lock. NULL is a no-op. Never fails. */
void svf_flushq_stop(struct svf_flushq *fq);
/* c's lock held: the queue was empty and now holds a region. */
void svf_flushq_arm(struct svf_flushq *fq);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The emulated invalidation queue: descriptors waiting for a wait, the
 * page-selective mask arithmetic, and the log tests read.
 *
 * A queued descriptor has no effect on the IOTLB; the unit's wait
 * processes the queued ones in order and then retires them (vtd.c owns
 * that step, since it needs the IOTLB and the deferred page list). As on
 * the hardware, the queue is a ring written at its tail and consumed at
 * its head, and what was consumed stays in its slot until the tail comes
 * round again: that is the log. Nothing is copied twice; a descriptor is
 * written once, into its slot. The ring has cap slots, a power of two of
 * at least depth + 1 (a wait's own descriptor is written after the queue
 * drained) and of at least SVF_VTD_LOG_DEPTH, allocated up front, so
 * queueing never allocates; at most depth are queued at once, and a full
 * queue is the caller's cue to wait first.
 *
 * Indices: head and tail count descriptors ever consumed and issued (tail
 * is the log's count, waits included); slot i is ring[i & (cap - 1)];
 * [head, tail) are queued; [tail - SVF_VTD_LOG_DEPTH, tail) can be read
 * back.
 *
 * Locking: all of it is protected by the unit lock (vtd.c); tail is also
 * read relaxed without it.
 */
#ifndef SOFTVFIO_VTD_QUEUE_H
#define SOFTVFIO_VTD_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "vtd.h"

struct vtd_queue {
	struct svf_vtd_desc *ring; /* cap slots */
	/*
	 * span[slot]: the IOVAs the descriptor there was queued for (start,
	 * last), which the unpin check compares with. A descriptor covers
	 * more (the mask's aligned block, a DSI past MAMV), but only the
	 * requested IOVAs lost a translation; the rest of the block
	 * translated nothing, or still translates as its page table says.
	 */
	uint64_t (*span)[2];
	unsigned depth;            /* immutable: most descriptors queued at once */
	unsigned cap;              /* immutable: slots, a power of two > depth */
	uint64_t head;             /* descriptors consumed by waits */
	uint64_t tail;             /* descriptors ever issued (the log's count) */
};

/* 0 or -ENOMEM (SVF_FAULT_ALLOC seam). depth >= 1. */
int vtd_queue_init(struct vtd_queue *q, unsigned depth);
void vtd_queue_fini(struct vtd_queue *q);

static inline unsigned vtd_queue_len(const struct vtd_queue *q)
{
	return (unsigned)(q->tail - q->head);
}

static inline bool vtd_queue_full(const struct vtd_queue *q)
{
	return vtd_queue_len(q) == q->depth;
}

static inline struct svf_vtd_desc *vtd_queue_slot(const struct vtd_queue *q, uint64_t i)
{
	return &q->ring[i & (q->cap - 1)];
}

/*
 * The slot the next descriptor goes to, to be built in place, then
 * vtd_queue_push'ed; the queue must not be full.
 */
static inline struct svf_vtd_desc *vtd_queue_next(const struct vtd_queue *q)
{
	return vtd_queue_slot(q, q->tail);
}

/*
 * Queue the descriptor built at vtd_queue_next(), issued for the IOVAs
 * [start, last] (0, UINT64_MAX for a whole domain or unit).
 */
static inline void vtd_queue_push(struct vtd_queue *q, uint64_t start, uint64_t last)
{
	uint64_t *sp = q->span[q->tail & (q->cap - 1)];

	sp[0] = start;
	sp[1] = last;
	__atomic_store_n(&q->tail, q->tail + 1, __ATOMIC_RELAXED);
}

/* Retire every queued descriptor (the wait processed them). */
static inline void vtd_queue_retire(struct vtd_queue *q)
{
	q->head = q->tail;
}

/*
 * Record a descriptor that is issued and consumed at once (a wait, written
 * when the queue is empty): it goes to the log's next slot, not queued.
 */
void vtd_queue_log(struct vtd_queue *q, const struct svf_vtd_desc *d);

/* The nth descriptor issued, if the log still holds it: true and *out. */
bool vtd_queue_logged(const struct vtd_queue *q, uint64_t n, struct svf_vtd_desc *out);

/*
 * True when a queued descriptor could still concern d's [start, last]: one
 * queued for IOVAs of d (or of every domain) that meet it.
 */
bool vtd_queue_overlaps(const struct vtd_queue *q, uint16_t did, uint64_t start, uint64_t last);

#endif

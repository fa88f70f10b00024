/* SPDX-License-Identifier: MIT */
/*
 * The emulated invalidation queue: descriptors waiting for a wait, the
 * page-selective mask arithmetic, and the descriptor log for tests.
 *
 * A queued descriptor has no effect on the IOTLB; the unit's wait
 * processes the ring in order and then empties it (vtd.c owns that step,
 * since it needs the IOTLB and the deferred page list). The ring has a
 * fixed depth allocated up front, so queueing never allocates; a full ring
 * is the caller's cue to wait first. Every descriptor issued, waits
 * included, is also copied into a fixed log of the last SVF_VTD_LOG_DEPTH.
 *
 * Locking: all of it is protected by the unit lock (vtd.c).
 */
#ifndef SOFTVFIO_VTD_QUEUE_H
#define SOFTVFIO_VTD_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "vtd.h"

struct vtd_queue {
	struct svf_vtd_desc *ring; /* depth entries; [0, len) are queued, in order */
	/*
	 * span[i]: the IOVAs ring[i] was queued for (start, last), which the
	 * unpin check compares with. A descriptor covers more (the mask's
	 * aligned block, a DSI past MAMV), but only the requested IOVAs lost
	 * a translation; the rest of the block translated nothing, or still
	 * translates as its page table says.
	 */
	uint64_t (*span)[2];
	unsigned depth;            /* immutable */
	unsigned len;
	struct svf_vtd_desc log[SVF_VTD_LOG_DEPTH];
	uint64_t logged;           /* descriptors ever issued */
};

/* 0 or -ENOMEM (SVF_FAULT_ALLOC seam). depth >= 1. */
int vtd_queue_init(struct vtd_queue *q, unsigned depth);
void vtd_queue_fini(struct vtd_queue *q);

static inline bool vtd_queue_full(const struct vtd_queue *q)
{
	return q->len == q->depth;
}

/* Record a descriptor in the log (the wait path logs waits this way). */
void vtd_queue_log(struct vtd_queue *q, const struct svf_vtd_desc *d);

/*
 * Append and log; the ring must not be full. [start, last] are the IOVAs it
 * is queued for (0, UINT64_MAX for a whole domain or unit).
 */
void vtd_queue_push(struct vtd_queue *q, const struct svf_vtd_desc *d, uint64_t start,
		    uint64_t last);

/*
 * True when a queued descriptor could still concern d's [start, last]: one
 * queued for IOVAs of d (or of every domain) that meet it.
 */
bool vtd_queue_overlaps(const struct vtd_queue *q, uint16_t did, uint64_t start, uint64_t last);

#endif

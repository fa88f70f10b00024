/* SPDX-License-Identifier: MIT */
/*
 * Invalidation queue, descriptor log and VT-d mask arithmetic (the model is
 * in vtd_queue.h).
 *
 * Mask rule (VT-d spec, page-selective-within-domain IOTLB invalidation):
 * the descriptor names an address and an address-mask order; it covers the
 * 2^order 4 KiB pages of the naturally aligned block containing the address.
 * To cover [start, last] the order starts at ceil(log2(pages)) and grows
 * until start and last agree above it, because an unaligned range needs a
 * bigger block than its page count. Past the unit's maximum (CAP_REG.MAMV)
 * only a domain-selective invalidation can cover the range.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

#include "vtd_queue.h"

bool svf_vtd_inv_mask(uint64_t start, uint64_t last, unsigned max_order, uint64_t *addr,
		      unsigned *order)
{
	const uint64_t sp = start >> 12, lp = last >> 12;
	const uint64_t pages = lp - sp + 1;
	unsigned o = pages <= 1 ? 0 : 64 - (unsigned)__builtin_clzll(pages - 1);

	/* lp < 2^52, so the loop ends by o = 52 at the latest. */
	while (o < 63 && (sp >> o) != (lp >> o))
		o++;
	*order = o;
	*addr = o < 52 ? (sp >> o) << (o + 12) : 0;
	return o <= max_order;
}

int vtd_queue_init(struct vtd_queue *q, unsigned depth)
{
	memset(q, 0, sizeof(*q));
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	/* One block: the ring, then the spans (16-byte entries keep them aligned). */
	_Static_assert(sizeof(*q->ring) % sizeof(uint64_t) == 0, "span alignment");
	q->ring = calloc(depth, sizeof(*q->ring) + sizeof(*q->span));
	if (!q->ring)
		return -ENOMEM;
	q->span = (uint64_t(*)[2])(void *)(q->ring + depth);
	q->depth = depth;
	return 0;
}

void vtd_queue_fini(struct vtd_queue *q)
{
	free(q->ring);
	q->ring = NULL;
	q->span = NULL;
}

void vtd_queue_log(struct vtd_queue *q, const struct svf_vtd_desc *d)
{
	q->log[q->logged % SVF_VTD_LOG_DEPTH] = *d;
	__atomic_store_n(&q->logged, q->logged + 1, __ATOMIC_RELAXED);
}

void vtd_queue_push(struct vtd_queue *q, const struct svf_vtd_desc *d, uint64_t start,
		    uint64_t last)
{
	q->span[q->len][0] = start;
	q->span[q->len][1] = last;
	q->ring[q->len++] = *d;
	vtd_queue_log(q, d);
}

bool vtd_queue_overlaps(const struct vtd_queue *q, uint16_t did, uint64_t start, uint64_t last)
{
	for (unsigned i = 0; i < q->len; i++) {
		const struct svf_vtd_desc *d = &q->ring[i];

		if (d->type != SVF_VTD_DESC_GLOBAL && d->type != SVF_VTD_DESC_DOMAIN &&
		    d->type != SVF_VTD_DESC_PAGE)
			continue;
		if (d->type != SVF_VTD_DESC_GLOBAL && d->did != did)
			continue;
		if (q->span[i][0] <= last && q->span[i][1] >= start)
			return true;
	}
	return false;
}

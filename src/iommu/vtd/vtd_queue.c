/* SPDX-License-Identifier: MIT */
/*
 * Invalidation queue (its ring is the descriptor log) and VT-d mask
 * arithmetic (the model is in vtd_queue.h).
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
	unsigned cap = SVF_VTD_LOG_DEPTH;

	memset(q, 0, sizeof(*q));
	while (cap <= depth)
		cap *= 2;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	/* One block: the ring, then the spans (16-byte entries keep them aligned). */
	_Static_assert(sizeof(*q->ring) % sizeof(uint64_t) == 0, "span alignment");
	_Static_assert((SVF_VTD_LOG_DEPTH & (SVF_VTD_LOG_DEPTH - 1)) == 0, "power of two");
	q->ring = calloc(cap, sizeof(*q->ring) + sizeof(*q->span));
	if (!q->ring)
		return -ENOMEM;
	q->span = (uint64_t(*)[2])(void *)(q->ring + cap);
	q->depth = depth;
	q->cap = cap;
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
	*vtd_queue_next(q) = *d;
	vtd_queue_push(q, 0, UINT64_MAX);
	vtd_queue_retire(q);
}

bool vtd_queue_logged(const struct vtd_queue *q, uint64_t n, struct svf_vtd_desc *out)
{
	if (n >= q->tail || q->tail - n > SVF_VTD_LOG_DEPTH)
		return false;
	*out = *vtd_queue_slot(q, n);
	return true;
}

bool vtd_queue_overlaps(const struct vtd_queue *q, uint16_t did, uint64_t start, uint64_t last)
{
	for (uint64_t i = q->head; i < q->tail; i++) {
		const struct svf_vtd_desc *d = vtd_queue_slot(q, i);
		const uint64_t *sp = q->span[i & (q->cap - 1)];

		if (d->type != SVF_VTD_DESC_GLOBAL && d->type != SVF_VTD_DESC_DOMAIN &&
		    d->type != SVF_VTD_DESC_PAGE)
			continue;
		if (d->type != SVF_VTD_DESC_GLOBAL && d->did != did)
			continue;
		if (sp[0] <= last && sp[1] >= start)
			return true;
	}
	return false;
}

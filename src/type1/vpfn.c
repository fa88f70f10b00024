/* SPDX-License-Identifier: MIT */
/*
 * The pages of a mapping that emulated devices pinned (Linux's struct
 * vfio_pfn), with a reference count per page, in the mapping's own rb-tree
 * of struct svf_vpfn.
 *
 * Whether an entry holds a pin of its own (own_pin) depends on whether an
 * IOMMU domain was attached when it was made: with one, the mapping's pin
 * already holds the page and its locked memory, so nothing is pinned or
 * charged twice; without one, the entry pins the page through the pinner
 * and is charged. container.c converts entries when the first domain
 * arrives (svf_vpfn_drop_own_pins) or the last one leaves
 * (svf_vpfn_take_own_pins), so own_pin is true exactly when the container
 * has no domain.
 *
 * Invariants: c->external_pins == sum of every entry's ref; an entry exists
 * only with ref >= 1.
 *
 * Lock: the container lock, held by every caller.
 */
#include <errno.h>
#include <stdlib.h>

#include "container_priv.h"
#include "fault.h"
#include "vpfn.h"

static int svf_vpfn_cmp(const struct svf_vpfn *a, const struct svf_vpfn *b)
{
	return a->iova < b->iova ? -1 : a->iova > b->iova;
}

RB_GENERATE(svf_vpfn_tree, svf_vpfn, node, svf_vpfn_cmp)

struct svf_vpfn *svf_vpfn_find(struct svf_dma *dma, uint64_t iova)
{
	struct svf_vpfn key = { .iova = iova };

	return RB_FIND(svf_vpfn_tree, &dma->vpfns, &key);
}

int svf_vpfn_add(struct svf_container *c, struct svf_dma *dma, uint64_t iova, uint64_t phys,
		 bool own_pin)
{
	struct svf_vpfn *v;

	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->iova = iova;
	v->phys = phys;
	v->ref = 1;
	v->own_pin = own_pin;
	RB_INSERT(svf_vpfn_tree, &dma->vpfns, v);
	dma->nr_vpfns++;
	c->external_pins++;
	c->st.bookkeeping_bytes += sizeof(*v);
	return 0;
}

void svf_vpfn_get(struct svf_container *c, struct svf_vpfn *v, uint64_t *phys)
{
	v->ref++;
	c->external_pins++;
	*phys = v->phys;
}

void svf_vpfn_put(struct svf_container *c, struct svf_dma *dma, struct svf_vpfn *v)
{
	c->external_pins--;
	if (--v->ref)
		return;
	if (v->own_pin) {
		svf_unpin_run(c->pinner, dma->pin_vaddr + (v->iova - dma->iova), v->phys, 1);
		svf_type1_account_unpin(c, 1);
	}
	RB_REMOVE(svf_vpfn_tree, &dma->vpfns, v);
	dma->nr_vpfns--;
	c->st.bookkeeping_bytes -= sizeof(*v);
	free(v);
}

void svf_vpfn_release_dma(struct svf_container *c, struct svf_dma *dma)
{
	struct svf_vpfn *v, *next;

	RB_FOREACH_SAFE(v, svf_vpfn_tree, &dma->vpfns, next) {
		while (v->ref > 1) {
			v->ref--;
			c->external_pins--;
		}
		svf_vpfn_put(c, dma, v);
	}
}

int svf_vpfn_take_own_pins(struct svf_container *c, struct svf_dma *dma)
{
	struct svf_vpfn *v;
	int rc;

	RB_FOREACH(v, svf_vpfn_tree, &dma->vpfns) {
		uint64_t pa, n;

		if (v->own_pin)
			continue;
		rc = svf_pin_run(c->pinner, dma->pin_vaddr + (v->iova - dma->iova), 1,
				 dma->prot & SVF_PROT_WRITE, &pa, &n);
		if (rc) {
			svf_vpfn_drop_own_pins(c, dma);
			return rc;
		}
		svf_type1_account_pin(c, 1);
		v->own_pin = true;
	}
	return 0;
}

void svf_vpfn_drop_own_pins(struct svf_container *c, struct svf_dma *dma)
{
	struct svf_vpfn *v;

	RB_FOREACH(v, svf_vpfn_tree, &dma->vpfns) {
		if (!v->own_pin)
			continue;
		svf_unpin_run(c->pinner, dma->pin_vaddr + (v->iova - dma->iova), v->phys, 1);
		svf_type1_account_unpin(c, 1);
		v->own_pin = false;
	}
}

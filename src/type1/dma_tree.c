/* SPDX-License-Identifier: MIT */
/*
 * The container's mapping tree (struct svf_dma in c->dmas, ordered by IOVA;
 * mappings never overlap): its generated functions live here, at the bottom
 * of type1, so that every file of the folder can walk a container's
 * mappings without calling into container.c. Lock: the container lock.
 */
#include "container_priv.h"

static int svf_dma_cmp(const struct svf_dma *a, const struct svf_dma *b)
{
	return a->iova < b->iova ? -1 : a->iova > b->iova;
}

RB_GENERATE(svf_dma_tree, svf_dma, node, svf_dma_cmp)

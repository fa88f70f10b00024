/* SPDX-License-Identifier: MIT */
/*
 * The container's mapping entries (struct svf_dma) come from slabs, as
 * Linux's come from a kmalloc slab cache: a slab holds SVF_DMA_SLAB_ENTRIES
 * entries and a stack of its free ones, so taking or returning an entry is a
 * few loads and stores, where the C library's malloc and free cost a
 * hundred instructions or more each (a MAP_DMA and an UNMAP_DMA of one
 * 4 KiB page do little else of that size).
 *
 * Memory: a slab is allocated when no slab has a free entry and released
 * when its last entry returns, except one empty slab kept for the next
 * allocation (so map and unmap at a slab's boundary do not allocate and
 * free a slab each time). What the slabs hold is counted in the counter
 * given at init (the container's bookkeeping_bytes). Under AddressSanitizer
 * a free entry is poisoned, so a use after svf_dma_free is still reported.
 *
 * Lock: the container's (every call is made under it). Lifetime: every
 * slab, with whatever entries are still in use, is released by
 * svf_dma_cache_fini.
 */
#ifndef SOFTVFIO_DMA_SLAB_H
#define SOFTVFIO_DMA_SLAB_H

#include <stdint.h>
#include <sys/queue.h>

struct svf_dma;
struct svf_dma_slab;

LIST_HEAD(svf_dma_slab_list, svf_dma_slab);

struct svf_dma_cache {
	struct svf_dma_slab_list all;     /* every slab but the spare */
	struct svf_dma_slab_list partial; /* slabs with a free entry and one in use */
	struct svf_dma_slab *spare;       /* an empty slab kept, or NULL */
	uint64_t *bytes;                  /* the counter slab memory is added to */
};

void svf_dma_cache_init(struct svf_dma_cache *dc, uint64_t *bytes);
/* Release every slab (entries still in use included). */
void svf_dma_cache_fini(struct svf_dma_cache *dc);
/*
 * A zeroed entry, or NULL when a new slab cannot be allocated. The caller
 * has passed the allocation's fault seam.
 */
struct svf_dma *svf_dma_alloc(struct svf_dma_cache *dc);
/* Return an entry from svf_dma_alloc (no longer in the tree). */
void svf_dma_free(struct svf_dma_cache *dc, struct svf_dma *dma);

#endif

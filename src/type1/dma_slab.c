/* SPDX-License-Identifier: MIT */
/*
 * Slabs of mapping entries (the model is in dma_slab.h).
 *
 * Invariants: a slab is on `all` unless it is the spare; it is on `partial`
 * exactly while 0 < used < SVF_DMA_SLAB_ENTRIES; free[0 .. nfree) are the
 * indexes of its entries not in use (nfree == SVF_DMA_SLAB_ENTRIES - used);
 * an entry in use has slab pointing at its slab.
 */
#include <stdlib.h>
#include <string.h>

#include "sanitize.h"

#if SVF_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#include "container_priv.h"
#include "dma_slab.h"

#define SVF_DMA_SLAB_ENTRIES 63

struct svf_dma_slab {
	LIST_ENTRY(svf_dma_slab) on_all;
	LIST_ENTRY(svf_dma_slab) on_partial;
	unsigned used, nfree;
	uint8_t free[SVF_DMA_SLAB_ENTRIES]; /* a stack of free entry indexes */
	struct svf_dma e[SVF_DMA_SLAB_ENTRIES];
};

_Static_assert(SVF_DMA_SLAB_ENTRIES <= 256, "free indexes are bytes");

void svf_dma_cache_init(struct svf_dma_cache *dc, uint64_t *bytes)
{
	LIST_INIT(&dc->all);
	LIST_INIT(&dc->partial);
	dc->spare = NULL;
	dc->bytes = bytes;
}

static void slab_release(struct svf_dma_cache *dc, struct svf_dma_slab *s)
{
	*dc->bytes -= sizeof(*s);
	UNPOISON(s->e, sizeof(s->e));
	free(s);
}

void svf_dma_cache_fini(struct svf_dma_cache *dc)
{
	struct svf_dma_slab *s;

	while ((s = LIST_FIRST(&dc->all))) {
		LIST_REMOVE(s, on_all);
		slab_release(dc, s);
	}
	LIST_INIT(&dc->partial);
	if (dc->spare)
		slab_release(dc, dc->spare);
	dc->spare = NULL;
}

/* A slab with every entry free (the spare, or a new one), not on any list. */
static struct svf_dma_slab *slab_get(struct svf_dma_cache *dc)
{
	struct svf_dma_slab *s = dc->spare;

	if (s) {
		dc->spare = NULL;
		return s;
	}
	s = malloc(sizeof(*s));
	if (!s)
		return NULL;
	s->used = 0;
	s->nfree = SVF_DMA_SLAB_ENTRIES;
	/* Lowest index on top: entries are handed out in address order. */
	for (unsigned i = 0; i < SVF_DMA_SLAB_ENTRIES; i++)
		s->free[i] = (uint8_t)(SVF_DMA_SLAB_ENTRIES - 1 - i);
	POISON(s->e, sizeof(s->e));
	*dc->bytes += sizeof(*s);
	return s;
}

struct svf_dma *svf_dma_alloc(struct svf_dma_cache *dc)
{
	struct svf_dma_slab *s = LIST_FIRST(&dc->partial);
	struct svf_dma *dma;

	if (!s) {
		s = slab_get(dc);
		if (!s)
			return NULL;
		LIST_INSERT_HEAD(&dc->all, s, on_all);
		LIST_INSERT_HEAD(&dc->partial, s, on_partial);
	}
	dma = &s->e[s->free[--s->nfree]];
	if (++s->used == SVF_DMA_SLAB_ENTRIES)
		LIST_REMOVE(s, on_partial);
	UNPOISON(dma, sizeof(*dma));
	memset(dma, 0, sizeof(*dma));
	dma->slab = s;
	return dma;
}

void svf_dma_free(struct svf_dma_cache *dc, struct svf_dma *dma)
{
	struct svf_dma_slab *s = dma->slab;

	s->free[s->nfree++] = (uint8_t)(dma - s->e);
	POISON(dma, sizeof(*dma));
	if (s->used-- == SVF_DMA_SLAB_ENTRIES)
		LIST_INSERT_HEAD(&dc->partial, s, on_partial); /* it was full */
	if (s->used)
		return;
	LIST_REMOVE(s, on_partial);
	LIST_REMOVE(s, on_all);
	if (!dc->spare)
		dc->spare = s;
	else
		slab_release(dc, s);
}

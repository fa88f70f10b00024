/* SPDX-License-Identifier: MIT */
/* Dirty-page tracking of the type1 container; see dirty.c. Container lock held. */
#ifndef SOFTVFIO_DIRTY_H
#define SOFTVFIO_DIRTY_H

#include <stdint.h>

struct svf_container;
struct svf_dma;
struct svf_domain;

/* Turn tracking on: a filled bitmap for every mapping. 0 or -ENOMEM (nothing changed). */
int svf_dirty_start(struct svf_container *c);
/* Turn tracking off and free every bitmap. Never fails. */
void svf_dirty_stop(struct svf_container *c);
/* A mapping made while tracking gets its bitmap. 0 or -ENOMEM. */
int svf_dirty_dma_alloc(struct svf_container *c, struct svf_dma *dma);
void svf_dirty_dma_free(struct svf_container *c, struct svf_dma *dma);
/*
 * Write dma's dirty bits into the caller's bitmap user (a user pointer,
 * user_bytes long, bit 0 = page at base) as whole words; D bits of the page
 * tables are first moved into dma's own bitmap, which keeps them until
 * svf_dirty_reset. 0 or -EFAULT (the caller's bitmap could not be read or
 * written; nothing is lost).
 */
int svf_dirty_report(struct svf_container *c, struct svf_dma *dma, uint64_t base, void *user,
		     uint64_t user_bytes);
/* After a request delivered every mapping's bits: reset dma's to what is still dirty. */
void svf_dirty_reset(struct svf_container *c, struct svf_dma *dma);
/* d is leaving the container: keep what its page tables recorded. */
void svf_dirty_fold_domain(struct svf_container *c, struct svf_domain *d);

/* Dirtiness comes from the page tables (every domain's unit has hw_dirty). */
bool svf_dirty_hw_mode(const struct svf_container *c);

/* An emulated device pinned the page at iova of dma: it is dirty. */
void svf_dirty_mark(struct svf_dma *dma, uint64_t iova);

#endif

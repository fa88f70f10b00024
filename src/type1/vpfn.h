/* SPDX-License-Identifier: MIT */
/*
 * The pages of a mapping that emulated devices pinned (struct svf_vpfn in a
 * per-mapping rb-tree; see vpfn.c). Below container.c: it calls nothing
 * of the container (not even its mapping tree) but the inline accounting
 * of container_priv.h, so both
 * container.c (unmap, first domain in, last domain out) and emulated.c (the
 * pin and unpin entry points) can use it. Container lock held throughout.
 */
#ifndef SOFTVFIO_VPFN_H
#define SOFTVFIO_VPFN_H

#include <stdbool.h>
#include <stdint.h>

struct svf_container;
struct svf_dma;
struct svf_vpfn;

/* The entry of the page at iova in dma, or NULL. */
struct svf_vpfn *svf_vpfn_find(struct svf_dma *dma, uint64_t iova);
/*
 * A new entry with one reference for the page at iova of dma, whose frame
 * is phys; own_pin: the caller pinned (and counted) the page for it.
 * 0 or -ENOMEM (nothing changed: the caller undoes its pin).
 */
int svf_vpfn_add(struct svf_container *c, struct svf_dma *dma, uint64_t iova, uint64_t phys,
		 bool own_pin);
/* One more reference of v. */
void svf_vpfn_get(struct svf_container *c, struct svf_vpfn *v, uint64_t *phys);
/* Drop one reference of v in dma; frees it (and its own pin) at zero. */
void svf_vpfn_put(struct svf_container *c, struct svf_dma *dma, struct svf_vpfn *v);
/* Release every entry of dma (the last emulated device left, or dma is going away). */
void svf_vpfn_release_dma(struct svf_container *c, struct svf_dma *dma);
/*
 * The last IOMMU domain is leaving while emulated devices stay: dma's
 * entries that relied on the mapping's pin get pins of their own. 0, or the
 * pinner's errno (then dma's entries are as before: no own pins).
 */
int svf_vpfn_take_own_pins(struct svf_container *c, struct svf_dma *dma);
/* The first IOMMU domain arrived and dma is pinned by its mapping: entries drop their own pins. */
void svf_vpfn_drop_own_pins(struct svf_container *c, struct svf_dma *dma);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Check mode (docs/design.md invariants 1 and 2, made countable): what a device
 * consults on every access to tell whether it reached a page that nothing
 * pins any more, or a page through an IOVA whose unmap had already returned.
 *
 * Two pieces, both built on one sparse table of 64-bit words keyed by a page
 * number (struct svf_shadow):
 *
 *  - Pin state, kept by the pinner (pin.c) once svf_pinner_enable_check()
 *    was called: one word per frame, low 32 bits the pins held now, high 32
 *    bits how many times the last pin went. A device reads the word before
 *    and after an access: a count of 0 before, or a different word's high
 *    half after, means the access touched a page that was (or became)
 *    unpinned while it ran. Poisoning the memory is not possible (it is the
 *    caller's), so this is how a released page is made detectable.
 *
 *  - Unmap stamps, kept by the container (struct svf_dmacheck): one word per
 *    IOVA page, 0 while it is mapped (or was never unmapped), else the value
 *    the container's unmap epoch took when the unmap that removed it
 *    returned. The container stamps the pages of every mapping it removes
 *    with epoch + 1 and, when the request returns, publishes epoch + 1
 *    (release). A request reads the epoch (acquire) when it begins; a page
 *    it then reaches whose stamp is non-zero and not above that value was
 *    unmapped by a call that had returned before the request began.
 *
 * Concurrency. Table nodes are allocated by the writer (the pinner under
 * its lock, the container under its lock), zeroed before they are published
 * with release stores, and never freed before the table is destroyed;
 * readers walk with acquire loads and no lock. Words are read and written
 * with atomic loads and stores.
 *
 * Allocation happens only where a pin or a map happens (ensure), never on
 * an unpin or unmap path, and goes through the fault seam.
 */
#ifndef SOFTVFIO_DMACHECK_H
#define SOFTVFIO_DMACHECK_H

#include <stdbool.h>
#include <stdint.h>

#include <softvfio/page.h>
#include <softvfio/stats.h>

struct svf_shadow;

/* Keys are page numbers below 2^40 (52-bit physical, 48-bit IOVA addresses). */
#define SVF_SHADOW_KEY_BITS 40

/* 0 or -ENOMEM. */
int svf_shadow_create(struct svf_shadow **out);
void svf_shadow_destroy(struct svf_shadow *sh);
/* Writer: make words for keys [key, key + n) exist. 0, -ENOMEM, -EINVAL (key range). */
int svf_shadow_ensure(struct svf_shadow *sh, uint64_t key, uint64_t n);
/* Lock-free: the word of key, or NULL when it was never ensured. */
uint64_t *svf_shadow_word(const struct svf_shadow *sh, uint64_t key);
/* Heap bytes held. */
uint64_t svf_shadow_bytes(const struct svf_shadow *sh);

/* Pin state words (pin.c). */
#define SVF_PINSTATE_PINS(w)    ((uint32_t)(w))
#define SVF_PINSTATE_RELEASES(w) ((uint32_t)((w) >> 32))
/* Writer (pinner lock): frames [pfn, pfn + n) gain or lose one pin each. */
void svf_shadow_pin(struct svf_shadow *sh, uint64_t pfn, uint64_t n);
void svf_shadow_unpin(struct svf_shadow *sh, uint64_t pfn, uint64_t n);

/*
 * The container's DMA state: unmap stamps (check mode only) and the DMA
 * counters its devices add to. Allocated by the container (check mode) or
 * by the first device created on it; freed with the container.
 */
struct svf_dmacheck {
	struct svf_shadow *stamps; /* NULL without check mode; writer: container lock */
	uint64_t epoch;            /* unmap requests returned; release store, acquire load */
	/* counters, atomic adds by device threads */
	uint64_t dma_requests, dma_pages, dma_faults, dma_unpinned_access, dma_after_unmap;
	uint64_t dma_vanished;
};

/* 0, -ENOMEM. With check, the stamp table too. */
int svf_dmacheck_create(bool check, struct svf_dmacheck **out);
void svf_dmacheck_destroy(struct svf_dmacheck *k);
/* Container lock held. A mapping of [iova, iova+size) is being created: stamps exist and read 0. */
int svf_dmacheck_map(struct svf_dmacheck *k, uint64_t iova, uint64_t size);
/* Container lock held. A mapping was removed by the request now running. Never fails. */
void svf_dmacheck_unmapped(struct svf_dmacheck *k, uint64_t iova, uint64_t size);
/* Container lock held. An unmap request is returning. */
void svf_dmacheck_returned(struct svf_dmacheck *k);
/* Adds the counters into s. */
void svf_dmacheck_add_stats(const struct svf_dmacheck *k, struct svf_stats *s);

struct svf_container;
struct svf_domain;
struct svf_pinner;

/*
 * What a device of container c works with, from the container (type1's
 * container.c; the device layer sees no container field): c's domain
 * want (NULL: its first domain), its pinner, and its DMA state, which this
 * creates (without the stamp table) when check mode did not. Takes the
 * container lock. 0, -ENODEV (c has no domain, or want is not attached
 * to c), -ENOMEM.
 */
int svf_container_dma_state(struct svf_container *c, struct svf_domain *want,
			    struct svf_domain **dom, struct svf_pinner **pinner,
			    struct svf_dmacheck **k);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Pinning for emulated devices (Linux's vfio_pin_pages for mdev drivers);
 * the contract is in <softvfio/emulated.h>.
 *
 * Each mapping keeps the IOVA pages that emulated devices pinned in its own
 * rb-tree of struct svf_vpfn, with a reference count per page. Whether an
 * entry holds a pin of its own (own_pin) depends on whether an IOMMU domain
 * was attached when it was made: with one, the mapping's pin already holds
 * the page and its locked memory, so nothing is pinned or charged twice;
 * without one, the entry pins the page through the pinner and is charged.
 * container.c converts entries when the first domain arrives or the last
 * one leaves, so own_pin is true exactly when the container has no domain.
 *
 * Invariants: c->external_pins == sum of every entry's ref; an entry exists
 * only with ref >= 1; a mapping with entries is never removed by an unmap
 * (the unmap first asks the devices to unpin, then fails with -EBUSY).
 *
 * Lock: every entry point takes the container lock; the dma_unmap callbacks
 * are called by container.c with the lock dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "container_priv.h"
#include "dirty.h"
#include "emulated_priv.h"
#include "fault.h"
#include "svf_test.h"

static int svf_vpfn_cmp(const struct svf_vpfn *a, const struct svf_vpfn *b)
{
	return a->iova < b->iova ? -1 : a->iova > b->iova;
}

RB_GENERATE(svf_vpfn_tree, svf_vpfn, node, svf_vpfn_cmp)

static struct svf_vpfn *vpfn_find(struct svf_dma *dma, uint64_t iova)
{
	struct svf_vpfn key = { .iova = iova };

	return RB_FIND(svf_vpfn_tree, &dma->vpfns, &key);
}

int svf_container_attach_emulated(struct svf_container *c, const struct svf_emu_ops *ops,
				  void *opaque, struct svf_emu_device **out)
{
	struct svf_emu_device *dev;
	int rc = 0;

	*out = NULL;
	if (!ops || !ops->dma_unmap)
		return -EINVAL;
	svf_type1_lock(c);
	if (c->vaddr_invalid_count) {
		rc = -EBUSY; /* Linux: no group may join while a vaddr is invalid */
		goto out;
	}
	if (c->nr_emus == SVF_MAX_EMULATED) {
		rc = -ENOSPC;
		goto out;
	}
	if (svf_should_fail(SVF_FAULT_ALLOC)) {
		rc = -ENOMEM;
		goto out;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		rc = -ENOMEM;
		goto out;
	}
	dev->c = c;
	dev->ops = *ops;
	dev->opaque = opaque;
	c->emus[c->nr_emus++] = dev;
	*out = dev;
out:
	svf_type1_unlock(c);
	return rc;
}

/* Drop one reference of v in dma; frees it (and its own pin) at zero. */
static void vpfn_put(struct svf_container *c, struct svf_dma *dma, struct svf_vpfn *v)
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

/* Release every entry of dma (the last emulated device left, or dma is going away). */
void svf_emulated_release_dma(struct svf_container *c, struct svf_dma *dma)
{
	struct svf_vpfn *v, *next;

	RB_FOREACH_SAFE(v, svf_vpfn_tree, &dma->vpfns, next) {
		while (v->ref > 1) {
			v->ref--;
			c->external_pins--;
		}
		vpfn_put(c, dma, v);
	}
}

void svf_container_detach_emulated(struct svf_emu_device *dev)
{
	struct svf_container *c;
	unsigned i;

	if (!dev)
		return;
	c = dev->c;
	svf_type1_lock(c);
	for (i = 0; i < c->nr_emus && c->emus[i] != dev; i++)
		;
	if (i < c->nr_emus) {
		memmove(&c->emus[i], &c->emus[i + 1], (c->nr_emus - i - 1) * sizeof(c->emus[0]));
		c->nr_emus--;
	}
	if (!c->nr_emus && c->external_pins) {
		struct svf_dma *dma;

		RB_FOREACH(dma, svf_dma_tree, &c->dmas)
			svf_emulated_release_dma(c, dma);
	}
	if (!c->nr_emus && !c->nr_domains && c->type)
		svf_type1_release_backend(c);
	svf_type1_unlock(c);
	free(dev);
}

/* Range checks shared by pin and unpin. */
static int check_pages(uint64_t iova, unsigned npage, uint64_t *last)
{
	if (!npage || (iova & (SVF_PGSIZE - 1)))
		return -EINVAL;
	if (npage > SVF_PIN_PAGES_MAX)
		return -E2BIG;
	if (__builtin_add_overflow(iova, (uint64_t)npage * SVF_PGSIZE - 1, last))
		return -EOVERFLOW;
	return 0;
}

static void unpin_one(struct svf_container *c, uint64_t iova)
{
	struct svf_dma *dma = svf_type1_dma_find(c, iova);
	struct svf_vpfn *v = dma ? vpfn_find(dma, iova) : NULL;

	if (v)
		vpfn_put(c, dma, v);
}

static int pin_one(struct svf_container *c, uint64_t iova, int prot, uint64_t *phys)
{
	struct svf_dma *dma = svf_type1_dma_find(c, iova);
	struct svf_vpfn *v;
	uint64_t pa, n;
	bool own = false;
	int rc;

	if (!dma)
		return -EINVAL;
	if ((dma->prot & prot) != prot)
		return -EPERM;
	v = vpfn_find(dma, iova);
	if (v) {
		v->ref++;
		c->external_pins++;
		*phys = v->phys;
		return 0;
	}
	if (c->nr_domains) {
		/* The mapping's pin holds the page and its locked memory already. */
		rc = svf_iommu_iova_to_phys(c->domains[0], iova, &pa, NULL, NULL);
		if (rc)
			return -EFAULT; /* a hole left by a failed unmap */
	} else {
		rc = svf_pin_run(c->pinner, dma->pin_vaddr + (iova - dma->iova), 1,
				 prot & SVF_PROT_WRITE, &pa, &n);
		if (rc)
			return rc;
		svf_type1_account_pin(c, 1);
		own = true;
	}
	if (svf_should_fail(SVF_FAULT_ALLOC) || !(v = calloc(1, sizeof(*v)))) {
		if (own) {
			svf_unpin_run(c->pinner, dma->pin_vaddr + (iova - dma->iova), pa, 1);
			svf_type1_account_unpin(c, 1);
		}
		return -ENOMEM;
	}
	v->iova = iova;
	v->phys = pa;
	v->ref = 1;
	v->own_pin = own;
	RB_INSERT(svf_vpfn_tree, &dma->vpfns, v);
	dma->nr_vpfns++;
	c->external_pins++;
	c->st.bookkeeping_bytes += sizeof(*v);
	if (dma->bitmap)
		svf_dirty_mark(dma, iova);
	*phys = pa;
	return 0;
}

int svf_pin_pages(struct svf_emu_device *dev, uint64_t iova, unsigned npage, int prot,
		  uint64_t *phys)
{
	struct svf_container *c = dev->c;
	uint64_t last;
	unsigned i;
	int rc;

	if (!phys)
		return -EINVAL;
	rc = check_pages(iova, npage, &last);
	if (rc)
		return rc;
	svf_type1_lock(c);
	if (!c->type) {
		rc = -EINVAL;
		goto out;
	}
	if (c->type != VFIO_TYPE1v2_IOMMU) {
		rc = -EACCES;
		goto out;
	}
	if (c->vaddr_invalid_count) {
		rc = -EBUSY;
		goto out;
	}
	for (i = 0; i < npage; i++) {
		rc = pin_one(c, iova + (uint64_t)i * SVF_PGSIZE, prot, &phys[i]);
		if (rc)
			goto err_unwind;
	}
	goto out;

err_unwind:
	while (i-- > 0) {
		unpin_one(c, iova + (uint64_t)i * SVF_PGSIZE);
		phys[i] = 0;
	}
out:
	svf_type1_unlock(c);
	return rc;
}

int svf_unpin_pages(struct svf_emu_device *dev, uint64_t iova, unsigned npage)
{
	struct svf_container *c = dev->c;
	uint64_t last;
	int rc = check_pages(iova, npage, &last);

	if (rc)
		return rc;
	svf_type1_lock(c);
	for (unsigned i = 0; i < npage; i++)
		unpin_one(c, iova + (uint64_t)i * SVF_PGSIZE);
	svf_type1_unlock(c);
	return 0;
}

uint64_t svf_container_external_pins(struct svf_container *c)
{
	uint64_t n;

	svf_type1_lock(c);
	n = c->external_pins;
	svf_type1_unlock(c);
	return n;
}

/*
 * Ask every emulated device to unpin in [iova, iova + len). Called with the
 * lock held; drops it around the callbacks, which take it again to unpin.
 */
void svf_emulated_notify_unmap(struct svf_container *c, uint64_t iova, uint64_t len)
{
	struct svf_emu_device *devs[SVF_MAX_EMULATED];
	unsigned n = c->nr_emus;

	memcpy(devs, c->emus, n * sizeof(devs[0]));
	svf_type1_unlock(c);
	for (unsigned i = 0; i < n; i++)
		devs[i]->ops.dma_unmap(devs[i]->opaque, iova, len);
	svf_type1_lock(c);
}

/*
 * The last IOMMU domain is leaving while emulated devices stay: entries that
 * relied on the mapping's pin must now hold pins of their own. 0, or the
 * pinner's errno (then nothing changed).
 */
int svf_emulated_take_own_pins(struct svf_container *c)
{
	struct svf_dma *dma;
	struct svf_vpfn *v;
	int rc = 0;

	RB_FOREACH(dma, svf_dma_tree, &c->dmas) {
		RB_FOREACH(v, svf_vpfn_tree, &dma->vpfns) {
			uint64_t pa, n;

			if (v->own_pin)
				continue;
			rc = svf_pin_run(c->pinner, dma->pin_vaddr + (v->iova - dma->iova), 1,
					 dma->prot & SVF_PROT_WRITE, &pa, &n);
			if (rc)
				goto err_undo;
			svf_type1_account_pin(c, 1);
			v->own_pin = true;
		}
	}
	return 0;

err_undo:
	RB_FOREACH(dma, svf_dma_tree, &c->dmas)
		svf_emulated_drop_own_pins(c, dma);
	return rc;
}

/* The first IOMMU domain arrived and dma is pinned by its mapping: drop entries' own pins. */
void svf_emulated_drop_own_pins(struct svf_container *c, struct svf_dma *dma)
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

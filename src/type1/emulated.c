/* SPDX-License-Identifier: MIT */
/*
 * Emulated devices (Linux's vfio_pin_pages for mdev drivers); the contract
 * is in <softvfio/emulated.h>. This file holds the entry points: attaching
 * and detaching a device, pinning and unpinning pages for it. The pins
 * themselves are per-mapping entries kept by vpfn.c; container.c asks the
 * devices to unpin before an unmap, and converts the entries when the first
 * IOMMU domain arrives or the last one leaves. Above container.c: this file
 * calls the container, never the other way round.
 *
 * Invariant: a mapping with entries is never removed by an unmap (the
 * unmap first asks the devices to unpin, then fails with -EBUSY).
 *
 * Lock: every entry point takes the container lock; the dma_unmap callbacks
 * are called by container.c with the lock dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "container_priv.h"
#include "dirty.h"
#include "fault.h"
#include "svf_test.h"
#include "vpfn.h"

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
			svf_vpfn_release_dma(c, dma);
	}
	if (!c->nr_emus && !c->nr_domains && c->type)
		svf_type1_release_backend(c);
	svf_type1_unlock(c);
	free(dev);
}

/* Range checks shared by pin and unpin. */
static int check_pages(uint64_t iova, unsigned npage, uint64_t *last)
{
	if (!npage || (iova & (SVF_PAGE_SIZE - 1)))
		return -EINVAL;
	if (npage > SVF_PIN_PAGES_MAX)
		return -E2BIG;
	if (__builtin_add_overflow(iova, (uint64_t)npage * SVF_PAGE_SIZE - 1, last))
		return -EOVERFLOW;
	return 0;
}

static void unpin_one(struct svf_container *c, uint64_t iova)
{
	struct svf_dma *dma = svf_type1_dma_find(c, iova);
	struct svf_vpfn *v = dma ? svf_vpfn_find(dma, iova) : NULL;

	if (v)
		svf_vpfn_put(c, dma, v);
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
	v = svf_vpfn_find(dma, iova);
	if (v) {
		svf_vpfn_get(c, v, phys);
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
	rc = svf_vpfn_add(c, dma, iova, pa, own);
	if (rc) {
		if (own) {
			svf_unpin_run(c->pinner, dma->pin_vaddr + (iova - dma->iova), pa, 1);
			svf_type1_account_unpin(c, 1);
		}
		return rc;
	}
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
		rc = pin_one(c, iova + (uint64_t)i * SVF_PAGE_SIZE, prot, &phys[i]);
		if (rc)
			goto err_unwind;
	}
	goto out;

err_unwind:
	while (i-- > 0) {
		unpin_one(c, iova + (uint64_t)i * SVF_PAGE_SIZE);
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
		unpin_one(c, iova + (uint64_t)i * SVF_PAGE_SIZE);
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

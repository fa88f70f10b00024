/* SPDX-License-Identifier: MIT */
/*
 * Emulated (mediated) devices: devices that reach guest memory through the
 * CPU rather than through an IOMMU domain, and pin individual IOVA pages of
 * a container to do it (Linux's vfio_pin_pages / vfio_unpin_pages, used by
 * mdev drivers such as GVT-g and vfio-ap).
 *
 * An emulated device counts as a group of the container: VFIO_SET_IOMMU
 * succeeds with only emulated devices attached, and then MAP_DMA records
 * mappings without pinning them (nothing can DMA through an IOMMU yet).
 *
 * Rules, as Linux's type1:
 *  - pins are counted per IOVA page; a page pinned twice must be unpinned
 *    twice;
 *  - when an IOMMU domain is attached, the mapping already holds the page
 *    pinned and charged, so an external pin charges no locked memory again;
 *    without one, the external pin pins and charges the page itself;
 *  - an unmap that covers externally pinned pages first calls every emulated
 *    device's dma_unmap callback (without the container lock) so it can
 *    unpin; if pins remain afterwards, the unmap fails with -EBUSY and leaves
 *    that mapping whole (mappings removed before it stay removed);
 *  - while an emulated device is attached, CHECK_EXTENSION(UPDATE_VADDR) is
 *    0 and UNMAP_DMA with FLAG_VADDR is -EBUSY; while any mapping's vaddr is
 *    invalid, an emulated device cannot be attached (-EBUSY);
 *  - with dirty tracking on, externally pinned pages are reported dirty.
 */
#ifndef SOFTVFIO_EMULATED_H
#define SOFTVFIO_EMULATED_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct svf_container;
struct svf_emu_device;

#define SVF_PIN_PAGES_MAX 512 /* Linux's VFIO_PIN_PAGES_MAX_ENTRIES */

struct svf_emu_ops {
	/*
	 * [iova, iova + len) is about to be unmapped and holds pages pinned by
	 * emulated devices: unpin yours there (svf_unpin_pages) before
	 * returning. Called without the container lock. Required.
	 */
	void (*dma_unmap)(void *opaque, uint64_t iova, uint64_t len);
};

/*
 * Attach an emulated device to c. ops is copied. Returns 0; -EINVAL (no
 * dma_unmap callback); -EBUSY (a mapping's vaddr is invalid); -ENOSPC (too
 * many devices); -ENOMEM.
 */
int svf_container_attach_emulated(struct svf_container *c, const struct svf_emu_ops *ops,
				  void *opaque, struct svf_emu_device **out);

/*
 * Detach and free dev. When the last emulated device leaves, pins still held
 * by emulated devices are released (a misbehaving device's leftovers); when
 * it was the container's last group, every mapping is dropped as in Linux.
 * Never fails.
 */
void svf_container_detach_emulated(struct svf_emu_device *dev);

/*
 * Pin npage pages from iova (page aligned) for access prot (SVF_PROT_*),
 * writing each page's physical address to phys[i]. All or nothing.
 * Returns 0; -EINVAL (iova misaligned, npage 0, phys NULL, backend not set,
 * or a page not inside a mapping); -E2BIG (npage > SVF_PIN_PAGES_MAX);
 * -EOVERFLOW (the range wraps); -EACCES (a v1 container); -EPERM (a mapping
 * lacks the access); -EBUSY (a vaddr is invalid); -EFAULT / -ENOMEM from
 * pinning without an IOMMU domain; -ENOMEM.
 */
int svf_pin_pages(struct svf_emu_device *dev, uint64_t iova, unsigned npage, int prot,
		  uint64_t *phys);

/*
 * Drop one pin of each of npage pages from iova. Pages that are not pinned
 * are skipped. Returns 0, or -EINVAL (misaligned, npage 0 or too large,
 * wrap).
 */
int svf_unpin_pages(struct svf_emu_device *dev, uint64_t iova, unsigned npage);

#ifdef __cplusplus
}
#endif
#endif

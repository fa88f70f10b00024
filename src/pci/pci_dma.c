/* SPDX-License-Identifier: MIT */
/*
 * A PCI device's DMA (contract in pci.h): through the DMA engine created
 * on the group's IOMMU domain at open, so every access is translated by the
 * emulated IOMMU (IOTLB, page walk, permission check) exactly as the
 * engine's other users are. A fault ends the access at the first page that
 * does not translate; it is recorded with what VT-d's fault recording
 * register and AMD-Vi's event would hold (the device's segment and
 * requester id, the domain, the access, the reason) and handed to the
 * host's fault log.
 * Bus mastering off in the program's command register stops the device's
 * DMA before it reaches the IOMMU, as on a real bus.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "pci.h"

int svf_pci_dma(struct svf_pci_dev *pd, int access, uint64_t addr, void *buf, uint64_t len)
{
	struct svf_dma_req req = {
		.access = access,
		.iova = addr,
		.len = len,
		.buf = buf,
	};
	struct svf_dma_fault rec[4];
	size_t nr = 0;
	int rc;

	if (!pd->dma || !svf_pci_master_enabled(pd))
		return -ENODEV;
	rc = svf_device_dma(pd->dma, &req);
	/* The engine keeps its own records: take them so they never fill up. */
	svf_device_read_faults(pd->dma, rec, 4, &nr, NULL);
	if (rc != 1)
		return rc < 0 ? rc : 0;
	if (pd->fault_fn) {
		struct svf_vfio_fault f = {
			.addr = req.fault_iova,
			.rid = pd->desc.rid,
			.type = access == SVF_PROT_READ ? SVF_VFIO_FAULT_READ : SVF_VFIO_FAULT_WRITE,
			.reason = nr ? (uint8_t)rec[nr - 1].reason :
				       (access == SVF_PROT_READ ? SVF_DMA_FR_READ : SVF_DMA_FR_WRITE),
			.unit = pd->desc.unit,
			.time_ns = svf_pci_now_ns(),
			/* The name is "DDDD:BB:DD.F", checked when the device was added. */
			.segment = (uint16_t)strtoul(pd->desc.name, NULL, 16),
			.domain = pd->dom ? svf_domain_id(pd->dom) : 0,
			.err = nr ? rec[nr - 1].err : -ENOENT,
		};

		pd->fault_fn(pd->fault_opaque, &f);
	}
	return 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * Fault records rendered as Linux's amd_iommu driver reports an
 * IO_PAGE_FAULT event for a device it knows (amd_iommu_report_page_fault
 * through pci_err): the device's driver (vfio-pci, which a VFIO program's
 * device is bound to) and name, then the event's domain id, faulting
 * address and flags.
 */
#include <errno.h>
#include <stdio.h>

#include <softvfio/vfio.h>

/* IO_PAGE_FAULT event flags (the AMD IOMMU specification's event log format). */
#define EVF_PR 0x010u /* the translation was present */
#define EVF_RW 0x020u /* the access was a write */
#define EVF_PE 0x040u /* permission violation */

int svf_vfio_fault_format_amd(const struct svf_vfio_fault *f, char *buf, size_t len, size_t *n)
{
	unsigned flags;
	int w;

	if (!f || (!buf && len))
		return -EINVAL;
	flags = (f->type == SVF_VFIO_FAULT_WRITE ? EVF_RW : 0) |
		(f->err == -EACCES ? EVF_PR | EVF_PE : 0);
	w = snprintf(buf, len,
		     "vfio-pci %04x:%02x:%02x.%d: AMD-Vi: Event logged [IO_PAGE_FAULT "
		     "domain=0x%04x address=0x%llx flags=0x%04x]",
		     f->segment, f->rid >> 8, (f->rid >> 3) & 0x1f, f->rid & 0x7, f->domain,
		     (unsigned long long)f->addr, flags);
	if (n)
		*n = w < 0 ? 0 : (size_t)w;
	return 0;
}

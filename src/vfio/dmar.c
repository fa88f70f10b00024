/* SPDX-License-Identifier: MIT */
/*
 * Fault records rendered as Linux's intel-iommu driver logs a DMA remapping
 * fault without PASID (dmar_fault_do_one): the access type, the requester
 * id as bus:device.function, the page address the fault recording register
 * holds, the reason code in hex and Linux's string for it.
 */
#include <errno.h>
#include <stdio.h>

#include <softvfio/vfio.h>

/* Linux's strings for the legacy-mode DMA remapping reason codes 0x0-0xd. */
static const char *const reasons[] = {
	"Software",
	"Present bit in root entry is clear",
	"Present bit in context entry is clear",
	"Invalid context entry",
	"Access beyond MGAW",
	"PTE Write access is not set",
	"PTE Read access is not set",
	"Next page table ptr is invalid",
	"Root table address invalid",
	"Context table ptr is invalid",
	"non-zero reserved fields in RTP",
	"non-zero reserved fields in CTP",
	"non-zero reserved fields in PTE",
	"PCE for translation request specifies blocking",
};

const char *svf_vfio_fault_reason_str(uint8_t reason)
{
	return reason < sizeof(reasons) / sizeof(reasons[0]) ? reasons[reason] : "Unknown";
}

int svf_vfio_fault_format(const struct svf_vfio_fault *f, char *buf, size_t len, size_t *n)
{
	int w;

	if (!f || (!buf && len))
		return -EINVAL;
	w = snprintf(buf, len,
		     "DMAR: [%s NO_PASID] Request device [%02x:%02x.%d] fault addr 0x%llx "
		     "[fault reason 0x%02x] %s",
		     f->type == SVF_VFIO_FAULT_READ ? "DMA Read" : "DMA Write", f->rid >> 8,
		     (f->rid >> 3) & 0x1f, f->rid & 0x7,
		     (unsigned long long)(f->addr & ~0xfffull), f->reason,
		     svf_vfio_fault_reason_str(f->reason));
	if (n)
		*n = w < 0 ? 0 : (size_t)w;
	return 0;
}

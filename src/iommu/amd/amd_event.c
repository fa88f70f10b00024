/* SPDX-License-Identifier: MIT */
/*
 * AMD-Vi event log entries: the IO_PAGE_FAULT encoding the unit writes
 * (AMD I/O Virtualization Technology specification, "Event Log") and the
 * line Linux's AMD IOMMU driver prints for one (its event-log handler,
 * amd_iommu_report_page_fault in drivers/iommu/amd/iommu.c): the domain id
 * in four hex digits, the full address of the access, the flags in four
 * hex digits.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "amd.h"

void svf_amd_event_decode(const struct svf_amd_event *e, struct svf_amd_event_info *out)
{
	memset(out, 0, sizeof(*out));
	out->code = (uint8_t)(e->w[1] >> 28);
	out->devid = (uint16_t)e->w[0];
	out->domid = (uint16_t)e->w[1];
	out->flags = (uint16_t)((e->w[1] >> 16) & 0xfff);
	out->address = ((uint64_t)e->w[3] << 32) | e->w[2];
}

int svf_amd_event_format(const struct svf_amd_event *e, bool device_field, char *buf, size_t len,
			 size_t *n)
{
	struct svf_amd_event_info ei;
	int w;

	if (!e || (!buf && len))
		return -EINVAL;
	svf_amd_event_decode(e, &ei);
	if (ei.code != SVF_AMD_EVENT_IO_PAGE_FAULT)
		return -EINVAL;
	if (device_field)
		w = snprintf(buf, len,
			     "AMD-Vi: Event logged [IO_PAGE_FAULT device=%04x:%02x:%02x.%x "
			     "domain=0x%04x address=0x%llx flags=0x%04x]",
			     0, ei.devid >> 8, (ei.devid >> 3) & 0x1f, ei.devid & 7, ei.domid,
			     (unsigned long long)ei.address, ei.flags);
	else
		w = snprintf(buf, len,
			     "AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x%04x address=0x%llx "
			     "flags=0x%04x]",
			     ei.domid, (unsigned long long)ei.address, ei.flags);
	if (n)
		*n = w < 0 ? 0 : (size_t)w;
	return 0;
}

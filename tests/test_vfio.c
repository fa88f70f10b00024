/* SPDX-License-Identifier: MIT */
/*
 * VFIO groups and devices: every group and device request with its errno
 * rows (Linux's drivers/vfio/group.c, container.c and vfio-pci), config
 * space virtualization, region reads and writes, and edu's registers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include <softvfio/vfio.h>

#include "helpers.h"

#define CFD 100 /* the number the tests bind the container to */
#define CFG_OFF VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX)
#define BAR0 VFIO_PCI_INDEX_TO_OFFSET(0)

struct fx {
	struct svf_vfio *h;
	struct svf_container *c;
	struct svf_vfio_group *g;
	struct svf_vfio_device *dev;
	struct svf_vfio_device_desc desc;
};

static struct svf_container *new_container(void)
{
	struct svf_container_config cc;
	struct svf_container *c;

	svf_container_default_config(&cc);
	cc.attach_default_domain = false; /* groups bring the domains */
	assert_int_equal(svf_container_create(&cc, &c), 0);
	return c;
}

static void fx_host(struct fx *f)
{
	struct svf_pci_device_config dc = { .kind = SVF_PCI_KIND_EDU, .bdf = "0000:00:03.0",
					    .group = -1 };

	memset(f, 0, sizeof(*f));
	assert_int_equal(svf_vfio_create(NULL, &f->h), 0);
	assert_int_equal(svf_vfio_add_device(f->h, &dc, &f->desc), 0);
	f->c = new_container();
	assert_int_equal(svf_vfio_bind_fd(f->h, CFD, SVF_VFIO_FD_CONTAINER, f->c), 0);
}

/* Host, group open, container set, type1v2, device open. */
static void fx_open(struct fx *f)
{
	int32_t cfd = CFD;
	long fd;

	fx_host(f);
	assert_int_equal(svf_vfio_group_open(f->h, f->desc.group, &f->g), 0);
	assert_int_equal(svf_vfio_group_ioctl(f->g, VFIO_GROUP_SET_CONTAINER, &cfd), 0);
	assert_int_equal(softvfio_ioctl(f->c, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU), 0);
	fd = svf_vfio_group_ioctl(f->g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0");
	assert_true(fd >= SVF_VFIO_HANDLE_BASE);
	assert_int_equal(svf_vfio_device_from_fd(f->h, (int)fd, &f->dev), 0);
}

static void fx_close(struct fx *f)
{
	if (f->dev)
		svf_vfio_device_close(f->dev);
	if (f->g)
		svf_vfio_group_close(f->g);
	if (f->c)
		svf_container_destroy(f->c);
	svf_vfio_destroy(f->h);
}

static uint32_t cfg_read(struct svf_vfio_device *d, unsigned off, unsigned size)
{
	uint32_t v = 0;
	size_t done;

	assert_int_equal(svf_vfio_device_read(d, &v, size, CFG_OFF + off, &done), 0);
	assert_int_equal(done, size);
	return v;
}

static void cfg_write(struct svf_vfio_device *d, unsigned off, unsigned size, uint32_t v)
{
	size_t done;

	assert_int_equal(svf_vfio_device_write(d, &v, size, CFG_OFF + off, &done), 0);
	assert_int_equal(done, size);
}

static uint64_t bar_read(struct svf_vfio_device *d, unsigned off, unsigned size)
{
	uint64_t v = 0;
	size_t done;

	assert_int_equal(svf_vfio_device_read(d, &v, size, BAR0 + off, &done), 0);
	assert_int_equal(done, size);
	return v;
}

static void bar_write(struct svf_vfio_device *d, unsigned off, unsigned size, uint64_t v)
{
	size_t done;

	assert_int_equal(svf_vfio_device_write(d, &v, size, BAR0 + off, &done), 0);
	assert_int_equal(done, size);
}

/* ---- step 1: groups, containers, device fds ---- */

static void test_group_open_rules(void **state)
{
	struct fx f;
	struct svf_vfio_group *g2;
	(void)state;

	fx_host(&f);
	assert_int_equal(f.desc.group, 0);
	assert_int_equal(f.desc.rid, 0x0018);
	assert_int_equal(svf_vfio_group_open(f.h, 7, &g2), -ENOENT);
	assert_int_equal(svf_vfio_group_open(f.h, 0, &f.g), 0);
	assert_int_equal(svf_vfio_group_open(f.h, 0, &g2), -EBUSY);
	assert_int_equal(svf_vfio_group_id(f.g), 0);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_DEVICE_GET_INFO, NULL), -ENOTTY);
	svf_vfio_group_close(f.g);
	assert_int_equal(svf_vfio_group_open(f.h, 0, &f.g), 0); /* closed: open again */
	fx_close(&f);
}

static void test_group_status_and_container(void **state)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	struct fx f;
	int32_t cfd = CFD, bad = 555, other = 101;
	(void)state;

	fx_host(&f);
	assert_int_equal(svf_vfio_group_open(f.h, 0, &f.g), 0);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_STATUS, NULL), -EFAULT);
	st.argsz = 4;
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_STATUS, &st), -EINVAL);
	st.argsz = sizeof(st);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_STATUS, &st), 0);
	assert_int_equal(st.flags, VFIO_GROUP_FLAGS_VIABLE);

	/* SET_IOMMU needs a group. */
	assert_int_equal(softvfio_ioctl(f.c, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU), -EINVAL);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_UNSET_CONTAINER, NULL), -EINVAL);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_SET_CONTAINER, NULL), -EFAULT);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_SET_CONTAINER, &bad), -EBADF);
	/* A group fd is open but is not a container. */
	assert_int_equal(svf_vfio_bind_fd(f.h, other, SVF_VFIO_FD_GROUP, f.g), 0);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_SET_CONTAINER, &other), -EBADFD);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_SET_CONTAINER, &cfd), 0);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_SET_CONTAINER, &cfd), -EINVAL);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_STATUS, &st), 0);
	assert_int_equal(st.flags, VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET);
	assert_non_null(svf_container_domain(f.c, 0));

	/* No IOMMU yet: no device. */
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0"),
			 -EINVAL);
	assert_false(svf_container_iommu_set(f.c));
	assert_int_equal(softvfio_ioctl(f.c, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU), 0);
	assert_true(svf_container_iommu_set(f.c));
	/* Unset: the last group leaving releases the backend. */
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_UNSET_CONTAINER, NULL), 0);
	assert_false(svf_container_iommu_set(f.c));
	assert_null(svf_container_domain(f.c, 0));
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_UNSET_CONTAINER, NULL), -EINVAL);
	fx_close(&f);
}

static void test_get_device_fd(void **state)
{
	struct fx f;
	struct svf_vfio_device *d2;
	char *longname;
	int32_t cfd = CFD;
	long fd2;
	(void)state;

	fx_host(&f);
	assert_int_equal(svf_vfio_group_open(f.h, 0, &f.g), 0);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_SET_CONTAINER, &cfd), 0);
	assert_int_equal(softvfio_ioctl(f.c, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU), 0);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD, NULL), -EFAULT);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:04.0"),
			 -ENODEV);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0x"),
			 -ENODEV);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03"),
			 -ENODEV);
	/* vfio-pci's options: a token for a device that is neither PF nor VF; junk. */
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD,
					      "0000:00:03.0 vf_token=2ab74924-c335-45f4-9b16-8569e5b08258"),
			 -EINVAL);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD,
					      "0000:00:03.0 vf_token=2ab74924"),
			 -EINVAL);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0 foo"),
			 -EINVAL);
	longname = malloc(5000);
	memset(longname, 'a', 4999);
	longname[4999] = 0;
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD, longname), -EINVAL);
	free(longname);
	/* Trailing blanks are accepted, as vfio-pci skips them. */
	fd2 = svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0  ");
	assert_true(fd2 >= SVF_VFIO_HANDLE_BASE);
	assert_int_equal(svf_vfio_device_from_fd(f.h, (int)fd2, &d2), 0);
	assert_string_equal(svf_vfio_device_name(d2), "0000:00:03.0");
	/* Opened twice (the group path allows it). */
	assert_int_equal(svf_vfio_group_get_device(f.g, "0000:00:03.0", &f.dev), 0);
	/* A device keeps the group in use. */
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_UNSET_CONTAINER, NULL), -EBUSY);
	svf_vfio_device_close(d2);
	assert_int_equal(svf_vfio_device_from_fd(f.h, (int)fd2, &d2), -EBADF);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_UNSET_CONTAINER, NULL), -EBUSY);
	/* Group fd closed while a device is open: the group stays attached until it closes. */
	svf_vfio_group_close(f.g);
	f.g = NULL;
	assert_true(svf_container_iommu_set(f.c));
	assert_int_equal(svf_vfio_group_open(f.h, 0, &f.g), -EBUSY);
	svf_vfio_device_close(f.dev);
	f.dev = NULL;
	assert_false(svf_container_iommu_set(f.c));
	assert_int_equal(svf_vfio_group_open(f.h, 0, &f.g), 0);
	fx_close(&f);
}

static void test_add_device_errors(void **state)
{
	struct svf_pci_device_config dc = { .kind = SVF_PCI_KIND_EDU, .group = -1 };
	struct svf_vfio_device_desc d;
	struct svf_vfio *h;
	struct svf_vfio_config hc;
	(void)state;

	svf_vfio_default_config(&hc);
	hc.units = SVF_VFIO_MAX_UNITS + 1;
	assert_int_equal(svf_vfio_create(&hc, &h), -EINVAL);
	hc.units = 2;
	assert_int_equal(svf_vfio_create(&hc, &h), 0);
	assert_int_equal(svf_vfio_add_device(h, &dc, &d), 0);
	assert_string_equal(d.name, "0000:00:03.0");
	assert_int_equal(svf_vfio_add_device(h, &dc, &d), 0);
	assert_string_equal(d.name, "0000:00:04.0");
	assert_int_equal(d.group, 1);
	dc.bdf = "0000:00:04.0";
	assert_int_equal(svf_vfio_add_device(h, &dc, NULL), -EEXIST);
	dc.bdf = "0001:00:05.0";
	assert_int_equal(svf_vfio_add_device(h, &dc, NULL), -EINVAL);
	dc.bdf = "0000:00:20.0";
	assert_int_equal(svf_vfio_add_device(h, &dc, NULL), -EINVAL);
	dc.bdf = NULL;
	dc.kind = "nic";
	assert_int_equal(svf_vfio_add_device(h, &dc, NULL), -EINVAL);
	dc.kind = SVF_PCI_KIND_EDU;
	dc.unit = 2;
	assert_int_equal(svf_vfio_add_device(h, &dc, NULL), -EINVAL);
	dc.unit = 1;
	dc.group = 1; /* group 1 is behind unit 0 */
	assert_int_equal(svf_vfio_add_device(h, &dc, NULL), -EINVAL);
	assert_int_equal(svf_vfio_get_device_desc(h, 1, &d), 0);
	assert_int_equal(svf_vfio_get_device_desc(h, 2, &d), -ENOENT);
	assert_int_equal(svf_vfio_bind_fd(h, -1, SVF_VFIO_FD_GROUP, h), -EINVAL);
	assert_int_equal(svf_vfio_bind_fd(h, 3, SVF_VFIO_FD_DEVICE, h), -EINVAL);
	assert_int_equal(svf_vfio_bind_fd(h, 3, SVF_VFIO_FD_CONTAINER, h), 0);
	assert_int_equal(svf_vfio_bind_fd(h, 3, SVF_VFIO_FD_CONTAINER, h), -EEXIST);
	assert_int_equal(svf_vfio_unbind_fd(h, 3), 0);
	assert_int_equal(svf_vfio_unbind_fd(h, 3), -EBADF);
	svf_vfio_destroy(h);
}

/* ---- step 2: device requests, config space, regions ---- */

static void test_device_info(void **state)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct fx f;
	(void)state;

	fx_open(&f);
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_INFO, NULL), -EFAULT);
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_GROUP_GET_STATUS, &info), -ENOTTY);
	info.argsz = 12;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_INFO, &info), -EINVAL);
	/* An old struct without cap_offset: nothing written past argsz. */
	memset(&info, 0xab, sizeof(info));
	info.argsz = 16;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_INFO, &info), 0);
	assert_int_equal(info.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	assert_int_equal(info.num_regions, 9);
	assert_int_equal(info.num_irqs, 5);
	assert_int_equal(info.cap_offset, 0xabababab);
	info.argsz = sizeof(info);
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_INFO, &info), 0);
	assert_int_equal(info.cap_offset, 0);
	fx_close(&f);
}

static void test_region_info(void **state)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	struct fx f;
	(void)state;

	fx_open(&f);
	ri.argsz = 16;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_REGION_INFO, &ri), -EINVAL);
	ri.argsz = sizeof(ri);
	ri.index = VFIO_PCI_BAR0_REGION_INDEX;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	assert_int_equal(ri.size, 1 << 20);
	assert_int_equal(ri.offset, 0);
	assert_int_equal(ri.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
					   VFIO_REGION_INFO_FLAG_MMAP);
	ri.index = 1;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	assert_int_equal(ri.size, 0);
	assert_int_equal(ri.flags, 0);
	assert_int_equal(ri.offset, 1ull << 40);
	ri.index = VFIO_PCI_ROM_REGION_INDEX;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	assert_int_equal(ri.size, 0);
	assert_int_equal(ri.flags, 0);
	ri.index = VFIO_PCI_CONFIG_REGION_INDEX;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	assert_int_equal(ri.size, 256);
	assert_int_equal(ri.offset, 7ull << 40);
	assert_int_equal(ri.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
	ri.index = VFIO_PCI_VGA_REGION_INDEX;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_REGION_INFO, &ri), -EINVAL);
	ri.index = 9;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_REGION_INFO, &ri), -EINVAL);
	fx_close(&f);
}

static void test_irq_info(void **state)
{
	struct vfio_irq_info ii = { .argsz = sizeof(ii) };
	struct fx f;
	(void)state;

	fx_open(&f);
	ii.argsz = 8;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), -EINVAL);
	ii.argsz = sizeof(ii);
	ii.index = 5;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), -EINVAL);
	ii.index = VFIO_PCI_ERR_IRQ_INDEX; /* conventional PCI: no AER */
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), -EINVAL);
	ii.index = VFIO_PCI_INTX_IRQ_INDEX;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	assert_int_equal(ii.count, 1);
	assert_int_equal(ii.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
					   VFIO_IRQ_INFO_AUTOMASKED);
	ii.index = VFIO_PCI_MSI_IRQ_INDEX;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	assert_int_equal(ii.count, 1);
	assert_int_equal(ii.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);
	ii.index = VFIO_PCI_MSIX_IRQ_INDEX;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	assert_int_equal(ii.count, 0);
	ii.index = VFIO_PCI_REQ_IRQ_INDEX;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	assert_int_equal(ii.count, 1);
	fx_close(&f);
}

static void test_config_space(void **state)
{
	struct fx f;
	uint8_t buf[256];
	size_t done;
	(void)state;

	fx_open(&f);
	assert_int_equal(cfg_read(f.dev, PCI_VENDOR_ID, 4), 0x11e81234);
	assert_int_equal(cfg_read(f.dev, PCI_REVISION_ID, 1), 0x10);
	assert_int_equal(cfg_read(f.dev, PCI_CLASS_REVISION, 4), 0xff000010);
	assert_int_equal(cfg_read(f.dev, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4);
	assert_int_equal(cfg_read(f.dev, PCI_INTERRUPT_PIN, 1), 1);
	assert_true(cfg_read(f.dev, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* Capability list: MSI at 0x40, 64-bit, one vector, end of list. */
	assert_int_equal(cfg_read(f.dev, PCI_CAPABILITY_LIST, 1), 0x40);
	assert_int_equal(cfg_read(f.dev, 0x40, 2), PCI_CAP_ID_MSI);
	assert_int_equal(cfg_read(f.dev, 0x42, 2), PCI_MSI_FLAGS_64BIT);
	cfg_write(f.dev, PCI_CAPABILITY_LIST, 1, 0x80); /* read-only */
	assert_int_equal(cfg_read(f.dev, PCI_CAPABILITY_LIST, 1), 0x40);
	/* BAR sizing through the size mask. */
	cfg_write(f.dev, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	assert_int_equal(cfg_read(f.dev, PCI_BASE_ADDRESS_0, 4), 0xfff00000);
	cfg_write(f.dev, PCI_BASE_ADDRESS_0, 4, 0xfe012345);
	assert_int_equal(cfg_read(f.dev, PCI_BASE_ADDRESS_0, 4), 0xfe000000);
	cfg_write(f.dev, PCI_BASE_ADDRESS_1, 4, 0xffffffff);
	assert_int_equal(cfg_read(f.dev, PCI_BASE_ADDRESS_1, 4), 0);
	/* No ROM: the ROM BAR reads back 0 after sizing. */
	cfg_write(f.dev, PCI_ROM_ADDRESS, 4, 0xfffff800);
	assert_int_equal(cfg_read(f.dev, PCI_ROM_ADDRESS, 4), 0);
	/* Read-only ids, writable command bits, RW1C status. */
	cfg_write(f.dev, PCI_VENDOR_ID, 2, 0xbeef);
	assert_int_equal(cfg_read(f.dev, PCI_VENDOR_ID, 2), 0x1234);
	cfg_write(f.dev, PCI_COMMAND, 2, 0xffff);
	assert_int_equal(cfg_read(f.dev, PCI_COMMAND, 2),
			 PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
				 PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	cfg_write(f.dev, PCI_COMMAND, 2, 0);
	cfg_write(f.dev, PCI_INTERRUPT_LINE, 1, 0x0b);
	assert_int_equal(cfg_read(f.dev, PCI_INTERRUPT_LINE, 1), 0x0b);
	/* MSI: enable is writable, the queue size clamps to what SET_IRQS enabled (0). */
	cfg_write(f.dev, 0x42, 2, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
	assert_int_equal(cfg_read(f.dev, 0x42, 2), PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_ENABLE);
	cfg_write(f.dev, 0x44, 4, 0xfee00003);
	assert_int_equal(cfg_read(f.dev, 0x44, 4), 0xfee00000);
	/* Whole-space read; unaligned pieces; past the end is EFAULT, nothing done. */
	assert_int_equal(svf_vfio_device_read(f.dev, buf, 256, CFG_OFF, &done), 0);
	assert_int_equal(done, 256);
	assert_int_equal(buf[0], 0x34);
	assert_int_equal(svf_vfio_device_read(f.dev, buf, 3, CFG_OFF + 1, &done), 0);
	assert_int_equal(buf[0], 0x12);
	assert_int_equal(buf[1], 0xe8);
	assert_int_equal(svf_vfio_device_read(f.dev, buf, 2, CFG_OFF + 255, &done), -EFAULT);
	assert_int_equal(done, 0);
	assert_int_equal(svf_vfio_device_read(f.dev, buf, 4, CFG_OFF + 256, &done), -EFAULT);
	assert_int_equal(svf_vfio_device_read(f.dev, NULL, 4, CFG_OFF, &done), -EFAULT);
	fx_close(&f);
}

static void test_region_rw_rules(void **state)
{
	struct fx f;
	uint64_t v;
	uint8_t big[64];
	size_t done;
	(void)state;

	fx_open(&f);
	/* Memory decoding off: BAR access is EIO. */
	assert_int_equal(svf_vfio_device_read(f.dev, &v, 4, BAR0, &done), -EIO);
	cfg_write(f.dev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(bar_read(f.dev, 0x00, 4), 0x010000ed);
	/* Offsets: past the BAR EINVAL; count clamped at the end. */
	assert_int_equal(svf_vfio_device_read(f.dev, &v, 4, BAR0 + (1 << 20), &done), -EINVAL);
	assert_int_equal(svf_vfio_device_read(f.dev, big, 64, BAR0 + (1 << 20) - 8, &done), 0);
	assert_int_equal(done, 8);
	/* Absent BAR, ROM, VGA, unknown region. */
	assert_int_equal(svf_vfio_device_read(f.dev, &v, 4, VFIO_PCI_INDEX_TO_OFFSET(1), &done),
			 -EINVAL);
	assert_int_equal(svf_vfio_device_read(f.dev, &v, 4, VFIO_PCI_INDEX_TO_OFFSET(6), &done),
			 -EINVAL);
	assert_int_equal(svf_vfio_device_write(f.dev, &v, 4, VFIO_PCI_INDEX_TO_OFFSET(6), &done),
			 -EINVAL);
	assert_int_equal(svf_vfio_device_read(f.dev, &v, 4, VFIO_PCI_INDEX_TO_OFFSET(8), &done),
			 -EINVAL);
	assert_int_equal(svf_vfio_device_read(f.dev, &v, 4, VFIO_PCI_INDEX_TO_OFFSET(9), &done),
			 -EINVAL);
	fx_close(&f);
}

static void test_edu_registers(void **state)
{
	struct fx f;
	(void)state;

	fx_open(&f);
	cfg_write(f.dev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(bar_read(f.dev, 0x00, 4), 0x010000ed);
	/* Size rules: below 0x80 only 4 bytes. */
	assert_int_equal(bar_read(f.dev, 0x00, 2), 0xffff);
	assert_int_equal(bar_read(f.dev, 0x00, 1), 0xff);
	assert_int_equal(bar_read(f.dev, 0x04, 4), 0);
	bar_write(f.dev, 0x04, 4, 0x12345678);
	assert_int_equal(bar_read(f.dev, 0x04, 4), (uint32_t)~0x12345678u);
	bar_write(f.dev, 0x04, 2, 0); /* ignored */
	assert_int_equal(bar_read(f.dev, 0x04, 4), (uint32_t)~0x12345678u);
	/* Factorial. */
	bar_write(f.dev, 0x08, 4, 10);
	assert_int_equal(bar_read(f.dev, 0x20, 4) & 1, 0);
	assert_int_equal(bar_read(f.dev, 0x08, 4), 3628800);
	/* Unknown offsets read all-ones. */
	assert_int_equal(bar_read(f.dev, 0x10, 4), 0xffffffff);
	assert_int_equal(bar_read(f.dev, 0x1000, 4), 0xffffffff);
	/* DMA registers: 4 or 8 bytes. */
	bar_write(f.dev, 0x80, 8, 0x1122334455667788ull);
	assert_int_equal(bar_read(f.dev, 0x80, 8), 0x1122334455667788ull);
	assert_int_equal(bar_read(f.dev, 0x80, 4), 0x55667788);
	bar_write(f.dev, 0x80, 4, 0xabcd);
	assert_int_equal(bar_read(f.dev, 0x80, 8), 0xabcd);
	assert_int_equal(bar_read(f.dev, 0x80, 2), 0xffff);
	/* Interrupt status: raise ORs, ack clears. */
	bar_write(f.dev, 0x60, 4, 0x5);
	assert_int_equal(bar_read(f.dev, 0x24, 4), 0x5);
	assert_true(cfg_read(f.dev, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	bar_write(f.dev, 0x64, 4, 0x1);
	assert_int_equal(bar_read(f.dev, 0x24, 4), 0x4);
	bar_write(f.dev, 0x64, 4, 0x4);
	assert_int_equal(bar_read(f.dev, 0x24, 4), 0);
	assert_false(cfg_read(f.dev, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	/* Reset: power-on registers. */
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_RESET, NULL), 0);
	assert_int_equal(bar_read(f.dev, 0x04, 4), 0);
	assert_int_equal(bar_read(f.dev, 0x80, 8), 0);
	fx_close(&f);
}

static void test_hot_reset(void **state)
{
	struct fx f;
	uint8_t buf[sizeof(struct vfio_pci_hot_reset_info) + sizeof(struct vfio_pci_dependent_device)];
	struct vfio_pci_hot_reset_info *hi = (void *)buf;
	uint8_t rbuf[sizeof(struct vfio_pci_hot_reset) + 4];
	struct vfio_pci_hot_reset *hr = (void *)rbuf;
	(void)state;

	fx_open(&f);
	hi->argsz = 8;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, hi),
			 -EINVAL);
	hi->argsz = sizeof(*hi);
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, hi),
			 -ENOSPC);
	assert_int_equal(hi->count, 1);
	hi->argsz = sizeof(buf);
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, hi), 0);
	assert_int_equal(hi->devices[0].group_id, 0);
	assert_int_equal(hi->devices[0].devfn, 0x18);
	hr->argsz = sizeof(rbuf);
	hr->flags = 1;
	hr->count = 1;
	hr->group_fds[0] = 200;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_PCI_HOT_RESET, hr), -EINVAL);
	hr->flags = 0;
	hr->count = 0;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_PCI_HOT_RESET, hr), -EINVAL);
	hr->count = 1;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_PCI_HOT_RESET, hr), -EBADF);
	hr->group_fds[0] = CFD;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_PCI_HOT_RESET, hr), -EINVAL);
	assert_int_equal(svf_vfio_bind_fd(f.h, 200, SVF_VFIO_FD_GROUP, f.g), 0);
	hr->group_fds[0] = 200;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_PCI_HOT_RESET, hr), 0);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_open_rules),
		cmocka_unit_test(test_group_status_and_container),
		cmocka_unit_test(test_get_device_fd),
		cmocka_unit_test(test_add_device_errors),
		cmocka_unit_test(test_device_info),
		cmocka_unit_test(test_region_info),
		cmocka_unit_test(test_irq_info),
		cmocka_unit_test(test_config_space),
		cmocka_unit_test(test_region_rw_rules),
		cmocka_unit_test(test_edu_registers),
		cmocka_unit_test(test_hot_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

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
	assert_int_equal(cfg_read(f.dev, PCI_CLASS_REVISION, 4), 0x00ff0010);
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

/*
 * Pointers the process cannot reach, as a program may hand them to its
 * ioctl, pread and pwrite: every request answers -EFAULT as Linux's
 * copy_from_user/copy_to_user would (they crashed the process), and a
 * name that ends right before an unreadable page is still read.
 */
static void test_bad_user_pointers(void **state)
{
	uint8_t *two = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	uint8_t *none, *ro;
	static const char name[] = "0000:00:03.0";
	struct svf_vfio_device *dev;
	uint32_t v = 0x12345678;
	size_t done = 99;
	struct fx f;

	(void)state;
	assert_true(two != MAP_FAILED);
	none = two + 4096;
	assert_int_equal(mprotect(none, 4096, PROT_NONE), 0);
	/* Read-only, with an argsz that passes every request's check: the write-back faults. */
	ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(ro != MAP_FAILED);
	*(uint32_t *)(void *)ro = 64;
	assert_int_equal(mprotect(ro, 4096, PROT_READ), 0);
	fx_open(&f);

	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_STATUS, none), -EFAULT);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_STATUS, ro), -EFAULT);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_SET_CONTAINER, none), -EFAULT);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD, none), -EFAULT);
	/* A name that runs into the unreadable page faults; one that ends before it is read. */
	memset(none - 8, 'a', 8);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD, none - 8), -EFAULT);
	memcpy(none - sizeof(name), name, sizeof(name));
	assert_int_equal(svf_vfio_group_get_device(f.g, (const char *)none - sizeof(name), &dev), 0);
	svf_vfio_device_close(dev);

	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_INFO, none), -EFAULT);
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_INFO, ro), -EFAULT);
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_REGION_INFO, none), -EFAULT);
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_IRQ_INFO, none), -EFAULT);
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_SET_IRQS, none), -EFAULT);
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, none),
			 -EFAULT);
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_PCI_HOT_RESET, none), -EFAULT);
	/* SET_IRQS whose eventfd array lies in the unreadable page. */
	{
		struct vfio_irq_set *s = (void *)(none - offsetof(struct vfio_irq_set, data));

		s->argsz = sizeof(*s) + 4;
		s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
		s->index = VFIO_PCI_REQ_IRQ_INDEX;
		s->start = 0;
		s->count = 1;
		assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_SET_IRQS, s), -EFAULT);
	}

	/* Region reads into memory that cannot be written, writes from memory that cannot be read. */
	assert_int_equal(svf_vfio_device_read(f.dev, ro, 4, CFG_OFF, &done), -EFAULT);
	assert_int_equal(done, 0);
	assert_int_equal(svf_vfio_device_read(f.dev, none, 4, CFG_OFF, &done), -EFAULT);
	assert_int_equal(svf_vfio_device_write(f.dev, none, 4, CFG_OFF + PCI_COMMAND, &done), -EFAULT);
	v = PCI_COMMAND_MEMORY;
	assert_int_equal(svf_vfio_device_write(f.dev, &v, 2, CFG_OFF + PCI_COMMAND, &done), 0);
	assert_int_equal(svf_vfio_device_read(f.dev, ro, 4, BAR0, &done), -EFAULT);
	assert_int_equal(svf_vfio_device_write(f.dev, none, 4, BAR0 + 4, &done), -EFAULT);
	/* A buffer that runs into the unreadable page: -EFAULT, nothing reported done. */
	done = 99;
	assert_int_equal(svf_vfio_device_read(f.dev, none - 8, 16, BAR0, &done), -EFAULT);
	assert_int_equal(done, 0);
	/* What is readable still works, through the bounce buffer, in the same pieces. */
	assert_int_equal(svf_vfio_device_read(f.dev, none - 4, 4, BAR0, &done), 0);
	assert_int_equal(done, 4);
	memcpy(&v, none - 4, 4);
	assert_int_equal(v, 0x010000ed); /* edu's id register */
	{
		uint8_t big[1000];

		assert_int_equal(svf_vfio_device_read(f.dev, big, sizeof(big), BAR0 + 4, &done), 0);
		assert_int_equal(done, sizeof(big));
		/* The pieces one pass cuts: 4 bytes at 4 (liveness, 0), then 8-byte ones. */
		memcpy(&v, big, 4);
		assert_int_equal(v, 0);
		memcpy(&v, big + 0x20 - 4, 4);
		assert_int_equal(v, 0xffffffff); /* below 0x80 an 8-byte access reads all-ones */
		for (unsigned i = 0x80; i < 0xa0; i++)
			assert_int_equal(big[i - 4], 0); /* the DMA registers, 8 bytes each */
	}
	fx_close(&f);
	munmap(two, 2 * 4096);
	munmap(ro, 4096);
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


/* ---- step 3: DMA, interrupts, the mapped BAR ---- */

#define IOVA 0x100000ull

/* A 2-page guest buffer mapped at IOVA; memory and bus master on. */
static uint8_t *fx_dma(struct fx *f)
{
	uint8_t *buf;

	fx_open(f);
	buf = th_alloc_mem(2 * 4096);
	assert_int_equal(th_map(f->c, IOVA, (uintptr_t)buf, 2 * 4096, TH_RW), 0);
	cfg_write(f->dev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	return buf;
}

static void edu_dma(struct svf_vfio_device *d, uint64_t src, uint64_t dst, uint64_t cnt,
		    uint64_t cmd)
{
	bar_write(d, 0x80, 8, src);
	bar_write(d, 0x88, 8, dst);
	bar_write(d, 0x90, 8, cnt);
	bar_write(d, 0x98, 8, cmd);
}

static uint64_t efd_read(int efd)
{
	uint64_t v = 0;

	if (read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static int set_irq_efd(struct svf_vfio_device *d, unsigned index, uint32_t action, int32_t fd)
{
	uint8_t b[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *s = (void *)b;

	s->argsz = sizeof(b);
	s->flags = VFIO_IRQ_SET_DATA_EVENTFD | action;
	s->index = index;
	s->start = 0;
	s->count = 1;
	memcpy(s->data, &fd, sizeof(fd));
	return (int)svf_vfio_device_ioctl(d, VFIO_DEVICE_SET_IRQS, s);
}

static int set_irq_none(struct svf_vfio_device *d, unsigned index, uint32_t action,
			unsigned start, unsigned count)
{
	struct vfio_irq_set s = { .argsz = sizeof(s), .flags = VFIO_IRQ_SET_DATA_NONE | action,
				  .index = index, .start = start, .count = count };

	return (int)svf_vfio_device_ioctl(d, VFIO_DEVICE_SET_IRQS, &s);
}

static void test_edu_dma_through_iommu(void **state)
{
	struct svf_vfio_fault fl[4];
	struct fx f;
	uint8_t *buf;
	char line[160];
	size_t nr;
	uint64_t lost;
	(void)state;

	buf = fx_dma(&f);
	for (int i = 0; i < 4096; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	/* RAM -> edu, then edu -> RAM one page up. */
	edu_dma(f.dev, IOVA, 0x40000, 4096, 1);
	assert_int_equal(bar_read(f.dev, 0x98, 8) & 1, 0);
	edu_dma(f.dev, 0x40000, IOVA + 4096, 4096, 3);
	assert_memory_equal(buf, buf + 4096, 4096);
	/* A part of the buffer, at an offset inside it. */
	memset(buf + 4096, 0, 4096);
	edu_dma(f.dev, 0x40000 + 100, IOVA + 4096 + 8, 50, 3);
	assert_memory_equal(buf + 4096 + 8, buf + 100, 50);
	assert_int_equal(buf[4096 + 7], 0);
	/* The edu side out of its buffer: nothing moves, the command completes. */
	memset(buf + 4096, 0, 4096);
	edu_dma(f.dev, 0x40000 + 4000, IOVA + 4096, 200, 3);
	assert_int_equal(bar_read(f.dev, 0x98, 8), 2);
	assert_int_equal(buf[4096], 0);
	/* dma_mask: 28 bits, so an address above them is clamped onto IOVA. */
	edu_dma(f.dev, 0x40000, (1ull << 40) | (IOVA + 4096), 16, 3);
	assert_memory_equal(buf + 4096, buf, 16);
	svf_vfio_read_faults(f.h, fl, 4, &nr, &lost);
	assert_int_equal(nr, 0);

	/* Unmapped: the device faults at the first page, recorded with its requester id. */
	assert_int_equal(th_unmap(f.c, IOVA, 2 * 4096, 0, NULL), 0);
	edu_dma(f.dev, IOVA + 0x10, 0x40000, 64, 1);
	assert_int_equal(bar_read(f.dev, 0x98, 8) & 1, 0);
	edu_dma(f.dev, 0x40000, IOVA + 4096, 64, 3);
	assert_int_equal(svf_vfio_read_faults(f.h, fl, 4, &nr, &lost), 0);
	assert_int_equal(nr, 2);
	assert_int_equal(lost, 0);
	assert_int_equal(fl[0].seq + 1, fl[1].seq);
	assert_int_equal(fl[0].rid, 0x18);
	assert_int_equal(fl[0].addr, IOVA + 0x10);
	assert_int_equal(fl[0].type, SVF_VFIO_FAULT_READ);
	assert_int_equal(fl[0].reason, 6);
	assert_int_equal(fl[1].type, SVF_VFIO_FAULT_WRITE);
	assert_int_equal(fl[1].reason, 5);
	assert_int_equal(svf_vfio_fault_format(&fl[0], line, sizeof(line), &nr), 0);
	assert_string_equal(line, "DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr "
				  "0x100000 [fault reason 0x06] PTE Read access is not set");
	assert_int_equal(nr, strlen(line));
	assert_int_equal(svf_vfio_fault_format(&fl[1], line, sizeof(line), NULL), 0);
	assert_string_equal(line, "DMAR: [DMA Write NO_PASID] Request device [00:03.0] fault addr "
				  "0x101000 [fault reason 0x05] PTE Write access is not set");
	assert_int_equal(svf_vfio_fault_format(&fl[1], NULL, 0, &nr), 0);
	assert_int_equal(nr, strlen(line));
	assert_int_equal(svf_vfio_fault_format(NULL, line, 4, NULL), -EINVAL);
	/* The same records as AMD-Vi's event lines: the domain, the byte address, the flags. */
	assert_int_equal(fl[0].segment, 0);
	assert_int_equal(fl[0].domain, svf_domain_id(svf_container_domain(f.c, 0)));
	assert_int_not_equal(fl[0].domain, 0);
	assert_int_equal(fl[0].err, -ENOENT);
	assert_int_equal(fl[1].err, -ENOENT);
	fl[0].domain = 0x2a;
	assert_int_equal(svf_vfio_fault_format_amd(&fl[0], line, sizeof(line), &nr), 0);
	assert_string_equal(line, "vfio-pci 0000:00:03.0: AMD-Vi: Event logged [IO_PAGE_FAULT "
				  "domain=0x002a address=0x100010 flags=0x0000]");
	assert_int_equal(nr, strlen(line));
	fl[1].domain = 0x2a;
	assert_int_equal(svf_vfio_fault_format_amd(&fl[1], line, sizeof(line), NULL), 0);
	assert_string_equal(line, "vfio-pci 0000:00:03.0: AMD-Vi: Event logged [IO_PAGE_FAULT "
				  "domain=0x002a address=0x101000 flags=0x0020]");
	fl[1].err = -EACCES;
	fl[1].segment = 0x10;
	assert_int_equal(svf_vfio_fault_format_amd(&fl[1], line, sizeof(line), NULL), 0);
	assert_string_equal(line, "vfio-pci 0010:00:03.0: AMD-Vi: Event logged [IO_PAGE_FAULT "
				  "domain=0x002a address=0x101000 flags=0x0070]");
	fl[0].err = -EACCES;
	assert_int_equal(svf_vfio_fault_format_amd(&fl[0], NULL, 0, &nr), 0);
	assert_int_equal(nr, strlen("vfio-pci 0000:00:03.0: AMD-Vi: Event logged [IO_PAGE_FAULT "
				    "domain=0x002a address=0x100010 flags=0x0050]"));
	assert_int_equal(svf_vfio_fault_format_amd(NULL, line, 4, NULL), -EINVAL);
	assert_int_equal(svf_vfio_fault_format_amd(&fl[0], NULL, 4, NULL), -EINVAL);
	assert_string_equal(svf_vfio_fault_reason_str(4), "Access beyond MGAW");
	assert_string_equal(svf_vfio_fault_reason_str(0x20), "Unknown");

	/* Bus mastering off: no DMA reaches the IOMMU, no fault. */
	cfg_write(f.dev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	edu_dma(f.dev, IOVA, 0x40000, 64, 1);
	svf_vfio_read_faults(f.h, fl, 4, &nr, NULL);
	assert_int_equal(nr, 0);
	fx_close(&f);
	th_free_mem(buf, 2 * 4096);
}

static void test_intx_automask(void **state)
{
	struct fx f;
	int efd = eventfd(0, EFD_NONBLOCK), ufd = eventfd(0, EFD_NONBLOCK);
	(void)state;

	fx_open(&f);
	cfg_write(f.dev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	/* Mask/unmask before INTx is enabled. */
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK,
				      0, 1), -EINVAL);
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				     efd), 0);
	/* The program closes nothing yet; the line goes up: one event, masked. */
	bar_write(f.dev, 0x60, 4, 1);
	assert_int_equal(efd_read(efd), 1);
	bar_write(f.dev, 0x60, 4, 2);
	assert_int_equal(efd_read(efd), 0);
	/* Unmask while the line is still up: masked again, another event. */
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK,
				      0, 1), 0);
	assert_int_equal(efd_read(efd), 1);
	/* Acknowledge, unmask, raise: one event. */
	bar_write(f.dev, 0x64, 4, 3);
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK,
				      0, 1), 0);
	assert_int_equal(efd_read(efd), 0);
	bar_write(f.dev, 0x60, 4, 1);
	assert_int_equal(efd_read(efd), 1);
	bar_write(f.dev, 0x64, 4, 1);
	/* Unmask through an eventfd, served by the watcher. */
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK,
				     ufd), 0);
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_MASK,
				     ufd), -ENOTTY);
	{
		uint64_t one = 1;

		bool seen = false;

		/* Still masked: a raise is not seen until the watcher serves the unmask. */
		bar_write(f.dev, 0x60, 4, 1);
		assert_int_equal(efd_read(efd), 0);
		bar_write(f.dev, 0x64, 4, 1);
		assert_int_equal(write(ufd, &one, 8), 8);
		for (int i = 0; i < 10000 && !seen; i++) { /* bounded wait, not a timing assertion */
			bar_write(f.dev, 0x60, 4, 1);
			seen = efd_read(efd) == 1;
			bar_write(f.dev, 0x64, 4, 1);
			if (!seen)
				usleep(1000);
		}
		assert_true(seen);
	}
	bar_write(f.dev, 0x64, 4, 1);
	/* INTx disable in the command register masks; enabling it again unmasks. */
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK,
				     -1), 0);
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK,
				      0, 1), 0);
	efd_read(efd);
	cfg_write(f.dev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
	bar_write(f.dev, 0x60, 4, 1);
	assert_int_equal(efd_read(efd), 0);
	cfg_write(f.dev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(efd_read(efd), 1);
	/* Loopback: DATA_NONE trigger writes the eventfd. */
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				      0, 1), 0);
	assert_int_equal(efd_read(efd), 1);
	/* MSI cannot be enabled while INTx is. */
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				     efd), -EINVAL);
	/* Disable: count 0, DATA_NONE; then no event. */
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				      0, 0), 0);
	bar_write(f.dev, 0x64, 4, 1);
	bar_write(f.dev, 0x60, 4, 1);
	assert_int_equal(efd_read(efd), 0);
	fx_close(&f);
	close(efd);
	close(ufd);
}

static void test_msi_and_set_irqs_rows(void **state)
{
	uint8_t b[sizeof(struct vfio_irq_set) + 2 * sizeof(int32_t)];
	struct vfio_irq_set *s = (void *)b;
	struct fx f;
	uint8_t *buf;
	int efd = eventfd(0, EFD_NONBLOCK), efd2 = eventfd(0, EFD_NONBLOCK), p[2];
	(void)state;

	assert_int_equal(pipe(p), 0);
	buf = fx_dma(&f);
	/* Validation rows, in Linux's order. */
	memset(b, 0, sizeof(b));
	s->argsz = 8;
	s->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_SET_IRQS, s), -EINVAL);
	s->argsz = sizeof(b);
	s->index = 5;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_SET_IRQS, s), -EINVAL);
	s->index = VFIO_PCI_MSI_IRQ_INDEX;
	s->start = 1; /* MSI has one vector */
	s->count = 0;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_SET_IRQS, s), -EINVAL);
	s->start = 0;
	s->count = 2;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_SET_IRQS, s), -EINVAL);
	s->start = 1;
	s->count = UINT32_MAX - 1;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_SET_IRQS, s), -EINVAL);
	s->start = 0;
	s->count = 1;
	s->flags = 1u << 6 | VFIO_IRQ_SET_ACTION_TRIGGER;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_SET_IRQS, s), -EINVAL);
	s->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_SET_IRQS, s), -EINVAL);
	s->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	s->argsz = sizeof(*s) + 2;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_SET_IRQS, s), -EINVAL);
	s->argsz = sizeof(b);
	/* ERR on conventional PCI: no vectors. */
	s->index = VFIO_PCI_ERR_IRQ_INDEX;
	assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_SET_IRQS, s), -EINVAL);
	/* Handlers: MSI has no masking; two actions match none. */
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_MASK, 0, 1),
			 -ENOTTY);
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_INTX_IRQ_INDEX,
				      VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK, 0, 1),
			 -ENOTTY);
	/* Loopback of a disabled MSI. */
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				      0, 1), -EINVAL);
	/* Fds: not open, not an eventfd. */
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				     9999), -EBADF);
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				     p[0]), -EINVAL);
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				     p[0]), -EINVAL);

	/*
	 * MSI on: a DMA with its interrupt bit sends the message. The
	 * program's fd may go: the device holds its own reference.
	 */
	{
		int tmp = dup(efd);

		assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_MSI_IRQ_INDEX,
					     VFIO_IRQ_SET_ACTION_TRIGGER, tmp), 0);
		close(tmp);
	}
	/* INTx cannot be enabled while MSI is. */
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				     efd2), -EINVAL);
	edu_dma(f.dev, IOVA, 0x40000, 64, 1 | 4);
	assert_int_equal(efd_read(efd), 1);
	assert_int_equal(bar_read(f.dev, 0x24, 4), 0x100);
	/* Edge: each raise sends one message; the status stays until acknowledged. */
	bar_write(f.dev, 0x60, 4, 0x100);
	assert_int_equal(efd_read(efd), 1);
	bar_write(f.dev, 0x64, 4, 0x100);
	/* Factorial with its interrupt. */
	bar_write(f.dev, 0x20, 4, 0x80);
	bar_write(f.dev, 0x08, 4, 5);
	assert_int_equal(bar_read(f.dev, 0x08, 4), 120);
	assert_int_equal(efd_read(efd), 1);
	assert_int_equal(bar_read(f.dev, 0x24, 4), 1);
	/* MSI queue size now clamps to the one vector enabled. */
	cfg_write(f.dev, 0x42, 2, PCI_MSI_FLAGS_QSIZE | PCI_MSI_FLAGS_ENABLE);
	assert_int_equal(cfg_read(f.dev, 0x42, 2) & PCI_MSI_FLAGS_QSIZE, 0);
	/* Replacing the vector's eventfd; -1 releases it. */
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				     efd2), 0);
	bar_write(f.dev, 0x60, 4, 1);
	assert_int_equal(efd_read(efd), 0);
	assert_int_equal(efd_read(efd2), 1);
	/* BOOL loopback. */
	{
		uint8_t bb[sizeof(struct vfio_irq_set) + 1];
		struct vfio_irq_set *bs = (void *)bb;

		bs->argsz = sizeof(bb);
		bs->flags = VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
		bs->index = VFIO_PCI_MSI_IRQ_INDEX;
		bs->start = 0;
		bs->count = 1;
		bs->data[0] = 1;
		assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_SET_IRQS, bs), 0);
		assert_int_equal(efd_read(efd2), 1);
		bs->data[0] = 0;
		assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_SET_IRQS, bs), 0);
		assert_int_equal(efd_read(efd2), 0);
	}
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				     -1), 0);
	bar_write(f.dev, 0x60, 4, 1);
	assert_int_equal(efd_read(efd2), 0);
	/* Disable MSI; INTx may be enabled then, and the line (status non-zero) interrupts at once. */
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				      0, 0), 0);
	bar_write(f.dev, 0x60, 4, 1); /* INTx mode now: the line goes up */
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				     efd), 0);
	assert_int_equal(efd_read(efd), 1);

	/* REQ: one eventfd, NONE loopback; count 0 with NONE releases it. */
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_REQ_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				      0, 1), -EINVAL);
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_REQ_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				     efd2), 0);
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_REQ_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				      0, 1), 0);
	assert_int_equal(efd_read(efd2), 1);
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_REQ_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK,
				      0, 1), -ENOTTY);
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_REQ_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				      0, 0), 0);
	assert_int_equal(set_irq_none(f.dev, VFIO_PCI_REQ_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				      0, 1), -EINVAL);
	fx_close(&f);
	th_free_mem(buf, 2 * 4096);
	close(efd);
	close(efd2);
	close(p[0]);
	close(p[1]);
}

/* Wait (bounded, 10 s) until the 32-bit word at p has bits & mask == want. */
static bool wait_word(volatile uint32_t *p, uint32_t mask, uint32_t want)
{
	for (int i = 0; i < 100000; i++) {
		if ((__atomic_load_n(p, __ATOMIC_ACQUIRE) & mask) == want)
			return true;
		usleep(100);
	}
	return false;
}

/*
 * Stores through the mapping and the watcher's loads meet at two virtual
 * addresses of one page, an ordering ThreadSanitizer cannot see; a region
 * access takes the device's lock, which the watcher takes too, and so
 * orders the test's plain buffer accesses with the device's DMA for it.
 */
static void sync_dev(struct svf_vfio_device *d)
{
	(void)cfg_read(d, PCI_VENDOR_ID, 4);
}

static void test_mapped_bar_doorbells(void **state)
{
	struct fx f;
	uint8_t *buf;
	volatile uint8_t *bar;
	int mfd, efd = eventfd(0, EFD_NONBLOCK);
	(void)state;

	buf = fx_dma(&f);
	assert_int_equal(svf_vfio_device_memfd(f.dev, &mfd), 0);
	bar = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	assert_true(bar != MAP_FAILED);
	/* The device's registers show through the mapping. */
	assert_int_equal(*(volatile uint32_t *)(bar + 0x00), 0x010000ed);
	assert_int_equal(*(volatile uint32_t *)(bar + 0x10), 0xffffffff);
	/* Liveness: a store through the mapping is inverted by the watcher. */
	*(volatile uint32_t *)(bar + 0x04) = 0x0f0f0f0f;
	assert_true(wait_word((volatile uint32_t *)(bar + 0x04), ~0u, 0xf0f0f0f0));
	/* DMA started by a doorbell in the mapping, completion polled as edu.rst says. */
	for (int i = 0; i < 4096; i++)
		buf[i] = (uint8_t)(i ^ 0x5a);
	sync_dev(f.dev);
	*(volatile uint64_t *)(bar + 0x80) = IOVA;
	*(volatile uint64_t *)(bar + 0x88) = 0x40000;
	*(volatile uint64_t *)(bar + 0x90) = 4096;
	*(volatile uint64_t *)(bar + 0x98) = 1;
	assert_true(wait_word((volatile uint32_t *)(bar + 0x98), 1, 0));
	*(volatile uint64_t *)(bar + 0x80) = 0x40000;
	*(volatile uint64_t *)(bar + 0x88) = IOVA + 4096;
	*(volatile uint64_t *)(bar + 0x98) = 3 | 4;
	assert_int_equal(set_irq_efd(f.dev, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER,
				     efd), 0);
	assert_true(wait_word((volatile uint32_t *)(bar + 0x98), 1, 0));
	sync_dev(f.dev);
	assert_memory_equal(buf, buf + 4096, 4096);
	assert_true(wait_word((volatile uint32_t *)(bar + 0x24), 0x100, 0x100));
	/* Factorial and raise through the mapping. */
	*(volatile uint32_t *)(bar + 0x08) = 6;
	assert_true(wait_word((volatile uint32_t *)(bar + 0x08), ~0u, 720));
	efd_read(efd);
	*(volatile uint32_t *)(bar + 0x64) = 0x100;
	assert_true(wait_word((volatile uint32_t *)(bar + 0x24), ~0u, 0));
	*(volatile uint32_t *)(bar + 0x60) = 0x8;
	assert_true(wait_word((volatile uint32_t *)(bar + 0x24), ~0u, 0x8));
	assert_true(wait_word((volatile uint32_t *)(bar + 0x60), ~0u, ~0u));
	/* A read-only register a program overwrote comes back. */
	*(volatile uint32_t *)(bar + 0x00) = 0;
	assert_true(wait_word((volatile uint32_t *)(bar + 0x00), ~0u, 0x010000ed));
	munmap((void *)bar, 1 << 20);
	fx_close(&f);
	th_free_mem(buf, 2 * 4096);
	close(efd);
}

/* dma_mask: a 64-bit mask lets an address past the IOMMU's width through, which faults as such. */
static void test_edu_dma_mask_64(void **state)
{
	struct svf_pci_device_config dc = { .kind = SVF_PCI_KIND_EDU, .bdf = "0000:00:05.0",
					    .group = 9, .dma_mask = ~0ull };
	struct svf_vfio_fault fl[2];
	struct svf_vfio_device *d;
	struct svf_vfio_group *g;
	struct fx f;
	uint8_t *buf;
	char line[160];
	size_t nr;
	(void)state;

	buf = fx_dma(&f);
	assert_int_equal(svf_vfio_add_device(f.h, &dc, NULL), 0);
	assert_int_equal(svf_vfio_group_open(f.h, 9, &g), 0);
	assert_int_equal(svf_vfio_group_set_container(g, NULL), -EBADFD);
	assert_int_equal(svf_vfio_group_set_container(g, f.c), 0);
	assert_int_equal(svf_vfio_group_get_device(g, "0000:00:05.0", &d), 0);
	cfg_write(d, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	/* Not clamped: IOVA itself works, 1 << 60 + IOVA faults beyond the width. */
	memset(buf, 0x77, 64);
	edu_dma(d, IOVA, 0x40000, 64, 1);
	edu_dma(d, 0x40000, IOVA + 4096, 64, 3);
	assert_memory_equal(buf, buf + 4096, 64);
	edu_dma(d, (1ull << 60) | IOVA, 0x40000, 64, 1);
	assert_int_equal(svf_vfio_read_faults(f.h, fl, 2, &nr, NULL), 0);
	assert_int_equal(nr, 1);
	assert_int_equal(fl[0].reason, 4);
	assert_int_equal(fl[0].rid, 0x28);
	svf_vfio_fault_format(&fl[0], line, sizeof(line), NULL);
	assert_string_equal(line, "DMAR: [DMA Read NO_PASID] Request device [00:05.0] fault addr "
				  "0x1000000000100000 [fault reason 0x04] Access beyond MGAW");
	svf_vfio_device_close(d);
	svf_vfio_group_close(g);
	fx_close(&f);
	th_free_mem(buf, 2 * 4096);
}

/* A preload layer's fd table: resolve and install callbacks. */
struct fake_table {
	struct svf_container *c;
	struct svf_vfio_group *g;
	struct svf_vfio_device *last;
	int install_rc;
};

static void fake_resolve(void *opaque, int fd, enum svf_vfio_fd_kind *kind, void **obj)
{
	struct fake_table *t = opaque;

	*kind = SVF_VFIO_FD_NONE;
	*obj = NULL;
	if (fd == 40) {
		*kind = SVF_VFIO_FD_CONTAINER;
		*obj = t->c;
	} else if (fd == 41) {
		*kind = SVF_VFIO_FD_GROUP;
		*obj = t->g;
	} else if (fd == 42) {
		*kind = SVF_VFIO_FD_OTHER;
	}
}

static int fake_install(void *opaque, struct svf_vfio_device *dev)
{
	struct fake_table *t = opaque;

	t->last = dev;
	return t->install_rc;
}

static void test_fd_ops(void **state)
{
	struct fake_table t = { .install_rc = 77 };
	const struct svf_vfio_fd_ops ops = { .resolve = fake_resolve, .install_device = fake_install,
					     .opaque = &t };
	const struct svf_vfio_fd_ops half = { .resolve = fake_resolve };
	struct fx f;
	int32_t fd;
	(void)state;

	fx_host(&f);
	t.c = f.c;
	assert_int_equal(svf_vfio_set_fd_ops(f.h, &half), -EINVAL);
	assert_int_equal(svf_vfio_set_fd_ops(f.h, &ops), 0);
	assert_int_equal(svf_vfio_group_open(f.h, 0, &f.g), 0);
	t.g = f.g;
	fd = 42;
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_SET_CONTAINER, &fd), -EBADFD);
	fd = 43;
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_SET_CONTAINER, &fd), -EBADF);
	fd = CFD; /* the own table is not consulted any more */
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_SET_CONTAINER, &fd), -EBADF);
	fd = 40;
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_SET_CONTAINER, &fd), 0);
	assert_int_equal(softvfio_ioctl(f.c, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU), 0);
	/* The fd the program gets is the table's. */
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0"), 77);
	assert_non_null(t.last);
	f.dev = t.last;
	{
		uint8_t rbuf[sizeof(struct vfio_pci_hot_reset) + 4];
		struct vfio_pci_hot_reset *hr = (void *)rbuf;

		hr->argsz = sizeof(rbuf);
		hr->flags = 0;
		hr->count = 1;
		hr->group_fds[0] = 41;
		assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_PCI_HOT_RESET, hr), 0);
		hr->group_fds[0] = 42;
		assert_int_equal(svf_vfio_device_ioctl(f.dev, VFIO_DEVICE_PCI_HOT_RESET, hr), -EINVAL);
	}
	svf_vfio_device_close(f.dev);
	f.dev = NULL;
	/* A failing install undoes the open: the group is free to leave. */
	t.install_rc = -EMFILE;
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0"),
			 -EMFILE);
	assert_int_equal(svf_vfio_group_ioctl(f.g, VFIO_GROUP_UNSET_CONTAINER, NULL), 0);
	assert_int_equal(svf_vfio_set_fd_ops(f.h, NULL), 0);
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
		cmocka_unit_test(test_bad_user_pointers),
		cmocka_unit_test(test_edu_registers),
		cmocka_unit_test(test_hot_reset),
		cmocka_unit_test(test_edu_dma_through_iommu),
		cmocka_unit_test(test_intx_automask),
		cmocka_unit_test(test_msi_and_set_irqs_rows),
		cmocka_unit_test(test_mapped_bar_doorbells),
		cmocka_unit_test(test_edu_dma_mask_64),
		cmocka_unit_test(test_fd_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

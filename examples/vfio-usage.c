/* SPDX-License-Identifier: MIT */
/*
 * The VFIO usage example of Linux's Documentation/driver-api/vfio.rst,
 * made whole, against <linux/vfio.h> and libc only: an ordinary VFIO
 * program, run by the test suite under `softvfio exec` (it would run the
 * same way against a real edu device bound to vfio-pci).
 *
 *   softvfio exec -- example-vfio-usage [BDF]
 *
 * It finds the device's group in sysfs, opens the container and the group,
 * attaches them, selects type1, maps a buffer for DMA at IOVA 0, opens the
 * device, walks its regions and interrupts, reads its config space, maps
 * BAR0, and talks to QEMU's edu device through it: the id, the liveness
 * register, the factorial, then a DMA from the buffer into edu's internal
 * buffer and back to another part of the buffer, signalled by an MSI on an
 * eventfd. Then it unmaps the buffer, lets edu DMA again, reads the fault
 * from /dev/kmsg, and resets the device. Each step prints one line; the
 * exit status is 0 when every step did what Linux and edu promise.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

/* QEMU's edu device (its docs/specs/edu.rst): BAR0 registers. */
#define EDU_ID        0x00
#define EDU_LIVENESS  0x04
#define EDU_FACT      0x08
#define EDU_STATUS    0x20
#define EDU_DMA_SRC   0x80
#define EDU_DMA_DST   0x88
#define EDU_DMA_COUNT 0x90
#define EDU_DMA_CMD   0x98
#define EDU_DMA_START 0x1
#define EDU_DMA_TO_RAM 0x2 /* direction: edu's buffer -> RAM */
#define EDU_DMA_IRQ   0x4
#define EDU_BUFFER    0x40000 /* edu's 4 KiB buffer, as a DMA address */

static int failures;

/* One line per step: "ok" or "FAIL" and what it did; cond is evaluated once. */
#define STEP(cond, ...)                                                  \
	do {                                                             \
		int ok_ = (cond), errno_ = errno;                        \
		printf("%s ", ok_ ? "ok  " : "FAIL");                    \
		printf(__VA_ARGS__);                                     \
		if (ok_) {                                               \
			printf("\n");                                    \
		} else {                                                 \
			printf(" (%s)\n", strerror(errno_));             \
			failures++;                                      \
		}                                                        \
	} while (0)

static uint32_t rd32(volatile uint8_t *bar, unsigned off)
{
	return *(volatile uint32_t *)(bar + off);
}

static void wr32(volatile uint8_t *bar, unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(bar + off) = v;
}

static void wr64(volatile uint8_t *bar, unsigned off, uint64_t v)
{
	*(volatile uint64_t *)(bar + off) = v;
}

/* Waits (at most 2 s) until (reg & mask) == 0: edu finishing what a doorbell started. */
static int wait_clear(volatile uint8_t *bar, unsigned off, uint32_t mask)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (rd32(bar, off) & mask) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 2)
			return -1;
		sched_yield();
	}
	return 0;
}

/* Waits (at most 2 s) until the register no longer reads old. */
static int wait_change(volatile uint8_t *bar, unsigned off, uint32_t old)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (rd32(bar, off) == old) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 2)
			return -1;
		sched_yield();
	}
	return 0;
}

static int dma(volatile uint8_t *bar, uint64_t src, uint64_t dst, uint32_t count, uint32_t cmd)
{
	wr64(bar, EDU_DMA_SRC, src);
	wr64(bar, EDU_DMA_DST, dst);
	wr64(bar, EDU_DMA_COUNT, count);
	wr64(bar, EDU_DMA_CMD, cmd | EDU_DMA_START);
	return wait_clear(bar, EDU_DMA_CMD, EDU_DMA_START);
}

int main(int argc, char **argv)
{
	const char *bdf = argc > 1 ? argv[1] : "0000:00:03.0";
	struct vfio_group_status group_status = { .argsz = sizeof(group_status) };
	struct vfio_iommu_type1_info iommu_info = { .argsz = sizeof(iommu_info) };
	struct vfio_iommu_type1_dma_map dma_map = { .argsz = sizeof(dma_map) };
	struct vfio_iommu_type1_dma_unmap dma_unmap = { .argsz = sizeof(dma_unmap) };
	struct vfio_device_info device_info = { .argsz = sizeof(device_info) };
	struct vfio_region_info bar0 = { .argsz = sizeof(bar0) }, cfgr = { .argsz = sizeof(cfgr) };
	char path[PATH_MAX], link[PATH_MAX], kmsg[1024];
	int container, group, device, efd, kfd, groupid;
	volatile uint8_t *bar;
	uint8_t *buf;
	uint32_t id32;
	uint16_t cmd;
	uint64_t n;
	ssize_t len;
	struct pollfd pfd;

	/* The device's IOMMU group, from sysfs, as VMMs find it. */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	len = readlink(path, link, sizeof(link) - 1);
	if (len <= 0) {
		STEP(0, "readlink %s", path);
		return 1;
	}
	link[len] = '\0';
	groupid = atoi(basename(link));
	STEP(1, "device %s is in IOMMU group %d", bdf, groupid);

	/* Create a new container */
	container = open("/dev/vfio/vfio", O_RDWR);
	STEP(container >= 0, "open /dev/vfio/vfio");
	if (container < 0)
		return 1;
	STEP(ioctl(container, VFIO_GET_API_VERSION) == VFIO_API_VERSION, "API version");
	STEP(ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) == 1, "type1 supported");

	/* Open the group */
	snprintf(path, sizeof(path), "/dev/vfio/%d", groupid);
	group = open(path, O_RDWR);
	STEP(group >= 0, "open %s", path);
	if (group < 0)
		return 1;

	/* Test the group is viable and available */
	STEP(ioctl(group, VFIO_GROUP_GET_STATUS, &group_status) == 0 &&
	     (group_status.flags & VFIO_GROUP_FLAGS_VIABLE), "group viable");

	/* Add the group to the container */
	STEP(ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) == 0, "group joins the container");

	/* Enable the IOMMU model we want */
	STEP(ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) == 0, "SET_IOMMU type1");

	/* Get addition IOMMU info */
	STEP(ioctl(container, VFIO_IOMMU_GET_INFO, &iommu_info) == 0 &&
	     (iommu_info.iova_pgsizes & 4096), "IOMMU info: page sizes 0x%llx",
	     (unsigned long long)iommu_info.iova_pgsizes);

	/* Allocate some space and setup a DMA mapping */
	buf = mmap(0, 1024 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	dma_map.vaddr = (uintptr_t)buf;
	dma_map.size = 1024 * 1024;
	dma_map.iova = 0; /* 1MB starting at 0x0 from device view */
	dma_map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	STEP(ioctl(container, VFIO_IOMMU_MAP_DMA, &dma_map) == 0, "MAP_DMA 1 MiB at IOVA 0");

	/* Get a file descriptor for the device */
	device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	STEP(device >= 0, "device fd");
	if (device < 0)
		return 1;

	/* Test and setup the device */
	STEP(ioctl(device, VFIO_DEVICE_GET_INFO, &device_info) == 0 &&
	     (device_info.flags & VFIO_DEVICE_FLAGS_PCI) &&
	     device_info.num_regions >= VFIO_PCI_CONFIG_REGION_INDEX + 1,
	     "device info: %u regions, %u irqs", device_info.num_regions, device_info.num_irqs);
	for (unsigned i = 0; i < device_info.num_regions; i++) {
		struct vfio_region_info reg = { .argsz = sizeof(reg), .index = i };

		if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &reg) == 0) {
			if (i == VFIO_PCI_BAR0_REGION_INDEX)
				bar0 = reg;
			if (i == VFIO_PCI_CONFIG_REGION_INDEX)
				cfgr = reg;
		}
	}
	STEP(bar0.size == 1024 * 1024 && (bar0.flags & VFIO_REGION_INFO_FLAG_MMAP),
	     "BAR0: %llu bytes at offset 0x%llx, mmappable", (unsigned long long)bar0.size,
	     (unsigned long long)bar0.offset);
	for (unsigned i = 0; i < device_info.num_irqs; i++) {
		struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = i };

		ioctl(device, VFIO_DEVICE_GET_IRQ_INFO, &irq);
		if (i == VFIO_PCI_MSI_IRQ_INDEX)
			STEP(irq.count == 1 && (irq.flags & VFIO_IRQ_INFO_EVENTFD), "one MSI vector");
	}

	/* Config space through pread/pwrite at the config region's offset. */
	STEP(pread(device, &id32, 4, (off_t)cfgr.offset) == 4 && id32 == 0x11e81234,
	     "config: vendor:device 0x%08x", id32);
	STEP(pread(device, &cmd, 2, (off_t)cfgr.offset + 4) == 2, "config: command 0x%04x", cmd);
	cmd |= 0x6; /* memory space, bus master */
	STEP(pwrite(device, &cmd, 2, (off_t)cfgr.offset + 4) == 2, "config: enable memory, bus master");

	/* BAR0 mapped: edu's registers. */
	bar = mmap(NULL, bar0.size, PROT_READ | PROT_WRITE, MAP_SHARED, device, (off_t)bar0.offset);
	STEP(bar != MAP_FAILED, "mmap BAR0");
	if (bar == MAP_FAILED)
		return 1;
	STEP(rd32(bar, EDU_ID) == 0x010000ed, "edu id 0x%08x", rd32(bar, EDU_ID));
	/*
	 * Registers through the region's read and write (vfio-pci's pread and
	 * pwrite at the BAR's offset), which take effect at once ...
	 */
	id32 = 0x12345678;
	STEP(pwrite(device, &id32, 4, (off_t)bar0.offset + EDU_LIVENESS) == 4 &&
	     pread(device, &id32, 4, (off_t)bar0.offset + EDU_LIVENESS) == 4 &&
	     id32 == ~0x12345678u, "liveness through pwrite/pread: 0x%08x", id32);
	/*
	 * ... and through the mapping, where a store is a doorbell the device
	 * notices a little later: the factorial replaces n when it is done.
	 */
	wr32(bar, EDU_FACT, 10);
	STEP(wait_change(bar, EDU_FACT, 10) == 0 && rd32(bar, EDU_FACT) == 3628800,
	     "factorial through the mapping: 10! = %u", rd32(bar, EDU_FACT));

	/* MSI on an eventfd. */
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	{
		char irqbuf[sizeof(struct vfio_irq_set) + sizeof(int)];
		struct vfio_irq_set *set = (void *)irqbuf;

		set->argsz = sizeof(irqbuf);
		set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
		set->index = VFIO_PCI_MSI_IRQ_INDEX;
		set->start = 0;
		set->count = 1;
		memcpy(set->data, &efd, sizeof(int));
		STEP(ioctl(device, VFIO_DEVICE_SET_IRQS, set) == 0, "MSI vector 0 -> eventfd");
	}

	/* DMA: buffer -> edu -> another part of the buffer, through the IOMMU. */
	for (unsigned i = 0; i < 4096; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	memset(buf + 0x2000, 0, 4096);
	STEP(dma(bar, 0, EDU_BUFFER, 4096, 0) == 0, "DMA RAM 0x0 -> edu buffer");
	STEP(dma(bar, EDU_BUFFER, 0x2000, 4096, EDU_DMA_TO_RAM | EDU_DMA_IRQ) == 0,
	     "DMA edu buffer -> RAM 0x2000, with an interrupt");
	STEP(memcmp(buf, buf + 0x2000, 4096) == 0, "the bytes arrived");
	pfd = (struct pollfd){ .fd = efd, .events = POLLIN };
	STEP(poll(&pfd, 1, 2000) == 1 && read(efd, &n, 8) == 8 && n >= 1, "MSI on the eventfd");

	/* Unmap, then let edu DMA again: an IOMMU fault, logged as Linux logs it. */
	kfd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	STEP(kfd >= 0, "open /dev/kmsg");
	while (kfd >= 0 && read(kfd, kmsg, sizeof(kmsg)) > 0)
		; /* what the log held before */
	dma_unmap.iova = 0;
	dma_unmap.size = 1024 * 1024;
	STEP(ioctl(container, VFIO_IOMMU_UNMAP_DMA, &dma_unmap) == 0 && dma_unmap.size == 1024 * 1024,
	     "UNMAP_DMA");
	dma(bar, 0x3000, EDU_BUFFER, 64, 0);
	len = -1;
	for (int tries = 0; tries < 200 && len < 0; tries++) {
		len = kfd >= 0 ? read(kfd, kmsg, sizeof(kmsg) - 1) : -1;
		if (len < 0)
			usleep(10000);
	}
	if (len > 0)
		kmsg[len] = '\0';
	STEP(len > 0 && strstr(kmsg, "DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr "
				     "0x3000"), "/dev/kmsg: %.*s", len > 0 ? (int)len - 1 : 0, kmsg);
	len = read(kfd, kmsg, sizeof(kmsg));
	STEP(len < 0 && errno == EAGAIN, "the fault is logged once");

	/* Gratuitous device reset and go... */
	STEP(ioctl(device, VFIO_DEVICE_RESET) == 0, "reset");

	munmap((void *)bar, bar0.size);
	close(kfd);
	close(efd);
	close(device);
	close(group);
	close(container);
	munmap(buf, 1024 * 1024);
	printf("%s\n", failures ? "FAILED" : "PASSED");
	return failures ? 1 : 0;
}

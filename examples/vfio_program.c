/* SPDX-License-Identifier: MIT */
/*
 * An ordinary VFIO program: it knows nothing of softvfio and uses only libc
 * and <linux/vfio.h>, as a userspace driver does on a real machine. Run it
 * under `softvfio exec` and it finds an emulated edu PCI device (QEMU's
 * educational device, 1234:11e8) at 0000:00:03.0 with its IOMMU group:
 *
 *     softvfio exec -- ./vfio_program
 *
 * It opens the container and the group, maps a buffer for DMA, reads the
 * device's IDs from config space, has the device copy 4 KiB from the buffer
 * into its own memory and back to another part of the buffer through the
 * emulated IOMMU, checks the copy, and unmaps. Every call is checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#define BDF       "0000:00:03.0"
#define IOVA      0x100000ULL   /* below the edu's 28-bit DMA mask */
#define BUF_SIZE  (64u << 10)
#define COPY_LEN  4096u

/* The edu device's BAR0 registers (QEMU's docs/specs/edu.rst). */
#define EDU_DMA_SRC   0x80
#define EDU_DMA_DST   0x88
#define EDU_DMA_COUNT 0x90
#define EDU_DMA_CMD   0x98
#define EDU_CMD_START 0x1
#define EDU_CMD_TO_RAM 0x2      /* direction: device memory to RAM */
#define EDU_MEM       0x40000   /* the device's own buffer, in its address space */

static int die(const char *what)
{
	fprintf(stderr, "vfio_program: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void reg_write(int dev, uint64_t bar0, uint64_t reg, uint64_t v)
{
	if (pwrite(dev, &v, sizeof(v), (off_t)(bar0 + reg)) != sizeof(v))
		die("BAR0 write");
}

static uint64_t reg_read(int dev, uint64_t bar0, uint64_t reg)
{
	uint64_t v;

	if (pread(dev, &v, sizeof(v), (off_t)(bar0 + reg)) != sizeof(v))
		die("BAR0 read");
	return v;
}

/* One edu DMA of COPY_LEN bytes; waits until the device clears START. */
static void edu_dma(int dev, uint64_t bar0, uint64_t src, uint64_t dst, uint64_t cmd)
{
	reg_write(dev, bar0, EDU_DMA_SRC, src);
	reg_write(dev, bar0, EDU_DMA_DST, dst);
	reg_write(dev, bar0, EDU_DMA_COUNT, COPY_LEN);
	reg_write(dev, bar0, EDU_DMA_CMD, cmd | EDU_CMD_START);
	for (int i = 0; reg_read(dev, bar0, EDU_DMA_CMD) & EDU_CMD_START; i++) {
		if (i == 10000) {
			fprintf(stderr, "vfio_program: the DMA did not complete\n");
			exit(1);
		}
		nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
	}
}

int main(void)
{
	char link[256], *slash;
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	struct vfio_region_info bar = { .argsz = sizeof(bar), .index = VFIO_PCI_BAR0_REGION_INDEX };
	uint16_t ids[2];
	uint8_t *buf;
	ssize_t n;
	int container, group, dev;

	/* Which IOMMU group the device is in: sysfs says, as on Linux. */
	n = readlink("/sys/bus/pci/devices/" BDF "/iommu_group", link, sizeof(link) - 1);
	if (n < 0)
		die("readlink iommu_group (run me under softvfio exec)");
	link[n] = '\0';
	slash = strrchr(link, '/');
	char group_path[300];
	snprintf(group_path, sizeof(group_path), "/dev/vfio/%s", slash ? slash + 1 : link);

	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0)
		die("open /dev/vfio/vfio");
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1) {
		fprintf(stderr, "vfio_program: no type1v2 IOMMU\n");
		return 1;
	}
	group = open(group_path, O_RDWR);
	if (group < 0)
		die(group_path);
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status))
		die("VFIO_GROUP_GET_STATUS");
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		fprintf(stderr, "vfio_program: group not viable\n");
		return 1;
	}
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container))
		die("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		die("VFIO_SET_IOMMU");

	/* Memory the device may read and write, at IOVA 1 MiB. */
	buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	for (unsigned i = 0; i < COPY_LEN; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	memset(buf + COPY_LEN, 0, COPY_LEN);
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)buf, .iova = IOVA, .size = BUF_SIZE,
	};
	if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map))
		die("VFIO_IOMMU_MAP_DMA");

	dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, BDF);
	if (dev < 0)
		die("VFIO_GROUP_GET_DEVICE_FD");
	if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &cfg) ||
	    ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &bar))
		die("VFIO_DEVICE_GET_REGION_INFO");
	if (pread(dev, ids, sizeof(ids), (off_t)cfg.offset) != sizeof(ids))
		die("config space read");
	printf("device %s: vendor 0x%04x device 0x%04x, BAR0 %llu bytes\n", BDF, ids[0], ids[1],
	       (unsigned long long)bar.size);
	if (ids[0] != 0x1234 || ids[1] != 0x11e8) {
		fprintf(stderr, "vfio_program: not an edu device\n");
		return 1;
	}

	/* Memory space and bus mastering on, then RAM -> device memory -> RAM, 4 KiB further on. */
	uint16_t command;
	if (pread(dev, &command, 2, (off_t)cfg.offset + 4) != 2)
		die("config read");
	command |= 0x6; /* memory space (BAR access; vfio-pci answers EIO without) and bus master */
	if (pwrite(dev, &command, 2, (off_t)cfg.offset + 4) != 2)
		die("config write");
	edu_dma(dev, bar.offset, IOVA, EDU_MEM, 0);
	edu_dma(dev, bar.offset, EDU_MEM, IOVA + COPY_LEN, EDU_CMD_TO_RAM);
	if (memcmp(buf, buf + COPY_LEN, COPY_LEN)) {
		fprintf(stderr, "vfio_program: the device's copy differs\n");
		return 1;
	}
	printf("the device copied %u bytes through the IOMMU and back\n", COPY_LEN);

	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = IOVA, .size = BUF_SIZE,
	};
	if (ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) || unmap.size != BUF_SIZE)
		die("VFIO_IOMMU_UNMAP_DMA");
	close(dev);
	close(group);
	close(container);
	munmap(buf, BUF_SIZE);
	return 0;
}

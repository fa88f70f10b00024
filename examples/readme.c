/* SPDX-License-Identifier: MIT */
/* The README's example: map a buffer, let a device write it, unmap. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <softvfio/device.h>
#include <softvfio/softvfio.h>

int main(void)
{
	size_t len = 1 << 20;
	unsigned char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct svf_device_config dc = { .threads = 1 };
	struct svf_container *c;
	struct svf_device *dev;
	long rc;

	if (buf == MAP_FAILED)
		return 1;
	/* Pins this process's memory, gather policy, one emulated VT-d domain. */
	rc = svf_container_create(NULL, &c);
	if (rc) {
		fprintf(stderr, "svf_container_create: %s\n", strerror((int)-rc));
		return 1;
	}
	/* From here on, the requests and structs of <linux/vfio.h>. */
	rc = softvfio_ioctl(c, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU);
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (unsigned long)buf, .iova = 0x100000, .size = len,
	};
	if (!rc)
		rc = softvfio_ioctl(c, VFIO_IOMMU_MAP_DMA, &map); /* 0 or -errno, as Linux */
	if (!rc)
		rc = svf_device_create(c, &dc, &dev);
	if (!rc) {
		/* The device writes 7 over 64 bytes at IOVA 0x100000: the CPU sees it. */
		struct svf_dma_req wr = { .access = SVF_PROT_WRITE, .iova = 0x100000,
					  .len = 64, .byte = 7 };

		rc = svf_device_dma(dev, &wr) == 0 && buf[63] == 7 ? 0 : -EIO;
		svf_device_destroy(dev);
	}
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = 0x100000, .size = len,
	};
	if (!rc)
		rc = softvfio_ioctl(c, VFIO_IOMMU_UNMAP_DMA, &unmap);
	if (rc)
		fprintf(stderr, "softvfio: %s\n", strerror((int)-rc));
	else
		printf("device wrote 64 bytes; unmapped 0x%llx bytes\n",
		       (unsigned long long)unmap.size);
	svf_container_destroy(c); /* unmaps whatever is left */
	return rc != 0;
}

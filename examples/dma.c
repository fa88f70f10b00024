/* SPDX-License-Identifier: MIT */
/*
 * The library flow, start to end: a container with one emulated VT-d
 * domain, a real buffer of this process mapped for DMA, an emulated device
 * writing and reading it through the IOMMU, a DMA to an address that is not
 * mapped (a fault, read back from the fault records), the counters, the
 * unmap, and the teardown. Every call's result is checked.
 *
 * Build after `meson install`:
 *     cc dma.c $(pkg-config --cflags --libs softvfio) -o dma
 * The buffer is locked in memory (mlock) while it is mapped, as VFIO pins
 * it: 2 MiB fits the default RLIMIT_MEMLOCK of an ordinary user.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <softvfio/device.h>
#include <softvfio/softvfio.h>

#define BUF_SIZE (2u << 20) /* bytes mapped */
#define IOVA     0x100000u  /* where the device sees them */

/* Print what failed with its errno (the library returns -errno) and give up. */
static int fail(const char *what, long rc)
{
	fprintf(stderr, "dma: %s: %s\n", what, strerror((int)-rc));
	return 1;
}

int main(void)
{
	struct svf_container *c = NULL;
	struct svf_device *dev = NULL;
	struct svf_dma_fault faults[4];
	struct svf_stats st;
	size_t nfaults = 0;
	bool overflow = false;
	uint8_t *buf;
	long rc;
	int ret = 1;

	/* Page-aligned memory of this process: what a VMM maps as guest RAM. */
	buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return fail("mmap", -errno);
	memset(buf, 0, BUF_SIZE);

	/* NULL config: pins this process's memory, gather policy, one VT-d domain. */
	rc = svf_container_create(NULL, &c);
	if (rc)
		return fail("svf_container_create", rc);

	/* What a VMM does on /dev/vfio/vfio, with the same structs and numbers. */
	rc = softvfio_ioctl(c, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU);
	if (rc) {
		fail("VFIO_SET_IOMMU", rc);
		goto out;
	}
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)buf,
		.iova = IOVA,
		.size = BUF_SIZE,
	};
	rc = softvfio_ioctl(c, VFIO_IOMMU_MAP_DMA, &map);
	if (rc) {
		/* -ENOMEM here usually means RLIMIT_MEMLOCK (ulimit -l) is below 2 MiB. */
		fail("VFIO_IOMMU_MAP_DMA", rc);
		goto out;
	}

	/* A device behind the container's domain, with one DMA thread. */
	struct svf_device_config dc = { .threads = 1 };
	rc = svf_device_create(c, &dc, &dev);
	if (rc) {
		fail("svf_device_create", rc);
		goto out;
	}

	/* The device writes 0xab over 8 KiB at IOVA + 4 KiB: the CPU sees it in buf. */
	struct svf_dma_req wr = { .access = SVF_PROT_WRITE, .iova = IOVA + 4096, .len = 8192,
				  .byte = 0xab };
	rc = svf_device_dma(dev, &wr);
	if (rc != 0) {
		fprintf(stderr, "dma: device write: status %ld\n", rc);
		goto out;
	}
	if (buf[4096] != 0xab || buf[4096 + 8191] != 0xab || buf[4095] != 0 || buf[4096 + 8192] != 0) {
		fprintf(stderr, "dma: the device's write is not where it should be\n");
		goto out;
	}

	/* The CPU writes, the device reads back and sums the bytes. */
	memset(buf, 1, 4096);
	struct svf_dma_req rd = { .access = SVF_PROT_READ, .iova = IOVA, .len = 4096 };
	rc = svf_device_dma(dev, &rd);
	if (rc != 0 || rd.sum != 4096) {
		fprintf(stderr, "dma: device read: status %ld, sum %" PRIu32 "\n", rc, rd.sum);
		goto out;
	}

	/* Nothing is mapped below IOVA: the device faults, as a real one would. */
	struct svf_dma_req bad = { .access = SVF_PROT_READ, .iova = IOVA - 4096, .len = 16 };
	rc = svf_device_dma(dev, &bad);
	if (rc != 1) {
		fprintf(stderr, "dma: a DMA to an unmapped IOVA did not fault (status %ld)\n", rc);
		goto out;
	}
	rc = svf_device_read_faults(dev, faults, 4, &nfaults, &overflow);
	if (rc) {
		fail("svf_device_read_faults", rc);
		goto out;
	}
	for (size_t i = 0; i < nfaults; i++)
		printf("fault: iova 0x%" PRIx64 " %s, reason %d (%s)\n", faults[i].iova,
		       faults[i].access == SVF_PROT_WRITE ? "write" : "read", faults[i].reason,
		       faults[i].err == -ENOENT ? "no translation" : "no permission");
	if (nfaults != 1 || faults[0].iova != IOVA - 4096) {
		fprintf(stderr, "dma: expected one fault record at 0x%x\n", IOVA - 4096);
		goto out;
	}

	/* The device goes before its domain does. */
	svf_device_destroy(dev);
	dev = NULL;

	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = IOVA, .size = BUF_SIZE,
	};
	rc = softvfio_ioctl(c, VFIO_IOMMU_UNMAP_DMA, &unmap);
	if (rc) {
		fail("VFIO_IOMMU_UNMAP_DMA", rc);
		goto out;
	}
	printf("unmapped 0x%llx bytes\n", (unsigned long long)unmap.size);

	svf_container_get_stats(c, &st);
	printf("pages pinned %" PRIu64 ", unpinned %" PRIu64 ", IOTLB waits %" PRIu64
	       ", page invalidations %" PRIu64 ", DMA requests %" PRIu64 ", faults %" PRIu64 "\n",
	       st.pages_pinned, st.pages_unpinned, st.waits, st.inv_page, st.dma_requests,
	       st.dma_faults);
	if (st.pinned_now != 0 || st.pages_pinned != BUF_SIZE / 4096) {
		fprintf(stderr, "dma: pins did not come back\n");
		goto out;
	}
	ret = 0;
out:
	if (dev)
		svf_device_destroy(dev);
	svf_container_destroy(c);
	munmap(buf, BUF_SIZE);
	return ret;
}

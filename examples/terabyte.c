/* SPDX-License-Identifier: MIT */
/*
 * A synthetic terabyte guest: the synthetic pinning backend has no memory
 * behind its addresses and makes up physical frames in a chosen layout, so
 * a 1 TiB guest can be mapped, translated by a device, and torn down on a
 * machine with a few GiB. The page tables are real (about 4 MiB of them for
 * 1 TiB in 2 MiB pages). Every call's result is checked.
 *
 * Build after `meson install`:
 *     cc terabyte.c $(pkg-config --cflags --libs softvfio) -o terabyte
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <softvfio/device.h>
#include <softvfio/softvfio.h>

#define GUEST_SIZE (1ULL << 40) /* 1 TiB */
#define GUEST_IOVA (1ULL << 40) /* at IOVA 1 TiB, inside the 48-bit aperture */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, long rc)
{
	fprintf(stderr, "terabyte: %s: %s\n", what, strerror((int)-rc));
	return 1;
}

int main(void)
{
	/* Physical memory in 2 MiB runs, each run apart from the next. */
	struct svf_pinner_config pc = { .backend = SVF_BACKEND_SYNTHETIC,
					.layout = SVF_LAYOUT_RUNS2M, .phys_base = 1ULL << 32 };
	struct svf_container_config cc;
	struct svf_container *c = NULL;
	struct svf_pinner *p = NULL;
	struct svf_device *dev = NULL;
	struct svf_stats st;
	double t0, t_map, t_unmap;
	long rc;
	int ret = 1;

	rc = svf_pinner_create(&pc, &p);
	if (rc)
		return fail("svf_pinner_create", rc);
	svf_container_default_config(&cc);
	cc.pinner = p; /* ours: it must outlive the container */
	rc = svf_container_create(&cc, &c);
	if (rc) {
		fail("svf_container_create", rc);
		goto out;
	}
	rc = softvfio_ioctl(c, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU);
	if (rc) {
		fail("VFIO_SET_IOMMU", rc);
		goto out;
	}

	/* With the synthetic backend a vaddr is only a number: 0 is fine. */
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = 0, .iova = GUEST_IOVA, .size = GUEST_SIZE,
	};
	t0 = now_s();
	rc = softvfio_ioctl(c, VFIO_IOMMU_MAP_DMA, &map);
	t_map = now_s() - t0;
	if (rc) {
		fail("VFIO_IOMMU_MAP_DMA of 1 TiB", rc);
		goto out;
	}

	/* A device translates the last page of the guest (no memory to touch). */
	struct svf_device_config dc = { .threads = 1 };
	rc = svf_device_create(c, &dc, &dev);
	if (rc) {
		fail("svf_device_create", rc);
		goto out;
	}
	struct svf_dma_req rd = { .access = SVF_PROT_READ, .iova = GUEST_IOVA + GUEST_SIZE - 4096,
				  .len = 4096 };
	rc = svf_device_dma(dev, &rd);
	if (rc != 0) {
		fprintf(stderr, "terabyte: DMA at the guest's end: status %ld\n", rc);
		goto out;
	}
	svf_device_destroy(dev);
	dev = NULL;

	svf_container_get_stats(c, &st);
	printf("mapped 1 TiB in %.2f s: %" PRIu64 " pages pinned, %" PRIu64
	       " page-table pages (%" PRIu64 " KiB)\n",
	       t_map, st.pages_pinned, st.pt_pages, st.pt_pages * 4);

	/* The VM goes away: one unmap-all, as a VMM does at exit. */
	struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap),
						    .flags = VFIO_DMA_UNMAP_FLAG_ALL };
	t0 = now_s();
	rc = softvfio_ioctl(c, VFIO_IOMMU_UNMAP_DMA, &unmap);
	t_unmap = now_s() - t0;
	if (rc) {
		fail("VFIO_IOMMU_UNMAP_DMA (all)", rc);
		goto out;
	}
	svf_container_get_stats(c, &st);
	printf("unmapped 0x%llx bytes in %.2f s: %" PRIu64 " IOTLB waits, %" PRIu64
	       " page-selective and %" PRIu64 " domain-selective invalidations\n",
	       (unsigned long long)unmap.size, t_unmap, st.waits, st.inv_page, st.inv_domain);
	if (unmap.size != GUEST_SIZE || st.pinned_now != 0) {
		fprintf(stderr, "terabyte: the unmap did not return everything\n");
		goto out;
	}
	ret = 0;
out:
	if (dev)
		svf_device_destroy(dev);
	svf_container_destroy(c);
	svf_pinner_destroy(p);
	return ret;
}

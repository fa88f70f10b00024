/* SPDX-License-Identifier: MIT */
/*
 * The sysfs view (and /dev/vfio's directory): a real directory tree that
 * mirrors the parts of /sys a VFIO program reads, and the redirection of
 * the usual paths into it.
 *
 * Tree (ROOT is SOFTVFIO_SYSFS; paths relative to ROOT mirror /sys):
 *   devices/pci0000:00/BDF/{vendor,device,subsystem_vendor,subsystem_device,
 *       class,revision,resource,numa_node,irq,enable,config}
 *   devices/pci0000:00/BDF/iommu_group -> ../../../kernel/iommu_groups/N
 *   devices/pci0000:00/BDF/driver -> ../../../bus/pci/drivers/vfio-pci
 *   devices/pci0000:00/BDF/subsystem -> ../../../bus/pci
 *   devices/pci0000:00/BDF/iommu -> ../../virtual/iommu/dmar0 (AMD-Vi: ivhd0)
 *   devices/virtual/iommu/dmar0/intel-iommu/{cap,ecap,version,address}
 *       (AMD-Vi: devices/virtual/iommu/ivhd0, without amd-iommu/)
 *   bus/pci/devices/BDF -> ../../../devices/pci0000:00/BDF (and the
 *       machine's own devices, as absolute links into the real /sys)
 *   bus/pci/drivers/vfio-pci/BDF -> ../../../../devices/pci0000:00/BDF
 *   kernel/iommu_groups/N/devices/BDF -> ../../../../devices/pci0000:00/BDF
 *   kernel/iommu_groups/N/{type,reserved_regions}
 *   module/{vfio,vfio_pci,vfio_iommu_type1}/parameters/...
 *   .softvfio/dev/vfio/{vfio,N...}   what readdir of /dev/vfio lists
 *
 * Redirection: a path equal to, or below, one of the shadowed prefixes
 * (/sys/bus/pci/devices, /sys/devices/pci0000:00/BDF for each device,
 * /sys/devices/virtual/iommu/dmar0 or ivhd0, /sys/bus/pci/drivers/vfio-pci,
 * /sys/kernel/iommu_groups, /sys/module/{vfio,vfio_pci,vfio_iommu_type1},
 * /dev/vfio) is rewritten to the same place under ROOT. A device at a BDF
 * the machine has too shadows the machine's on every such path. Paths
 * spelled otherwise (with "//" or ".." before the prefix) reach the real
 * /sys.
 *
 * Lifetime: the prefixes are built once by pv_sysfs_init() and immutable
 * after it, so pv_sysfs_redirect() takes no lock.
 */
#ifndef SVF_PRELOAD_SYSFS_H
#define SVF_PRELOAD_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the tree says of one device. */
struct pv_sysfs_dev {
	char bdf[16];           /* "0000:00:03.0" */
	unsigned group;
	uint8_t config[256];    /* config space as the device presents it at start */
	uint64_t bar_start[6], bar_size[6];
	unsigned long bar_flags[6]; /* Linux IORESOURCE_* flags of each BAR */
};

struct pv_sysfs_info {
	unsigned nr_devs;
	struct pv_sysfs_dev dev[16];
	bool amd;                 /* an AMD-Vi unit (ivhd0) instead of VT-d's dmar0 */
	uint64_t vtd_cap, vtd_ecap; /* VT-d only */
	unsigned dma_entry_limit;
};

/*
 * Use ROOT (NULL: a new temporary directory, removed by pv_sysfs_fini in
 * this process). Writes the tree unless ROOT already holds one (a marker
 * file, written last, says so). 0 or -errno.
 */
int pv_sysfs_init(const char *root, const struct pv_sysfs_info *info);
/* Removes the tree when pv_sysfs_init made its directory. */
void pv_sysfs_fini(void);
const char *pv_sysfs_root(void);

/*
 * path, or its rewrite into buf (len bytes) when it lies under a
 * shadowed prefix. Never fails: a rewrite that does not fit returns path.
 */
const char *pv_sysfs_redirect_slow(const char *path, char *buf, size_t len);

static inline const char *pv_sysfs_redirect(const char *path, char *buf, size_t len)
{
	/* Fast path: only "/sys/..." and "/dev/vfio..." can be ours. */
	if (__builtin_expect(!path || path[0] != '/', 1) ||
	    __builtin_expect(path[1] != 's' && path[1] != 'd', 1) ||
	    __builtin_expect(path[2] != 'y' && path[2] != 'e', 1))
		return path;
	return pv_sysfs_redirect_slow(path, buf, len);
}

/*
 * A path the real realpath() resolved inside ROOT, turned back into the
 * path the program would see (/sys/... or /dev/vfio/...), in place. A
 * path outside ROOT is left alone.
 */
void pv_sysfs_unredirect(char *resolved, size_t len);

#endif

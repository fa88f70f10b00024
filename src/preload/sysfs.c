/* SPDX-License-Identifier: MIT */
/*
 * The sysfs view (sysfs.h): writing the tree, and rewriting paths into it.
 *
 * The tree is written with the real libc entries (real.h), never through
 * this library's own wrappers, so writing it cannot recurse into the
 * redirection it serves. Values follow what Linux's drivers/pci/pci-sysfs.c
 * and the VFIO modules print: "0x%04x\n" ids, "0x%06x\n" class, 13
 * "0x%016llx 0x%016llx 0x%016llx\n" resource lines for a non-bridge, "N\n"
 * for boolean module parameters.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "real.h"
#include "sysfs.h"

#define MAX_PREFIXES 48

struct prefix {
	const char *from; /* "/sys/kernel/iommu_groups" */
	size_t from_len;
	char *to;         /* ROOT + "/kernel/iommu_groups" */
	size_t to_len;
};

static char root[PATH_MAX];
static size_t root_len;
static bool root_owned;
static pid_t root_owner;
static struct prefix prefixes[MAX_PREFIXES];
static unsigned nr_prefixes;
static char dev_prefix_store[16][48];

const char *pv_sysfs_root(void)
{
	return root_len ? root : NULL;
}

static int add_prefix(const char *from, const char *to_rel)
{
	size_t n;

	if (nr_prefixes >= MAX_PREFIXES)
		return -ENOSPC;
	n = root_len + strlen(to_rel) + 1;
	prefixes[nr_prefixes].to = malloc(n);
	if (!prefixes[nr_prefixes].to)
		return -ENOMEM;
	snprintf(prefixes[nr_prefixes].to, n, "%s%s", root, to_rel);
	prefixes[nr_prefixes].to_len = n - 1;
	prefixes[nr_prefixes].from = from;
	prefixes[nr_prefixes].from_len = strlen(from);
	nr_prefixes++;
	return 0;
}

const char *pv_sysfs_redirect_slow(const char *path, char *buf, size_t len)
{
	for (unsigned i = 0; i < nr_prefixes; i++) {
		const struct prefix *p = &prefixes[i];
		size_t rest;

		if (strncmp(path, p->from, p->from_len) != 0)
			continue;
		if (path[p->from_len] != '\0' && path[p->from_len] != '/')
			continue;
		rest = strlen(path + p->from_len);
		if (p->to_len + rest + 1 > len)
			return path;
		memcpy(buf, p->to, p->to_len);
		memcpy(buf + p->to_len, path + p->from_len, rest + 1);
		return buf;
	}
	return path;
}

void pv_sysfs_unredirect(char *resolved, size_t len)
{
	static const char devdir[] = "/.softvfio/dev";
	const char *rest;
	char tmp[PATH_MAX];

	if (!root_len || strncmp(resolved, root, root_len) != 0 ||
	    (resolved[root_len] != '\0' && resolved[root_len] != '/'))
		return;
	rest = resolved + root_len;
	if (!strncmp(rest, devdir, sizeof(devdir) - 1) &&
	    (rest[sizeof(devdir) - 1] == '\0' || rest[sizeof(devdir) - 1] == '/'))
		snprintf(tmp, sizeof(tmp), "/dev%s", rest + sizeof(devdir) - 1);
	else
		snprintf(tmp, sizeof(tmp), "/sys%s", rest);
	if (strlen(tmp) < len)
		strcpy(resolved, tmp);
}

/* ---- writing the tree ---- */

static int mkdirs(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int put_file(const char *rel, const void *data, size_t n);
static int put_text(const char *rel, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* root, '/', then fmt's expansion into path (PATH_MAX bytes, truncated). */
static void tree_vpath(char *path, const char *fmt, va_list ap)
{
	int n = snprintf(path, PATH_MAX, "%s/", root);

	vsnprintf(path + n, PATH_MAX - (size_t)n, fmt, ap);
}

static int mkdirs(const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	tree_vpath(path, fmt, ap);
	va_end(ap);
	for (char *p = path + root_len + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int put_file(const char *rel, const void *data, size_t n)
{
	char path[PATH_MAX];
	ssize_t w;
	int fd, rc = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = pv_real.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	w = write(fd, data, n);
	if (w < 0)
		rc = -errno;
	else if ((size_t)w != n)
		rc = -EIO;
	pv_real.close(fd);
	return rc;
}

static int put_text(const char *rel, const char *fmt, ...)
{
	char text[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(text))
		return -ENOSPC;
	return put_file(rel, text, (size_t)n);
}

static int put_link(const char *target, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int put_link(const char *target, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	tree_vpath(path, fmt, ap);
	va_end(ap);
	if (symlink(target, path) && errno != EEXIST)
		return -errno;
	return 0;
}

static uint16_t cfg16(const uint8_t *c, unsigned off)
{
	return (uint16_t)(c[off] | c[off + 1] << 8);
}

static int write_device(const struct pv_sysfs_dev *d, const char *unit)
{
	char dir[96], rel[160], res[13 * 64];
	const uint8_t *c = d->config;
	size_t n = 0;
	int rc;

	/* devices/pciDDDD:BB/BDF: the bus part of the BDF names the host bridge. */
	snprintf(dir, sizeof(dir), "devices/pci%.7s/%s", d->bdf, d->bdf);
	rc = mkdirs("%s", dir);
	if (rc)
		return rc;
#define TEXT(name, ...)                                                 \
	do {                                                            \
		snprintf(rel, sizeof(rel), "%s/%s", dir, name);         \
		rc = put_text(rel, __VA_ARGS__);                        \
		if (rc)                                                 \
			return rc;                                      \
	} while (0)
	TEXT("vendor", "0x%04x\n", cfg16(c, 0x00));
	TEXT("device", "0x%04x\n", cfg16(c, 0x02));
	TEXT("subsystem_vendor", "0x%04x\n", cfg16(c, 0x2c));
	TEXT("subsystem_device", "0x%04x\n", cfg16(c, 0x2e));
	TEXT("class", "0x%06x\n", (unsigned)(c[0x09] | c[0x0a] << 8 | c[0x0b] << 16));
	TEXT("revision", "0x%02x\n", c[0x08]);
	TEXT("numa_node", "-1\n");
	TEXT("irq", "%u\n", c[0x3c]);
	TEXT("enable", "1\n");
	TEXT("local_cpulist", "0\n");
	TEXT("modalias", "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X\n", cfg16(c, 0), cfg16(c, 2),
	     cfg16(c, 0x2c), cfg16(c, 0x2e), c[0x0b], c[0x0a], c[0x09]);
	for (unsigned i = 0; i < 13; i++) {
		uint64_t start = i < 6 ? d->bar_start[i] : 0, size = i < 6 ? d->bar_size[i] : 0;
		unsigned long flags = i < 6 ? d->bar_flags[i] : 0;

		n += (size_t)snprintf(res + n, sizeof(res) - n,
				      "0x%016" PRIx64 " 0x%016" PRIx64 " 0x%016lx\n", size ? start : 0,
				      size ? start + size - 1 : 0, size ? flags : 0);
	}
	snprintf(rel, sizeof(rel), "%s/resource", dir);
	rc = put_file(rel, res, n);
	if (rc)
		return rc;
	snprintf(rel, sizeof(rel), "%s/config", dir);
	rc = put_file(rel, d->config, sizeof(d->config));
	if (rc)
		return rc;
#undef TEXT
	rc = put_link("../../../bus/pci/drivers/vfio-pci", "%s/driver", dir);
	rc = rc ? rc : put_link("../../../bus/pci", "%s/subsystem", dir);
	snprintf(rel, sizeof(rel), "../../virtual/iommu/%s", unit);
	rc = rc ? rc : put_link(rel, "%s/iommu", dir);
	snprintf(rel, sizeof(rel), "../../../kernel/iommu_groups/%u", d->group);
	rc = rc ? rc : put_link(rel, "%s/iommu_group", dir);
	snprintf(rel, sizeof(rel), "../../../%s", dir);
	rc = rc ? rc : put_link(rel, "bus/pci/devices/%s", d->bdf);
	snprintf(rel, sizeof(rel), "../../../../%s", dir);
	rc = rc ? rc : put_link(rel, "bus/pci/drivers/vfio-pci/%s", d->bdf);
	rc = rc ? rc : mkdirs("kernel/iommu_groups/%u/devices", d->group);
	rc = rc ? rc : put_link(rel, "kernel/iommu_groups/%u/devices/%s", d->group, d->bdf);
	if (rc)
		return rc;
	snprintf(rel, sizeof(rel), "kernel/iommu_groups/%u/type", d->group);
	rc = put_text(rel, "DMA\n");
	snprintf(rel, sizeof(rel), "kernel/iommu_groups/%u/reserved_regions", d->group);
	rc = rc ? rc : put_text(rel, "0x00000000fee00000 0x00000000feefffff msi\n");
	snprintf(rel, sizeof(rel), ".softvfio/dev/vfio/%u", d->group);
	rc = rc ? rc : put_text(rel, "%s", "");
	return rc;
}

/* The machine's own PCI devices stay listed, as absolute links into /sys. */
static int link_real_devices(const struct pv_sysfs_info *info)
{
	DIR *dir = pv_real.opendir ? pv_real.opendir("/sys/bus/pci/devices") : NULL;
	struct dirent *e;
	char src[PATH_MAX], dst[PATH_MAX];
	int rc = 0;

	if (!dir)
		return 0; /* no PCI on this machine: nothing to list */
	while ((e = readdir(dir))) {
		bool ours = false;

		if (e->d_name[0] == '.')
			continue;
		for (unsigned i = 0; i < info->nr_devs; i++)
			ours |= !strcmp(e->d_name, info->dev[i].bdf);
		if (ours)
			continue;
		snprintf(src, sizeof(src), "/sys/bus/pci/devices/%s", e->d_name);
		if (!pv_real.realpath(src, dst))
			continue;
		rc = put_link(dst, "bus/pci/devices/%s", e->d_name);
		if (rc)
			break;
	}
	closedir(dir);
	return rc;
}

static int write_tree(const struct pv_sysfs_info *info)
{
	int rc;

	rc = mkdirs("bus/pci/devices");
	rc = rc ? rc : mkdirs("bus/pci/drivers/vfio-pci");
	rc = rc ? rc : mkdirs("kernel/iommu_groups");
	/*
	 * The unit: VT-d's dmar0 with its registers; AMD-Vi's ivhd0 without the
	 * amd-iommu attributes (cap, features), which would name registers the
	 * emulated unit does not model.
	 */
	rc = rc ? rc : mkdirs(info->amd ? "devices/virtual/iommu/ivhd0" :
					  "devices/virtual/iommu/dmar0/intel-iommu");
	rc = rc ? rc : mkdirs("module/vfio/parameters");
	rc = rc ? rc : mkdirs("module/vfio_pci/parameters");
	rc = rc ? rc : mkdirs("module/vfio_iommu_type1/parameters");
	rc = rc ? rc : mkdirs(".softvfio/dev/vfio");
	if (rc)
		return rc;
	for (unsigned i = 0; i < info->nr_devs && !rc; i++)
		rc = write_device(&info->dev[i], info->amd ? "ivhd0" : "dmar0");
	if (!info->amd) {
		rc = rc ? rc : put_text("devices/virtual/iommu/dmar0/intel-iommu/cap",
					"%" PRIx64 "\n", info->vtd_cap);
		rc = rc ? rc : put_text("devices/virtual/iommu/dmar0/intel-iommu/ecap",
					"%" PRIx64 "\n", info->vtd_ecap);
		rc = rc ? rc : put_text("devices/virtual/iommu/dmar0/intel-iommu/version", "1:0\n");
		rc = rc ? rc : put_text("devices/virtual/iommu/dmar0/intel-iommu/address",
					"fed90000\n");
	}
	rc = rc ? rc : put_text("module/vfio/parameters/enable_unsafe_noiommu_mode", "N\n");
	rc = rc ? rc : put_text("module/vfio_pci/parameters/ids", "\n");
	rc = rc ? rc : put_text("module/vfio_pci/parameters/nointxmask", "N\n");
	rc = rc ? rc : put_text("module/vfio_pci/parameters/disable_vga", "N\n");
	rc = rc ? rc : put_text("module/vfio_pci/parameters/disable_idle_d3", "N\n");
	rc = rc ? rc : put_text("module/vfio_pci/parameters/enable_sriov", "N\n");
	rc = rc ? rc : put_text("module/vfio_pci/parameters/disable_denylist", "N\n");
	rc = rc ? rc : put_text("module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n");
	rc = rc ? rc : put_text("module/vfio_iommu_type1/parameters/disable_hugepages", "N\n");
	rc = rc ? rc : put_text("module/vfio_iommu_type1/parameters/dma_entry_limit", "%u\n",
				info->dma_entry_limit);
	rc = rc ? rc : put_text(".softvfio/dev/vfio/vfio", "%s", "");
	rc = rc ? rc : link_real_devices(info);
	/* Last: the marker that says the tree is whole. */
	rc = rc ? rc : put_text(".softvfio/complete", "%d\n", (int)getpid());
	return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

static int build_prefixes(const struct pv_sysfs_info *info)
{
	static const char *const fixed[][2] = {
		{ "/sys/bus/pci/devices", "/bus/pci/devices" },
		{ "/sys/bus/pci/drivers/vfio-pci", "/bus/pci/drivers/vfio-pci" },
		{ "/sys/kernel/iommu_groups", "/kernel/iommu_groups" },
		{ "/sys/module/vfio", "/module/vfio" },
		{ "/sys/module/vfio_pci", "/module/vfio_pci" },
		{ "/sys/module/vfio_iommu_type1", "/module/vfio_iommu_type1" },
		{ "/dev/vfio", "/.softvfio/dev/vfio" },
	};
	int rc;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		rc = add_prefix(fixed[i][0], fixed[i][1]);
		if (rc)
			return rc;
	}
	rc = info->amd ? add_prefix("/sys/devices/virtual/iommu/ivhd0", "/devices/virtual/iommu/ivhd0")
		       : add_prefix("/sys/devices/virtual/iommu/dmar0", "/devices/virtual/iommu/dmar0");
	if (rc)
		return rc;
	for (unsigned i = 0; i < info->nr_devs && i < 16; i++) {
		char *s = dev_prefix_store[i];

		snprintf(s, sizeof(dev_prefix_store[i]), "/sys/devices/pci%.7s/%s",
			 info->dev[i].bdf, info->dev[i].bdf);
		rc = add_prefix(s, s + 4);
		if (rc)
			return rc;
	}
	return 0;
}

int pv_sysfs_init(const char *dir, const struct pv_sysfs_info *info)
{
	char marker[PATH_MAX + 32];
	struct stat st;
	int rc;

	if (dir && *dir) {
		if (strlen(dir) >= sizeof(root) - 64)
			return -ENAMETOOLONG;
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
		if (!pv_real.realpath(dir, root))
			return -errno;
	} else {
		const char *tmp = getenv("TMPDIR");

		snprintf(root, sizeof(root), "%s/softvfio-sysfs.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(root))
			return -errno;
		root_owned = true;
		root_owner = getpid();
	}
	root_len = strlen(root);
	rc = build_prefixes(info);
	if (rc)
		goto err;
	snprintf(marker, sizeof(marker), "%s/.softvfio/complete", root);
	if (pv_real.stat(marker, &st) == 0)
		return 0; /* another process of this run wrote it */
	rc = write_tree(info);
	if (rc)
		goto err;
	return 0;
err:
	pv_sysfs_fini();
	root_len = 0;
	nr_prefixes = 0;
	return rc;
}

void pv_sysfs_fini(void)
{
	if (root_owned && root_owner == getpid())
		nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	root_owned = false;
}

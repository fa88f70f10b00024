/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the benchmarks (see bench_common.h): clocks, counter
 * deltas, memory samples, and the formatting of figures for people.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "bench_common.h"

uint64_t svf_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t svf_bench_bookkeeping(struct svf_container *c, struct svf_pinner *p)
{
	struct svf_stats s;

	svf_container_get_stats(c, &s);
	return s.bookkeeping_bytes + svf_pinner_bookkeeping_bytes(p);
}

void svf_stats_delta(const struct svf_stats *before, const struct svf_stats *after,
		     struct svf_stats *d)
{
#define DELTA(name, kind, what) \
	d->name = (kind) == SVF_STAT_COUNT ? after->name - before->name : after->name;
	SVF_STATS_FIELDS(DELTA)
#undef DELTA
}

uint64_t svf_rss_bytes(void)
{
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/statm", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (n != 2 || page <= 0)
		return 0;
	return (uint64_t)resident * (uint64_t)page;
}

uint64_t svf_peak_rss_bytes(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)ru.ru_maxrss * 1024;
}

/* v with three significant digits (no exponent), then sep and unit. */
static void three_digits(double v, const char *sep, const char *unit, char *buf, size_t len)
{
	int decimals = v >= 99.95 ? 0 : v >= 9.995 ? 1 : 2;

	snprintf(buf, len, "%.*f%s%s", decimals, v, sep, unit);
}

void svf_human_bytes(uint64_t v, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	/* The largest unit that divides v; exact when that takes few digits. */
	while (u < 4 && v && v % (1024ULL << (10 * u)) == 0)
		u++;
	if ((v >> (10 * u)) < 10240 || u == 4) {
		snprintf(buf, len, "%" PRIu64 " %s", v >> (10 * u), unit[u]);
		return;
	}
	/* Rounded, and marked so: the largest unit v reaches, three digits. */
	for (u = 4; (v >> (10 * u)) == 0; u--)
		;
	if (!len)
		return;
	buf[0] = '\0';
	if (len > 1) {
		buf[0] = '~';
		three_digits((double)v / (double)(1ULL << (10 * u)), " ", unit[u], buf + 1, len - 1);
	}
}

void svf_human_ns(double ns, char *buf, size_t len)
{
	if (ns == 0)
		snprintf(buf, len, "0 ns");
	else if (ns < 0.995)
		snprintf(buf, len, "%.2f ns", ns);
	else if (ns < 999.5)
		three_digits(ns, " ", "ns", buf, len);
	else if (ns < 999.5e3)
		three_digits(ns / 1e3, " ", "us", buf, len);
	else if (ns < 999.5e6)
		three_digits(ns / 1e6, " ", "ms", buf, len);
	else
		three_digits(ns / 1e9, " ", "s", buf, len);
}

void svf_human_count(double v, char *buf, size_t len)
{
	static const char *const suffix[] = { "", "k", "M", "G", "T", "P" };
	unsigned s = 0;

	if (v < 999.5) {
		snprintf(buf, len, "%.0f", v);
		return;
	}
	while (s < 5 && v >= 999.5) {
		v /= 1000;
		s++;
	}
	three_digits(v, "", suffix[s], buf, len);
}

void svf_human_ratio(double value, double base, char *buf, size_t len)
{
	double r;

	if (base == 0) {
		snprintf(buf, len, "%s", value == 0 ? "-" : "n/a");
		return;
	}
	r = value / base;
	if (r == 0)
		snprintf(buf, len, "0");
	else if (r < 0.095)
		snprintf(buf, len, "1/%.0f", 1 / r);
	else if (r < 9.95)
		snprintf(buf, len, "%.2fx", r);
	else
		snprintf(buf, len, "%.0fx", r);
}

/* ---- the VFIO rig ---- */

void svf_bench_rig_close(struct svf_bench_rig *r)
{
	if (r->bar)
		munmap((void *)r->bar, r->bar_size);
	svf_vfio_device_close(r->d);
	svf_vfio_group_close(r->g);
	svf_container_destroy(r->c);
	svf_vfio_destroy(r->h);
	if (r->mem)
		munmap(r->mem, r->mem_size);
	memset(r, 0, sizeof(*r));
}

int svf_bench_rig_open(struct svf_bench_rig *r, const char *cmd, const char *kind,
		       const char *bdf, size_t mem_size, uint64_t mem_iova, size_t bar_size,
		       FILE *err)
{
	const uint64_t cfg_off = VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX);
	struct svf_pci_device_config dc = { .kind = kind, .bdf = bdf, .group = -1 };
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m) };
	struct svf_container_config cc;
	struct svf_vfio_device_desc desc;
	uint16_t pcicmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	size_t done;
	void *p;
	int rc, mfd;
	const char *what;

	memset(r, 0, sizeof(*r));
	r->mem_size = mem_size;
	r->bar_size = bar_size;
	svf_container_default_config(&cc);
	cc.attach_default_domain = false;
	what = "host";
	if ((rc = svf_vfio_create(NULL, &r->h)))
		goto fail;
	what = kind;
	if ((rc = svf_vfio_add_device(r->h, &dc, &desc)))
		goto fail;
	what = "container";
	if ((rc = svf_container_create(&cc, &r->c)))
		goto fail;
	what = "group";
	if ((rc = svf_vfio_group_open(r->h, desc.group, &r->g)) ||
	    (rc = svf_vfio_group_set_container(r->g, r->c)) ||
	    (rc = (int)softvfio_ioctl(r->c, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU)))
		goto fail;
	what = "DMA memory";
	p = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	r->mem = p;
	memset(r->mem, 0x5a, mem_size);
	m.vaddr = (uintptr_t)r->mem;
	m.iova = mem_iova;
	m.size = mem_size;
	m.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	if ((rc = (int)softvfio_ioctl(r->c, VFIO_IOMMU_MAP_DMA, &m)))
		goto fail;
	what = "device";
	if ((rc = svf_vfio_group_get_device(r->g, desc.name, &r->d)) ||
	    (rc = svf_vfio_device_write(r->d, &pcicmd, 2, cfg_off + PCI_COMMAND, &done)) ||
	    (rc = svf_vfio_device_memfd(r->d, &mfd)))
		goto fail;
	what = "BAR0 mapping";
	p = mmap(NULL, bar_size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	r->bar = p;
	return 0;
fail:
	fprintf(err, "softvfio %s: %s: %s\n", cmd, what, strerror(-rc));
	svf_bench_rig_close(r);
	return rc;
}

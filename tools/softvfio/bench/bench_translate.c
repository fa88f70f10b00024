/* SPDX-License-Identifier: MIT */
/*
 * `softvfio bench-translate` (bench_translate.h).
 *
 * Translation rows run svf_iommu_translate() inside one DMA section per
 * batch of 256 translations, on a synthetic domain (no memory is touched:
 * the row measures the IOMMU, not memcpy):
 *   hit     the same 4 KiB page again and again (the thread's last
 *           translation; an IOTLB probe when it is stale);
 *   miss    a sweep over `mappings` pages in order, each one past the
 *           IOTLB's reach: a page walk and a fill every time;
 *   random  uniformly random pages among `mappings` 4 KiB mappings (with
 *           64 x 8 IOTLB entries, mostly walks);
 *   regions uniformly random 4 KiB pages of four 4 GiB mappings, each
 *           IOVA- and physically aligned to 1 GiB, so the table holds 1 GiB
 *           leaves and 16 IOTLB entries cover all of it.
 * Each row runs single-threaded, then on `threads` threads at once (each
 * thread its own iterations; ns per translation per thread), then as a
 * floor on one thread: the same loop on a region hint with a linear search
 * (libvfio-user's shape) or a flat table. Every figure is the median of
 * groups of 16 batches, timed with the monotonic clock: preempted groups
 * are outliers on a shared machine, the median leaves them out.
 *
 * Unmap rows: a container per policy (synthetic backend), devices on every
 * thread but one doing random 4 KiB DMA over 64 mapped slots, while this
 * thread maps and unmaps a 4 KiB slot `unmaps` times; reported: the
 * unmap ioctl's median and 99th percentile latency, waits, and the wait
 * cost both as modeled device time and as real time spent as a barrier.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <softvfio/device.h>
#include <softvfio/softvfio.h>

#include "bench_translate.h"
#include "cli.h"
#include "tool.h"

#define BATCH 256u
#define GROUP 16u /* batches per timed group */
#define BASE_IOVA 0x100000000ull
/* The regions row: REGIONS mappings of REGION_SIZE, IOVA- and physically aligned to 1 GiB. */
#define REGIONS 4u
#define REGION_SIZE (4ull << 30)
#define REGION_IOVA 0x10000000000ull
#define REGION_PHYS 0x2000000000ull

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void svf_bench_translate_default_opts(struct svf_bench_translate_opts *o)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	memset(o, 0, sizeof(*o));
	o->threads = n > 0 ? (unsigned)n : 1;
	o->iters = 20000000;
	o->mappings = 65535;
	o->unmaps = 2000;
}

enum row_kind { ROW_HIT, ROW_MISS, ROW_RANDOM, ROW_REGIONS, ROW_NR };

/*
 * The floor each row is set beside, measured in the same run by the same
 * loop. hit and regions: a userspace driver's DMA table as libvfio-user
 * keeps it (an array of regions, a per-thread hint of the last region
 * used, a linear search when the hint misses), here written for the bench;
 * miss and random: one load from a flat array indexed by page number (the
 * least any table keyed by 4 KiB page can cost).
 */
struct floor_region {
	uint64_t iova, len, phys;
};

struct floor_table {
	const struct floor_region *r; /* regions (hint and search) */
	unsigned nr;
	const uint64_t *flat;         /* phys per page from BASE_IOVA (flat) */
};

static __thread unsigned floor_hint;

static __attribute__((noinline)) int floor_regions(const struct floor_table *t, uint64_t iova,
						   uint64_t *phys)
{
	const struct floor_region *r = &t->r[floor_hint];

	if (__builtin_expect(iova - r->iova < r->len, 1)) {
		*phys = r->phys + (iova - r->iova);
		return 0;
	}
	for (unsigned i = 0; i < t->nr; i++) {
		r = &t->r[i];
		if (iova - r->iova < r->len) {
			floor_hint = i;
			*phys = r->phys + (iova - r->iova);
			return 0;
		}
	}
	return -ENOENT;
}

static __attribute__((noinline)) int floor_flat(const struct floor_table *t, uint64_t iova,
						uint64_t *phys)
{
	*phys = t->flat[(iova - BASE_IOVA) >> 12] + (iova & 4095);
	return 0;
}

struct row_arg {
	struct svf_domain *d;          /* NULL: the floor */
	const struct floor_table *ft;
	enum row_kind kind;
	uint64_t iters;
	unsigned mappings;
	unsigned seed;
	pthread_barrier_t *start;
	double ns;        /* result: ns per translation, median group */
	uint64_t errors;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static inline uint64_t row_iova(enum row_kind kind, unsigned i, uint64_t *pos, uint64_t *s,
				unsigned mappings)
{
	switch (kind) {
	case ROW_HIT:
		return BASE_IOVA + 64 * (uint64_t)(i & 63);
	case ROW_MISS:
		return BASE_IOVA + ((*pos)++ % mappings) * 4096;
	default:
		*s ^= *s << 13;
		*s ^= *s >> 7;
		*s ^= *s << 17;
		if (kind == ROW_RANDOM)
			return BASE_IOVA + (*s >> 32) % mappings * 4096;
		/* a region, then a 4 KiB page in it */
		return REGION_IOVA + (*s >> 62) * 2 * REGION_SIZE +
		       ((*s >> 12) & (REGION_SIZE / 4096 - 1)) * 4096;
	}
}

/*
 * Each thread times groups of GROUP batches of BATCH translations and
 * reports the median group: a group the scheduler preempted (the machine
 * is shared) is an outlier the median ignores.
 */
static void *row_thread(void *p)
{
	struct row_arg *a = p;
	uint64_t groups = a->iters / (BATCH * GROUP), pos = 0, errors = 0;
	uint64_t s = 0x9e3779b97f4a7c15ull * a->seed;
	double *per = calloc(groups ? groups : 1, sizeof(*per));

	if (!per) {
		a->errors = 1;
		return NULL;
	}
	if (a->start)
		pthread_barrier_wait(a->start);
	for (uint64_t g = 0; g < groups; g++) {
		uint64_t t0 = now_ns();

		for (unsigned b = 0; b < GROUP; b++) {
			if (a->d) {
				svf_iommu_dma_begin(a->d);
				for (unsigned i = 0; i < BATCH; i++) {
					uint64_t phys, iova = row_iova(a->kind, i, &pos, &s, a->mappings);

					errors += svf_iommu_translate(a->d, iova, 1, &phys) != 0;
				}
				svf_iommu_dma_end(a->d);
			} else {
				for (unsigned i = 0; i < BATCH; i++) {
					uint64_t phys, iova = row_iova(a->kind, i, &pos, &s, a->mappings);

					errors += (a->kind == ROW_HIT || a->kind == ROW_REGIONS ?
							   floor_regions(a->ft, iova, &phys) :
							   floor_flat(a->ft, iova, &phys)) != 0;
				}
			}
		}
		per[g] = (double)(now_ns() - t0) / (BATCH * GROUP);
	}
	a->errors = errors;
	if (groups) {
		qsort(per, groups, sizeof(*per), cmp_double);
		a->ns = per[groups / 2];
	}
	free(per);
	return NULL;
}

/* One row on n threads (d NULL: the floor); *ns = the mean over threads of their medians. */
static int run_row(struct svf_domain *d, const struct floor_table *ft, enum row_kind kind,
		   const struct svf_bench_translate_opts *o, unsigned n, double *ns)
{
	struct row_arg *args = calloc(n, sizeof(*args));
	pthread_t *tids = calloc(n, sizeof(*tids));
	pthread_barrier_t start;
	uint64_t errors = 0;
	double sum = 0;
	int rc = 0;

	if (!args || !tids) {
		free(args);
		free(tids);
		return -ENOMEM;
	}
	pthread_barrier_init(&start, NULL, n);
	for (unsigned i = 0; i < n; i++) {
		args[i] = (struct row_arg){ .d = d, .ft = ft, .kind = kind, .iters = o->iters,
					    .mappings = o->mappings, .seed = i + 1, .start = &start };
		if (pthread_create(&tids[i], NULL, row_thread, &args[i])) {
			n = i;
			rc = -EAGAIN;
			break;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		pthread_join(tids[i], NULL);
		sum += args[i].ns;
		errors += args[i].errors;
	}
	pthread_barrier_destroy(&start);
	free(args);
	free(tids);
	if (!rc && errors)
		rc = -EIO;
	*ns = n ? sum / n : 0;
	return rc;
}

/* ---- unmap latency while devices run ---- */

#define SLOTS 64
#define SLOT_IOVA(i) (0x200000000ull + (uint64_t)(i) * 0x10000)

struct traffic {
	atomic_bool stop;
	unsigned seed[64];
};

static bool traffic_source(void *opaque, unsigned thread, struct svf_dma_req *req)
{
	struct traffic *t = opaque;
	unsigned *s = &t->seed[thread];

	if (atomic_load_explicit(&t->stop, memory_order_relaxed))
		return false;
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	req->access = (*s >> 20) & 1 ? 2 : 1;
	req->iova = SLOT_IOVA(*s % SLOTS);
	req->len = 4096;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int unmap_row(enum svf_policy policy, const struct svf_bench_translate_opts *o,
		     unsigned dev_threads, FILE *out)
{
	struct svf_pinner_config pc = { .backend = SVF_BACKEND_SYNTHETIC };
	struct traffic tr = { 0 };
	struct svf_device_config dc = {
		.threads = dev_threads, .source = traffic_source, .opaque = &tr,
	};
	struct svf_container_config cc;
	struct svf_iommu_config dic;
	struct svf_device *dev = NULL;
	struct svf_container *c = NULL;
	struct svf_pinner *p = NULL;
	struct svf_stats s0, s1;
	uint64_t *lat = calloc(o->unmaps, sizeof(*lat));
	int rc;

	if (!lat)
		return -ENOMEM;
	for (unsigned i = 0; i < 64; i++)
		tr.seed[i] = 0x9e3779b9u * (i + 1);
	rc = svf_pinner_create(&pc, &p);
	if (rc)
		goto out;
	svf_container_default_config(&cc);
	svf_tool_driver_config(o->driver, &dic);
	cc.iommu = &dic;
	cc.policy = policy;
	cc.pinner = p;
	rc = svf_container_create(&cc, &c);
	if (rc)
		goto out;
	rc = (int)softvfio_ioctl(c, VFIO_SET_IOMMU, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
	for (unsigned i = 1; !rc && i < SLOTS; i++) {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = 0x40000000ull + i * 0x10000, .iova = SLOT_IOVA(i), .size = 4096,
		};
		rc = (int)softvfio_ioctl(c, VFIO_IOMMU_MAP_DMA, &m);
	}
	if (rc)
		goto out;
	if (dev_threads) {
		rc = svf_device_create(c, &dc, &dev);
		if (rc)
			goto out;
	}
	usleep(10000);
	svf_container_get_stats(c, &s0);
	for (unsigned k = 0; k < o->unmaps; k++) {
		struct vfio_iommu_type1_dma_map m = {
			.argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = 0x40000000ull, .iova = SLOT_IOVA(0), .size = 4096,
		};
		struct vfio_iommu_type1_dma_unmap u = {
			.argsz = sizeof(u), .iova = SLOT_IOVA(0), .size = 4096,
		};
		uint64_t t0;

		rc = (int)softvfio_ioctl(c, VFIO_IOMMU_MAP_DMA, &m);
		if (rc)
			goto out;
		t0 = now_ns();
		rc = (int)softvfio_ioctl(c, VFIO_IOMMU_UNMAP_DMA, &u);
		lat[k] = now_ns() - t0;
		if (rc)
			goto out;
	}
	svf_container_get_stats(c, &s1);
	qsort(lat, o->unmaps, sizeof(*lat), cmp_u64);
	{
		/* Modeled: the descriptors and the wait themselves (device walks excluded). */
		struct svf_iommu_config ic;
		uint64_t waits = s1.waits - s0.waits;
		uint64_t descs = (s1.inv_page - s0.inv_page) + (s1.inv_domain - s0.inv_domain) +
				 (s1.inv_global - s0.inv_global);

		svf_tool_driver_config(o->driver, &ic);
		fprintf(out, "  %-8s %2u   %10.2f %10.2f %8" PRIu64 "   %12.0f %12.0f\n",
			svf_policy_name(policy), dev_threads, lat[o->unmaps / 2] / 1e3,
			lat[o->unmaps * 99 / 100] / 1e3, waits,
			waits ? (double)(descs * ic.cost.inv_page_ns + waits * ic.cost.wait_ns) /
					(double)waits :
				0.0,
			waits ? (double)(s1.wait_sync_ns - s0.wait_sync_ns) / (double)waits : 0.0);
	}
out:
	atomic_store(&tr.stop, true);
	svf_device_destroy(dev);
	svf_container_destroy(c);
	svf_pinner_destroy(p);
	free(lat);
	return rc;
}

int svf_bench_translate(const struct svf_bench_translate_opts *uo, FILE *out, FILE *err)
{
	struct svf_bench_translate_opts o;
	struct svf_iommu *u = NULL;
	struct svf_domain *d = NULL, *dr = NULL;
	static const char *const names[] = { "hit", "miss (walk + fill)", "random (median)",
					     "random, 4 x 4 GiB" };
	static const char *const floors[] = { "region hint", "flat table", "flat table",
					      "hint + search" };
	struct floor_region hit_region = { BASE_IOVA, 4096, 0x100000000ull };
	struct floor_region regions[REGIONS];
	struct floor_table ft[ROW_NR];
	uint64_t *flat = NULL;
	struct svf_iommu_config ic;
	int rc;

	svf_bench_translate_default_opts(&o);
	if (uo->threads)
		o.threads = uo->threads;
	if (uo->iters)
		o.iters = uo->iters;
	if (uo->mappings)
		o.mappings = uo->mappings;
	if (uo->unmaps)
		o.unmaps = uo->unmaps;
	o.driver = uo->driver;
	svf_tool_driver_config(o.driver, &ic);

	flat = calloc(o.mappings, sizeof(*flat));
	rc = flat ? svf_iommu_create(&ic, &u) : -ENOMEM;
	if (!rc)
		rc = svf_domain_alloc(u, &d);
	if (!rc)
		rc = svf_domain_alloc(u, &dr);
	for (unsigned i = 0; !rc && i < o.mappings; i++) {
		flat[i] = 0x100000000ull + (uint64_t)i * 2 * 4096;
		rc = svf_iommu_map(d, BASE_IOVA + (uint64_t)i * 4096, flat[i], 4096, 3);
	}
	for (unsigned i = 0; !rc && i < REGIONS; i++) {
		regions[i] = (struct floor_region){ REGION_IOVA + i * 2 * REGION_SIZE, REGION_SIZE,
						    REGION_PHYS + i * REGION_SIZE };
		rc = svf_iommu_map(dr, regions[i].iova, regions[i].phys, REGION_SIZE, 3);
	}
	if (rc) {
		fprintf(err, "softvfio: bench-translate: set-up failed: %s\n", strerror(-rc));
		goto out;
	}
	ft[ROW_HIT] = (struct floor_table){ .r = &hit_region, .nr = 1 };
	ft[ROW_MISS] = ft[ROW_RANDOM] = (struct floor_table){ .flat = flat };
	ft[ROW_REGIONS] = (struct floor_table){ .r = regions, .nr = REGIONS };
	fprintf(out, "Translation cost per 4 KiB page on %s (svf_iommu_translate inside DMA "
		     "sections of %u; %u mappings of 4 KiB,\nor %u of %llu GiB for the last row; "
		     "%" PRIu64 " translations per thread per row; median of\ngroups of %u; "
		     "floor: the same loop on a region hint (+ search) or a flat table, 1 thread)\n\n",
		svf_iommu_driver_name(u), BATCH, o.mappings, REGIONS,
		(unsigned long long)(REGION_SIZE >> 30), o.iters, BATCH * GROUP);
	fprintf(out, "  %-20s %12s %12s %12s %-14s %s\n", "path", "1 thread", "all threads", "floor",
		"(floor)", "walks");
	for (int k = ROW_HIT; k < ROW_NR; k++) {
		struct svf_domain *dk = k == ROW_REGIONS ? dr : d;
		struct svf_stats s0 = { 0 }, s1 = { 0 };
		double one, all, fl;

		svf_iommu_add_stats(u, &s0);
		rc = run_row(dk, &ft[k], k, &o, 1, &one);
		svf_iommu_add_stats(u, &s1);
		if (!rc)
			rc = run_row(dk, &ft[k], k, &o, o.threads, &all);
		if (!rc)
			rc = run_row(NULL, &ft[k], k, &o, 1, &fl);
		if (rc) {
			fprintf(err, "softvfio: bench-translate: row failed: %s\n", strerror(-rc));
			goto out;
		}
		fprintf(out, "  %-20s %9.2f ns %9.2f ns %9.2f ns %-14s %" PRIu64 "\n", names[k], one,
			all, fl, floors[k], s1.iotlb_misses - s0.iotlb_misses);
	}
	fprintf(out, "\n  (%u threads in the all-threads column; walks: page walks of the 1-thread "
		     "run,\n  one per IOTLB entry filled)\n", o.threads);
	fprintf(out, "\nUnmap of one 4 KiB mapping while device threads DMA at random over 63 "
		     "others\n(synthetic backend; %u unmaps per row; wait cost: modeled device time "
		     "vs real\ntime spent as a barrier, per wait)\n\n", o.unmaps);
	fprintf(out, "  %-8s %4s %10s %10s %8s   %12s %12s\n", "policy", "devs", "median us",
		"p99 us", "waits", "modeled ns", "real ns");
	for (int p = 0; p < SVF_POLICY_NR; p++) {
		unsigned devs = o.threads > 1 ? o.threads - 1 : 1;

		rc = unmap_row(p, &o, devs, out);
		if (rc) {
			fprintf(err, "softvfio: bench-translate: unmap row failed: %s\n", strerror(-rc));
			goto out;
		}
	}
out:
	if (dr)
		svf_domain_free(dr);
	if (d)
		svf_domain_free(d);
	free(flat);
	if (u)
		svf_iommu_destroy(u);
	return rc;
}

const char svf_bench_translate_help[] =
	"Usage: softvfio bench-translate [OPTIONS]\n"
	"\n"
	"What a device pays to translate through the emulated IOMMU, and what an unmap\n"
	"pays while devices run. Prints figures; asserts nothing.\n"
	"\n"
	"Rows: translation cost per 4 KiB page on the hit path (the device thread's\n"
	"last translation), the miss path (a page walk and an IOTLB fill each time),\n"
	"random pages over many 4 KiB mappings, and random pages over four 4 GiB\n"
	"mappings (1 GiB leaves), on one thread and on all: the median of timed groups\n"
	"of 4096, beside a floor the same loop measures in the same run (a region hint\n"
	"and linear search as libvfio-user keeps its DMA table, or a flat table), and\n"
	"the page walks taken. Then, per flush policy, the latency of unmapping a 4 KiB\n"
	"mapping while device threads DMA, with waits and the cost of a wait both as\n"
	"modeled device time and as real time spent as a barrier.\n"
	"\n"
	"Options:\n"
	"  --threads N     threads for the all-threads rows (default: online CPUs);\n"
	"                  the unmap rows run N - 1 device threads\n"
	"  --iters N       translations per thread per row (default 20000000)\n"
	"  --mappings N    4 KiB mappings for the miss and random rows (default 65535)\n"
	"  --unmaps N      unmaps per policy (default 2000)\n"
	"  --driver D      emulated IOMMU driver: vtd (default) or amd\n"
	"  -h, --help      show this text\n";

int svf_bench_translate_main(int argc, char **argv)
{
	struct svf_bench_translate_opts o = { 0 };
	const struct svf_cli_opt opts[] = {
		{ "threads", 1, 64, .uint = &o.threads },
		{ "iters", 1, 1ULL << 40, .u64 = &o.iters },
		{ "mappings", 1, 1u << 20, .uint = &o.mappings },
		{ "unmaps", 1, 1u << 24, .uint = &o.unmaps },
		{ "driver", .str = &o.driver },
	};
	int rc = svf_cli_parse("bench-translate", svf_bench_translate_help, argc, argv, opts,
			       sizeof(opts) / sizeof(opts[0]));

	if (rc >= 0)
		return rc;
	return svf_bench_translate(&o, stdout, stderr) ? 1 : 0;
}

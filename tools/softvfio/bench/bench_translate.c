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
 *           64 x 8 IOTLB entries, mostly walks), timed per batch of 256,
 *           reported as the median batch's ns per translation.
 * Each row runs single-threaded, then on `threads` threads at once (each
 * thread its own iterations; ns per translation per thread).
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
#define BASE_IOVA 0x100000000ull

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

enum row_kind { ROW_HIT, ROW_MISS, ROW_RANDOM };

struct row_arg {
	struct svf_domain *d;
	enum row_kind kind;
	uint64_t iters;
	unsigned mappings;
	unsigned seed;
	pthread_barrier_t *start;
	double ns;        /* result: ns per translation (median batch for random) */
	uint64_t errors;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void *row_thread(void *p)
{
	struct row_arg *a = p;
	uint64_t batches = a->iters / BATCH, pos = 0, errors = 0;
	uint32_t s = a->seed * 2654435761u + 1;
	double *per = NULL;
	uint64_t t0, t1;

	if (a->kind == ROW_RANDOM)
		per = calloc(batches ? batches : 1, sizeof(*per));
	if (a->start)
		pthread_barrier_wait(a->start);
	t0 = now_ns();
	for (uint64_t b = 0; b < batches; b++) {
		uint64_t bt0 = per ? now_ns() : 0;

		svf_iommu_dma_begin(a->d);
		for (unsigned i = 0; i < BATCH; i++) {
			uint64_t iova, phys;

			switch (a->kind) {
			case ROW_HIT:
				iova = BASE_IOVA + 64 * (uint64_t)(i & 63);
				break;
			case ROW_MISS:
				iova = BASE_IOVA + (pos++ % a->mappings) * 4096;
				break;
			default:
				s ^= s << 13;
				s ^= s >> 17;
				s ^= s << 5;
				iova = BASE_IOVA + (uint64_t)(s % a->mappings) * 4096;
				break;
			}
			errors += svf_iommu_translate(a->d, iova, 1, &phys) != 0;
		}
		svf_iommu_dma_end(a->d);
		if (per)
			per[b] = (double)(now_ns() - bt0) / BATCH;
	}
	t1 = now_ns();
	a->errors = errors;
	if (per && batches) {
		qsort(per, batches, sizeof(*per), cmp_double);
		a->ns = per[batches / 2];
	} else {
		a->ns = batches ? (double)(t1 - t0) / (double)(batches * BATCH) : 0;
	}
	free(per);
	return NULL;
}

/* One row on n threads; prints the mean over threads of their ns. */
static int run_row(struct svf_domain *d, enum row_kind kind, const struct svf_bench_translate_opts *o,
		   unsigned n, double *ns)
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
		args[i] = (struct row_arg){ .d = d, .kind = kind, .iters = o->iters,
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
	struct svf_domain *d = NULL;
	static const char *const names[] = { "hit", "miss (walk + fill)", "random (median)" };
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

	rc = svf_iommu_create(&ic, &u);
	if (!rc)
		rc = svf_domain_alloc(u, &d);
	for (unsigned i = 0; !rc && i < o.mappings; i++)
		rc = svf_iommu_map(d, BASE_IOVA + (uint64_t)i * 4096,
				   0x100000000ull + (uint64_t)i * 2 * 4096, 4096, 3);
	if (rc) {
		fprintf(err, "softvfio: bench-translate: set-up failed: %s\n", strerror(-rc));
		goto out;
	}
	fprintf(out, "Translation cost per 4 KiB page on %s (svf_iommu_translate inside DMA "
		     "sections of %u; %u mappings of 4 KiB;\nIOTLB 64 sets x 8 ways; %" PRIu64
		     " translations per thread per row)\n\n",
		svf_iommu_driver_name(u), BATCH, o.mappings, o.iters);
	fprintf(out, "  %-20s %12s %12s\n", "path", "1 thread", "all threads");
	for (int k = ROW_HIT; k <= ROW_RANDOM; k++) {
		double one, all;

		rc = run_row(d, k, &o, 1, &one);
		if (!rc)
			rc = run_row(d, k, &o, o.threads, &all);
		if (rc) {
			fprintf(err, "softvfio: bench-translate: row failed: %s\n", strerror(-rc));
			goto out;
		}
		fprintf(out, "  %-20s %9.2f ns %9.2f ns (%u threads)\n", names[k], one, all,
			o.threads);
	}
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
	if (d)
		svf_domain_free(d);
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
	"and random pages over many 4 KiB mappings (median of batches of 256), on one\n"
	"thread and on all; then, per flush policy, the latency of unmapping a 4 KiB\n"
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
	static const struct option longopts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "iters", required_argument, NULL, 'i' },
		{ "mappings", required_argument, NULL, 'm' },
		{ "unmaps", required_argument, NULL, 'u' },
		{ "driver", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char cmd[] = "bench-translate";
	struct svf_bench_translate_opts o = { 0 };
	uint64_t v;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(svf_bench_translate_help, stdout);
			return 0;
		case 't':
			if (svf_cli_u64(cmd, "--threads", optarg, 1, 64, &v))
				return SVF_EXIT_USAGE;
			o.threads = (unsigned)v;
			break;
		case 'i':
			if (svf_cli_u64(cmd, "--iters", optarg, 1, 1ULL << 40, &v))
				return SVF_EXIT_USAGE;
			o.iters = v;
			break;
		case 'm':
			if (svf_cli_u64(cmd, "--mappings", optarg, 1, 1u << 20, &v))
				return SVF_EXIT_USAGE;
			o.mappings = (unsigned)v;
			break;
		case 'u':
			if (svf_cli_u64(cmd, "--unmaps", optarg, 1, 1u << 24, &v))
				return SVF_EXIT_USAGE;
			o.unmaps = (unsigned)v;
			break;
		case 'd':
			o.driver = optarg;
			break;
		case ':':
			return svf_cli_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
		default:
			return svf_cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return svf_cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	return svf_bench_translate(&o, stdout, stderr) ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * `softvfio bench-real`: real memory against this machine's own floor.
 *
 * The process backend pins with the kernel's calls (mlock, a pagemap read,
 * munlock), so what it can reach is bounded by what those calls cost here.
 * This benchmark measures that floor in the same process, on the same
 * range, in the same run, and prints it beside every softvfio figure:
 *
 *   lock floor    mlock() of the whole range and one bulk read of its
 *                 /proc/self/pagemap entries, per 4 KiB page;
 *   unlock floor  munlock() of the whole range, per 4 KiB page;
 *   pair floor    mlock() + an 8-byte pagemap read + munlock() of one page.
 *
 * against softvfio's MAP_DMA and UNMAP_DMA of the whole range (per page)
 * and a 4 KiB MAP_DMA + UNMAP_DMA pair on the same pages as the pair floor
 * (a second range of the same size and backing: a one-page lock splits a
 * huge page, so the pairs must not run on the whole-range figures' memory).
 * Memory is faulted in (written) before anything is timed, so both sides
 * lock present pages. Backings: 4 KiB pages (MADV_NOHUGEPAGE) and
 * transparent huge pages (MADV_HUGEPAGE; the THP bytes actually obtained
 * are printed). Then the synthetic backend's 4 KiB map and unmap, which
 * touch no memory. Times are the thread's CPU time (system time included),
 * medians of --reps runs. Figures only: nothing is asserted.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <softvfio/softvfio.h>

#include "bench_common.h"
#include "bench_floor.h"
#include "bench_real.h"
#include "cli.h"
#include "tool.h"

#define PG     4096ULL
#define HUGE2M (2ULL << 20)
#define MAXREP 15

const char svf_bench_real_help[] =
	"Usage: softvfio bench-real [--size BYTES] [--backing 4k|thp|both] [--reps N]\n"
	"                           [--pairs N]\n"
	"\n"
	"Map and unmap real memory of this process through softvfio (process backend,\n"
	"gather policy, one VT-d domain) and print, beside every figure, this machine's\n"
	"floor measured in the same run on the same range: mlock + bulk pagemap read\n"
	"per page, munlock per page, and one page's mlock + pagemap read + munlock.\n"
	"Then the synthetic backend's 4 KiB map and unmap. CPU time of this thread,\n"
	"medians. Needs CAP_IPC_LOCK or an RLIMIT_MEMLOCK above --size.\n"
	"\n"
	"  --size BYTES    range mapped at once, K/M/G suffixes (default 1G)\n"
	"  --backing B     4k, thp or both (default both)\n"
	"  --reps N        runs per figure, the median is printed (default 5, at most 15)\n"
	"  --pairs N       4 KiB map+unmap pairs (and floor pairs) per run (default 4096)\n"
	"  -h, --help      show this text\n";

struct real_opts {
	uint64_t size;
	bool do4k, dothp;
	unsigned reps;
	uint64_t pairs;
};

static uint64_t cpu_now(void)
{
	return svf_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static double median(uint64_t *v, unsigned n)
{
	return svf_median_u64(v, n);
}

static long map_dma(struct svf_container *c, uint64_t iova, uint64_t vaddr, uint64_t size)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = vaddr,
		.iova = iova,
		.size = size,
	};

	return softvfio_ioctl(c, VFIO_IOMMU_MAP_DMA, &m);
}

static long unmap_dma(struct svf_container *c, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = size };

	return softvfio_ioctl(c, VFIO_IOMMU_UNMAP_DMA, &u);
}

static void row(FILE *out, const char *what, double sv, double floor, const char *unit,
		const char *target, const char *linux_ref)
{
	char a[32], b[32], r[32];

	if (unit[0] == 'u') {
		snprintf(a, sizeof(a), "%.2f us", sv / 1000);
		snprintf(b, sizeof(b), "%.2f us", floor / 1000);
	} else {
		snprintf(a, sizeof(a), "%.1f ns", sv);
		snprintf(b, sizeof(b), "%.1f ns", floor);
	}
	if (floor > 0)
		snprintf(r, sizeof(r), "%.2fx", sv / floor);
	else
		snprintf(r, sizeof(r), "-");
	fprintf(out, "  %-28s %12s %12s %8s  %-18s %s\n", what, a, b, r, target, linux_ref);
}

static int run_backing(const struct real_opts *o, bool thp, FILE *out)
{
	const uint64_t npages = o->size / PG;
	uint64_t lock[MAXREP], unlock[MAXREP], map[MAXREP], unmap[MAXREP], fpair[MAXREP],
		spair[MAXREP];
	struct svf_tool_config cfg;
	struct svf_container *c = NULL;
	struct svf_pinner *p = NULL;
	struct svf_floor fl = { .fd = -1 };
	uint64_t thp0, thp1, thp2 = 0, stride, pairs = o->pairs;
	uint8_t *raw, *mem, *raw2 = MAP_FAILED, *mem2;
	int rc = 1;

	raw = mmap(NULL, o->size + HUGE2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (raw == MAP_FAILED) {
		perror("softvfio bench-real: mmap");
		return 1;
	}
	mem = (uint8_t *)(((uintptr_t)raw + HUGE2M - 1) & ~(uintptr_t)(HUGE2M - 1));
	madvise(mem, o->size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	thp0 = svf_thp_bytes();
	for (uint64_t i = 0; i < npages; i++)
		mem[i * PG] = (uint8_t)i;
	thp1 = svf_thp_bytes();
	/*
	 * The pairs run on a range of their own: one page's mlock splits the
	 * huge page around it, which must not change what the whole-range
	 * figures see.
	 */
	raw2 = mmap(NULL, o->size + HUGE2M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (raw2 == MAP_FAILED) {
		perror("softvfio bench-real: mmap");
		goto out;
	}
	mem2 = (uint8_t *)(((uintptr_t)raw2 + HUGE2M - 1) & ~(uintptr_t)(HUGE2M - 1));
	madvise(mem2, o->size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (uint64_t i = 0; i < npages; i++)
		mem2[i * PG] = (uint8_t)i;
	if (svf_floor_open(&fl)) {
		perror("softvfio bench-real: pagemap");
		goto out;
	}
	svf_tool_default_config(&cfg);
	cfg.backend = SVF_BACKEND_PROCESS;
	cfg.policy = SVF_POLICY_GATHER;
	cfg.cost = 0;
	if (svf_tool_container_create(&cfg, &p, &c)) {
		fputs("softvfio bench-real: cannot create the container\n", stderr);
		goto out;
	}
	if (pairs > npages)
		pairs = npages;
	stride = npages / pairs;

	/*
	 * The floor first, on every run, then softvfio: whatever softvfio does
	 * to the memory (a lock that splits a huge page) cannot make the floor
	 * look worse. The THP bytes left afterwards are printed.
	 */
	for (unsigned r = 0; r < o->reps; r++) {
		uint64_t t0, t1, t2;

		t0 = cpu_now();
		if (svf_floor_lock(&fl, mem, o->size)) {
			perror("softvfio bench-real: mlock (needs CAP_IPC_LOCK or ulimit -l)");
			goto out;
		}
		t1 = cpu_now();
		svf_floor_unlock(mem, o->size);
		t2 = cpu_now();
		lock[r] = t1 - t0;
		unlock[r] = t2 - t1;

		t0 = cpu_now();
		for (uint64_t i = 0; i < pairs; i++) {
			uint8_t *pg = mem2 + i * stride * PG;

			svf_floor_pair(&fl, pg);
		}
		fpair[r] = cpu_now() - t0;
	}
	for (unsigned r = 0; r < o->reps; r++) {
		uint64_t t0, t1, t2;

		t0 = cpu_now();
		if (map_dma(c, SVF_BENCH_IOVA, (uintptr_t)mem, o->size)) {
			fputs("softvfio bench-real: MAP_DMA failed\n", stderr);
			goto out;
		}
		t1 = cpu_now();
		unmap_dma(c, SVF_BENCH_IOVA, o->size);
		t2 = cpu_now();
		map[r] = t1 - t0;
		unmap[r] = t2 - t1;

		t0 = cpu_now();
		for (uint64_t i = 0; i < pairs; i++) {
			uint64_t off = i * stride * PG;

			if (map_dma(c, SVF_BENCH_IOVA + off, (uintptr_t)mem2 + off, PG)) {
				fputs("softvfio bench-real: MAP_DMA of 4 KiB failed\n", stderr);
				goto out;
			}
			unmap_dma(c, SVF_BENCH_IOVA + off, PG);
		}
		spair[r] = cpu_now() - t0;
	}
	thp2 = svf_thp_bytes();

	{
		char sz[32], th[32], th2[32];
		double n = (double)npages, np = (double)pairs;

		svf_human_bytes(o->size, sz, sizeof(sz));
		svf_human_bytes(thp1 > thp0 ? thp1 - thp0 : 0, th, sizeof(th));
		svf_human_bytes(thp2 > thp0 ? thp2 - thp0 : 0, th2, sizeof(th2));
		fprintf(out, "\nreal memory, %s backing: %s range (in transparent huge pages: %s "
			"before, %s after softvfio), median of %u\n", thp ? "THP" : "4 KiB", sz, th,
			th2, o->reps);
		fprintf(out, "  %-28s %12s %12s %8s  %-18s %s\n", "figure", "softvfio", "floor",
			"ratio", "target", "Linux (hardware, published)");
		row(out, "map, per 4 KiB page", median(map, o->reps) / n, median(lock, o->reps) / n,
		    "ns", thp ? "<= 2x floor" : "<= 1.25x floor",
		    thp ? "6 ns/page" : "59 ns/page");
		row(out, "unmap, per 4 KiB page", median(unmap, o->reps) / n,
		    median(unlock, o->reps) / n, "ns",
		    thp ? "<= 3 ns" : "<= 1.25x floor", "69 ns/page (4 KiB)");
		row(out, "4 KiB map + unmap pair", median(spair, o->reps) / np,
		    median(fpair, o->reps) / np, "us", "<= 0.5x floor", "-");
	}
	rc = 0;
out:
	if (c)
		svf_tool_container_destroy(p, c);
	svf_floor_close(&fl);
	if (raw2 != MAP_FAILED)
		munmap(raw2, o->size + HUGE2M);
	munmap(raw, o->size + HUGE2M);
	return rc;
}

static int run_synthetic(const struct real_opts *o, FILE *out)
{
	const uint64_t n = 4096;
	uint64_t map[MAXREP], unmap[MAXREP];
	struct svf_tool_config cfg;
	struct svf_container *c;
	struct svf_pinner *p;

	svf_tool_default_config(&cfg);
	cfg.backend = SVF_BACKEND_SYNTHETIC;
	cfg.layout = SVF_LAYOUT_FRAG4K;
	cfg.policy = SVF_POLICY_GATHER;
	cfg.cost = 0;
	if (svf_tool_container_create(&cfg, &p, &c)) {
		fputs("softvfio bench-real: cannot create the container\n", stderr);
		return 1;
	}
	for (unsigned r = 0; r < o->reps; r++) {
		uint64_t t0 = cpu_now(), t1, t2;

		for (uint64_t i = 0; i < n; i++)
			map_dma(c, SVF_BENCH_IOVA + i * PG, SVF_BENCH_VADDR + i * PG, PG);
		t1 = cpu_now();
		for (uint64_t i = 0; i < n; i++)
			unmap_dma(c, SVF_BENCH_IOVA + i * PG, PG);
		t2 = cpu_now();
		map[r] = t1 - t0;
		unmap[r] = t2 - t1;
	}
	svf_tool_container_destroy(p, c);
	fprintf(out, "\nsynthetic backend: %" PRIu64 " mappings of 4 KiB, each its own ioctl, "
		"median of %u\n", n, o->reps);
	fprintf(out, "  %-28s %12s %12s %8s  %-18s %s\n", "figure", "softvfio", "", "", "target",
		"libvfio-user's bookkeeping alone");
	fprintf(out, "  %-28s %9.0f ns %12s %8s  %-18s %s\n", "4 KiB map", median(map, o->reps) / n,
		"", "", "<= 400 ns", "340 ns");
	fprintf(out, "  %-28s %9.0f ns %12s %8s  %-18s %s\n", "4 KiB unmap",
		median(unmap, o->reps) / n, "", "", "<= 150 ns", "70 ns");
	return 0;
}

int svf_bench_real_report(uint64_t size, unsigned reps, uint64_t pairs, FILE *out)
{
	struct real_opts o = { .size = size, .do4k = true, .dothp = true,
			       .reps = reps > MAXREP ? MAXREP : reps ? reps : 1, .pairs = pairs };
	int rc = 0;

	fprintf(out, "\nreal memory beside this machine's floor (the floor measured in this run, on the "
		"same range):\nmlock + bulk pagemap read per page, munlock per page, one page's "
		"mlock + pagemap read + munlock\n");
	rc |= run_backing(&o, false, out);
	rc |= run_backing(&o, true, out);
	rc |= run_synthetic(&o, out);
	return rc ? -EIO : 0;
}

int svf_bench_real_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "backing", required_argument, NULL, 'b' },
		{ "reps", required_argument, NULL, 'r' },
		{ "pairs", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct real_opts o = { .size = 1ULL << 30, .do4k = true, .dothp = true, .reps = 5,
			       .pairs = 4096 };
	uint64_t v;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (svf_parse_u64(optarg, &v) || v < HUGE2M || v % HUGE2M) {
				return svf_cli_usage("bench-real", "--size wants a non-zero multiple "
						     "of 2 MiB, not '%s'", optarg);
			}
			o.size = v;
			break;
		case 'b':
			o.do4k = !strcmp(optarg, "4k") || !strcmp(optarg, "both");
			o.dothp = !strcmp(optarg, "thp") || !strcmp(optarg, "both");
			if (!o.do4k && !o.dothp) {
				return svf_cli_usage("bench-real", "--backing wants 4k, thp or both, "
						     "not '%s'", optarg);
			}
			break;
		case 'r':
			if (svf_cli_u64("bench-real", "--reps", optarg, 1, MAXREP, &v))
				return SVF_EXIT_USAGE;
			o.reps = (unsigned)v;
			break;
		case 'p':
			if (svf_cli_u64("bench-real", "--pairs", optarg, 1, 1u << 24, &v))
				return SVF_EXIT_USAGE;
			o.pairs = v;
			break;
		case 'h':
			fputs(svf_bench_real_help, stdout);
			return 0;
		default:
			return svf_cli_bad_option("bench-real", argv, ch);
		}
	}
	if (optind < argc)
		return svf_cli_usage("bench-real", "unexpected argument '%s'", argv[optind]);
	if (o.do4k)
		rc |= run_backing(&o, false, stdout);
	if (o.dothp)
		rc |= run_backing(&o, true, stdout);
	rc |= run_synthetic(&o, stdout);
	return rc ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * `softvfio bench-dirty`: what VFIO_IOMMU_DIRTY_PAGES GET_BITMAP costs.
 *
 * A synthetic guest of --size bytes, fully fragmented (one 4 KiB leaf per
 * page, the worst case for a page-table scan), one mapping, dirty tracking
 * started. The device writes --percent of the pages (distinct, random,
 * seeded); then GET_BITMAP over the whole guest is timed, twice: the first
 * call reports the writes, the second finds nothing (everything was
 * cleared). Two modes side by side:
 *   hw     the emulated IOMMU tracks dirtiness: the scan reads every leaf
 *          (8 bytes of page table per page), clears the D bits it finds and
 *          invalidates and waits once;
 *   linux  Linux's type1 without IOMMU dirty tracking: every mapped page is
 *          reported dirty, from the mapping's bitmap, whatever was written.
 * Printed per call: CPU and wall time, ns per 4 KiB page, bitmap bytes
 * written, page-table bytes read, pages reported, and how many of the
 * written pages were found (hw must find them all). Figures, not
 * assertions.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <softvfio/softvfio.h>

#include "bench_common.h"
#include "bench_dirty.h"
#include "cli.h"
#include "tool.h"

const char svf_bench_dirty_help[] =
	"Usage: softvfio bench-dirty [--size BYTES] [--percent P] [--mode hw|linux|both]\n"
	"\n"
	"Time VFIO_IOMMU_DIRTY_PAGES GET_BITMAP over a fully fragmented synthetic guest\n"
	"after the device wrote P% of its pages.\n"
	"\n"
	"  --size BYTES    guest size, with K/M/G/T suffixes (default 64G)\n"
	"  --percent P     share of pages the device writes, 0-100 (default 1)\n"
	"  --mode M        hw (the IOMMU tracks dirtiness), linux (every page dirty),\n"
	"                  or both (default)\n"
	"  -h, --help      show this text\n";

/*
 * VFIO_IOMMU_DIRTY_PAGES with its GET_BITMAP range: the two fields of
 * struct vfio_iommu_type1_dirty_bitmap, then in the place of its data[] the
 * range. Spelled out, since a struct ending in a flexible array inside
 * another struct is a GNU extension clang refuses; the layout is the same.
 */
struct dirty_req {
	__u32 argsz;
	__u32 flags;
	struct vfio_iommu_type1_dirty_bitmap_get g;
};
_Static_assert(offsetof(struct dirty_req, flags) ==
		       offsetof(struct vfio_iommu_type1_dirty_bitmap, flags) &&
	       offsetof(struct dirty_req, g) == offsetof(struct vfio_iommu_type1_dirty_bitmap, data) &&
	       sizeof(struct dirty_req) == sizeof(struct vfio_iommu_type1_dirty_bitmap) +
		       sizeof(struct vfio_iommu_type1_dirty_bitmap_get),
	       "dirty_req is a dirty_bitmap header with its get range");

static long dirty_ctl(struct svf_container *c, uint32_t flag)
{
	struct vfio_iommu_type1_dirty_bitmap d = { .argsz = sizeof(d), .flags = flag };

	return softvfio_ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &d);
}

static uint64_t popcount(const uint64_t *w, uint64_t n)
{
	uint64_t c = 0;

	for (uint64_t i = 0; i < n; i++)
		c += (uint64_t)__builtin_popcountll(w[i]);
	return c;
}

/* splitmix64: a seeded, reproducible page choice. */
static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int run_mode(bool hw, uint64_t size, double percent, FILE *out)
{
	struct svf_tool_config cfg;
	struct svf_container *c = NULL;
	struct svf_pinner *p = NULL;
	const uint64_t pages = size / 4096, words = (pages + 63) / 64;
	uint64_t *bits = NULL, *written = NULL, seed = 42, want = 0;
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m) };
	struct svf_domain *d;
	int rc;

	svf_tool_default_config(&cfg);
	cfg.backend = SVF_BACKEND_SYNTHETIC;
	cfg.layout = SVF_LAYOUT_FRAG4K;
	cfg.cost = 0;
	cfg.hw_dirty = hw;
	rc = svf_tool_container_create(&cfg, &p, &c);
	if (rc)
		return rc;
	bits = calloc(words, sizeof(*bits));
	written = calloc(words, sizeof(*written));
	if (!bits || !written) {
		rc = -ENOMEM;
		goto out;
	}
	m.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	m.iova = SVF_BENCH_IOVA;
	m.vaddr = SVF_BENCH_VADDR;
	m.size = size;
	fprintf(stderr, "bench-dirty: mapping %" PRIu64 " pages (%s)...\n", pages,
		hw ? "hw" : "linux");
	rc = (int)softvfio_ioctl(c, VFIO_IOMMU_MAP_DMA, &m);
	if (rc)
		goto out;
	rc = (int)dirty_ctl(c, VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
	if (rc)
		goto out;

	/* The device writes the chosen pages (distinct: counted once). */
	d = svf_container_domain(c, 0);
	want = (uint64_t)((double)pages * percent / 100.0);
	svf_iommu_dma_begin(d);
	for (uint64_t n = 0; n < want;) {
		uint64_t pg = mix(&seed) % pages, phys;

		if (written[pg / 64] & (1ULL << (pg % 64)))
			continue;
		written[pg / 64] |= 1ULL << (pg % 64);
		rc = svf_iommu_translate(d, SVF_BENCH_IOVA + pg * 4096, SVF_PROT_WRITE, &phys);
		if (rc)
			break;
		n++;
	}
	svf_iommu_dma_end(d);
	if (rc)
		goto out;

	for (int call = 1; call <= 2; call++) {
		struct dirty_req r = {
			.argsz = sizeof(r),
			.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
			.g = { .iova = SVF_BENCH_IOVA, .size = size,
			       .bitmap = { .pgsize = 4096, .size = words * 8, .data = (__u64 *)bits } },
		};
		uint64_t cpu0, wall0, cpu, wall, reported, found = 0;

		memset(bits, 0, words * 8);
		cpu0 = svf_clock_ns(CLOCK_THREAD_CPUTIME_ID);
		wall0 = svf_clock_ns(CLOCK_MONOTONIC);
		rc = (int)softvfio_ioctl(c, VFIO_IOMMU_DIRTY_PAGES, &r);
		cpu = svf_clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
		wall = svf_clock_ns(CLOCK_MONOTONIC) - wall0;
		if (rc)
			goto out;
		reported = popcount(bits, words);
		for (uint64_t i = 0; i < words; i++)
			found += (uint64_t)__builtin_popcountll(bits[i] & written[i]);
		fprintf(out,
			"%-6s call %d  %9.3f ms cpu  %9.3f ms wall  %6.2f ns/page  bitmap %7" PRIu64
			" KiB written  page table %8" PRIu64 " KiB read  %9" PRIu64
			" pages reported  %9" PRIu64 "/%" PRIu64 " written found\n",
			hw ? "hw" : "linux", call, cpu / 1e6, wall / 1e6, (double)cpu / (double)pages,
			words * 8 / 1024, hw ? pages * 8 / 1024 : 0, reported,
			call == 1 ? found : 0, call == 1 ? want : 0);
	}
	rc = (int)dirty_ctl(c, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP);
out:
	free(bits);
	free(written);
	svf_tool_container_destroy(p, c);
	return rc;
}

int svf_bench_dirty_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "percent", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char cmd[] = "bench-dirty";
	uint64_t size = 64ULL << 30;
	double percent = 1.0;
	bool hw = true, linux_mode = true;
	char sz[32];
	char *end;
	int c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(svf_bench_dirty_help, stdout);
			return 0;
		case 's':
			if (svf_parse_u64(optarg, &size) || size < 4096 || size % 4096 ||
			    size > (1ULL << 46))
				return svf_cli_usage(cmd, "--size wants a multiple of 4 KiB from 4K "
						     "to 64T, not '%s'", optarg);
			break;
		case 'p':
			percent = strtod(optarg, &end);
			if (end == optarg || *end || !(percent >= 0 && percent <= 100))
				return svf_cli_usage(cmd, "--percent wants a number from 0 to 100, "
						     "not '%s'", optarg);
			break;
		case 'm':
			hw = !strcmp(optarg, "hw") || !strcmp(optarg, "both");
			linux_mode = !strcmp(optarg, "linux") || !strcmp(optarg, "both");
			if (!hw && !linux_mode)
				return svf_cli_usage(cmd, "--mode wants hw, linux or both, not '%s'",
						     optarg);
			break;
		default:
			return svf_cli_bad_option(cmd, argv, c);
		}
	}
	if (optind != argc)
		return svf_cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	svf_human_bytes(size, sz, sizeof(sz));
	printf("softvfio bench-dirty: GET_BITMAP over %s fully fragmented (4 KiB leaves), "
	       "%.2f%% of pages written by the device\n", sz, percent);
	if (hw && (rc = run_mode(true, size, percent, stdout)) != 0)
		goto fail;
	if (linux_mode && (rc = run_mode(false, size, percent, stdout)) != 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "softvfio bench-dirty: %s\n", strerror(-rc));
	return 1;
}

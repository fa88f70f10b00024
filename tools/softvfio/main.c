/* SPDX-License-Identifier: MIT */
/*
 * The softvfio command: the benchmark of every flush policy (run, bench),
 * replay vfio-trace files and the bundled example session, the single-mapping
 * unmap benchmark (bench-unmap).
 *
 * Exit status: 0 when the command did its job (an operation's errno in a
 * trace is a result, not a failure), 1 when the environment failed it
 * (a file that cannot be read, memory, a container that cannot be set up),
 * 2 for a usage error or a trace with a syntax error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_common.h"
#include "bench_translate.h"
#include "bench_dirty.h"
#include "bench_ioat.h"
#include "bench_real.h"
#include "bench_unmap.h"
#include "bench_vfio.h"
#include "exec.h"
#include "bench_exec.h"
#include "cli.h"
#include "replay.h"
#include "session.h"

#define EXIT_USAGE 2

static const char main_help[] =
	"Usage: softvfio COMMAND [OPTIONS] [ARGS]\n"
	"       softvfio --help | --version\n"
	"\n"
	"softvfio is a userspace implementation of Linux's VFIO type1 IOMMU backend\n"
	"(VFIO_TYPE1v2_IOMMU) on an emulated IOMMU (Intel VT-d). This command drives\n"
	"it with the requests and structs of <linux/vfio.h>.\n"
	"\n"
	"Commands:\n"
	"  run              the main job: 'bench' on built-in workloads, with a chart\n"
	"                   (run --session: replay the bundled example VMM session)\n"
	"  bench            run workloads (VM lifecycle, small mappings, vIOMMU churn,\n"
	"                   traces) under every flush policy; table, JSON, SVG chart\n"
	"  replay TRACE     run a vfio-trace v1 file, one result line per operation\n"
	"  bench-unmap      time unmapping one large, fragmented mapping per flush policy\n"
	"  bench-translate  translation cost per page, unmap latency while devices DMA\n"
	"  bench-dirty      GET_BITMAP cost, IOMMU dirty tracking against Linux's mode\n"
	"  bench-real       real-memory map and unmap beside this machine's floor\n"
	"  bench-ioat       copies through the emulated I/OAT engine beside memcpy\n"
	"  bench-vfio       edu through VFIO: register round trips, doorbell latency,\n"
	"                   the watcher's idle cost, 4 KiB DMA throughput\n"
	"  bench-exec       what exec's preload library costs a VFIO request and an\n"
	"                   ordinary call; QEMU's start under exec\n"
	"  exec PROGRAM     run an unmodified VFIO program (QEMU's vfio-pci, a userspace\n"
	"                   driver) on softvfio: /dev/vfio, sysfs and /dev/kmsg served\n"
	"                   by a preload library\n"
	"  help [COMMAND]   show this text, or a command's\n"
	"\n"
	"Run 'softvfio COMMAND --help' for a command's options.\n"
	"\n"
	"Exit status: 0 success (an operation's errno inside a trace is a result);\n"
	"1 the command could not run (a file, memory, container set-up);\n"
	"2 usage error, or a syntax error in a trace.\n";

static const char replay_help[] =
	"Usage: softvfio replay [OPTIONS] TRACE\n"
	"\n"
	"Replay the vfio-trace v1 file TRACE ('-' reads standard input) against one\n"
	"type1v2 container with one IOMMU domain, and print one line per operation:\n"
	"\n"
	"  L<line> <operation> ok [key=value...]    or    L<line> <operation> err <ERRNO>\n"
	"\n"
	"The whole trace is parsed first. A syntax error (unknown operation, a missing\n"
	"or malformed argument, an arena that is not the first operation, a hole or\n"
	"fill that reaches outside the arena) prints 'error: LINE: MESSAGE' on\n"
	"standard error and exits with status 2 before anything runs.\n"
	"\n"
	"Operations (numbers are decimal or 0x hex, with an optional K/M/G/T suffix):\n"
	"  arena SIZE [huge]            SIZE bytes of private memory (2 MiB aligned and\n"
	"                               advised for THP with huge), then 1 GiB PROT_NONE\n"
	"  hole OFFSET SIZE             munmap() that part of the arena\n"
	"  fill OFFSET SIZE BYTE        the CPU writes BYTE there (EFAULT over a hole)\n"
	"  map IOVA SIZE OFFSET PROT    VFIO_IOMMU_MAP_DMA of arena + OFFSET;\n"
	"                               PROT is r, w, rw or - (neither)\n"
	"  unmap IOVA SIZE [all] [dirty PGSIZE]\n"
	"                               VFIO_IOMMU_UNMAP_DMA; prints size=0x...\n"
	"  dirty start | dirty stop     VFIO_IOMMU_DIRTY_PAGES start / stop\n"
	"  dirty get IOVA SIZE PGSIZE   VFIO_IOMMU_DIRTY_PAGES get; prints bitmap=...\n"
	"  info                         VFIO_IOMMU_GET_INFO: pgsizes, ranges, avail\n"
	"  dma read IOVA SIZE | dma write IOVA SIZE BYTE\n"
	"                               a device DMA through the IOMMU; prints\n"
	"                               sum=0x... (read) or 'fault iova=0x...'\n"
	"\nThe format is described in docs/vfio-trace.md and softvfio(1).\n"
	"\n"
	"Options:\n"
	"  --driver D      emulated IOMMU driver: vtd (default) or amd\n"
	"  --backend B     pinning backend: process (default; real memory of this\n"
	"                  process, mlock()ed) or synthetic (no memory: OFFSET is the\n"
	"                  vaddr itself; holes and the guard give no EFAULT)\n"
	"  --layout L      synthetic physical layout: contig (default), frag4k, runs2m,\n"
	"                  random\n"
	"  --policy P      unmap flush policy: strict, batched, gather (default), lazy\n"
	"  --stats FILE    write the container's counters as one JSON object to FILE\n"
	"                  ('-': standard output, after the result lines)\n"
	"  --check-unpin   verify every unpin against the emulated IOMMU (slower)\n"
	"  --hw-dirty      the emulated IOMMU tracks dirtiness itself: device writes set\n"
	"                  page-table dirty bits, dirty get/unmap dirty read and clear\n"
	"                  them (default: Linux's type1, every mapped page is dirty)\n"
	"  --check-dma     check every device access against the pin state; the\n"
	"                  dma_unpinned_access and dma_after_unmap counters in --stats\n"
	"  -h, --help      show this text\n"
	"\n"
	"With the process backend the mapped pages are really locked: RLIMIT_MEMLOCK\n"
	"(ulimit -l) bounds what a trace can map at once unless you have CAP_IPC_LOCK.\n";

static const char run_help[] =
	"Usage: softvfio run [--svg FILE | --no-chart] [--json FILE] [--guest-size SIZE]\n"
	"                    [BENCH OPTIONS]\n"
	"       softvfio run --session [--driver D] [--backend B] [--layout L]\n"
	"                    [--policy P] [--check-unpin]\n"
	"       softvfio run --show-trace\n"
	"\n"
	"The main job: 'softvfio bench' on its built-in workloads (see 'softvfio bench\n"
	"--help'), every workload under every flush policy, one after the other:\n"
	"  - VM lifecycle of an 8 GiB synthetic guest, fully fragmented (4 KiB pages);\n"
	"  - VM lifecycle of a 64 GiB synthetic guest in 2 MiB runs;\n"
	"  - VM lifecycle of a 256 MiB guest in this process's real memory (mlock()ed:\n"
	"    needs CAP_IPC_LOCK or RLIMIT_MEMLOCK of 256 MiB; without, it is reported as\n"
	"    skipped and the rest runs);\n"
	"  - 8192 mappings of 4 KiB and 4096 of 64 KiB, unmapped one by one, then all;\n"
	"  - vIOMMU churn: 100000 buffers of 4 KiB, 256 in flight;\n"
	"  - the bundled VMM session as a trace;\n"
	"  - a VM's start and teardown in 1 GiB of real memory (vm-real), with 4 KiB\n"
	"    pages and with transparent huge pages: one MAP_DMA per RAM section as\n"
	"    QEMU maps them, then one UNMAP_DMA per section, per 4 KiB page beside this\n"
	"    machine's floor (mlock + pagemap read, munlock) and Linux's published\n"
	"    figures (needs CAP_IPC_LOCK or RLIMIT_MEMLOCK of 1 GiB, else skipped).\n"
	"It prints a table per workload and the targets, then (built-in workloads\n"
	"only) 'softvfio bench-real' on 256 MiB: real-memory map, unmap and 4 KiB pairs\n"
	"with 4 KiB and THP backing beside this machine's floor, and draws the chart to\n"
	"softvfio-bench.svg in the current directory (it says where). About 40 to 55 s\n"
	"on two shared cores.\n"
	"\n"
	"Options:\n"
	"  --svg FILE      draw the chart to FILE instead (default softvfio-bench.svg)\n"
	"  --no-chart      do not draw the chart\n"
	"  --guest-size SIZE  vm-real's guest: a multiple of 2 MiB (K/M/G suffixes) or\n"
	"                  max, the largest that fits (default 1G)\n"
	"  --json FILE, --policy LIST, --cost on|off, --batch N, --driver D,\n"
	"  --progress auto|always|never\n"
	"                  as for 'softvfio bench'\n"
	"  --session       instead, replay the example VMM session bundled in the binary\n"
	"                  (tests/traces/vmm-session.trace: guest RAM and ROM mapped,\n"
	"                  overlapping and bisecting requests refused with Linux's\n"
	"                  errnos, the MSI window and an inaccessible address refused,\n"
	"                  info, unmaps, unmap-all), print its result lines, then the\n"
	"                  container's counters, one per line. With it, --driver,\n"
	"                  --backend, --layout, --policy P and --check-unpin are as for\n"
	"                  'softvfio replay' (defaults vtd, process, gather)\n"
	"  --show-trace    print the bundled session's trace instead of running anything\n"
	"  -h, --help      show this text\n";

static const char bench_help[] =
	"Usage: softvfio bench [--workload SPEC]... [--trace FILE]... [--scale FROM:TO]\n"
	"                      [--flat] [--guest-size SIZE]\n"
	"                      [--policy LIST] [--cost on|off] [--batch N] [--driver D]\n"
	"                      [--json FILE] [--svg FILE] [--progress auto|always|never]\n"
	"\n"
	"Run workloads under every flush policy (strict, batched, gather, lazy), one\n"
	"after the other in this process, each on a fresh container, and compare them.\n"
	"Without --workload, --trace or --scale: the built-in workloads of\n"
	"'softvfio run'.\n"
	"\n"
	"Workloads (SPEC is KIND[:KEY=VALUE,...]; sizes take K/M/G/T suffixes):\n"
	"  lifecycle   map a guest's RAM in slices, run DMA traffic through the emulated\n"
	"              device (when this build has one), tear it down with ONE unmap-all.\n"
	"              Measured: the unmap-all. Keys: size=8G, layout=frag4k,\n"
	"              backend=synthetic, slice=auto|whole|SIZE (auto: 1 GiB slices, at\n"
	"              most 1024 of them), dma=on|off\n"
	"  small       count=4096 mappings of size=64K side by side, as DPDK and SPDK\n"
	"              make them, unmapped one by one (unmap=each) or all at once\n"
	"              (unmap=all);\n"
	"              without unmap=, both, as two workloads. Measured: the unmaps.\n"
	"              Keys: count, size, unmap, layout=runs2m, backend=synthetic\n"
	"  churn       a guest with a virtual IOMMU: count=100000 short-lived buffers of\n"
	"              size=4K, depth=256 in flight, each mapped (and written by the\n"
	"              device, dma=on) and unmapped with its own ioctl. Measured: the\n"
	"              whole loop. Keys: count, size, depth, dma, layout=runs2m,\n"
	"              backend=synthetic\n"
	"  trace       a vfio-trace file: trace:FILE, or trace:backend=B,file=FILE\n"
	"              (default backend process). Measured: the whole replay.\n"
	"  vm-real     a VM's start and teardown in real memory of this process: a\n"
	"              guest of size=1G (or --guest-size; max: the largest that fits,\n"
	"              half of MemAvailable, at most RLIMIT_MEMLOCK without\n"
	"              CAP_IPC_LOCK), backing=4k (MADV_NOHUGEPAGE) or thp\n"
	"              (MADV_HUGEPAGE, the THP bytes obtained are printed); without\n"
	"              backing=, both. Its RAM sections as QEMU's q35 lays them out\n"
	"              ([0, 640K), [1M, low), [4G, ...)), one MAP_DMA each, then one\n"
	"              UNMAP_DMA each, reps=3 times. Measured: both, per 4 KiB page,\n"
	"              beside this machine's floor on the same range in the same run\n"
	"              (mlock + bulk pagemap read; munlock), their ratio, and Linux's\n"
	"              published figures.\n"
	"Backends: synthetic (no memory: a terabyte guest fits; layout contig, frag4k,\n"
	"runs2m or random chooses the physical addresses) or process (real memory of\n"
	"this process, mlock()ed; layout contig or runs2m asks for huge pages, frag4k\n"
	"for 4 KiB pages; RLIMIT_MEMLOCK applies without CAP_IPC_LOCK).\n"
	"\n"
	"Per workload it prints, for each policy, the measured phase's regions\n"
	"(physically contiguous chunks) unmapped, invalidation descriptors by kind\n"
	"(page-selective, domain, global), IOTLB waits, CPU time (process CPU clock),\n"
	"modeled device time (the emulated VT-d's cost model), pages unmapped per CPU\n"
	"second, peak pinned pages and peak bookkeeping bytes (container + pinner), and\n"
	"under each policy its ratios to strict. Then the targets as measured.\n"
	"Figures only: nothing is asserted; the exit status does not depend on them.\n"
	"\n"
	"Options:\n"
	"  -w, --workload SPEC  add a workload (repeatable)\n"
	"  --trace FILE    add a trace workload (repeatable; same as -w trace:FILE)\n"
	"  --scale FROM:TO lifecycle workloads of FROM, 2 FROM, 4 FROM, ... up to TO\n"
	"                  bytes (synthetic backend), and a table of CPU per page and\n"
	"                  memory by guest size; e.g. --scale 1G:1T\n"
	"  --layout L      layout of the --scale guests (default runs2m)\n"
	"  --flat          vm-real at 1 GiB and at the largest guest that fits (or\n"
	"                  --guest-size), both backings, gather only unless --policy\n"
	"                  says: a table of the figures per page by size, their spread\n"
	"                  and whether they are flat within 10 %\n"
	"  --guest-size SIZE  vm-real's guest when its spec has no size= (default 1G;\n"
	"                  max: the largest that fits)\n"
	"  --policy LIST   policies to run: all (default) or a comma list\n"
	"  --cost on|off   the emulated IOMMU's cost model (default on; it only counts\n"
	"                  modeled time, CPU time is the same either way)\n"
	"  --batch N       pending regions per IOTLB wait (default 512)\n"
	"  --driver LIST   emulated IOMMU driver: vtd (default), amd, or a comma list\n"
	"                  (vtd,amd) or all: every workload runs on each, and a table\n"
	"                  puts them side by side, a column per driver and policy\n"
	"                  (commands, waits, modeled device time, CPU time). AMD-Vi\n"
	"                  variants: amd-covering (one covering command per range,\n"
	"                  Linux on a unit without NpCache), amd-npcache (maps flushed)\n"
	"  --json FILE     write the results as JSON: an array, one object per workload\n"
	"                  (and driver, with a \"driver\" key):\n"
	"                  {\"workload\", \"guest_bytes\", ..., \"results\": [{\"policy\",\n"
	"                  \"regions\", \"inv_descriptors\", \"waits\", \"cpu_ns\",\n"
	"                  \"modeled_ns\", \"pages\", ...}, ...]} ('-': standard output)\n"
	"  --svg FILE      draw the chart: per workload, time per policy (CPU and\n"
	"                  modeled) and IOTLB waits, on log scales\n"
	"  --progress WHEN a progress bar on standard error: auto (default: when it is a\n"
	"                  terminal and the run lasts over a second), always, never\n"
	"  -h, --help      show this text\n";

static const char bench_unmap_help[] =
	"Usage: softvfio bench-unmap [OPTIONS]\n"
	"\n"
	"One large mapping unmapped under each flush policy. For each policy, on the\n"
	"synthetic pinning backend: map ONE mapping of SIZE bytes (with the frag4k\n"
	"layout every 4 KiB page is physically apart, so it is mapped, invalidated\n"
	"and unpinned page by page), then time one VFIO_IOMMU_UNMAP_DMA of it with\n"
	"the thread CPU clock around the ioctl only. Prints per policy: pages, waits,\n"
	"invalidation descriptors (page/domain/global), CPU ns in total and per page,\n"
	"modeled device ns, peak bookkeeping bytes (container + pinner) and the\n"
	"process's peak RSS; then the targets, each PASS or MISS:\n"
	"  - batched waits <= strict waits / BATCH\n"
	"  - unmap CPU time per page < 30 ns (batched and gather; the target is\n"
	"    defined with the cost model off)\n"
	"Figures only: nothing is asserted, the exit status does not depend on them.\n"
	"\n"
	"Options:\n"
	"  --size BYTES    size of the mapping (default 16G; K/M/G/T suffixes;\n"
	"                  a multiple of 4 KiB, at most 256 TiB). Note that 16G of\n"
	"                  frag4k is 4M separately mapped pages: it takes seconds and\n"
	"                  ~40 MiB of emulated page tables per policy\n"
	"  --layout L      contig, frag4k (default), runs2m, random\n"
	"  --policy P|all  strict, batched, gather, lazy, or all (default: strict,\n"
	"                  batched and gather; lazy's unmap returns before its wait,\n"
	"                  so timing the ioctl alone misses its flush: --policy lazy\n"
	"                  shows that ioctl, 'softvfio bench' measures lazy whole)\n"
	"  --cost on|off   the emulated IOMMU's cost model (default on)\n"
	"  --batch N       pending regions per IOTLB wait (default 512)\n"
	"  --driver D      emulated IOMMU driver: vtd (default) or amd\n"
	"  -h, --help      show this text\n";

static const char help_help[] =
	"Usage: softvfio help [COMMAND]\n"
	"\n"
	"Show the general help, or COMMAND's (same as 'softvfio COMMAND --help').\n";

enum {
	OPT_DRIVER = 256,
	OPT_BACKEND,
	OPT_LAYOUT,
	OPT_POLICY,
	OPT_STATS,
	OPT_CHECK_UNPIN,
	OPT_HW_DIRTY,
	OPT_CHECK_DMA,
	OPT_SHOW_TRACE,
	OPT_SIZE,
	OPT_COST,
	OPT_BATCH,
	OPT_WORKLOAD,
	OPT_TRACE,
	OPT_SCALE,
	OPT_JSON,
	OPT_SVG,
	OPT_NO_CHART,
	OPT_PROGRESS,
	OPT_SESSION,
	OPT_GUEST_SIZE,
	OPT_FLAT,
};

/* Options replay and run share. 0 when handled, 1 when not one of them, or an exit status. */
static int tool_option(const char *cmd, int c, const char *arg, struct svf_tool_config *cfg)
{
	switch (c) {
	case OPT_DRIVER:
		cfg->driver = arg;
		return 0;
	case OPT_BACKEND:
		if (svf_backend_parse(arg, &cfg->backend))
			return svf_cli_usage(cmd, "unknown backend '%s' (process, synthetic)", arg);
		return 0;
	case OPT_LAYOUT:
		if (svf_layout_parse(arg, &cfg->layout))
			return svf_cli_usage(cmd, "unknown layout '%s' (contig, frag4k, runs2m, random)",
					     arg);
		return 0;
	case OPT_POLICY:
		if (svf_policy_parse(arg, &cfg->policy))
			return svf_cli_usage(cmd, "unknown policy '%s' (strict, batched, gather, lazy)",
					     arg);
		return 0;
	case OPT_CHECK_UNPIN:
		cfg->check_unpin = true;
		return 0;
	case OPT_HW_DIRTY:
		cfg->hw_dirty = true;
		return 0;
	case OPT_CHECK_DMA:
		cfg->dma_check = true;
		return 0;
	}
	return 1;
}

/* 0 when the driver exists, else an exit status after saying why. */
static int check_driver(const char *cmd, const char *driver)
{
	char buf[24];
	int rc;

	rc = svf_tool_check_driver(driver);
	if (rc == -ENODEV)
		return svf_cli_usage(cmd, "unknown IOMMU driver '%s'", driver);
	if (rc) {
		fprintf(stderr, "softvfio %s: cannot create a '%s' IOMMU: %s\n", cmd, driver,
			svf_errno_name(-rc, buf));
		return EXIT_FAILURE;
	}
	return 0;
}

/* The counters as one JSON line to path ('-': standard output). 0 or an exit status. */
static int write_stats(const char *cmd, const char *path, const struct svf_stats *st)
{
	bool to_stdout = strcmp(path, "-") == 0;
	FILE *f;
	int rc = 0;

	f = to_stdout ? stdout : fopen(path, "w");
	if (!f) {
		fprintf(stderr, "softvfio %s: cannot open '%s': %s\n", cmd, path, strerror(errno));
		return EXIT_FAILURE;
	}
	if (svf_stats_write_json(st, f) || fputc('\n', f) == EOF || fflush(f) == EOF)
		rc = EXIT_FAILURE;
	if (!to_stdout && fclose(f) == EOF)
		rc = EXIT_FAILURE;
	if (rc)
		fprintf(stderr, "softvfio %s: writing the counters to '%s' failed\n", cmd, path);
	return rc;
}

/*
 * Parse and replay text; shared by replay and run. Nothing runs, and no
 * stats file is written, unless the whole trace parses.
 */
static int replay_text(const char *cmd, const char *text, size_t len,
		       const struct svf_tool_config *cfg, const char *stats_path, bool summary)
{
	struct svf_trace *t;
	struct svf_stats st;
	int rc;

	rc = svf_trace_parse(text, len, stderr, &t);
	if (rc == -EINVAL)
		return EXIT_USAGE;
	if (rc) {
		fprintf(stderr, "softvfio %s: out of memory parsing the trace\n", cmd);
		return EXIT_FAILURE;
	}
	rc = svf_trace_replay(t, cfg, stdout, stderr, &st);
	svf_trace_free(t);
	if (rc)
		return rc == -ENODEV ? EXIT_USAGE : EXIT_FAILURE;
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "softvfio %s: writing the results: %s\n", cmd, strerror(errno));
		return EXIT_FAILURE;
	}
	if (summary) {
		printf("\ncounters (%s policy, %s backend):\n", svf_policy_name(cfg->policy),
		       svf_backend_name(cfg->backend));
		svf_stats_print_table(&st, stdout);
	}
	if (stats_path)
		return write_stats(cmd, stats_path, &st);
	return 0;
}

static int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "driver", required_argument, NULL, OPT_DRIVER },
		{ "backend", required_argument, NULL, OPT_BACKEND },
		{ "layout", required_argument, NULL, OPT_LAYOUT },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "check-unpin", no_argument, NULL, OPT_CHECK_UNPIN },
		{ "hw-dirty", no_argument, NULL, OPT_HW_DIRTY },
		{ "check-dma", no_argument, NULL, OPT_CHECK_DMA },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *stats_path = NULL, *path;
	struct svf_tool_config cfg;
	char *text;
	size_t len;
	int c, rc;

	svf_tool_default_config(&cfg);
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(replay_help, stdout);
			return 0;
		}
		if (c == OPT_STATS) {
			stats_path = optarg;
			continue;
		}
		rc = tool_option("replay", c, optarg, &cfg);
		if (rc == 1)
			return svf_cli_bad_option("replay", argv, c);
		if (rc)
			return rc;
	}
	if (optind >= argc)
		return svf_cli_usage("replay", "missing TRACE (a file, or '-' for standard input)");
	if (optind + 1 < argc)
		return svf_cli_usage("replay", "unexpected argument '%s'", argv[optind + 1]);
	path = argv[optind];

	rc = check_driver("replay", cfg.driver);
	if (rc)
		return rc;
	if (stats_path && (rc = svf_cli_check_output("replay", "--stats", stats_path)) != 0)
		return rc;
	rc = svf_read_file(path, &text, &len);
	if (rc)
		return svf_cli_read_error("replay", path, -rc);
	cfg.cpu_time = stats_path != NULL; /* the counters written include cpu_ns */
	rc = replay_text("replay", text, len, &cfg, stats_path, false);
	free(text);
	return rc;
}

#define MAX_WORKLOADS 256

/* Policies: "all" or a comma list. 0 or -EINVAL. */
static int parse_policies(const char *arg, bool policy[SVF_POLICY_NR])
{
	char buf[128], *save = NULL, *tok;
	enum svf_policy p;

	memset(policy, 0, SVF_POLICY_NR * sizeof(bool));
	if (strcmp(arg, "all") == 0) {
		for (int i = 0; i < SVF_POLICY_NR; i++)
			policy[i] = true;
		return 0;
	}
	if (strlen(arg) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, arg);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (svf_policy_parse(tok, &p))
			return -EINVAL;
		policy[p] = true;
	}
	for (int i = 0; i < SVF_POLICY_NR; i++)
		if (policy[i])
			return 0;
	return -EINVAL;
}

/*
 * --driver for bench and run: one name, a comma list (side by side) or all.
 * The names point into a static copy (the last --driver given wins).
 */
static int parse_drivers(const char *cmd, const char *arg, struct svf_bench_opts *o)
{
	static const char *const all[] = { "vtd", "amd" };
	static char buf[256];
	char *tok, *save = NULL;
	unsigned n = 0;

	if (strcmp(arg, "all") == 0) {
		for (n = 0; n < 2; n++)
			o->drivers[n] = all[n];
	} else {
		if (strlen(arg) >= sizeof(buf))
			return svf_cli_usage(cmd, "--driver list too long");
		strcpy(buf, arg);
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (n == SVF_BENCH_MAX_DRIVERS)
				return svf_cli_usage(cmd, "--driver takes at most %d drivers",
						     SVF_BENCH_MAX_DRIVERS);
			o->drivers[n++] = tok;
		}
		if (!n)
			return svf_cli_usage(cmd, "--driver wants a name, a comma list or all");
	}
	o->driver = o->drivers[0];
	o->nr_drivers = n > 1 ? n : 0;
	return 0;
}

/* Options bench and run share. 0 when handled, 1 when not one of them, or an exit status. */
static int bench_option(const char *cmd, int c, const char *arg, struct svf_bench_opts *o)
{
	uint64_t v;

	switch (c) {
	case OPT_POLICY:
		if (parse_policies(arg, o->policy))
			return svf_cli_usage(cmd, "--policy wants all or a comma list of strict, "
					     "batched, gather, lazy, not '%s'", arg);
		return 0;
	case OPT_COST:
		if (strcmp(arg, "on") == 0)
			o->cost = 1;
		else if (strcmp(arg, "off") == 0)
			o->cost = 0;
		else
			return svf_cli_usage(cmd, "--cost wants on or off, not '%s'", arg);
		return 0;
	case OPT_BATCH:
		if (svf_cli_u64(cmd, "--batch", arg, 1, 1u << 24, &v))
			return SVF_EXIT_USAGE;
		o->batch = (unsigned)v;
		return 0;
	case OPT_DRIVER:
		return parse_drivers(cmd, arg, o);
	case OPT_JSON:
		o->json_path = arg;
		return 0;
	case OPT_SVG:
		o->svg_path = arg;
		return 0;
	case OPT_GUEST_SIZE:
		if (strcmp(arg, "max") == 0) {
			o->guest_size = SVF_VMREAL_SIZE_MAX;
			return 0;
		}
		if (svf_parse_u64(arg, &v) || v == 0 || v % (2 << 20) ||
		    v > SVF_BENCH_IOVA_LIMIT - SVF_BENCH_IOVA)
			return svf_cli_usage(cmd, "--guest-size wants max or a non-zero multiple of "
					     "2 MiB up to 255T, not '%s'", arg);
		o->guest_size = v;
		return 0;
	case OPT_PROGRESS:
		if (strcmp(arg, "auto") == 0)
			o->progress = -1;
		else if (strcmp(arg, "always") == 0)
			o->progress = 1;
		else if (strcmp(arg, "never") == 0)
			o->progress = 0;
		else
			return svf_cli_usage(cmd, "--progress wants auto, always or never, not '%s'",
					     arg);
		return 0;
	}
	return 1;
}

/* Run the benchmark as o says; tables go to stderr when the JSON goes to stdout. */
static int bench_main(const char *cmd, const struct svf_bench_opts *o)
{
	bool json_stdout = o->json_path && strcmp(o->json_path, "-") == 0;
	int rc;

	rc = check_driver(cmd, o->driver ? o->driver : "vtd");
	for (unsigned k = 1; !rc && k < o->nr_drivers; k++)
		rc = check_driver(cmd, o->drivers[k]);
	if (rc)
		return rc;
	if (o->json_path && (rc = svf_cli_check_output(cmd, "--json", o->json_path)) != 0)
		return rc;
	if (o->svg_path && (rc = svf_cli_check_output(cmd, "--svg", o->svg_path)) != 0)
		return rc;
	rc = svf_bench(o, json_stdout ? stderr : stdout, stderr);
	if (rc == -EINVAL)
		return EXIT_USAGE;
	return rc ? EXIT_FAILURE : 0;
}

/* --scale FROM:TO into lifecycle workloads FROM, 2 FROM, ... TO. 0 or an exit status. */
static int scale_workloads(const char *arg, enum svf_layout layout, struct svf_workload *wl,
			   size_t *nr)
{
	const char *colon = strchr(arg, ':');
	char from_s[32];
	uint64_t from, to;
	size_t n;
	int rc;

	if (!colon || (size_t)(colon - arg) >= sizeof(from_s))
		return svf_cli_usage("bench", "--scale wants FROM:TO, e.g. 1G:1T, not '%s'", arg);
	memcpy(from_s, arg, (size_t)(colon - arg));
	from_s[colon - arg] = '\0';
	if (svf_parse_u64(from_s, &from) || svf_parse_u64(colon + 1, &to) || from == 0 ||
	    from % SVF_PAGE_SIZE || to % SVF_PAGE_SIZE || to < from ||
	    to > SVF_BENCH_IOVA_LIMIT - SVF_BENCH_IOVA)
		return svf_cli_usage("bench", "--scale wants FROM:TO, multiples of 4 KiB with FROM "
				     "<= TO <= 255T, not '%s'", arg);
	for (uint64_t size = from;; size = size > to / 2 ? to : size * 2) {
		char spec[96];

		snprintf(spec, sizeof(spec), "lifecycle:size=%" PRIu64 ",layout=%s", size,
			 svf_layout_name(layout));
		if (*nr >= MAX_WORKLOADS)
			return svf_cli_usage("bench", "too many workloads (at most %d)", MAX_WORKLOADS);
		rc = svf_workload_parse(spec, wl + *nr, MAX_WORKLOADS - *nr, &n, stderr);
		if (rc)
			return EXIT_USAGE;
		*nr += n;
		if (size == to)
			break;
	}
	return 0;
}

static int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "workload", required_argument, NULL, 'w' },
		{ "trace", required_argument, NULL, OPT_TRACE },
		{ "scale", required_argument, NULL, OPT_SCALE },
		{ "layout", required_argument, NULL, OPT_LAYOUT },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "cost", required_argument, NULL, OPT_COST },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "driver", required_argument, NULL, OPT_DRIVER },
		{ "json", required_argument, NULL, OPT_JSON },
		{ "svg", required_argument, NULL, OPT_SVG },
		{ "progress", required_argument, NULL, OPT_PROGRESS },
		{ "guest-size", required_argument, NULL, OPT_GUEST_SIZE },
		{ "flat", no_argument, NULL, OPT_FLAT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct svf_workload wl[MAX_WORKLOADS];
	bool flat = false, policy_given = false;
	enum svf_layout scale_layout = SVF_LAYOUT_RUNS2M;
	const char *scale = NULL;
	struct svf_bench_opts o;
	size_t nr = 0, n;
	int c, rc;

	svf_bench_default_opts(&o);
	o.cmd = "bench";
	while ((c = getopt_long(argc, argv, ":hw:", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(bench_help, stdout);
			return 0;
		case 'w':
		case OPT_TRACE:
			if (nr >= MAX_WORKLOADS)
				return svf_cli_usage("bench", "too many workloads (at most %d)",
						     MAX_WORKLOADS);
			if (c == OPT_TRACE) {
				/* Straight from argv: any file name, commas included. */
				svf_workload_defaults(SVF_WL_TRACE, &wl[nr]);
				wl[nr].trace_path = optarg;
				nr++;
				break;
			}
			rc = svf_workload_parse(optarg, wl + nr, MAX_WORKLOADS - nr, &n, stderr);
			if (rc == -ENOSPC)
				return svf_cli_usage("bench", "too many workloads (at most %d)",
						     MAX_WORKLOADS);
			if (rc)
				return EXIT_USAGE;
			nr += n;
			break;
		case OPT_SCALE:
			scale = optarg;
			break;
		case OPT_FLAT:
			flat = true;
			break;
		case OPT_LAYOUT:
			if (svf_layout_parse(optarg, &scale_layout))
				return svf_cli_usage("bench", "unknown layout '%s' (contig, frag4k, "
						     "runs2m, random)", optarg);
			break;
		default:
			policy_given |= c == OPT_POLICY;
			rc = bench_option("bench", c, optarg, &o);
			if (rc == 1)
				return svf_cli_bad_option("bench", argv, c);
			if (rc)
				return rc;
		}
	}
	if (optind < argc)
		return svf_cli_usage("bench", "unexpected argument '%s'", argv[optind]);
	if (flat) {
		/*
		 * vm-real at 1 GiB and at the largest guest that fits (or
		 * --guest-size), both backings; gather unless --policy says.
		 */
		const char *specs[2] = { "vm-real:size=1G", "vm-real:size=max" };
		char big[64];

		if (o.guest_size && o.guest_size != SVF_VMREAL_SIZE_MAX) {
			snprintf(big, sizeof(big), "vm-real:size=%" PRIu64, o.guest_size);
			specs[1] = big;
		}
		for (int k = 0; k < 2; k++) {
			if (nr + 2 > MAX_WORKLOADS)
				return svf_cli_usage("bench", "too many workloads (at most %d)",
						     MAX_WORKLOADS);
			if (svf_workload_parse(specs[k], wl + nr, MAX_WORKLOADS - nr, &n, stderr))
				return EXIT_USAGE;
			nr += n;
		}
		if (!policy_given)
			for (int p = 0; p < SVF_POLICY_NR; p++)
				o.policy[p] = p == SVF_POLICY_GATHER;
	}
	if (scale) {
		rc = scale_workloads(scale, scale_layout, wl, &nr);
		if (rc)
			return rc;
		o.scaling = true;
	}
	if (nr) {
		o.wl = wl;
		o.nr_wl = nr;
	}
	return bench_main("bench", &o);
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "session", no_argument, NULL, OPT_SESSION },
		{ "show-trace", no_argument, NULL, OPT_SHOW_TRACE },
		{ "driver", required_argument, NULL, OPT_DRIVER },
		{ "backend", required_argument, NULL, OPT_BACKEND },
		{ "layout", required_argument, NULL, OPT_LAYOUT },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "check-unpin", no_argument, NULL, OPT_CHECK_UNPIN },
		{ "hw-dirty", no_argument, NULL, OPT_HW_DIRTY },
		{ "check-dma", no_argument, NULL, OPT_CHECK_DMA },
		{ "svg", required_argument, NULL, OPT_SVG },
		{ "no-chart", no_argument, NULL, OPT_NO_CHART },
		{ "json", required_argument, NULL, OPT_JSON },
		{ "cost", required_argument, NULL, OPT_COST },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "progress", required_argument, NULL, OPT_PROGRESS },
		{ "guest-size", required_argument, NULL, OPT_GUEST_SIZE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *policy = NULL, *session_only = NULL, *bench_only = NULL;
	bool show = false, session = false, chart = true;
	struct svf_tool_config cfg;
	struct svf_bench_opts o;
	int c, rc, li = -1;

	svf_tool_default_config(&cfg);
	svf_bench_default_opts(&o);
	o.cmd = "run";
	o.svg_path = "softvfio-bench.svg";
	while ((c = getopt_long(argc, argv, ":h", opts, &li)) != -1) {
		/* The option's name, for the messages below ("backend"). */
		const char *name = c >= 256 && li >= 0 ? opts[li].name : "?";

		switch (c) {
		case 'h':
			fputs(run_help, stdout);
			return 0;
		case OPT_SHOW_TRACE:
			show = true;
			continue;
		case OPT_SESSION:
			session = true;
			continue;
		case OPT_POLICY:
			policy = optarg; /* one policy with --session, a list for the bench */
			continue;
		case OPT_DRIVER:
			cfg.driver = optarg;
			o.driver = optarg;
			continue;
		case OPT_NO_CHART:
			chart = false;
			bench_only = name;
			continue;
		}
		if (c == OPT_BACKEND || c == OPT_LAYOUT || c == OPT_CHECK_UNPIN || c == OPT_HW_DIRTY ||
		    c == OPT_CHECK_DMA) {
			session_only = name;
			rc = tool_option("run", c, optarg, &cfg);
		} else {
			bench_only = name;
			rc = bench_option("run", c, optarg, &o);
		}
		if (rc == 1)
			return svf_cli_bad_option("run", argv, c);
		if (rc)
			return rc;
	}
	if (optind < argc)
		return svf_cli_usage("run", "unexpected argument '%s'", argv[optind]);
	if (show) {
		fputs(svf_session_trace, stdout);
		return 0;
	}
	if (session) {
		if (bench_only)
			return svf_cli_usage("run", "--%s is a benchmark option: not with --session",
					     bench_only);
		if (policy && svf_policy_parse(policy, &cfg.policy))
			return svf_cli_usage("run", "unknown policy '%s' (strict, batched, gather, "
					     "lazy)", policy);
		rc = check_driver("run", cfg.driver);
		if (rc)
			return rc;
		cfg.cpu_time = true; /* the summary table shows cpu_ns */
		return replay_text("run", svf_session_trace, svf_session_trace_len, &cfg, NULL,
				   true);
	}
	if (session_only)
		return svf_cli_usage("run", "--%s applies to the session: use it with --session",
				     session_only);
	if (policy) {
		rc = bench_option("run", OPT_POLICY, policy, &o);
		if (rc)
			return rc;
	}
	if (!chart)
		o.svg_path = NULL;
	rc = bench_main("run", &o);
	/* The built-in workloads end with real memory beside this machine's floor. */
	if (!rc && o.wl == svf_bench_default_workloads && !(o.json_path && !strcmp(o.json_path, "-")))
		rc = svf_bench_real_report(256ULL << 20, 3, 1024, stdout) ? EXIT_FAILURE : 0;
	return rc;
}

static int cmd_bench_unmap(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "layout", required_argument, NULL, OPT_LAYOUT },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "cost", required_argument, NULL, OPT_COST },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "driver", required_argument, NULL, OPT_DRIVER },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct svf_bench_unmap_opts o;
	enum svf_policy p;
	uint64_t v;
	int c, rc;

	svf_bench_unmap_default_opts(&o);
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(bench_unmap_help, stdout);
			return 0;
		case OPT_SIZE:
			if (svf_parse_u64(optarg, &v) || v == 0 || v % SVF_PAGE_SIZE ||
			    v > (256ULL << 40))
				return svf_cli_usage("bench-unmap",
						     "--size wants a non-zero multiple of 4 KiB up "
						     "to 256T, not '%s'", optarg);
			o.size = v;
			break;
		case OPT_LAYOUT:
			if (svf_layout_parse(optarg, &o.layout))
				return svf_cli_usage("bench-unmap", "unknown layout '%s' (contig, "
						     "frag4k, runs2m, random)", optarg);
			break;
		case OPT_POLICY:
			if (strcmp(optarg, "all") == 0) {
				for (p = 0; p < SVF_POLICY_NR; p++)
					o.policy[p] = p != SVF_POLICY_LAZY;
				break;
			}
			if (svf_policy_parse(optarg, &p))
				return svf_cli_usage("bench-unmap", "unknown policy '%s' (strict, "
						     "batched, gather, lazy, all)", optarg);
			memset(o.policy, 0, sizeof(o.policy));
			o.policy[p] = true;
			break;
		case OPT_COST:
			if (strcmp(optarg, "on") == 0)
				o.cost = true;
			else if (strcmp(optarg, "off") == 0)
				o.cost = false;
			else
				return svf_cli_usage("bench-unmap", "--cost wants on or off, not '%s'",
						     optarg);
			break;
		case OPT_BATCH:
			if (svf_cli_u64("bench-unmap", "--batch", optarg, 1, 1u << 24, &v))
				return SVF_EXIT_USAGE;
			o.batch = (unsigned)v;
			break;
		case OPT_DRIVER:
			o.driver = optarg;
			break;
		default:
			return svf_cli_bad_option("bench-unmap", argv, c);
		}
	}
	if (optind < argc)
		return svf_cli_usage("bench-unmap", "unexpected argument '%s'", argv[optind]);
	rc = check_driver("bench-unmap", o.driver ? o.driver : "vtd");
	if (rc)
		return rc;
	rc = svf_bench_unmap(&o, stdout, stderr);
	if (rc == -EINVAL)
		return EXIT_USAGE;
	return rc ? EXIT_FAILURE : 0;
}

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "replay", cmd_replay, replay_help },
	{ "run", cmd_run, run_help },
	{ "bench", cmd_bench, bench_help },
	{ "bench-unmap", cmd_bench_unmap, bench_unmap_help },
	{ "bench-translate", svf_bench_translate_main, svf_bench_translate_help },
	{ "bench-dirty", svf_bench_dirty_main, svf_bench_dirty_help },
	{ "bench-ioat", svf_bench_ioat_main, svf_bench_ioat_help },
	{ "bench-real", svf_bench_real_main, svf_bench_real_help },
	{ "bench-vfio", svf_bench_vfio_main, svf_bench_vfio_help },
	{ "bench-exec", svf_bench_exec_main, svf_bench_exec_help },
	{ "exec", svf_exec_main, svf_exec_help },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int cmd_help(int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2) {
		fputs(main_help, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(help_help, stdout);
		return 0;
	}
	if (argc > 2)
		return svf_cli_usage("help", "unexpected argument '%s'", argv[2]);
	cmd = find_command(argv[1]);
	if (!cmd)
		return svf_cli_usage("help", "unknown command '%s'", argv[1]);
	fputs(cmd->help, stdout);
	return 0;
}

/* The library's diagnostics (<softvfio/log.h>): one line each on stderr. */
static void log_to_stderr(void *opaque, enum svf_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	fprintf(stderr, "softvfio: %s\n", msg);
}

int main(int argc, char **argv)
{
	const struct command *cmd;

	opterr = 0;
	svf_set_log_fn(log_to_stderr, NULL);
	if (argc < 2) {
		fputs(main_help, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(main_help, stdout);
		return svf_cli_finish(0);
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("softvfio %s (libsoftvfio %s, linked statically)\nbuild: %s\n",
		       SOFTVFIO_VERSION, SOFTVFIO_VERSION, SVF_BUILD_OPTIONS);
		return svf_cli_finish(0);
	}
	if (strcmp(argv[1], "help") == 0)
		return svf_cli_finish(cmd_help(argc - 1, argv + 1));
	if (argv[1][0] == '-')
		return svf_cli_usage(NULL, "unknown option '%s'", argv[1]);
	cmd = find_command(argv[1]);
	if (!cmd)
		return svf_cli_usage(NULL, "unknown command '%s'", argv[1]);
	return svf_cli_finish(cmd->fn(argc - 1, argv + 1));
}

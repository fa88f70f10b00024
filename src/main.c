/* SPDX-License-Identifier: MIT */
/*
 * The softvfio command: replay vfio-trace files, run the bundled example
 * session, run the unmap benchmark.
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

#include "bench_unmap.h"
#include "replay.h"

#define EXIT_USAGE 2

/*
 * The session `softvfio run` replays, kept byte for byte equal to
 * tests/traces/vmm-session.trace (run_traces.sh checks it with --show-trace).
 */
static const char session_trace[] =
	"# A VMM session, as QEMU drives a type1 container for an assigned device:\n"
	"# guest RAM and ROM come from one arena (the guest's memory) and IOVAs are\n"
	"# guest physical addresses. Replayed by `softvfio run`.\n"
	"arena 64M\n"
	"info                                # what the IOMMU offers before anything is mapped\n"
	"map 0x0 0xa0000 0 rw                # guest RAM below the legacy VGA window (640 KiB)\n"
	"map 0xc0000 0x20000 0xc0000 r       # option ROM: the device may only read it\n"
	"map 0x100000 3M 0x100000 rw         # guest RAM from 1 MiB up\n"
	"map 0x100000 4K 0x100000 rw         # the same IOVA a second time: EEXIST\n"
	"map 0x80000 0x40000 0x80000 rw      # overlaps the RAM below 640 KiB: EEXIST\n"
	"map 0x400000 4K 0x400000 -          # neither read nor write: EINVAL\n"
	"map 0xfee00000 4K 0x800000 rw       # the x86 MSI window is reserved: EINVAL\n"
	"map 0x100000000 2M 0x1000000 rw     # RAM above 4 GiB\n"
	"map 0x200000000 64K 0x2000000 w     # a NIC's receive ring: the device only writes\n"
	"map 0x200010000 64K 64M rw          # past the arena, in its guard: EFAULT\n"
	"info                                # five mappings live\n"
	"unmap 0x140000 64K                  # a balloon page inside RAM bisects it: EINVAL\n"
	"unmap 0xc0000 0x20000               # the option ROM goes away\n"
	"unmap 0x0 0x200000                  # ends inside the RAM from 1 MiB: EINVAL\n"
	"unmap 0x100000000 2M                # a DIMM is unplugged\n"
	"unmap 0x300000000 1G                # nothing is mapped there: size 0\n"
	"info\n"
	"unmap 0 0 all                       # the VMM shuts down\n"
	"info\n";

static const char main_help[] =
	"Usage: softvfio COMMAND [OPTIONS] [ARGS]\n"
	"       softvfio --help | --version\n"
	"\n"
	"softvfio is a userspace implementation of Linux's VFIO type1 IOMMU backend\n"
	"(VFIO_TYPE1v2_IOMMU) on an emulated IOMMU (Intel VT-d). This command drives\n"
	"it with the requests and structs of <linux/vfio.h>.\n"
	"\n"
	"Commands:\n"
	"  replay TRACE     run a vfio-trace v1 file, one result line per operation\n"
	"  run              replay the bundled example VMM session and print counters\n"
	"  bench-unmap      time unmapping one large, fragmented mapping per flush policy\n"
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
	"                               device DMA; prints 'skip' (no device yet)\n"
	"\nThe format is specified in shared/spec/vfio-trace.md and docs/softvfio.1.md.\n"
	"\n"
	"Options:\n"
	"  --driver D      emulated IOMMU driver (default vtd)\n"
	"  --backend B     pinning backend: process (default; real memory of this\n"
	"                  process, mlock()ed) or synthetic (no memory: OFFSET is the\n"
	"                  vaddr itself; holes and the guard give no EFAULT)\n"
	"  --layout L      synthetic physical layout: contig (default), frag4k, runs2m,\n"
	"                  random\n"
	"  --policy P      unmap flush policy: strict, batched, gather (default), lazy\n"
	"  --stats FILE    write the container's counters as one JSON object to FILE\n"
	"                  ('-': standard output, after the result lines)\n"
	"  --check-unpin   verify every unpin against the emulated IOMMU (slower)\n"
	"  -h, --help      show this text\n"
	"\n"
	"With the process backend the mapped pages are really locked: RLIMIT_MEMLOCK\n"
	"(ulimit -l) bounds what a trace can map at once unless you have CAP_IPC_LOCK.\n";

static const char run_help[] =
	"Usage: softvfio run [OPTIONS]\n"
	"\n"
	"Replay the example VMM session bundled in the binary (guest RAM and ROM\n"
	"mapped, overlapping and bisecting requests refused with Linux's errnos, the\n"
	"MSI window and an inaccessible address refused, info, unmaps, unmap-all),\n"
	"print its result lines, then the container's counters, one per line.\n"
	"\n"
	"Options:\n"
	"  --driver D, --backend B, --layout L, --policy P, --check-unpin\n"
	"                  as for 'softvfio replay' (defaults vtd, process, gather)\n"
	"  --show-trace    print the bundled trace instead of running it\n"
	"  -h, --help      show this text\n";

static const char bench_help[] =
	"Usage: softvfio bench-unmap [OPTIONS]\n"
	"\n"
	"The unmap benchmark of the seed issue. For each flush policy, on the\n"
	"synthetic pinning backend: map ONE mapping of SIZE bytes (with the frag4k\n"
	"layout every 4 KiB page is physically apart, so it is mapped, invalidated\n"
	"and unpinned page by page), then time one VFIO_IOMMU_UNMAP_DMA of it with\n"
	"the thread CPU clock around the ioctl only. Prints per policy: pages, waits,\n"
	"invalidation descriptors (page/domain/global), CPU ns in total and per page,\n"
	"modeled device ns, peak bookkeeping bytes (container + pinner) and the\n"
	"process's peak RSS; then the issue's targets, each PASS or MISS:\n"
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
	"                  batched and gather; lazy is not implemented yet and is\n"
	"                  skipped, saying so; --policy lazy runs whatever the library\n"
	"                  does for it, or reports that it refuses it)\n"
	"  --cost on|off   the emulated IOMMU's cost model (default on)\n"
	"  --batch N       pending regions per IOTLB wait (default 512)\n"
	"  --driver D      emulated IOMMU driver (default vtd)\n"
	"  -h, --help      show this text\n";

static const char help_help[] =
	"Usage: softvfio help [COMMAND]\n"
	"\n"
	"Show the general help, or COMMAND's (same as 'softvfio COMMAND --help').\n";

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "softvfio%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'softvfio%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "");
	return EXIT_USAGE;
}

/* getopt_long's own messages are off: report a bad option our way. */
static int bad_option(const char *cmd, char **argv, int c)
{
	const char *arg = argv[optind - 1];
	char shortopt[3] = { '-', (char)optopt, '\0' };

	if (c == '?' && optopt > 0 && optopt < 256)
		arg = shortopt;
	if (c == ':')
		return usage_error(cmd, "option '%s' needs a value", arg);
	return usage_error(cmd, "unknown option '%s'", arg);
}

enum {
	OPT_DRIVER = 256,
	OPT_BACKEND,
	OPT_LAYOUT,
	OPT_POLICY,
	OPT_STATS,
	OPT_CHECK_UNPIN,
	OPT_SHOW_TRACE,
	OPT_SIZE,
	OPT_COST,
	OPT_BATCH,
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
			return usage_error(cmd, "unknown backend '%s' (process, synthetic)", arg);
		return 0;
	case OPT_LAYOUT:
		if (svf_layout_parse(arg, &cfg->layout))
			return usage_error(cmd, "unknown layout '%s' (contig, frag4k, runs2m, random)",
					   arg);
		return 0;
	case OPT_POLICY:
		if (svf_policy_parse(arg, &cfg->policy))
			return usage_error(cmd, "unknown policy '%s' (strict, batched, gather, lazy)",
					   arg);
		return 0;
	case OPT_CHECK_UNPIN:
		cfg->check_unpin = true;
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
		return usage_error(cmd, "unknown IOMMU driver '%s'", driver);
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
			return bad_option("replay", argv, c);
		if (rc)
			return rc;
	}
	if (optind >= argc)
		return usage_error("replay", "missing TRACE (a file, or '-' for standard input)");
	if (optind + 1 < argc)
		return usage_error("replay", "unexpected argument '%s'", argv[optind + 1]);
	path = argv[optind];

	rc = check_driver("replay", cfg.driver);
	if (rc)
		return rc;
	rc = svf_read_file(path, &text, &len);
	if (rc) {
		fprintf(stderr, "softvfio replay: cannot read '%s': %s\n", path, strerror(-rc));
		return EXIT_FAILURE;
	}
	rc = replay_text("replay", text, len, &cfg, stats_path, false);
	free(text);
	return rc;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "driver", required_argument, NULL, OPT_DRIVER },
		{ "backend", required_argument, NULL, OPT_BACKEND },
		{ "layout", required_argument, NULL, OPT_LAYOUT },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "check-unpin", no_argument, NULL, OPT_CHECK_UNPIN },
		{ "show-trace", no_argument, NULL, OPT_SHOW_TRACE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct svf_tool_config cfg;
	bool show = false;
	int c, rc;

	svf_tool_default_config(&cfg);
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(run_help, stdout);
			return 0;
		}
		if (c == OPT_SHOW_TRACE) {
			show = true;
			continue;
		}
		rc = tool_option("run", c, optarg, &cfg);
		if (rc == 1)
			return bad_option("run", argv, c);
		if (rc)
			return rc;
	}
	if (optind < argc)
		return usage_error("run", "unexpected argument '%s'", argv[optind]);
	if (show) {
		fputs(session_trace, stdout);
		return 0;
	}
	rc = check_driver("run", cfg.driver);
	if (rc)
		return rc;
	return replay_text("run", session_trace, sizeof(session_trace) - 1, &cfg, NULL, true);
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
			fputs(bench_help, stdout);
			return 0;
		case OPT_SIZE:
			if (svf_parse_u64(optarg, &v) || v == 0 || v % SVF_PAGE_SIZE ||
			    v > (256ULL << 40))
				return usage_error("bench-unmap",
						   "--size wants a non-zero multiple of 4 KiB up "
						   "to 256T, not '%s'", optarg);
			o.size = v;
			break;
		case OPT_LAYOUT:
			if (svf_layout_parse(optarg, &o.layout))
				return usage_error("bench-unmap", "unknown layout '%s' (contig, "
						   "frag4k, runs2m, random)", optarg);
			break;
		case OPT_POLICY:
			if (strcmp(optarg, "all") == 0) {
				for (p = 0; p < SVF_POLICY_NR; p++)
					o.policy[p] = p != SVF_POLICY_LAZY;
				break;
			}
			if (svf_policy_parse(optarg, &p))
				return usage_error("bench-unmap", "unknown policy '%s' (strict, "
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
				return usage_error("bench-unmap", "--cost wants on or off, not '%s'",
						   optarg);
			break;
		case OPT_BATCH:
			if (svf_parse_u64(optarg, &v) || v == 0 || v > (1u << 24))
				return usage_error("bench-unmap",
						   "--batch wants 1 to 16M, not '%s'", optarg);
			o.batch = (unsigned)v;
			break;
		case OPT_DRIVER:
			o.driver = optarg;
			break;
		default:
			return bad_option("bench-unmap", argv, c);
		}
	}
	if (optind < argc)
		return usage_error("bench-unmap", "unexpected argument '%s'", argv[optind]);
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
	{ "bench-unmap", cmd_bench_unmap, bench_help },
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
		return usage_error("help", "unexpected argument '%s'", argv[2]);
	cmd = find_command(argv[1]);
	if (!cmd)
		return usage_error("help", "unknown command '%s'", argv[1]);
	fputs(cmd->help, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const struct command *cmd;

	opterr = 0;
	if (argc < 2) {
		fputs(main_help, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(main_help, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("softvfio %s\n", SOFTVFIO_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0)
		return cmd_help(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		return usage_error(NULL, "unknown option '%s'", argv[1]);
	cmd = find_command(argv[1]);
	if (!cmd)
		return usage_error(NULL, "unknown command '%s'", argv[1]);
	return cmd->fn(argc - 1, argv + 1);
}

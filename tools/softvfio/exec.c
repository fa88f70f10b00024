/* SPDX-License-Identifier: MIT */
/*
 * `softvfio exec`: run PROGRAM with libsoftvfio-preload.so preloaded.
 *
 * The command checks its options, writes them into the environment the
 * preload library reads (SOFTVFIO_*; see src/preload/host.h), prepares the
 * sysfs tree's directory, then forks: the child becomes PROGRAM, the
 * parent waits for it, removes a temporary sysfs tree and exits with the
 * program's status (128 + N when a signal N ended it). SIGINT, SIGTERM,
 * SIGHUP and SIGQUIT that reach the command are passed on to the program.
 *
 * The preload library is looked up in order: $SOFTVFIO_PRELOAD; next to
 * this binary in the build tree (../../src/preload/); the installed
 * library directory. A build with sanitizers preloads their runtimes
 * first, as they must come first in the library list.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ftw.h>

#include <softvfio/softvfio.h>

#include "devspec.h"
#include "exec.h"

#ifndef SVF_PRELOAD_INSTALLED
#define SVF_PRELOAD_INSTALLED "/usr/local/lib/libsoftvfio-preload.so"
#endif

const char svf_exec_help[] =
	"Usage: softvfio exec [OPTIONS] [--] PROGRAM [ARGS...]\n"
	"\n"
	"Run an unmodified VFIO program (a VMM such as QEMU with -device vfio-pci, a\n"
	"userspace driver) on softvfio: no IOMMU, no VFIO module and no device needed.\n"
	"PROGRAM runs with the preload library libsoftvfio-preload.so, which gives it\n"
	"a VFIO host:\n"
	"  /dev/vfio/vfio      a type1 container (VFIO_TYPE1v2_IOMMU) on an emulated\n"
	"                      IOMMU (Intel VT-d, or AMD-Vi with --driver amd), with\n"
	"                      Linux's results and errnos\n"
	"  /dev/vfio/N         the IOMMU group of each device; VFIO_GROUP_GET_DEVICE_FD\n"
	"                      gives a device fd with vfio-pci's regions (index << 40):\n"
	"                      config space and BARs through pread/pwrite, BARs\n"
	"                      mmappable, interrupts on the program's eventfds\n"
	"  /sys/...            the sysfs entries VFIO programs read:\n"
	"                      bus/pci/devices/BDF/{iommu_group,driver,vendor,device,\n"
	"                      subsystem_vendor,subsystem_device,class,revision,\n"
	"                      resource,numa_node,config,iommu/intel-iommu/cap (VT-d)},\n"
	"                      kernel/iommu_groups/N/devices/BDF, module/vfio,\n"
	"                      module/vfio_pci, module/vfio_iommu_type1/parameters/*\n"
	"  /dev/kmsg           the IOMMU faults of the devices' DMA, as Linux's\n"
	"                      intel-iommu driver logs them (\"DMAR: [DMA Read NO_PASID]\n"
	"                      Request device [00:03.0] fault addr 0x...\") or, with\n"
	"                      --driver amd, its amd_iommu driver (\"vfio-pci\n"
	"                      0000:00:03.0: AMD-Vi: Event logged [IO_PAGE_FAULT\n"
	"                      domain=0x0001 address=0x... flags=0x0000]\"), each once,\n"
	"                      in order; one record per read(2)\n"
	"Every VFIO fd is a real kernel fd (a memfd; a socket for /dev/kmsg), so\n"
	"close, dup, fcntl, poll and fd reuse behave; every other call passes through\n"
	"untouched. A device at a BDF the machine has too shadows the machine's.\n"
	"\n"
	"When the program exits (or a catchable fatal signal ends it) everything it\n"
	"left is released as Linux does when its fds close: every mapping unmapped\n"
	"through the policy's invalidations and unpinned; then --stats is written.\n"
	"\n"
	"Options:\n"
	"  --device SPEC   an emulated PCI device (repeatable); SPEC is\n"
	"                  KIND[,bdf=[DDDD:]BB:DD.F][,group=N][,dma_mask=MASK]\n"
	"                  KIND edu is QEMU's edu device (1234:11e8), ioat an Intel\n"
	"                  I/OAT DMA engine, one channel (8086:2021); dma_mask as QEMU's edu\n"
	"                  property (default 0xfffffff, 28 bits). Default: one edu at\n"
	"                  0000:00:03.0; devices without bdf= take the next free slot,\n"
	"                  devices without group= a group of their own\n"
	"  --driver D      the emulated IOMMU: vtd (Intel VT-d, default) or amd (AMD-Vi)\n"
	"  --policy P      unmap flush policy: strict, batched, gather (default), lazy\n"
	"  --backend B     pinning backend: process (default: the program's real\n"
	"                  memory, mlock()ed) or synthetic (no memory; the device\n"
	"                  cannot reach it)\n"
	"  --hw-dirty      the emulated IOMMU tracks dirtiness itself (page-table\n"
	"                  dirty bits) instead of Linux's every-mapped-page-is-dirty;\n"
	"                  VT-d only (AMD-Vi's dirty bits are not emulated)\n"
	"  --check-dma     check every device access against the pin state\n"
	"                  (dma_unpinned_access, dma_after_unmap in --stats)\n"
	"  --stats FILE    at exit, write the counters as one JSON object: {\"pid\",\n"
	"                  \"containers\", \"requests\", \"unknown_requests\",\n"
	"                  \"foreign_requests\", \"released_at_exit\": {\"containers\",\n"
	"                  \"pinned_pages\"}: what the program left for exit to\n"
	"                  release, \"stats\": {the library's counters, as\n"
	"                  'softvfio replay --stats', after the release}}\n"
	"  --log FILE      softvfio's log lines (requests it does not implement, fds it\n"
	"                  cannot serve, device accesses to memory the program\n"
	"                  unmapped behind its back) go to FILE instead of standard\n"
	"                  error\n"
	"  --sysfs DIR     write the sysfs tree into DIR and keep it (default: a\n"
	"                  temporary directory, removed at exit). Its path is in\n"
	"                  $SOFTVFIO_SYSFS, for programs that take a sysfs path\n"
	"                  (QEMU's -device vfio-pci,sysfsdev=$SOFTVFIO_SYSFS/bus/pci/\n"
	"                  devices/BDF, DPDK's SYSFS_PCI_DEVICES)\n"
	"  --record FILE   write the program's container requests (map, unmap, dirty,\n"
	"                  info) as a vfio-trace to FILE, its virtual addresses as\n"
	"                  offsets into one arena with holes where it had nothing, and\n"
	"                  the results the program got to FILE.expected, so that\n"
	"                  'softvfio replay FILE' (and 'softvfio bench --trace FILE')\n"
	"                  replays its mapping pattern under any policy and backend\n"
	"  -h, --help      show this text\n"
	"\n"
	"Limits: a VFIO fd serves the process that opened it; a fork child or a\n"
	"process it is passed to gets ENODEV for its requests, and a log line.\n"
	"\n"
	"Exit status: the program's (128 + N when signal N ended it); 2 for a usage\n"
	"error; 126 or 127 when PROGRAM cannot be run; 1 when exec itself fails.\n"
	"\n"
	"Example:\n"
	"  softvfio exec --stats qemu.json -- qemu-system-x86_64 -M q35 -display none \\\n"
	"      -nodefaults -m 256M -device vfio-pci,host=0000:00:03.0\n";

#define EXIT_USAGE 2

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage(const char *fmt, ...)
{
	va_list ap;

	fputs("softvfio exec: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'softvfio exec --help'.\n", stderr);
	return EXIT_USAGE;
}

/* Sanitizer runtimes this binary was linked with, in load order. */
struct runtimes {
	char list[4 * PATH_MAX];
	size_t len;
};

static int find_runtime(struct dl_phdr_info *info, size_t size, void *arg)
{
	static const char *const names[] = { "libasan.so", "libtsan.so", "libubsan.so",
					     "liblsan.so" };
	struct runtimes *r = arg;
	const char *base;

	(void)size;
	if (!info->dlpi_name || !*info->dlpi_name)
		return 0;
	base = strrchr(info->dlpi_name, '/');
	base = base ? base + 1 : info->dlpi_name;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strncmp(base, names[i], strlen(names[i])) &&
		    r->len + strlen(info->dlpi_name) + 2 < sizeof(r->list))
			r->len += (size_t)snprintf(r->list + r->len, sizeof(r->list) - r->len, "%s:",
						   info->dlpi_name);
	return 0;
}

static bool is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int find_preload(char *out, size_t len)
{
	const char *env = getenv("SOFTVFIO_PRELOAD");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (env && *env) {
		if (!realpath(env, out) || !is_file(out))
			return -ENOENT;
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(out, len, "%s/../../src/preload/libsoftvfio-preload.so",
					     self) < len && is_file(out) && realpath(out, self)) {
				snprintf(out, len, "%s", self);
				return 0;
			}
		}
	}
	snprintf(out, len, "%s", SVF_PRELOAD_INSTALLED);
	return is_file(out) ? 0 : -ENOENT;
}

/* An absolute form of a path the program gets (it may chdir). */
static int absolute(const char *path, char *out, size_t len)
{
	char cwd[PATH_MAX];

	if (path[0] == '/') {
		snprintf(out, len, "%s", path);
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	if ((size_t)snprintf(out, len, "%s/%s", cwd, path) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

enum {
	OPT_DEVICE = 256,
	OPT_DRIVER,
	OPT_POLICY,
	OPT_BACKEND,
	OPT_HW_DIRTY,
	OPT_CHECK_DMA,
	OPT_STATS,
	OPT_LOG,
	OPT_SYSFS,
	OPT_RECORD,
};

int svf_exec_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "driver", required_argument, NULL, OPT_DRIVER },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "backend", required_argument, NULL, OPT_BACKEND },
		{ "hw-dirty", no_argument, NULL, OPT_HW_DIRTY },
		{ "check-dma", no_argument, NULL, OPT_CHECK_DMA },
		{ "stats", required_argument, NULL, OPT_STATS },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "sysfs", required_argument, NULL, OPT_SYSFS },
		{ "record", required_argument, NULL, OPT_RECORD },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct svf_exec_devlist devs = { 0 };
	const char *stats = NULL, *log = NULL, *sysfs = NULL, *record = NULL;
	char err[256], preload[PATH_MAX], path[PATH_MAX], tmpdir[PATH_MAX] = "";
	char devenv[SVF_EXEC_MAX_DEVICES * 96] = "", *ld;
	struct runtimes rt = { .len = 0 };
	enum svf_policy policy;
	enum svf_backend backend;
	bool hw_dirty = false, check_dma = false, amd = false;
	struct sigaction sa = { .sa_handler = forward }, old[4];
	static const int fwd[4] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	pid_t pid;
	int c, status, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(svf_exec_help, stdout);
			return 0;
		case OPT_DEVICE:
			if (svf_exec_devspec_add(&devs, optarg, err, sizeof(err)))
				return usage("--device: %s", err);
			break;
		case OPT_DRIVER:
			if (strcmp(optarg, "vtd") && strcmp(optarg, "amd"))
				return usage("unknown IOMMU driver '%s' (vtd, amd)", optarg);
			amd = !strcmp(optarg, "amd");
			break;
		case OPT_POLICY:
			if (svf_policy_parse(optarg, &policy))
				return usage("unknown policy '%s' (strict, batched, gather, lazy)",
					     optarg);
			setenv("SOFTVFIO_POLICY", optarg, 1);
			break;
		case OPT_BACKEND:
			if (svf_backend_parse(optarg, &backend))
				return usage("unknown backend '%s' (process, synthetic)", optarg);
			setenv("SOFTVFIO_BACKEND", optarg, 1);
			break;
		case OPT_HW_DIRTY:
			hw_dirty = true;
			break;
		case OPT_CHECK_DMA:
			check_dma = true;
			break;
		case OPT_STATS:
			stats = optarg;
			break;
		case OPT_LOG:
			log = optarg;
			break;
		case OPT_SYSFS:
			sysfs = optarg;
			break;
		case OPT_RECORD:
			record = optarg;
			break;
		case ':':
			return usage("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage("no PROGRAM to run");
	if (hw_dirty && amd)
		return usage("--hw-dirty needs --driver vtd (AMD-Vi's dirty bits are not emulated)");
	if (svf_exec_devlist_finish(&devs, err, sizeof(err)))
		return usage("--device: %s", err);
	for (unsigned i = 0; i < devs.n; i++) {
		size_t n = strlen(devenv);

		if (i)
			devenv[n++] = ';';
		svf_exec_devspec_format(&devs.dev[i], devenv + n, sizeof(devenv) - n);
	}
	setenv("SOFTVFIO_DEVICES", devenv, 1);
	setenv("SOFTVFIO_DRIVER", amd ? "amd" : "vtd", 1);
	if (hw_dirty)
		setenv("SOFTVFIO_HW_DIRTY", "1", 1);
	if (check_dma)
		setenv("SOFTVFIO_CHECK_DMA", "1", 1);
	{
		const char *const names[] = { "SOFTVFIO_STATS", "SOFTVFIO_LOG", "SOFTVFIO_RECORD" };
		const char *vals[] = { stats, log, record };

		for (int i = 0; i < 3; i++) {
			if (!vals[i])
				continue;
			rc = absolute(vals[i], path, sizeof(path));
			if (rc) {
				fprintf(stderr, "softvfio exec: %s: %s\n", vals[i], strerror(-rc));
				return EXIT_FAILURE;
			}
			setenv(names[i], path, 1);
		}
	}
	if (find_preload(preload, sizeof(preload))) {
		fprintf(stderr, "softvfio exec: libsoftvfio-preload.so not found (looked next to "
				"this binary and in %s; set SOFTVFIO_PRELOAD)\n",
			SVF_PRELOAD_INSTALLED);
		return EXIT_FAILURE;
	}
	if (sysfs) {
		if (mkdir(sysfs, 0755) && errno != EEXIST) {
			fprintf(stderr, "softvfio exec: --sysfs %s: %s\n", sysfs, strerror(errno));
			return EXIT_FAILURE;
		}
		if (!realpath(sysfs, path)) {
			fprintf(stderr, "softvfio exec: --sysfs %s: %s\n", sysfs, strerror(errno));
			return EXIT_FAILURE;
		}
	} else {
		const char *t = getenv("TMPDIR");

		snprintf(tmpdir, sizeof(tmpdir), "%s/softvfio-sysfs.XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(tmpdir)) {
			fprintf(stderr, "softvfio exec: temporary sysfs directory: %s\n",
				strerror(errno));
			return EXIT_FAILURE;
		}
		snprintf(path, sizeof(path), "%s", tmpdir);
	}
	setenv("SOFTVFIO_SYSFS", path, 1);
	dl_iterate_phdr(find_runtime, &rt);
	{
		const char *prev = getenv("LD_PRELOAD");
		size_t n = rt.len + strlen(preload) + (prev ? strlen(prev) : 0) + 2;

		ld = malloc(n);
		if (!ld)
			return EXIT_FAILURE;
		snprintf(ld, n, "%.*s%s%s%s", (int)rt.len, rt.list, preload, prev && *prev ? ":" : "",
			 prev ? prev : "");
		setenv("LD_PRELOAD", ld, 1);
		free(ld);
	}
	fflush(NULL);
	for (int i = 0; i < 4; i++)
		sigaction(fwd[i], &sa, &old[i]);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "softvfio exec: fork: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	if (pid == 0) {
		char me[24];

		for (int i = 0; i < 4; i++)
			sigaction(fwd[i], &old[i], NULL);
		snprintf(me, sizeof(me), "%d", (int)getpid());
		setenv("SOFTVFIO_PID", me, 1);
		execvp(argv[optind], argv + optind);
		rc = errno;
		fprintf(stderr, "softvfio exec: %s: %s\n", argv[optind], strerror(rc));
		_exit(rc == ENOENT ? 127 : 126);
	}
	child_pid = pid;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "softvfio exec: waitpid: %s\n", strerror(errno));
			status = 1 << 8;
			break;
		}
	}
	if (tmpdir[0])
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_FAILURE;
}

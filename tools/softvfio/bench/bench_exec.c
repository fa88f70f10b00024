/* SPDX-License-Identifier: MIT */
/*
 * `softvfio bench-exec` (bench_exec.h).
 *
 * One run measures the same things twice: in this process, calling the
 * library directly (softvfio_ioctl on a container whose group joined through
 * <softvfio/vfio.h>), and in a child started as `softvfio exec -- softvfio
 * bench-exec --child`, where the same requests go through libc's ioctl()
 * on real fds into the preload library. The child uses libc and
 * <linux/vfio.h> only, as a program under exec does. Both sides use the
 * same policy (gather), pinning backend (process) and device (one edu).
 *
 * Figures, each the fastest of --reps runs of --iters calls, per call:
 *   - GET_API_VERSION (the cheapest request: the shim's own cost shows);
 *   - MAP_DMA + UNMAP_DMA of one 4 KiB page (two requests);
 *   - calls the preload library passes through: read(2) of one byte of
 *     /dev/zero, fcntl(F_GETFD), open+close of /dev/null, stat(2) of a file,
 *     munmap of a page never mapped for DMA.
 * With --qemu, Debian's QEMU under TCG (the halting firmware of the test
 * suite, written to a temporary file): the time from its start to its
 * first qtest answer, for each guest RAM size, without exec, under exec
 * without a device, and under exec with edu assigned through vfio-pci.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <softvfio/softvfio.h>
#include <softvfio/vfio.h>

#include "bench_common.h"
#include "bench_exec.h"
#include "cli.h"

const char svf_bench_exec_help[] =
	"Usage: softvfio bench-exec [--iters N] [--reps N] [--qemu] [--qemu-ram LIST]\n"
	"\n"
	"What 'softvfio exec' costs a program. Measures in one run, per call, the\n"
	"fastest of REPS runs of ITERS calls (on a shared machine a run only gets\n"
	"slower than the code is):\n"
	"  - VFIO requests (GET_API_VERSION; MAP_DMA + UNMAP_DMA of one 4 KiB page)\n"
	"    called directly through softvfio_ioctl() in this process, and through\n"
	"    ioctl(2) on real fds under 'softvfio exec' in a child; the difference\n"
	"    is the shim's cost per request (target: at most 100 ns);\n"
	"  - calls the preload library passes through untouched (read of one byte of\n"
	"    /dev/zero, fcntl F_GETFD, open+close of /dev/null, stat of a file,\n"
	"    munmap of a page never mapped for DMA), without and under exec; the\n"
	"    difference is its cost on ordinary calls (target: at most 20 ns).\n"
	"With --qemu: the time from QEMU's start to its first qtest answer, per guest\n"
	"RAM size, without exec, under exec without a device, and under exec with the\n"
	"edu device assigned through vfio-pci (Debian's qemu-system-x86_64, TCG).\n"
	"Figures only: nothing is asserted, the exit status does not depend on them.\n"
	"\n"
	"Options:\n"
	"  --iters N       calls per run (default 2000; QEMU: 1 start per run)\n"
	"  --reps N        runs per figure (default 61, at most 64; QEMU: 3, their\n"
	"                  median printed)\n"
	"  --qemu          also time QEMU's start\n"
	"  --qemu-ram LIST guest RAM sizes for --qemu, comma separated (default 1G,4G)\n"
	"  -h, --help      show this text\n";

enum fig { F_API, F_MAPUNMAP, F_READ, F_FCNTL, F_OPEN, F_STAT, F_MUNMAP, F_NR };

static const char *const fig_names[F_NR] = {
	"GET_API_VERSION", "MAP_DMA+UNMAP_DMA 4 KiB", "read 1 byte /dev/zero", "fcntl F_GETFD",
	"open+close /dev/null", "stat", "munmap (not DMA)",
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double median(uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
}

/*
 * The fastest run: on a machine shared with other work, a run only gets
 * slower than the code is, never faster, so the minimum is the figure
 * that compares two ways of making the same call (the median is printed
 * by the QEMU rows, whose runs are few and long).
 */
static double fastest(uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return (double)v[0];
}

/* One figure: reps runs of iters calls of fn; ns per call (median). */
typedef int (*call_fn)(void *arg);

static double time_calls(call_fn fn, void *arg, unsigned iters, unsigned reps)
{
	uint64_t runs[64];

	if (reps > 64)
		reps = 64;
	for (unsigned r = 0; r < reps; r++) {
		uint64_t t0 = svf_clock_ns(CLOCK_MONOTONIC);

		for (unsigned i = 0; i < iters; i++)
			if (fn(arg))
				return -1;
		runs[r] = (svf_clock_ns(CLOCK_MONOTONIC) - t0);
	}
	return fastest(runs, reps) / iters;
}

/* ---- the passed-through calls ---- */

/*
 * Each call two ways in the same process under exec: through the symbol the
 * program binds to (the preload library's wrapper) and through libc's own
 * entry (dlsym on libc itself), in alternating runs, so that both see the
 * same machine noise. The difference is the wrapper's cost.
 */
struct pass_ctx {
	int zero;
	char path[256];
	void *pages;
	ssize_t (*read)(int, void *, size_t);
	int (*fcntl)(int, int, ...);
	int (*open)(const char *, int, ...);
	int (*close)(int);
	int (*stat)(const char *, struct stat *);
	int (*munmap)(void *, size_t);
	bool real;
};

static int call_read(void *a)
{
	struct pass_ctx *p = a;
	char c;

	return (p->real ? p->read(p->zero, &c, 1) : read(p->zero, &c, 1)) == 1 ? 0 : -1;
}

static int call_fcntl(void *a)
{
	struct pass_ctx *p = a;

	return (p->real ? p->fcntl(p->zero, F_GETFD) : fcntl(p->zero, F_GETFD)) < 0 ? -1 : 0;
}

static int call_open(void *a)
{
	struct pass_ctx *p = a;
	int fd = p->real ? p->open("/dev/null", O_RDONLY) : open("/dev/null", O_RDONLY);

	if (fd < 0)
		return -1;
	return p->real ? p->close(fd) : close(fd);
}

static int call_stat(void *a)
{
	struct pass_ctx *p = a;
	struct stat st;

	return p->real ? p->stat(p->path, &st) : stat(p->path, &st);
}

/* munmap of a page, then mapping it back (mmap is not intercepted). */
static int call_munmap(void *a)
{
	struct pass_ctx *p = a;

	if (p->real ? p->munmap(p->pages, 4096) : munmap(p->pages, 4096))
		return -1;
	return mmap(p->pages, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		    -1, 0) == MAP_FAILED ? -1 : 0;
}

/* Alternating runs of the wrapper and of libc's entry: the fastest of each, ns per call. */
static void pair(call_fn fn, struct pass_ctx *p, unsigned iters, unsigned reps, double *wrap,
		 double *real)
{
	uint64_t w[64], r[64];

	if (reps > 64)
		reps = 64;
	for (unsigned i = 0; i < reps; i++) {
		uint64_t t0;

		p->real = false;
		t0 = svf_clock_ns(CLOCK_MONOTONIC);
		for (unsigned k = 0; k < iters; k++)
			fn(p);
		w[i] = svf_clock_ns(CLOCK_MONOTONIC) - t0;
		p->real = true;
		t0 = svf_clock_ns(CLOCK_MONOTONIC);
		for (unsigned k = 0; k < iters; k++)
			fn(p);
		r[i] = svf_clock_ns(CLOCK_MONOTONIC) - t0;
	}
	*wrap = fastest(w, reps) / iters;
	*real = fastest(r, reps) / iters;
}

static int pass_figures(unsigned iters, unsigned reps, double *wrap, double *real)
{
	struct pass_ctx p = { .zero = open("/dev/zero", O_RDONLY) };
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	ssize_t n = readlink("/proc/self/exe", p.path, sizeof(p.path) - 1);

	if (p.zero < 0 || n <= 0 || !libc)
		return -1;
	p.path[n] = '\0';
	p.read = (ssize_t (*)(int, void *, size_t))dlsym(libc, "read");
	p.fcntl = (int (*)(int, int, ...))dlsym(libc, "fcntl");
	p.open = (int (*)(const char *, int, ...))dlsym(libc, "open");
	p.close = (int (*)(int))dlsym(libc, "close");
	p.stat = (int (*)(const char *, struct stat *))dlsym(libc, "stat");
	p.munmap = (int (*)(void *, size_t))dlsym(libc, "munmap");
	p.pages = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!p.read || !p.fcntl || !p.open || !p.close || !p.stat || !p.munmap ||
	    p.pages == MAP_FAILED)
		return -1;
	pair(call_read, &p, iters, reps, &wrap[F_READ], &real[F_READ]);
	pair(call_fcntl, &p, iters, reps, &wrap[F_FCNTL], &real[F_FCNTL]);
	pair(call_open, &p, iters / 4 + 1, reps, &wrap[F_OPEN], &real[F_OPEN]);
	pair(call_stat, &p, iters / 4 + 1, reps, &wrap[F_STAT], &real[F_STAT]);
	pair(call_munmap, &p, iters / 4 + 1, reps, &wrap[F_MUNMAP], &real[F_MUNMAP]);
	close(p.zero);
	return 0;
}

/* ---- VFIO requests: the child under exec (libc only) ---- */

struct vfio_ctx {
	int container;
	struct svf_container *c; /* direct side */
	void *buf;
};

static long req(struct vfio_ctx *v, unsigned long r, void *arg)
{
	if (v->c)
		return softvfio_ioctl(v->c, r, arg);
	return ioctl(v->container, r, arg) < 0 ? -errno : 0;
}

static int call_api(void *a)
{
	struct vfio_ctx *v = a;

	if (v->c)
		return softvfio_ioctl(v->c, VFIO_GET_API_VERSION, NULL) == VFIO_API_VERSION ? 0 : -1;
	return ioctl(v->container, VFIO_GET_API_VERSION) == VFIO_API_VERSION ? 0 : -1;
}

static int call_mapunmap(void *a)
{
	struct vfio_ctx *v = a;
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)v->buf, .iova = 0x100000, .size = 4096,
	};
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = 0x100000,
						 .size = 4096 };

	if (req(v, VFIO_IOMMU_MAP_DMA, &m) || req(v, VFIO_IOMMU_UNMAP_DMA, &u))
		return -1;
	return 0;
}

static int child_main(unsigned iters, unsigned reps)
{
	struct vfio_ctx v = { 0 };
	double f[F_NR] = { 0 }, real[F_NR] = { 0 };
	char link[256];
	ssize_t n;
	int group, gid;

	n = readlink("/sys/bus/pci/devices/0000:00:03.0/iommu_group", link, sizeof(link) - 1);
	if (n <= 0)
		return 1;
	link[n] = '\0';
	gid = atoi(strrchr(link, '/') + 1);
	snprintf(link, sizeof(link), "/dev/vfio/%d", gid);
	v.container = open("/dev/vfio/vfio", O_RDWR);
	group = open(link, O_RDWR);
	if (v.container < 0 || group < 0 || ioctl(group, VFIO_GROUP_SET_CONTAINER, &v.container) ||
	    ioctl(v.container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return 1;
	v.buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v.buf == MAP_FAILED)
		return 1;
	f[F_API] = time_calls(call_api, &v, iters, reps);
	f[F_MAPUNMAP] = time_calls(call_mapunmap, &v, iters / 4 + 1, reps);
	if (pass_figures(iters, reps, f, real))
		return 1;
	for (int i = 0; i < F_NR; i++)
		printf("%d %.3f %.3f\n", i, f[i], real[i]);
	return 0;
}

/* ---- the direct side ---- */

static int direct_vfio(unsigned iters, unsigned reps, double *f)
{
	struct svf_container_config cfg;
	struct svf_pci_device_config dc = { .kind = SVF_PCI_KIND_EDU, .bdf = "0000:00:03.0",
					    .group = 0 };
	struct svf_vfio *h;
	struct svf_vfio_group *g;
	struct vfio_ctx v = { 0 };
	int rc;

	rc = svf_vfio_create(NULL, &h);
	if (rc)
		return rc;
	rc = svf_vfio_add_device(h, &dc, NULL);
	if (!rc)
		rc = svf_vfio_group_open(h, 0, &g);
	if (rc)
		goto out_host;
	svf_container_default_config(&cfg);
	cfg.attach_default_domain = false;
	rc = svf_container_create(&cfg, &v.c);
	if (rc)
		goto out_group;
	rc = svf_vfio_group_set_container(g, v.c);
	if (!rc)
		rc = (int)softvfio_ioctl(v.c, VFIO_SET_IOMMU, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
	v.buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!rc && v.buf != MAP_FAILED) {
		f[F_API] = time_calls(call_api, &v, iters, reps);
		f[F_MAPUNMAP] = time_calls(call_mapunmap, &v, iters / 4 + 1, reps);
		if (f[F_API] < 0 || f[F_MAPUNMAP] < 0)
			rc = -EIO;
	}
	svf_vfio_group_close(g);
	svf_vfio_container_put(h, v.c);
	if (v.buf != MAP_FAILED)
		munmap(v.buf, 4096);
	svf_vfio_destroy(h);
	return rc;
out_group:
	svf_vfio_group_close(g);
out_host:
	svf_vfio_destroy(h);
	return rc;
}

static int run_child(const char *self, unsigned iters, unsigned reps, double *f, double *real)
{
	char it[16], rp[16], line[128];
	int pfd[2], st;
	pid_t pid;
	FILE *in;

	snprintf(it, sizeof(it), "%u", iters);
	snprintf(rp, sizeof(rp), "%u", reps);
	if (pipe(pfd))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(self, self, "exec", "--", self, "bench-exec", "--child", "--iters", it,
		      "--reps", rp, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	in = fdopen(pfd[0], "r");
	while (in && fgets(line, sizeof(line), in)) {
		int i;
		double v, w;

		if (sscanf(line, "%d %lf %lf", &i, &v, &w) == 3 && i >= 0 && i < F_NR) {
			f[i] = v;
			real[i] = w;
		}
	}
	if (in)
		fclose(in);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

/* ---- QEMU ---- */

static double qemu_start_ms(const char *self, const char *fw, const char *ram, int variant)
{
	const char *qemu = "qemu-system-x86_64";
	const char *argv[32];
	int n = 0, in[2], out[2], st;
	char line[256];
	uint64_t t0, t1 = 0;
	pid_t pid;
	FILE *f;

	if (variant > 0) {
		argv[n++] = self;
		argv[n++] = "exec";
		argv[n++] = "--";
	}
	argv[n++] = qemu;
	argv[n++] = "-M";
	argv[n++] = "q35";
	argv[n++] = "-accel";
	argv[n++] = "tcg";
	argv[n++] = "-bios";
	argv[n++] = fw;
	argv[n++] = "-qtest";
	argv[n++] = "stdio";
	argv[n++] = "-qtest-log";
	argv[n++] = "/dev/null";
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-nodefaults";
	argv[n++] = "-m";
	argv[n++] = ram;
	if (variant == 2) {
		argv[n++] = "-device";
		argv[n++] = "vfio-pci,host=0000:00:03.0,addr=0x4";
	}
	argv[n] = NULL;
	if (pipe(in) || pipe(out))
		return -1;
	t0 = svf_clock_ns(CLOCK_MONOTONIC);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(null, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (write(in[1], "readl 0x0\n", 10) != 10)
		kill(pid, SIGKILL);
	f = fdopen(out[0], "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "OK", 2)) {
			t1 = svf_clock_ns(CLOCK_MONOTONIC);
			break;
		}
	}
	kill(pid, SIGTERM);
	close(in[1]);
	if (f)
		fclose(f);
	waitpid(pid, &st, 0);
	return t1 ? (double)(t1 - t0) / 1e6 : -1;
}

static void qemu_figures(const char *self, const char *list, unsigned reps)
{
	char fw[] = "/tmp/softvfio-halt.XXXXXX", sizes[256], *save = NULL;
	static const char *const vnames[3] = { "no exec", "exec, no device", "exec + edu" };
	unsigned char img[65536];
	int fd;

	memset(img, 0xf4, sizeof(img));
	memcpy(img + 0xfff0, "\xfa\xf4\xeb\xfd", 4); /* cli; hlt; jmp $-2 */
	fd = mkstemp(fw);
	if (fd < 0 || write(fd, img, sizeof(img)) != (ssize_t)sizeof(img)) {
		fprintf(stderr, "softvfio bench-exec: firmware file: %s\n", strerror(errno));
		return;
	}
	close(fd);
	printf("\nQEMU start to first qtest answer (TCG, median of %u):\n", reps);
	printf("  %-8s %16s %16s %16s\n", "RAM", vnames[0], vnames[1], vnames[2]);
	snprintf(sizes, sizeof(sizes), "%s", list);
	for (char *ram = strtok_r(sizes, ",", &save); ram; ram = strtok_r(NULL, ",", &save)) {
		printf("  %-8s", ram);
		for (int v = 0; v < 3; v++) {
			uint64_t runs[16];
			unsigned ok = 0;

			for (unsigned r = 0; r < reps && r < 16; r++) {
				double ms = qemu_start_ms(self, fw, ram, v);

				if (ms >= 0)
					runs[ok++] = (uint64_t)(ms * 1000);
			}
			if (ok)
				printf(" %13.1f ms", median(runs, ok) / 1000);
			else
				printf(" %16s", "failed");
			fflush(stdout);
		}
		printf("\n");
	}
	unlink(fw);
}

int svf_bench_exec_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "iters", required_argument, NULL, 'i' },
		{ "reps", required_argument, NULL, 'r' },
		{ "qemu", no_argument, NULL, 'q' },
		{ "qemu-ram", required_argument, NULL, 'm' },
		{ "child", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned iters = 2000, reps = 61;
	bool child = false, qemu = false;
	const char *ram = "1G,4G";
	double direct[F_NR] = { 0 }, through[F_NR] = { 0 }, real[F_NR] = { 0 };
	char self[256], a[24], b[24], d[24];
	ssize_t n;
	int c, rc;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		char *end;
		unsigned long v;

		switch (c) {
		case 'h':
			fputs(svf_bench_exec_help, stdout);
			return 0;
		case 'i':
		case 'r':
			v = strtoul(optarg, &end, 0);
			if (!*optarg || *end || !v || v > (c == 'i' ? 10000000UL : 64UL)) {
				fprintf(stderr, "softvfio bench-exec: --%s wants 1 to %s, not '%s'\n",
					c == 'i' ? "iters" : "reps", c == 'i' ? "10000000" : "64",
					optarg);
				return 2;
			}
			if (c == 'i')
				iters = (unsigned)v;
			else
				reps = (unsigned)v;
			break;
		case 'q':
			qemu = true;
			break;
		case 'm':
			ram = optarg;
			break;
		case 'c':
			child = true;
			break;
		default: /* ':' a missing value, '?' an unknown option */
			return svf_cli_bad_option("bench-exec", argv, c);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "softvfio bench-exec: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (child)
		return child_main(iters, reps);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	rc = direct_vfio(iters, reps, direct);
	if (rc) {
		fprintf(stderr, "softvfio bench-exec: direct side failed: %s\n", strerror(-rc));
		return 1;
	}
	rc = run_child(self, iters, reps, through, real);
	if (rc) {
		fprintf(stderr, "softvfio bench-exec: the child under exec failed\n");
		return 1;
	}
	printf("softvfio exec: the preload library's cost per call (the fastest of %u runs of up "
	       "to %u calls)\n\n", reps, iters);
	printf("  VFIO requests: softvfio_ioctl() in this process against ioctl(2) under exec\n");
	printf("  %-26s %12s %14s %12s\n", "request", "direct", "through exec", "shim adds");
	for (int i = F_API; i <= F_MAPUNMAP; i++) {
		double per = i == F_MAPUNMAP ? 2 : 1;

		svf_human_ns(direct[i], a, sizeof(a));
		svf_human_ns(through[i], b, sizeof(b));
		snprintf(d, sizeof(d), "%+.1f ns", (through[i] - direct[i]) / per);
		printf("  %-26s %12s %14s %12s%s\n", fig_names[i], a, b, d,
		       i == F_MAPUNMAP ? " per request" : "");
	}
	printf("\n  passed-through calls under exec: libc's entry against the preload wrapper,\n"
	       "  alternating runs in one process\n");
	printf("  %-26s %12s %14s %12s\n", "call", "libc", "through exec", "shim adds");
	for (int i = F_READ; i < F_NR; i++) {
		svf_human_ns(real[i], a, sizeof(a));
		svf_human_ns(through[i], b, sizeof(b));
		snprintf(d, sizeof(d), "%+.1f ns", through[i] - real[i]);
		printf("  %-26s %12s %14s %12s\n", fig_names[i], a, b, d);
	}
	printf("\ntargets: the shim adds <= 100 ns to a VFIO request (GET_API_VERSION: %+.1f ns), "
	       "<= 20 ns to a passed-through call (read: %+.1f ns, fcntl: %+.1f ns).\n"
	       "MAP+UNMAP pins and unpins a page each time: its difference is within the noise of "
	       "pinning.\n",
	       through[F_API] - direct[F_API], through[F_READ] - real[F_READ],
	       through[F_FCNTL] - real[F_FCNTL]);
	if (qemu)
		qemu_figures(self, ram, reps > 3 ? 3 : reps);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The preload library's host (host.h): softvfio objects behind the
 * program's VFIO fds.
 *
 * Files and objects. Opening /dev/vfio/vfio makes a container (a type1
 * container of the library, with no domain until a group joins) behind a
 * fresh memfd; /dev/kmsg gives one end of a SOCK_SEQPACKET pair, so that
 * each read(2) returns one record as Linux's /dev/kmsg does. Every object
 * hangs off a pv_file of the fd table (fdtable.h), shared by dup()s; the
 * last close releases it.
 *
 * Exit. A VMM does not unmap or close its VFIO fds at exit: on Linux the
 * process ending closes them and that releases the container. Here the
 * same happens in pv_host_exit(), from an atexit handler registered by the
 * constructor (so it runs after the program's own), or from the handler of
 * a fatal signal: every live container is unmapped (UNMAP_DMA with
 * FLAG_ALL, through the policy's invalidations and waits) so that every
 * page is unpinned, then the counters of every container the process had
 * are written as JSON. Containers are not freed there: threads of the
 * program may still be running.
 *
 * Locking: host_lock guards containers (the live list), retired (counters
 * of released containers) and the request counters. It is never held
 * across a call into a container.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <softvfio/softvfio.h>

#include "devspec.h"
#include "fdtable.h"
#include "host.h"
#include "log.h"
#include "real.h"
#include "sysfs.h"

struct pv_container {
	struct svf_container *c;  /* immutable */
	unsigned id;              /* immutable: 1, 2, ... in open order */
	struct pv_container *next; /* live list, under host_lock */
};

struct pv_kmsg {
	int peer;                 /* the end the host writes records to */
};

static struct {
	bool ready;               /* configuration parsed; immutable after init */
	bool broken;              /* configuration unusable: every node ENODEV */
	pid_t self;               /* this process (updated in a fork child) */
	pid_t program;            /* SOFTVFIO_PID, or 0 */
	struct svf_exec_devlist devs;
	enum svf_policy policy;
	enum svf_backend backend;
	bool hw_dirty, check_dma;
	char stats_path[PATH_MAX];

	pthread_mutex_t lock;
	struct svf_pinner *pinner; /* created with the first container; never freed */
	struct pv_container *containers;
	unsigned nr_containers_made;
	struct svf_stats retired;  /* released containers' counters, summed */
	uint64_t requests, unknown_requests, foreign_requests;
	uint64_t exit_containers, exit_pages;
	bool used;                 /* this process opened a VFIO node */
	bool exited;
} host = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- configuration ---- */

static bool env_flag(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0") != 0;
}

static void edu_sysfs_dev(const struct svf_exec_devspec *d, unsigned i, struct pv_sysfs_dev *s)
{
	uint8_t *c = s->config;

	/*
	 * QEMU's edu as it appears on a bus: 1234:11e8 revision 0x10, class
	 * "other" (0x00ff00), QEMU's default subsystem ids, one 1 MiB 32-bit
	 * memory BAR, interrupt pin A.
	 */
	svf_exec_bdf_name(d, s->bdf, sizeof(s->bdf));
	s->group = d->group;
	memset(c, 0, sizeof(s->config));
	c[0x00] = 0x34, c[0x01] = 0x12, c[0x02] = 0xe8, c[0x03] = 0x11;
	c[0x08] = 0x10;
	c[0x0a] = 0xff;
	c[0x2c] = 0xf4, c[0x2d] = 0x1a, c[0x2e] = 0x00, c[0x2f] = 0x11;
	c[0x3d] = 1;
	s->bar_start[0] = 0xfea00000ULL + (uint64_t)i * 0x100000ULL;
	s->bar_size[0] = 1 << 20;
	s->bar_flags[0] = 0x40200; /* IORESOURCE_MEM | IORESOURCE_SIZEALIGN */
	c[0x10] = (uint8_t)s->bar_start[0];
	c[0x11] = (uint8_t)(s->bar_start[0] >> 8);
	c[0x12] = (uint8_t)(s->bar_start[0] >> 16);
	c[0x13] = (uint8_t)(s->bar_start[0] >> 24);
}

/* The VT-d capability and extended capability registers of the unit. */
static void vtd_regs(uint64_t *cap, uint64_t *ecap)
{
	/*
	 * CAP: ND 2 (256 domains), SAGAW 4-level (bit 10), MGAW 47 (48-bit
	 * width), FRO 0x220 (fault recording at 0x2200), SLLPS 2 MiB + 1 GiB,
	 * PSI, NFR 0 (one register), MAMV 18, as the emulated unit offers.
	 */
	*cap = 2ULL | (1ULL << 10) | (47ULL << 16) | (0x22ULL << 24) | (3ULL << 34) |
	       (1ULL << 39) | (18ULL << 48);
	/* ECAP: QI (queued invalidation), IRO 0x50 (IOTLB registers at 0x500). */
	*ecap = (1ULL << 1) | (0x50ULL << 8);
}

static void host_configure(void)
{
	struct pv_sysfs_info *info;
	char err[256];
	const char *v;
	int rc;

	host.self = getpid();
	v = getenv("SOFTVFIO_PID");
	host.program = v ? (pid_t)atoi(v) : 0;
	pv_log_open(getenv("SOFTVFIO_LOG"));
	host.policy = SVF_POLICY_GATHER;
	host.backend = SVF_BACKEND_PROCESS;
	v = getenv("SOFTVFIO_POLICY");
	if (v && *v && svf_policy_parse(v, &host.policy)) {
		pv_log("SOFTVFIO_POLICY: unknown policy '%s'; VFIO nodes disabled", v);
		host.broken = true;
	}
	v = getenv("SOFTVFIO_BACKEND");
	if (v && *v && svf_backend_parse(v, &host.backend)) {
		pv_log("SOFTVFIO_BACKEND: unknown backend '%s'; VFIO nodes disabled", v);
		host.broken = true;
	}
	host.hw_dirty = env_flag("SOFTVFIO_HW_DIRTY");
	host.check_dma = env_flag("SOFTVFIO_CHECK_DMA");
	v = getenv("SOFTVFIO_STATS");
	if (v)
		snprintf(host.stats_path, sizeof(host.stats_path), "%s", v);
	if (svf_exec_devlist_parse(&host.devs, getenv("SOFTVFIO_DEVICES"), err, sizeof(err))) {
		pv_log("SOFTVFIO_DEVICES: %s; VFIO nodes disabled", err);
		host.broken = true;
		host.devs.n = 0;
	}
	info = calloc(1, sizeof(*info));
	if (!info) {
		host.broken = true;
		return;
	}
	for (unsigned i = 0; i < host.devs.n; i++)
		edu_sysfs_dev(&host.devs.dev[i], i, &info->dev[info->nr_devs++]);
	vtd_regs(&info->vtd_cap, &info->vtd_ecap);
	info->dma_entry_limit = SVF_DEFAULT_DMA_ENTRY_LIMIT;
	rc = pv_sysfs_init(getenv("SOFTVFIO_SYSFS"), info);
	free(info);
	if (rc) {
		pv_log("sysfs tree: %s; the sysfs view is off", strerror(-rc));
	} else if (!getenv("SOFTVFIO_SYSFS")) {
		setenv("SOFTVFIO_SYSFS", pv_sysfs_root(), 1);
	}
	host.ready = true;
}

/* ---- containers ---- */

static int host_pinner(struct svf_pinner **out)
{
	int rc = 0;

	pthread_mutex_lock(&host.lock);
	if (!host.pinner) {
		struct svf_pinner_config pc = { .backend = host.backend };

		rc = svf_pinner_create(&pc, &host.pinner);
		if (!rc && host.check_dma) {
			rc = svf_pinner_enable_check(host.pinner);
			if (rc) {
				svf_pinner_destroy(host.pinner);
				host.pinner = NULL;
			}
		}
	}
	*out = host.pinner;
	pthread_mutex_unlock(&host.lock);
	return rc;
}

static void stats_add(struct svf_stats *sum, const struct svf_stats *s)
{
	uint64_t *a = (uint64_t *)sum;
	const uint64_t *b = (const uint64_t *)s;

	for (size_t i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
		a[i] += b[i];
}

static void container_release(struct pv_file *f)
{
	struct pv_container *pc = f->obj, **pp;
	struct svf_stats st;
	bool mine = f->pid == host.self;

	if (mine) {
		pthread_mutex_lock(&host.lock);
		for (pp = &host.containers; *pp; pp = &(*pp)->next)
			if (*pp == pc) {
				*pp = pc->next;
				break;
			}
		pthread_mutex_unlock(&host.lock);
		/* Unmap first, so the counters include the teardown's work. */
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u),
							 .flags = VFIO_DMA_UNMAP_FLAG_ALL };
		softvfio_ioctl(pc->c, VFIO_IOMMU_UNMAP_DMA, &u);
		svf_container_get_stats(pc->c, &st);
		pthread_mutex_lock(&host.lock);
		stats_add(&host.retired, &st);
		pthread_mutex_unlock(&host.lock);
		svf_container_destroy(pc->c);
		free(pc);
	}
	/* A fork child's copy of its parent's container is not its to tear down. */
	free(f);
}

static int make_memfd(const char *what, int flags)
{
	char name[64];

	snprintf(name, sizeof(name), "softvfio-%s", what);
	return memfd_create(name, (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
}

static int install_new(int fd, enum pv_kind kind, void *obj, void (*release)(struct pv_file *))
{
	struct pv_file *f = calloc(1, sizeof(*f));
	int rc;

	if (!f)
		return -ENOMEM;
	f->kind = kind;
	f->pid = host.self;
	f->obj = obj;
	f->release = release;
	rc = pv_fd_install(fd, f);
	if (rc) {
		free(f);
		return rc;
	}
	return 0;
}

static int open_container(int flags)
{
	struct svf_container_config cfg;
	struct svf_iommu_config icfg;
	struct pv_container *pc;
	int fd, rc;

	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	svf_container_default_config(&cfg);
	cfg.policy = host.policy;
	cfg.attach_default_domain = false;
	cfg.dma_check = host.check_dma;
	svf_iommu_default_config("vtd", &icfg);
	icfg.hw_dirty = host.hw_dirty;
	cfg.iommu = &icfg;
	rc = host_pinner(&cfg.pinner);
	if (rc)
		goto err_free;
	rc = svf_container_create(&cfg, &pc->c);
	if (rc)
		goto err_free;
	fd = make_memfd("container", flags);
	if (fd < 0) {
		rc = -errno;
		goto err_destroy;
	}
	pthread_mutex_lock(&host.lock);
	pc->id = ++host.nr_containers_made;
	pthread_mutex_unlock(&host.lock);
	rc = install_new(fd, PV_CONTAINER, pc, container_release);
	if (rc)
		goto err_close;
	pthread_mutex_lock(&host.lock);
	pc->next = host.containers;
	host.containers = pc;
	pthread_mutex_unlock(&host.lock);
	pv_info("fd %d: container %u", fd, pc->id);
	return fd;
err_close:
	pv_real.close(fd);
err_destroy:
	svf_container_destroy(pc->c);
err_free:
	free(pc);
	return rc;
}

/* ---- /dev/kmsg ---- */

static void kmsg_release(struct pv_file *f)
{
	struct pv_kmsg *k = f->obj;

	if (f->pid == host.self)
		pv_real.close(k->peer);
	free(k);
	free(f);
}

static int open_kmsg(int flags)
{
	struct pv_kmsg *k;
	int sv[2], type = SOCK_SEQPACKET, rc;

	if ((flags & O_ACCMODE) != O_RDONLY) {
		/* Writing to the kernel log is the real node's business. */
		return -EOPNOTSUPP;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	if (flags & O_CLOEXEC)
		type |= SOCK_CLOEXEC;
	if (flags & O_NONBLOCK)
		type |= SOCK_NONBLOCK;
	if (socketpair(AF_UNIX, type, 0, sv)) {
		rc = -errno;
		free(k);
		return rc;
	}
	shutdown(sv[0], SHUT_WR);
	k->peer = sv[1];
	rc = install_new(sv[0], PV_KMSG, k, kmsg_release);
	if (rc) {
		pv_real.close(sv[0]);
		pv_real.close(sv[1]);
		free(k);
		return rc;
	}
	return sv[0];
}

/* ---- entries ---- */

static bool parse_group(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	v = strtoul(s, &end, 10);
	if (*end || v > 0xffff)
		return false;
	*out = (unsigned)v;
	return true;
}

int pv_host_open(const char *path, int flags, bool *ours)
{
	unsigned g;

	*ours = false;
	if (strncmp(path, "/dev/", 5) != 0)
		return 0;
	if (!strcmp(path + 5, "kmsg")) {
		*ours = true;
		return host.ready ? open_kmsg(flags) : -ENODEV;
	}
	if (strncmp(path + 5, "vfio/", 5) != 0)
		return 0;
	path += 10;
	*ours = true;
	if (!host.ready || host.broken)
		return -ENODEV;
	pthread_mutex_lock(&host.lock);
	host.used = true;
	pthread_mutex_unlock(&host.lock);
	if (!strcmp(path, "vfio"))
		return open_container(flags);
	if (parse_group(path, &g)) {
		for (unsigned i = 0; i < host.devs.n; i++)
			if (host.devs.dev[i].group == g) {
				pv_log("/dev/vfio/%u: groups are not served by this build", g);
				return -ENODEV;
			}
		return -ENOENT;
	}
	/* /dev/vfio/noiommu-N and anything else: no such node. */
	return -ENOENT;
}

bool pv_host_stat_node(const char *path, struct stat *st)
{
	unsigned g;
	bool found = false;

	if (!host.ready || strncmp(path, "/dev/vfio/", 10) != 0)
		return false;
	memset(st, 0, sizeof(*st));
	if (!strcmp(path + 10, "vfio")) {
		/* misc device 10:196, as Linux registers /dev/vfio/vfio */
		st->st_rdev = makedev(10, 196);
		st->st_mode = S_IFCHR | 0666;
		found = true;
	} else if (parse_group(path + 10, &g)) {
		for (unsigned i = 0; i < host.devs.n; i++)
			found |= host.devs.dev[i].group == g;
		st->st_rdev = makedev(243, g);
		st->st_mode = S_IFCHR | 0600;
	}
	if (!found)
		return false;
	st->st_nlink = 1;
	st->st_blksize = 4096;
	st->st_uid = getuid();
	st->st_gid = getgid();
	return true;
}

static void count(uint64_t *c)
{
	pthread_mutex_lock(&host.lock);
	(*c)++;
	pthread_mutex_unlock(&host.lock);
}

static long container_ioctl(struct pv_container *pc, unsigned long request, void *arg)
{
	long rc;

	/* Linux's copy_from_user fails on the first page; so do we, without a crash. */
	if ((request == VFIO_IOMMU_MAP_DMA || request == VFIO_IOMMU_UNMAP_DMA ||
	     request == VFIO_IOMMU_GET_INFO || request == VFIO_IOMMU_DIRTY_PAGES) &&
	    (uintptr_t)arg < 4096)
		return -EFAULT;
	rc = softvfio_ioctl(pc->c, request, arg);
	if (rc == -ENOTTY) {
		count(&host.unknown_requests);
		pv_log_once(request, "container request 0x%lx is not implemented: ENOTTY", request);
	}
	return rc;
}

long pv_host_ioctl(int fd, unsigned long request, void *arg)
{
	struct pv_file *f = pv_fd_get(fd);
	long rc;

	if (!f)
		return -EBADF; /* closed meanwhile */
	if (f->pid != host.self) {
		count(&host.foreign_requests);
		pv_log_once((unsigned long)fd << 32 | 1,
			    "fd %d came from process %d across fork: softvfio cannot share a "
			    "VFIO object between processes (ENODEV)", fd, (int)f->pid);
		pv_file_put(f);
		return -ENODEV;
	}
	count(&host.requests);
	switch (f->kind) {
	case PV_CONTAINER:
		rc = container_ioctl(f->obj, request, arg);
		break;
	default:
		rc = -ENOTTY;
		break;
	}
	pv_file_put(f);
	return rc;
}

long pv_host_ioctl_foreign(int fd, unsigned long request, bool *ours)
{
	char link[64], target[128];
	ssize_t n;

	*ours = false;
	if (_IOC_TYPE(request) != VFIO_TYPE)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = pv_real.readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return 0;
	target[n] = '\0';
	if (strncmp(target, "/memfd:softvfio-", 16) != 0)
		return 0;
	*ours = true;
	count(&host.foreign_requests);
	pv_log_once((unsigned long)fd << 32 | 2,
		    "fd %d is a softvfio VFIO fd of another process (passed or inherited "
		    "across exec): softvfio cannot share it (ENODEV)", fd);
	return -ENODEV;
}

ssize_t pv_host_pread(int fd, void *buf, size_t count_, off_t offset)
{
	(void)fd, (void)buf, (void)count_, (void)offset;
	return -EINVAL;
}

ssize_t pv_host_pwrite(int fd, const void *buf, size_t count_, off_t offset)
{
	(void)fd, (void)buf, (void)count_, (void)offset;
	return -EINVAL;
}

bool pv_host_dma_overlaps(const void *addr, size_t len)
{
	(void)addr, (void)len;
	return false;
}

/* ---- exit ---- */

static void write_stats(void)
{
	struct svf_stats sum = host.retired;
	char tmp[PATH_MAX + 16];
	FILE *f;
	int fd;

	for (struct pv_container *pc = host.containers; pc; pc = pc->next) {
		struct svf_stats st;

		svf_container_get_stats(pc->c, &st);
		stats_add(&sum, &st);
	}
	/* Written whole to a temporary name, then renamed: a reader sees all or nothing. */
	snprintf(tmp, sizeof(tmp), "%s.%d", host.stats_path, (int)host.self);
	fd = pv_real.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		pv_log("--stats %s: %s", host.stats_path, strerror(errno));
		return;
	}
	f = fdopen(fd, "w");
	if (!f) {
		pv_real.close(fd);
		return;
	}
	fprintf(f,
		"{\"pid\": %d, \"containers\": %u, \"requests\": %" PRIu64
		", \"unknown_requests\": %" PRIu64 ", \"foreign_requests\": %" PRIu64
		", \"released_at_exit\": {\"containers\": %" PRIu64 ", \"pinned_pages\": %" PRIu64
		"}, \"stats\": ",
		(int)host.self, host.nr_containers_made, host.requests, host.unknown_requests,
		host.foreign_requests, host.exit_containers, host.exit_pages);
	svf_stats_write_json(&sum, f);
	fputs("}\n", f);
	if (fclose(f) == 0)
		rename(tmp, host.stats_path);
	else
		unlink(tmp);
}

void pv_host_exit(void)
{
	bool first;

	pthread_mutex_lock(&host.lock);
	first = !host.exited;
	host.exited = true;
	pthread_mutex_unlock(&host.lock);
	if (!first || !host.ready)
		return;
	/*
	 * The live list is only read from here on: a container released by a
	 * close that races with exit has already left it.
	 */
	for (struct pv_container *pc = host.containers; pc; pc = pc->next) {
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u),
							 .flags = VFIO_DMA_UNMAP_FLAG_ALL };

		struct svf_stats st;

		svf_container_get_stats(pc->c, &st);
		host.exit_containers++;
		host.exit_pages += st.pinned_now;
		softvfio_ioctl(pc->c, VFIO_IOMMU_UNMAP_DMA, &u);
	}
	if (host.stats_path[0] && (host.used || host.program == host.self))
		write_stats();
	pv_sysfs_fini();
}

static const int fatal_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGABRT,
				     SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGUSR1, SIGUSR2 };

static void on_fatal_signal(int sig)
{
	/* Best effort: the program is going away; release and report first. */
	pv_host_exit();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void atfork_child(void)
{
	host.self = getpid();
	host.used = false;
	host.containers = NULL; /* the parent's, not ours to release */
	host.nr_containers_made = 0;
	memset(&host.retired, 0, sizeof(host.retired));
	host.requests = host.unknown_requests = host.foreign_requests = 0;
	pthread_mutex_init(&host.lock, NULL);
}

void pv_host_init(void)
{
	host_configure();
	atexit(pv_host_exit);
	pthread_atfork(NULL, NULL, atfork_child);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		struct sigaction old, sa = { .sa_handler = on_fatal_signal };

		if (sigaction(fatal_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
		    !(old.sa_flags & SA_SIGINFO))
			sigaction(fatal_signals[i], &sa, NULL);
	}
}

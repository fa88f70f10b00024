/* SPDX-License-Identifier: MIT */
/*
 * The preload library's host (host.h): softvfio objects behind the
 * program's VFIO fds.
 *
 * Files and objects. Opening /dev/vfio/vfio makes a container (a type1
 * container of the library, with no domain until a group joins) behind a
 * fresh memfd; /dev/vfio/N opens group N of the VFIO host (<softvfio/vfio.h>)
 * behind another; VFIO_GROUP_GET_DEVICE_FD gives a dup of the device's own
 * memfd, laid out as vfio-pci's device fd, so a program's mmap of a BAR
 * reaches the registers the device model watches. /dev/kmsg gives one end
 * of a SOCK_SEQPACKET pair, so that each read(2) returns one record as
 * Linux's /dev/kmsg does. Every object hangs off a pv_file of the fd table
 * (fdtable.h), shared by dup()s; the last close releases it. The VFIO host
 * resolves the fds that requests carry (SET_CONTAINER's container) through
 * this same table (host_fd_ops).
 *
 * Containers outlive their fd while a group holds them, as on Linux: the
 * last close of a container with no group attached destroys it at once;
 * one that groups still hold stays on the list (its IOMMU state is torn
 * down by the VFIO host when the last group leaves) until exit.
 *
 * /dev/kmsg: the host takes the VFIO host's fault records, renders each as
 * Linux's driver for the emulated IOMMU logs it (intel-iommu's DMAR line,
 * or amd_iommu's IO_PAGE_FAULT event line with the device's dictionary, as
 * a record of a device's message carries it), and appends it to one log
 * (kmsg_log);
 * each open /dev/kmsg socket is fed the log from its start, each record
 * once, in order. Feeding happens at open and before each read(2) of a
 * kmsg fd (interpose.c), so a read sees every fault recorded before it,
 * and on a feeder thread (started at the first open in each process) that
 * the VFIO host wakes at every new fault (fd_ops.faulted): a program
 * blocked in poll, select, epoll_wait or a blocking read of the fd wakes
 * when a fault arrives, as on Linux.
 *
 * DMA memory leaving the process: munmap, mremap and madvise(DONTNEED,
 * FREE, REMOVE) over pinned memory first hand the range to
 * svf_pinner_release(), which moves the pinned pages (same frames, same
 * content) into memory the pinner owns: the device keeps reaching them
 * until they are unmapped for DMA, as on Linux, and the CPU loses them.
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
#include <softvfio/vfio.h>

#include "devspec.h"
#include "fdtable.h"
#include "host.h"
#include "preload_log.h"
#include "real.h"
#include "record.h"
#include "sysfs.h"

struct pv_container {
	struct svf_container *c;  /* immutable */
	unsigned id;              /* immutable: 1, 2, ... in open order */
	bool closed;              /* no fd left; kept while groups hold it (host_lock) */
	struct pv_container *next; /* live list, under host_lock */
};

struct pv_group {
	struct svf_vfio_group *g; /* immutable */
	bool dead;                /* released at exit: the fds no longer serve (host_lock) */
	struct pv_group *next;    /* under host_lock */
};

struct pv_device {
	struct svf_vfio_device *dev; /* immutable */
	bool dead;                   /* host_lock */
	struct pv_device *next;      /* under host_lock */
};

struct pv_kmsg {
	int peer;                 /* the end the host writes records to */
	size_t next;              /* index in kmsg_log of the next record to send */
	struct pv_kmsg *next_kmsg; /* under host_lock */
};

static struct {
	bool ready;               /* configuration parsed; immutable after init */
	bool broken;              /* configuration unusable: every node ENODEV */
	pid_t self;               /* this process (updated in a fork child) */
	pid_t program;            /* SOFTVFIO_PID, or 0 */
	struct svf_exec_devlist devs;
	enum svf_policy policy;
	enum svf_backend backend;
	bool amd;                 /* SOFTVFIO_DRIVER amd: AMD-Vi units, else VT-d */
	bool hw_dirty, check_dma;
	char stats_path[PATH_MAX];

	pthread_mutex_t lock;
	struct svf_vfio *vfio;     /* the VFIO host; created at init (again in a fork child) */
	struct svf_pinner *pinner; /* created with the first container; never freed */
	bool pinned_ever;          /* a MAP_DMA succeeded: munmap and friends must look */
	uint64_t dma_lo, dma_hi;   /* every vaddr a MAP_DMA reached lies in [lo, hi) (atomics) */
	struct pv_container *containers;
	struct pv_group *groups;
	struct pv_device *devices;
	struct pv_kmsg *kmsgs;
	char **kmsg_log;           /* rendered fault records, "3,SEQ,USEC,-;DMAR: ...\n" */
	size_t kmsg_len, kmsg_cap;
	uint64_t kmsg_lost;
	unsigned nr_containers_made;
	struct svf_stats retired;  /* released containers' counters, summed */
	uint64_t requests, unknown_requests, foreign_requests;
	uint64_t exit_containers, exit_pages;
	bool used;                 /* this process opened a VFIO node */
	bool exited;
} host = { .lock = PTHREAD_MUTEX_INITIALIZER };

/*
 * Depth of softvfio calls the host makes on this thread: the library may
 * munmap memory of its own while it holds its locks (the pinner's
 * relocated pages), and that munmap must not come back into it. The
 * preload wrappers also recognise calls made from this library's code by
 * their return address, but a sanitizer's interceptor between the two
 * hides it, so the host says so itself.
 */
static __thread unsigned inside;

bool pv_host_inside(void)
{
	return inside != 0;
}

/* ---- configuration ---- */

static bool env_flag(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0") != 0;
}

/* The sysfs view of a device, from what the VFIO host says of it. */
static void sysfs_dev(const struct svf_vfio_device_desc *d, unsigned i, struct pv_sysfs_dev *s)
{
	uint8_t *c = s->config;
	uint64_t next = 0xfe000000ULL - (uint64_t)i * 0x01000000ULL; /* a window per device */

	snprintf(s->bdf, sizeof(s->bdf), "%s", d->name);
	s->group = d->group;
	memset(c, 0, sizeof(s->config));
	c[0x00] = (uint8_t)d->vendor, c[0x01] = (uint8_t)(d->vendor >> 8);
	c[0x02] = (uint8_t)d->device, c[0x03] = (uint8_t)(d->device >> 8);
	c[0x08] = d->revision;
	c[0x09] = (uint8_t)d->class_code;
	c[0x0a] = (uint8_t)(d->class_code >> 8);
	c[0x0b] = (uint8_t)(d->class_code >> 16);
	c[0x2c] = (uint8_t)d->subsystem_vendor, c[0x2d] = (uint8_t)(d->subsystem_vendor >> 8);
	c[0x2e] = (uint8_t)d->subsystem_device, c[0x2f] = (uint8_t)(d->subsystem_device >> 8);
	c[0x3d] = d->irq_pin;
	/*
	 * BARs at addresses a firmware could have given (each aligned to its
	 * size, below 4 GiB), as the resource file and the config header show
	 * them. Linux's flags: IORESOURCE_MEM (0x200) or _IO (0x100),
	 * _PREFETCH (0x2000), _MEM_64 (0x100000), _SIZEALIGN (0x40000).
	 */
	for (unsigned b = 0; b < 6; b++) {
		uint64_t size = d->bar_size[b];
		uint32_t low = d->bar_flags[b];
		uint32_t reg;

		if (!size)
			continue;
		next = (next - size) & ~(size - 1);
		s->bar_start[b] = next;
		s->bar_size[b] = size;
		if (low & 1) {
			s->bar_flags[b] = 0x40100;
		} else {
			s->bar_flags[b] = 0x40200 | ((low & 8) ? 0x2000 : 0) | ((low & 4) ? 0x100000 : 0);
		}
		reg = (uint32_t)next | (low & 0xf);
		memcpy(&c[0x10 + 4 * b], &reg, 4);
		if (low & 4) {
			reg = (uint32_t)(next >> 32);
			memcpy(&c[0x14 + 4 * b], &reg, 4);
			b++;
		}
	}
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

static int fd_ops_install_device(void *opaque, struct svf_vfio_device *dev);
static void fd_ops_faulted(void *opaque);
static void fd_ops_resolve(void *opaque, int fd, enum svf_vfio_fd_kind *kind, void **obj);

/* The VFIO host with the configured devices. 0 or -errno (logged). */
static int make_vfio(struct svf_exec_devlist *devs)
{
	static const struct svf_vfio_fd_ops ops = { .resolve = fd_ops_resolve,
						    .install_device = fd_ops_install_device,
						    .faulted = fd_ops_faulted };
	struct svf_vfio_config vc;
	struct svf_iommu_config ic;
	struct svf_vfio *h;
	int rc;

	svf_vfio_default_config(&vc);
	svf_iommu_default_config(host.amd ? "amd" : "vtd", &ic);
	ic.hw_dirty = host.hw_dirty;
	vc.iommu = &ic;
	rc = svf_vfio_create(&vc, &h);
	if (rc) {
		pv_log("cannot create the VFIO host: %s", strerror(-rc));
		return rc;
	}
	rc = svf_vfio_set_fd_ops(h, &ops);
	for (unsigned i = 0; i < devs->n && !rc; i++) {
		const struct svf_exec_devspec *d = &devs->dev[i];
		char bdf[16];
		struct svf_pci_device_config pc = {
			.kind = svf_exec_kind_name(d->kind),
			.bdf = bdf,
			.group = (int)d->group,
			.dma_mask = d->dma_mask,
		};

		svf_exec_bdf_name(d, bdf, sizeof(bdf));
		rc = svf_vfio_add_device(h, &pc, NULL);
		if (rc)
			pv_log("device %s: %s", bdf, strerror(-rc));
	}
	if (rc) {
		svf_vfio_destroy(h);
		return rc;
	}
	host.vfio = h;
	return 0;
}

/*
 * The library's diagnostics (svf_log; each one something a user must see,
 * such as a device access to memory the program unmapped behind its back)
 * go where the preload library's own do.
 */
static void library_log(void *opaque, enum svf_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	pv_log("%s", msg);
}

static void host_configure(void)
{
	struct pv_sysfs_info *info;
	struct svf_vfio_device_desc desc;
	char err[256];
	const char *v;
	int rc;

	host.self = getpid();
	v = getenv("SOFTVFIO_PID");
	host.program = v ? (pid_t)atoi(v) : 0;
	pv_log_open(getenv("SOFTVFIO_LOG"));
	svf_set_log_fn(library_log, NULL);
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
	v = getenv("SOFTVFIO_DRIVER");
	if (v && *v && strcmp(v, "vtd") && strcmp(v, "amd")) {
		pv_log("SOFTVFIO_DRIVER: unknown IOMMU driver '%s'; VFIO nodes disabled", v);
		host.broken = true;
	}
	host.amd = v && !strcmp(v, "amd");
	host.hw_dirty = env_flag("SOFTVFIO_HW_DIRTY");
	host.check_dma = env_flag("SOFTVFIO_CHECK_DMA");
	v = getenv("SOFTVFIO_STATS");
	if (v)
		snprintf(host.stats_path, sizeof(host.stats_path), "%s", v);
	pv_record_init(getenv("SOFTVFIO_RECORD"));
	if (svf_exec_devlist_parse(&host.devs, getenv("SOFTVFIO_DEVICES"), err, sizeof(err))) {
		pv_log("SOFTVFIO_DEVICES: %s; VFIO nodes disabled", err);
		host.broken = true;
		host.devs.n = 0;
	}
	if (!host.broken && make_vfio(&host.devs))
		host.broken = true;
	info = calloc(1, sizeof(*info));
	if (!info) {
		host.broken = true;
		return;
	}
	for (unsigned i = 0; host.vfio && !svf_vfio_get_device_desc(host.vfio, i, &desc) &&
			     info->nr_devs < 16; i++)
		sysfs_dev(&desc, i, &info->dev[info->nr_devs++]);
	info->amd = host.amd;
	if (!host.amd)
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

static void container_free(struct pv_container *pc)
{
	struct svf_stats st;

	svf_container_get_stats(pc->c, &st);
	pthread_mutex_lock(&host.lock);
	stats_add(&host.retired, &st);
	pthread_mutex_unlock(&host.lock);
	svf_container_destroy(pc->c);
	free(pc);
}

static void container_release(struct pv_file *f)
{
	struct pv_container *pc = f->obj, **pp;
	bool held, exited;

	if (f->pid != host.self) {
		/* A fork child's copy of its parent's container is not its to tear down. */
		free(f);
		return;
	}
	inside++;
	pthread_mutex_lock(&host.lock);
	exited = host.exited;
	/* A group holding it keeps it (and its domain) alive, as Linux's container. */
	held = svf_container_domain(pc->c, 0) != NULL || exited;
	if (held) {
		pc->closed = true;
	} else {
		for (pp = &host.containers; *pp; pp = &(*pp)->next)
			if (*pp == pc) {
				*pp = pc->next;
				break;
			}
	}
	pthread_mutex_unlock(&host.lock);
	pv_record_close(pc);
	if (!held)
		container_free(pc);
	free(f);
	inside--;
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
	struct pv_container *pc;
	int fd, rc;

	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	svf_container_default_config(&cfg);
	cfg.policy = host.policy;
	cfg.attach_default_domain = false; /* domains come with the groups */
	cfg.dma_check = host.check_dma;
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

/* ---- groups and devices ---- */

static void group_release(struct pv_file *f)
{
	inside++;
	struct pv_group *pg = f->obj, **pp;
	bool dead;

	if (f->pid == host.self) {
		pthread_mutex_lock(&host.lock);
		dead = pg->dead;
		for (pp = &host.groups; *pp; pp = &(*pp)->next)
			if (*pp == pg) {
				*pp = pg->next;
				break;
			}
		pthread_mutex_unlock(&host.lock);
		if (!dead)
			svf_vfio_group_close(pg->g);
		free(pg);
	}
	free(f);
	inside--;
}

static int open_group(unsigned id, int flags)
{
	struct pv_group *pg = calloc(1, sizeof(*pg));
	char what[32];
	int fd, rc;

	if (!pg)
		return -ENOMEM;
	rc = svf_vfio_group_open(host.vfio, id, &pg->g);
	if (rc) {
		free(pg);
		return rc; /* -ENOENT: no such group; -EBUSY: open already, as Linux */
	}
	snprintf(what, sizeof(what), "group-%u", id);
	fd = make_memfd(what, flags);
	if (fd < 0) {
		rc = -errno;
		goto err_close;
	}
	rc = install_new(fd, PV_GROUP, pg, group_release);
	if (rc)
		goto err_fd;
	pthread_mutex_lock(&host.lock);
	pg->next = host.groups;
	host.groups = pg;
	pthread_mutex_unlock(&host.lock);
	pv_info("fd %d: group %u", fd, id);
	return fd;
err_fd:
	pv_real.close(fd);
err_close:
	svf_vfio_group_close(pg->g);
	free(pg);
	return rc;
}

static void device_release(struct pv_file *f)
{
	inside++;
	struct pv_device *pd = f->obj, **pp;
	bool dead;

	if (f->pid == host.self) {
		pthread_mutex_lock(&host.lock);
		dead = pd->dead;
		for (pp = &host.devices; *pp; pp = &(*pp)->next)
			if (*pp == pd) {
				*pp = pd->next;
				break;
			}
		pthread_mutex_unlock(&host.lock);
		if (!dead)
			svf_vfio_device_close(pd->dev);
		free(pd);
	}
	free(f);
	inside--;
}

/*
 * GET_DEVICE_FD opened dev: the program's fd is a dup of the device's
 * memfd (close-on-exec, as Linux's device fds are), so mmap of a BAR maps
 * the memory the device model watches.
 */
static int fd_ops_install_device(void *opaque, struct svf_vfio_device *dev)
{
	struct pv_device *pd;
	int mfd, fd, rc;

	(void)opaque;
	rc = svf_vfio_device_memfd(dev, &mfd);
	if (rc)
		return rc;
	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return -ENOMEM;
	pd->dev = dev;
	fd = pv_real.fcntl(mfd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		free(pd);
		return rc;
	}
	rc = install_new(fd, PV_DEVICE, pd, device_release);
	if (rc) {
		pv_real.close(fd);
		free(pd);
		return rc;
	}
	pthread_mutex_lock(&host.lock);
	pd->next = host.devices;
	host.devices = pd;
	pthread_mutex_unlock(&host.lock);
	pv_info("fd %d: device %s", fd, svf_vfio_device_name(dev));
	return fd;
}

/* Called with the VFIO host's lock held: only the fd table is touched. */
static void fd_ops_resolve(void *opaque, int fd, enum svf_vfio_fd_kind *kind, void **obj)
{
	struct pv_file *f = pv_fd_get(fd);

	(void)opaque;
	*obj = NULL;
	if (!f) {
		*kind = pv_real.fcntl(fd, F_GETFD) < 0 ? SVF_VFIO_FD_NONE : SVF_VFIO_FD_OTHER;
		return;
	}
	*kind = SVF_VFIO_FD_OTHER;
	if (f->pid == host.self) {
		switch (f->kind) {
		case PV_CONTAINER:
			*kind = SVF_VFIO_FD_CONTAINER;
			*obj = ((struct pv_container *)f->obj)->c;
			break;
		case PV_GROUP:
			*kind = SVF_VFIO_FD_GROUP;
			*obj = ((struct pv_group *)f->obj)->g;
			break;
		case PV_DEVICE:
			*kind = SVF_VFIO_FD_DEVICE;
			*obj = ((struct pv_device *)f->obj)->dev;
			break;
		default:
			break;
		}
	}
	pv_file_put(f);
}

/* ---- /dev/kmsg ---- */

/*
 * Take the faults the VFIO host recorded since the last call into the log,
 * then send every open kmsg reader what it has not had. host.lock held.
 */
static void kmsg_feed_locked(void)
{
	struct svf_vfio_fault faults[32];
	size_t nr;
	uint64_t lost;

	if (!host.vfio)
		return;
	do {
		nr = 0;
		lost = 0;
		svf_vfio_read_faults(host.vfio, faults, 32, &nr, &lost);
		host.kmsg_lost += lost;
		for (size_t i = 0; i < nr; i++) {
			char text[512], *line;
			size_t n = 0;
			int len;

			if (host.amd)
				svf_vfio_fault_format_amd(&faults[i], text, sizeof(text), &n);
			else
				svf_vfio_fault_format(&faults[i], text, sizeof(text), &n);
			if (host.kmsg_len == host.kmsg_cap) {
				size_t cap = host.kmsg_cap ? 2 * host.kmsg_cap : 64;
				char **log = realloc(host.kmsg_log, cap * sizeof(*log));

				if (!log) {
					host.kmsg_lost++;
					continue;
				}
				host.kmsg_log = log;
				host.kmsg_cap = cap;
			}
			/*
			 * Linux's record: facility 0, level 3 (pr_err), sequence, usec,
			 * no continuation. A device's message (AMD-Vi's pci_err) also
			 * carries its dictionary, one " KEY=value" line each.
			 */
			if (host.amd) {
				char bdf[16];

				snprintf(bdf, sizeof(bdf), "%04x:%02x:%02x.%d", faults[i].segment,
					 faults[i].rid >> 8, (faults[i].rid >> 3) & 0x1f,
					 faults[i].rid & 7);
				len = asprintf(&line, "3,%zu,%llu,-;%s\n SUBSYSTEM=pci\n DEVICE=+pci:%s\n",
					       host.kmsg_len,
					       (unsigned long long)(faults[i].time_ns / 1000), text, bdf);
			} else {
				len = asprintf(&line, "3,%zu,%llu,-;%s\n", host.kmsg_len,
					       (unsigned long long)(faults[i].time_ns / 1000), text);
			}
			if (len < 0) {
				host.kmsg_lost++;
				continue;
			}
			host.kmsg_log[host.kmsg_len++] = line;
		}
	} while (nr == 32);
	for (struct pv_kmsg *k = host.kmsgs; k; k = k->next_kmsg)
		while (k->next < host.kmsg_len) {
			const char *line = host.kmsg_log[k->next];

			if (send(k->peer, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				break; /* full: the rest goes at the next read */
			k->next++;
		}
}

void pv_host_kmsg_feed(void)
{
	pthread_mutex_lock(&host.lock);
	kmsg_feed_locked();
	pthread_mutex_unlock(&host.lock);
}

/*
 * New faults wake the feeder. The VFIO host calls fd_ops_faulted from the
 * faulting DMA, where the host lock may be held by the thread the DMA
 * serves, so it only sets pending under kick.lock, a leaf lock held for
 * nothing else; the feeder takes the host lock on its own.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool pending;          /* kick.lock */
	pid_t feeder;          /* the process whose feeder runs, 0: none; host.lock */
} kick = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0 };

static void fd_ops_faulted(void *opaque)
{
	(void)opaque;
	pthread_mutex_lock(&kick.lock);
	kick.pending = true;
	pthread_cond_signal(&kick.cond);
	pthread_mutex_unlock(&kick.lock);
}

static void *kmsg_feeder(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&kick.lock);
		while (!kick.pending)
			pthread_cond_wait(&kick.cond, &kick.lock);
		kick.pending = false;
		pthread_mutex_unlock(&kick.lock);
		pv_host_kmsg_feed();
	}
	return NULL;
}

/*
 * host.lock held: start this process's feeder once. It blocks every signal
 * (they stay the program's threads' business) and lives until exit. If it
 * cannot start, reads still feed.
 */
static void kmsg_feeder_start(void)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t t;

	if (kick.feeder == host.self || pthread_attr_init(&attr))
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&t, &attr, kmsg_feeder, NULL) == 0)
		kick.feeder = host.self;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
}

static void kmsg_release(struct pv_file *f)
{
	struct pv_kmsg *k = f->obj, **pp;

	if (f->pid == host.self) {
		pthread_mutex_lock(&host.lock);
		for (pp = &host.kmsgs; *pp; pp = &(*pp)->next_kmsg)
			if (*pp == k) {
				*pp = k->next_kmsg;
				break;
			}
		pthread_mutex_unlock(&host.lock);
		pv_real.close(k->peer);
		free(k);
	}
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
	pthread_mutex_lock(&host.lock);
	k->next_kmsg = host.kmsgs;
	host.kmsgs = k;
	kmsg_feed_locked();
	kmsg_feeder_start();
	pthread_mutex_unlock(&host.lock);
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

/* A fork child starts its own VFIO host: the parent's is not usable here. */
static int host_vfio_ready(void)
{
	int rc = 0;

	pthread_mutex_lock(&host.lock);
	if (!host.vfio)
		rc = make_vfio(&host.devs);
	host.used = true;
	pthread_mutex_unlock(&host.lock);
	return rc;
}

int pv_host_open(const char *path, int flags, bool *ours)
{
	unsigned g;
	int rc;

	*ours = false;
	if (strncmp(path, "/dev/", 5) != 0)
		return 0;
	if (!strcmp(path + 5, "kmsg")) {
		*ours = true;
		if (!host.ready)
			return -ENODEV;
		if ((flags & O_ACCMODE) != O_RDONLY) {
			*ours = false; /* a writer reaches the real log */
			return 0;
		}
		return open_kmsg(flags);
	}
	if (strncmp(path + 5, "vfio/", 5) != 0)
		return 0;
	path += 10;
	*ours = true;
	if (!host.ready || host.broken)
		return -ENODEV;
	rc = host_vfio_ready();
	if (rc)
		return rc;
	if (!strcmp(path, "vfio"))
		return open_container(flags);
	if (parse_group(path, &g))
		return open_group(g, flags);
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

	rc = softvfio_ioctl(pc->c, request, arg);
	if (rc == 0 && request == VFIO_IOMMU_MAP_DMA) {
		const struct vfio_iommu_type1_dma_map *m = arg;
		uint64_t lo = m->vaddr, hi = m->vaddr + m->size;
		uint64_t old = __atomic_load_n(&host.dma_lo, __ATOMIC_RELAXED);

		/* The bounds only widen: a superset is enough for the fast path. */
		while ((lo < old || !old) &&
		       !__atomic_compare_exchange_n(&host.dma_lo, &old, lo, false, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED))
			;
		old = __atomic_load_n(&host.dma_hi, __ATOMIC_RELAXED);
		while (hi > old &&
		       !__atomic_compare_exchange_n(&host.dma_hi, &old, hi, false, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED))
			;
		__atomic_store_n(&host.pinned_ever, true, __ATOMIC_RELEASE);
	}
	if (rc == -ENOTTY) {
		count(&host.unknown_requests);
		pv_log_once(request, "container request 0x%lx is not implemented: ENOTTY", request);
	}
	pv_record_request(pc, pc->c, request, arg, rc);
	return rc;
}

static long host_ioctl(int fd, unsigned long request, void *arg)
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
	case PV_GROUP: {
		struct pv_group *pg = f->obj;

		rc = pg->dead ? -ENODEV : svf_vfio_group_ioctl(pg->g, request, arg);
		break;
	}
	case PV_DEVICE: {
		struct pv_device *pd = f->obj;

		rc = pd->dead ? -ENODEV : svf_vfio_device_ioctl(pd->dev, request, arg);
		break;
	}
	default:
		rc = -ENOTTY; /* /dev/kmsg has no requests */
		break;
	}
	if (rc == -ENOTTY && f->kind != PV_CONTAINER) {
		count(&host.unknown_requests);
		pv_log_once(request, "%s request 0x%lx is not implemented: ENOTTY",
			    f->kind == PV_GROUP ? "group" : f->kind == PV_DEVICE ? "device" : "kmsg",
			    request);
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

long pv_host_ioctl(int fd, unsigned long request, void *arg)
{
	long rc;

	inside++;
	rc = host_ioctl(fd, request, arg);
	inside--;
	return rc;
}

/* pread/pwrite: only a device fd has regions; the others answer as Linux's. */
static ssize_t region_rw(int fd, void *buf, size_t n, off_t off, bool write)
{
	struct pv_file *f = pv_fd_get(fd);
	size_t done = 0;
	int rc;

	if (!f)
		return -EBADF;
	inside++;
	if (f->pid != host.self) {
		rc = -ENODEV;
	} else if (f->kind == PV_DEVICE && !((struct pv_device *)f->obj)->dead) {
		struct svf_vfio_device *dev = ((struct pv_device *)f->obj)->dev;

		rc = write ? svf_vfio_device_write(dev, buf, n, (uint64_t)off, &done)
			   : svf_vfio_device_read(dev, buf, n, (uint64_t)off, &done);
	} else if (f->kind == PV_KMSG) {
		rc = -ESPIPE;
	} else {
		rc = -EINVAL; /* a container or group file has no read/write */
	}
	pv_file_put(f);
	inside--;
	return rc ? rc : (ssize_t)done;
}

ssize_t pv_host_pread(int fd, void *buf, size_t n, off_t off)
{
	return region_rw(fd, buf, n, off, false);
}

ssize_t pv_host_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return region_rw(fd, (void *)buf, n, off, true);
}

bool pv_host_dma_maybe(const void *addr, size_t len)
{
	uint64_t a = (uint64_t)(uintptr_t)addr;

	return __atomic_load_n(&host.pinned_ever, __ATOMIC_ACQUIRE) &&
	       a < __atomic_load_n(&host.dma_hi, __ATOMIC_RELAXED) &&
	       a + len > __atomic_load_n(&host.dma_lo, __ATOMIC_RELAXED);
}

void pv_host_dma_release(const void *addr, size_t len)
{
	uint64_t start = (uint64_t)(uintptr_t)addr & ~4095ULL;
	uint64_t end = ((uint64_t)(uintptr_t)addr + len + 4095) & ~4095ULL;
	struct svf_pinner *p;
	int rc;

	pthread_mutex_lock(&host.lock);
	p = host.pinner;
	pthread_mutex_unlock(&host.lock);
	if (!p || end <= start)
		return;
	rc = svf_pinner_release(p, start, end - start);
	if (rc)
		pv_log("memory at 0x%llx (+0x%llx) leaves the process while mapped for DMA, and "
		       "softvfio could not keep its pages for the device: %s",
		       (unsigned long long)start, (unsigned long long)(end - start), strerror(-rc));
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
	/*
	 * The IOMMU units belong to the VFIO host: once the groups have left,
	 * no container counts them, so they are added here, once each.
	 */
	for (unsigned i = 0; host.vfio && svf_vfio_unit(host.vfio, i); i++)
		svf_iommu_add_stats(svf_vfio_unit(host.vfio, i), &sum);
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
	struct pv_device *devs;
	struct pv_group *groups;
	bool first;

	pthread_mutex_lock(&host.lock);
	first = !host.exited;
	host.exited = true;
	devs = host.devices;
	groups = host.groups;
	for (struct pv_device *d = devs; d; d = d->next)
		d->dead = true;
	for (struct pv_group *g = groups; g; g = g->next)
		g->dead = true;
	pthread_mutex_unlock(&host.lock);
	if (!first || !host.ready)
		return;
	inside++; /* never left: the process is ending */
	pv_record_finish();
	/*
	 * What the process ending does on Linux: its fds close. Devices first
	 * (their DMA stops), then groups (the last one leaving a container
	 * tears its IOMMU state down), then every container is unmapped whole
	 * through the policy's invalidations, so that every page is unpinned.
	 * The lists are only read from here on: nothing is freed, the
	 * program's other threads may still hold the objects.
	 */
	for (struct pv_container *pc = host.containers; pc; pc = pc->next) {
		struct svf_stats st;

		svf_container_get_stats(pc->c, &st);
		host.exit_containers++;
		host.exit_pages += st.pinned_now;
	}
	for (struct pv_device *d = devs; d; d = d->next)
		svf_vfio_device_close(d->dev);
	for (struct pv_group *g = groups; g; g = g->next)
		svf_vfio_group_close(g->g);
	for (struct pv_container *pc = host.containers; pc; pc = pc->next) {
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u),
							 .flags = VFIO_DMA_UNMAP_FLAG_ALL };

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
	/* The parent's objects, not ours to release; a new host if we open nodes. */
	host.vfio = NULL;
	host.pinner = NULL;
	host.pinned_ever = false;
	host.dma_lo = host.dma_hi = 0;
	host.containers = NULL;
	host.groups = NULL;
	host.devices = NULL;
	host.kmsgs = NULL;
	/* The parent's feeder did not come along; a kick the fork cut off is moot. */
	pthread_mutex_init(&kick.lock, NULL);
	pthread_cond_init(&kick.cond, NULL);
	kick.pending = false;
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

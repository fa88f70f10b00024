/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a stream of VFIO group and device requests against a
 * host of emulated PCI devices (edu and ioat, one to four of them, in one
 * or more groups, on one or two IOMMU units of either driver), as a
 * program makes them through its group and device fds: GET_STATUS,
 * SET_CONTAINER, UNSET_CONTAINER, GET_DEVICE_FD with odd names, device
 * GET_INFO, GET_REGION_INFO and GET_IRQ_INFO with any index and argsz,
 * SET_IRQS with any flags, index, start, count, argsz and data (eventfds
 * of the fuzzer, fds that are not eventfds, fds that are not open),
 * region reads and writes at any offset and size, RESET, hot reset, MAP and
 * UNMAP of the fuzzer's memory so that the devices' DMA really runs (edu's
 * engine, ioat descriptor chains the fuzzer writes into mapped memory and
 * rings through BAR0, stores through a mapping of BAR0 served by the
 * watcher), and pointers the process cannot read or write.
 *
 * Header bytes choose the machine (devices, kinds, groups, units, IOMMU
 * driver, pinning policy) and whether the fault-injection seam is armed
 * (at which point); the rest is requests. After every request: the result
 * is 0 or an errno of the request's documented set (the exact one where
 * the arguments decide it), what was written back stays inside argsz and
 * agrees with the device (sizes, offsets, capability chains, counts), no
 * byte of the fuzzer's memory that no mapping lets a device write has
 * changed, and every container passes its own checker. At the end
 * everything is closed: nothing stays pinned or locked, no fd and no
 * thread is left over. Any violation aborts with a message.
 *
 * Keeping an input fast: the doorbell watchers never spin (watch_no_spin)
 * and go idle at once, so an input never waits for a device thread.
 * SVF_FUZZ_LOG=1 in the environment shows the library's messages (an
 * invariant violation names the unpin it objected to).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include <softvfio/log.h>
#include <softvfio/pin.h>
#include <softvfio/softvfio.h>
#include <softvfio/vfio.h>

#include "svf_test.h"

#define PG          4096ULL
#define MAX_STEPS   192
#define MAX_DEVS    4
#define MAX_FILES   6
#define NCONT       2
#define MEM_PG      32
/* Pages [0, RO_PG) may be mapped writable; [RO_PG, GUARD_PG) only readable; the rest never. */
#define RO_PG       24
#define GUARD_PG    28
#define IOVA_BASE   0x100000ULL
#define CFD_BASE    100 /* container fds */
#define GFD_BASE    200 /* group fds */
#define BAD_FD      (1 << 20)
#define NEFD        3
#define BIGBUF      ((1u << 20) + 64)

#define CFG_OFF     VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX)

#ifndef offsetofend
#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))
#endif

struct grp {
	unsigned id, unit;
	struct svf_vfio_group *g; /* valid while open or held by device files */
	bool open;                /* the group fd is open */
	int cont;                 /* container index, -1: none */
	unsigned files;           /* device files open */
};

struct cont {
	struct svf_container *c;
	bool put;                 /* handed to the host: gone once no group holds it */
	bool gone;
};

struct file {
	struct svf_vfio_device *dev;
	unsigned hd;              /* device index */
	unsigned grp;
};

struct fz {
	struct svf_pinner *p;
	struct svf_vfio *h;
	unsigned ndev;
	struct svf_vfio_device_desc desc[MAX_DEVS];
	unsigned dev_grp[MAX_DEVS];
	uint8_t *bar[MAX_DEVS];   /* the fuzzer's mapping of each device's BAR0 (lazily) */
	struct grp grps[MAX_DEVS];
	unsigned ngrp;
	struct cont conts[NCONT];
	struct file files[MAX_FILES];
	unsigned nfiles;
	uint8_t *mem;             /* MEM_PG pages the containers map */
	uint8_t *noaccess;        /* a PROT_NONE page */
	uint8_t *rdonly;          /* a PROT_READ page */
	uint8_t shadow[MEM_PG - RO_PG][4096]; /* what the read-only and guard pages hold */
	int efd[NEFD], pipefd[2];
	bool armed;
	uint16_t ioat_count[MAX_DEVS];
	unsigned step;
};

static uint8_t *bigbuf;

/* ---- byte stream ---- */

struct in {
	const uint8_t *p, *end;
};

static uint8_t take(struct in *in)
{
	return in->p < in->end ? *in->p++ : 0;
}

static uint16_t take16(struct in *in)
{
	return (uint16_t)(take(in) | take(in) << 8);
}

static uint32_t take32(struct in *in)
{
	return (uint32_t)take16(in) | (uint32_t)take16(in) << 16;
}

static uint64_t take64(struct in *in)
{
	return (uint64_t)take32(in) | (uint64_t)take32(in) << 32;
}

__attribute__((format(printf, 2, 3), noreturn))
static void die(struct fz *f, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_device: step %u: ", f->step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ---- errno sets ---- */

/* Errnos a point of the fault seam can make any request return. */
static const int fault_errnos[] = { ENOMEM, EFAULT, EAGAIN, EIO, EMFILE, 0 };

static bool in_set(long rc, const int *set)
{
	for (; *set; set++)
		if (rc == -*set)
			return true;
	return false;
}

/* rc must be 0 (or >= 0 when nonneg_ok) or one of set (fault errnos too while armed). */
static void expect_set(struct fz *f, const char *what, long rc, bool nonneg_ok, const int *set)
{
	if (rc == 0 || (nonneg_ok && rc > 0))
		return;
	if (rc < 0 && in_set(rc, set))
		return;
	if (rc < 0 && f->armed && in_set(rc, fault_errnos))
		return;
	die(f, "%s returned %ld, not in its documented set", what, rc);
}

/* rc must be want (or a fault errno while armed). */
static void expect_rc(struct fz *f, const char *what, long rc, long want)
{
	if (rc == want)
		return;
	if (rc < 0 && f->armed && in_set(rc, fault_errnos))
		return;
	die(f, "%s returned %ld, expected %ld", what, rc, want);
}

/* ---- bookkeeping ---- */

static struct cont *cont_of(struct fz *f, int i)
{
	return i >= 0 ? &f->conts[i] : NULL;
}

/* A put container goes when its last group leaves (svf_vfio_container_put). */
static void cont_settle(struct fz *f)
{
	for (int i = 0; i < NCONT; i++) {
		struct cont *c = &f->conts[i];
		bool held = false;

		if (!c->put || c->gone)
			continue;
		for (unsigned k = 0; k < f->ngrp; k++)
			if ((f->grps[k].open || f->grps[k].files) && f->grps[k].cont == i)
				held = true;
		if (!held)
			c->gone = true;
	}
}

/* A group that is closed and holds no device file is released (detached). */
static void grp_settle(struct fz *f, struct grp *g)
{
	if (!g->open && !g->files) {
		g->g = NULL;
		g->cont = -1;
	}
	cont_settle(f);
}

static bool cont_live(const struct cont *c)
{
	return c && !c->gone;
}

/* ---- invariants after every request ---- */

static void check_state(struct fz *f)
{
	for (int i = 0; i < NCONT; i++) {
		struct cont *c = &f->conts[i];
		struct svf_stats s;
		int rc;

		if (c->gone)
			continue;
		rc = svf_container_check(c->c);
		if (rc)
			die(f, "container %d: svf_container_check %d", i, rc);
		svf_container_get_stats(c->c, &s);
		if (s.invariant_violations)
			die(f, "container %d: %llu invariant violations", i,
			    (unsigned long long)s.invariant_violations);
	}
	/* Pages no mapping lets a device write: the IOMMU must have kept them intact. */
	for (unsigned pg = RO_PG; pg < MEM_PG; pg++)
		if (memcmp(f->mem + pg * PG, f->shadow[pg - RO_PG], PG))
			die(f, "page %u, never mapped writable, was changed", pg);
}

/* ---- pointers ---- */

/*
 * An argument buffer of exactly len bytes (at least min, the part Linux
 * reads unconditionally), so that ASan sees any access past what argsz
 * allows; or, when bad, a page the process cannot read.
 */
static void *arg_alloc(size_t len, size_t min)
{
	void *p = malloc(len < min ? min : len);

	if (!p)
		abort();
	return p;
}

/* ---- groups ---- */

static struct grp *pick_grp(struct fz *f, struct in *in)
{
	return &f->grps[take(in) % f->ngrp];
}

static void op_group_open(struct fz *f, struct in *in)
{
	uint8_t b = take(in);
	struct grp *g = &f->grps[b % f->ngrp];
	struct svf_vfio_group *vg;
	unsigned id = (b & 0x80) ? g->id + 1 + (b & 0x40 ? 1000 : 0) : g->id;
	bool exists = false;
	int rc;

	for (unsigned k = 0; k < f->ngrp; k++)
		if (f->grps[k].id == id) {
			g = &f->grps[k];
			exists = true;
		}
	rc = svf_vfio_group_open(f->h, id, &vg);
	if (!exists) {
		expect_rc(f, "group open (no such group)", rc, -ENOENT);
		return;
	}
	expect_rc(f, "group open", rc, g->g ? -EBUSY : 0);
	if (rc)
		return;
	g->g = vg;
	g->open = true;
	g->cont = -1;
	if (svf_vfio_group_id(vg) != id)
		die(f, "group %u reports id %u", id, svf_vfio_group_id(vg));
	rc = svf_vfio_bind_fd(f->h, GFD_BASE + (int)(g - f->grps), SVF_VFIO_FD_GROUP, vg);
	if (rc)
		die(f, "bind group fd: %d", rc);
}

static void op_group_close(struct fz *f, struct in *in)
{
	struct grp *g = pick_grp(f, in);

	if (!g->open)
		return;
	if (svf_vfio_unbind_fd(f->h, GFD_BASE + (int)(g - f->grps)))
		die(f, "group fd was not bound");
	svf_vfio_group_close(g->g);
	g->open = false;
	grp_settle(f, g);
}

static void op_group_status(struct fz *f, struct in *in)
{
	struct grp *g = pick_grp(f, in);
	uint8_t b = take(in);
	uint32_t argsz = b & 0x80 ? take32(in) : (uint32_t)(b & 15);
	struct vfio_group_status *st;
	uint8_t before[sizeof(*st)];
	long rc;

	if (!g->open)
		return;
	if (b & 0x40) {
		rc = svf_vfio_group_ioctl(g->g, VFIO_GROUP_GET_STATUS, NULL);
		expect_rc(f, "GET_STATUS(NULL)", rc, -EFAULT);
		return;
	}
	st = arg_alloc(sizeof(*st), sizeof(*st));
	memset(st, 0xa5, sizeof(*st));
	st->argsz = argsz;
	memcpy(before, st, sizeof(*st));
	rc = svf_vfio_group_ioctl(g->g, VFIO_GROUP_GET_STATUS, st);
	expect_rc(f, "GET_STATUS", rc, argsz < 8 ? -EINVAL : 0);
	if (!rc) {
		uint32_t want = VFIO_GROUP_FLAGS_VIABLE |
				(g->cont >= 0 ? VFIO_GROUP_FLAGS_CONTAINER_SET : 0);

		if (st->flags != want || st->argsz != argsz)
			die(f, "GET_STATUS flags 0x%x argsz %u, expected 0x%x %u", st->flags,
			    st->argsz, want, argsz);
	} else if (memcmp(before, st, sizeof(*st))) {
		die(f, "GET_STATUS failed but wrote the struct");
	}
	free(st);
}

static void op_set_container(struct fz *f, struct in *in)
{
	struct grp *g = pick_grp(f, in);
	uint8_t b = take(in);
	int32_t fd;
	long rc;
	int ci = -1;

	if (!g->open)
		return;
	switch (b % 6) {
	case 0:
	case 1:
		ci = b % 2;
		fd = CFD_BASE + ci;
		break;
	case 2: fd = GFD_BASE + (b >> 4) % MAX_DEVS; break;
	case 3: fd = BAD_FD; break;
	case 4: fd = -1; break;
	default:
		rc = svf_vfio_group_ioctl(g->g, VFIO_GROUP_SET_CONTAINER, NULL);
		expect_rc(f, "SET_CONTAINER(NULL)", rc, -EFAULT);
		return;
	}
	rc = svf_vfio_group_ioctl(g->g, VFIO_GROUP_SET_CONTAINER, &fd);
	if (ci >= 0 && f->conts[ci].put) {
		/* The container fd was closed: the number names nothing. */
		expect_rc(f, "SET_CONTAINER(closed container)", rc, -EBADF);
		return;
	}
	if (ci < 0) {
		bool grp_fd = fd >= GFD_BASE && fd < GFD_BASE + MAX_DEVS &&
			      (unsigned)(fd - GFD_BASE) < f->ngrp && f->grps[fd - GFD_BASE].open;

		expect_rc(f, "SET_CONTAINER(not a container)", rc,
			  !grp_fd ? -EBADF : g->cont >= 0 ? -EINVAL : -EBADFD);
		return;
	}
	if (g->cont >= 0) {
		expect_rc(f, "SET_CONTAINER(already set)", rc, -EINVAL);
		return;
	}
	/* ENOSPC/EINVAL: the container's domain limits and aperture. */
	expect_set(f, "SET_CONTAINER", rc, false, (const int[]){ ENOSPC, EINVAL, 0 });
	if (!rc)
		g->cont = ci;
}

static void op_unset_container(struct fz *f, struct in *in)
{
	struct grp *g = pick_grp(f, in);
	long rc;

	if (!g->open)
		return;
	rc = svf_vfio_group_ioctl(g->g, VFIO_GROUP_UNSET_CONTAINER, NULL);
	expect_rc(f, "UNSET_CONTAINER", rc, g->cont < 0 ? -EINVAL : g->files ? -EBUSY : 0);
	if (!rc) {
		g->cont = -1;
		cont_settle(f);
	}
}

/* GET_DEVICE_FD with a name built from the input: exact, decorated, foreign, malformed. */
static void op_get_device_fd(struct fz *f, struct in *in)
{
	struct grp *g = pick_grp(f, in);
	uint8_t b = take(in), d = take(in);
	const char *base = f->desc[d % f->ndev].name;
	bool mine = f->dev_grp[d % f->ndev] == (unsigned)(g - f->grps);
	char tmp[128];
	char *name;
	size_t len;
	long rc, want = 1; /* 1: must succeed when the group can open devices */
	struct svf_vfio_device *dev;

	if (!g->open)
		return;
	switch (b % 12) {
	case 0:
	case 1: snprintf(tmp, sizeof(tmp), "%s", base); break;
	case 2: snprintf(tmp, sizeof(tmp), "%s ", base); break;
	case 3:
		snprintf(tmp, sizeof(tmp), "%s vf_token=12345678-abcd-ef01-2345-6789abcdef01", base);
		want = -EINVAL; /* neither PF nor VF */
		break;
	case 4: snprintf(tmp, sizeof(tmp), "%s vf_token=zz", base); want = -EINVAL; break;
	case 5: snprintf(tmp, sizeof(tmp), "%sx", base); want = -ENODEV; break;
	case 6: snprintf(tmp, sizeof(tmp), "%.*s", (int)(b >> 4) % 12, base); want = -ENODEV; break;
	case 7: snprintf(tmp, sizeof(tmp), "%s junk", base); want = -EINVAL; break;
	case 8: {
		/* Bytes of the input after the name. */
		size_t n = strlen(base);

		memcpy(tmp, base, n);
		for (unsigned i = 0; i < (b >> 4); i++)
			tmp[n++] = (char)take(in);
		tmp[n] = 0;
		want = 0; /* not predicted */
		break;
	}
	case 9: {
		/* 4096 bytes with no NUL: strndup_user's limit. */
		name = malloc(4096);
		if (!name)
			abort();
		memset(name, 'a', 4096);
		rc = svf_vfio_group_ioctl(g->g, VFIO_GROUP_GET_DEVICE_FD, name);
		expect_rc(f, "GET_DEVICE_FD(4096 bytes)", rc, -EINVAL);
		free(name);
		return;
	}
	case 10:
		rc = svf_vfio_group_ioctl(g->g, VFIO_GROUP_GET_DEVICE_FD, NULL);
		expect_rc(f, "GET_DEVICE_FD(NULL)", rc, -EFAULT);
		return;
	default:
		/* An unreadable name: Linux's strndup_user faults. */
		rc = svf_vfio_group_ioctl(g->g, VFIO_GROUP_GET_DEVICE_FD, (void *)f->noaccess);
		expect_rc(f, "GET_DEVICE_FD(unreadable)", rc, -EFAULT);
		return;
	}
	len = strlen(tmp) + 1;
	name = malloc(len); /* exactly: reading past the NUL is an ASan report */
	if (!name)
		abort();
	memcpy(name, tmp, len);
	if ((want == 1 || want == -EINVAL) && !mine)
		want = -ENODEV; /* only the group's devices are matched, options after */
	rc = svf_vfio_group_ioctl(g->g, VFIO_GROUP_GET_DEVICE_FD, name);
	free(name);
	if (want == 1) {
		struct cont *c = cont_of(f, g->cont);

		if (!cont_live(c) || !svf_container_iommu_set(c->c))
			want = -EINVAL;
		else
			want = SVF_VFIO_HANDLE_BASE; /* any number from there up */
	}
	if (want == SVF_VFIO_HANDLE_BASE) {
		if (rc < SVF_VFIO_HANDLE_BASE)
			expect_set(f, "GET_DEVICE_FD", rc, false, (const int[]){ 0 });
	} else if (want) {
		/* The open errnos (ENOMEM, EAGAIN) only while the seam is armed. */
		expect_rc(f, "GET_DEVICE_FD", rc, want);
	} else if (rc < 0) {
		expect_set(f, "GET_DEVICE_FD", rc, false, (const int[]){ EINVAL, ENODEV, 0 });
	}
	if (rc < 0)
		return;
	if (svf_vfio_device_from_fd(f->h, (int)rc, &dev))
		die(f, "GET_DEVICE_FD returned %ld, not a device of the fd table", rc);
	if (f->nfiles == MAX_FILES) {
		svf_vfio_device_close(dev);
		return;
	}
	for (unsigned i = 0; i < f->ndev; i++) {
		if (strcmp(svf_vfio_device_name(dev), f->desc[i].name))
			continue;
		f->files[f->nfiles++] = (struct file){ .dev = dev, .hd = i,
						       .grp = (unsigned)(g - f->grps) };
		g->files++;
		return;
	}
	die(f, "opened device %s is not on the host", svf_vfio_device_name(dev));
}

static struct file *pick_file(struct fz *f, struct in *in)
{
	uint8_t b = take(in);

	return f->nfiles ? &f->files[b % f->nfiles] : NULL;
}

static void file_close(struct fz *f, struct file *fl)
{
	struct grp *g = &f->grps[fl->grp];

	svf_vfio_device_close(fl->dev);
	g->files--;
	*fl = f->files[--f->nfiles];
	grp_settle(f, g);
}

static void op_device_close(struct fz *f, struct in *in)
{
	struct file *fl = pick_file(f, in);

	if (fl)
		file_close(f, fl);
}

/* ---- containers ---- */

static void op_set_iommu(struct fz *f, struct in *in)
{
	uint8_t b = take(in);
	struct cont *c = &f->conts[b % NCONT];
	static const unsigned long types[4] = { VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_IOMMU,
						VFIO_TYPE1v2_IOMMU, 42 };
	long rc;

	if (c->put)
		return;
	rc = softvfio_ioctl(c->c, VFIO_SET_IOMMU, (void *)types[(b >> 1) % 4]);
	expect_set(f, "SET_IOMMU", rc, false, (const int[]){ EINVAL, ENODEV, 0 });
}

static void op_map(struct fz *f, struct in *in)
{
	uint8_t b = take(in), pg = take(in) % MEM_PG, n = take(in) % 8 + 1;
	struct cont *c = &f->conts[b % NCONT];
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m) };
	long rc;

	if (c->put)
		return;
	if (pg >= GUARD_PG)
		pg = (uint8_t)(pg - (MEM_PG - GUARD_PG)); /* never the guard pages */
	if (pg + n > GUARD_PG)
		n = (uint8_t)(GUARD_PG - pg);
	m.flags = VFIO_DMA_MAP_FLAG_READ;
	if ((b & 2) && pg + n <= RO_PG)
		m.flags |= VFIO_DMA_MAP_FLAG_WRITE;
	m.vaddr = (uint64_t)(uintptr_t)(f->mem + pg * PG);
	/* The IOVA: the page's own, or another slot (aliases of the same memory). */
	m.iova = IOVA_BASE + (uint64_t)((b & 4) ? take(in) % (2 * MEM_PG) : pg) * PG;
	m.size = n * PG;
	if (b & 8)
		m.vaddr = (uint64_t)(uintptr_t)f->noaccess; /* not mappable memory */
	rc = softvfio_ioctl(c->c, VFIO_IOMMU_MAP_DMA, &m);
	expect_set(f, "MAP_DMA", rc, false,
		   (const int[]){ EEXIST, EINVAL, EFAULT, ENOMEM, ENOSPC, EPERM, EBUSY, 0 });
}

static void op_unmap(struct fz *f, struct in *in)
{
	uint8_t b = take(in), pg = take(in) % (2 * MEM_PG), n = take(in) % 16 + 1;
	struct cont *c = &f->conts[b % NCONT];
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u) };
	long rc;

	if (c->put)
		return;
	if (b & 2) {
		u.flags = VFIO_DMA_UNMAP_FLAG_ALL;
	} else {
		u.iova = IOVA_BASE + pg * PG;
		u.size = n * PG;
	}
	rc = softvfio_ioctl(c->c, VFIO_IOMMU_UNMAP_DMA, &u);
	expect_set(f, "UNMAP_DMA", rc, false, (const int[]){ EINVAL, ENOMEM, EBUSY, EPERM, 0 });
}

/* Close the container fd: the host destroys it when its last group leaves. */
static void op_container_put(struct fz *f, struct in *in)
{
	struct cont *c = &f->conts[take(in) % NCONT];

	if (c->put)
		return;
	if (svf_vfio_unbind_fd(f->h, CFD_BASE + (int)(c - f->conts)))
		die(f, "container fd was not bound");
	c->put = true;
	svf_vfio_container_put(f->h, c->c);
	cont_settle(f);
}

/* ---- device requests ---- */

static void op_get_info(struct fz *f, struct in *in)
{
	struct file *fl = pick_file(f, in);
	uint8_t b = take(in);
	uint32_t argsz = b & 0x80 ? take32(in) : (uint32_t)(b % 32);
	size_t alloc = argsz < 64 ? argsz : 64;
	const size_t minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info *info;
	uint8_t before[64];
	long rc;

	if (!fl)
		return;
	if (b & 0x40) {
		rc = svf_vfio_device_ioctl(fl->dev, VFIO_DEVICE_GET_INFO,
					   b & 0x20 ? (void *)f->noaccess : NULL);
		expect_rc(f, "GET_INFO(bad pointer)", rc, -EFAULT);
		return;
	}
	info = arg_alloc(alloc, minsz);
	memset(info, 0x5a, alloc < minsz ? minsz : alloc);
	info->argsz = argsz;
	memcpy(before, info, alloc < minsz ? minsz : alloc);
	rc = svf_vfio_device_ioctl(fl->dev, VFIO_DEVICE_GET_INFO, info);
	expect_rc(f, "GET_INFO", rc, argsz < minsz ? -EINVAL : 0);
	if (rc) {
		if (memcmp(before, info, minsz))
			die(f, "GET_INFO failed but wrote the struct");
	} else {
		size_t wrote = argsz >= offsetofend(struct vfio_device_info, cap_offset) ?
				       offsetofend(struct vfio_device_info, cap_offset) : minsz;

		if (info->argsz != argsz || info->num_regions != VFIO_PCI_NUM_REGIONS ||
		    info->num_irqs != VFIO_PCI_NUM_IRQS ||
		    info->flags != (VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET))
			die(f, "GET_INFO: argsz %u flags 0x%x regions %u irqs %u", info->argsz,
			    info->flags, info->num_regions, info->num_irqs);
		if (wrote > minsz && info->cap_offset)
			die(f, "GET_INFO: cap_offset %u without capabilities", info->cap_offset);
		if (alloc > wrote && memcmp(before + wrote, (uint8_t *)info + wrote, alloc - wrote))
			die(f, "GET_INFO wrote past what it reports");
	}
	free(info);
}

/* Walk a capability chain inside [0, argsz): offsets forward, headers inside. */
static void check_caps(struct fz *f, const uint8_t *buf, uint32_t argsz, uint32_t off)
{
	for (unsigned n = 0; off; n++) {
		struct vfio_info_cap_header h;

		if (n > 16 || off < sizeof(struct vfio_region_info) ||
		    off + sizeof(h) > argsz)
			die(f, "REGION_INFO: capability at %u outside argsz %u", off, argsz);
		memcpy(&h, buf + off, sizeof(h));
		if (h.next && h.next <= off)
			die(f, "REGION_INFO: capability chain goes back (%u after %u)", h.next, off);
		off = h.next;
	}
}

static void op_region_info(struct fz *f, struct in *in)
{
	struct file *fl = pick_file(f, in);
	uint8_t b = take(in), ib = take(in);
	uint32_t argsz, index = ib & 0x80 ? take32(in) : (uint32_t)(ib % 12);
	const size_t minsz = sizeof(struct vfio_region_info);
	const struct svf_vfio_device_desc *d;
	struct vfio_region_info *ri;
	uint8_t *before;
	size_t alloc;
	long rc, want = 0;

	if (!fl)
		return;
	d = &f->desc[fl->hd];
	switch (b % 4) {
	case 0: argsz = (uint32_t)minsz; break;
	case 1: argsz = (uint32_t)minsz + (b >> 2) % 32; break;
	case 2: argsz = (b >> 2) % 40; break;
	default: argsz = take32(in); break;
	}
	alloc = argsz < 256 ? argsz : 256;
	if (alloc < minsz)
		alloc = minsz;
	if ((b & 0xc0) == 0xc0) {
		rc = svf_vfio_device_ioctl(fl->dev, VFIO_DEVICE_GET_REGION_INFO,
					   b & 0x20 ? (void *)f->noaccess : NULL);
		expect_rc(f, "GET_REGION_INFO(bad pointer)", rc, -EFAULT);
		return;
	}
	ri = arg_alloc(alloc, minsz);
	before = malloc(alloc);
	if (!before)
		abort();
	memset(ri, 0xc3, alloc);
	ri->argsz = argsz;
	ri->index = index;
	memcpy(before, ri, alloc);
	rc = svf_vfio_device_ioctl(fl->dev, VFIO_DEVICE_GET_REGION_INFO, ri);
	if (argsz < minsz || index >= VFIO_PCI_NUM_REGIONS || index == VFIO_PCI_VGA_REGION_INDEX)
		want = -EINVAL;
	expect_rc(f, "GET_REGION_INFO", rc, want);
	if (rc) {
		if (memcmp(before, ri, alloc))
			die(f, "GET_REGION_INFO failed but wrote the struct");
	} else {
		uint64_t size = index == VFIO_PCI_CONFIG_REGION_INDEX ? d->config_size :
				index == VFIO_PCI_ROM_REGION_INDEX ? d->bar_size[6] :
								     d->bar_size[index];
		uint32_t flags = 0;

		if (size)
			flags = index == VFIO_PCI_ROM_REGION_INDEX ?
					VFIO_REGION_INFO_FLAG_READ :
					VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		if (size >= PG && index <= VFIO_PCI_BAR5_REGION_INDEX && !(d->bar_flags[index] & 1))
			flags |= VFIO_REGION_INFO_FLAG_MMAP;
		if (ri->index != index || ri->size != size || (ri->flags & ~VFIO_REGION_INFO_FLAG_CAPS) != flags ||
		    ri->offset != VFIO_PCI_INDEX_TO_OFFSET(index))
			die(f, "GET_REGION_INFO %u: size 0x%llx flags 0x%x offset 0x%llx, expected 0x%llx 0x%x",
			    index, (unsigned long long)ri->size, ri->flags,
			    (unsigned long long)ri->offset, (unsigned long long)size, flags);
		if (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS)) {
			if (ri->argsz != argsz)
				die(f, "GET_REGION_INFO without capabilities changed argsz %u -> %u",
				    argsz, ri->argsz);
			if (memcmp(before + minsz, (uint8_t *)ri + minsz, alloc - minsz))
				die(f, "GET_REGION_INFO wrote past the struct");
		} else if (ri->argsz > argsz) {
			/* Too small for the chain: it says how much, and gives no chain. */
			if (ri->cap_offset)
				die(f, "GET_REGION_INFO: cap_offset %u with argsz short", ri->cap_offset);
			if (memcmp(before + minsz, (uint8_t *)ri + minsz, alloc - minsz))
				die(f, "GET_REGION_INFO wrote a chain that does not fit");
		} else {
			if (ri->argsz != argsz)
				die(f, "GET_REGION_INFO shrank argsz %u -> %u", argsz, ri->argsz);
			if (alloc == argsz)
				check_caps(f, (const uint8_t *)ri, argsz, ri->cap_offset);
		}
	}
	free(before);
	free(ri);
}

static unsigned irq_count(const struct svf_vfio_device_desc *d, unsigned index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX: return d->irq_pin ? 1 : 0;
	case VFIO_PCI_MSI_IRQ_INDEX: return 1; /* both models: one MSI vector */
	case VFIO_PCI_REQ_IRQ_INDEX: return 1;
	case VFIO_PCI_ERR_IRQ_INDEX: return d->config_size > 256 ? 1 : 0;
	default: return 0;
	}
}

static void op_irq_info(struct fz *f, struct in *in)
{
	struct file *fl = pick_file(f, in);
	uint8_t b = take(in);
	uint32_t index = b & 0x80 ? take32(in) : (uint32_t)(b % 7);
	uint32_t argsz = (b & 0x40) ? (uint32_t)(take(in) % 24) : 16;
	const size_t minsz = offsetofend(struct vfio_irq_info, count);
	const struct svf_vfio_device_desc *d;
	struct vfio_irq_info *ii;
	uint8_t before[sizeof(*ii)];
	long rc, want = 0;

	if (!fl)
		return;
	d = &f->desc[fl->hd];
	ii = arg_alloc(minsz, minsz);
	memset(ii, 0x77, minsz);
	ii->argsz = argsz;
	ii->index = index;
	memcpy(before, ii, minsz);
	rc = svf_vfio_device_ioctl(fl->dev, VFIO_DEVICE_GET_IRQ_INFO, ii);
	if (argsz < minsz || index >= VFIO_PCI_NUM_IRQS ||
	    (index == VFIO_PCI_ERR_IRQ_INDEX && d->config_size <= 256))
		want = -EINVAL;
	expect_rc(f, "GET_IRQ_INFO", rc, want);
	if (rc) {
		if (memcmp(before, ii, minsz))
			die(f, "GET_IRQ_INFO failed but wrote the struct");
	} else {
		uint32_t flags = VFIO_IRQ_INFO_EVENTFD |
				 (index == VFIO_PCI_INTX_IRQ_INDEX ?
					  VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED :
					  VFIO_IRQ_INFO_NORESIZE);

		if (ii->count != irq_count(d, index) || ii->flags != flags || ii->argsz != argsz ||
		    ii->index != index)
			die(f, "GET_IRQ_INFO %u: count %u flags 0x%x, expected %u 0x%x", index,
			    ii->count, ii->flags, irq_count(d, index), flags);
	}
	free(ii);
}

/* An fd for SET_IRQS data: the fuzzer's eventfds, a pipe, -1, a closed number, ... */
static int32_t pick_fd(struct fz *f, uint8_t b)
{
	switch (b % 8) {
	case 0: case 1: case 2: return f->efd[b % NEFD];
	case 3: return -1;
	case 4: return f->pipefd[0];
	case 5: return BAD_FD;
	case 6: return (int32_t)-(b >> 3) - 2;
	default: return f->efd[0];
	}
}

/* Linux's vfio_set_irqs_validate_and_prepare: true when it rejects hdr. */
static bool irqs_invalid(const struct vfio_irq_set *hdr, unsigned max)
{
	const uint32_t minsz = offsetofend(struct vfio_irq_set, count);
	uint32_t size;

	if (hdr->argsz < minsz || hdr->index >= VFIO_PCI_NUM_IRQS ||
	    hdr->count >= UINT32_MAX - hdr->start ||
	    (hdr->flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)))
		return true;
	if (hdr->start >= max || hdr->start + hdr->count > max)
		return true;
	switch (hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
	case VFIO_IRQ_SET_DATA_NONE: size = 0; break;
	case VFIO_IRQ_SET_DATA_BOOL: size = 1; break;
	case VFIO_IRQ_SET_DATA_EVENTFD: size = 4; break;
	default: return true;
	}
	return size && hdr->argsz - minsz < (uint64_t)hdr->count * size;
}

static void op_set_irqs(struct fz *f, struct in *in)
{
	static const uint32_t datas[4] = { VFIO_IRQ_SET_DATA_NONE, VFIO_IRQ_SET_DATA_BOOL,
					   VFIO_IRQ_SET_DATA_EVENTFD,
					   VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_DATA_EVENTFD };
	static const uint32_t actions[4] = { VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_ACTION_MASK,
					     VFIO_IRQ_SET_ACTION_UNMASK,
					     VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_TRIGGER };
	const uint32_t minsz = offsetofend(struct vfio_irq_set, count);
	struct file *fl = pick_file(f, in);
	uint8_t fb = take(in), ib = take(in), cb = take(in), ab = take(in);
	struct vfio_irq_set hdr = { 0 }, *s;
	uint32_t dsize, alloc;
	uint8_t *before;
	long rc;

	if (!fl)
		return;
	hdr.flags = datas[fb % 4] | actions[(fb >> 2) % 4];
	if ((fb & 0xf0) == 0xf0)
		hdr.flags = take32(in);
	hdr.index = ib & 0x80 ? take32(in) : (uint32_t)(ib % 6);
	hdr.start = (ib & 0x40) ? (cb & 0x80 ? take32(in) : (uint32_t)(cb >> 4)) : 0;
	hdr.count = cb & 0x80 ? (cb & 0x40 ? UINT32_MAX - hdr.start : take32(in)) :
				(uint32_t)(cb % 4);
	dsize = (hdr.flags & VFIO_IRQ_SET_DATA_EVENTFD) ? 4 :
		(hdr.flags & VFIO_IRQ_SET_DATA_BOOL) ? 1 : 0;
	if (hdr.count < 64)
		hdr.argsz = minsz + hdr.count * dsize;
	else
		hdr.argsz = minsz + 64 * dsize;
	switch (ab % 8) {
	case 0: hdr.argsz -= ab >> 5; break;
	case 1: hdr.argsz += ab >> 5; break;
	case 2: hdr.argsz = take32(in); break;
	default: break;
	}
	if ((ab & 0x18) == 0x18) {
		/* A header the process cannot read. */
		rc = svf_vfio_device_ioctl(fl->dev, VFIO_DEVICE_SET_IRQS,
					   ab & 0x80 ? (void *)f->noaccess : NULL);
		expect_rc(f, "SET_IRQS(bad pointer)", rc, -EFAULT);
		return;
	}
	alloc = hdr.argsz < minsz ? minsz : hdr.argsz > minsz + 256 ? minsz + 256 : hdr.argsz;
	s = arg_alloc(alloc, minsz);
	before = malloc(alloc);
	if (!before)
		abort();
	memset(s, 0, alloc);
	memcpy(s, &hdr, minsz);
	for (uint32_t i = 0; minsz + i < alloc; i++) {
		if (dsize == 4 && i % 4 == 0 && minsz + i + 4 <= alloc) {
			int32_t fd = pick_fd(f, take(in));

			memcpy(s->data + i, &fd, 4);
			i += 3;
		} else {
			s->data[i] = take(in) & 1;
		}
	}
	memcpy(before, s, alloc);
	rc = svf_vfio_device_ioctl(fl->dev, VFIO_DEVICE_SET_IRQS, s);
	if (irqs_invalid(&hdr, hdr.index < VFIO_PCI_NUM_IRQS ? irq_count(&f->desc[fl->hd], hdr.index) : 0))
		expect_rc(f, "SET_IRQS(invalid)", rc, -EINVAL);
	else
		expect_set(f, "SET_IRQS", rc, false, (const int[]){ EINVAL, ENOTTY, EBADF, ENODEV, 0 });
	if (memcmp(before, s, alloc))
		die(f, "SET_IRQS wrote its argument");
	free(before);
	free(s);
}

/* The command register as the device sees it (memory decoding gates BAR access). */
static uint16_t command(struct fz *f, struct file *fl)
{
	uint16_t v = 0;
	size_t done;

	if (svf_vfio_device_read(fl->dev, &v, 2, CFG_OFF + PCI_COMMAND, &done) || done != 2)
		die(f, "reading the command register failed");
	return v;
}

/* Offset and count of a region access from the input. */
static void decode_access(struct fz *f, struct file *fl, struct in *in, uint64_t *index,
			  uint64_t *pos, size_t *count)
{
	static const size_t counts[8] = { 1, 2, 4, 8, 3, 4096, 1u << 20, SIZE_MAX };
	uint8_t ib = take(in), pb = take(in), cb = take(in);
	const struct svf_vfio_device_desc *d = &f->desc[fl->hd];
	uint64_t size;

	*index = ib & 0x80 ? (ib & 0x40 ? take64(in) >> 40 : (uint64_t)(ib % 24)) :
			     (uint64_t)(ib % 10);
	size = *index == VFIO_PCI_CONFIG_REGION_INDEX ? d->config_size :
	       *index <= VFIO_PCI_ROM_REGION_INDEX ? d->bar_size[*index] : 0;
	switch (pb % 8) {
	case 0: *pos = (uint64_t)(pb >> 3) * 4; break;
	case 1: *pos = take(in); break;
	case 2: *pos = size - (pb >> 3) - 1; break;   /* near the end (wraps for no region) */
	case 3: *pos = size + (pb >> 3); break;       /* at or past the end */
	case 4: *pos = take16(in); break;
	case 5: *pos = take64(in) & ((1ULL << 40) - 1); break;
	case 6: *pos = 0x80 + (uint64_t)(pb >> 3) * 8; break; /* edu DMA, ioat channel registers */
	default: *pos = take32(in) % 0x1000; break;
	}
	*pos &= (1ULL << 40) - 1;
	*count = cb & 0x80 ? counts[cb % 8] : (size_t)(cb % 17);
}

static void op_region_rw(struct fz *f, struct in *in, bool write)
{
	struct file *fl = pick_file(f, in);
	const struct svf_vfio_device_desc *d;
	uint64_t index, pos, size;
	size_t count, alloc, done = 12345, want_done = 0;
	uint8_t *buf;
	long want = 0;
	int rc;

	if (!fl)
		return;
	d = &f->desc[fl->hd];
	decode_access(f, fl, in, &index, &pos, &count);
	alloc = count < BIGBUF ? count : BIGBUF;
	buf = alloc <= 64 ? arg_alloc(alloc, 1) : bigbuf;
	if (write) {
		for (size_t i = 0; i < alloc && i < 64; i++)
			buf[i] = take(in);
		if (alloc > 64)
			memset(buf + 64, take(in), alloc - 64);
	} else {
		memset(buf, 0xe7, alloc);
	}
	/* vfio-pci's answers, in its order. */
	size = index == VFIO_PCI_CONFIG_REGION_INDEX ? d->config_size :
	       index <= VFIO_PCI_ROM_REGION_INDEX ? d->bar_size[index] : 0;
	if (index >= VFIO_PCI_NUM_REGIONS || index == VFIO_PCI_VGA_REGION_INDEX) {
		want = -EINVAL;
	} else if (!count) {
		want = 0;
	} else if (index == VFIO_PCI_CONFIG_REGION_INDEX) {
		if (pos >= size || count > size - pos)
			want = -EFAULT;
		else
			want_done = count;
	} else if (!size || pos >= size || (write && index == VFIO_PCI_ROM_REGION_INDEX)) {
		want = -EINVAL;
	} else if (index != VFIO_PCI_ROM_REGION_INDEX && !(d->bar_flags[index] & 1) &&
		   !(command(f, fl) & PCI_COMMAND_MEMORY)) {
		want = -EIO;
	} else {
		want_done = count < size - pos ? count : (size_t)(size - pos);
	}
	if (write)
		rc = svf_vfio_device_write(fl->dev, buf, count, VFIO_PCI_INDEX_TO_OFFSET(index) + pos,
					   &done);
	else
		rc = svf_vfio_device_read(fl->dev, buf, count, VFIO_PCI_INDEX_TO_OFFSET(index) + pos,
					  &done);
	expect_rc(f, write ? "region write" : "region read", rc, want);
	if (rc == 0 && done != want_done)
		die(f, "region %s of %zu at %llu:0x%llx moved %zu bytes, expected %zu",
		    write ? "write" : "read", count, (unsigned long long)index,
		    (unsigned long long)pos, done, want_done);
	if (rc && done)
		die(f, "failed region access reports %zu bytes", done);
	if (!write)
		for (size_t i = done; i < alloc && i < done + 64; i++)
			if (buf[i] != 0xe7)
				die(f, "region read wrote byte %zu past the %zu it reports", i, done);
	if (buf != bigbuf)
		free(buf);
}

/* Region access with a buffer the process cannot reach (pread/pwrite: EFAULT). */
static void op_region_badbuf(struct fz *f, struct in *in)
{
	struct file *fl = pick_file(f, in);
	uint8_t b = take(in);
	uint64_t off;
	size_t done = 1;
	void *buf;
	int rc;

	if (!fl)
		return;
	off = b & 1 ? VFIO_PCI_INDEX_TO_OFFSET(0) + (b >> 2) * 4u : CFG_OFF + (b >> 2) * 4u;
	buf = b & 2 ? (void *)f->noaccess : (void *)f->rdonly;
	if (b & 2 || !(b & 0x80)) {
		/* A read into memory the process cannot write. */
		rc = svf_vfio_device_read(fl->dev, buf, 4, off, &done);
	} else {
		rc = svf_vfio_device_write(fl->dev, f->noaccess, 4, off, &done);
	}
	if (rc == -EIO && (b & 1)) /* memory decoding off decides first */
		return;
	expect_rc(f, "region access with a bad buffer", rc, -EFAULT);
}

static void op_reset(struct fz *f, struct in *in)
{
	struct file *fl = pick_file(f, in);
	uint8_t b = take(in);
	long rc;

	if (!fl)
		return;
	if (b & 1) {
		rc = svf_vfio_device_ioctl(fl->dev, VFIO_DEVICE_RESET, NULL);
		expect_rc(f, "RESET", rc, 0);
		return;
	}
	if (b & 2) {
		/* Requests around the known ones, argsz 0 (Linux reads its minsz anyway). */
		uint64_t zero[8] = { 0 };

		rc = svf_vfio_device_ioctl(fl->dev, VFIO_DEVICE_RESET + 1 + (b >> 2), zero);
		expect_set(f, "unknown device request", rc, false, (const int[]){ ENOTTY, EFAULT, EINVAL, ENOSPC, EBADF, 0 });
		return;
	}
	if (b & 4) {
		struct vfio_pci_hot_reset_info *hi;
		uint32_t argsz = (uint32_t)(b >> 3) * 2;

		hi = arg_alloc(argsz, 16);
		memset(hi, 0, argsz < 16 ? 16 : argsz);
		hi->argsz = argsz;
		rc = svf_vfio_device_ioctl(fl->dev, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, hi);
		expect_rc(f, "HOT_RESET_INFO", rc,
			  argsz < 12 ? -EINVAL : argsz < 12 + sizeof(hi->devices[0]) ? -ENOSPC : 0);
		if ((rc == 0 || rc == -ENOSPC) && hi->count != 1)
			die(f, "HOT_RESET_INFO: count %u", hi->count);
		free(hi);
	} else {
		struct vfio_pci_hot_reset *hr = arg_alloc(sizeof(*hr) + 4, 0);

		memset(hr, 0, sizeof(*hr) + 4);
		hr->argsz = sizeof(*hr) + 4;
		hr->count = 1;
		hr->group_fds[0] = b & 8 ? GFD_BASE + (int32_t)fl->grp : CFD_BASE;
		rc = svf_vfio_device_ioctl(fl->dev, VFIO_DEVICE_PCI_HOT_RESET, hr);
		free(hr);
		expect_set(f, "PCI_HOT_RESET", rc, false, (const int[]){ EINVAL, EBADF, 0 });
		if ((b & 8) && f->grps[fl->grp].open)
			expect_rc(f, "PCI_HOT_RESET(own group)", rc, 0);
	}
}

/* Memory decoding and bus mastering on (or off), INTx disable from the input. */
static void op_command(struct fz *f, struct in *in)
{
	struct file *fl = pick_file(f, in);
	uint8_t b = take(in);
	uint16_t v = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	size_t done;

	if (!fl)
		return;
	if (b & 1)
		v |= PCI_COMMAND_INTX_DISABLE;
	if (b & 2)
		v = b & 0x80 ? (uint16_t)(b & 0x7) : 0;
	if (svf_vfio_device_write(fl->dev, &v, 2, CFG_OFF + PCI_COMMAND, &done) || done != 2)
		die(f, "writing the command register failed");
}

static void bar0_write(struct fz *f, struct file *fl, uint64_t off, unsigned size, uint64_t v)
{
	size_t done;
	int rc = svf_vfio_device_write(fl->dev, &v, size, VFIO_PCI_INDEX_TO_OFFSET(0) + off, &done);

	expect_set(f, "BAR0 write", rc, false, (const int[]){ EIO, 0 });
}

/* An IOVA inside the fuzzer's range (maybe unmapped), or outside it. */
static uint64_t pick_iova(struct in *in)
{
	uint8_t b = take(in);

	if (b >= 0xf0)
		return (uint64_t)take32(in) << (b & 7);
	return IOVA_BASE + (uint64_t)(b % (2 * MEM_PG)) * PG + (uint64_t)(take(in) % 64) * 64;
}

static void op_edu_dma(struct fz *f, struct in *in)
{
	struct file *fl = pick_file(f, in);
	uint8_t b = take(in);
	uint64_t ram = pick_iova(in), dev = 0x40000 + (uint64_t)take(in) * 16;
	uint64_t cnt = b & 0x80 ? take16(in) : (uint64_t)(take(in) + 1) * 8;

	if (!fl || strcmp(f->desc[fl->hd].kind, SVF_PCI_KIND_EDU))
		return;
	if (b & 0x40)
		dev = take32(in);
	bar0_write(f, fl, 0x80, 8, b & 1 ? dev : ram);
	bar0_write(f, fl, 0x88, 8, b & 1 ? ram : dev);
	bar0_write(f, fl, 0x90, 8, cnt);
	bar0_write(f, fl, 0x98, 8, 1 | (b & 1 ? 2 : 0) | (b & 4));
}

struct ioat_desc {
	uint32_t size, ctrl;
	uint64_t src, dst, next, r[4];
};

/* A chain of descriptors written into mapped memory, then the registers that start it. */
static void op_ioat_chain(struct fz *f, struct in *in)
{
	static const uint32_t sizes[8] = { 8, 64, 4096, 0, 1u << 20, (1u << 20) + 1, 100, 8192 };
	struct file *fl = pick_file(f, in);
	uint8_t b = take(in), n = take(in) % 6 + 1, ring = take(in) % RO_PG;
	uint64_t ring_iova = IOVA_BASE + (uint64_t)ring * PG;
	struct ioat_desc *d = (struct ioat_desc *)(void *)(f->mem + (uint64_t)ring * PG);
	unsigned hd;

	if (!fl || strcmp(f->desc[fl->hd].kind, SVF_PCI_KIND_IOAT))
		return;
	hd = fl->hd;
	for (unsigned i = 0; i < n; i++) {
		uint8_t c = take(in);

		memset(&d[i], 0, sizeof(d[i]));
		d[i].size = c & 0x80 ? sizes[c % 8] : (uint32_t)(take(in) + 1) * 8;
		d[i].ctrl = (uint32_t)(c & 3 ? 0 : c & 4 ? 1 : 0x7f) << 24 | (c & 0x08) |
			    (c & 0x10) | (c & 0x20 ? 1u << 5 : 0);
		d[i].src = (c & 3) == 3 ? take64(in) : pick_iova(in);
		d[i].dst = pick_iova(in);
		d[i].next = c & 0x40 ? pick_iova(in) : ring_iova + ((i + 1) % n) * 64;
	}
	if (b & 1) {
		bar0_write(f, fl, 0x84, 1, 0x20); /* reset */
		f->ioat_count[hd] = 0;
	}
	bar0_write(f, fl, 0x90, 8, b & 2 ? pick_iova(in) : ring_iova);
	bar0_write(f, fl, 0x98, 8, b & 4 ? pick_iova(in) : ring_iova + n * 64);
	bar0_write(f, fl, 0x80, 2, b & 8 ? 0x000c : 0);
	if (b & 0x10)
		bar0_write(f, fl, 0x84, 1, 0x04); /* suspend */
	f->ioat_count[hd] = (uint16_t)(f->ioat_count[hd] + (b & 0x20 ? take16(in) : n));
	bar0_write(f, fl, 0x86, 2, f->ioat_count[hd]);
	if (b & 0x40)
		bar0_write(f, fl, 0xa8, 4, ~0u); /* clear CHANERR */
}

/* A store through the fuzzer's mapping of BAR0: the watcher serves it (some time). */
static void op_mmio_store(struct fz *f, struct in *in)
{
	struct file *fl = pick_file(f, in);
	uint8_t b = take(in);
	uint64_t off, bsize;
	uint64_t v;
	unsigned size = 1u << (b % 4);

	if (!fl)
		return;
	bsize = f->desc[fl->hd].bar_size[0];
	if (!f->bar[fl->hd]) {
		int mfd;
		void *p;

		if (svf_vfio_device_memfd(fl->dev, &mfd))
			die(f, "device memfd");
		p = mmap(NULL, bsize, PROT_READ | PROT_WRITE, MAP_SHARED, mfd,
			 (off_t)VFIO_PCI_INDEX_TO_OFFSET(0));
		if (p == MAP_FAILED)
			die(f, "mmap of BAR0: %d", errno);
		f->bar[fl->hd] = p;
	}
	off = (b & 0x80 ? take16(in) : (uint64_t)take(in)) % bsize;
	off &= ~(uint64_t)(size - 1);
	v = take64(in);
	switch (size) {
	case 1: __atomic_store_n(f->bar[fl->hd] + off, (uint8_t)v, __ATOMIC_RELEASE); break;
	case 2: __atomic_store_n((uint16_t *)(void *)(f->bar[fl->hd] + off), (uint16_t)v, __ATOMIC_RELEASE); break;
	case 4: __atomic_store_n((uint32_t *)(void *)(f->bar[fl->hd] + off), (uint32_t)v, __ATOMIC_RELEASE); break;
	default: __atomic_store_n((uint64_t *)(void *)(f->bar[fl->hd] + off), v, __ATOMIC_RELEASE); break;
	}
	if (b & 0x40)
		sched_yield(); /* give the watcher a chance */
}

/* Drain or signal the fuzzer's eventfds (an unmask eventfd the watcher serves). */
static void op_eventfd(struct fz *f, struct in *in)
{
	uint8_t b = take(in);
	uint64_t v = 1;

	if (b & 1) {
		if (read(f->efd[b % NEFD], &v, sizeof(v)) < 0 && errno != EAGAIN)
			die(f, "eventfd read: %d", errno);
	} else if (write(f->efd[b % NEFD], &v, sizeof(v)) != sizeof(v)) {
		die(f, "eventfd write: %d", errno);
	}
}

/* Open a group, give it a container with an IOMMU, open its device: a shortcut to DMA. */
static void op_bringup(struct fz *f, struct in *in)
{
	uint8_t b = take(in);
	unsigned hd = b % f->ndev;
	struct grp *g = &f->grps[f->dev_grp[hd]];
	struct svf_vfio_group *vg;
	struct svf_vfio_device *dev;
	int ci = (b >> 2) % NCONT;
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	size_t done;
	long rc;

	if (!g->g) {
		rc = svf_vfio_group_open(f->h, g->id, &vg);
		expect_rc(f, "bring-up: group open", rc, 0);
		if (rc)
			return;
		g->g = vg;
		g->open = true;
		g->cont = -1;
		if (svf_vfio_bind_fd(f->h, GFD_BASE + (int)(g - f->grps), SVF_VFIO_FD_GROUP, vg))
			die(f, "bind group fd");
	}
	if (g->cont < 0 && g->open && !f->conts[ci].put) {
		int32_t fd = CFD_BASE + ci;

		rc = svf_vfio_group_ioctl(g->g, VFIO_GROUP_SET_CONTAINER, &fd);
		expect_rc(f, "bring-up: SET_CONTAINER", rc, 0);
		if (rc)
			return;
		g->cont = ci;
	}
	if (g->cont < 0 || f->nfiles == MAX_FILES)
		return;
	if (!svf_container_iommu_set(f->conts[g->cont].c)) {
		rc = softvfio_ioctl(f->conts[g->cont].c, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU);
		expect_rc(f, "bring-up: SET_IOMMU", rc, 0);
		if (rc)
			return;
	}
	rc = svf_vfio_group_get_device(g->g, f->desc[hd].name, &dev);
	expect_rc(f, "bring-up: open device", rc, 0);
	if (rc)
		return;
	f->files[f->nfiles++] = (struct file){ .dev = dev, .hd = hd, .grp = (unsigned)(g - f->grps) };
	g->files++;
	if (svf_vfio_device_write(dev, &cmd, 2, CFG_OFF + PCI_COMMAND, &done) || done != 2)
		die(f, "bring-up: command register");
}

/* ---- the machine ---- */

static unsigned count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * The header: h0 bits 0-1 devices - 1, bits 2-5 device i is an ioat (else
 * edu), bits 6-7 groups (0 each its own, 1 devices 0 and 1 share one, 2
 * pairs); h1 bit 0 AMD-Vi (else VT-d), bit 1 two units, bits 2-3 and 4-5
 * the policies of the two containers, bits 6-7 the seam (1: armed at point
 * h2 % 128 + 1, 2: at 8 * (h2 % 128) + 1); h2 bit 7 edu's DMA mask 64 bits.
 */
static int setup(struct fz *f, struct in *in, bool *arm, uint64_t *nth)
{
	struct svf_pinner_config pc = { .backend = SVF_BACKEND_PROCESS };
	uint8_t h0 = take(in), h1 = take(in), h2 = take(in);
	struct svf_iommu_config ic;
	struct svf_vfio_config vc;
	struct svf_container_config cc;
	int rc;

	memset(f, 0, sizeof(*f));
	for (int i = 0; i < NEFD; i++)
		f->efd[i] = -1;
	f->pipefd[0] = f->pipefd[1] = -1;
	f->mem = mmap(NULL, MEM_PG * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f->noaccess = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	f->rdonly = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->mem == MAP_FAILED || f->noaccess == MAP_FAILED || f->rdonly == MAP_FAILED)
		abort();
	for (unsigned pg = 0; pg < MEM_PG; pg++)
		memset(f->mem + pg * PG, (int)(pg * 7 + 1), PG);
	for (unsigned pg = RO_PG; pg < MEM_PG; pg++)
		memcpy(f->shadow[pg - RO_PG], f->mem + pg * PG, PG);
	for (int i = 0; i < NEFD; i++)
		f->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pipe2(f->pipefd, O_CLOEXEC | O_NONBLOCK))
		abort();
	if (svf_pinner_create(&pc, &f->p))
		abort();

	svf_iommu_default_config(h1 & 1 ? "amd" : "vtd", &ic);
	ic.check_unpin = true;
	ic.cost_off = true;
	svf_vfio_default_config(&vc);
	vc.units = h1 & 2 ? 2 : 1;
	vc.iommu = &ic;
	vc.watch_no_spin = true;  /* never spin after a doorbell */
	vc.watch_hot_ns = 1;      /* and go idle at once */
	vc.watch_fast_ns = 50000;
	vc.watch_idle_ns = 1000000;
	rc = svf_vfio_create(&vc, &f->h);
	if (rc)
		abort();
	f->ndev = h0 % MAX_DEVS + 1;
	for (unsigned i = 0; i < f->ndev; i++) {
		struct svf_pci_device_config dc = { 0 };
		unsigned share = (h0 >> 6) & 3;

		dc.kind = (h0 >> (2 + i)) & 1 ? SVF_PCI_KIND_IOAT : SVF_PCI_KIND_EDU;
		/* share 1: devices 0 and 1 in one group; 2: two groups of two. */
		dc.group = -1;
		if (i && ((share == 1 && i == 1) || (share == 2 && (i % 2))))
			dc.group = (int)f->desc[i - 1].group;
		dc.unit = dc.group >= 0 ? f->desc[i - 1].unit : i % vc.units;
		if (h2 & 0x80)
			dc.dma_mask = ~0ULL;
		rc = svf_vfio_add_device(f->h, &dc, &f->desc[i]);
		if (rc)
			abort();
		for (f->dev_grp[i] = 0; f->dev_grp[i] < f->ngrp; f->dev_grp[i]++)
			if (f->grps[f->dev_grp[i]].id == f->desc[i].group)
				break;
		if (f->dev_grp[i] == f->ngrp)
			f->grps[f->ngrp++] = (struct grp){ .id = f->desc[i].group,
							   .unit = f->desc[i].unit, .cont = -1 };
	}
	for (int i = 0; i < NCONT; i++) {
		svf_container_default_config(&cc);
		cc.attach_default_domain = false;
		cc.pinner = f->p;
		cc.policy = (enum svf_policy)((h1 >> (2 + 2 * i)) & 3);
		if (cc.policy == SVF_POLICY_LAZY)
			cc.lazy_timeout_us = 200;
		if (svf_container_create(&cc, &f->conts[i].c))
			abort();
		if (svf_vfio_bind_fd(f->h, CFD_BASE + i, SVF_VFIO_FD_CONTAINER, f->conts[i].c))
			abort();
	}
	*arm = (h1 >> 6) == 1 || (h1 >> 6) == 2;
	*nth = (uint64_t)(h2 & 0x7f) * ((h1 >> 6) == 2 ? 8 : 1) + 1;
	return 0;
}

static void teardown(struct fz *f)
{
	f->step = MAX_STEPS + 1;
	svf_fault_disarm();
	f->armed = false;
	while (f->nfiles)
		file_close(f, &f->files[0]);
	for (unsigned k = 0; k < f->ngrp; k++) {
		struct grp *g = &f->grps[k];

		if (!g->open)
			continue;
		(void)svf_vfio_unbind_fd(f->h, GFD_BASE + (int)k);
		svf_vfio_group_close(g->g);
		g->open = false;
		grp_settle(f, g);
	}
	check_state(f);
	for (int i = 0; i < NCONT; i++) {
		struct cont *c = &f->conts[i];

		if (c->put && !c->gone)
			die(f, "container %d still held after every group closed", i);
		if (c->put)
			continue;
		if (svf_container_nr_mappings(c->c) && svf_container_iommu_set(c->c)) {
			struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u),
								.flags = VFIO_DMA_UNMAP_FLAG_ALL };
			long rc = softvfio_ioctl(c->c, VFIO_IOMMU_UNMAP_DMA, &u);

			if (rc)
				die(f, "final unmap all of container %d: %ld", i, rc);
		}
		if (svf_container_nr_mappings(c->c))
			die(f, "container %d: %u mappings after unmap all", i,
			    svf_container_nr_mappings(c->c));
		svf_container_destroy(c->c);
	}
	svf_vfio_destroy(f->h);
	if (svf_pinner_pinned_pages(f->p) || svf_pinner_locked_bytes(f->p))
		die(f, "%llu pages, %llu bytes still pinned at the end",
		    (unsigned long long)svf_pinner_pinned_pages(f->p),
		    (unsigned long long)svf_pinner_locked_bytes(f->p));
	svf_pinner_destroy(f->p);
	for (unsigned i = 0; i < f->ndev; i++)
		if (f->bar[i])
			munmap(f->bar[i], f->desc[i].bar_size[0]);
	for (int i = 0; i < NEFD; i++)
		close(f->efd[i]);
	close(f->pipefd[0]);
	close(f->pipefd[1]);
	munmap(f->mem, MEM_PG * PG);
	munmap(f->noaccess, PG);
	munmap(f->rdonly, PG);
}

static void log_stderr(void *opaque, enum svf_log_level level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "softvfio[%d]: %s\n", (int)level, msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz fz;
	struct fz *f = &fz;
	struct in in = { data, data + size };
	unsigned fds0, threads0;
	uint64_t nth;
	bool arm;

	if (size < 3)
		return 0;
	if (!bigbuf) {
		/* The library's messages are not findings (SVF_FUZZ_LOG=1 shows them). */
		svf_set_log_fn(getenv("SVF_FUZZ_LOG") ? log_stderr : NULL, NULL);
		bigbuf = malloc(BIGBUF);
		if (!bigbuf)
			abort();
	}
	fds0 = count_dir("/proc/self/fd");
	threads0 = count_dir("/proc/self/task");
	setup(f, &in, &arm, &nth);
	if (arm && !svf_fault_arm(nth, 0))
		f->armed = true;
	for (f->step = 0; in.p < in.end && f->step < MAX_STEPS; f->step++) {
		uint8_t op = take(&in);

		switch (op % 26) {
		case 0: op_group_open(f, &in); break;
		case 1: op_group_close(f, &in); break;
		case 2: op_group_status(f, &in); break;
		case 3: op_set_container(f, &in); break;
		case 4: op_unset_container(f, &in); break;
		case 5: op_get_device_fd(f, &in); break;
		case 6: op_device_close(f, &in); break;
		case 7: op_set_iommu(f, &in); break;
		case 8: op_map(f, &in); break;
		case 9: op_unmap(f, &in); break;
		case 10: op_get_info(f, &in); break;
		case 11: op_region_info(f, &in); break;
		case 12: op_irq_info(f, &in); break;
		case 13: case 14: op_set_irqs(f, &in); break;
		case 15: case 16: op_region_rw(f, &in, false); break;
		case 17: case 18: op_region_rw(f, &in, true); break;
		case 19: op_reset(f, &in); break;
		case 20: op_bringup(f, &in); break;
		case 21: op_edu_dma(f, &in); break;
		case 22: op_ioat_chain(f, &in); break;
		case 23: op_mmio_store(f, &in); break;
		case 24: op_command(f, &in); break;
		default:
			switch (op / 26 % 3) {
			case 0: op_container_put(f, &in); break;
			case 1: op_eventfd(f, &in); break;
			default: op_region_badbuf(f, &in); break;
			}
			break;
		}
		check_state(f);
	}
	teardown(f);
	/* Threads that were joined may linger in /proc for a moment: give them time. */
	for (int i = 0; count_dir("/proc/self/task") > threads0; i++) {
		if (i == 1000)
			die(f, "%u threads at the end, %u at the start", count_dir("/proc/self/task"),
			    threads0);
		usleep(100);
	}
	if (count_dir("/proc/self/fd") != fds0)
		die(f, "%u fds open at the end, %u at the start", count_dir("/proc/self/fd"), fds0);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The host (contract in <softvfio/vfio.h>): its IOMMU units, its devices,
 * the fd table, containers handed over with svf_vfio_container_put(), and
 * the fault log.
 *
 * Fault log: a ring that doubles when full (behind the fault seam), so no
 * fault is dropped while memory lasts; one that cannot be stored is counted
 * in flost. Faults are recorded from a device's DMA under that device's
 * lock, so the log has its own leaf lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

#include "vfio_priv.h"

#define FLOG_INITIAL 64

void svf_vfio_default_config(struct svf_vfio_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->units = 1;
	cfg->watch_spin_ns = 1000000;
	cfg->watch_fast_ns = 5000;
	cfg->watch_hot_ns = 20000000;
	cfg->watch_idle_ns = 1000000;
}

int svf_vfio_create(const struct svf_vfio_config *ucfg, struct svf_vfio **out)
{
	struct svf_vfio_config cfg;
	struct svf_vfio *h;
	int rc;

	*out = NULL;
	svf_vfio_default_config(&cfg);
	if (ucfg) {
		cfg.iommu = ucfg->iommu;
		if (ucfg->units)
			cfg.units = ucfg->units;
		if (ucfg->watch_spin_ns)
			cfg.watch_spin_ns = ucfg->watch_spin_ns;
		cfg.watch_no_spin = ucfg->watch_no_spin;
		if (ucfg->watch_fast_ns)
			cfg.watch_fast_ns = ucfg->watch_fast_ns;
		if (ucfg->watch_hot_ns)
			cfg.watch_hot_ns = ucfg->watch_hot_ns;
		if (ucfg->watch_idle_ns)
			cfg.watch_idle_ns = ucfg->watch_idle_ns;
	}
	if (cfg.units > SVF_VFIO_MAX_UNITS)
		return -EINVAL;
	if (cfg.watch_no_spin)
		cfg.watch_spin_ns = 0;
	if (cfg.watch_idle_ns < cfg.watch_fast_ns)
		cfg.watch_idle_ns = cfg.watch_fast_ns;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->cfg = cfg;
	h->next_handle = SVF_VFIO_HANDLE_BASE;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->fault_lock, NULL);
	for (h->nr_units = 0; h->nr_units < cfg.units; h->nr_units++) {
		rc = svf_iommu_create(cfg.iommu, &h->units[h->nr_units]);
		if (rc)
			goto err_units;
	}
	*out = h;
	return 0;

err_units:
	while (h->nr_units--)
		svf_iommu_destroy(h->units[h->nr_units]);
	pthread_mutex_destroy(&h->fault_lock);
	pthread_mutex_destroy(&h->lock);
	free(h);
	return rc;
}

void svf_vfio_destroy(struct svf_vfio *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	while (h->files)
		vfio_device_close_locked(h->files);
	while (h->groups) {
		struct svf_vfio_group *g = h->groups;

		g->closed = true;
		vfio_group_maybe_release(g);
	}
	for (unsigned i = 0; i < h->nr_puts; i++)
		svf_container_destroy(h->puts[i]);
	h->nr_puts = 0;
	pthread_mutex_unlock(&h->lock);
	for (unsigned i = 0; i < h->nr_devs; i++)
		svf_pci_dev_destroy(h->devs[i].pd);
	for (unsigned i = 0; i < h->nr_units; i++)
		svf_iommu_destroy(h->units[i]);
	free(h->flog);
	pthread_mutex_destroy(&h->fault_lock);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

struct svf_iommu *svf_vfio_unit(struct svf_vfio *h, unsigned index)
{
	return index < h->nr_units ? h->units[index] : NULL;
}

/* "DDDD:BB:DD.F" with domain 0 -> requester id. */
static int parse_bdf(const char *s, uint16_t *rid)
{
	unsigned dom, bus, dev, fn;
	int n = 0;

	if (strlen(s) != 12 || sscanf(s, "%4x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn, &n) != 4 ||
	    n != 12 || dom != 0 || dev > 31 || fn > 7)
		return -EINVAL;
	for (int i = 0; i < 12; i++)
		if (s[i] >= 'A' && s[i] <= 'F')
			return -EINVAL; /* sysfs names are lower case */
	*rid = (uint16_t)(bus << 8 | dev << 3 | fn);
	return 0;
}

static struct hdev *dev_by_name(struct svf_vfio *h, const char *name)
{
	for (unsigned i = 0; i < h->nr_devs; i++)
		if (!strcmp(h->devs[i].pd->desc.name, name))
			return &h->devs[i];
	return NULL;
}

int svf_vfio_add_device(struct svf_vfio *h, const struct svf_pci_device_config *ucfg,
			struct svf_vfio_device_desc *desc)
{
	struct svf_pci_device_config cfg = *ucfg;
	char name[16];
	uint16_t rid;
	unsigned group;
	struct svf_pci_dev *pd;
	int rc;

	if (!svf_pci_find_model(cfg.kind) || cfg.unit >= h->nr_units || cfg.group < -1 ||
	    cfg.group > 65535)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	if (h->nr_devs == SVF_VFIO_MAX_DEVICES) {
		rc = -ENOSPC;
		goto out;
	}
	if (cfg.bdf) {
		rc = parse_bdf(cfg.bdf, &rid);
		if (rc)
			goto out;
		snprintf(name, sizeof(name), "%s", cfg.bdf);
		if (dev_by_name(h, name)) {
			rc = -EEXIST;
			goto out;
		}
	} else {
		unsigned slot = 3;

		do {
			snprintf(name, sizeof(name), "0000:00:%02x.0", slot++);
		} while (dev_by_name(h, name) && slot < 32);
		if (dev_by_name(h, name)) {
			rc = -ENOSPC;
			goto out;
		}
		parse_bdf(name, &rid);
	}
	if (cfg.group >= 0) {
		group = (unsigned)cfg.group;
		for (unsigned i = 0; i < h->nr_devs; i++)
			if (h->devs[i].group == group && h->devs[i].pd->desc.unit != cfg.unit) {
				rc = -EINVAL; /* a group lives behind one IOMMU */
				goto out;
			}
	} else {
		group = 0;
		for (unsigned i = 0; i < h->nr_devs; i++)
			if (h->devs[i].group >= group)
				group = h->devs[i].group + 1;
	}
	rc = svf_pci_dev_create(&cfg, &h->cfg, &pd);
	if (rc)
		goto out;
	memcpy(pd->desc.name, name, sizeof(pd->desc.name));
	pd->desc.rid = rid;
	pd->desc.group = group;
	pd->desc.unit = cfg.unit;
	pd->fault_fn = vfio_record_fault;
	pd->fault_opaque = h;
	h->devs[h->nr_devs].pd = pd;
	h->devs[h->nr_devs].group = group;
	h->nr_devs++;
	if (desc)
		*desc = pd->desc;
out:
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int svf_vfio_get_device_desc(struct svf_vfio *h, unsigned index, struct svf_vfio_device_desc *out)
{
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	if (index < h->nr_devs)
		*out = h->devs[index].pd->desc;
	else
		rc = -ENOENT;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* ---- fd table ---- */

int svf_vfio_set_fd_ops(struct svf_vfio *h, const struct svf_vfio_fd_ops *ops)
{
	if (ops && (!ops->resolve || !ops->install_device))
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	h->has_fd_ops = ops != NULL;
	if (ops)
		h->fd_ops = *ops;
	/* The fault path reads it under fault_lock only: devices may be running. */
	pthread_mutex_lock(&h->fault_lock);
	h->faulted = ops ? ops->faulted : NULL;
	h->faulted_opaque = ops ? ops->opaque : NULL;
	pthread_mutex_unlock(&h->fault_lock);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static struct fdent *fd_find(struct svf_vfio *h, int fd)
{
	for (unsigned i = 0; i < h->nr_fds; i++)
		if (h->fds[i].fd == fd)
			return &h->fds[i];
	return NULL;
}

void vfio_resolve_fd(struct svf_vfio *h, int fd, enum svf_vfio_fd_kind *kind, void **obj)
{
	struct fdent *e;

	*kind = SVF_VFIO_FD_NONE;
	*obj = NULL;
	if (h->has_fd_ops) {
		h->fd_ops.resolve(h->fd_ops.opaque, fd, kind, obj);
		return;
	}
	e = fd_find(h, fd);
	if (e) {
		*kind = e->kind;
		*obj = e->obj;
	}
}

int vfio_bind_locked(struct svf_vfio *h, int fd, enum svf_vfio_fd_kind kind, void *obj)
{
	if (fd_find(h, fd))
		return -EEXIST;
	if (h->nr_fds == VFIO_MAX_FDS)
		return -ENOSPC;
	h->fds[h->nr_fds++] = (struct fdent){ .fd = fd, .kind = kind, .obj = obj };
	return 0;
}

void vfio_unbind_locked(struct svf_vfio *h, int fd)
{
	struct fdent *e = fd_find(h, fd);

	if (e)
		*e = h->fds[--h->nr_fds];
}

int svf_vfio_bind_fd(struct svf_vfio *h, int fd, enum svf_vfio_fd_kind kind, void *obj)
{
	int rc;

	if (fd < 0 || !obj || (kind != SVF_VFIO_FD_CONTAINER && kind != SVF_VFIO_FD_GROUP))
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	rc = vfio_bind_locked(h, fd, kind, obj);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int svf_vfio_unbind_fd(struct svf_vfio *h, int fd)
{
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	if (fd_find(h, fd))
		vfio_unbind_locked(h, fd);
	else
		rc = -EBADF;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int svf_vfio_device_from_fd(struct svf_vfio *h, int fd, struct svf_vfio_device **out)
{
	struct fdent *e;
	int rc = -EBADF;

	pthread_mutex_lock(&h->lock);
	e = fd_find(h, fd);
	if (e && e->kind == SVF_VFIO_FD_DEVICE) {
		*out = e->obj;
		rc = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* ---- containers ---- */

static bool container_in_use(struct svf_vfio *h, struct svf_container *c)
{
	for (struct svf_vfio_group *g = h->groups; g; g = g->next)
		if (g->c == c)
			return true;
	return false;
}

void vfio_container_maybe_destroy(struct svf_vfio *h, struct svf_container *c)
{
	for (unsigned i = 0; i < h->nr_puts; i++) {
		if (h->puts[i] != c)
			continue;
		if (container_in_use(h, c))
			return;
		h->puts[i] = h->puts[--h->nr_puts];
		svf_container_destroy(c);
		return;
	}
}

void svf_vfio_container_put(struct svf_vfio *h, struct svf_container *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < h->nr_puts; i++) {
		if (h->puts[i] == c) {
			pthread_mutex_unlock(&h->lock);
			return;
		}
	}
	if (!container_in_use(h, c)) {
		svf_container_destroy(c);
	} else {
		/*
		 * Room always: a container waiting here has a group of h, and h
		 * has at most SVF_VFIO_MAX_DEVICES groups.
		 */
		h->puts[h->nr_puts++] = c;
	}
	pthread_mutex_unlock(&h->lock);
}

/* ---- fault log ---- */

void vfio_record_fault(void *opaque, const struct svf_vfio_fault *f)
{
	struct svf_vfio *h = opaque;
	void (*faulted)(void *);
	void *fopaque;

	pthread_mutex_lock(&h->fault_lock);
	/* Told after the lock goes, so that the callback may read the faults. */
	faulted = h->faulted;
	fopaque = h->faulted_opaque;
	if (h->fcount == h->fcap) {
		size_t ncap = h->fcap ? h->fcap * 2 : FLOG_INITIAL;
		struct svf_vfio_fault *n = NULL;

		if (!svf_should_fail(SVF_FAULT_ALLOC))
			n = malloc(ncap * sizeof(*n));
		if (!n) {
			h->flost++;
			pthread_mutex_unlock(&h->fault_lock);
			if (faulted)
				faulted(fopaque);
			return;
		}
		for (size_t i = 0; i < h->fcount; i++)
			n[i] = h->flog[(h->fhead + i) % h->fcap];
		free(h->flog);
		h->flog = n;
		h->fcap = ncap;
		h->fhead = 0;
	}
	h->flog[(h->fhead + h->fcount) % h->fcap] = *f;
	h->flog[(h->fhead + h->fcount) % h->fcap].seq = ++h->fseq;
	h->fcount++;
	pthread_mutex_unlock(&h->fault_lock);
	if (faulted)
		faulted(fopaque);
}

int svf_vfio_read_faults(struct svf_vfio *h, struct svf_vfio_fault *out, size_t max, size_t *nr,
			 uint64_t *lost)
{
	size_t n;

	pthread_mutex_lock(&h->fault_lock);
	n = h->fcount < max ? h->fcount : max;
	for (size_t i = 0; i < n; i++)
		out[i] = h->flog[(h->fhead + i) % h->fcap];
	if (n) {
		h->fhead = (h->fhead + n) % h->fcap;
		h->fcount -= n;
	}
	if (lost)
		*lost = h->flost;
	h->flost = 0;
	pthread_mutex_unlock(&h->fault_lock);
	*nr = n;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * VFIO groups (contract in <softvfio/vfio.h>), with the rules of Linux's
 * drivers/vfio/group.c and container.c:
 *  - one open file per group; a device file holds its group, so the
 *    group's release (detach from the container) waits for the last device;
 *  - a group belongs to at most one container; container_users counts the
 *    container itself and each opened device, and UNSET_CONTAINER needs it
 *    to be exactly 1;
 *  - attaching brings an IOMMU domain: a group shares the domain another
 *    group of the same container has on the same IOMMU unit (type1 finds a
 *    compatible domain and attaches the group to it), else a new domain is
 *    allocated and attached to the container, which replays every existing
 *    mapping into it; the last group leaving a domain detaches and frees it,
 *    and the container tears its IOMMU state down when its last domain goes
 *    (svf_container_detach_domain), as Linux releases the backend.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "uaccess.h"

#include "vfio_priv.h"

#define NAME_MAX_LEN 4096 /* strndup_user(arg, PAGE_SIZE) */

static bool group_exists(struct svf_vfio *h, unsigned id, unsigned *unit)
{
	for (unsigned i = 0; i < h->nr_devs; i++) {
		if (h->devs[i].group == id) {
			*unit = h->devs[i].pd->desc.unit;
			return true;
		}
	}
	return false;
}

int svf_vfio_group_open(struct svf_vfio *h, unsigned id, struct svf_vfio_group **out)
{
	struct svf_vfio_group *g;
	unsigned unit;
	int rc = 0;

	*out = NULL;
	pthread_mutex_lock(&h->lock);
	if (!group_exists(h, id, &unit)) {
		rc = -ENOENT;
		goto out;
	}
	for (g = h->groups; g; g = g->next) {
		if (g->id == id) {
			rc = -EBUSY;
			goto out;
		}
	}
	if (svf_should_fail(SVF_FAULT_ALLOC)) {
		rc = -ENOMEM;
		goto out;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		rc = -ENOMEM;
		goto out;
	}
	g->h = h;
	g->id = id;
	g->unit = unit;
	g->next = h->groups;
	h->groups = g;
	*out = g;
out:
	pthread_mutex_unlock(&h->lock);
	return rc;
}

unsigned svf_vfio_group_id(const struct svf_vfio_group *g)
{
	return g->id;
}

static struct domref **domref_slot(struct svf_vfio *h, struct svf_container *c, unsigned unit)
{
	for (unsigned i = 0; i < VFIO_MAX_DOMREFS; i++)
		if (h->domrefs[i] && h->domrefs[i]->c == c && h->domrefs[i]->unit == unit)
			return &h->domrefs[i];
	return NULL;
}

int vfio_group_attach(struct svf_vfio_group *g, struct svf_container *c)
{
	struct svf_vfio *h = g->h;
	struct domref **slot = domref_slot(h, c, g->unit), *r;
	unsigned i;
	int rc;

	if (g->c)
		return -EINVAL;
	if (slot) {
		r = *slot;
		r->refs++;
		goto attached;
	}
	for (i = 0; i < VFIO_MAX_DOMREFS && h->domrefs[i]; i++)
		;
	if (i == VFIO_MAX_DOMREFS || svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	rc = svf_domain_alloc(h->units[g->unit], &r->d);
	if (rc)
		goto err_free;
	rc = svf_container_attach_domain(c, r->d);
	if (rc)
		goto err_domain;
	r->c = c;
	r->unit = g->unit;
	r->refs = 1;
	h->domrefs[i] = r;
attached:
	g->c = c;
	g->dref = r;
	g->container_users = 1;
	return 0;

err_domain:
	svf_domain_free(r->d);
err_free:
	free(r);
	return rc;
}

void vfio_group_detach(struct svf_vfio_group *g)
{
	struct svf_vfio *h = g->h;
	struct svf_container *c = g->c;
	struct domref *r = g->dref;

	if (!c)
		return;
	if (--r->refs == 0) {
		struct domref **slot = domref_slot(h, c, r->unit);

		/* Never fails for a domain that is attached; its errno would mean a bug here. */
		svf_container_detach_domain(c, r->d);
		svf_domain_free(r->d);
		*slot = NULL;
		free(r);
	}
	g->c = NULL;
	g->dref = NULL;
	g->container_users = 0;
	vfio_container_maybe_destroy(h, c);
}

void vfio_group_maybe_release(struct svf_vfio_group *g)
{
	struct svf_vfio *h = g->h;
	struct svf_vfio_group **pp;

	if (!g->closed || g->nr_files)
		return;
	vfio_group_detach(g);
	for (pp = &h->groups; *pp != g; pp = &(*pp)->next)
		;
	*pp = g->next;
	/* A number of the own table naming the group goes too. */
	for (unsigned i = 0; i < h->nr_fds;) {
		if (h->fds[i].obj == g)
			h->fds[i] = h->fds[--h->nr_fds];
		else
			i++;
	}
	free(g);
}

void svf_vfio_group_close(struct svf_vfio_group *g)
{
	struct svf_vfio *h;

	if (!g)
		return;
	h = g->h;
	pthread_mutex_lock(&h->lock);
	g->closed = true;
	vfio_group_maybe_release(g);
	pthread_mutex_unlock(&h->lock);
}

int svf_vfio_group_set_container(struct svf_vfio_group *g, struct svf_container *c)
{
	int rc;

	if (!c)
		return -EBADFD;
	pthread_mutex_lock(&g->h->lock);
	rc = vfio_group_attach(g, c);
	pthread_mutex_unlock(&g->h->lock);
	return rc;
}

static long get_status(struct svf_vfio_group *g, struct vfio_group_status *us)
{
	const size_t minsz = offsetof(struct vfio_group_status, flags) + sizeof(us->flags);
	struct vfio_group_status st;

	if (svf_copy_from_user(&st, us, minsz))
		return -EFAULT;
	if (st.argsz < minsz)
		return -EINVAL;
	st.flags = VFIO_GROUP_FLAGS_VIABLE; /* emulated devices are always bound */
	if (g->c)
		st.flags |= VFIO_GROUP_FLAGS_CONTAINER_SET;
	return svf_copy_to_user(us, &st, minsz);
}

static long set_container(struct svf_vfio_group *g, const int32_t *ufd)
{
	enum svf_vfio_fd_kind kind;
	int32_t fd;
	void *obj;

	if (svf_copy_from_user(&fd, ufd, sizeof(fd)))
		return -EFAULT;
	vfio_resolve_fd(g->h, fd, &kind, &obj);
	if (kind == SVF_VFIO_FD_NONE)
		return -EBADF;
	if (g->c)
		return -EINVAL;
	if (kind != SVF_VFIO_FD_CONTAINER)
		return -EBADFD;
	return vfio_group_attach(g, obj);
}

static long unset_container(struct svf_vfio_group *g)
{
	if (!g->c)
		return -EINVAL;
	if (g->container_users != 1)
		return -EBUSY;
	vfio_group_detach(g);
	return 0;
}

/*
 * Linux's strndup_user(uname, NAME_MAX_LEN): the caller's string copied
 * page by page, so that a name that ends before an unreadable page is
 * read and one that runs into it faults. 0 with *out (free it), -EFAULT,
 * -EINVAL (no NUL in NAME_MAX_LEN bytes), -ENOMEM.
 */
static int name_from_user(const char *uname, char **out)
{
	char *name;
	size_t off = 0;

	if (!uname)
		return -EFAULT;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	name = malloc(NAME_MAX_LEN);
	if (!name)
		return -ENOMEM;
	while (off < NAME_MAX_LEN) {
		size_t chunk = 4096 - ((uintptr_t)(uname + off) & 4095);

		if (chunk > NAME_MAX_LEN - off)
			chunk = NAME_MAX_LEN - off;
		if (svf_copy_from_user(name + off, uname + off, chunk)) {
			free(name);
			return -EFAULT;
		}
		if (memchr(name + off, 0, chunk)) {
			*out = name;
			return 0;
		}
		off += chunk;
	}
	free(name);
	return -EINVAL;
}

int svf_vfio_group_get_device(struct svf_vfio_group *g, const char *uname,
			      struct svf_vfio_device **out)
{
	char *name;
	int rc;

	*out = NULL;
	rc = name_from_user(uname, &name);
	if (rc)
		return rc;
	pthread_mutex_lock(&g->h->lock);
	rc = vfio_device_open_locked(g, name, out);
	pthread_mutex_unlock(&g->h->lock);
	free(name);
	return rc;
}

static long get_device_fd(struct svf_vfio_group *g, const char *name)
{
	struct svf_vfio *h = g->h;
	struct svf_vfio_device *dev;
	int fd, rc;

	rc = svf_vfio_group_get_device(g, name, &dev);
	if (rc)
		return rc;
	pthread_mutex_lock(&h->lock);
	if (h->has_fd_ops) {
		struct svf_vfio_fd_ops ops = h->fd_ops;

		pthread_mutex_unlock(&h->lock);
		fd = ops.install_device(ops.opaque, dev);
		if (fd < 0)
			svf_vfio_device_close(dev);
		return fd;
	}
	fd = h->next_handle;
	rc = vfio_bind_locked(h, fd, SVF_VFIO_FD_DEVICE, dev);
	if (rc) {
		vfio_device_close_locked(dev);
		pthread_mutex_unlock(&h->lock);
		return rc == -ENOSPC ? -EMFILE : rc;
	}
	h->next_handle++;
	dev->fd = fd;
	pthread_mutex_unlock(&h->lock);
	return fd;
}

long svf_vfio_group_ioctl(struct svf_vfio_group *g, unsigned long request, void *arg)
{
	struct svf_vfio *h = g->h;
	long rc;

	switch (request) {
	case VFIO_GROUP_GET_DEVICE_FD:
		return get_device_fd(g, arg);
	case VFIO_GROUP_GET_STATUS:
	case VFIO_GROUP_SET_CONTAINER:
	case VFIO_GROUP_UNSET_CONTAINER:
		break;
	default:
		return -ENOTTY;
	}
	pthread_mutex_lock(&h->lock);
	if (request == VFIO_GROUP_GET_STATUS)
		rc = get_status(g, arg);
	else if (request == VFIO_GROUP_SET_CONTAINER)
		rc = set_container(g, arg);
	else
		rc = unset_container(g);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * The host's state, shared by the files of src/vfio/: host.c (devices,
 * fd table, containers, fault log), group.c (groups and their container),
 * device.c (device files and the vfio-pci request decoder), dmar.c (fault
 * rendering).
 *
 * Locks. h->lock protects the device table's open counts, the groups, the
 * fd table and the domain references; h->fault_lock (a leaf) the fault log,
 * because faults are recorded from a device's DMA path under that device's
 * lock, which is below h->lock. Order: h->lock, then a device's pd->lock,
 * then a container's lock (taken inside type1 calls), then h->fault_lock.
 */
#ifndef SOFTVFIO_VFIO_PRIV_H
#define SOFTVFIO_VFIO_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <softvfio/softvfio.h>
#include <softvfio/vfio.h>

#include "pci.h"

#define VFIO_MAX_FDS 256
#define VFIO_MAX_DOMREFS 64
#define VFIO_MAX_PUTS 64

/* A device of the host. pd and group are immutable after add. */
struct hdev {
	struct svf_pci_dev *pd;
	unsigned group;
	unsigned open_count;          /* device files open; under h->lock */
};

/* A domain of a container used by the host's groups (type1 shares it per unit). */
struct domref {
	struct svf_container *c;
	struct svf_domain *d;
	unsigned unit;
	unsigned refs;                /* groups attached through it */
};

struct svf_vfio_group {
	struct svf_vfio *h;
	unsigned id;
	unsigned unit;
	bool closed;                  /* the program closed the group fd */
	unsigned nr_files;            /* device files open: they hold the group */
	struct svf_container *c;      /* NULL: no container */
	struct domref *dref;
	unsigned container_users;     /* Linux's: 1 for the container, +1 per opened device */
	struct svf_vfio_group *next;  /* open groups of h */
};

struct svf_vfio_device {
	struct svf_vfio *h;
	struct svf_vfio_group *g;
	struct hdev *hd;
	int fd;                       /* number in the own fd table, or -1 */
	struct svf_vfio_device *next; /* open device files of h */
};

struct fdent {
	int fd;
	enum svf_vfio_fd_kind kind;
	void *obj;
};

struct svf_vfio {
	pthread_mutex_t lock;
	struct svf_vfio_config cfg;   /* immutable */
	struct svf_iommu *units[SVF_VFIO_MAX_UNITS];
	unsigned nr_units;

	struct hdev devs[SVF_VFIO_MAX_DEVICES];
	unsigned nr_devs;
	struct svf_vfio_group *groups; /* open groups */
	struct svf_vfio_device *files; /* open device files */

	bool has_fd_ops;
	struct svf_vfio_fd_ops fd_ops;
	struct fdent fds[VFIO_MAX_FDS];
	unsigned nr_fds;
	int next_handle;

	struct domref *domrefs[VFIO_MAX_DOMREFS];
	struct svf_container *puts[VFIO_MAX_PUTS];
	unsigned nr_puts;

	pthread_mutex_t fault_lock;
	struct svf_vfio_fault *flog;  /* ring of fcap records: fhead oldest, fcount held */
	size_t fcap, fhead, fcount;
	uint64_t fseq, flost;
	void (*faulted)(void *opaque); /* fd_ops.faulted, under fault_lock */
	void *faulted_opaque;
};

/* host.c, h->lock held */
void vfio_resolve_fd(struct svf_vfio *h, int fd, enum svf_vfio_fd_kind *kind, void **obj);
int vfio_bind_locked(struct svf_vfio *h, int fd, enum svf_vfio_fd_kind kind, void *obj);
void vfio_unbind_locked(struct svf_vfio *h, int fd);
/* Destroy c if it was put and no group uses it any more. */
void vfio_container_maybe_destroy(struct svf_vfio *h, struct svf_container *c);
void vfio_record_fault(void *opaque, const struct svf_vfio_fault *f);

/* group.c, h->lock held */
int vfio_group_attach(struct svf_vfio_group *g, struct svf_container *c);
void vfio_group_detach(struct svf_vfio_group *g);
/* Free g when it is closed and no device file holds it. */
void vfio_group_maybe_release(struct svf_vfio_group *g);

/* device.c */
int vfio_device_open_locked(struct svf_vfio_group *g, const char *name,
			    struct svf_vfio_device **out);
void vfio_device_close_locked(struct svf_vfio_device *dev);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * softvfio: a userspace VFIO type1 IOMMU backend on an emulated IOMMU.
 *
 * A container is what opening /dev/vfio/vfio gives a VMM: attach IOMMU
 * domains to it (where Linux attaches groups), select the type1 backend with
 * VFIO_SET_IOMMU, then drive it with the requests and structs of
 * <linux/vfio.h> through softvfio_ioctl(), getting Linux's results and errnos.
 *
 *   struct svf_container *c;
 *   svf_container_create(NULL, &c);               // process pinning, gather policy, one vtd domain
 *   softvfio_ioctl(c, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU);
 *   struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), ... };
 *   softvfio_ioctl(c, VFIO_IOMMU_MAP_DMA, &m);
 *
 * Threading: every call on one container is serialized by the container's
 * mutex; distinct containers are independent. Device threads translate
 * through the domains without taking it.
 */
#ifndef SOFTVFIO_SOFTVFIO_H
#define SOFTVFIO_SOFTVFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/vfio.h>

#include <softvfio/emulated.h>
#include <softvfio/iommu.h>
#include <softvfio/log.h>
#include <softvfio/pin.h>
#include <softvfio/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SOFTVFIO_VERSION "0.1.0"

struct svf_container;

/* Flush policies (docs/design.md): how the unmap path waits for the IOTLB. */
enum svf_policy {
	SVF_POLICY_STRICT = 0, /* wait after every chunk, unpin at once (type1 before fast unmap) */
	SVF_POLICY_BATCHED,    /* fast unmap: unmap_fast, queue, one wait per batch, then unpin */
	SVF_POLICY_GATHER,     /* batched + merged invalidations, batches span mappings */
	SVF_POLICY_LAZY,       /* flush queue: unmap returns before the wait; flushed when full or by a timer */
	SVF_POLICY_NR,
};
const char *svf_policy_name(enum svf_policy p);
/* 0 or -EINVAL for an unknown name. */
int svf_policy_parse(const char *s, enum svf_policy *out);

#define SVF_DEFAULT_BATCH_CAP       512u
#define SVF_DEFAULT_DMA_ENTRY_LIMIT 65535u

struct svf_container_config {
	enum svf_policy policy;    /* default SVF_POLICY_GATHER */
	unsigned batch_cap;        /* pending regions per wait; 0: 512 */
	unsigned dma_entry_limit;  /* mappings per container; 0: 65535 */
	/*
	 * Pinning backend: NULL means the container creates (and owns) a
	 * process pinner. A caller's pinner must outlive the container.
	 */
	struct svf_pinner *pinner;
	/*
	 * Domains: with attach_default_domain the container creates one unit
	 * from iommu (NULL: vtd defaults) and one domain on it, and owns both.
	 */
	bool attach_default_domain;
	const struct svf_iommu_config *iommu;
	/*
	 * SVF_POLICY_LAZY, after dma-iommu's flush queue (its defaults): an
	 * unmap queues its regions with their invalidations and returns; the
	 * queue is flushed (one wait, then the regions unpinned) when it holds
	 * lazy_queue_cap regions, or lazy_timeout_us after the first region
	 * entered it, by a timer thread of the container. Under lazy the
	 * pending list is that queue and batch_cap is not used.
	 */
	unsigned lazy_queue_cap;   /* 0: 256 */
	uint64_t lazy_timeout_us;  /* 0: 10,000 (10 ms) */
	/*
	 * Check mode for devices (<softvfio/device.h>): the pinner keeps pin
	 * state per frame and the container stamps unmapped IOVAs, so that
	 * every device access is checked (dma_unpinned_access,
	 * dma_after_unmap). A caller's pinner must not hold pins yet (-EBUSY).
	 */
	bool dma_check;
	/*
	 * Per-request CPU time: when set, every softvfio_ioctl() reads the
	 * thread CPU clock before and after the request and adds the
	 * difference to the cpu_ns counter. That clock is a system call
	 * (about half a microsecond each), more than a whole synthetic map
	 * costs, so it is off by default and cpu_ns stays 0; the
	 * cpu_time_measured counter says which.
	 */
	bool cpu_time;
};

#define SVF_DEFAULT_LAZY_QUEUE_CAP  256u
#define SVF_DEFAULT_LAZY_TIMEOUT_US 10000u

/* Defaults: gather policy, cap 512, limit 65535, process pinner, one vtd domain. */
void svf_container_default_config(struct svf_container_config *cfg);

/*
 * Create a container (cfg NULL: defaults). Returns 0; -EINVAL (unknown
 * policy); -ENOMEM; -EBUSY (dma_check with a caller's pinner that holds
 * pins already); -EAGAIN (lazy: the timer thread could not be started); or
 * the errno of creating the default pinner (svf_pinner_create) or the
 * default unit and domain (svf_iommu_create, svf_domain_alloc). On error
 * nothing is left behind.
 */
int svf_container_create(const struct svf_container_config *cfg, struct svf_container **out);
/*
 * Unmaps everything (as UNMAP_DMA with FLAG_ALL), detaches and frees what it
 * owns, and detaches (freeing them) emulated devices still attached, so
 * their handles become invalid. Never fails: what cannot be released (a sync that keeps failing)
 * stays pinned and is logged (svf_set_log_fn).
 */
void svf_container_destroy(struct svf_container *c);

/*
 * Attach a domain (Linux: a group joins the container and gets a domain).
 * Allowed before or after VFIO_SET_IOMMU; attached after, it receives every
 * existing mapping (pinned pages are looked up again and mapped in runs).
 * The caller keeps ownership of d and must detach it before freeing it.
 * Returns 0; -EBUSY (already attached); -ENOSPC (16 domains attached);
 * -EINVAL (d cannot map 4 KiB pages, or an existing mapping lies outside
 * d's aperture or in a reserved region); -ENOMEM; the driver's errno of a
 * failed map; or, for the first domain of a container whose mappings were
 * made with only emulated devices attached, the pinner's errno (-EFAULT,
 * -ENOMEM). On error nothing stays mapped in d or pinned for it.
 */
int svf_container_attach_domain(struct svf_container *c, struct svf_domain *d);
/*
 * Detach d: unmaps every mapping from it (with a waiting unmap). When d is
 * the container's last domain and no emulated device is attached, every
 * mapping is dropped, as when Linux's last group leaves. Otherwise an
 * unmap that fails on the way is logged (svf_set_log_fn), not returned, and
 * d is detached anyway, except in the case below. Returns 0; -ENOENT (d is not attached); or, when d is the last domain and
 * emulated devices stay, the errno of giving the pages they pinned pins of
 * their own (-ENOMEM, -EFAULT from the pinner: then nothing changed and d
 * stays attached), or a driver errno when d's translations could not all be
 * removed (then d stays attached, what was removed from it stays removed,
 * and a later unmap or detach finishes it).
 */
int svf_container_detach_domain(struct svf_container *c, struct svf_domain *d);
/* The nth attached domain, or NULL. */
struct svf_domain *svf_container_domain(struct svf_container *c, unsigned n);

/*
 * Whether VFIO_SET_IOMMU has selected the type1 backend (Linux: the
 * container has an IOMMU driver), which a VFIO group needs before its
 * devices can be opened. False again once the last group or domain left.
 */
bool svf_container_iommu_set(struct svf_container *c);

/*
 * The VFIO user API: request is a VFIO_* ioctl number from <linux/vfio.h>;
 * arg is the integer argument (GET_API_VERSION, CHECK_EXTENSION, SET_IOMMU)
 * cast to a pointer, or a pointer to the request's struct.
 * Returns the ioctl's non-negative result (0, or 1 for a supported
 * extension), or a negative errno exactly as Linux's ioctl would set errno:
 * -ENOTTY for an unknown request, -EINVAL, -EEXIST, -ENOSPC, -ENOMEM,
 * -EFAULT, -EOVERFLOW, -EBUSY, -ENOENT, -EACCES, -ENODEV (SET_IOMMU with a
 * type no driver offers), in the order of docs/uapi.md.
 * Every pointer the request carries (the struct, a capability buffer, a
 * dirty bitmap) is read and written as Linux's copy_from_user/copy_to_user
 * would: memory the process cannot read or write gives -EFAULT, never a
 * signal; a bitmap outside the user address space gives -EINVAL.
 */
long softvfio_ioctl(struct svf_container *c, unsigned long request, void *arg);

/* Counters summed over the container, its pinner share and every unit. */
void svf_container_get_stats(struct svf_container *c, struct svf_stats *out);

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
/*
 * An emulated DMA engine behind the IOMMU (layer 6 of docs/design.md): a device
 * assigned to a container, reaching memory only through the container's
 * first domain, as a passed-through PCI device reaches guest memory.
 *
 * A request (read or write, iova, length) is translated page by page with
 * svf_iommu_translate(): the device's last translation or the IOTLB, a page
 * walk and an IOTLB fill on a miss, the read/write permission check. With
 * the process pinning backend the device then really reads or writes the
 * pinned memory of this process (svf_pinner_phys_to_ptr); with the synthetic
 * backend there is no memory, and it only translates. A page that has no
 * translation, or lacks the permission, ends the request with a fault,
 * recorded like VT-d's fault recording registers (iova, access, reason) and
 * read back with svf_device_read_faults().
 *
 * Threads. The device has its own threads (svf_device_config.threads), each
 * with a request queue: svf_device_submit() queues a request on one thread,
 * svf_device_wait() waits for it. A source callback can feed the threads
 * instead (a device that generates its own traffic, as a NIC receiving
 * packets would), so that a workload runs without a submitting thread.
 * svf_device_dma() runs one request on the calling thread.
 *
 * Concurrency with map and unmap: each request runs in DMA sections
 * (svf_iommu_dma_begin/end) of at most slice_bytes, so a wait that removes a
 * translation the device is using waits until the device is done with it
 * (iommu.h). The container's lock is never taken on the DMA path.
 *
 * Check mode (svf_container_config.dma_check): every page the device
 * reaches is checked against the pinner's pin state before and after the
 * access (dma_unpinned_access: must stay 0) and against the container's
 * unmap stamps (dma_after_unmap: the page was reached through an IOVA
 * whose unmap had returned before the request began; 0 under strict,
 * batched and gather, counted under lazy). Counters appear in
 * svf_container_get_stats().
 *
 * Lifetime: create after the container has a domain; destroy the device
 * before detaching that domain or destroying the container.
 */
#ifndef SOFTVFIO_DEVICE_H
#define SOFTVFIO_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct svf_container;
struct svf_device;

/* Fault reasons, numbered as VT-d's fault reason codes for DMA remapping. */
enum svf_dma_fault_reason {
	SVF_DMA_FR_ADDR_BEYOND_AW = 4, /* input address above the domain's address width */
	SVF_DMA_FR_WRITE = 5,          /* write to a page without write permission or translation */
	SVF_DMA_FR_READ = 6,           /* read from a page without read permission or translation */
};

/* One fault record. */
struct svf_dma_fault {
	uint64_t iova;   /* the first byte the device could not access */
	int access;      /* SVF_PROT_READ or SVF_PROT_WRITE */
	int reason;      /* enum svf_dma_fault_reason */
	/*
	 * -ENOENT: no translation; -EACCES: translation without the permission;
	 * -EFAULT: pinned memory the process unmapped (or made inaccessible)
	 * without svf_pinner_release (counted in dma_vanished).
	 */
	int err;
	unsigned thread; /* the device thread (UINT32_MAX: svf_device_dma on a caller's thread) */
};

/* One DMA request. */
struct svf_dma_req {
	int access;      /* SVF_PROT_READ or SVF_PROT_WRITE */
	uint64_t iova;
	uint64_t len;    /* bytes; 0 completes at once */
	void *buf;       /* read: destination (NULL: bytes are only summed);
			    write: source (NULL: every byte is `byte`) */
	uint8_t byte;
	void *opaque;    /* the caller's */
	/* results */
	int status;          /* 0 done; 1 fault (fault_iova); -EINVAL (bad request); -EIO (injected) */
	uint64_t fault_iova; /* status 1: the first IOVA not accessible */
	uint32_t sum;        /* read: 32-bit sum of the bytes read (0 on the synthetic backend) */
	uint64_t done_len;   /* bytes accessed before the fault or the end */
	/* private to the device */
	int done_;
	unsigned thread_;
};

struct svf_device_config {
	unsigned threads;       /* DMA engine threads; 0: 1; at most 64 */
	unsigned queue_depth;   /* requests per thread queue; 0: 64 */
	unsigned fault_records; /* fault recording registers; 0: 8 */
	uint64_t slice_bytes;   /* bytes per DMA section; 0: 64 KiB */
	/*
	 * Optional traffic source, called on a device thread whose queue is
	 * empty: fill *req and return true to have it run (complete() is then
	 * called with the result), or false to stop asking (the thread then
	 * serves its queue only).
	 */
	bool (*source)(void *opaque, unsigned thread, struct svf_dma_req *req);
	void (*complete)(void *opaque, unsigned thread, struct svf_dma_req *req);
	void *opaque;
	/*
	 * The domain the device translates through: one attached to the
	 * container (a VFIO group's domain); NULL: the container's first.
	 */
	struct svf_domain *domain;
};

/*
 * Create a device on c's first domain (or cfg->domain) and start its
 * threads. Returns 0; -EINVAL (bad config); -ENODEV (c has no domain, or
 * cfg->domain is not attached to c); -ENOMEM; -EAGAIN (threads).
 */
int svf_device_create(struct svf_container *c, const struct svf_device_config *cfg,
		      struct svf_device **out);
/* Stop the threads (queued requests run first; a source is asked no more) and free. Never fails. */
void svf_device_destroy(struct svf_device *dev);

/*
 * Queue req on device thread `thread`. The request belongs to the device
 * until svf_device_wait() returns for it. Returns 0; -EINVAL (thread out of
 * range, access not READ or WRITE); -EAGAIN (queue full).
 */
int svf_device_submit(struct svf_device *dev, unsigned thread, struct svf_dma_req *req);
/* Wait until a submitted request has completed. */
void svf_device_wait(struct svf_device *dev, struct svf_dma_req *req);

/*
 * Run req on the calling thread (which must not hold the container's lock
 * across a wait, as any device). Returns req->status.
 */
int svf_device_dma(struct svf_device *dev, struct svf_dma_req *req);

/*
 * Read and clear the fault records, oldest first: at most max into out,
 * the number written through *nr. *overflow (may be NULL) tells whether
 * faults were lost because every record was full (VT-d's primary fault
 * overflow), and is cleared too. Returns 0.
 */
int svf_device_read_faults(struct svf_device *dev, struct svf_dma_fault *out, size_t max,
			   size_t *nr, bool *overflow);

/* Number of device threads. */
unsigned svf_device_threads(const struct svf_device *dev);

#ifdef __cplusplus
}
#endif
#endif

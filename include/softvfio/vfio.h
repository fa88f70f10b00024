/* SPDX-License-Identifier: MIT */
/*
 * softvfio VFIO groups and devices: what a VFIO program sees above the
 * container (Linux's /dev/vfio/N group fds and the device fds of vfio-pci).
 *
 * A *host* (struct svf_vfio) is the machine: a set of emulated PCI devices
 * (QEMU's edu today), each with a PCI name ("0000:00:03.0"), a requester id
 * and an IOMMU group, all behind one or more emulated IOMMU units. The
 * program's side is Linux's:
 *
 *   svf_vfio_group_open(h, 7, &g);                    // open("/dev/vfio/7")
 *   svf_vfio_group_ioctl(g, VFIO_GROUP_GET_STATUS, &status);
 *   svf_vfio_group_ioctl(g, VFIO_GROUP_SET_CONTAINER, &container_fd);
 *   softvfio_ioctl(c, VFIO_SET_IOMMU, (void *)VFIO_TYPE1v2_IOMMU);
 *   long fd = svf_vfio_group_ioctl(g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0");
 *   svf_vfio_device_from_fd(h, (int)fd, &dev);
 *   svf_vfio_device_ioctl(dev, VFIO_DEVICE_GET_INFO, &info);
 *   svf_vfio_device_read(dev, buf, 4, VFIO_PCI_INDEX_TO_OFFSET(7) + 0, &done);
 *
 * Every request takes the request number and argument of ioctl(2) and
 * returns what Linux's ioctl returns, or -errno where Linux sets errno, so
 * that a preload layer can forward a program's ioctl unchanged. Region
 * reads and writes take vfio-pci's offsets (region index << 40) as pread(2)
 * and pwrite(2) on the device fd would.
 *
 * File descriptors. Requests that carry an fd (SET_CONTAINER's container,
 * PCI_HOT_RESET's groups) resolve it through the host's fd table; the
 * device fd that GET_DEVICE_FD returns comes from it too. By default that
 * table is the host's own: the caller binds numbers to containers and groups
 * with svf_vfio_bind_fd(), and device fds are numbers the host hands out
 * from SVF_VFIO_HANDLE_BASE up (they are not kernel fds). A preload layer
 * installs its own table instead (svf_vfio_set_fd_ops) so that real kernel
 * fds of the program name the objects.
 *
 * Memory of the device: svf_vfio_device_memfd() gives a memfd laid out as
 * vfio-pci lays out a device fd: each mmappable region at its index << 40.
 * The device reaches its registers through the same memory, so a program's
 * mmap of that fd at VFIO_PCI_INDEX_TO_OFFSET(BAR) sees and writes the
 * registers; doorbells written there are noticed by a watcher thread of the
 * device (see svf_vfio_config.watch_*). Interrupts are delivered by writing
 * the eventfds the program gave with VFIO_DEVICE_SET_IRQS.
 *
 * IOMMU faults of a device's DMA are recorded on the host with the device's
 * requester id, every one (none dropped while memory lasts), and can be
 * rendered as the line Linux's intel-iommu driver logs for a DMA remapping
 * fault (svf_vfio_fault_format) or its amd_iommu driver for an
 * IO_PAGE_FAULT event (svf_vfio_fault_format_amd).
 *
 * Lifetimes. A group stays open until svf_vfio_group_close() and the close
 * of its last device, whichever is later (a device fd keeps its group in
 * use, as in Linux). A container given to a group must outlive the group's
 * membership: either UNSET_CONTAINER/close every group before
 * svf_container_destroy(), or hand the container to svf_vfio_container_put(),
 * which destroys it when its last group leaves. Destroy the host last.
 *
 * Threading: every call is thread safe. Each device has a mutex that
 * serializes its requests, region accesses and its watcher; the host has a
 * mutex over groups, the fd table and the fault log. Lock order: host, then
 * group, then device, then the container's own lock.
 */
#ifndef SOFTVFIO_VFIO_H
#define SOFTVFIO_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/vfio.h>

#include <softvfio/iommu.h>

#ifdef __cplusplus
extern "C" {
#endif

struct svf_container;
struct svf_vfio;
struct svf_vfio_group;
struct svf_vfio_device;

/* vfio-pci's region offsets: the region index in the bits from 40 up. */
#define SVF_VFIO_PCI_OFFSET_SHIFT 40
#ifndef VFIO_PCI_INDEX_TO_OFFSET
#define VFIO_PCI_INDEX_TO_OFFSET(index) ((uint64_t)(index) << SVF_VFIO_PCI_OFFSET_SHIFT)
#endif

/* First number the host's own fd table hands out for device fds. */
#define SVF_VFIO_HANDLE_BASE (1 << 24)

#define SVF_VFIO_MAX_UNITS 8
#define SVF_VFIO_MAX_DEVICES 32

struct svf_vfio_config {
	/* IOMMU units of the machine (each one like a VT-d DRHD); 0: 1. */
	unsigned units;
	/* Their configuration (NULL: the vtd driver's defaults). */
	const struct svf_iommu_config *iommu;
	/*
	 * The doorbell watcher of mmapped BARs (one thread per open device
	 * with a mappable BAR). After a doorbell it served it polls without
	 * sleeping for watch_spin_ns (0: 1 ms; a driver's next doorbell usually
	 * comes within that); after that, or after an INTx unmask eventfd
	 * was set, it sleeps between polls, every watch_fast_ns (0: 5,000 ns) until watch_hot_ns
	 * (0: 20 ms) after the activity, then backs off doubling the period up to
	 * watch_idle_ns (0: 1 ms) while nothing happens. So a doorbell is
	 * served within a poll while spinning, within one period otherwise
	 * (plus the scheduler's wake-up and the work it starts); an idle
	 * device costs one wake-up per watch_idle_ns. watch_no_spin skips the
	 * spinning phase.
	 */
	uint64_t watch_spin_ns;
	uint64_t watch_fast_ns;
	uint64_t watch_hot_ns;
	uint64_t watch_idle_ns;
	bool watch_no_spin;
};

/* Defaults: one vtd unit, watcher spin 1 ms, then 5 us until 20 ms, idle 1 ms. */
void svf_vfio_default_config(struct svf_vfio_config *cfg);

/*
 * Create a host with no devices (cfg NULL: defaults). Returns 0, -EINVAL
 * (units above SVF_VFIO_MAX_UNITS), -ENOMEM, or the errno of creating an
 * IOMMU unit (-ENODEV for an unknown driver).
 */
int svf_vfio_create(const struct svf_vfio_config *cfg, struct svf_vfio **out);

/*
 * Destroy the host: closes every device and group still open (detaching
 * them from their containers), destroys containers given to
 * svf_vfio_container_put(), frees the units. Never fails.
 */
void svf_vfio_destroy(struct svf_vfio *h);

/* Emulated PCI device kinds. */
#define SVF_PCI_KIND_EDU "edu"
/* An Intel I/OAT (CBDMA) DMA engine, version 3.4, one channel (8086:2021). */
#define SVF_PCI_KIND_IOAT "ioat"

struct svf_pci_device_config {
	const char *kind;    /* SVF_PCI_KIND_EDU, SVF_PCI_KIND_IOAT */
	/*
	 * PCI name "DDDD:BB:DD.F" (domain must be 0000); NULL: the first free
	 * of 0000:00:03.0, 0000:00:04.0, ...
	 */
	const char *bdf;
	/* IOMMU group number, 0..65535; -1: a new group numbered after the highest in use. */
	int group;
	unsigned unit;       /* IOMMU unit index, < svf_vfio_config.units */
	/*
	 * edu's dma_mask property (QEMU's semantics: DMA addresses are ANDed
	 * with it); 0: QEMU's default, 28 bits.
	 */
	uint64_t dma_mask;
};

/* What a program can learn about a device from sysfs (for a preload layer). */
struct svf_vfio_device_desc {
	char name[16];       /* "0000:00:03.0" */
	const char *kind;
	unsigned group;
	unsigned unit;
	uint16_t rid;        /* requester id: bus << 8 | device << 3 | function */
	uint16_t vendor, device, subsystem_vendor, subsystem_device;
	uint32_t class_code; /* 24 bits: class, subclass, prog-if */
	uint8_t revision;
	uint8_t irq_pin;
	uint64_t bar_size[7];   /* BAR0-5, ROM (index 6); 0: absent */
	uint32_t bar_flags[7];  /* low bits of the BAR register (PCI_BASE_ADDRESS_*) */
	uint32_t config_size;   /* 256 (conventional PCI) or 4096 */
};

/*
 * Add an emulated PCI device, at any time: one added to a group that is
 * open can be opened through it at once (it DMAs through the group's
 * domain). *desc (may be NULL) receives its description.
 * Returns 0; -EINVAL (unknown kind, bad bdf or group, unit out of range);
 * -EEXIST (bdf in use); -ENOSPC (SVF_VFIO_MAX_DEVICES); -ENOMEM; -EMFILE
 * or -ENOSPC from creating the device memory (memfd_create, ftruncate).
 */
int svf_vfio_add_device(struct svf_vfio *h, const struct svf_pci_device_config *cfg,
			struct svf_vfio_device_desc *desc);

/* The index-th device added, in order. Returns 0, or -ENOENT past the last. */
int svf_vfio_get_device_desc(struct svf_vfio *h, unsigned index, struct svf_vfio_device_desc *out);

/* The IOMMU unit of index (as a group's domain is allocated on it), or NULL. */
struct svf_iommu *svf_vfio_unit(struct svf_vfio *h, unsigned index);

/* ---- file descriptors ---- */

enum svf_vfio_fd_kind {
	SVF_VFIO_FD_NONE = 0,   /* not an open fd (-EBADF) */
	SVF_VFIO_FD_OTHER,      /* open, but not a VFIO object of this host */
	SVF_VFIO_FD_CONTAINER,  /* obj: struct svf_container */
	SVF_VFIO_FD_GROUP,      /* obj: struct svf_vfio_group */
	SVF_VFIO_FD_DEVICE,     /* obj: struct svf_vfio_device */
};

struct svf_vfio_fd_ops {
	/*
	 * What fd names: set *kind (and *obj for the VFIO kinds). Called with
	 * the host's lock held: must not call into the host. Required.
	 */
	void (*resolve)(void *opaque, int fd, enum svf_vfio_fd_kind *kind, void **obj);
	/*
	 * GET_DEVICE_FD opened dev: return the fd number the program gets
	 * (>= 0), or -errno (the open is undone and the errno returned).
	 * Called without the host's lock. Required.
	 */
	int (*install_device)(void *opaque, struct svf_vfio_device *dev);
	/*
	 * A fault was just recorded (svf_vfio_read_faults returns it), or could
	 * not be for lack of memory: a preload layer wakes whoever waits on its
	 * /dev/kmsg. Called from the faulting DMA (a device thread, or a region
	 * access of the program's) with device locks held but no lock of the
	 * host's: it must not block or call into the host. Optional (NULL).
	 */
	void (*faulted)(void *opaque);
	void *opaque;
};

/*
 * Replace the host's own fd table with ops (copied; NULL: back to the own
 * table). Returns 0, or -EINVAL when ops lacks a callback.
 */
int svf_vfio_set_fd_ops(struct svf_vfio *h, const struct svf_vfio_fd_ops *ops);

/*
 * Own fd table: make fd name obj of kind (CONTAINER or GROUP; DEVICE numbers
 * are bound by GET_DEVICE_FD itself). Returns 0; -EINVAL (fd negative, kind
 * not CONTAINER or GROUP, obj NULL); -EEXIST (fd bound); -ENOSPC (table full).
 */
int svf_vfio_bind_fd(struct svf_vfio *h, int fd, enum svf_vfio_fd_kind kind, void *obj);
/* Forget fd in the own table. Returns 0 or -EBADF (not bound). */
int svf_vfio_unbind_fd(struct svf_vfio *h, int fd);
/*
 * The device an fd of the own table names (one GET_DEVICE_FD returned).
 * Returns 0, or -EBADF.
 */
int svf_vfio_device_from_fd(struct svf_vfio *h, int fd, struct svf_vfio_device **out);

/* ---- containers ---- */

/*
 * Give c to the host: it is destroyed (svf_container_destroy) when no group
 * of h is attached to it any more, at once if none is. As Linux keeps a
 * container alive while its groups hold it after the program closed the
 * container fd. Putting the same container twice is putting it once.
 * Never fails.
 */
void svf_vfio_container_put(struct svf_vfio *h, struct svf_container *c);

/* ---- groups (Linux: /dev/vfio/N) ---- */

/*
 * Open group id. Returns 0; -ENOENT (no such group: no /dev/vfio/id);
 * -EBUSY (already open: Linux allows one open file per group); -ENOMEM.
 */
int svf_vfio_group_open(struct svf_vfio *h, unsigned id, struct svf_vfio_group **out);

/*
 * Close the group fd: when no device of it is open, detaches it from its
 * container (the container's IOMMU state is torn down when it was the last
 * group); otherwise that happens when the last device closes. Never fails.
 */
void svf_vfio_group_close(struct svf_vfio_group *g);

/* The group's number. */
unsigned svf_vfio_group_id(const struct svf_vfio_group *g);

/*
 * The group requests of <linux/vfio.h>, with Linux's results and errnos.
 * The argument is read and written as copy_from_user/copy_to_user would:
 * -EFAULT for NULL or memory the process cannot read (or write back to).
 *  VFIO_GROUP_GET_STATUS (struct vfio_group_status *): -EFAULT,
 *    -EINVAL (argsz below flags); flags VIABLE, and CONTAINER_SET once set.
 *  VFIO_GROUP_SET_CONTAINER (int32_t *fd): -EFAULT; -EBADF (fd not
 *    open); -EINVAL (the group already has a container); -EBADFD (fd is
 *    not a container); or an attach errno (see svf_vfio_group_set_container).
 *  VFIO_GROUP_UNSET_CONTAINER (no arg): -EINVAL (no container); -EBUSY (a
 *    device of the group is open).
 *  VFIO_GROUP_GET_DEVICE_FD (const char *name): returns the new device fd
 *    (>= 0). -EFAULT (NULL, or a name that runs into memory the process
 *    cannot read); -EINVAL (name longer than 4095 bytes; no
 *    container, or the container has no IOMMU set (VFIO_SET_IOMMU);
 *    a malformed option after the name, or " vf_token=UUID" given for a
 *    device that is neither a PF nor a VF, as vfio-pci answers);
 *    -ENODEV (no device of that name in the group); -ENOMEM; the fd
 *    table's install errno.
 *  Any other request: -ENOTTY.
 */
long svf_vfio_group_ioctl(struct svf_vfio_group *g, unsigned long request, void *arg);

/*
 * SET_CONTAINER without an fd: attach g to c. The group brings an IOMMU
 * domain on its unit, or shares the domain another group of the container
 * has on the same unit (as type1 reuses a compatible domain); a new domain
 * receives every existing mapping. Returns 0; -EBADFD (c is NULL, as an
 * fd that is not a container); -EINVAL (g already has a container);
 * -ENOMEM; or svf_container_attach_domain()'s errno (-ENOSPC, -EINVAL for
 * mappings outside the new domain's aperture, a map errno).
 */
int svf_vfio_group_set_container(struct svf_vfio_group *g, struct svf_container *c);

/*
 * GET_DEVICE_FD without an fd: open the device called name (with Linux's
 * handling of " vf_token=..."). Returns 0 with *out, or the errnos of
 * VFIO_GROUP_GET_DEVICE_FD above. The device is not in any fd table; close
 * it with svf_vfio_device_close().
 */
int svf_vfio_group_get_device(struct svf_vfio_group *g, const char *name,
			      struct svf_vfio_device **out);

/* ---- devices (Linux: the fd from GET_DEVICE_FD) ---- */

/*
 * Close a device fd: the last close of a device disables its interrupts,
 * stops its DMA, resets it and releases the group's use of the container.
 * A number of the own fd table is unbound. Never fails.
 */
void svf_vfio_device_close(struct svf_vfio_device *dev);

/* The device's PCI name and description. */
const char *svf_vfio_device_name(const struct svf_vfio_device *dev);
void svf_vfio_device_get_desc(const struct svf_vfio_device *dev, struct svf_vfio_device_desc *out);

/*
 * The device requests of <linux/vfio.h> with vfio-pci's semantics; the
 * struct is read from arg and written back up to its argsz, never past it.
 *  VFIO_DEVICE_GET_INFO: -EINVAL (argsz below num_irqs); flags PCI|RESET,
 *    9 regions, 5 irqs; cap_offset 0 when argsz covers it.
 *  VFIO_DEVICE_GET_REGION_INFO: -EINVAL (argsz below offset; VGA on a
 *    device without VGA; index >= 9). BARs: size, READ|WRITE, MMAP for
 *    memory BARs of at least a page, MSIX_MAPPABLE capability on the MSI-X
 *    BAR (argsz grows to hold the chain; cap_offset 0 until it does); an
 *    absent BAR has size 0 and flags 0. ROM: size 0 and flags 0 when the
 *    device has none. CONFIG: the config size, READ|WRITE.
 *  VFIO_DEVICE_GET_IRQ_INFO: -EINVAL (argsz below count; index >= 5; ERR
 *    on a conventional PCI device). flags EVENTFD, INTx MASKABLE|AUTOMASKED,
 *    NORESIZE for the others; count from the device (INTx 1 with an
 *    interrupt pin, MSI its vectors, MSI-X its table, ERR 1 on PCIe, REQ 1).
 *  VFIO_DEVICE_SET_IRQS: Linux's validation first (-EINVAL: argsz, index,
 *    start + count beyond the index's count, unknown flags, not exactly one
 *    data type, argsz too small for the data), then per index and action:
 *    -ENOTTY (no handler: MSI mask/unmask, ERR on conventional PCI, mask
 *    with an eventfd), -EINVAL (INTx mask/unmask when INTx is not enabled
 *    or start/count not 0/1; enabling an index while another is enabled;
 *    MSI vectors beyond those enabled; BOOL/NONE loopback of a disabled
 *    index), -EBADF (an eventfd that is not open), -EINVAL (an fd that is
 *    not an eventfd). Eventfds are duplicated: the caller may close its own.
 *  VFIO_DEVICE_RESET: -EINVAL when the device cannot reset; resets the
 *    device's internal state (registers, DMA, interrupt line).
 *  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: -EINVAL (argsz); -ENOSPC with count
 *    set when argsz cannot hold the dependent devices (the device itself:
 *    each emulated device is alone in its slot).
 *  VFIO_DEVICE_PCI_HOT_RESET: -EINVAL (argsz, flags, count 0 or above the
 *    number of dependent devices, argsz short of count fds, an fd that is
 *    not a group, the device's group not among them); -EBADF (fd not open).
 *  Any other request: -ENOTTY. Every request: -EFAULT for a NULL arg, and
 *  for an arg, SET_IRQS data or hot reset fd array the process cannot read
 *  (or a struct it cannot write back to), as copy_from_user/copy_to_user;
 *  SET_IRQS -ENOMEM for data of more than 32 eventfds that cannot be copied.
 */
long svf_vfio_device_ioctl(struct svf_vfio_device *dev, unsigned long request, void *arg);

/*
 * pread(2)/pwrite(2) on the device fd: offset is region index << 40 plus
 * the offset inside the region. Config space is read and written as
 * vfio-pci virtualizes it (aligned pieces of 4, 2 or 1 bytes); BARs in
 * aligned pieces of 8, 4, 2 or 1 bytes through the device's register model
 * (taking effect at once), the count clamped at the end of the BAR.
 * *done receives the bytes transferred. Returns 0; -EINVAL (region index
 * not a region of the device; a BAR or ROM that is absent; offset at or past
 * the end of a BAR; a write to the ROM); -EFAULT (config access past the
 * config size; NULL buf, or a buf the process cannot read (a write) or
 * write (a read), as pread(2)/pwrite(2): the pieces before the fault have
 * taken effect, *done is 0); -EIO (BAR access while memory decoding is off
 * in the command register).
 */
int svf_vfio_device_read(struct svf_vfio_device *dev, void *buf, size_t count, uint64_t offset,
			 size_t *done);
int svf_vfio_device_write(struct svf_vfio_device *dev, const void *buf, size_t count,
			  uint64_t offset, size_t *done);

/*
 * The device's memory as a memfd laid out as vfio-pci's device fd: each
 * mmappable region (REGION_INFO flag MMAP) at its index << 40, as long as
 * the region. mmap it MAP_SHARED at VFIO_PCI_INDEX_TO_OFFSET(bar) to reach
 * the BAR's registers; the fd stays the device's (dup it to keep it past
 * svf_vfio_device_close). *fd receives it. Returns 0.
 */
int svf_vfio_device_memfd(struct svf_vfio_device *dev, int *fd);

/* ---- IOMMU faults ---- */

/* Access types of a fault record, as VT-d's fault record T bit. */
#define SVF_VFIO_FAULT_WRITE 0
#define SVF_VFIO_FAULT_READ  1

struct svf_vfio_fault {
	uint64_t seq;       /* 1, 2, ... in the order the faults happened */
	uint64_t addr;      /* the first faulting DMA address */
	uint16_t rid;       /* requester id of the device */
	uint8_t type;       /* SVF_VFIO_FAULT_READ or _WRITE */
	uint8_t reason;     /* VT-d fault reason (4 beyond the address width, 5 write, 6 read) */
	unsigned unit;      /* IOMMU unit */
	uint64_t time_ns;   /* CLOCK_MONOTONIC when recorded */
	uint16_t segment;   /* PCI segment (domain) of the device */
	uint16_t domain;    /* id of the IOMMU domain the access went through */
	/*
	 * -ENOENT: no translation (or beyond the address width); -EACCES: a
	 * translation without the permission; -EFAULT: pinned memory the
	 * process unmapped behind the library's back.
	 */
	int err;
};

/*
 * Take the oldest faults not read yet: at most max into out, the number
 * through *nr. *lost (may be NULL) receives the faults that could not be
 * recorded for lack of memory since the last call. Returns 0.
 */
int svf_vfio_read_faults(struct svf_vfio *h, struct svf_vfio_fault *out, size_t max,
			 size_t *nr, uint64_t *lost);

/*
 * Render f as the record Linux's intel-iommu driver logs for a DMA
 * remapping fault without PASID (pr_err, "DMAR: " prefix, no newline):
 *   DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0x5000
 *   [fault reason 0x06] PTE Read access is not set
 * (one line; the address is page aligned as the fault recording register
 * holds it). Writes at most len bytes including the terminating NUL and
 * the full length through *n (may be NULL; as snprintf). Returns 0, or
 * -EINVAL for a NULL f or buf with len > 0.
 */
int svf_vfio_fault_format(const struct svf_vfio_fault *f, char *buf, size_t len, size_t *n);

/*
 * Render f as Linux's amd_iommu driver reports an IO_PAGE_FAULT event of
 * a device bound to vfio-pci (pci_err, so the driver and device name come
 * first; no newline):
 *   vfio-pci 0000:00:03.0: AMD-Vi: Event logged [IO_PAGE_FAULT
 *   domain=0x0001 address=0x5008 flags=0x0000]
 * (one line). The address is the faulting one, as the event holds it; flags
 * 0x020 for a write, 0x010|0x040 added for a present translation without
 * the permission (err -EACCES). Same buffer contract and errors as
 * svf_vfio_fault_format.
 */
int svf_vfio_fault_format_amd(const struct svf_vfio_fault *f, char *buf, size_t len, size_t *n);

/* Linux's reason string for a VT-d DMA remapping fault reason code. */
const char *svf_vfio_fault_reason_str(uint8_t reason);

#ifdef __cplusplus
}
#endif
#endif

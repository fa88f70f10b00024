/* SPDX-License-Identifier: MIT */
/*
 * Emulated PCI devices as vfio-pci presents them: the device's identity and
 * BARs, its config space virtualized as vfio-pci virtualizes it, its
 * interrupts (INTx with automask, MSI, ERR, REQ) delivered on the program's
 * eventfds, its DMA through an IOMMU domain, and the doorbell watcher of
 * mmapped BARs. A device model (edu, in pci/edu/) fills in an ops struct;
 * this layer does everything that is PCI rather than device specific.
 *
 * This header is the interface of src/pci/ to the device models below it
 * and to src/vfio/ above it; nothing else includes it.
 *
 * Lifetime: svf_pci_dev_create() when a device is added to the host,
 * svf_pci_dev_open() on its first open (fresh config space, DMA engine on
 * the group's domain, watcher started), svf_pci_dev_close() on the last
 * close (interrupts disabled, watcher stopped, DMA engine destroyed, device
 * reset), svf_pci_dev_destroy() with the host.
 *
 * Locking: pd->lock serializes every config, region and irq access, the
 * model's register state and the watcher's polls. The model's callbacks
 * are called with it held. The DMA path (svf_pci_dma) runs with it held and
 * never takes the container's lock, so no order against it arises.
 */
#ifndef SOFTVFIO_PCI_H
#define SOFTVFIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <softvfio/device.h>
#include <softvfio/vfio.h>

#define SVF_PCI_CFG_SIZE       256u
#define SVF_PCI_CFG_SIZE_PCIE  4096u
#define SVF_PCI_ROM_INDEX      6
#define SVF_PCI_NBARS          6
#define SVF_PCI_MAX_MSI        32u

struct svf_pci_dev;

/* A device model. Every callback runs with pd->lock held. */
struct svf_pci_ops {
	const char *kind;
	/*
	 * Fill pd->desc (ids, class, BARs, pin), pd->model_* and the
	 * capabilities (svf_pci_cfg_* helpers run later, at open, through
	 * init_config). Allocate the model's state in pd->priv. 0 or -errno.
	 */
	int (*create)(struct svf_pci_dev *pd, const struct svf_pci_device_config *cfg);
	void (*destroy)(struct svf_pci_dev *pd);
	/* Add the model's capabilities to a fresh config space (at each first open). */
	void (*init_config)(struct svf_pci_dev *pd);
	/* Power-on state of the registers (at first open and at reset). */
	void (*reset)(struct svf_pci_dev *pd);
	/* One BAR access of size 1, 2, 4 or 8, naturally aligned, inside the BAR. */
	uint64_t (*bar_read)(struct svf_pci_dev *pd, int bar, uint64_t off, unsigned size);
	void (*bar_write)(struct svf_pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t val);
	/*
	 * The watcher: look at the mmapped BAR memory for doorbells and serve
	 * them. Returns true when something was served. May be NULL.
	 */
	bool (*poll)(struct svf_pci_dev *pd);
};

/* Interrupt mode, as vfio-pci's irq_type. */
enum svf_pci_irq_type {
	SVF_PCI_IRQ_NONE = -1,
	SVF_PCI_IRQ_INTX = 0, /* VFIO_PCI_INTX_IRQ_INDEX */
	SVF_PCI_IRQ_MSI = 1,
	SVF_PCI_IRQ_MSIX = 2,
};

/* Where a device's faults go (the host's fault log). */
typedef void (*svf_pci_fault_fn)(void *opaque, const struct svf_vfio_fault *f);

struct svf_pci_dev {
	pthread_mutex_t lock;
	/* immutable after create */
	const struct svf_pci_ops *ops;
	void *priv;                       /* the model's */
	struct svf_vfio_device_desc desc;
	bool is_pcie;
	bool reset_works;
	bool has_vga;
	int msix_bar;                     /* -1: no MSI-X */
	unsigned msix_vectors;
	unsigned msi_vectors;             /* 0: no MSI capability */
	uint8_t msi_cap;                  /* config offset of MSI, set by init_config */
	svf_pci_fault_fn fault_fn;
	void *fault_opaque;
	uint64_t watch_spin_ns, watch_fast_ns, watch_hot_ns, watch_idle_ns;

	/* Memory: memfd laid out as vfio-pci's device fd; the device's own mapping of each BAR. */
	int memfd;
	uint64_t memfd_size;
	uint8_t *bar_mem[SVF_PCI_NBARS];  /* NULL: BAR not mmappable */

	/* Config space (under lock): what the program sees and the bits it may write. */
	uint8_t cfg[SVF_PCI_CFG_SIZE_PCIE];
	uint8_t wmask[SVF_PCI_CFG_SIZE_PCIE];
	uint8_t w1c[SVF_PCI_CFG_SIZE_PCIE];

	/* Interrupts (under lock). Fds are the host's duplicates, -1 when unset. */
	enum svf_pci_irq_type irq_type;
	int intx_fd;
	int intx_unmask_fd;               /* UNMASK by eventfd: polled by the watcher */
	bool intx_masked;                 /* vfio-pci's ctx->masked */
	bool intx_line;                   /* the device asserts INTx */
	bool virq_disabled;               /* the program set INTX_DISABLE in its command register */
	unsigned msi_nvec;                /* vectors enabled through SET_IRQS */
	int msi_fd[SVF_PCI_MAX_MSI];
	int err_fd, req_fd;
	uint64_t irqs_signalled;          /* eventfd writes, for the counters */

	/* DMA (under lock; set while open) */
	struct svf_device *dma;
	struct svf_domain *dom;

	/* watcher thread (started at open when a BAR is mmappable) */
	pthread_t watch_tid;
	bool watch_running;
	pthread_mutex_t watch_lock;       /* protects watch_stop and the kick */
	pthread_cond_t watch_cond;
	bool watch_stop;                  /* also read atomically while spinning */
	bool watch_kicked;                /* activity since the watcher last looked (atomic) */
	uint64_t watch_polls;             /* iterations, for the benchmark (atomic) */
	uint64_t watch_served;            /* doorbells served (atomic) */
};

/* Device models (pci/edu/ ...). NULL for an unknown kind. */
const struct svf_pci_ops *svf_pci_find_model(const char *kind);

/*
 * Create pd for cfg: the model fills in the identity, the memfd is sized
 * and the mmappable BARs mapped. Returns 0; -EINVAL (unknown kind); -ENOMEM;
 * an errno of memfd_create, ftruncate or mmap.
 */
int svf_pci_dev_create(const struct svf_pci_device_config *cfg, const struct svf_vfio_config *hcfg,
		       struct svf_pci_dev **out);
void svf_pci_dev_destroy(struct svf_pci_dev *pd);

/*
 * First open: fresh config space, power-on registers, a DMA engine on dom
 * of c, watcher started. Returns 0, -ENOMEM, -EAGAIN, or
 * svf_device_create's errno. Takes pd->lock.
 */
int svf_pci_dev_open(struct svf_pci_dev *pd, struct svf_container *c, struct svf_domain *dom);
/* Last close: irqs disabled, watcher stopped, DMA engine gone, reset. Never fails. */
void svf_pci_dev_close(struct svf_pci_dev *pd);

/* ---- config space (pci_config.c), pd->lock held ---- */
void svf_pci_cfg_init(struct svf_pci_dev *pd);
/* Add an MSI capability at off (64-bit address, nvec vectors, no per-vector mask). */
void svf_pci_cfg_add_msi(struct svf_pci_dev *pd, uint8_t off, unsigned nvec);
/* vfio-pci's config read/write: 0 or -EFAULT; *done bytes. */
int svf_pci_cfg_rw(struct svf_pci_dev *pd, uint8_t *buf, size_t count, uint64_t pos, bool write,
		   size_t *done);
uint16_t svf_pci_cfg_read16(const struct svf_pci_dev *pd, unsigned off);
/* Whether memory decoding / bus mastering is on in the program's command register. */
bool svf_pci_mem_enabled(const struct svf_pci_dev *pd);
bool svf_pci_master_enabled(const struct svf_pci_dev *pd);

/* ---- BARs (pci_bar.c), pd->lock held ---- */
/* Region read/write of a BAR or the ROM, vfio-pci's rules. 0 or -errno; *done bytes. */
int svf_pci_bar_rw(struct svf_pci_dev *pd, int index, uint8_t *buf, size_t count, uint64_t pos,
		   bool write, size_t *done);
/* Relaxed atomic access to the device's own mapping of a BAR (the model's register file). */
uint32_t svf_pci_mem_ld32(struct svf_pci_dev *pd, int bar, uint64_t off);
uint64_t svf_pci_mem_ld64(struct svf_pci_dev *pd, int bar, uint64_t off);
void svf_pci_mem_st32(struct svf_pci_dev *pd, int bar, uint64_t off, uint32_t v);
void svf_pci_mem_st64(struct svf_pci_dev *pd, int bar, uint64_t off, uint64_t v);
/* Replace old by v unless the program changed it meanwhile. True when replaced. */
bool svf_pci_mem_cas32(struct svf_pci_dev *pd, int bar, uint64_t off, uint32_t old, uint32_t v);
bool svf_pci_mem_cas64(struct svf_pci_dev *pd, int bar, uint64_t off, uint64_t old, uint64_t v);

/* ---- interrupts (pci_irq.c), pd->lock held ---- */
/* vfio-pci's vfio_pci_get_irq_count for index. */
unsigned svf_pci_irq_count(const struct svf_pci_dev *pd, unsigned index);
/* SET_IRQS after the common validation; data holds count items of the data type. */
int svf_pci_set_irqs(struct svf_pci_dev *pd, uint32_t flags, unsigned index, unsigned start,
		     unsigned count, const void *data);
/* The device drives its INTx line (level). */
void svf_pci_intx_set(struct svf_pci_dev *pd, bool level);
/* The device sends MSI vector vec (edge). */
void svf_pci_msi_notify(struct svf_pci_dev *pd, unsigned vec);
/* Whether the device is in MSI mode (vfio enabled MSI for it). */
bool svf_pci_msi_enabled(const struct svf_pci_dev *pd);
/* The program's INTX_DISABLE bit changed. */
void svf_pci_intx_virq(struct svf_pci_dev *pd, bool disabled);
/* Serve an UNMASK eventfd the program signalled (watcher). */
bool svf_pci_poll_unmask(struct svf_pci_dev *pd);
/* Disable every interrupt and release every eventfd (last close). */
void svf_pci_irq_release(struct svf_pci_dev *pd);

/* ---- DMA (pci_dma.c), pd->lock held ---- */
/*
 * One DMA of the device: access SVF_PROT_READ (memory -> buf) or
 * SVF_PROT_WRITE (buf -> memory) at addr through the group's domain.
 * Returns 0; 1 when the IOMMU faulted (recorded with the device's requester
 * id, the bytes before the fault moved); -ENODEV when bus mastering is off
 * or the device has no DMA engine (nothing moves, nothing is recorded).
 */
int svf_pci_dma(struct svf_pci_dev *pd, int access, uint64_t addr, void *buf, uint64_t len);

/* ---- watcher (pci_watch.c) ---- */
int svf_pci_watch_start(struct svf_pci_dev *pd);
void svf_pci_watch_stop(struct svf_pci_dev *pd);
/* Something needs the watcher soon: poll fast for a while (any thread, lock not needed). */
void svf_pci_watch_kick(struct svf_pci_dev *pd);

uint64_t svf_pci_now_ns(void);

#endif

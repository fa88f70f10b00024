/* SPDX-License-Identifier: MIT */
/*
 * An emulated PCI device's life (contract in pci.h): its memory, laid out as
 * vfio-pci's device fd, and what happens at first open and last close.
 *
 * Memory. One memfd holds every mmappable BAR at its region offset
 * (index << 40); the file is sparse, so the offsets cost nothing. The device
 * maps each such BAR once, MAP_SHARED, and uses that mapping as its
 * register file: a program's mapping of the same file offsets sees the same
 * pages, which is how stores through a program's BAR mapping reach the
 * device (the watcher notices them) and how the device's register values
 * reach the program's loads.
 *
 * Open and close follow vfio-pci: the config space is built afresh at each
 * first open (vfio_config_init at enable), and the last close disables the
 * interrupts, stops DMA and resets the device.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"

#include "pci.h"

extern const struct svf_pci_ops svf_edu_ops;
extern const struct svf_pci_ops svf_ioat_ops;

static const struct svf_pci_ops *const models[] = { &svf_edu_ops, &svf_ioat_ops };

const struct svf_pci_ops *svf_pci_find_model(const char *kind)
{
	if (!kind)
		return NULL;
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (!strcmp(models[i]->kind, kind))
			return models[i];
	return NULL;
}

uint64_t svf_pci_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool bar_mmappable(const struct svf_pci_dev *pd, int bar)
{
	/* vfio-pci maps memory BARs whose size is at least a page. */
	return pd->desc.bar_size[bar] >= 4096 &&
	       !(pd->desc.bar_flags[bar] & 0x1 /* PCI_BASE_ADDRESS_SPACE_IO */);
}

static int map_memory(struct svf_pci_dev *pd)
{
	uint64_t end = 0;
	int rc;

	for (int b = 0; b < SVF_PCI_NBARS; b++)
		if (bar_mmappable(pd, b))
			end = VFIO_PCI_INDEX_TO_OFFSET(b) + pd->desc.bar_size[b];
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -EMFILE;
	pd->memfd = memfd_create("softvfio-device", MFD_CLOEXEC);
	if (pd->memfd < 0)
		return -errno;
	if (ftruncate(pd->memfd, (off_t)end)) {
		rc = -errno;
		goto err;
	}
	pd->memfd_size = end;
	for (int b = 0; b < SVF_PCI_NBARS; b++) {
		void *p;

		if (!bar_mmappable(pd, b))
			continue;
		p = mmap(NULL, pd->desc.bar_size[b], PROT_READ | PROT_WRITE, MAP_SHARED, pd->memfd,
			 (off_t)VFIO_PCI_INDEX_TO_OFFSET(b));
		if (p == MAP_FAILED) {
			rc = -errno;
			goto err;
		}
		pd->bar_mem[b] = p;
	}
	return 0;
err:
	for (int b = 0; b < SVF_PCI_NBARS; b++)
		if (pd->bar_mem[b])
			munmap(pd->bar_mem[b], pd->desc.bar_size[b]);
	close(pd->memfd);
	pd->memfd = -1;
	return rc;
}

int svf_pci_dev_create(const struct svf_pci_device_config *cfg, const struct svf_vfio_config *hcfg,
		       struct svf_pci_dev **out)
{
	const struct svf_pci_ops *ops = svf_pci_find_model(cfg->kind);
	struct svf_pci_dev *pd;
	int rc;

	*out = NULL;
	if (!ops)
		return -EINVAL;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return -ENOMEM;
	pthread_mutex_init(&pd->lock, NULL);
	pthread_mutex_init(&pd->watch_lock, NULL);
	pthread_cond_init(&pd->watch_cond, NULL);
	pd->ops = ops;
	pd->memfd = -1;
	pd->msix_bar = -1;
	pd->irq_type = SVF_PCI_IRQ_NONE;
	pd->intx_fd = pd->intx_unmask_fd = pd->err_fd = pd->req_fd = -1;
	for (unsigned i = 0; i < SVF_PCI_MAX_MSI; i++)
		pd->msi_fd[i] = -1;
	pd->desc.kind = ops->kind;
	pd->desc.config_size = SVF_PCI_CFG_SIZE;
	pd->watch_spin_ns = hcfg->watch_spin_ns;
	pd->watch_fast_ns = hcfg->watch_fast_ns;
	pd->watch_hot_ns = hcfg->watch_hot_ns;
	pd->watch_idle_ns = hcfg->watch_idle_ns;
	rc = ops->create(pd, cfg);
	if (rc)
		goto err_free;
	if (pd->is_pcie)
		pd->desc.config_size = SVF_PCI_CFG_SIZE_PCIE;
	rc = map_memory(pd);
	if (rc)
		goto err_model;
	*out = pd;
	return 0;

err_model:
	ops->destroy(pd);
err_free:
	pthread_cond_destroy(&pd->watch_cond);
	pthread_mutex_destroy(&pd->watch_lock);
	pthread_mutex_destroy(&pd->lock);
	free(pd);
	return rc;
}

void svf_pci_dev_destroy(struct svf_pci_dev *pd)
{
	if (!pd)
		return;
	pd->ops->destroy(pd);
	for (int b = 0; b < SVF_PCI_NBARS; b++)
		if (pd->bar_mem[b])
			munmap(pd->bar_mem[b], pd->desc.bar_size[b]);
	if (pd->memfd >= 0)
		close(pd->memfd);
	pthread_cond_destroy(&pd->watch_cond);
	pthread_mutex_destroy(&pd->watch_lock);
	pthread_mutex_destroy(&pd->lock);
	free(pd);
}

int svf_pci_dev_open(struct svf_pci_dev *pd, struct svf_container *c, struct svf_domain *dom)
{
	struct svf_device_config dc = { .threads = 1, .queue_depth = 1, .domain = dom };
	struct svf_device *dma;
	int rc;

	rc = svf_device_create(c, &dc, &dma);
	if (rc)
		return rc;
	pthread_mutex_lock(&pd->lock);
	pd->dma = dma;
	pd->dom = dom;
	svf_pci_cfg_init(pd);
	pd->ops->init_config(pd);
	pd->ops->reset(pd);
	pthread_mutex_unlock(&pd->lock);
	rc = svf_pci_watch_start(pd);
	if (rc) {
		pthread_mutex_lock(&pd->lock);
		pd->dma = NULL;
		pd->dom = NULL;
		pthread_mutex_unlock(&pd->lock);
		svf_device_destroy(dma);
	}
	return rc;
}

void svf_pci_dev_close(struct svf_pci_dev *pd)
{
	struct svf_device *dma;

	svf_pci_watch_stop(pd);
	pthread_mutex_lock(&pd->lock);
	svf_pci_irq_release(pd);
	dma = pd->dma;
	pd->dma = NULL;
	pd->dom = NULL;
	pd->ops->reset(pd);
	pd->intx_line = false;
	pthread_mutex_unlock(&pd->lock);
	svf_device_destroy(dma);
}

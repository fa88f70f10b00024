/* SPDX-License-Identifier: MIT */
/*
 * Config space, virtualized as vfio-pci virtualizes it (contract in pci.h).
 *
 * The program sees pd->cfg. Each byte has a write mask (pd->wmask: the bits
 * a write changes) and a write-1-to-clear mask (pd->w1c: status error
 * bits); everything else is read-only. That one rule gives vfio-pci's
 * visible behaviour:
 *  - BAR and ROM sizing: a BAR's mask holds only the address bits above
 *    its size, so writing all-ones reads back the size mask with the BAR's
 *    type bits; an absent BAR or ROM has mask 0 and reads 0;
 *  - the command register: I/O, memory, bus master, parity, SERR and
 *    INTx-disable bits are writable; memory decoding gates BAR accesses,
 *    bus mastering gates the device's DMA, INTx-disable masks INTx (as
 *    vfio-pci's virq_disabled);
 *  - the capability list is read-only; in MSI the enable bit and the queue
 *    size are writable (the size clamped to what SET_IRQS enabled, as
 *    vfio-pci clamps it to msi_qmax), but interrupts take effect only
 *    through VFIO_DEVICE_SET_IRQS;
 *  - the status register's interrupt bit shows the device's INTx line.
 * Accesses are cut into aligned pieces of 4, 2 or 1 bytes as vfio-pci's
 * config loop does; an access that does not fit in the config size fails
 * whole with -EFAULT.
 */
#include <errno.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "pci.h"

static void put16(uint8_t *p, unsigned off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, unsigned off, uint32_t v)
{
	put16(p, off, (uint16_t)v);
	put16(p, off + 2, (uint16_t)(v >> 16));
}

uint16_t svf_pci_cfg_read16(const struct svf_pci_dev *pd, unsigned off)
{
	return (uint16_t)(pd->cfg[off] | pd->cfg[off + 1] << 8);
}

bool svf_pci_mem_enabled(const struct svf_pci_dev *pd)
{
	return svf_pci_cfg_read16(pd, PCI_COMMAND) & PCI_COMMAND_MEMORY;
}

bool svf_pci_master_enabled(const struct svf_pci_dev *pd)
{
	return svf_pci_cfg_read16(pd, PCI_COMMAND) & PCI_COMMAND_MASTER;
}

static void init_bar(struct svf_pci_dev *pd, int bar)
{
	uint64_t size = pd->desc.bar_size[bar];
	uint32_t flags = pd->desc.bar_flags[bar];
	unsigned off = PCI_BASE_ADDRESS_0 + 4u * (unsigned)bar;
	uint64_t mask;

	if (!size)
		return;
	mask = ~(size - 1);
	put32(pd->cfg, off, flags);
	if (flags & PCI_BASE_ADDRESS_SPACE_IO) {
		put32(pd->wmask, off, (uint32_t)mask & PCI_BASE_ADDRESS_IO_MASK);
		return;
	}
	put32(pd->wmask, off, (uint32_t)mask & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK);
	if (flags & PCI_BASE_ADDRESS_MEM_TYPE_64)
		put32(pd->wmask, off + 4, (uint32_t)(mask >> 32));
}

void svf_pci_cfg_init(struct svf_pci_dev *pd)
{
	const struct svf_vfio_device_desc *d = &pd->desc;

	memset(pd->cfg, 0, sizeof(pd->cfg));
	memset(pd->wmask, 0, sizeof(pd->wmask));
	memset(pd->w1c, 0, sizeof(pd->w1c));
	put16(pd->cfg, PCI_VENDOR_ID, d->vendor);
	put16(pd->cfg, PCI_DEVICE_ID, d->device);
	put16(pd->wmask, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
				      PCI_COMMAND_PARITY | PCI_COMMAND_SERR |
				      PCI_COMMAND_INTX_DISABLE);
	put16(pd->w1c, PCI_STATUS, PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |
				   PCI_STATUS_REC_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT |
				   PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY);
	pd->cfg[PCI_REVISION_ID] = d->revision;
	pd->cfg[PCI_CLASS_PROG] = (uint8_t)d->class_code;
	put16(pd->cfg, PCI_CLASS_DEVICE, (uint16_t)(d->class_code >> 8));
	pd->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	pd->wmask[PCI_LATENCY_TIMER] = 0xff;
	pd->cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	for (int b = 0; b < SVF_PCI_NBARS; b++)
		init_bar(pd, b);
	put16(pd->cfg, PCI_SUBSYSTEM_VENDOR_ID, d->subsystem_vendor);
	put16(pd->cfg, PCI_SUBSYSTEM_ID, d->subsystem_device);
	if (d->bar_size[SVF_PCI_ROM_INDEX])
		put32(pd->wmask, PCI_ROM_ADDRESS,
		      ((uint32_t)~(d->bar_size[SVF_PCI_ROM_INDEX] - 1) & PCI_ROM_ADDRESS_MASK) |
			      PCI_ROM_ADDRESS_ENABLE);
	pd->wmask[PCI_INTERRUPT_LINE] = 0xff;
	pd->cfg[PCI_INTERRUPT_PIN] = d->irq_pin;
	pd->msi_cap = 0;
}

/* Link a capability at off into the list (appended at the end). */
static void link_cap(struct svf_pci_dev *pd, uint8_t off, uint8_t id)
{
	unsigned at = PCI_CAPABILITY_LIST;

	while (pd->cfg[at])
		at = pd->cfg[at] + PCI_CAP_LIST_NEXT;
	pd->cfg[at] = off;
	pd->cfg[off] = id;
	pd->cfg[off + PCI_CAP_LIST_NEXT] = 0;
	put16(pd->cfg, PCI_STATUS, svf_pci_cfg_read16(pd, PCI_STATUS) | PCI_STATUS_CAP_LIST);
}

void svf_pci_cfg_add_msi(struct svf_pci_dev *pd, uint8_t off, unsigned nvec)
{
	unsigned log2 = 0;

	while ((1u << log2) < nvec)
		log2++;
	link_cap(pd, off, PCI_CAP_ID_MSI);
	put16(pd->cfg, off + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT | (uint16_t)(log2 << 1));
	put16(pd->wmask, off + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
	put32(pd->wmask, off + PCI_MSI_ADDRESS_LO, 0xfffffffcu);
	put32(pd->wmask, off + PCI_MSI_ADDRESS_HI, 0xffffffffu);
	put16(pd->wmask, off + PCI_MSI_DATA_64, 0xffff);
	pd->msi_cap = off;
	pd->msi_vectors = nvec;
}

/* Linux's msi_qmax: the queue size exponent SET_IRQS enabled (0 before). */
static unsigned msi_qmax(const struct svf_pci_dev *pd)
{
	unsigned q = 0;

	if (pd->irq_type != SVF_PCI_IRQ_MSI)
		return 0;
	while ((1u << q) < pd->msi_nvec)
		q++;
	return q;
}

static void write_bytes(struct svf_pci_dev *pd, unsigned pos, const uint8_t *v, unsigned n)
{
	uint16_t cmd0 = svf_pci_cfg_read16(pd, PCI_COMMAND), cmd1;

	for (unsigned i = 0; i < n; i++) {
		unsigned at = pos + i;
		uint8_t b = pd->cfg[at];

		b = (uint8_t)((b & ~pd->wmask[at]) | (v[i] & pd->wmask[at]));
		b = (uint8_t)(b & ~(v[i] & pd->w1c[at]));
		pd->cfg[at] = b;
	}
	if (pd->msi_cap && pos <= pd->msi_cap + PCI_MSI_FLAGS + 1u &&
	    pos + n > (unsigned)pd->msi_cap + PCI_MSI_FLAGS) {
		uint16_t fl = svf_pci_cfg_read16(pd, pd->msi_cap + PCI_MSI_FLAGS);

		if ((unsigned)((fl & PCI_MSI_FLAGS_QSIZE) >> 4) > msi_qmax(pd)) {
			fl = (uint16_t)((fl & ~PCI_MSI_FLAGS_QSIZE) | (msi_qmax(pd) << 4));
			put16(pd->cfg, pd->msi_cap + PCI_MSI_FLAGS, fl);
		}
	}
	cmd1 = svf_pci_cfg_read16(pd, PCI_COMMAND);
	if ((cmd0 ^ cmd1) & PCI_COMMAND_INTX_DISABLE)
		svf_pci_intx_virq(pd, cmd1 & PCI_COMMAND_INTX_DISABLE);
}

int svf_pci_cfg_rw(struct svf_pci_dev *pd, uint8_t *buf, size_t count, uint64_t pos, bool write,
		   size_t *done)
{
	size_t n = 0;

	*done = 0;
	if (pos >= pd->desc.config_size || count > pd->desc.config_size - pos)
		return -EFAULT;
	while (n < count) {
		size_t left = count - n;
		unsigned at = (unsigned)(pos + n);
		unsigned sz = (left >= 4 && !(at % 4)) ? 4 : (left >= 2 && !(at % 2)) ? 2 : 1;

		if (write)
			write_bytes(pd, at, buf + n, sz);
		else
			memcpy(buf + n, pd->cfg + at, sz);
		n += sz;
	}
	*done = n;
	return 0;
}

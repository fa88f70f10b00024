/* SPDX-License-Identifier: MIT */
/*
 * QEMU's edu device (its docs/specs/edu.rst and hw/misc/edu.c are the
 * reference), register for register, behind the emulated IOMMU.
 *
 * Identity: 1234:11e8 revision 0x10, class word 0x00ff (QEMU's
 * pci_config_set_class(PCI_CLASS_OTHERS): base class 0x00, subclass 0xff), subsystem
 * 1af4:1100 as QEMU gives its devices, conventional PCI, interrupt pin A,
 * one MSI vector with 64-bit address at 0x40, BAR0 1 MiB of 32-bit MMIO.
 *
 * Registers (BAR0): 0x00 id 0x010000ed; 0x04 liveness (reads back the
 * inverse of what was written); 0x08 factorial (writing n starts n!, the
 * result replaces it; ignored while computing); 0x20 status (0x01 computing,
 * read-only; 0x80 raise interrupt 0x001 when a factorial completes); 0x24
 * interrupt status; 0x60 raise (ORed into the status); 0x64 acknowledge
 * (cleared from it); 0x80/0x88/0x90 DMA source, destination, count (8
 * bytes each, ignored while a DMA runs); 0x98 DMA command (0x1 start, 0x2
 * direction: 0 RAM -> edu, 1 edu -> RAM, 0x4 raise interrupt 0x100 when
 * done; a write without 0x1 is ignored). Below 0x80 only 4-byte accesses
 * count, from 0x80 on 4 or 8; other sizes and unknown offsets read all-ones
 * and ignore writes. The DMA buffer is 4 KiB at device address 0x40000;
 * addresses on the bus are ANDed with dma_mask (default 28 bits). An
 * interrupt goes out as MSI while vfio has MSI enabled, else on INTx (level:
 * held while the interrupt status is non-zero).
 *
 * Where this differs from QEMU, and why:
 *  - A factorial and a DMA complete at once when started through a region
 *    write (QEMU uses a thread and a 100 ms timer): region accesses take
 *    effect at once, and a program that polls the status bits as edu.rst
 *    asks sees the same results.
 *  - A transfer whose edu-side range leaves the 4 KiB buffer is not done
 *    (QEMU only logs it and then overruns its buffer); the command still
 *    completes and interrupts.
 *  - A transfer the IOMMU faults moves the bytes before the fault and
 *    completes as QEMU's edu completes it (it ignores the bus error).
 *  - Through a mapping of BAR0 the registers are plain memory the device
 *    also uses as its register file: writes to 0x04, 0x08, 0x20, 0x60,
 *    0x64 and 0x98 are noticed by the watcher (pci_watch.c) as changes
 *    from the value the device last stored (so writing the value a
 *    register already holds is not seen: raise and acknowledge hold
 *    all-ones, writing all-ones to them does nothing), and a program that
 *    stores through the mapping must poll for results, as edu.rst says a
 *    driver must anyway.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "fault.h"

#include "pci.h"

#define EDU_ID          0x00
#define EDU_LIVE        0x04
#define EDU_FACT        0x08
#define EDU_STATUS      0x20
#define EDU_IRQ_STATUS  0x24
#define EDU_IRQ_RAISE   0x60
#define EDU_IRQ_ACK     0x64
#define EDU_DMA_SRC     0x80
#define EDU_DMA_DST     0x88
#define EDU_DMA_CNT     0x90
#define EDU_DMA_CMD     0x98

#define EDU_ID_VALUE          0x010000edu
#define EDU_STATUS_COMPUTING  0x01u
#define EDU_STATUS_IRQFACT    0x80u
#define EDU_FACT_IRQ          0x001u
#define EDU_DMA_IRQ           0x100u
#define EDU_DMA_RUN           0x1u
#define EDU_DMA_DIR_TO_PCI    0x2u
#define EDU_DMA_IRQ_BIT       0x4u
#define EDU_DMA_START         0x40000u
#define EDU_DMA_SIZE          4096u
#define EDU_BAR_SIZE          (1u << 20)
#define EDU_DEFAULT_DMA_MASK  ((1ull << 28) - 1)

struct edu {
	uint64_t dma_mask;                 /* immutable */
	uint8_t dma_buf[EDU_DMA_SIZE];
	/* What the device last stored in the registers the program may overwrite. */
	uint32_t sh_live, sh_fact, sh_status, sh_irq;
	uint64_t dmas, dma_faults;         /* counters */
};

static struct edu *edu_of(struct svf_pci_dev *pd)
{
	return pd->priv;
}

static uint32_t ld32(struct svf_pci_dev *pd, uint64_t off)
{
	return svf_pci_mem_ld32(pd, 0, off);
}

static void set_status(struct svf_pci_dev *pd, uint32_t v)
{
	edu_of(pd)->sh_status = v;
	svf_pci_mem_st32(pd, 0, EDU_STATUS, v);
}

static void set_irq_status(struct svf_pci_dev *pd, uint32_t v)
{
	edu_of(pd)->sh_irq = v;
	svf_pci_mem_st32(pd, 0, EDU_IRQ_STATUS, v);
}

static void raise_irq(struct svf_pci_dev *pd, uint32_t val)
{
	uint32_t st = edu_of(pd)->sh_irq | val;

	set_irq_status(pd, st);
	if (!st)
		return;
	if (svf_pci_msi_enabled(pd))
		svf_pci_msi_notify(pd, 0);
	else
		svf_pci_intx_set(pd, true);
}

static void lower_irq(struct svf_pci_dev *pd, uint32_t val)
{
	uint32_t st = edu_of(pd)->sh_irq & ~val;

	set_irq_status(pd, st);
	if (!st && !svf_pci_msi_enabled(pd))
		svf_pci_intx_set(pd, false);
}

static void write_live(struct svf_pci_dev *pd, uint32_t val)
{
	edu_of(pd)->sh_live = ~val;
	svf_pci_mem_st32(pd, 0, EDU_LIVE, ~val);
}

static void write_status(struct svf_pci_dev *pd, uint32_t val)
{
	uint32_t st = edu_of(pd)->sh_status & EDU_STATUS_COMPUTING;

	set_status(pd, st | (val & EDU_STATUS_IRQFACT));
}

static void write_fact(struct svf_pci_dev *pd, uint32_t n)
{
	uint32_t r = 1;

	if (edu_of(pd)->sh_status & EDU_STATUS_COMPUTING)
		return;
	while (n > 0)
		r *= n--;
	edu_of(pd)->sh_fact = r;
	svf_pci_mem_st32(pd, 0, EDU_FACT, r);
	if (edu_of(pd)->sh_status & EDU_STATUS_IRQFACT)
		raise_irq(pd, EDU_FACT_IRQ);
}

/* Whether [start, start + size) lies in the DMA buffer (edu_check_range, without overflow). */
static bool in_buffer(uint64_t start, uint64_t size)
{
	return start >= EDU_DMA_START && size <= EDU_DMA_SIZE &&
	       start - EDU_DMA_START <= EDU_DMA_SIZE - size;
}

static void run_dma(struct svf_pci_dev *pd)
{
	struct edu *e = edu_of(pd);
	uint64_t cmd = svf_pci_mem_ld64(pd, 0, EDU_DMA_CMD);
	uint64_t src = svf_pci_mem_ld64(pd, 0, EDU_DMA_SRC);
	uint64_t dst = svf_pci_mem_ld64(pd, 0, EDU_DMA_DST);
	uint64_t cnt = svf_pci_mem_ld64(pd, 0, EDU_DMA_CNT);
	int rc = 0;

	if (!(cmd & EDU_DMA_RUN))
		return;
	if (!(cmd & EDU_DMA_DIR_TO_PCI)) {
		if (in_buffer(dst, cnt))
			rc = svf_pci_dma(pd, SVF_PROT_READ, src & e->dma_mask,
					 e->dma_buf + (dst - EDU_DMA_START), cnt);
	} else {
		if (in_buffer(src, cnt))
			rc = svf_pci_dma(pd, SVF_PROT_WRITE, dst & e->dma_mask,
					 e->dma_buf + (src - EDU_DMA_START), cnt);
	}
	e->dmas++;
	if (rc == 1)
		e->dma_faults++;
	cmd &= ~(uint64_t)EDU_DMA_RUN;
	svf_pci_mem_st64(pd, 0, EDU_DMA_CMD, cmd);
	if (cmd & EDU_DMA_IRQ_BIT)
		raise_irq(pd, EDU_DMA_IRQ);
}

static bool size_ok(uint64_t off, unsigned size)
{
	return off < 0x80 ? size == 4 : (size == 4 || size == 8);
}

static uint64_t edu_bar_read(struct svf_pci_dev *pd, int bar, uint64_t off, unsigned size)
{
	if (bar != 0 || !size_ok(off, size))
		return ~0ull;
	switch (off) {
	case EDU_ID:
	case EDU_LIVE:
	case EDU_FACT:
	case EDU_STATUS:
	case EDU_IRQ_STATUS:
		return ld32(pd, off);
	case EDU_DMA_SRC:
	case EDU_DMA_DST:
	case EDU_DMA_CNT:
	case EDU_DMA_CMD: {
		uint64_t v = svf_pci_mem_ld64(pd, 0, off);

		return size == 4 ? (uint32_t)v : v;
	}
	default:
		return ~0ull;
	}
}

static void edu_bar_write(struct svf_pci_dev *pd, int bar, uint64_t off, unsigned size,
			  uint64_t val)
{
	if (size == 4)
		val = (uint32_t)val;
	if (bar != 0 || !size_ok(off, size))
		return;
	switch (off) {
	case EDU_LIVE:
		write_live(pd, (uint32_t)val);
		break;
	case EDU_FACT:
		write_fact(pd, (uint32_t)val);
		break;
	case EDU_STATUS:
		write_status(pd, (uint32_t)val);
		break;
	case EDU_IRQ_RAISE:
		raise_irq(pd, (uint32_t)val);
		break;
	case EDU_IRQ_ACK:
		lower_irq(pd, (uint32_t)val);
		break;
	case EDU_DMA_SRC:
	case EDU_DMA_DST:
	case EDU_DMA_CNT:
		if (!(svf_pci_mem_ld64(pd, 0, EDU_DMA_CMD) & EDU_DMA_RUN))
			svf_pci_mem_st64(pd, 0, off, val);
		break;
	case EDU_DMA_CMD:
		if (!(val & EDU_DMA_RUN) || (svf_pci_mem_ld64(pd, 0, EDU_DMA_CMD) & EDU_DMA_RUN))
			break;
		svf_pci_mem_st64(pd, 0, EDU_DMA_CMD, val);
		run_dma(pd);
		break;
	default:
		break;
	}
}

/* The watcher: registers the program changed through its mapping. */
static bool edu_poll(struct svf_pci_dev *pd)
{
	struct edu *e = edu_of(pd);
	bool served = false;
	uint32_t v;

	v = ld32(pd, EDU_LIVE);
	if (v != e->sh_live && svf_pci_mem_cas32(pd, 0, EDU_LIVE, v, ~v)) {
		e->sh_live = ~v;
		served = true;
	}
	v = ld32(pd, EDU_STATUS);
	if (v != e->sh_status) {
		write_status(pd, v);
		served = true;
	}
	v = ld32(pd, EDU_FACT);
	if (v != e->sh_fact) {
		write_fact(pd, v);
		served = true;
	}
	v = ld32(pd, EDU_IRQ_RAISE);
	if (v != ~0u && svf_pci_mem_cas32(pd, 0, EDU_IRQ_RAISE, v, ~0u)) {
		raise_irq(pd, v);
		served = true;
	}
	v = ld32(pd, EDU_IRQ_ACK);
	if (v != ~0u && svf_pci_mem_cas32(pd, 0, EDU_IRQ_ACK, v, ~0u)) {
		lower_irq(pd, v);
		served = true;
	}
	/* Read-only registers a program wrote come back. */
	if (ld32(pd, EDU_ID) != EDU_ID_VALUE)
		svf_pci_mem_st32(pd, 0, EDU_ID, EDU_ID_VALUE);
	if (ld32(pd, EDU_IRQ_STATUS) != e->sh_irq)
		svf_pci_mem_st32(pd, 0, EDU_IRQ_STATUS, e->sh_irq);
	if (svf_pci_mem_ld64(pd, 0, EDU_DMA_CMD) & EDU_DMA_RUN) {
		run_dma(pd);
		served = true;
	}
	return served;
}

static void edu_reset(struct svf_pci_dev *pd)
{
	struct edu *e = edu_of(pd);

	memset(pd->bar_mem[0], 0xff, EDU_BAR_SIZE);
	svf_pci_mem_st32(pd, 0, EDU_ID, EDU_ID_VALUE);
	e->sh_live = 0;
	svf_pci_mem_st32(pd, 0, EDU_LIVE, 0);
	e->sh_fact = 0;
	svf_pci_mem_st32(pd, 0, EDU_FACT, 0);
	set_status(pd, 0);
	set_irq_status(pd, 0);
	for (uint64_t off = EDU_DMA_SRC; off <= EDU_DMA_CMD; off += 8)
		svf_pci_mem_st64(pd, 0, off, 0);
	memset(e->dma_buf, 0, sizeof(e->dma_buf));
	svf_pci_intx_set(pd, false);
}

static void edu_init_config(struct svf_pci_dev *pd)
{
	svf_pci_cfg_add_msi(pd, 0x40, 1);
}

static int edu_create(struct svf_pci_dev *pd, const struct svf_pci_device_config *cfg)
{
	struct edu *e;

	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->dma_mask = cfg->dma_mask ? cfg->dma_mask : EDU_DEFAULT_DMA_MASK;
	pd->priv = e;
	pd->desc.vendor = 0x1234;
	pd->desc.device = 0x11e8;
	pd->desc.subsystem_vendor = 0x1af4;
	pd->desc.subsystem_device = 0x1100;
	pd->desc.class_code = 0x00ff00;
	pd->desc.revision = 0x10;
	pd->desc.irq_pin = 1;
	pd->desc.bar_size[0] = EDU_BAR_SIZE;
	pd->desc.bar_flags[0] = PCI_BASE_ADDRESS_SPACE_MEMORY | PCI_BASE_ADDRESS_MEM_TYPE_32;
	pd->reset_works = true;
	return 0;
}

static void edu_destroy(struct svf_pci_dev *pd)
{
	free(pd->priv);
	pd->priv = NULL;
}

const struct svf_pci_ops svf_edu_ops = {
	.kind = SVF_PCI_KIND_EDU,
	.create = edu_create,
	.destroy = edu_destroy,
	.init_config = edu_init_config,
	.reset = edu_reset,
	.bar_read = edu_bar_read,
	.bar_write = edu_bar_write,
	.poll = edu_poll,
};

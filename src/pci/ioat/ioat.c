/* SPDX-License-Identifier: MIT */
/*
 * An Intel I/OAT (QuickData, "CBDMA") DMA engine of version 3.4 with one
 * channel, register for register as DPDK's ioat dmadev driver programs it
 * (DPDK's drivers/dma/ioat/ and Linux's drivers/dma/ioat/ are the
 * references for the layout and the bits).
 *
 * Identity: 8086:2021 (the Skylake CBDMA), class 0x088000 (system
 * peripheral, other), revision 0, subsystem 8086:0000, conventional PCI,
 * interrupt pin A, one MSI vector at 0x40, BAR0 16 KiB of 64-bit MMIO.
 *
 * Registers (BAR0): 0x00 CHANCNT (1), 0x01 XFERCAP (20: 1 MiB per
 * descriptor), 0x02 GENCTRL, 0x03 INTRCTRL, 0x04 ATTNSTATUS, 0x08 CBVER
 * (0x34), 0x0c INTRDELAY, 0x0e CSSTATUS, 0x10 DMACAPABILITY (page break and
 * block fill); channel 0 at 0x80: CHANCTRL (16 bits), 0x84 CHANCMD (8 bits:
 * 0x20 reset, cleared by the device when done; 0x04 suspend), 0x86 DMACOUNT
 * (16 bits: descriptors appended since the last reset, the doorbell), 0x88
 * CHANSTS (64 bits: address of the last completed descriptor in 63:6,
 * state in 2:0: 0 active, 1 idle, 2 suspended, 3 halted, 4 armed), 0x90
 * CHAINADDR, 0x98 CHANCMP (address the completion word is written to),
 * 0xa8 CHANERR (write 1 to clear), 0xac CHANERRMSK. Read-only registers
 * ignore writes; any size of 1, 2, 4 or 8 bytes, naturally aligned, reaches
 * the bytes it covers; other offsets read 0.
 *
 * Descriptors are 64 bytes read by IOVA through the IOMMU: size (32 bits),
 * control (bit 0 interrupt, 3 completion update, 4 fence, 5 null, op in
 * 31:24: 0x00 copy, 0x01 fill), source address (fill: the 64-bit pattern),
 * destination, next. After a reset the first doorbell starts the chain at
 * CHAINADDR; each descriptor's next gives the one after it. A descriptor
 * with completion update writes the completion word (its own address | the
 * channel state) at CHANCMP through the IOMMU.
 *
 * Errors halt the channel and set CHANERR: bit 0 the source of a copy does
 * not translate, bit 1 the destination, bit 8 the descriptor cannot be read,
 * bit 10 a size of 0 or above XFERCAP, bit 3 an unknown op, bit 12 the
 * completion address does not translate. With CHANCTRL's error completion
 * bit (0x04) the completion word is written with the halted state and the
 * address of the last descriptor that completed. The IOMMU records the
 * fault (with the requester id) as for any device access. A halted
 * channel ignores doorbells until a reset.
 *
 * Work is done in order, one descriptor at a time, so a fence (the
 * descriptor completes before the next starts) always holds.
 *
 * Where this differs from the hardware, and why:
 *  - Through a mapping of BAR0 the registers are plain memory that the
 *    device also uses as its register file: the watcher (pci_watch.c)
 *    notices a reset or suspend in CHANCMD and a DMACOUNT that differs from
 *    the device's count, and puts back read-only registers a program
 *    overwrote. A store to CHANERR through the mapping clears the bits it
 *    sets only when it changes the word, so the reset clears CHANERR too
 *    (a driver clears it before resetting anyway).
 *  - CHANSTS shows the state a driver will wait for next, because a driver
 *    waits for it only a few hundred pause instructions (DPDK's does), and
 *    a watcher that must first notice the command through the mapping
 *    cannot be relied on within that time on a loaded machine. So when the
 *    channel halts, CHANSTS reads "armed" (4, no address) at once, while
 *    the completion word and CHANERR report the halt: the driver's
 *    recovery (reset, new CHAINADDR, wait for armed) finds it ready; the
 *    device still ignores doorbells until it sees the reset. And an idle
 *    channel reads "suspended" (2, with the address): in this model the
 *    two behave alike (the next doorbell goes on from the next
 *    descriptor), and a driver stopping the channel then finds it
 *    suspended at once (DPDK resets a channel that is not active or idle;
 *    the reset is served when the watcher sees it). The completion word
 *    carries the real state (1 when idle).
 *  - A halt makes DMACOUNT 0 (the counts of the chain that ended are
 *    void), and a reset makes it 0 unless the program stored a new count
 *    since the last one the device saw (the store and the reset cannot be
 *    ordered otherwise when both arrive through the mapping).
 *  - Suspend is honoured between descriptors; a doorbell resumes.
 *  - Interrupts, DCA, XOR and P+Q descriptors are not emulated.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "fault.h"

#include "pci.h"

#define IOAT_CHANCNT     0x00
#define IOAT_XFERCAP     0x01
#define IOAT_CBVER       0x08
#define IOAT_DMACAP      0x10
#define IOAT_CHANCTRL    0x80
#define IOAT_CHANCMD     0x84
#define IOAT_DMACOUNT    0x86
#define IOAT_CHANSTS     0x88
#define IOAT_CHAINADDR   0x90
#define IOAT_CHANCMP     0x98
#define IOAT_CHANERR     0xa8
#define IOAT_CHANERRMSK  0xac
#define IOAT_REGS_END    0xb0

#define IOAT_VERSION     0x34
#define IOAT_XFERCAP_LOG 20
#define IOAT_MAX_LEN     (1u << IOAT_XFERCAP_LOG)
#define IOAT_DMACAP_VAL  ((1u << 0) | (1u << 6)) /* page break, block fill */
#define IOAT_BAR_SIZE    (16u << 10)

#define CMD_RESET        0x20u
#define CMD_SUSPEND      0x04u
#define CTRL_ERR_COMPL   0x0004u

#define ST_ACTIVE        0u
#define ST_IDLE          1u
#define ST_SUSPENDED     2u
#define ST_HALTED        3u
#define ST_ARMED         4u

#define ERR_SRC          (1u << 0)
#define ERR_DST          (1u << 1)
#define ERR_DESC_CTRL    (1u << 3)
#define ERR_DESC_READ    (1u << 8)
#define ERR_LENGTH       (1u << 10)
#define ERR_COMPL_ADDR   (1u << 12)

#define DC_COMPL_UPDATE  (1u << 3)
#define DC_NULL          (1u << 5)
#define OP_COPY          0x00u
#define OP_FILL          0x01u

#define DESC_SIZE        64u
#define IOAT_SPIN_NS     20000000ull /* the watcher spins 20 ms after a doorbell */
#define CHUNK            (64u << 10)
/* Descriptors served per call, so a long chain cannot hold the lock forever. */
#define BATCH            4096u

struct ioat {
	uint8_t *buf;                 /* CHUNK bytes: the engine's data path */
	unsigned state;               /* ST_* */
	bool halted;                  /* waits for a reset (CHANSTS already reads armed) */
	bool chain_set;               /* next holds the address of the next descriptor */
	uint16_t count;               /* descriptors done since the reset */
	uint16_t seen_count;          /* the last DMACOUNT the device looked at */
	uint64_t next;
	uint64_t last;                /* address of the last completed descriptor */
	/* What the device last stored in the registers the program may overwrite. */
	uint64_t sh_chansts;
	uint32_t sh_chanerr;
	uint8_t sh_cmd;
	/* counters */
	uint64_t descs, copies, fills, bytes, halts;
};

static struct ioat *ioat_of(struct svf_pci_dev *pd)
{
	return pd->priv;
}

static uint8_t *reg(struct svf_pci_dev *pd, uint64_t off)
{
	return pd->bar_mem[0] + off;
}

static uint8_t ld8(struct svf_pci_dev *pd, uint64_t off)
{
	return __atomic_load_n(reg(pd, off), __ATOMIC_ACQUIRE);
}

static uint16_t ld16(struct svf_pci_dev *pd, uint64_t off)
{
	return __atomic_load_n((uint16_t *)(void *)reg(pd, off), __ATOMIC_ACQUIRE);
}

static void st8(struct svf_pci_dev *pd, uint64_t off, uint8_t v)
{
	__atomic_store_n(reg(pd, off), v, __ATOMIC_RELEASE);
}

static void st16(struct svf_pci_dev *pd, uint64_t off, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)reg(pd, off), v, __ATOMIC_RELEASE);
}

static bool cas8(struct svf_pci_dev *pd, uint64_t off, uint8_t old, uint8_t v)
{
	return __atomic_compare_exchange_n(reg(pd, off), &old, v, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED);
}

static bool cas16(struct svf_pci_dev *pd, uint64_t off, uint16_t old, uint16_t v)
{
	return __atomic_compare_exchange_n((uint16_t *)(void *)reg(pd, off), &old, v, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void set_chansts(struct svf_pci_dev *pd, uint64_t v)
{
	ioat_of(pd)->sh_chansts = v;
	svf_pci_mem_st64(pd, 0, IOAT_CHANSTS, v);
}

static void set_chanerr(struct svf_pci_dev *pd, uint32_t v)
{
	ioat_of(pd)->sh_chanerr = v;
	svf_pci_mem_st32(pd, 0, IOAT_CHANERR, v);
}

/*
 * CHANSTS as the program sees it: a halted channel reads armed and an idle
 * one suspended (see the top of this file for why).
 */
static void publish(struct svf_pci_dev *pd)
{
	struct ioat *io = ioat_of(pd);
	unsigned st = io->state == ST_IDLE ? ST_SUSPENDED : io->state;

	set_chansts(pd, io->halted ? ST_ARMED : ((io->last & ~0x3full) | st));
}

/* The completion word: address of the last completed descriptor | state. 0 or -1 (faulted). */
static int write_completion(struct svf_pci_dev *pd, unsigned state)
{
	struct ioat *io = ioat_of(pd);
	uint64_t w = (io->last & ~0x3full) | state;
	uint64_t at = svf_pci_mem_ld64(pd, 0, IOAT_CHANCMP);

	return svf_pci_dma(pd, SVF_PROT_WRITE, at, &w, sizeof(w)) == 1 ? -1 : 0;
}

static void halt(struct svf_pci_dev *pd, uint32_t err)
{
	struct ioat *io = ioat_of(pd);

	io->halts++;
	/* Counts rung before the halt belong to the chain that ended: the reset starts from 0. */
	if (cas16(pd, IOAT_DMACOUNT, io->seen_count, 0))
		io->seen_count = 0;
	set_chanerr(pd, io->sh_chanerr | err);
	io->state = ST_HALTED;
	io->halted = true;
	if ((svf_pci_mem_ld32(pd, 0, IOAT_CHANCTRL) & CTRL_ERR_COMPL) &&
	    !(err & ERR_COMPL_ADDR) && write_completion(pd, ST_HALTED))
		set_chanerr(pd, io->sh_chanerr | ERR_COMPL_ADDR);
	publish(pd);
}

/* Power-on and CHANCMD reset: armed, no chain, count 0, no error. */
static void chan_reset(struct svf_pci_dev *pd)
{
	struct ioat *io = ioat_of(pd);
	uint16_t db = ld16(pd, IOAT_DMACOUNT);

	if (db == io->seen_count)
		cas16(pd, IOAT_DMACOUNT, db, 0);
	io->state = ST_ARMED;
	io->halted = false;
	io->chain_set = false;
	io->count = 0;
	io->seen_count = 0;
	io->last = 0;
	set_chanerr(pd, 0);
	publish(pd);
}

/* Copy or fill len bytes; 0, or the CHANERR bit of the side that faulted. */
static uint32_t transfer(struct svf_pci_dev *pd, unsigned op, uint64_t src, uint64_t dst,
			 uint32_t len)
{
	struct ioat *io = ioat_of(pd);
	uint32_t done = 0;

	if (op == OP_FILL)
		for (uint32_t i = 0; i < CHUNK && i < len; i += 8)
			memcpy(io->buf + i, &src, 8);
	while (done < len) {
		uint32_t n = len - done > CHUNK ? CHUNK : len - done;

		if (op == OP_COPY && svf_pci_dma(pd, SVF_PROT_READ, src + done, io->buf, n) == 1)
			return ERR_SRC;
		if (svf_pci_dma(pd, SVF_PROT_WRITE, dst + done, io->buf, n) == 1)
			return ERR_DST;
		done += n;
	}
	io->bytes += len;
	if (op == OP_COPY)
		io->copies++;
	else
		io->fills++;
	return 0;
}

/* Run the descriptor at io->next. False when the channel halted. */
static bool run_one(struct svf_pci_dev *pd)
{
	struct ioat *io = ioat_of(pd);
	uint8_t d[DESC_SIZE];
	uint32_t size, ctrl, err = 0;
	unsigned op;

	if (svf_pci_dma(pd, SVF_PROT_READ, io->next, d, DESC_SIZE) == 1) {
		halt(pd, ERR_DESC_READ);
		return false;
	}
	size = le32(d);
	ctrl = le32(d + 4);
	op = ctrl >> 24;
	if (!(ctrl & DC_NULL)) {
		if (op != OP_COPY && op != OP_FILL)
			err = ERR_DESC_CTRL;
		else if (size == 0 || size > IOAT_MAX_LEN)
			err = ERR_LENGTH;
		else
			err = transfer(pd, op, le64(d + 8), le64(d + 16), size);
	}
	if (err) {
		halt(pd, err);
		return false;
	}
	io->descs++;
	io->last = io->next;
	io->next = le64(d + 24);
	io->count++;
	io->state = io->count == io->seen_count ? ST_IDLE : ST_ACTIVE;
	if ((ctrl & DC_COMPL_UPDATE) && write_completion(pd, io->state)) {
		halt(pd, ERR_COMPL_ADDR);
		return false;
	}
	return true;
}

/*
 * Look at CHANCMD and DMACOUNT and do what they ask. True when anything
 * was done (the watcher keeps spinning then).
 */
static bool serve(struct svf_pci_dev *pd)
{
	struct ioat *io = ioat_of(pd);
	/*
	 * DMACOUNT is loaded before CHANCMD. A driver stores a reset before
	 * the doorbell that follows it, and stores (and these acquire loads)
	 * are seen in order, so a count loaded in a pass whose CHANCMD shows
	 * no reset was stored before the reset: while halted it belongs to the
	 * halted chain. Loaded the other way round, a pass could see CHANCMD
	 * before the reset and the doorbell after it, take that doorbell for
	 * the halted chain's, and the reset served next would drop it (DPDK's
	 * recovery lost the rest of a burst so).
	 */
	uint16_t db = ld16(pd, IOAT_DMACOUNT);
	uint8_t cmd = ld8(pd, IOAT_CHANCMD);
	bool served = false;

	if (cmd & CMD_RESET) {
		chan_reset(pd);
		while (!cas8(pd, IOAT_CHANCMD, cmd, cmd & ~CMD_RESET))
			cmd = ld8(pd, IOAT_CHANCMD);
		cmd &= ~CMD_RESET;
		served = true;
	}
	if (cmd & CMD_SUSPEND) {
		while (!cas8(pd, IOAT_CHANCMD, cmd, cmd & ~CMD_SUSPEND))
			cmd = ld8(pd, IOAT_CHANCMD);
		if (!io->halted) {
			io->state = ST_SUSPENDED;
			publish(pd);
		}
		served = true;
	}
	io->sh_cmd = ld8(pd, IOAT_CHANCMD);
	if (served)
		db = ld16(pd, IOAT_DMACOUNT); /* the reset may have cleared it */
	if (io->halted) {
		/* Counts of the halted chain: a reset must not take them for new ones. */
		io->seen_count = db;
		return served;
	}
	if (!svf_pci_master_enabled(pd))
		return served;
	if (db == io->seen_count)
		return served;
	/* A doorbell: resumes a suspended or idle channel, starts an armed one. */
	io->seen_count = db;
	if (!io->chain_set) {
		io->next = svf_pci_mem_ld64(pd, 0, IOAT_CHAINADDR);
		io->chain_set = true;
	}
	io->state = ST_ACTIVE;
	for (unsigned n = 0; io->count != db && n < BATCH; n++)
		if (!run_one(pd))
			return true;
	if (io->count != db)
		io->seen_count = io->count; /* the rest on the next call */
	else
		io->state = ST_IDLE;
	publish(pd);
	return true;
}

/* Byte masks of the registers a program may write (everything else is read-only). */
static bool writable(uint64_t off)
{
	return (off >= 0x02 && off < 0x04) || (off >= 0x0c && off < 0x0e) ||
	       (off >= IOAT_CHANCTRL && off < IOAT_CHANCTRL + 2) || off == IOAT_CHANCMD ||
	       (off >= IOAT_DMACOUNT && off < IOAT_DMACOUNT + 2) ||
	       (off >= IOAT_CHAINADDR && off < IOAT_CHANCMP + 8) ||
	       (off >= IOAT_CHANERRMSK && off < IOAT_CHANERRMSK + 4);
}

static uint64_t ioat_bar_read(struct svf_pci_dev *pd, int bar, uint64_t off, unsigned size)
{
	uint64_t v = 0;

	if (bar != 0)
		return ~0ull;
	for (unsigned i = 0; i < size; i++)
		if (off + i < IOAT_REGS_END)
			v |= (uint64_t)ld8(pd, off + i) << (8 * i);
	return v;
}

static void ioat_bar_write(struct svf_pci_dev *pd, int bar, uint64_t off, unsigned size,
			   uint64_t val)
{
	struct ioat *io = ioat_of(pd);

	if (bar != 0)
		return;
	for (unsigned i = 0; i < size; i++) {
		uint64_t at = off + i;
		uint8_t b = (uint8_t)(val >> (8 * i));

		if (at >= IOAT_CHANERR && at < IOAT_CHANERR + 4)
			set_chanerr(pd, io->sh_chanerr & ~((uint32_t)b << (8 * (at - IOAT_CHANERR))));
		else if (writable(at))
			st8(pd, at, b);
	}
	serve(pd);
}

/* Registers the program may not change come back; CHANERR stores clear what they set. */
static void restore(struct svf_pci_dev *pd)
{
	struct ioat *io = ioat_of(pd);
	uint32_t e = svf_pci_mem_ld32(pd, 0, IOAT_CHANERR);

	if (ld8(pd, IOAT_CHANCNT) != 1)
		st8(pd, IOAT_CHANCNT, 1);
	if (ld8(pd, IOAT_XFERCAP) != IOAT_XFERCAP_LOG)
		st8(pd, IOAT_XFERCAP, IOAT_XFERCAP_LOG);
	if (ld8(pd, IOAT_CBVER) != IOAT_VERSION)
		st8(pd, IOAT_CBVER, IOAT_VERSION);
	if (svf_pci_mem_ld32(pd, 0, IOAT_DMACAP) != IOAT_DMACAP_VAL)
		svf_pci_mem_st32(pd, 0, IOAT_DMACAP, IOAT_DMACAP_VAL);
	if (svf_pci_mem_ld64(pd, 0, IOAT_CHANSTS) != io->sh_chansts)
		svf_pci_mem_st64(pd, 0, IOAT_CHANSTS, io->sh_chansts);
	if (e != io->sh_chanerr)
		set_chanerr(pd, io->sh_chanerr & ~e);
}

static bool ioat_poll(struct svf_pci_dev *pd)
{
	restore(pd);
	return serve(pd);
}

static void ioat_reset(struct svf_pci_dev *pd)
{
	struct ioat *io = ioat_of(pd);

	memset(pd->bar_mem[0], 0, IOAT_BAR_SIZE);
	st8(pd, IOAT_CHANCNT, 1);
	st8(pd, IOAT_XFERCAP, IOAT_XFERCAP_LOG);
	st8(pd, IOAT_CBVER, IOAT_VERSION);
	svf_pci_mem_st32(pd, 0, IOAT_DMACAP, IOAT_DMACAP_VAL);
	st16(pd, IOAT_CHANCTRL, 0);
	io->seen_count = 0;
	io->sh_cmd = 0;
	chan_reset(pd);
	svf_pci_intx_set(pd, false);
}

static void ioat_init_config(struct svf_pci_dev *pd)
{
	svf_pci_cfg_add_msi(pd, 0x40, 1);
}

static int ioat_create(struct svf_pci_dev *pd, const struct svf_pci_device_config *cfg)
{
	struct ioat *io;
	(void)cfg;

	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	if (svf_should_fail(SVF_FAULT_ALLOC) || !(io->buf = malloc(CHUNK))) {
		free(io);
		return -ENOMEM;
	}
	pd->priv = io;
	/*
	 * A polling driver rings its next doorbell within milliseconds (DPDK
	 * checks each burst's results, then submits the next): a watcher that
	 * fell asleep 1 ms after a doorbell would pay a wake-up for most of
	 * them, milliseconds each on a loaded machine. Unless spinning is off.
	 */
	if (pd->watch_spin_ns && pd->watch_spin_ns < IOAT_SPIN_NS)
		pd->watch_spin_ns = IOAT_SPIN_NS;
	pd->desc.vendor = 0x8086;
	pd->desc.device = 0x2021;
	pd->desc.subsystem_vendor = 0x8086;
	pd->desc.subsystem_device = 0x0000;
	pd->desc.class_code = 0x088000;
	pd->desc.revision = 0x00;
	pd->desc.irq_pin = 1;
	pd->desc.bar_size[0] = IOAT_BAR_SIZE;
	pd->desc.bar_flags[0] = PCI_BASE_ADDRESS_SPACE_MEMORY | PCI_BASE_ADDRESS_MEM_TYPE_64;
	pd->reset_works = true;
	return 0;
}

static void ioat_destroy(struct svf_pci_dev *pd)
{
	struct ioat *io = pd->priv;

	if (io)
		free(io->buf);
	free(io);
	pd->priv = NULL;
}

const struct svf_pci_ops svf_ioat_ops = {
	.kind = SVF_PCI_KIND_IOAT,
	.create = ioat_create,
	.destroy = ioat_destroy,
	.init_config = ioat_init_config,
	.reset = ioat_reset,
	.bar_read = ioat_bar_read,
	.bar_write = ioat_bar_write,
	.poll = ioat_poll,
};

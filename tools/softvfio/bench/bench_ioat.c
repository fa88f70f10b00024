/* SPDX-License-Identifier: MIT */
/*
 * `softvfio bench-ioat` (bench_ioat.h).
 *
 * Set-up, as a userspace DMA driver would: a host with one ioat at
 * 0000:00:04.0, a container (process pinning, gather policy), the group
 * attached, type1v2, 64 MiB of this process's memory mapped at IOVA 1 MiB
 * (a 256-descriptor ring and the completion word in the first page, then
 * the source half and the destination half), the device opened with memory
 * decoding and bus mastering on, BAR0 mapped from the device memfd; the
 * channel reset, CHAINADDR, CHANCMP and CHANCTRL programmed.
 *
 * Each row copies SIZE-byte blocks, cycling over the source half, in
 * batches of 128 descriptors (each with completion update): the batch is
 * written into the ring, DMACOUNT stored through the mapping, and the
 * completion word polled until it names the batch's last descriptor, so
 * the time includes the watcher noticing the doorbell. Wall-clock
 * (CLOCK_MONOTONIC). Beside it, memcpy of the same blocks over the same
 * memory in the same run.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <linux/pci_regs.h>

#include <softvfio/softvfio.h>
#include <softvfio/vfio.h>

#include "bench_common.h"
#include "bench_ioat.h"
#include "cli.h"

#define MEM_SIZE (64u << 20)
#define MEM_IOVA 0x100000ull
#define HALF ((MEM_SIZE - 4096) / 2)
#define RING_N 256u
#define BATCH 128u
#define COMPL_OFF (RING_N * 64u)
#define CFG_OFF VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX)
#define BAR_SIZE (16u << 10)

const char svf_bench_ioat_help[] =
	"Usage: softvfio bench-ioat [OPTIONS]\n"
	"\n"
	"Time copies through the emulated I/OAT DMA engine as a userspace driver makes\n"
	"them (descriptor ring by IOVA, doorbell through the mapped BAR, completion\n"
	"word polled) for 64 B, 4 KiB and 64 KiB copies: copies per second, GB/s and\n"
	"the IOTLB hit rate, beside memcpy of the same blocks measured in the same run.\n"
	"Prints figures; asserts nothing.\n"
	"\n"
	"Options:\n"
	"      --mib N     MiB copied in each of the 4 KiB and 64 KiB rows (default 256)\n"
	"      --small N   64-byte copies in their row (default 200000)\n"
	"  -h, --help      this text\n";

struct desc {
	uint32_t size, ctrl;
	uint64_t src, dst, next, r[4];
};

struct rig {
	struct svf_bench_rig v; /* host, container, device, DMA memory, BAR0 */
	uint16_t count;         /* DMACOUNT last written */
	unsigned slot;          /* next ring slot */
};

static int rig_open(struct rig *r, FILE *err)
{
	memset(r, 0, sizeof(*r));
	return svf_bench_rig_open(&r->v, "bench-ioat", SVF_PCI_KIND_IOAT, "0000:00:04.0", MEM_SIZE,
				  MEM_IOVA, BAR_SIZE, err);
}

static struct desc *ring(struct rig *r, unsigned i)
{
	return (struct desc *)(void *)r->v.mem + i;
}

static uint64_t completion(struct rig *r)
{
	return __atomic_load_n((uint64_t *)(void *)(r->v.mem + COMPL_OFF), __ATOMIC_ACQUIRE);
}

/* Reset the channel through the mapping and program it as DPDK's start does. */
static int chan_start(struct rig *r)
{
	uint64_t t0 = svf_clock_ns(CLOCK_MONOTONIC);

	for (unsigned i = 0; i < RING_N; i++)
		ring(r, i)->next = MEM_IOVA + ((i + 1) % RING_N) * 64;
	__atomic_store_n(r->v.bar + 0x84, 0x20, __ATOMIC_RELEASE);
	while (__atomic_load_n(r->v.bar + 0x84, __ATOMIC_ACQUIRE) & 0x20) {
		if (svf_clock_ns(CLOCK_MONOTONIC) - t0 > 2000000000ull)
			return -ETIMEDOUT;
		sched_yield();
	}
	*(volatile uint64_t *)(void *)(r->v.bar + 0x90) = MEM_IOVA;
	*(volatile uint64_t *)(void *)(r->v.bar + 0x98) = MEM_IOVA + COMPL_OFF;
	*(volatile uint16_t *)(void *)(r->v.bar + 0x80) = 0x000c;
	r->count = 0;
	r->slot = 0;
	return 0;
}

/* One batch of BATCH copies of size bytes starting at block *blk; waits for it. */
static int batch(struct rig *r, uint32_t size, uint64_t *blk, uint64_t nblk)
{
	unsigned last = 0;
	uint64_t want, t0;

	for (unsigned i = 0; i < BATCH; i++) {
		struct desc *d = ring(r, r->slot);
		uint64_t off = (*blk % nblk) * size;

		d->size = size;
		d->ctrl = 1u << 3;
		d->src = MEM_IOVA + 4096 + off;
		d->dst = MEM_IOVA + 4096 + HALF + off;
		last = r->slot;
		r->slot = (r->slot + 1) % RING_N;
		(*blk)++;
	}
	r->count = (uint16_t)(r->count + BATCH);
	want = (MEM_IOVA + last * 64) | 1;
	__atomic_store_n((uint16_t *)(void *)(r->v.bar + 0x86), r->count, __ATOMIC_RELEASE);
	t0 = svf_clock_ns(CLOCK_MONOTONIC);
	for (unsigned spin = 0; completion(r) != want; spin++) {
		if ((completion(r) & 7) == 3)
			return -EIO;
		if (spin % 64 == 63) {
			if (svf_clock_ns(CLOCK_MONOTONIC) - t0 > 5000000000ull)
				return -ETIMEDOUT;
			sched_yield();
		}
	}
	return 0;
}

static int row(struct rig *r, FILE *out, uint32_t size, uint64_t copies)
{
	struct svf_stats s0, s1;
	uint64_t nblk = HALF / size, blk = 0, t0, t1, m0, m1, hits, misses;
	uint64_t batches = (copies + BATCH - 1) / BATCH;
	char name[32];
	int rc;

	svf_container_get_stats(r->v.c, &s0);
	t0 = svf_clock_ns(CLOCK_MONOTONIC);
	for (uint64_t b = 0; b < batches; b++)
		if ((rc = batch(r, size, &blk, nblk)))
			return rc;
	t1 = svf_clock_ns(CLOCK_MONOTONIC);
	svf_container_get_stats(r->v.c, &s1);
	copies = batches * BATCH;
	m0 = svf_clock_ns(CLOCK_MONOTONIC);
	for (uint64_t i = 0; i < copies; i++) {
		uint64_t off = (i % nblk) * size;

		memcpy(r->v.mem + 4096 + HALF + off, r->v.mem + 4096 + off, size);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	}
	m1 = svf_clock_ns(CLOCK_MONOTONIC);
	hits = s1.iotlb_hits - s0.iotlb_hits;
	misses = s1.iotlb_misses - s0.iotlb_misses;
	if (size >= 1024)
		snprintf(name, sizeof(name), "copy %u KiB", size >> 10);
	else
		snprintf(name, sizeof(name), "copy %u B", size);
	fprintf(out, "%-12s %12.0f %9.3f %9.2f%% %12.0f %9.3f %8.1f%%\n", name,
		(double)copies / ((double)(t1 - t0) / 1e9), (double)copies * size / (double)(t1 - t0),
		hits + misses ? 100.0 * (double)hits / (double)(hits + misses) : 0.0,
		(double)copies / ((double)(m1 - m0) / 1e9), (double)copies * size / (double)(m1 - m0),
		100.0 * ((double)copies * size / (double)(t1 - t0)) /
			((double)copies * size / (double)(m1 - m0)));
	return 0;
}

int svf_bench_ioat(const struct svf_bench_ioat_opts *uo, FILE *out, FILE *err)
{
	struct svf_bench_ioat_opts o = *uo;
	struct rig r;
	int rc;

	if (!o.mib)
		o.mib = 256;
	if (!o.small)
		o.small = 200000;
	if ((rc = rig_open(&r, err)))
		return rc;
	if ((rc = chan_start(&r))) {
		fprintf(err, "softvfio bench-ioat: channel reset: %s\n", strerror(-rc));
		svf_bench_rig_close(&r.v);
		return rc;
	}
	fprintf(out, "I/OAT engine: batches of %u descriptors, doorbell through the mapped BAR\n",
		BATCH);
	fprintf(out, "%-12s %12s %9s %10s %12s %9s %9s\n", "row", "copies/s", "GB/s", "IOTLB hit",
		"memcpy/s", "GB/s", "of memcpy");
	rc = row(&r, out, 64, o.small);
	rc = rc ? rc : row(&r, out, 4096, (o.mib << 20) / 4096);
	rc = rc ? rc : row(&r, out, 65536, (o.mib << 20) / 65536);
	if (rc)
		fprintf(err, "softvfio bench-ioat: copies: %s\n", strerror(-rc));
	else
		fprintf(out, "\ntarget: 4 KiB copies at >= 50%% of memcpy\n");
	svf_bench_rig_close(&r.v);
	return rc;
}

int svf_bench_ioat_main(int argc, char **argv)
{
	struct svf_bench_ioat_opts o = { 0 };
	const struct svf_cli_opt opts[] = {
		{ "mib", 1, 1ULL << 20, .u64 = &o.mib },
		{ "small", 1, 1ULL << 40, .u64 = &o.small },
	};
	int rc = svf_cli_parse("bench-ioat", svf_bench_ioat_help, argc, argv, opts,
			       sizeof(opts) / sizeof(opts[0]));

	if (rc >= 0)
		return rc;
	return svf_bench_ioat(&o, stdout, stderr) ? 1 : 0;
}

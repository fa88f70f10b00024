/* SPDX-License-Identifier: MIT */
/*
 * `softvfio bench-vfio` (bench_vfio.h).
 *
 * Set-up, as a VFIO program would: a host with one edu at 0000:00:03.0, a
 * container (process pinning, gather policy), the group attached, type1v2,
 * 1 MiB of this process's memory mapped at IOVA 1 MiB, the device opened
 * with memory decoding and bus mastering on, BAR0 mapped from the device
 * memfd.
 *
 * Rows (wall-clock, CLOCK_MONOTONIC):
 *   config read     4-byte svf_vfio_device_read of the vendor/device id;
 *   BAR read/write  4-byte region read of edu's id, write of its liveness
 *                   register (each takes effect at once);
 *   doorbell hot    src/dst/count stored in the mapping, then the command
 *                   register with the start bit; spin on the mapping until
 *                   the device clears it: p50, p99, max over `doorbells`;
 *   doorbell cold   the same after sleeping past the watcher's hot window
 *                   (its period has backed off to the idle one);
 *   watcher idle    process CPU time over `idle_ms` of sleep with the device
 *                   open and nothing rung (all of it is the watcher's);
 *   DMA 4 KiB       RAM -> edu and edu -> RAM through region writes of the
 *                   command register, cycling over the 256 mapped pages:
 *                   GB/s, and the IOTLB hit rate over the row.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include <softvfio/softvfio.h>
#include <softvfio/vfio.h>

#include "bench_common.h"
#include "bench_vfio.h"
#include "cli.h"

#define BUF_SIZE (1u << 20)
#define BUF_IOVA 0x100000ull
#define CFG_OFF VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX)
#define BAR_OFF VFIO_PCI_INDEX_TO_OFFSET(0)

const char svf_bench_vfio_help[] =
	"Usage: softvfio bench-vfio [OPTIONS]\n"
	"\n"
	"Time softvfio's VFIO groups and devices on QEMU's edu: config-space and BAR\n"
	"register round trips through the library, doorbell-to-completion latency of\n"
	"a DMA rung through the mapped BAR (hot, and after a quiet spell), the\n"
	"doorbell watcher's CPU cost when idle, and 4 KiB DMA throughput with the\n"
	"IOTLB hit rate. Prints figures; asserts nothing.\n"
	"\n"
	"Options:\n"
	"      --iters N      register round trips per row (default 1000000)\n"
	"      --doorbells N  doorbells through the mapped BAR, hot (default 2000)\n"
	"      --cold N       doorbells after a quiet spell (default 20)\n"
	"      --dmas N       4 KiB DMAs per direction (default 100000)\n"
	"      --idle-ms MS   quiet time over which the watcher's cost is measured\n"
	"                     (default 1000)\n"
	"  -h, --help         this text\n";

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

void svf_bench_vfio_default_opts(struct svf_bench_vfio_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->iters = 1000000;
	o->doorbells = 2000;
	o->cold = 20;
	o->dmas = 100000;
	o->idle_ms = 1000;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}


static int rig_open(struct svf_bench_rig *r, FILE *err)
{
	return svf_bench_rig_open(r, "bench-vfio", SVF_PCI_KIND_EDU, "0000:00:03.0", BUF_SIZE,
				  BUF_IOVA, 1u << 20, err);
}

static void bar_w(struct svf_bench_rig *r, unsigned off, uint64_t v, unsigned size)
{
	size_t done;

	svf_vfio_device_write(r->d, &v, size, BAR_OFF + off, &done);
}

/* One doorbell through the mapping: ns from the store to the device's clear. */
static uint64_t doorbell(struct svf_bench_rig *r, uint64_t page)
{
	volatile uint64_t *cmd = (volatile uint64_t *)(r->bar + 0x98);
	uint64_t t0;

	*(volatile uint64_t *)(r->bar + 0x80) = BUF_IOVA + page * 4096;
	*(volatile uint64_t *)(r->bar + 0x88) = 0x40000;
	*(volatile uint64_t *)(r->bar + 0x90) = 4096;
	t0 = svf_clock_ns(CLOCK_MONOTONIC);
	__atomic_store_n(cmd, 1, __ATOMIC_RELEASE);
	/* Poll as a driver would, yielding now and then so the watcher gets a core. */
	for (unsigned spin = 0; __atomic_load_n(cmd, __ATOMIC_ACQUIRE) & 1; spin++) {
		if (spin % 64 == 63)
			sched_yield();
		else
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
	}
	return svf_clock_ns(CLOCK_MONOTONIC) - t0;
}

static void print_lat(FILE *out, const char *row, uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	fprintf(out, "%-26s %10.2f %10.2f %10.2f   us p50 / p99 / max (%u)\n", row, v[n / 2] / 1e3,
		v[(uint64_t)n * 99 / 100 < n ? (uint64_t)n * 99 / 100 : n - 1] / 1e3, v[n - 1] / 1e3,
		n);
}

int svf_bench_vfio(const struct svf_bench_vfio_opts *uo, FILE *out, FILE *err)
{
	struct svf_bench_vfio_opts o;
	struct svf_stats s0, s1;
	struct svf_bench_rig r;
	uint64_t t0, t1, c0, c1, *lat;
	volatile uint32_t sink = 0;
	size_t done;
	int rc;

	svf_bench_vfio_default_opts(&o);
	if (uo) {
		if (uo->iters)
			o.iters = uo->iters;
		if (uo->doorbells)
			o.doorbells = uo->doorbells;
		if (uo->cold)
			o.cold = uo->cold;
		if (uo->dmas)
			o.dmas = uo->dmas;
		if (uo->idle_ms)
			o.idle_ms = uo->idle_ms;
	}
	rc = rig_open(&r, err);
	if (rc)
		return rc;
	lat = calloc(o.doorbells > o.cold ? o.doorbells : o.cold, sizeof(*lat));
	if (!lat) {
		svf_bench_rig_close(&r);
		return -ENOMEM;
	}
	{
		double la[3] = { 0 };
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		if (getloadavg(la, 3) < 1)
			la[0] = 0;
		fprintf(out, "softvfio bench-vfio: edu at 0000:00:03.0, one vtd unit, gather policy; "
			     "%ld CPUs, load average %.2f (latencies depend on a free core)\n\n",
			cpus, la[0]);
	}

	t0 = svf_clock_ns(CLOCK_MONOTONIC);
	for (uint64_t i = 0; i < o.iters; i++) {
		uint32_t v;

		svf_vfio_device_read(r.d, &v, 4, CFG_OFF, &done);
		sink += v;
	}
	t1 = svf_clock_ns(CLOCK_MONOTONIC);
	fprintf(out, "%-26s %10.1f ns per access (%" PRIu64 ")\n", "config read 4 B",
		(double)(t1 - t0) / (double)o.iters, o.iters);
	t0 = svf_clock_ns(CLOCK_MONOTONIC);
	for (uint64_t i = 0; i < o.iters; i++) {
		uint32_t v;

		svf_vfio_device_read(r.d, &v, 4, BAR_OFF, &done);
		sink += v;
	}
	t1 = svf_clock_ns(CLOCK_MONOTONIC);
	fprintf(out, "%-26s %10.1f ns per access\n", "BAR0 register read 4 B",
		(double)(t1 - t0) / (double)o.iters);
	t0 = svf_clock_ns(CLOCK_MONOTONIC);
	for (uint64_t i = 0; i < o.iters; i++)
		bar_w(&r, 0x04, i, 4);
	t1 = svf_clock_ns(CLOCK_MONOTONIC);
	fprintf(out, "%-26s %10.1f ns per access\n", "BAR0 register write 4 B",
		(double)(t1 - t0) / (double)o.iters);

	for (unsigned i = 0; i < o.doorbells; i++)
		lat[i] = doorbell(&r, i % 256);
	print_lat(out, "doorbell -> done, hot", lat, o.doorbells);
	for (unsigned i = 0; i < o.cold; i++) {
		/* Past the hot window (20 ms) and the back-off to the idle period. */
		usleep(60000);
		lat[i] = doorbell(&r, i % 256);
	}
	print_lat(out, "doorbell -> done, cold", lat, o.cold);

	usleep(60000); /* let the watcher reach its idle period */
	c0 = cpu_ns();
	t0 = svf_clock_ns(CLOCK_MONOTONIC);
	usleep((useconds_t)o.idle_ms * 1000u);
	c1 = cpu_ns();
	t1 = svf_clock_ns(CLOCK_MONOTONIC);
	fprintf(out, "%-26s %10.1f us CPU per second idle (%.3f%% of a core)\n", "watcher, idle",
		(double)(c1 - c0) / ((double)(t1 - t0) / 1e9) / 1e3,
		100.0 * (double)(c1 - c0) / (double)(t1 - t0));
	{
		/* The platform's floor: what one timed wait of the idle period costs this thread. */
		pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
		pthread_condattr_t ca;
		pthread_cond_t cv;
		struct timespec ts0, ts1;
		unsigned n = o.idle_ms < 200 ? o.idle_ms : 200;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&cv, &ca);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts0);
		pthread_mutex_lock(&m);
		for (unsigned i = 0; i < n; i++) {
			uint64_t dl = svf_clock_ns(CLOCK_MONOTONIC) + 1000000;
			struct timespec ts = { .tv_sec = (time_t)(dl / 1000000000u),
					       .tv_nsec = (long)(dl % 1000000000u) };

			while (pthread_cond_timedwait(&cv, &m, &ts) != ETIMEDOUT)
				;
		}
		pthread_mutex_unlock(&m);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts1);
		fprintf(out, "%-26s %10.1f us CPU per 1 ms timed wait (this machine's wake-up floor)\n",
			"floor: bare timed wait",
			((double)(ts1.tv_sec - ts0.tv_sec) * 1e9 + (double)(ts1.tv_nsec - ts0.tv_nsec)) /
				n / 1e3);
		pthread_cond_destroy(&cv);
		pthread_condattr_destroy(&ca);
	}
	{
		/* After one doorbell, nothing more: spinning, then the fast period, for the hot window. */
		doorbell(&r, 0);
		c0 = cpu_ns();
		t0 = svf_clock_ns(CLOCK_MONOTONIC);
		usleep(20000);
		c1 = cpu_ns();
		t1 = svf_clock_ns(CLOCK_MONOTONIC);
		fprintf(out, "%-26s %10.1f us CPU per second (%.1f%% of a core)\n",
			"watcher, 20 ms after one", (double)(c1 - c0) / ((double)(t1 - t0) / 1e9) / 1e3,
			100.0 * (double)(c1 - c0) / (double)(t1 - t0));
	}

	for (int dir = 0; dir < 2; dir++) {
		svf_container_get_stats(r.c, &s0);
		bar_w(&r, 0x90, 4096, 8);
		t0 = svf_clock_ns(CLOCK_MONOTONIC);
		for (uint64_t i = 0; i < o.dmas; i++) {
			uint64_t ram = BUF_IOVA + (i % 256) * 4096;

			bar_w(&r, 0x80, dir ? 0x40000 : ram, 8);
			bar_w(&r, 0x88, dir ? ram : 0x40000, 8);
			bar_w(&r, 0x98, dir ? 3 : 1, 8);
		}
		t1 = svf_clock_ns(CLOCK_MONOTONIC);
		svf_container_get_stats(r.c, &s1);
		{
			uint64_t hits = s1.iotlb_hits - s0.iotlb_hits;
			uint64_t misses = s1.iotlb_misses - s0.iotlb_misses;

			fprintf(out, "%-26s %10.2f GB/s, %.0f ns per DMA, IOTLB hit rate %.2f%%\n",
				dir ? "DMA 4 KiB edu -> RAM" : "DMA 4 KiB RAM -> edu",
				(double)o.dmas * 4096 / (double)(t1 - t0),
				(double)(t1 - t0) / (double)o.dmas,
				hits + misses ? 100.0 * (double)hits / (double)(hits + misses) : 0.0);
		}
	}
	fprintf(out, "\ntargets: a region register access <= 200 ns; a doorbell <= 20 us without "
		     "burning a core when idle\n");
	(void)sink;
	free(lat);
	svf_bench_rig_close(&r);
	return 0;
}

int svf_bench_vfio_main(int argc, char **argv)
{
	struct svf_bench_vfio_opts o = { 0 };
	const struct svf_cli_opt opts[] = {
		{ "iters", 1, 1ULL << 40, .u64 = &o.iters },
		{ "doorbells", 1, 1u << 24, .uint = &o.doorbells },
		{ "cold", 1, 10000, .uint = &o.cold },
		{ "dmas", 1, 1ULL << 40, .u64 = &o.dmas },
		{ "idle-ms", 1, 3600000, .uint = &o.idle_ms },
	};
	int rc = svf_cli_parse("bench-vfio", svf_bench_vfio_help, argc, argv, opts,
			       sizeof(opts) / sizeof(opts[0]));

	if (rc >= 0)
		return rc;
	return svf_bench_vfio(&o, stdout, stderr) ? 1 : 0;
}

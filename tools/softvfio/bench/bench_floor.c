/* SPDX-License-Identifier: MIT */
/*
 * The real-memory floor (see bench_floor.h): mlock, a bulk pagemap read,
 * munlock, measured by whoever calls them; THP bytes from smaps.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_floor.h"

#define PG       4096ULL
#define BUF_ENTS 65536ULL /* 512 KiB of entries a read: 256 MiB of range */

int svf_floor_open(struct svf_floor *f)
{
	f->bufn = BUF_ENTS;
	f->buf = malloc(BUF_ENTS * sizeof(*f->buf));
	f->fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (!f->buf || f->fd < 0) {
		int rc = f->buf ? -errno : -ENOMEM;

		svf_floor_close(f);
		return rc;
	}
	return 0;
}

void svf_floor_close(struct svf_floor *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f->buf);
	f->fd = -1;
	f->buf = NULL;
}

/* Read the pagemap entries of npages pages from va, at most bufn a read. */
static int pagemap_bulk(struct svf_floor *f, const void *va, uint64_t npages)
{
	uint64_t vpn = (uint64_t)(uintptr_t)va / PG;

	for (uint64_t done = 0; done < npages;) {
		uint64_t n = npages - done < f->bufn ? npages - done : f->bufn;

		if (pread(f->fd, f->buf, n * 8, (off_t)((vpn + done) * 8)) <= 0)
			return -EIO;
		done += n;
	}
	return 0;
}

int svf_floor_lock(struct svf_floor *f, void *va, uint64_t len)
{
	if (syscall(SYS_mlock, va, (size_t)len))
		return -errno;
	return pagemap_bulk(f, va, len / PG);
}

int svf_floor_unlock(void *va, uint64_t len)
{
	return syscall(SYS_munlock, va, (size_t)len) ? -errno : 0;
}

int svf_floor_pair(struct svf_floor *f, void *va)
{
	int rc;

	if (syscall(SYS_mlock, va, (size_t)PG))
		return -errno;
	rc = pagemap_bulk(f, va, 1);
	if (syscall(SYS_munlock, va, (size_t)PG) && !rc)
		rc = -errno;
	return rc;
}

uint64_t svf_thp_bytes(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	uint64_t kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %" SCNu64, &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

uint64_t svf_thp_bytes_in(const void *va, uint64_t len)
{
	uint64_t lo = (uint64_t)(uintptr_t)va, hi = lo + len, total = 0, start, end, kb;
	FILE *f = fopen("/proc/self/smaps", "r");
	bool in = false;
	char line[512];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		/* A mapping's header is "start-end perms ..."; its fields follow it. */
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " ", &start, &end) == 2) {
			in = start < hi && end > lo;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %" SCNu64, &kb) == 1)
			total += kb * 1024;
	}
	fclose(f);
	return total;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

double svf_median_u64(uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
}

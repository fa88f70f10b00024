/* SPDX-License-Identifier: MIT */
/*
 * Run under `softvfio exec` with the default edu device: groups and device
 * fds as a program sees them, the IOMMU faults of the device's DMA in
 * /dev/kmsg, and memory mapped for DMA that the program gives back while it
 * is still mapped, through libc or behind the library's back (libc and
 * <linux/vfio.h> only). With the argument "amd" (exec --driver amd) the
 * faults are expected as AMD-Vi's event lines, else as VT-d's DMAR lines.
 *
 * Prints "PASS name" or "FAIL name: why" per check and "N passed, M failed"
 * last; exits non-zero when anything failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

static int passed, failed;

static void check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	if (ok) {
		printf("PASS %s\n", name);
		passed++;
		return;
	}
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (errno %s)\n", strerror(e));
	failed++;
}

static volatile uint8_t *bar;

static uint64_t rd64(unsigned off)
{
	return *(volatile uint64_t *)(bar + off);
}

/* An edu DMA of n bytes from src to dst (edu's buffer is at 0x40000); 0 when it completed. */
static int edu_dma(uint64_t src, uint64_t dst, uint32_t n, int to_ram)
{
	struct timespec t0, t;

	*(volatile uint64_t *)(bar + 0x80) = src;
	*(volatile uint64_t *)(bar + 0x88) = dst;
	*(volatile uint64_t *)(bar + 0x90) = n;
	*(volatile uint64_t *)(bar + 0x98) = 1 | (to_ram ? 2 : 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (rd64(0x98) & 1) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 2)
			return -1;
		sched_yield();
	}
	return 0;
}

/* A reader blocked in poll on /dev/kmsg: what poll returned, then the record read. */
struct kmsg_poller {
	int fd, polled;
	short revents;
	ssize_t n;
	char line[512];
};

static void *kmsg_poll(void *arg)
{
	struct kmsg_poller *k = arg;
	struct pollfd pfd = { .fd = k->fd, .events = POLLIN };

	k->polled = poll(&pfd, 1, 20000);
	k->revents = pfd.revents;
	k->n = k->polled == 1 ? read(k->fd, k->line, sizeof(k->line) - 1) : -1;
	if (k->n > 0)
		k->line[k->n] = '\0';
	return NULL;
}

static int map_flags(int c, uint64_t iova, void *va, uint64_t size, uint32_t flags)
{
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .iova = iova, .size = size,
					      .vaddr = (uintptr_t)va, .flags = flags };

	return ioctl(c, VFIO_IOMMU_MAP_DMA, &m);
}

static int map(int c, uint64_t iova, void *va, uint64_t size)
{
	return map_flags(c, iova, va, size, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
}

/* Whether a record of /dev/kmsg, read from its start, contains want. */
static int kmsg_has(const char *want, char *last, size_t len)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK), found = 0;
	ssize_t n;

	last[0] = '\0';
	while (fd >= 0 && !found && (n = read(fd, last, len - 1)) > 0) {
		last[n] = '\0';
		found = strstr(last, want) != NULL;
	}
	if (fd >= 0)
		close(fd);
	return found;
}

static int unmap(int c, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = size };

	return ioctl(c, VFIO_IOMMU_UNMAP_DMA, &u);
}

int main(int argc, char **argv)
{
	const int amd = argc > 1 && !strcmp(argv[1], "amd");
	struct vfio_region_info r = { .argsz = sizeof(r), .index = VFIO_PCI_BAR0_REGION_INDEX };
	struct vfio_region_info cr = { .argsz = sizeof(cr), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	int c, g, g2, d, d2, d3;
	uint16_t cmd = 0x6;
	uint8_t *buf, *out, *gone;
	uint32_t v;
	long rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	c = open("/dev/vfio/vfio", O_RDWR);
	g = open("/dev/vfio/0", O_RDWR);
	check(c >= 0 && g >= 0, "open", "container %d group %d", c, g);
	/* Linux allows one open file per group. */
	g2 = open("/dev/vfio/0", O_RDWR);
	check(g2 < 0 && errno == EBUSY, "group-open-twice-ebusy", "fd %d", g2);
	check(ioctl(g, VFIO_GROUP_GET_STATUS, &gs) == 0 && (gs.flags & VFIO_GROUP_FLAGS_VIABLE) &&
	      !(gs.flags & VFIO_GROUP_FLAGS_CONTAINER_SET), "group-status", "flags %u", gs.flags);
	/* No container yet: GET_DEVICE_FD is EINVAL, as Linux answers. */
	d = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0");
	check(d < 0 && errno == EINVAL, "device-before-container", "%d", d);
	/* SET_CONTAINER with an fd that is not a container. */
	rc = ioctl(g, VFIO_GROUP_SET_CONTAINER, &g);
	check(rc < 0 && errno == EBADFD, "set-container-not-a-container", "%ld", rc);
	check(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c) == 0, "set-container", "");
	check(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) == 0, "set-iommu", "");
	rc = ioctl(c, VFIO_IOMMU_MAP_DMA, NULL);
	check(rc < 0 && errno == EFAULT, "map-null-arg", "%ld", rc);
	d = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:09.0");
	check(d < 0 && errno == ENODEV, "device-unknown-name", "%d", d);
	d = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0");
	check(d >= 0 && (fcntl(d, F_GETFD) & FD_CLOEXEC), "device-fd-cloexec", "%d", d);
	/* A second GET_DEVICE_FD opens the device again, as Linux's does. */
	d2 = ioctl(g, VFIO_GROUP_GET_DEVICE_FD, "0000:00:03.0");
	check(d2 >= 0 && d2 != d, "device-open-twice", "%d", d2);
	/* UNSET_CONTAINER while a device is open: EBUSY. */
	rc = ioctl(g, VFIO_GROUP_UNSET_CONTAINER);
	check(rc < 0 && errno == EBUSY, "unset-container-busy", "%ld", rc);
	check(ioctl(d, VFIO_DEVICE_GET_REGION_INFO, &r) == 0 && r.size == 1 << 20 &&
	      ioctl(d, VFIO_DEVICE_GET_REGION_INFO, &cr) == 0 && cr.size == 256, "region-info", "");
	/* A dup serves like the original; closing one leaves the other. */
	d3 = dup(d2);
	close(d2);
	check(pread(d3, &v, 4, (off_t)cr.offset) == 4 &&
	      v == 0x11e81234, "device-dup", "0x%x", v);
	close(d3);
	/* A request the device does not know. */
	rc = ioctl(d, _IO(VFIO_TYPE, VFIO_BASE + 50));
	check(rc < 0 && errno == ENOTTY, "device-unknown-request", "%ld", rc);
	/* pread past the config space: as vfio-pci. */
	rc = pread(d, &v, 4, (off_t)cr.offset + 4096);
	check(rc < 0, "config-past-end", "%ld", rc);
	pwrite(d, &cmd, 2, (off_t)cr.offset + 4);
	bar = mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, d, (off_t)r.offset);
	check(bar != MAP_FAILED && *(volatile uint32_t *)bar == 0x010000ed, "bar-mmap", "");
	if (bar == MAP_FAILED)
		goto out;

	/*
	 * A reader blocked in poll on /dev/kmsg wakes when the device's DMA to
	 * an address nothing maps faults, as Linux's log wakes its readers.
	 */
	{
		struct kmsg_poller kp = { .fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK) };
		struct pollfd pfd = { .fd = kp.fd, .events = POLLIN };
		pthread_t t;
		int started;

		check(kp.fd >= 0 && poll(&pfd, 1, 0) == 0, "kmsg-poll-nothing-yet", "fd %d", kp.fd);
		started = pthread_create(&t, NULL, kmsg_poll, &kp) == 0;
		usleep(50000); /* let it block first (either order must wake it) */
		check(edu_dma(0x900000, 0x40000, 64, 0) == 0, "dma-unmapped-iova-completes", "");
		if (started)
			pthread_join(t, NULL);
		check(started && kp.polled == 1 && (kp.revents & POLLIN) && kp.n > 0 &&
		      strstr(kp.line, amd ? "vfio-pci 0000:00:03.0: AMD-Vi: Event logged "
					    "[IO_PAGE_FAULT domain=0x0001 address=0x900000 "
					    "flags=0x0000]\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:03.0\n" :
					    "DMAR: [DMA Read NO_PASID] Request device [00:03.0] "
					    "fault addr 0x900000 [fault reason 0x06] PTE Read "
					    "access is not set\n"),
		      "kmsg-poll-wakes-on-fault", "poll %d revents 0x%x read %zd '%s'", kp.polled,
		      kp.revents, kp.n, kp.n > 0 ? kp.line : "");
		close(kp.fd);
	}

	/*
	 * A device write into memory mapped read-only: a permission fault, its
	 * address as each IOMMU reports it (VT-d: the page; AMD-Vi: the byte).
	 */
	{
		uint8_t *ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				   -1, 0);
		char last[512];

		memset(ro, 0x11, 4096);
		check(map_flags(c, 0x500000, ro, 4096, VFIO_DMA_MAP_FLAG_READ) == 0 &&
		      edu_dma(0x40000, 0x500010, 64, 1) == 0 && ro[0x10] == 0x11,
		      "dma-write-read-only-refused", "0x%x", ro[0x10]);
		check(kmsg_has(amd ? "vfio-pci 0000:00:03.0: AMD-Vi: Event logged [IO_PAGE_FAULT "
				     "domain=0x0001 address=0x500010 flags=0x0070]\n" :
				     "DMAR: [DMA Write NO_PASID] Request device [00:03.0] fault "
				     "addr 0x500000 [fault reason 0x05] PTE Write access is not "
				     "set\n", last, sizeof(last)),
		      "kmsg-permission-fault", "last record '%s'", last);
		check(unmap(c, 0x500000, 4096) == 0, "unmap-read-only", "");
		munmap(ro, 4096);
	}

	/*
	 * munmap of memory mapped for DMA: on Linux the pages stay pinned and
	 * the device keeps reaching them, with their content, until UNMAP_DMA.
	 */
	buf = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	out = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(buf, 0x5a, 8192);
	check(map(c, 0x100000, buf, 8192) == 0 && map(c, 0x200000, out, 4096) == 0, "map", "");
	munmap(buf, 4096);
	madvise(buf + 4096, 4096, MADV_DONTNEED); /* not locked for the program: allowed */
	check(buf[4096] == 0, "dontneed-cpu-sees-zero", "0x%x", buf[4096]);
	check(edu_dma(0x100000, 0x40000, 64, 0) == 0 && edu_dma(0x40000, 0x200000, 64, 1) == 0 &&
	      out[0] == 0x5a && out[63] == 0x5a, "device-reaches-munmapped-pages", "0x%x", out[0]);
	check(edu_dma(0x101000, 0x40000, 64, 0) == 0 && edu_dma(0x40000, 0x200000, 64, 1) == 0 &&
	      out[0] == 0x5a, "device-reaches-dontneed-pages", "0x%x", out[0]);
	/*
	 * munmap behind the library's back (the system call itself, which no
	 * wrapper sees): no page is left to keep, so the device's accesses
	 * there fail as IOMMU faults and the program goes on; the failed read
	 * moved nothing into edu's buffer.
	 */
	gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(gone, 0x77, 4096);
	rc = map(c, 0x400000, gone, 4096);
	check(rc == 0 && syscall(SYS_munmap, gone, 4096) == 0, "map-then-raw-munmap", "%ld", rc);
	check(edu_dma(0x200000, 0x40000, 64, 0) == 0 && edu_dma(0x400000, 0x40000, 64, 0) == 0 &&
	      edu_dma(0x40000, 0x400000, 64, 1) == 0, "device-survives-raw-munmap", "");
	memset(out, 0, 64);
	check(edu_dma(0x40000, 0x200000, 64, 1) == 0 && out[0] == 0x5a && out[63] == 0x5a,
	      "raw-munmap-read-moved-nothing", "0x%x", out[0]);
	check(unmap(c, 0x100000, 8192) == 0 && unmap(c, 0x200000, 4096) == 0 &&
	      unmap(c, 0x400000, 4096) == 0, "unmap-after-munmap", "");
	/* The program's mapping stays open and unmapped at exit: exec releases it. */
	check(map(c, 0x300000, out, 4096) == 0, "left-mapped-for-exit", "");
	munmap((void *)bar, r.size);
out:
	close(d);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Run under `softvfio exec`: what a VFIO program sees of its fds, its
 * container requests and the sysfs view, written against <linux/vfio.h>
 * and libc only, as a real program is.
 *
 * Prints "PASS name" or "FAIL name: why" per check and "N passed, M failed"
 * last; exits non-zero when anything failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vfio.h>

/* The fortified entries a program built with _FORTIFY_SOURCE calls. */
extern int __open_2(const char *path, int flags);
extern int __openat64_2(int dirfd, const char *path, int flags);
extern ssize_t __readlink_chk(const char *path, char *buf, size_t len, size_t buflen);
extern char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen);

static int passed, failed;

static void check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS %s\n", name);
		passed++;
		return;
	}
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (errno %s)\n", strerror(errno));
	failed++;
}

static int is_container(int fd)
{
	return ioctl(fd, VFIO_GET_API_VERSION) == VFIO_API_VERSION &&
	       ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1;
}

static void test_open_entries(void)
{
	int fd;
	FILE *f;

	fd = open("/dev/vfio/vfio", O_RDWR);
	check(fd >= 0 && is_container(fd), "open", "fd %d", fd);
	close(fd);
	fd = openat(AT_FDCWD, "/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	check(fd >= 0 && is_container(fd) && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "openat-cloexec",
	      "fd %d", fd);
	close(fd);
	fd = __open_2("/dev/vfio/vfio", O_RDWR);
	check(fd >= 0 && is_container(fd), "__open_2", "fd %d", fd);
	close(fd);
	fd = __openat64_2(AT_FDCWD, "/dev/vfio/vfio", O_RDWR);
	check(fd >= 0 && is_container(fd), "__openat64_2", "fd %d", fd);
	close(fd);
	f = fopen("/dev/vfio/vfio", "r+");
	check(f && is_container(fileno(f)), "fopen", "%p", (void *)f);
	if (f)
		fclose(f);
	fd = open("/dev/vfio/4242", O_RDWR);
	check(fd < 0 && errno == ENOENT, "open-no-group", "fd %d", fd);
	fd = open("/dev/vfio/noiommu-0", O_RDWR);
	check(fd < 0 && errno == ENOENT, "open-no-noiommu", "fd %d", fd);
}

static void test_container_requests(void)
{
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map),
						.flags = VFIO_DMA_MAP_FLAG_READ,
						.size = 4096 };
	int fd = open("/dev/vfio/vfio", O_RDWR), fd2;
	long r;

	r = ioctl(fd, VFIO_CHECK_EXTENSION, 12345);
	check(r == 0, "check-extension-unknown", "%ld", r);
	r = ioctl(fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
	check(r < 0 && errno == EINVAL, "set-iommu-without-group", "%ld", r);
	r = ioctl(fd, VFIO_IOMMU_MAP_DMA, &map);
	check(r < 0 && errno == EINVAL, "map-before-set-iommu", "%ld", r);
	/* Linux answers EINVAL before it looks at the argument: no IOMMU driver yet. */
	r = ioctl(fd, VFIO_IOMMU_MAP_DMA, NULL);
	check(r < 0 && errno == EINVAL, "map-null-arg-before-set-iommu", "%ld", r);
	/* Linux: a request the container does not know, with no IOMMU driver set yet. */
	r = ioctl(fd, _IO(VFIO_TYPE, VFIO_BASE + 60));
	check(r < 0 && errno == EINVAL, "unknown-request-before-set-iommu", "%ld", r);
	/* Two opens are two containers, as on Linux; both answer. */
	fd2 = open("/dev/vfio/vfio", O_RDWR);
	check(fd2 >= 0 && fd2 != fd && is_container(fd) && is_container(fd2), "open-twice",
	      "%d %d", fd, fd2);
	close(fd2);
	close(fd);
}

static void test_fd_life(void)
{
	int fd = open("/dev/vfio/vfio", O_RDWR), d, d2, d3, d4, reg;
	long r;

	d = dup(fd);
	check(d >= 0 && is_container(d), "dup", "%d", d);
	d2 = dup2(fd, 100);
	check(d2 == 100 && is_container(100), "dup2", "%d", d2);
	d3 = dup3(fd, 101, O_CLOEXEC);
	check(d3 == 101 && is_container(101), "dup3", "%d", d3);
	d4 = fcntl(fd, F_DUPFD_CLOEXEC, 200);
	check(d4 >= 200 && is_container(d4), "fcntl-dupfd", "%d", d4);
	close(fd);
	check(is_container(d), "dup-survives-close", "%d", d);
	/* dup2 of an ordinary fd over ours: the slot is an ordinary fd now. */
	reg = open("/dev/null", O_RDONLY);
	dup2(reg, 100);
	r = ioctl(100, VFIO_GET_API_VERSION);
	check(r < 0 && errno == ENOTTY, "dup2-over", "%ld", r);
	/* close_range drops ours in the range, and the numbers are reused. */
	check(close_range(101, 101, 0) == 0, "close_range", "");
	fd = open("/dev/null", O_RDONLY);
	d3 = dup2(fd, 101);
	r = ioctl(101, VFIO_GET_API_VERSION);
	check(d3 == 101 && r < 0 && errno == ENOTTY, "fd-reuse-after-close_range", "%ld", r);
	close(fd);
	close(reg);
	close(100);
	close(101);
	close(d4);
	close(d);
}

static void test_fork(void)
{
	int fd = open("/dev/vfio/vfio", O_RDWR), sv[2], st = 0;
	pid_t pid;

	/* A child gets ENODEV on its parent's container: softvfio cannot share it. */
	pid = fork();
	if (pid == 0) {
		long r = ioctl(fd, VFIO_GET_API_VERSION);

		_exit(r < 0 && errno == ENODEV ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork-child-enodev", "status %d", st);
	check(is_container(fd), "fork-parent-still-works", "");
	/* An fd passed over a socket to another process: ENODEV there too. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid = fork();
	if (pid == 0) {
		char b;
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { &b, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf) };
		int got;
		long r;

		close(fd); /* the child's inherited copy: only the passed one remains */
		if (recvmsg(sv[1], &m, 0) != 1 || !CMSG_FIRSTHDR(&m))
			_exit(2);
		memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
		r = ioctl(got, VFIO_GET_API_VERSION);
		_exit(r < 0 && errno == ENODEV ? 0 : 1);
	} else {
		char b = 'x';
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
		struct iovec iov = { &b, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		sendmsg(sv[0], &m, 0);
		waitpid(pid, &st, 0);
	}
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fd-passing-enodev", "status %d", st);
	close(sv[0]);
	close(sv[1]);
	close(fd);
}

static int read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return 0;
}

static void test_sysfs(const char *bdf, unsigned group)
{
	char path[PATH_MAX], buf[PATH_MAX], want[64];
	struct stat st;
	ssize_t n;
	DIR *d;
	struct dirent *e;
	int found = 0, fd;
	unsigned char cfg[64];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "../../../kernel/iommu_groups/%u", group);
	check(n > 0 && !strcmp(buf, want), "sysfs-iommu_group-link", "'%s'", buf);
	n = __readlink_chk(path, buf, sizeof(buf) - 1, sizeof(buf));
	check(n > 0, "sysfs-readlink-chk", "%zd", n);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	check(n > 0 && strstr(buf, "/vfio-pci"), "sysfs-driver", "'%s'", buf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", bdf);
	check(!read_text(path, buf, sizeof(buf)) && !strcmp(buf, "0x1234\n"), "sysfs-vendor", "'%s'",
	      buf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", bdf);
	check(!read_text(path, buf, sizeof(buf)) && !strcmp(buf, "0x11e8\n"), "sysfs-device", "'%s'",
	      buf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/class", bdf);
	check(!read_text(path, buf, sizeof(buf)) && !strcmp(buf, "0x00ff00\n"), "sysfs-class", "'%s'",
	      buf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/revision", bdf);
	check(!read_text(path, buf, sizeof(buf)) && !strcmp(buf, "0x10\n"), "sysfs-revision", "'%s'",
	      buf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/numa_node", bdf);
	check(!read_text(path, buf, sizeof(buf)) && !strcmp(buf, "-1\n"), "sysfs-numa_node", "'%s'",
	      buf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", bdf);
	check(!read_text(path, buf, sizeof(buf)) && strstr(buf, " 0x0000000000040200\n"),
	      "sysfs-resource", "'%.60s'", buf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDONLY);
	check(fd >= 0 && pread(fd, cfg, sizeof(cfg), 0) == (ssize_t)sizeof(cfg) && cfg[0] == 0x34 &&
	      cfg[1] == 0x12 && cfg[2] == 0xe8 && cfg[3] == 0x11, "sysfs-config", "fd %d", fd);
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu/intel-iommu/cap", bdf);
	check(!read_text(path, buf, sizeof(buf)) && strtoull(buf, NULL, 16) != 0, "sysfs-vtd-cap",
	      "'%s'", buf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	check(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "sysfs-stat-device", "");
	check(access(path, R_OK) == 0, "sysfs-access", "");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/subsystem", bdf);
	check(realpath(path, buf) && !strcmp(buf, "/sys/bus/pci"), "sysfs-realpath-subsystem",
	      "'%s'", buf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	snprintf(want, sizeof(want), "/sys/devices/pci0000:00/%s", bdf);
	check(__realpath_chk(path, buf, sizeof(buf)) && !strcmp(buf, want),
	      "sysfs-realpath-device", "'%s'", buf);
	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%u/devices", group);
	d = opendir(path);
	while (d && (e = readdir(d)))
		found |= !strcmp(e->d_name, bdf);
	if (d)
		closedir(d);
	check(found, "sysfs-group-devices", "%s in %s", bdf, path);
	check(!read_text("/sys/module/vfio_iommu_type1/parameters/dma_entry_limit", buf,
			 sizeof(buf)) && !strcmp(buf, "65535\n"), "sysfs-dma_entry_limit", "'%s'", buf);
	check(stat("/sys/module/vfio_pci", &st) == 0 && stat("/sys/module/vfio", &st) == 0,
	      "sysfs-modules", "");
	check(stat("/dev/vfio/vfio", &st) == 0 && S_ISCHR(st.st_mode) &&
	      major(st.st_rdev) == 10 && minor(st.st_rdev) == 196, "stat-dev-vfio", "");
	snprintf(path, sizeof(path), "/dev/vfio/%u", group);
	check(stat(path, &st) == 0 && S_ISCHR(st.st_mode) && access(path, R_OK | W_OK) == 0,
	      "stat-dev-vfio-group", "");
	/* The same tree as a real directory, for programs that take a path. */
	if (getenv("SOFTVFIO_SYSFS")) {
		snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/vendor", getenv("SOFTVFIO_SYSFS"),
			 bdf);
		check(!read_text(path, buf, sizeof(buf)) && !strcmp(buf, "0x1234\n"),
		      "sysfs-real-tree", "'%s'", buf);
	} else {
		check(0, "sysfs-real-tree", "SOFTVFIO_SYSFS is not set");
	}
}

static void test_kmsg(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	char buf[512];
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;

	/* No DMA has faulted: nothing to read, and no block. */
	check(fd >= 0 && n < 0 && errno == EAGAIN, "kmsg-empty", "fd %d n %zd", fd, n);
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	const char *bdf = argc > 1 ? argv[1] : "0000:00:03.0";
	unsigned group = argc > 2 ? (unsigned)atoi(argv[2]) : 0;

	if (argc > 1 && !strcmp(argv[1], "signal")) {
		/* A container left open, then a fatal signal: exec still releases and reports. */
		if (open("/dev/vfio/vfio", O_RDWR) < 0)
			return 3;
		raise(SIGTERM);
		return 4;
	}

	test_open_entries();
	test_container_requests();
	test_fd_life();
	test_fork();
	test_sysfs(bdf, group);
	test_kmsg();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

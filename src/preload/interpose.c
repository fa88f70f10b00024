/* SPDX-License-Identifier: MIT */
/*
 * The libc entries the preload library stands in front of.
 *
 * Each wrapper decides in a few instructions whether the call can concern
 * softvfio at all: an fd call looks at one bit of the fd bitmap
 * (fdtable.h); a path call looks at the path's first two characters
 * ("/d", "/s"). Everything else goes straight to the real entry, so an
 * ordinary fd never reaches softvfio and costs a load and a branch.
 *
 * What is served:
 *  - open, open64, openat, openat64, the fortified __open*_2, fopen and
 *    fopen64 of /dev/vfio/vfio, /dev/vfio/N and /dev/kmsg make softvfio
 *    objects behind real kernel fds (host.c); sysfs paths are rewritten into
 *    the sysfs tree (sysfs.h), and so are stat and its variants, access,
 *    readlink, realpath (glibc's own does not call readlink through the PLT,
 *    so it is served separately) and opendir;
 *  - close, dup, dup2, dup3, fcntl(F_DUPFD*), close_range and closefrom
 *    keep the fd table in step with the kernel's;
 *  - ioctl, pread and pwrite (and their 64 and fortified forms) on our fds
 *    run softvfio's requests; mmap needs nothing (the device fd is a memfd
 *    laid out as vfio-pci's);
 *  - munmap, mremap and madvise ask the host whether the range is mapped
 *    for DMA (host.h).
 * Errors: the real entries' convention (-1 and errno); softvfio's -errno
 * is converted here, once.
 */
/*
 * The entries are defined under their own names: without this, glibc's
 * headers would rename open to open64 (and stat to stat64...) under the
 * build's _FILE_OFFSET_BITS=64, and the fortified inline forms would clash.
 */
#undef _FILE_OFFSET_BITS
#undef _FORTIFY_SOURCE
#include <dirent.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "fdtable.h"
#include "host.h"
#include "real.h"
#include "sysfs.h"

#define EXPORT __attribute__((visibility("default")))

_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "stat and stat64 differ");

static inline int ret_errno(long rc)
{
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return (int)rc;
}

/*
 * This library's own code: softvfio inside it unmaps and remaps memory of
 * its own (the pinner's relocated pages), and those calls must not come
 * back into the host that made them. A call whose return address lies in
 * [self_lo, self_hi) is softvfio's and passes straight through.
 */
static uintptr_t self_lo, self_hi;

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t me = (uintptr_t)arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && me >= lo && me < hi) {
			self_lo = lo;
			self_hi = hi;
			return 1;
		}
	}
	return 0;
}

static inline bool from_softvfio(const void *ret)
{
	return (uintptr_t)ret >= self_lo && (uintptr_t)ret < self_hi;
}

__attribute__((constructor)) static void pv_init(void)
{
	dl_iterate_phdr(find_self, (void *)(uintptr_t)&find_self);
	pv_real_need();
	pv_host_init();
}

/* ---- open ---- */

/* Only /sys... and /dev/v... (vfio), /dev/k... (kmsg) can be ours. */
static inline bool maybe_ours(const char *path)
{
	if (!path || path[0] != '/')
		return false;
	if (path[1] == 's')
		return path[2] == 'y' && path[3] == 's' && (path[4] == '/' || !path[4]);
	return path[1] == 'd' && path[2] == 'e' && path[3] == 'v' && path[4] == '/' &&
	       (path[5] == 'v' || path[5] == 'k');
}

/*
 * The slow path of every open: a softvfio node, or a path rewritten into
 * the sysfs tree (*path replaced). Returns true with *fd set (or -1 and
 * errno) when the node is ours.
 */
static bool open_node(const char *restrict *path, int flags, char *buf, size_t len, int *fd)
{
	bool ours;
	int rc = pv_host_open(*path, flags, &ours);

	if (ours) {
		*fd = ret_errno(rc);
		return true;
	}
	*path = pv_sysfs_redirect(*path, buf, len);
	return false;
}

static mode_t open_mode(int flags, va_list ap)
{
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		return (mode_t)va_arg(ap, int);
	return 0;
}

/*
 * open and openat differ only in the directory fd in front: dirparam and
 * dirarg are AT_PARAM and AT_ARG for the *at entries, NO_AT for the others
 * (a comma cannot be passed as part of a macro argument, a macro holding
 * one can). The _2 entries are what _FORTIFY_SOURCE builds call when the
 * flags need no mode.
 */
#define AT_PARAM int dirfd,
#define AT_ARG dirfd,
#define NO_AT

#define OPEN_WRAPPER(name, realfn, dirparam, dirarg)                \
	EXPORT int name(dirparam const char *path, int flags, ...)  \
	{                                                           \
		char buf[PATH_MAX];                                 \
		va_list ap;                                         \
		mode_t mode;                                        \
		int fd;                                             \
                                                                    \
		va_start(ap, flags);                                \
		mode = open_mode(flags, ap);                        \
		va_end(ap);                                         \
		pv_real_need();                                     \
		if (__builtin_expect(maybe_ours(path), 0) &&        \
		    open_node(&path, flags, buf, sizeof(buf), &fd)) \
			return fd;                                  \
		return pv_real.realfn(dirarg path, flags, mode);    \
	}

OPEN_WRAPPER(open, open, NO_AT, NO_AT)
OPEN_WRAPPER(open64, open64, NO_AT, NO_AT)
OPEN_WRAPPER(openat, openat, AT_PARAM, AT_ARG)
OPEN_WRAPPER(openat64, openat64, AT_PARAM, AT_ARG)

#define OPEN2_WRAPPER(name, realfn, dirparam, dirarg)               \
	EXPORT int name(dirparam const char *path, int flags)       \
	{                                                           \
		char buf[PATH_MAX];                                 \
		int fd;                                             \
                                                                    \
		pv_real_need();                                     \
		if (__builtin_expect(maybe_ours(path), 0) &&        \
		    open_node(&path, flags, buf, sizeof(buf), &fd)) \
			return fd;                                  \
		return pv_real.realfn(dirarg path, flags);          \
	}

OPEN2_WRAPPER(__open_2, open_2, NO_AT, NO_AT)
OPEN2_WRAPPER(__open64_2, open64_2, NO_AT, NO_AT)
OPEN2_WRAPPER(__openat_2, openat_2, AT_PARAM, AT_ARG)
OPEN2_WRAPPER(__openat64_2, openat64_2, AT_PARAM, AT_ARG)

static int fopen_flags(const char *mode)
{
	int flags = strchr(mode, '+') ? O_RDWR : (mode[0] == 'r' ? O_RDONLY : O_WRONLY);

	if (strchr(mode, 'e'))
		flags |= O_CLOEXEC;
	return flags;
}

#define FOPEN_WRAPPER(name, realfn)                                                  \
	EXPORT FILE *name(const char *restrict path, const char *restrict mode)      \
	{                                                                            \
		char buf[PATH_MAX];                                                  \
		int fd;                                                              \
                                                                                     \
		pv_real_need();                                                      \
		if (__builtin_expect(maybe_ours(path), 0) &&                         \
		    open_node((const char **)&path, fopen_flags(mode), buf,        \
			      sizeof(buf), &fd)) {                                 \
			FILE *f;                                                     \
                                                                                     \
			if (fd < 0)                                                  \
				return NULL;                                         \
			f = fdopen(fd, mode);                                        \
			if (!f) {                                                    \
				int e = errno;                                       \
                                                                                     \
				close(fd);                                           \
				errno = e;                                           \
			}                                                            \
			return f;                                                    \
		}                                                                    \
		return pv_real.realfn(path, mode);                                   \
	}

FOPEN_WRAPPER(fopen, fopen)
FOPEN_WRAPPER(fopen64, fopen64)

/* ---- close and duplication ---- */

EXPORT int close(int fd)
{
	pv_real_need();
	if (__builtin_expect(pv_fd_ours(fd), 0))
		pv_fd_forget(fd);
	return pv_real.close(fd);
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	int rc;

	pv_real_need();
	if (!pv_real.close_range) {
		errno = ENOSYS;
		return -1;
	}
	rc = pv_real.close_range(first, last, flags);
	if (rc == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
		pv_fd_forget_range(first, last);
	return rc;
}

EXPORT void closefrom(int lowfd)
{
	pv_real_need();
	if (lowfd < 0)
		lowfd = 0;
	if (pv_real.closefrom)
		pv_real.closefrom(lowfd);
	pv_fd_forget_range((unsigned)lowfd, UINT_MAX);
}

/* newfd now names what oldfd names (or nothing of ours). */
static void dup_into(int oldfd, int newfd)
{
	struct pv_file *f = pv_fd_get(oldfd);

	if (f) {
		if (pv_fd_install(newfd, f)) {
			/* above the table: the program gets an fd softvfio will not serve */
			pv_fd_forget(newfd);
		}
		pv_file_put(f);
	} else if (pv_fd_ours(newfd)) {
		pv_fd_forget(newfd);
	}
}

EXPORT int dup(int oldfd)
{
	int fd;

	pv_real_need();
	fd = pv_real.dup(oldfd);
	if (__builtin_expect(pv_fd_ours(oldfd), 0) && fd >= 0)
		dup_into(oldfd, fd);
	return fd;
}

EXPORT int dup2(int oldfd, int newfd)
{
	int fd;

	pv_real_need();
	fd = pv_real.dup2(oldfd, newfd);
	if (__builtin_expect(pv_fd_ours(oldfd) || pv_fd_ours(newfd), 0) && fd >= 0 &&
	    oldfd != newfd)
		dup_into(oldfd, fd);
	return fd;
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	int fd;

	pv_real_need();
	fd = pv_real.dup3(oldfd, newfd, flags);
	if (__builtin_expect(pv_fd_ours(oldfd) || pv_fd_ours(newfd), 0) && fd >= 0)
		dup_into(oldfd, fd);
	return fd;
}

static int do_fcntl(int (*realfn)(int, int, ...), int fd, int cmd, void *arg)
{
	int rc = realfn(fd, cmd, arg);

	if (__builtin_expect(pv_fd_ours(fd), 0) && rc >= 0 &&
	    (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		dup_into(fd, rc);
	return rc;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	pv_real_need();
	return do_fcntl(pv_real.fcntl, fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	pv_real_need();
	return do_fcntl(pv_real.fcntl64 ? pv_real.fcntl64 : pv_real.fcntl, fd, cmd, arg);
}

/* ---- requests ---- */

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	pv_real_need();
	if (__builtin_expect(pv_fd_ours(fd), 0))
		return ret_errno(pv_host_ioctl(fd, request, arg));
	if (__builtin_expect(_IOC_TYPE(request) == VFIO_TYPE, 0)) {
		bool ours;
		long rc = pv_host_ioctl_foreign(fd, request, &ours);

		if (ours)
			return ret_errno(rc);
	}
	return pv_real.ioctl(fd, request, arg);
}

static inline ssize_t ret_ssize(ssize_t rc)
{
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return rc;
}

/*
 * Region access on a device fd of ours goes to the host; any other fd to
 * libc. The _chk entries are what _FORTIFY_SOURCE builds call.
 */
#define PRW_WRAPPER(name, realfn, host, qual)                            \
	EXPORT ssize_t name(int fd, qual void *buf, size_t n, off_t off) \
	{                                                                \
		pv_real_need();                                          \
		if (__builtin_expect(pv_fd_ours(fd), 0))                 \
			return ret_ssize(host(fd, buf, n, off));         \
		return pv_real.realfn(fd, buf, n, off);                  \
	}

PRW_WRAPPER(pread, pread, pv_host_pread, )
PRW_WRAPPER(pread64, pread64, pv_host_pread, )
PRW_WRAPPER(pwrite, pwrite, pv_host_pwrite, const)
PRW_WRAPPER(pwrite64, pwrite64, pv_host_pwrite, const)

#define PREAD_CHK_WRAPPER(name, realfn)                                             \
	EXPORT ssize_t name(int fd, void *buf, size_t n, off_t off, size_t buflen)  \
	{                                                                           \
		pv_real_need();                                                     \
		if (__builtin_expect(pv_fd_ours(fd), 0)) {                          \
			/* what glibc's __chk_fail does: the buffer is too small */ \
			if (n > buflen)                                             \
				abort();                                            \
			return ret_ssize(pv_host_pread(fd, buf, n, off));           \
		}                                                                   \
		return pv_real.realfn(fd, buf, n, off, buflen);                     \
	}

PREAD_CHK_WRAPPER(__pread_chk, pread_chk)
PREAD_CHK_WRAPPER(__pread64_chk, pread64_chk)

/* ---- memory mapped for DMA ---- */

EXPORT int munmap(void *addr, size_t len)
{
	pv_real_need();
	if (__builtin_expect(pv_host_dma_maybe(addr, len), 0) &&
	    !from_softvfio(__builtin_return_address(0)) && !pv_host_inside())
		pv_host_dma_release(addr, len);
	return pv_real.munmap(addr, len);
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	va_list ap;
	void *new_addr;

	va_start(ap, flags);
	new_addr = (flags & MREMAP_FIXED) ? va_arg(ap, void *) : NULL;
	va_end(ap);
	pv_real_need();
	/* The pages move away from the old range (unless DONTUNMAP keeps them there). */
	if (__builtin_expect(pv_host_dma_maybe(old, old_len), 0) && !(flags & MREMAP_DONTUNMAP) &&
	    !from_softvfio(__builtin_return_address(0)) && !pv_host_inside())
		pv_host_dma_release(old, old_len);
	return pv_real.mremap(old, old_len, new_len, flags, new_addr);
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
	pv_real_need();
	if (__builtin_expect(pv_host_dma_maybe(addr, len), 0) &&
	    (advice == MADV_DONTNEED || advice == MADV_FREE || advice == MADV_REMOVE) &&
	    !from_softvfio(__builtin_return_address(0)) && !pv_host_inside())
		pv_host_dma_release(addr, len);
	return pv_real.madvise(addr, len, advice);
}

/* ---- /dev/kmsg ---- */

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	pv_real_need();
	if (__builtin_expect(pv_fd_ours(fd), 0))
		pv_host_kmsg_feed();
	return pv_real.read(fd, buf, n);
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	pv_real_need();
	if (__builtin_expect(pv_fd_ours(fd), 0))
		pv_host_kmsg_feed();
	return pv_real.read_chk(fd, buf, n, buflen);
}

/* ---- the sysfs view ---- */

#define REDIRECT(path, buf) \
	(__builtin_expect(maybe_ours(path), 0) ? pv_sysfs_redirect(path, buf, sizeof(buf)) : path)

/* A node of ours answers itself; any other path is redirected or passed through. */
#define STAT_WRAPPER(name, realfn, type)                              \
	EXPORT int name(const char *restrict path, type *restrict st) \
	{                                                             \
		char buf[PATH_MAX];                                   \
                                                                      \
		pv_real_need();                                       \
		if (__builtin_expect(maybe_ours(path), 0) &&          \
		    pv_host_stat_node(path, (struct stat *)st))       \
			return 0;                                     \
		return pv_real.realfn(REDIRECT(path, buf), st);       \
	}

STAT_WRAPPER(stat, stat, struct stat)
STAT_WRAPPER(stat64, stat64, struct stat64)
STAT_WRAPPER(lstat, lstat, struct stat)
STAT_WRAPPER(lstat64, lstat64, struct stat64)

#define FSTATAT_WRAPPER(name, realfn, type)                                                 \
	EXPORT int name(int dirfd, const char *restrict path, type *restrict st, int flags) \
	{                                                                                   \
		char buf[PATH_MAX];                                                         \
                                                                                            \
		pv_real_need();                                                             \
		if (__builtin_expect(maybe_ours(path), 0) &&                                \
		    pv_host_stat_node(path, (struct stat *)st))                             \
			return 0;                                                           \
		return pv_real.realfn(dirfd, REDIRECT(path, buf), st, flags);               \
	}

FSTATAT_WRAPPER(fstatat, fstatat, struct stat)
FSTATAT_WRAPPER(fstatat64, fstatat64, struct stat64)

/* The pre-2.33 entries, still called by binaries built against older glibc. */
EXPORT int __xstat(int ver, const char *path, struct stat *st);
EXPORT int __xstat64(int ver, const char *path, struct stat64 *st);
EXPORT int __lxstat(int ver, const char *path, struct stat *st);
EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st);
EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);

#define XSTAT_WRAPPER(name, realfn, type)                                            \
	EXPORT int name(int ver, const char *path, type *st)                         \
	{                                                                            \
		char buf[PATH_MAX];                                                  \
                                                                                     \
		pv_real_need();                                                      \
		if (!pv_real.realfn) {                                               \
			errno = ENOSYS;                                              \
			return -1;                                                   \
		}                                                                    \
		if (__builtin_expect(maybe_ours(path), 0) &&                         \
		    pv_host_stat_node(path, (struct stat *)st))                      \
			return 0;                                                    \
		return pv_real.realfn(ver, REDIRECT(path, buf), st);                 \
	}

XSTAT_WRAPPER(__xstat, xstat, struct stat)
XSTAT_WRAPPER(__xstat64, xstat64, struct stat64)
XSTAT_WRAPPER(__lxstat, lxstat, struct stat)
XSTAT_WRAPPER(__lxstat64, lxstat64, struct stat64)

#define FXSTATAT_WRAPPER(name, realfn, type)                                       \
	EXPORT int name(int ver, int dirfd, const char *path, type *st, int flags) \
	{                                                                          \
		char buf[PATH_MAX];                                                \
                                                                                   \
		pv_real_need();                                                    \
		if (!pv_real.realfn) {                                             \
			errno = ENOSYS;                                            \
			return -1;                                                 \
		}                                                                  \
		if (__builtin_expect(maybe_ours(path), 0) &&                       \
		    pv_host_stat_node(path, (struct stat *)st))                    \
			return 0;                                                  \
		return pv_real.realfn(ver, dirfd, REDIRECT(path, buf), st, flags); \
	}

FXSTATAT_WRAPPER(__fxstatat, fxstatat, struct stat)
FXSTATAT_WRAPPER(__fxstatat64, fxstatat64, struct stat64)

EXPORT int statx(int dirfd, const char *restrict path, int flags, unsigned mask,
		 struct statx *restrict st)
{
	char buf[PATH_MAX];

	pv_real_need();
	if (!pv_real.statx) {
		errno = ENOSYS;
		return -1;
	}
	return pv_real.statx(dirfd, REDIRECT(path, buf), flags, mask, st);
}

EXPORT int access(const char *path, int mode)
{
	char buf[PATH_MAX];
	struct stat st;

	pv_real_need();
	if (__builtin_expect(maybe_ours(path), 0) && pv_host_stat_node(path, &st))
		return 0;
	return pv_real.access(REDIRECT(path, buf), mode);
}

EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	char buf[PATH_MAX];
	struct stat st;

	pv_real_need();
	if (__builtin_expect(maybe_ours(path), 0) && pv_host_stat_node(path, &st))
		return 0;
	return pv_real.faccessat(dirfd, REDIRECT(path, buf), mode, flags);
}

EXPORT ssize_t readlink(const char *restrict path, char *restrict out, size_t len)
{
	char buf[PATH_MAX];

	pv_real_need();
	return pv_real.readlink(REDIRECT(path, buf), out, len);
}

EXPORT ssize_t readlinkat(int dirfd, const char *restrict path, char *restrict out, size_t len)
{
	char buf[PATH_MAX];

	pv_real_need();
	return pv_real.readlinkat(dirfd, REDIRECT(path, buf), out, len);
}

EXPORT ssize_t __readlink_chk(const char *path, char *out, size_t len, size_t outlen)
{
	char buf[PATH_MAX];

	pv_real_need();
	return pv_real.readlink_chk(REDIRECT(path, buf), out, len, outlen);
}

EXPORT ssize_t __readlinkat_chk(int dirfd, const char *path, char *out, size_t len, size_t outlen)
{
	char buf[PATH_MAX];

	pv_real_need();
	return pv_real.readlinkat_chk(dirfd, REDIRECT(path, buf), out, len, outlen);
}

/* realpath resolves inside the tree, then names the result as /sys (or /dev) would. */
static char *resolve(const char *path, char *resolved)
{
	char buf[PATH_MAX], *r;
	const char *p = REDIRECT(path, buf);

	r = pv_real.realpath(p, resolved);
	if (r && p != path)
		pv_sysfs_unredirect(r, PATH_MAX);
	return r;
}

EXPORT char *realpath(const char *restrict path, char *restrict resolved)
{
	pv_real_need();
	return resolve(path, resolved);
}

EXPORT char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen)
{
	pv_real_need();
	if (resolvedlen < PATH_MAX)
		abort(); /* glibc's __chk_fail */
	return resolve(path, resolved);
}

EXPORT char *canonicalize_file_name(const char *path)
{
	pv_real_need();
	return resolve(path, NULL);
}

EXPORT DIR *opendir(const char *path)
{
	char buf[PATH_MAX];

	pv_real_need();
	return pv_real.opendir(REDIRECT(path, buf));
}

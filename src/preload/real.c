/* SPDX-License-Identifier: MIT */
/*
 * Resolution of the real libc entries (see real.h). dlsym(RTLD_NEXT) finds
 * the definition after this library in the lookup order. An entry this libc
 * does not have (the pre-2.33 __xstat family on a newer libc is still there
 * for old binaries; closefrom before 2.34 is not) stays NULL, and its
 * wrapper then answers ENOSYS, as a missing system call would.
 */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>

#include "real.h"

struct pv_real pv_real;

#define RESOLVE(field, name) \
	__atomic_store_n((void **)&pv_real.field, dlsym(RTLD_NEXT, name), __ATOMIC_RELAXED)

void pv_real_resolve(void)
{
	RESOLVE(open, "open");
	RESOLVE(open64, "open64");
	RESOLVE(openat, "openat");
	RESOLVE(openat64, "openat64");
	RESOLVE(open_2, "__open_2");
	RESOLVE(open64_2, "__open64_2");
	RESOLVE(openat_2, "__openat_2");
	RESOLVE(openat64_2, "__openat64_2");
	RESOLVE(fopen, "fopen");
	RESOLVE(fopen64, "fopen64");
	RESOLVE(close, "close");
	RESOLVE(close_range, "close_range");
	RESOLVE(closefrom, "closefrom");
	RESOLVE(dup, "dup");
	RESOLVE(dup2, "dup2");
	RESOLVE(dup3, "dup3");
	RESOLVE(fcntl, "fcntl");
	RESOLVE(fcntl64, "fcntl64");
	RESOLVE(ioctl, "ioctl");
	RESOLVE(pread, "pread");
	RESOLVE(pread64, "pread64");
	RESOLVE(pwrite, "pwrite");
	RESOLVE(pwrite64, "pwrite64");
	RESOLVE(pread_chk, "__pread_chk");
	RESOLVE(pread64_chk, "__pread64_chk");
	RESOLVE(mmap, "mmap");
	RESOLVE(mmap64, "mmap64");
	RESOLVE(munmap, "munmap");
	RESOLVE(mremap, "mremap");
	RESOLVE(madvise, "madvise");
	RESOLVE(read, "read");
	RESOLVE(read_chk, "__read_chk");
	RESOLVE(stat, "stat");
	RESOLVE(stat64, "stat64");
	RESOLVE(lstat, "lstat");
	RESOLVE(lstat64, "lstat64");
	RESOLVE(fstatat, "fstatat");
	RESOLVE(fstatat64, "fstatat64");
	RESOLVE(xstat, "__xstat");
	RESOLVE(xstat64, "__xstat64");
	RESOLVE(lxstat, "__lxstat");
	RESOLVE(lxstat64, "__lxstat64");
	RESOLVE(fxstatat, "__fxstatat");
	RESOLVE(fxstatat64, "__fxstatat64");
	RESOLVE(statx, "statx");
	RESOLVE(access, "access");
	RESOLVE(faccessat, "faccessat");
	RESOLVE(readlink, "readlink");
	RESOLVE(readlinkat, "readlinkat");
	RESOLVE(readlink_chk, "__readlink_chk");
	RESOLVE(readlinkat_chk, "__readlinkat_chk");
	RESOLVE(realpath, "realpath");
	RESOLVE(realpath_chk, "__realpath_chk");
	RESOLVE(canonicalize_file_name, "canonicalize_file_name");
	RESOLVE(opendir, "opendir");
	__atomic_store_n(&pv_real.resolved, true, __ATOMIC_RELEASE);
}

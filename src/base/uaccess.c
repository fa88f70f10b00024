/* SPDX-License-Identifier: MIT */
/* The caller's memory, reached without faulting; see uaccess.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "uaccess.h"

/* 1 while process_vm_* work here, 0 once refused (then the pipe is used). */
static int vm_ok = 1;

/* Largest pipe transfer tried at once (the default pipe holds 64 KiB). */
#define PIPE_CHUNK 4096

static int pipe_copy(void *dst, const void *src, size_t len)
{
	int fds[2], rc = 0;

	if (pipe2(fds, O_CLOEXEC))
		return errno == EMFILE || errno == ENFILE ? -ENOMEM : -EFAULT;
	for (size_t off = 0; off < len;) {
		size_t n = len - off < PIPE_CHUNK ? len - off : PIPE_CHUNK;
		ssize_t w = write(fds[1], (const char *)src + off, n), r;

		if (w <= 0) {
			rc = -EFAULT;
			break;
		}
		r = read(fds[0], (char *)dst + off, (size_t)w);
		if (r != w) {
			rc = -EFAULT;
			break;
		}
		off += (size_t)w;
	}
	close(fds[0]);
	close(fds[1]);
	return rc;
}

/* write: 0 reads from the caller (src remote), 1 writes to the caller (dst remote). */
static int vm_copy(void *dst, const void *src, size_t len, int write)
{
	struct iovec local, remote;
	ssize_t n;

	if (!len)
		return 0;
	if (__atomic_load_n(&vm_ok, __ATOMIC_RELAXED)) {
		local.iov_base = write ? (void *)src : dst;
		local.iov_len = len;
		remote.iov_base = write ? dst : (void *)src;
		remote.iov_len = len;
		for (;;) {
			n = write ? process_vm_writev(getpid(), &local, 1, &remote, 1, 0)
				  : process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
			if (n >= 0)
				return (size_t)n == len ? 0 : -EFAULT;
			if (errno == EINTR)
				continue;
			if (errno == EFAULT)
				return -EFAULT;
			if (errno == ENOMEM)
				return -ENOMEM;
			break;
		}
		/* ENOSYS or EPERM (a sandbox): fall back to the pipe from now on. */
		__atomic_store_n(&vm_ok, 0, __ATOMIC_RELAXED);
	}
	return pipe_copy(dst, src, len);
}

#if !SVF_ASAN
_Thread_local uintptr_t svf_stack_lo __attribute__((tls_model("initial-exec")));
_Thread_local uintptr_t svf_stack_hi __attribute__((tls_model("initial-exec")));

void svf_uaccess_learn_stack(void)
{
	pthread_attr_t attr;
	void *lo;
	size_t size;

	svf_stack_hi = 1;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
			svf_stack_lo = (uintptr_t)lo;
			svf_stack_hi = (uintptr_t)lo + size;
		}
		pthread_attr_destroy(&attr);
	}
}
#endif

/* As x86-64 Linux: the end (exclusive) must itself be a valid user address. */
static inline bool access_ok(uint64_t addr, uint64_t size)
{
	uint64_t end;

	return !__builtin_add_overflow(addr, size, &end) && end < SVF_USER_ADDR_END;
}

int svf_copy_in(void *dst, const void *src, size_t len)
{
	if (!len)
		return 0;
	if (!src || !access_ok((uintptr_t)src, len))
		return -EFAULT;
	if (svf_on_own_stack(src, len)) {
		memcpy(dst, src, len);
		return 0;
	}
	return vm_copy(dst, src, len, 0);
}

int svf_copy_out(void *dst, const void *src, size_t len)
{
	if (!len)
		return 0;
	if (!dst || !access_ok((uintptr_t)dst, len))
		return -EFAULT;
	if (svf_on_own_stack(dst, len)) {
		memcpy(dst, src, len);
		return 0;
	}
	return vm_copy(dst, src, len, 1);
}

bool svf_access_ok(uint64_t addr, uint64_t size)
{
	return access_ok(addr, size);
}

/* SPDX-License-Identifier: MIT */
/*
 * Reaching the caller's memory as a kernel would (copy_from_user,
 * copy_to_user, access_ok): every pointer a request carries - the request
 * struct, a capability buffer, a dirty bitmap - is read and written through
 * these, so that a pointer the process cannot read (or write) answers
 * -EFAULT instead of crashing the process.
 *
 * How: process_vm_readv/process_vm_writev on the calling process. The
 * kernel walks the page tables with the process's own permissions and
 * reports a partial transfer where a page is missing or protected; nothing
 * faults. A write to read-only memory fails as copy_to_user would. Where
 * those system calls are not permitted (seccomp, ENOSYS), a pipe is used
 * instead: write(2) from the source probes that it is readable and read(2)
 * into the destination probes that it is writable, each answering EFAULT
 * without a signal. Both move the bytes, so a probe is also the copy.
 *
 * The one exception: bytes wholly on the calling thread's own stack,
 * between its current frame and the stack's top, are mapped and writable
 * (they hold the frames of the callers), so they are copied directly. A
 * VMM's request struct is usually a local of its ioctl call, and this
 * spares every request two system calls.
 *
 * NULL is refused without a system call. Thread-safe; no allocation.
 */
#ifndef SOFTVFIO_UACCESS_H
#define SOFTVFIO_UACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sanitize.h"

/* The highest user address of x86-64 with 4-level paging, plus one (TASK_SIZE_MAX). */
#define SVF_USER_ADDR_END 0x7ffffffff000ULL

/* svf_copy_from_user and svf_copy_to_user in full, off the caller's stack too. */
int svf_copy_in(void *dst, const void *src, size_t len);
int svf_copy_out(void *dst, const void *src, size_t len);

#if !SVF_ASAN
/*
 * The calling thread's stack [svf_stack_lo, svf_stack_hi), learnt once per
 * thread by svf_uaccess_learn_stack; svf_stack_hi 1: unknown (never
 * matches). Initial-exec: every request reads them, and the general model
 * would call __tls_get_addr each time in the shared library (the preload
 * library is loaded at start, where static TLS is there for it).
 */
extern _Thread_local uintptr_t svf_stack_lo __attribute__((tls_model("initial-exec")));
extern _Thread_local uintptr_t svf_stack_hi __attribute__((tls_model("initial-exec")));
void svf_uaccess_learn_stack(void) __attribute__((cold));
#endif

/*
 * Whether [p, p + len) lies between the current frame and the top of this
 * thread's stack: memory that is mapped and writable for as long as this
 * call runs (and so readable, writable and below SVF_USER_ADDR_END). Off
 * under AddressSanitizer, whose checks a direct copy of a caller's
 * oversized struct would trip where the kernel copies silently.
 */
static inline bool svf_on_own_stack(const void *p, size_t len)
{
#if SVF_ASAN
	(void)p;
	(void)len;
	return false;
#else
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0), a = (uintptr_t)p, hi;

	if (__builtin_expect(!svf_stack_hi, 0))
		svf_uaccess_learn_stack();
	hi = svf_stack_hi;
	return sp >= svf_stack_lo && sp < hi && a >= sp && a < hi && len <= hi - a;
#endif
}

/*
 * Copy len bytes from the caller's src. 0, or -EFAULT when any byte is
 * unreadable. Inline for a request on the caller's own stack (the usual
 * case: a copy of a few words, no call).
 */
static inline int svf_copy_from_user(void *dst, const void *src, size_t len)
{
	if (svf_on_own_stack(src, len)) {
		memcpy(dst, src, len);
		return 0;
	}
	return svf_copy_in(dst, src, len);
}

/* Copy len bytes to the caller's dst. 0, or -EFAULT when any byte is unwritable. */
static inline int svf_copy_to_user(void *dst, const void *src, size_t len)
{
	if (svf_on_own_stack(dst, len)) {
		memcpy(dst, src, len);
		return 0;
	}
	return svf_copy_out(dst, src, len);
}
/*
 * Linux's access_ok (x86-64): addr + size does not wrap and is itself below
 * SVF_USER_ADDR_END. Checks the address only, not whether memory is there.
 */
bool svf_access_ok(uint64_t addr, uint64_t size);

#endif

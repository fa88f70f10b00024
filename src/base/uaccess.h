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

/* The highest user address of x86-64 with 4-level paging, plus one (TASK_SIZE_MAX). */
#define SVF_USER_ADDR_END 0x7ffffffff000ULL

/* Copy len bytes from the caller's src. 0, or -EFAULT when any byte is unreadable. */
int svf_copy_from_user(void *dst, const void *src, size_t len);
/* Copy len bytes to the caller's dst. 0, or -EFAULT when any byte is unwritable. */
int svf_copy_to_user(void *dst, const void *src, size_t len);
/*
 * Linux's access_ok (x86-64): addr + size does not wrap and is itself below
 * SVF_USER_ADDR_END. Checks the address only, not whether memory is there.
 */
bool svf_access_ok(uint64_t addr, uint64_t size);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The preload library's file table: which of the process's file
 * descriptors are softvfio's, and the object each one refers to.
 *
 * Every VFIO fd a program gets is a real kernel fd (a memfd, or a socket
 * for /dev/kmsg), so the kernel keeps numbering, close-on-exec, poll and
 * reuse right; this table only says which numbers are ours. Like a kernel
 * struct file, one pv_file is shared by every fd dup()ed from the first.
 *
 * Fast path: pv_fd_ours() is one bitmap word load (relaxed), so that a
 * call on an ordinary fd costs a load and a branch. The bitmap covers
 * PV_FD_MAX descriptors; a softvfio object is never installed above it.
 *
 * Locking: pv_fdt_lock (a mutex, inner to nothing) guards the table
 * entries, the bitmap's writers and every pv_file.refs. A caller holds a
 * reference (pv_fd_get) while it uses an object, so a concurrent close
 * cannot free it underneath; the last pv_file_put() calls ->release
 * outside the lock.
 *
 * Fork: a child inherits the kernel fds and a copy of this table, but not
 * the objects' life (their threads, the parent's memory as the device sees
 * it). pv_file.pid says which process made the file; the child refuses
 * requests on its parent's files (see host.c).
 */
#ifndef SVF_PRELOAD_FDTABLE_H
#define SVF_PRELOAD_FDTABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PV_FD_MAX 65536

enum pv_kind {
	PV_CONTAINER = 1,
	PV_GROUP,
	PV_DEVICE,
	PV_KMSG,
};

struct pv_file {
	enum pv_kind kind;     /* immutable */
	pid_t pid;             /* immutable: the process that created it */
	unsigned refs;         /* fds + users in flight; under pv_fdt_lock */
	void *obj;             /* immutable; kind's object */
	void (*release)(struct pv_file *f); /* called once, on the last put */
};

extern uint64_t pv_fd_bitmap[PV_FD_MAX / 64];

static inline bool pv_fd_ours(int fd)
{
	return (unsigned)fd < PV_FD_MAX &&
	       ((__atomic_load_n(&pv_fd_bitmap[(unsigned)fd / 64], __ATOMIC_RELAXED) >>
		 ((unsigned)fd % 64)) & 1);
}

/* The file behind fd with a reference taken, or NULL. */
struct pv_file *pv_fd_get(int fd);
void pv_file_get(struct pv_file *f);
void pv_file_put(struct pv_file *f);

/*
 * Make fd refer to f (taking a reference). An fd that referred to
 * something else is forgotten first. -EMFILE when fd >= PV_FD_MAX.
 */
int pv_fd_install(int fd, struct pv_file *f);

/* fd no longer refers to ours (it is being closed or replaced). */
void pv_fd_forget(int fd);
/* Every fd in [first, last]. */
void pv_fd_forget_range(unsigned first, unsigned last);

/* Calls fn on every installed file (a reference held during the call). */
void pv_fd_for_each(void (*fn)(int fd, struct pv_file *f, void *arg), void *arg);

#endif

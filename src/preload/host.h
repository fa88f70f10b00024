/* SPDX-License-Identifier: MIT */
/*
 * The preload library's host: the softvfio objects behind the program's
 * VFIO fds, built from the configuration exec passes in the environment,
 * and released when the program ends.
 *
 * Environment (set by `softvfio exec`; all optional):
 *   SOFTVFIO_DEVICES   device specs joined by ';' (src/exec/devspec.h);
 *                      default one edu
 *   SOFTVFIO_POLICY    strict, batched, gather (default), lazy
 *   SOFTVFIO_BACKEND   process (default), synthetic
 *   SOFTVFIO_DRIVER    the emulated IOMMU: vtd (default), amd
 *   SOFTVFIO_HW_DIRTY  1: the IOMMU tracks dirtiness
 *   SOFTVFIO_CHECK_DMA 1: device accesses checked against the pin state
 *   SOFTVFIO_STATS     file for the JSON counters, written at exit
 *   SOFTVFIO_LOG       log file (default standard error)
 *   SOFTVFIO_SYSFS     root of the sysfs tree (default a temporary one)
 *   SOFTVFIO_RECORD    file for the container requests as a vfio-trace
 *   SOFTVFIO_PID       the program's process id (the one that writes stats
 *                      even when it used no VFIO node)
 *
 * Threading: every entry is thread safe. host_lock guards the host's lists
 * and counters; it is taken before any softvfio object's own lock and never
 * held across a request on a container.
 */
#ifndef SVF_PRELOAD_HOST_H
#define SVF_PRELOAD_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Constructor work: environment, log, sysfs tree, exit and signal hooks. */
void pv_host_init(void);

/*
 * open() of path with flags: *ours false when path is none of softvfio's
 * nodes (/dev/vfio/vfio, /dev/vfio/N, /dev/vfio/noiommu-N, /dev/kmsg);
 * else the new fd or -errno.
 */
int pv_host_open(const char *path, int flags, bool *ours);

/* stat() of a softvfio node: true with *st filled when path is one. */
struct stat;
bool pv_host_stat_node(const char *path, struct stat *st);

/* ioctl on fd, which pv_fd_ours() said is ours: the result or -errno. */
long pv_host_ioctl(int fd, unsigned long request, void *arg);

/*
 * A VFIO request on an fd the table does not know: a softvfio fd of
 * another process (inherited, passed over a socket) gets -ENODEV and a
 * log line; anything else *ours false.
 */
long pv_host_ioctl_foreign(int fd, unsigned long request, bool *ours);

/* pread/pwrite on an fd of ours: bytes or -errno. */
ssize_t pv_host_pread(int fd, void *buf, size_t count, off_t offset);
ssize_t pv_host_pwrite(int fd, const void *buf, size_t count, off_t offset);

/*
 * Whether [addr, addr + len) may hold memory mapped for DMA (it meets the
 * bounds of every vaddr a MAP_DMA ever reached): the fast path of munmap,
 * mremap and madvise (three relaxed loads).
 */
bool pv_host_dma_maybe(const void *addr, size_t len);

/*
 * The program is about to release [addr, addr + len) (munmap, mremap's
 * source, madvise that drops pages): pinned pages in it move to memory the
 * pinner keeps, so that devices reach them until they are unmapped for
 * DMA, as on Linux. The caller then does the program's call. Never fails
 * (a failure is logged).
 */
void pv_host_dma_release(const void *addr, size_t len);

/* Whether this thread is inside a softvfio call the host made (see host.c). */
bool pv_host_inside(void);

/* Before a read(2) of a /dev/kmsg fd: send it the faults recorded since. */
void pv_host_kmsg_feed(void);

/* Release everything and write the stats (exit, fatal signal). Idempotent. */
void pv_host_exit(void);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The file table (fdtable.h). The entries array is allocated on the first
 * install, so that a program that never opens a VFIO node carries only
 * the 8 KiB bitmap (in .bss, zero pages until written).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "fdtable.h"

uint64_t pv_fd_bitmap[PV_FD_MAX / 64];

static pthread_mutex_t pv_fdt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pv_file **entries; /* under pv_fdt_lock */

static void bit_set(unsigned fd, bool on)
{
	uint64_t m = 1ULL << (fd % 64);

	if (on)
		__atomic_fetch_or(&pv_fd_bitmap[fd / 64], m, __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&pv_fd_bitmap[fd / 64], ~m, __ATOMIC_RELAXED);
}

struct pv_file *pv_fd_get(int fd)
{
	struct pv_file *f = NULL;

	if ((unsigned)fd >= PV_FD_MAX)
		return NULL;
	pthread_mutex_lock(&pv_fdt_lock);
	if (entries && entries[fd]) {
		f = entries[fd];
		f->refs++;
	}
	pthread_mutex_unlock(&pv_fdt_lock);
	return f;
}

void pv_file_get(struct pv_file *f)
{
	pthread_mutex_lock(&pv_fdt_lock);
	f->refs++;
	pthread_mutex_unlock(&pv_fdt_lock);
}

void pv_file_put(struct pv_file *f)
{
	bool last;

	if (!f)
		return;
	pthread_mutex_lock(&pv_fdt_lock);
	last = --f->refs == 0;
	pthread_mutex_unlock(&pv_fdt_lock);
	if (last)
		f->release(f);
}

int pv_fd_install(int fd, struct pv_file *f)
{
	struct pv_file *old;

	if ((unsigned)fd >= PV_FD_MAX)
		return -EMFILE;
	pthread_mutex_lock(&pv_fdt_lock);
	if (!entries) {
		entries = calloc(PV_FD_MAX, sizeof(*entries));
		if (!entries) {
			pthread_mutex_unlock(&pv_fdt_lock);
			return -ENOMEM;
		}
	}
	old = entries[fd];
	f->refs++;
	entries[fd] = f;
	bit_set((unsigned)fd, true);
	pthread_mutex_unlock(&pv_fdt_lock);
	pv_file_put(old);
	return 0;
}

void pv_fd_forget(int fd)
{
	struct pv_file *old = NULL;

	if ((unsigned)fd >= PV_FD_MAX)
		return;
	pthread_mutex_lock(&pv_fdt_lock);
	if (entries) {
		old = entries[fd];
		entries[fd] = NULL;
	}
	bit_set((unsigned)fd, false);
	pthread_mutex_unlock(&pv_fdt_lock);
	pv_file_put(old);
}

void pv_fd_forget_range(unsigned first, unsigned last)
{
	if (last >= PV_FD_MAX)
		last = PV_FD_MAX - 1;
	for (unsigned fd = first; fd <= last && first < PV_FD_MAX; fd++)
		if (pv_fd_ours((int)fd))
			pv_fd_forget((int)fd);
}

void pv_fd_for_each(void (*fn)(int fd, struct pv_file *f, void *arg), void *arg)
{
	for (unsigned fd = 0; fd < PV_FD_MAX; fd++) {
		struct pv_file *f;

		if (!pv_fd_ours((int)fd))
			continue;
		f = pv_fd_get((int)fd);
		if (f) {
			fn((int)fd, f, arg);
			pv_file_put(f);
		}
	}
}

/* SPDX-License-Identifier: MIT */
/* The preload library's log (log.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "preload_log.h"
#include "real.h"

static int log_fd = -1; /* written once, by the constructor */

#define ONCE_MAX 64
static pthread_mutex_t once_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long once_keys[ONCE_MAX];
static unsigned nr_once;

void pv_log_open(const char *path)
{
	if (!path || !*path)
		return;
	log_fd = pv_real.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void vlog(int fd, const char *fmt, va_list ap)
{
	char line[1024];
	int n, saved = errno;

	n = snprintf(line, sizeof(line), "softvfio[%d]: ", (int)getpid());
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) < 0) {
		/* nowhere left to say it */
	}
	errno = saved;
}

void pv_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(log_fd >= 0 ? log_fd : 2, fmt, ap);
	va_end(ap);
}

void pv_info(const char *fmt, ...)
{
	va_list ap;

	if (log_fd < 0)
		return;
	va_start(ap, fmt);
	vlog(log_fd, fmt, ap);
	va_end(ap);
}

void pv_log_once(unsigned long key, const char *fmt, ...)
{
	va_list ap;
	bool seen = false;

	pthread_mutex_lock(&once_lock);
	for (unsigned i = 0; i < nr_once; i++)
		seen |= once_keys[i] == key;
	if (!seen && nr_once < ONCE_MAX)
		once_keys[nr_once++] = key;
	pthread_mutex_unlock(&once_lock);
	if (seen)
		return;
	va_start(ap, fmt);
	vlog(log_fd >= 0 ? log_fd : 2, fmt, ap);
	va_end(ap);
}

/* SPDX-License-Identifier: MIT */
/*
 * The log callback (see <softvfio/log.h>). The callback and its argument
 * are a pair: a mutex keeps a reader from seeing the new function with the
 * old argument. It is held only to copy the pair, never across the call, so
 * a callback cannot deadlock against svf_set_log_fn().
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "svf_log.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static svf_log_fn log_fn;
static void *log_opaque;

void svf_set_log_fn(svf_log_fn fn, void *opaque)
{
	pthread_mutex_lock(&log_lock);
	log_fn = fn;
	log_opaque = opaque;
	pthread_mutex_unlock(&log_lock);
}

void svf_log(enum svf_log_level level, const char *fmt, ...)
{
	char msg[256];
	svf_log_fn fn;
	void *opaque;
	va_list ap;

	pthread_mutex_lock(&log_lock);
	fn = log_fn;
	opaque = log_opaque;
	pthread_mutex_unlock(&log_lock);
	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(opaque, level, msg);
}

/* SPDX-License-Identifier: MIT */
/*
 * The library's side of <softvfio/log.h>: every diagnostic goes through
 * svf_log(), which formats into a buffer on the stack (no allocation, so
 * teardown and unmap paths may log) and hands the line to the callback.
 */
#ifndef SVF_BASE_LOG_H
#define SVF_BASE_LOG_H

#include <softvfio/log.h>

void svf_log(enum svf_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The preload library's log: lines "softvfio[PID]: MESSAGE" to the file
 * named by SOFTVFIO_LOG (opened for appending, shared by every process of
 * a run), or to standard error when none is named. Each line is one
 * write(2), so lines of concurrent threads and processes do not mix.
 */
#ifndef SVF_PRELOAD_LOG_H
#define SVF_PRELOAD_LOG_H

#include <stdbool.h>

void pv_log_open(const char *path);
void pv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* As pv_log, at most once per key in this process (unknown requests). */
void pv_log_once(unsigned long key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Informational lines go only to a named log file. */
void pv_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

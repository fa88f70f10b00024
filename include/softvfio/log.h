/* SPDX-License-Identifier: MIT */
/*
 * softvfio diagnostics. The library never prints: every failure a caller
 * can act on comes back as a negative errno. What cannot (an undo that
 * failed inside an error path that already returns another errno, a
 * teardown that could not release everything, an unpin the check mode
 * caught too early, the consistency checker's finding) is reported as one
 * line of text through a process-wide callback. With no callback set
 * (the default) the message is dropped.
 *
 * Threading: the callback may run on any thread that calls into the
 * library, and on a lazy container's timer thread, with library locks held:
 * it must be thread-safe, must not block for long, and must not call back
 * into softvfio. Messages are at most 255 bytes, without a trailing newline.
 */
#ifndef SOFTVFIO_LOG_H
#define SOFTVFIO_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

/* Severities, numbered as syslog(3)'s. */
enum svf_log_level {
	SVF_LOG_ERR = 3,     /* something stayed behind: pinned pages, a mapping, a translation */
	SVF_LOG_WARNING = 4,
	SVF_LOG_INFO = 6,
};

typedef void (*svf_log_fn)(void *opaque, enum svf_log_level level, const char *msg);

/* Install fn (NULL: drop messages) with its opaque argument. Never fails. */
void svf_set_log_fn(svf_log_fn fn, void *opaque);

#ifdef __cplusplus
}
#endif
#endif

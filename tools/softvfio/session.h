/* SPDX-License-Identifier: MIT */
/*
 * The example VMM session bundled in the softvfio command: a vfio-trace v1
 * text (docs/vfio-trace.md) in which a VMM maps a guest's RAM and
 * ROM, is refused what Linux refuses, unmaps and shuts down.
 * `softvfio run --session` replays it; `softvfio run` times it under every
 * flush policy as one of its workloads.
 */
#ifndef SOFTVFIO_SESSION_H
#define SOFTVFIO_SESSION_H

#include <stddef.h>

extern const char svf_session_trace[];
extern const size_t svf_session_trace_len; /* bytes, without the final NUL */

#endif

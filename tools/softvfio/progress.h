/* SPDX-License-Identifier: MIT */
/*
 * A progress bar on a terminal, for the benchmark.
 *
 * The work is a sequence of units (one workload under one policy), each
 * with a weight that estimates its cost; inside a unit the caller reports
 * the fraction done. The bar is drawn on one line of its stream with '\r',
 * at most ten times a second, and only when the stream is a terminal (or
 * when forced) and the run has already lasted a second: a short run never
 * shows it. Anything else written to the same terminal must call
 * svf_progress_clear() first; the next update draws the bar again.
 *
 * Single-threaded: the caller updates it between operations (no thread,
 * so that it adds no CPU time to what the benchmark measures).
 */
#ifndef SOFTVFIO_PROGRESS_H
#define SOFTVFIO_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct svf_progress {
	FILE *f;
	bool enabled;     /* a terminal, or forced */
	bool shown;       /* the bar is on the screen now */
	uint64_t t_start; /* monotonic ns */
	uint64_t t_drawn;
	double total;     /* sum of the weights */
	double base;      /* weights of finished units */
	double weight;    /* weight of the current unit */
	double frac;      /* done of the current unit, 0..1 */
	char label[128];
};

/* mode: -1 when f is a terminal, 0 never, 1 always. */
void svf_progress_init(struct svf_progress *p, FILE *f, int mode, double total);
/* Start a unit of the given weight; the label says what runs (printf format). */
void svf_progress_begin(struct svf_progress *p, double weight, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Change the label's phase without changing the unit ("map", "unmap"). */
void svf_progress_phase(struct svf_progress *p, const char *phase);
/* Fraction of the current unit done (0..1); redraws when due. */
void svf_progress_update(struct svf_progress *p, double frac);
/* The current unit is done. */
void svf_progress_end(struct svf_progress *p);
/* Erase the bar (before anything else is written to the terminal). */
void svf_progress_clear(struct svf_progress *p);
/* Erase the bar for good. */
void svf_progress_finish(struct svf_progress *p);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The benchmark's progress bar (see progress.h): one line, redrawn with
 * '\r' and erased with "\r\033[K", fitted to the terminal's width.
 */
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

#define SHOW_AFTER_NS  1000000000ULL /* a run that ends sooner never shows the bar */
#define REDRAW_NS      100000000ULL
#define BAR_CELLS_MAX  24
#define BAR_CELLS_MIN  10
#define PHASE_SEP      " | "

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static unsigned term_width(FILE *f)
{
	struct winsize ws;

	if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col;
	return 80;
}

void svf_progress_init(struct svf_progress *p, FILE *f, int mode, double total)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
	p->enabled = mode > 0 || (mode < 0 && isatty(fileno(f)));
	p->total = total > 0 ? total : 1;
	p->t_start = mono_ns();
}

static void draw(struct svf_progress *p, uint64_t now)
{
	double done = (p->base + p->weight * p->frac) / p->total;
	unsigned width = term_width(p->f), filled, room, cells;
	char bar[BAR_CELLS_MAX * 3 + 1], head[96];
	double secs = (double)(now - p->t_start) / 1e9;
	size_t pos = 0;
	int n;

	if (done < 0)
		done = 0;
	if (done > 1)
		done = 1;
	/* A narrow terminal gets a shorter bar, to leave room for the label. */
	cells = width / 4 > BAR_CELLS_MIN + 6 ? width / 4 - 6 : BAR_CELLS_MIN;
	if (cells > BAR_CELLS_MAX)
		cells = BAR_CELLS_MAX;
	filled = (unsigned)(done * cells + 0.5);
	for (unsigned i = 0; i < cells; i++) {
		/* U+2588 full block, U+2591 light shade: three bytes each in UTF-8. */
		memcpy(bar + pos, i < filled ? "\xe2\x96\x88" : "\xe2\x96\x91", 3);
		pos += 3;
	}
	bar[pos] = '\0';
	n = snprintf(head, sizeof(head), "%3.0f%% %5.1fs ", done * 100, secs);
	room = width - 1 - (unsigned)n - cells - 1;
	fprintf(p->f, "\r%s%s %.*s\033[K", head, bar, (int)room, p->label);
	fflush(p->f);
	p->shown = true;
	p->t_drawn = now;
}

static void maybe_draw(struct svf_progress *p, bool force)
{
	uint64_t now;

	if (!p->enabled)
		return;
	now = mono_ns();
	if (now - p->t_start < SHOW_AFTER_NS)
		return;
	if (!force && p->shown && now - p->t_drawn < REDRAW_NS)
		return;
	draw(p, now);
}

void svf_progress_begin(struct svf_progress *p, double weight, const char *fmt, ...)
{
	va_list ap;

	p->weight = weight;
	p->frac = 0;
	va_start(ap, fmt);
	vsnprintf(p->label, sizeof(p->label), fmt, ap);
	va_end(ap);
	maybe_draw(p, true);
}

void svf_progress_phase(struct svf_progress *p, const char *phase)
{
	char *sep = strstr(p->label, PHASE_SEP "[");
	size_t len;

	if (sep)
		*sep = '\0';
	len = strlen(p->label);
	snprintf(p->label + len, sizeof(p->label) - len, "%s[%s]", PHASE_SEP, phase);
	maybe_draw(p, true);
}

void svf_progress_update(struct svf_progress *p, double frac)
{
	p->frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
	maybe_draw(p, false);
}

void svf_progress_end(struct svf_progress *p)
{
	p->base += p->weight;
	p->weight = 0;
	p->frac = 0;
	maybe_draw(p, false);
}

void svf_progress_clear(struct svf_progress *p)
{
	if (!p->shown)
		return;
	fputs("\r\033[K", p->f);
	fflush(p->f);
	p->shown = false;
}

void svf_progress_finish(struct svf_progress *p)
{
	svf_progress_clear(p);
	p->enabled = false;
}

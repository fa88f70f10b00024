/* SPDX-License-Identifier: MIT */
/*
 * The SVG chart of softvfio bench (see chart.h).
 *
 * Geometry: a header (title, what is measured, legend), then one row per
 * workload: the row's title, a time panel on the left (per policy a group
 * of two bars, CPU and modeled) and a waits panel on the right (one bar per
 * policy). Each panel has its own log axis, from the decade below its
 * smallest non-zero value to the decade above its largest, so every bar is
 * visible; a zero is written as "0" on the baseline, a policy that did not
 * run as "skipped".
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "bench_common.h"
#include "bench_report.h"
#include "chart.h"

#define WIDTH        1120
#define HEADER_H     118
#define ROW_H        280
#define FOOTER_H     34
#define PLOT_TOP     86   /* from the row's top to the panels' top */
#define PLOT_H       150
#define TIME_X0      96
#define TIME_X1      640
#define WAIT_X0      742
#define WAIT_X1      1090
#define NOTE_CHARS   160  /* a longer note is cut: the table has it whole */
#define FONT         "DejaVu Sans, Helvetica, Arial, sans-serif"
#define COLOR_CPU    "#3566b0"
#define COLOR_MODEL  "#e5832a"
#define COLOR_WAITS  "#3d9156"
#define COLOR_GRID   "#e3e3e3"
#define COLOR_MINOR  "#f1f1f1"
#define COLOR_AXIS   "#555555"
#define COLOR_TEXT   "#222222"
#define COLOR_DIM    "#6b6b6b"
#define COLOR_FLOOR_START    "#9db8e0"  /* the floors: the figure's colour, lighter */
#define COLOR_FLOOR_TEARDOWN "#f2c196"
#define COLOR_LINUX  "#c23b3b"

struct axis {
	int lo, hi;        /* decades: 10^lo at the bottom, 10^hi at the top */
	double y0, h;      /* bottom y and height in pixels */
	bool time;         /* labels in ns/us/ms/s */
};

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

__attribute__((format(printf, 6, 7)))
static void text(FILE *f, double x, double y, const char *attrs, const char *color,
		 const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\" %s>", x, y, color, attrs);
	xml_text(f, buf);
	fputs("</text>\n", f);
}

/* The axis covering [min, max] (both > 0). */
static void axis_fit(struct axis *a, double min, double max)
{
	/* Headroom: the smallest bar rises a third of a decade, the largest label fits. */
	/*
	 * No clamp at 1 for counts: a count of 1 on an axis starting at 1 would
	 * be a bar of no height. The floor is always below the smallest value.
	 */
	a->lo = (int)floor(log10(min) - 0.3);
	a->hi = (int)ceil(log10(max) + 0.12);
	if (a->hi <= a->lo)
		a->hi = a->lo + 1;
}

static double axis_y(const struct axis *a, double v)
{
	double t = (log10(v) - a->lo) / (a->hi - a->lo);

	if (t < 0)
		t = 0;
	return a->y0 - t * a->h;
}

static void decade_label(const struct axis *a, int d, char *buf, size_t len)
{
	static const char *const count_suffix[] = { "", "k", "M", "G", "T", "P" };

	if (a->time) {
		static const char *const unit[] = { "ns", "\u00b5s", "ms", "s" };
		int u = d < 0 ? 0 : d / 3 > 3 ? 3 : d / 3;
		double v = pow(10, d - 3 * u);

		if (d < 0)
			snprintf(buf, len, "%g ns", pow(10, d));
		else
			snprintf(buf, len, "%g %s", v, unit[u]);
		return;
	}
	if (d < 0) {
		snprintf(buf, len, "%g", pow(10, d));
		return;
	}
	snprintf(buf, len, "%g%s", pow(10, d % 3), count_suffix[d / 3 > 5 ? 5 : d / 3]);
}

/* Grid, decade labels and minor ticks of a panel spanning [x0, x1]. */
static void draw_axis(FILE *f, const struct axis *a, double x0, double x1, const char *title)
{
	char lbl[32];

	for (int d = a->lo; d <= a->hi; d++) {
		double y = axis_y(a, pow(10, d));

		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
			x0, y, x1, y, COLOR_GRID);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
			x0 - 5, y, x0, y, COLOR_AXIS);
		decade_label(a, d, lbl, sizeof(lbl));
		if (a->time || d >= 0) /* a count axis below 1 is only the floor */
			text(f, x0 - 8, y + 4, "font-size=\"11\" text-anchor=\"end\"", COLOR_DIM,
			     "%s", lbl);
		if (d == a->hi)
			break;
		for (int m = 2; m <= 9; m++) {
			double ym = axis_y(a, m * pow(10, d));

			fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
				"stroke=\"%s\"/>\n", x0, ym, x1, ym, COLOR_MINOR);
			fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
				"stroke=\"%s\"/>\n", x0 - 3, ym, x0, ym, COLOR_AXIS);
		}
	}
	fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x0,
		a->y0, x1, a->y0, COLOR_AXIS);
	fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x0,
		a->y0, x0, a->y0 - a->h, COLOR_AXIS);
	text(f, x0, a->y0 - a->h - 16, "font-size=\"12\" font-weight=\"bold\"", COLOR_TEXT, "%s",
	     title);
}

/* A duration for the chart: as in the table, with the micro sign. */
static void chart_ns(double ns, char *buf, size_t len)
{
	char *us;

	svf_human_ns(ns, buf, len);
	us = strstr(buf, " us");
	if (us && strlen(buf) + 2 < len) {
		memmove(us + 3, us + 2, strlen(us + 2) + 1);
		memcpy(us + 1, "\u00b5", 2);
	}
}

/* A count for the chart: exact below 100000 (4096 reads better than 4.10k). */
static void chart_count(double v, char *buf, size_t len)
{
	if (v < 99999.5)
		snprintf(buf, len, "%.0f", v);
	else
		svf_human_count(v, buf, len);
}

/* One bar from the baseline to v, labelled above; a zero is a "0" on the baseline. */
static void draw_bar(FILE *f, const struct axis *a, double x, double w, double v,
		     const char *color, const char *label)
{
	double y = v > 0 ? axis_y(a, v) : a->y0;

	if (v > 0) {
		if (a->y0 - y < 2)
			y = a->y0 - 2;
		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			"fill=\"%s\"><title>", x, y, w, a->y0 - y, color);
		xml_text(f, label);
		fputs("</title></rect>\n", f);
	}
	text(f, x + w / 2, y - 4, "font-size=\"10.5\" text-anchor=\"middle\"", COLOR_TEXT, "%s",
	     label);
}

static void policy_tick(FILE *f, double cx, double y, const struct svf_bench_result *r,
			enum svf_policy p)
{
	text(f, cx, y, "font-size=\"12\" text-anchor=\"middle\"", COLOR_TEXT, "%s%s",
	     svf_policy_name(p), r->ran && r->note[0] ? "*" : "");
}

static void legend_item(FILE *f, double x, double y, const char *color, const char *what)
{
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"%s\"/>\n", x,
		y - 11, color);
	text(f, x + 20, y, "font-size=\"13\"", COLOR_TEXT, "%s", what);
}

/* A dashed line across a time panel at v, labelled at its right end. */
static void ref_line(FILE *f, const struct axis *a, double x0, double x1, double v,
		     const char *label)
{
	double y = axis_y(a, v);

	fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
		"stroke-dasharray=\"5,4\"/>\n", x0, y, x1, y, COLOR_LINUX);
	text(f, x1 - 4, y - 4, "font-size=\"10.5\" text-anchor=\"end\"", COLOR_LINUX, "%s", label);
}

/*
 * A vm-real row: on the left, per policy, the start and the teardown per
 * 4 KiB page, each beside its floor, and Linux's published figures as
 * dashed lines; on the right, per policy, softvfio / floor for both.
 */
static void draw_vmreal_row(FILE *f, const struct svf_bench_entry *e, const bool *policy,
			    double top)
{
	static const char *const color[4] = { COLOR_CPU, COLOR_FLOOR_START, COLOR_MODEL,
					       COLOR_FLOOR_TEARDOWN };
	struct axis ta = { .time = true }, ra = { .time = false };
	double tmin = INFINITY, tmax = 0, rmin = INFINITY, rmax = 0;
	double lin[2] = { svf_vmreal_linux_ns(e, false), svf_vmreal_linux_ns(e, true) };
	unsigned np = 0, nran = 0, i = 0;
	char lbl[48];

	for (int p = 0; p < SVF_POLICY_NR; p++) {
		const struct svf_bench_result *r = &e->res[p];

		if (!policy[p])
			continue;
		np++;
		if (!r->ran)
			continue;
		nran++;
		for (int k = 0; k < 4; k++) {
			double v = svf_vmreal_per_page(r, (enum svf_vm_figure)k);

			if (v > 0) {
				tmin = fmin(tmin, v);
				tmax = fmax(tmax, v);
			}
		}
		for (int k = 0; k < 4; k += 2) {
			double fl = svf_vmreal_per_page(r, (enum svf_vm_figure)(k + 1));
			double v = fl > 0 ? svf_vmreal_per_page(r, (enum svf_vm_figure)k) / fl : 0;

			if (v > 0) {
				rmin = fmin(rmin, v);
				rmax = fmax(rmax, v);
			}
		}
	}
	for (int k = 0; k < 2; k++)
		if (lin[k] > 0 && nran) {
			tmin = fmin(tmin, lin[k]);
			tmax = fmax(tmax, lin[k]);
		}
	if (tmax == 0)
		tmin = 1, tmax = 1000;
	if (rmax == 0)
		rmin = 1, rmax = 10;
	ta.y0 = ra.y0 = top + PLOT_TOP + PLOT_H;
	ta.h = ra.h = PLOT_H;
	axis_fit(&ta, tmin, tmax);
	axis_fit(&ra, rmin, rmax);

	fprintf(f, "<line x1=\"16\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#c8c8c8\"/>\n", top,
		WIDTH - 16, top);
	text(f, 20, top + 20, "font-size=\"14.5\" font-weight=\"bold\"", COLOR_TEXT, "%s",
	     e->label);
	text(f, 20, top + 36, "font-size=\"11.5\"", COLOR_DIM, "measured: the start, one MAP_DMA "
	     "per RAM section as QEMU maps them, and the teardown, one UNMAP_DMA per section; "
	     "floor: mlock + bulk pagemap read / munlock of the same range, same run");
	if (e->note[0])
		text(f, 20, top + 51, "font-size=\"11.5\"", COLOR_DIM, "note: %.*s%s", NOTE_CHARS,
		     e->note, strlen(e->note) > NOTE_CHARS ? "..." : "");
	legend_item(f, 600, top + 20, color[0], "start");
	legend_item(f, 670, top + 20, color[1], "its floor");
	legend_item(f, 765, top + 20, color[2], "teardown");
	legend_item(f, 860, top + 20, color[3], "its floor");
	fprintf(f, "<line x1=\"955\" y1=\"%.1f\" x2=\"975\" y2=\"%.1f\" stroke=\"%s\" "
		"stroke-dasharray=\"5,4\"/>\n", top + 15, top + 15, COLOR_LINUX);
	text(f, 981, top + 20, "font-size=\"13\"", COLOR_TEXT, "Linux, published");
	if (!nran) {
		text(f, WIDTH / 2.0, top + PLOT_TOP + PLOT_H / 2.0, "font-size=\"14\" "
		     "text-anchor=\"middle\" font-style=\"italic\"", COLOR_DIM,
		     "not run under any policy (see the note)");
		return;
	}
	draw_axis(f, &ta, TIME_X0, TIME_X1, "CPU time per 4 KiB page (log scale)");
	draw_axis(f, &ra, WAIT_X0, WAIT_X1, "softvfio / floor (log scale)");
	if (lin[0] > 0)
		ref_line(f, &ta, TIME_X0, TIME_X1, lin[0], "Linux start");
	if (lin[1] > 0)
		ref_line(f, &ta, TIME_X0, TIME_X1, lin[1], "Linux teardown");
	for (int p = 0; p < SVF_POLICY_NR; p++) {
		const struct svf_bench_result *r = &e->res[p];
		double gw = (TIME_X1 - TIME_X0) / (double)np, gx = TIME_X0 + i * gw;
		double bw = fmin(26, gw * 0.2), cx = gx + gw / 2;
		double ww = (WAIT_X1 - WAIT_X0) / (double)np, wx = WAIT_X0 + i * ww;
		double wbw = fmin(30, ww * 0.3);

		if (!policy[p])
			continue;
		i++;
		policy_tick(f, cx, ta.y0 + 17, r, (enum svf_policy)p);
		policy_tick(f, wx + ww / 2, ra.y0 + 17, r, (enum svf_policy)p);
		if (!r->ran) {
			text(f, cx, ta.y0 - 8, "font-size=\"11\" text-anchor=\"middle\" "
			     "font-style=\"italic\"", COLOR_DIM, "skipped");
			continue;
		}
		for (int k = 0; k < 4; k++) {
			double v = svf_vmreal_per_page(r, (enum svf_vm_figure)k);

			chart_ns(v, lbl, sizeof(lbl));
			draw_bar(f, &ta, cx - 2 * bw - 3 + k * (bw + 2), bw, v, color[k], lbl);
		}
		for (int k = 0; k < 2; k++) {
			double fl = svf_vmreal_per_page(r, (enum svf_vm_figure)(2 * k + 1));
			double v = fl > 0 ? svf_vmreal_per_page(r, (enum svf_vm_figure)(2 * k)) / fl : 0;

			snprintf(lbl, sizeof(lbl), "%.2fx", v);
			draw_bar(f, &ra, wx + ww / 2 - wbw - 1 + k * (wbw + 2), wbw, v, color[2 * k],
				 lbl);
		}
	}
}

static void draw_row(FILE *f, const struct svf_bench_entry *e, const bool *policy, double top)
{
	struct axis ta = { .time = true }, wa = { .time = false };
	double tmin = INFINITY, tmax = 0, wmin = INFINITY, wmax = 0, floor_total = 0;
	unsigned np = 0, nran = 0, i;
	char lbl[48];

	for (int p = 0; p < SVF_POLICY_NR; p++) {
		const struct svf_bench_result *r = &e->res[p];

		if (!policy[p])
			continue;
		np++;
		if (!r->ran)
			continue;
		nran++;
		if (r->cpu_ns) {
			tmin = fmin(tmin, (double)r->cpu_ns);
			tmax = fmax(tmax, (double)r->cpu_ns);
		}
		if (r->modeled_ns) {
			tmin = fmin(tmin, (double)r->modeled_ns);
			tmax = fmax(tmax, (double)r->modeled_ns);
		}
		if (r->waits) {
			wmin = fmin(wmin, (double)r->waits);
			wmax = fmax(wmax, (double)r->waits);
		}
	}
	/*
	 * Real memory: the kernel's floor for the measured phase, as one dashed
	 * line (the first policy's; each policy's is in the table): munlock of
	 * the guest under a lifecycle, one page's pair times the buffers under
	 * churn.
	 */
	for (int p = 0; p < SVF_POLICY_NR && floor_total == 0; p++) {
		const struct svf_bench_result *r = &e->res[p];

		if (policy[p] && r->ran && r->floor_ops)
			floor_total = e->wl.kind == SVF_WL_CHURN ?
				(double)r->floor_ns / (double)r->floor_ops * (double)e->wl.count :
				(double)r->floor_ns;
	}
	if (floor_total > 0) {
		tmin = fmin(tmin, floor_total);
		tmax = fmax(tmax, floor_total);
	}
	if (tmax == 0)
		tmin = 1, tmax = 1000;
	if (wmax == 0)
		wmin = 1, wmax = 10;
	ta.y0 = wa.y0 = top + PLOT_TOP + PLOT_H;
	ta.h = wa.h = PLOT_H;
	axis_fit(&ta, tmin, tmax);
	axis_fit(&wa, wmin, wmax);

	fprintf(f, "<line x1=\"16\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#c8c8c8\"/>\n", top,
		WIDTH - 16, top);
	text(f, 20, top + 20, "font-size=\"14.5\" font-weight=\"bold\"", COLOR_TEXT, "%s",
	     e->label);
	text(f, 20, top + 36, "font-size=\"11.5\"", COLOR_DIM, "measured: %s", e->measured);
	/* Under it, the workload's note, or why a starred policy ran differently. */
	if (e->note[0]) {
		text(f, 20, top + 51, "font-size=\"11.5\"", COLOR_DIM, "note: %.*s%s", NOTE_CHARS,
		     e->note, strlen(e->note) > NOTE_CHARS ? "..." : "");
	} else {
		for (int p = 0; p < SVF_POLICY_NR; p++) {
			const char *note = e->res[p].note;

			if (!policy[p] || !e->res[p].ran || !note[0])
				continue;
			text(f, 20, top + 51, "font-size=\"11.5\"", COLOR_DIM, "%s*: %.*s%s",
			     svf_policy_name(p), NOTE_CHARS, note,
			     strlen(note) > NOTE_CHARS ? "..." : "");
			break;
		}
	}

	if (!nran) {
		/* Nothing ran: no axes to draw, the note says why. */
		text(f, WIDTH / 2.0, top + PLOT_TOP + PLOT_H / 2.0, "font-size=\"14\" "
		     "text-anchor=\"middle\" font-style=\"italic\"", COLOR_DIM,
		     "not run under any policy (see the note)");
		return;
	}
	draw_axis(f, &ta, TIME_X0, TIME_X1, "time (log scale)");
	draw_axis(f, &wa, WAIT_X0, WAIT_X1, "IOTLB waits (log scale)");
	if (floor_total > 0) {
		char fl[160];

		chart_ns(floor_total, lbl, sizeof(lbl));
		snprintf(fl, sizeof(fl), "floor, %s: %s", e->wl.kind == SVF_WL_CHURN ?
			 "a page's mlock + pagemap read + munlock per buffer" :
			 "munlock of the guest", lbl);
		ref_line(f, &ta, TIME_X0, TIME_X1, floor_total, fl);
	}
	if (!np)
		return;

	i = 0;
	for (int p = 0; p < SVF_POLICY_NR; p++) {
		const struct svf_bench_result *r = &e->res[p];
		double gw = (TIME_X1 - TIME_X0) / (double)np, gx = TIME_X0 + i * gw;
		double bw = fmin(46, gw * 0.32), cx = gx + gw / 2;
		double ww = (WAIT_X1 - WAIT_X0) / (double)np, wx = WAIT_X0 + i * ww;
		double wbw = fmin(46, ww * 0.5);

		if (!policy[p])
			continue;
		i++;
		policy_tick(f, cx, ta.y0 + 17, r, (enum svf_policy)p);
		policy_tick(f, wx + ww / 2, wa.y0 + 17, r, (enum svf_policy)p);
		if (!r->ran) {
			text(f, cx, ta.y0 - 8, "font-size=\"11\" text-anchor=\"middle\" "
			     "font-style=\"italic\"", COLOR_DIM, "skipped");
			text(f, wx + ww / 2, wa.y0 - 8, "font-size=\"11\" text-anchor=\"middle\" "
			     "font-style=\"italic\"", COLOR_DIM, "skipped");
			continue;
		}
		chart_ns((double)r->cpu_ns, lbl, sizeof(lbl));
		draw_bar(f, &ta, cx - bw - 2, bw, (double)r->cpu_ns, COLOR_CPU, lbl);
		chart_ns((double)r->modeled_ns, lbl, sizeof(lbl));
		draw_bar(f, &ta, cx + 2, bw, (double)r->modeled_ns, COLOR_MODEL, lbl);
		chart_count((double)r->waits, lbl, sizeof(lbl));
		draw_bar(f, &wa, wx + (ww - wbw) / 2, wbw, (double)r->waits, COLOR_WAITS, lbl);
	}
}


int svf_chart_write_svg(const struct svf_bench_entry *e, size_t n, const bool *policy, FILE *f)
{
	double height = HEADER_H + (double)n * ROW_H + FOOTER_H;

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" "
		"viewBox=\"0 0 %d %.0f\" font-family=\"%s\">\n", WIDTH, height, WIDTH, height, FONT);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	text(f, 20, 32, "font-size=\"20\" font-weight=\"bold\"", COLOR_TEXT,
	     "softvfio bench: time and IOTLB waits per flush policy");
	text(f, 20, 54, "font-size=\"12.5\"", COLOR_DIM,
	     "Every workload ran under every policy in one process, each on a fresh container. "
	     "Lower is better; all axes are logarithmic.");
	text(f, 20, 72, "font-size=\"12.5\"", COLOR_DIM,
	     "CPU: process CPU time of the measured phase. Modeled: device time the emulated "
	     "VT-d charges for invalidation descriptors and waits.");
	legend_item(f, 20, 100, COLOR_CPU, "CPU time");
	legend_item(f, 140, 100, COLOR_MODEL, "modeled device time");
	legend_item(f, 330, 100, COLOR_WAITS, "IOTLB waits (count)");
	for (size_t i = 0; i < n; i++) {
		if (e[i].wl.kind == SVF_WL_VMREAL)
			draw_vmreal_row(f, &e[i], policy, HEADER_H + (double)i * ROW_H);
		else
			draw_row(f, &e[i], policy, HEADER_H + (double)i * ROW_H);
	}
	text(f, 20, height - 12, "font-size=\"11\"", COLOR_DIM,
	     "softvfio %s - a userspace VFIO type1 IOMMU backend on an emulated Intel VT-d",
	     SOFTVFIO_VERSION);
	fputs("</svg>\n", f);
	return ferror(f) ? -EIO : 0;
}

/* ------------------------------------------------------------------------ */
/* The scaling plot (--scale): CPU time per 4 KiB page against guest size    */
/* ------------------------------------------------------------------------ */

#define SC_X0     110
#define SC_X1     860
#define SC_TOP    110
#define SC_H      420
#define SC_LEG_X  890

static const char *const policy_color[SVF_POLICY_NR] = {
	"#c23b3b", "#3566b0", "#3d9156", "#8a52b0",
};
#define COLOR_MAP "#777777"

/* Lifecycle entries that ran, in the order given (sizes ascend). */
static bool scale_point(const struct svf_bench_entry *e)
{
	if (e->wl.kind != SVF_WL_LIFECYCLE || !e->guest_bytes)
		return false;
	for (int p = 0; p < SVF_POLICY_NR; p++)
		if (e->res[p].ran)
			return true;
	return false;
}

static double scale_x(double bytes, double lo2, double hi2)
{
	double t = hi2 > lo2 ? (log2(bytes) - lo2) / (hi2 - lo2) : 0.5;

	return SC_X0 + t * (SC_X1 - SC_X0);
}

/* One series: a polyline and a labelled marker per point. */
static void scale_series(FILE *f, const struct svf_bench_entry *e, size_t n, int p,
			 const struct axis *a, double lo2, double hi2, const char *color)
{
	bool first = true;
	char lbl[48];

	fputs("<polyline fill=\"none\" stroke-width=\"2\" points=\"", f);
	for (size_t i = 0; i < n; i++) {
		const struct svf_bench_result *r = p < 0 ? NULL : &e[i].res[p];
		double pages = (double)(e[i].guest_bytes / SVF_PAGE_SIZE), v;

		if (!scale_point(&e[i]) || (r && !r->ran))
			continue;
		if (!r) {
			for (int q = 0; q < SVF_POLICY_NR && !r; q++)
				if (e[i].res[q].ran)
					r = &e[i].res[q];
			v = (double)r->map_cpu_ns / pages;
		} else {
			v = (double)r->cpu_ns / pages;
		}
		if (v <= 0)
			continue;
		fprintf(f, "%s%.1f,%.1f", first ? "" : " ", scale_x((double)e[i].guest_bytes, lo2, hi2),
			axis_y(a, v));
		first = false;
	}
	fprintf(f, "\" stroke=\"%s\"/>\n", color);
	for (size_t i = 0; i < n; i++) {
		const struct svf_bench_result *r = p < 0 ? NULL : &e[i].res[p];
		double pages = (double)(e[i].guest_bytes / SVF_PAGE_SIZE), v, x, y;

		if (!scale_point(&e[i]) || (r && !r->ran))
			continue;
		if (!r) {
			for (int q = 0; q < SVF_POLICY_NR && !r; q++)
				if (e[i].res[q].ran)
					r = &e[i].res[q];
			v = (double)r->map_cpu_ns / pages;
		} else {
			v = (double)r->cpu_ns / pages;
		}
		if (v <= 0)
			continue;
		x = scale_x((double)e[i].guest_bytes, lo2, hi2);
		y = axis_y(a, v);
		chart_ns(v, lbl, sizeof(lbl));
		fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>", x, y, color);
		xml_text(f, lbl);
		fputs("</title></circle>\n", f);
	}
}

int svf_chart_write_scaling_svg(const struct svf_bench_entry *e, size_t n, const bool *policy,
				FILE *f)
{
	struct axis a = { .time = true, .y0 = SC_TOP + SC_H, .h = SC_H };
	double vmin = INFINITY, vmax = 0, lo2 = INFINITY, hi2 = -INFINITY, height = SC_TOP + SC_H + 90;
	double ly = SC_TOP + 10;
	char lbl[48];

	for (size_t i = 0; i < n; i++) {
		double pages = (double)(e[i].guest_bytes / SVF_PAGE_SIZE);

		if (!scale_point(&e[i]))
			continue;
		lo2 = fmin(lo2, log2((double)e[i].guest_bytes));
		hi2 = fmax(hi2, log2((double)e[i].guest_bytes));
		for (int p = 0; p < SVF_POLICY_NR; p++) {
			const struct svf_bench_result *r = &e[i].res[p];
			double v[2] = { (double)r->cpu_ns / pages, (double)r->map_cpu_ns / pages };

			if (!policy[p] || !r->ran)
				continue;
			for (int k = 0; k < 2; k++) {
				if (v[k] > 0) {
					vmin = fmin(vmin, v[k]);
					vmax = fmax(vmax, v[k]);
				}
			}
		}
	}
	if (vmax == 0)
		vmin = 1, vmax = 1000;
	if (lo2 > hi2)
		lo2 = 30, hi2 = 40;
	axis_fit(&a, vmin, vmax);

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" "
		"viewBox=\"0 0 %d %.0f\" font-family=\"%s\">\n", WIDTH, height, WIDTH, height, FONT);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	text(f, 20, 32, "font-size=\"20\" font-weight=\"bold\"", COLOR_TEXT,
	     "softvfio bench --scale: CPU time per 4 KiB page of guest, by guest size");
	text(f, 20, 54, "font-size=\"12.5\"", COLOR_DIM,
	     "VM lifecycle on the synthetic backend: the teardown (one unmap-all) per flush policy, "
	     "and the map. Flat lines scale linearly.");
	text(f, 20, 72, "font-size=\"12.5\"", COLOR_DIM,
	     "Process CPU time of the measured phase divided by the guest's 4 KiB pages; "
	     "both axes are logarithmic.");
	draw_axis(f, &a, SC_X0, SC_X1, "CPU per 4 KiB page (log scale)");
	/* x: one tick per guest size that ran, labelled. */
	for (size_t i = 0; i < n; i++) {
		double x;

		if (!scale_point(&e[i]))
			continue;
		x = scale_x((double)e[i].guest_bytes, lo2, hi2);
		svf_human_bytes(e[i].guest_bytes, lbl, sizeof(lbl));
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
			x, a.y0, x, a.y0 + 5, COLOR_AXIS);
		text(f, x, a.y0 + 20, "font-size=\"11\" text-anchor=\"middle\"", COLOR_DIM, "%s", lbl);
	}
	text(f, (SC_X0 + SC_X1) / 2.0, a.y0 + 44, "font-size=\"12\" text-anchor=\"middle\" "
	     "font-weight=\"bold\"", COLOR_TEXT, "guest size (log scale)");
	scale_series(f, e, n, -1, &a, lo2, hi2, COLOR_MAP);
	for (int p = 0; p < SVF_POLICY_NR; p++)
		if (policy[p])
			scale_series(f, e, n, p, &a, lo2, hi2, policy_color[p]);
	/* Legend. */
	fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"14\" height=\"4\" fill=\"%s\"/>\n", SC_LEG_X,
		ly - 5, COLOR_MAP);
	text(f, SC_LEG_X + 20, ly, "font-size=\"13\"", COLOR_TEXT, "map");
	for (int p = 0; p < SVF_POLICY_NR; p++) {
		if (!policy[p])
			continue;
		ly += 22;
		fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"14\" height=\"4\" fill=\"%s\"/>\n",
			SC_LEG_X, ly - 5, policy_color[p]);
		text(f, SC_LEG_X + 20, ly, "font-size=\"13\"", COLOR_TEXT, "teardown, %s",
		     svf_policy_name(p));
	}
	text(f, 20, height - 12, "font-size=\"11\"", COLOR_DIM,
	     "softvfio %s - a userspace VFIO type1 IOMMU backend on an emulated Intel VT-d",
	     SOFTVFIO_VERSION);
	fputs("</svg>\n", f);
	return ferror(f) ? -EIO : 0;
}

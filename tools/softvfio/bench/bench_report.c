/* SPDX-License-Identifier: MIT */
/*
 * softvfio bench's tables, targets and JSON (see bench_report.h). Counts
 * are printed exactly (a person checks 4096 = 2097152 / 512), times and
 * rates with three significant digits, ratios as "0.52x" or "1/512".
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "bench_common.h"
#include "bench_report.h"
#include "tool.h"

#define TARGET_WAIT_DIVISOR 512
#define TARGET_MODELED_RATIO 100.0
#define TARGET_CPU_PER_PAGE_NS 30.0
#define TARGET_CPU_PER_4K_RUNS2M_NS 2.0
/* vm-real: softvfio / floor (4 KiB pages, THP), and THP's teardown in ns per page. */
#define TARGET_VM_4K_RATIO 1.25
#define TARGET_VM_THP_START_RATIO 2.0
#define TARGET_VM_THP_TEARDOWN_NS 3.0
#define FLAT_SPREAD 0.10

/*
 * Linux's type1 on hardware, ns per 4 KiB page, as published (not measured
 * on this machine): MAP_DMA of 4 KiB-backed memory 59, of THP-backed
 * memory 6, UNMAP_DMA of 4 KiB-backed memory 69; none for a THP teardown.
 */
static const double linux_ref_ns[2][2] = {
	/* start, teardown */
	{ 59, 69 }, /* 4 KiB pages */
	{ 6, 0 },   /* THP */
};

static bool vm_thp(const struct svf_bench_entry *e)
{
	return e->wl.layout != SVF_LAYOUT_FRAG4K;
}

double svf_vmreal_linux_ns(const struct svf_bench_entry *e, bool teardown)
{
	return linux_ref_ns[vm_thp(e)][teardown];
}

double svf_vmreal_per_page(const struct svf_bench_result *r, enum svf_vm_figure f)
{
	const uint64_t v[] = { r->vm_start_ns, r->vm_start_floor_ns, r->vm_teardown_ns,
			       r->vm_teardown_floor_ns };

	return r->vm_pages ? (double)v[f] / (double)r->vm_pages : 0;
}

static const char *policy_label(const struct svf_bench_result *r, enum svf_policy p)
{
	static char buf[SVF_POLICY_NR][16];

	snprintf(buf[p], sizeof(buf[p]), "%s%s", svf_policy_name(p), r->note[0] ? "*" : "");
	return buf[p];
}

void svf_bench_print_header(const struct svf_bench_opts *o, unsigned npolicies, int lazy,
			    FILE *out)
{
	const char *drv = o->nr_drivers ? o->drivers[0] : o->driver ? o->driver : "vtd";
	struct svf_iommu_config ic;
	char drivers[64] = "";
	bool first = true;

	svf_tool_driver_config(drv, &ic);
	for (unsigned k = 0; k < o->nr_drivers; k++) {
		size_t l = strlen(drivers);

		snprintf(drivers + l, sizeof(drivers) - l, "%s%s", k ? " and " : "", o->drivers[k]);
	}
	fprintf(out, "softvfio %s: %zu workload%s x %u polic%s (", o->cmd, o->nr_wl,
		o->nr_wl == 1 ? "" : "s", npolicies, npolicies == 1 ? "y" : "ies");
	for (int p = 0; p < SVF_POLICY_NR; p++) {
		if (!o->policy[p])
			continue;
		fprintf(out, "%s%s", first ? "" : ", ", svf_policy_name(p));
		first = false;
	}
	fputs("), one after the other in this process,\n", out);
	fprintf(out, "each run on a fresh container: %s IOMMU, one domain, batch %u.\n",
		o->nr_drivers ? drivers : drv, o->batch ? o->batch : SVF_DEFAULT_BATCH_CAP);
	if (o->cost == 0)
		fputs("Cost model off: modeled device time is 0.\n", out);
	else
		fprintf(out, "Modeled device time: %" PRIu64 " ns per invalidation descriptor, %"
			PRIu64 " ns per wait, %" PRIu64 " ns per page-walk read (published VT-d "
			"figures, src/iommu/vtd/vtd.c; AMD-Vi uses the same, src/iommu/amd/amd.c);\n"
			"the model only counts, so CPU time is the same "
			"with it off.\n", ic.cost.inv_page_ns, ic.cost.wait_ns,
			ic.cost.walk_level_ns);
	fputs("CPU: process CPU time of the measured phase. pages/s: pages unmapped per "
	      "CPU second.\n", out);
	if (o->policy[SVF_POLICY_LAZY] && lazy == 1)
		fputs("lazy: its unmaps return before their wait; its phase is measured until the "
		      "flush queue has drained\n      (nothing pinned), so the last flush, by "
		      "its timer thread, counts in its figures and CPU.\n", out);
	else if (o->policy[SVF_POLICY_LAZY] && lazy == 0)
		fputs("lazy*: this build's lazy policy does not defer its waits yet (the flush "
		      "queue has not landed):\n       it runs, and is reported, as what it is "
		      "today: the same as batched.\n", out);
	else if (o->policy[SVF_POLICY_LAZY] && lazy < 0)
		fputs("lazy: refused by this build's library; skipped.\n", out);
	fputc('\n', out);
}

static const struct svf_bench_result *base_of(const struct svf_bench_entry *e)
{
	return e->res[SVF_POLICY_STRICT].ran ? &e->res[SVF_POLICY_STRICT] : NULL;
}

/* The first policy that ran, for the figures every policy shares (set-up). */
static const struct svf_bench_result *first_ran(const struct svf_bench_entry *e)
{
	for (int p = 0; p < SVF_POLICY_NR; p++)
		if (e->res[p].ran)
			return &e->res[p];
	return NULL;
}

static double pages_per_s(const struct svf_bench_result *r)
{
	return r->cpu_ns ? (double)r->pages * 1e9 / (double)r->cpu_ns : 0;
}

#define ROW_FMT "%-9s %10s %10s %7s %8s %10s %9s %9s %9s %11s %11s\n"

static void print_row(const char *name, const struct svf_bench_result *r, FILE *out)
{
	char regions[24], ip[24], id[24], ig[24], waits[24], cpu[24], mod[24], pps[24], pin[24],
		book[24];

	snprintf(regions, sizeof(regions), "%" PRIu64, r->regions);
	snprintf(ip, sizeof(ip), "%" PRIu64, r->inv_page);
	snprintf(id, sizeof(id), "%" PRIu64, r->inv_domain);
	snprintf(ig, sizeof(ig), "%" PRIu64, r->inv_global);
	snprintf(waits, sizeof(waits), "%" PRIu64, r->waits);
	svf_human_ns((double)r->cpu_ns, cpu, sizeof(cpu));
	svf_human_ns((double)r->modeled_ns, mod, sizeof(mod));
	svf_human_count(pages_per_s(r), pps, sizeof(pps));
	snprintf(pin, sizeof(pin), "%" PRIu64, r->pinned_peak);
	svf_human_bytes(r->bookkeeping_peak, book, sizeof(book));
	fprintf(out, ROW_FMT, name, regions, ip, id, ig, waits, cpu, mod, pps, pin, book);
}

static void print_ratio_row(const struct svf_bench_result *r, const struct svf_bench_result *b,
			    FILE *out)
{
	char c[11][24];

#define RATIO(i, f) svf_human_ratio((double)r->f, (double)b->f, c[i], sizeof(c[i]))
	RATIO(0, regions);
	RATIO(1, inv_page);
	RATIO(2, inv_domain);
	RATIO(3, inv_global);
	RATIO(4, waits);
	RATIO(5, cpu_ns);
	RATIO(6, modeled_ns);
	RATIO(8, pinned_peak);
	RATIO(9, bookkeeping_peak);
#undef RATIO
	svf_human_ratio(pages_per_s(r), pages_per_s(b), c[7], sizeof(c[7]));
	fprintf(out, ROW_FMT, "  /strict", c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8],
		c[9]);
}

/* A figure per page and its floor, "446 ns", "381 ns", "1.17x". */
static void vm_cells(const struct svf_bench_result *r, enum svf_vm_figure f, char *v, char *fl,
		     char *ratio, size_t len)
{
	double x = svf_vmreal_per_page(r, f), y = svf_vmreal_per_page(r, f + 1);

	svf_human_ns(x, v, len);
	svf_human_ns(y, fl, len);
	svf_human_ratio(x, y, ratio, len);
}

#define VM_FMT "%-9s %12s %10s %7s %14s %10s %7s %9s %7s %11s\n"

static void print_vmreal(const struct svf_bench_entry *e, const bool policy[SVF_POLICY_NR],
			 FILE *out)
{
	const struct svf_bench_result *any = first_ran(e);
	struct svf_vmreal_section sec[SVF_VMREAL_MAX_SECTIONS];
	unsigned ns = svf_vmreal_layout(e->guest_bytes, sec);
	char a[32], b[32], c[32], d[32], f[32], g[32], h[32];
	bool thp = vm_thp(e);

	fprintf(out, "== %s  [%s]\n", e->label, e->id);
	if (!e->guest_bytes) {
		/* size=max found no room: the note says why. */
		fprintf(out, "   note: %s\n\n", e->note);
		return;
	}
	fprintf(out, "   measured: the start, one MAP_DMA per RAM section, and the teardown, one "
		"UNMAP_DMA per section;\n   %u sections as QEMU's q35 machine maps guest RAM:", ns);
	for (unsigned i = 0; i < ns; i++)
		fprintf(out, " [0x%" PRIx64 ", 0x%" PRIx64 ")", sec[i].iova, sec[i].iova + sec[i].size);
	fprintf(out, "; medians of %u\n", any ? any->vm_reps : e->wl.reps);
	fputs("   floor, same run and range: mlock + bulk pagemap read of each section (start), "
	      "munlock of each (teardown)\n", out);
	/* In MiB, exactly: a THP count rounded to GiB would hide a split huge page. */
	snprintf(a, sizeof(a), "%" PRIu64 " MiB", e->guest_bytes >> 20);
	snprintf(b, sizeof(b), "%" PRIu64 " MiB", e->thp_before >> 20);
	snprintf(c, sizeof(c), "%" PRIu64 " MiB", (any ? any->thp_bytes : 0) >> 20);
	if (thp && any)
		fprintf(out, "   memory: transparent huge pages asked (MADV_HUGEPAGE), %s of %s obtained, "
			"%s left after softvfio%s\n", b, a, c,
			e->thp_before < e->guest_bytes / 2 ? ": mostly 4 KiB pages, NOT a THP figure" :
			"");
	else if (thp)
		fprintf(out, "   memory: transparent huge pages asked (MADV_HUGEPAGE), %s of %s obtained\n",
			b, a);
	else
		fprintf(out, "   memory: 4 KiB pages (MADV_NOHUGEPAGE), %s of %s in huge pages\n", b, a);
	if (e->note[0])
		fprintf(out, "   note: %s\n", e->note);
	fprintf(out, VM_FMT, "policy", "start/page", "floor", "ratio", "teardown/page", "floor",
		"ratio", "regions", "waits", "peak pinned");
	for (int p = 0; p < SVF_POLICY_NR; p++) {
		const struct svf_bench_result *r = &e->res[p];
		char regions[24], waits[24], pin[24];

		if (!policy[p])
			continue;
		if (!r->ran) {
			fprintf(out, "%-9s %s\n", svf_policy_name(p),
				r->skip[0] ? r->skip : "not run (see the note)");
			continue;
		}
		vm_cells(r, SVF_VM_START, a, b, c, sizeof(a));
		vm_cells(r, SVF_VM_TEARDOWN, d, f, g, sizeof(d));
		snprintf(regions, sizeof(regions), "%" PRIu64, r->regions);
		snprintf(waits, sizeof(waits), "%" PRIu64, r->waits);
		snprintf(pin, sizeof(pin), "%" PRIu64, r->pinned_peak);
		fprintf(out, VM_FMT, policy_label(r, p), a, b, c, d, f, g, regions, waits, pin);
	}
	svf_human_ns(svf_vmreal_linux_ns(e, false), a, sizeof(a));
	if (svf_vmreal_linux_ns(e, true) > 0)
		svf_human_ns(svf_vmreal_linux_ns(e, true), h, sizeof(h));
	else
		snprintf(h, sizeof(h), "none");
	fprintf(out, VM_FMT, "Linux", a, "", "", h, "", "", "", "", "");
	fprintf(out, "   Linux: type1 on hardware, ns per 4 KiB page, published figures (not "
		"measured here)%s\n", thp ? "; none published for a THP teardown" : "");
	fprintf(out, "   targets: start <= %.4gx floor, teardown %s\n\n",
		thp ? TARGET_VM_THP_START_RATIO : TARGET_VM_4K_RATIO,
		thp ? "<= 3 ns per page" : "<= 1.25x floor");
}

/*
 * The floor under a process-backed lifecycle or churn table: the kernel's
 * calls on the same memory in the same run, and each policy's figure
 * beside it (per page, or per buffer for churn).
 */
static void print_floor(const struct svf_bench_entry *e, const bool policy[SVF_POLICY_NR],
			FILE *out)
{
	const struct svf_bench_result *any = first_ran(e);
	bool churn = e->wl.kind == SVF_WL_CHURN;
	char a[32], b[32], c[32];
	int col = 0;

	if (!any || !any->floor_ops)
		return;
	if (churn) {
		svf_human_ns((double)any->floor_ns / (double)any->floor_ops, a, sizeof(a));
		fprintf(out, "   floor, same run and memory: one page's mlock + pagemap read + munlock, "
			"%s; per buffer beside it:\n", a);
	} else {
		svf_human_ns((double)any->map_floor_ns / (double)any->floor_ops, a, sizeof(a));
		svf_human_ratio((double)any->map_cpu_ns, (double)any->map_floor_ns, b, sizeof(b));
		svf_human_ns((double)any->floor_ns / (double)any->floor_ops, c, sizeof(c));
		fprintf(out, "   floor, same run and range: mlock + bulk pagemap read %s per page (the "
			"set-up's map %s it), munlock %s;\n   the teardown per page beside it:\n", a,
			b, c);
	}
	for (int p = 0; p < SVF_POLICY_NR; p++) {
		const struct svf_bench_result *r = &e->res[p];
		double per, fl;

		if (!policy[p] || !r->ran || !r->floor_ops)
			continue;
		per = (double)r->cpu_ns / (double)(churn ? e->wl.count : e->guest_bytes /
						   SVF_PAGE_SIZE);
		fl = (double)r->floor_ns / (double)r->floor_ops;
		svf_human_ns(per, a, sizeof(a));
		svf_human_ns(fl, b, sizeof(b));
		svf_human_ratio(per, fl, c, sizeof(c));
		fprintf(out, "%s%-8s %s / %s = %s", col % 2 ? "   " : "      ", policy_label(r, p), a,
			b, c);
		if (col++ % 2)
			fputc('\n', out);
	}
	if (col % 2)
		fputc('\n', out);
}

void svf_bench_print_entry(const struct svf_bench_entry *e, const bool policy[SVF_POLICY_NR],
			   FILE *out)
{
	const struct svf_bench_result *base = base_of(e), *any = first_ran(e);
	char a[32], b[32], c[32], d[32];
	bool footnote = false;

	if (e->wl.kind == SVF_WL_VMREAL) {
		print_vmreal(e, policy, out);
		return;
	}

	fprintf(out, "== %s  [%s]\n", e->label, e->id);
	fprintf(out, "   measured: %s", e->measured);
	if (e->wl.kind == SVF_WL_LIFECYCLE && e->mappings) {
		svf_human_bytes(e->guest_bytes / e->mappings, a, sizeof(a));
		fprintf(out, "; the guest was mapped as %" PRIu64 " mapping%s of %s%s", e->mappings,
			e->mappings == 1 ? "" : "s", e->guest_bytes % e->mappings ? "about " : "",
			a);
	}
	fputc('\n', out);
	if (any && any->map_cpu_ns && any->map_pages) {
		svf_human_ns((double)any->map_cpu_ns, a, sizeof(a));
		svf_human_ns((double)any->map_cpu_ns / (double)any->map_pages, b, sizeof(b));
		svf_human_bytes(any->pt_bytes_peak, c, sizeof(c));
		svf_human_bytes(any->rss_bytes, d, sizeof(d));
		fprintf(out, "   set-up (not compared): mapping took %s CPU (%s per page); page "
			"tables %s; process RSS mapped %s\n", a, b, c, d);
	}
	if (any && any->dma_requests) {
		svf_human_bytes(any->dma_bytes, a, sizeof(a));
		svf_human_ns((double)any->dma_cpu_ns, b, sizeof(b));
		fprintf(out, "   DMA: %" PRIu64 " device requests (%s), %" PRIu64 " faults",
			any->dma_requests, a, any->dma_faults);
		if (e->wl.kind == SVF_WL_LIFECYCLE)
			fprintf(out, ", %s CPU, before the teardown", b);
		else
			fputs(", inside the measured loop", out);
		fprintf(out, "; IOTLB %" PRIu64 " hits, %" PRIu64 " misses\n", any->iotlb_hits,
			any->iotlb_misses);
	}
	if (e->note[0])
		fprintf(out, "   note: %s\n", e->note);
	fprintf(out, ROW_FMT, "policy", "regions", "inv page", "inv dom", "inv glob", "waits",
		"CPU", "modeled", "pages/s", "peak pinned", "bookkeeping");
	for (int p = 0; p < SVF_POLICY_NR; p++) {
		const struct svf_bench_result *r = &e->res[p];

		if (!policy[p])
			continue;
		if (!r->ran) {
			fprintf(out, "%-9s %s\n", svf_policy_name(p),
				r->skip[0] ? r->skip : "not run (see the note)");
			continue;
		}
		print_row(policy_label(r, p), r, out);
		if (base && p != SVF_POLICY_STRICT)
			print_ratio_row(r, base, out);
		if (r->fallbacks || r->errors || r->violations)
			fprintf(out, "          (%" PRIu64 " fast-unmap fallbacks, %" PRIu64
				" unmap errors, %" PRIu64 " unpin invariant violations)\n",
				r->fallbacks, r->errors, r->violations);
		footnote |= r->note[0] != '\0';
	}
	for (int p = 0; footnote && p < SVF_POLICY_NR; p++)
		if (policy[p] && e->res[p].ran && e->res[p].note[0]) {
			fprintf(out, "   %s*: %s\n", svf_policy_name(p), e->res[p].note);
			break; /* one footnote says it; the header explains */
		}
	print_floor(e, policy, out);
	fputc('\n', out);
}

/* The first lifecycle workload of the synthetic backend with this layout. */
static void cell_ns(uint64_t ns, char *buf, size_t len)
{
	if (ns >= 10000000000ull)
		snprintf(buf, len, "%.1f s", (double)ns / 1e9);
	else if (ns >= 10000000ull)
		snprintf(buf, len, "%.1f ms", (double)ns / 1e6);
	else if (ns >= 10000ull)
		snprintf(buf, len, "%.1f us", (double)ns / 1e3);
	else
		snprintf(buf, len, "%" PRIu64 " ns", ns);
}

/* A column wide enough for "driver/policy" and for 12-character figures. */
static int col_width(const char *driver, int p)
{
	int w = (int)(strlen(driver) + 1 + strlen(svf_policy_name(p)));

	return w > 12 ? w : 12;
}

void svf_bench_print_drivers(const struct svf_bench_entry *e, size_t nr_wl, unsigned ndrv,
			     const bool policy[SVF_POLICY_NR], FILE *out)
{
	static const char *const rows[] = { "commands", "waits", "modeled", "CPU" };

	fputs("Drivers side by side (commands: VT-d invalidation descriptors or AMD-Vi "
	      "invalidation commands,\nwaits apart; modeled: the cost model's device time; "
	      "CPU: process CPU time)\n", out);
	for (size_t i = 0; i < nr_wl; i++) {
		const struct svf_bench_entry *g = &e[i * ndrv];
		char lbl[160];
		size_t l;

		/* The label without the driver suffix the first entry carries. */
		snprintf(lbl, sizeof(lbl), "%s", g->label);
		l = strlen(lbl) - strlen(g->driver);
		if (l >= 2 && strcmp(lbl + l, g->driver) == 0 && lbl[l - 2] == ',')
			lbl[l - 2] = 0;
		fprintf(out, "\n%s\n  %-10s", lbl, "");
		for (unsigned k = 0; k < ndrv; k++)
			for (int p = 0; p < SVF_POLICY_NR; p++)
				if (policy[p]) {
					char h[32];

					snprintf(h, sizeof(h), "%s/%s", g[k].driver, svf_policy_name(p));
					fprintf(out, " %*s", col_width(g[k].driver, p), h);
				}
		fputc('\n', out);
		for (unsigned row = 0; row < 4; row++) {
			fprintf(out, "  %-10s", rows[row]);
			for (unsigned k = 0; k < ndrv; k++) {
				for (int p = 0; p < SVF_POLICY_NR; p++) {
					const struct svf_bench_result *r = &g[k].res[p];
					char c[32];

					if (!policy[p])
						continue;
					if (!r->ran)
						snprintf(c, sizeof(c), "-");
					else if (row == 0)
						snprintf(c, sizeof(c), "%" PRIu64,
							 r->inv_page + r->inv_domain + r->inv_global);
					else if (row == 1)
						snprintf(c, sizeof(c), "%" PRIu64, r->waits);
					else
						cell_ns(row == 2 ? r->modeled_ns : r->cpu_ns, c,
							sizeof(c));
					fprintf(out, " %*s", col_width(g[k].driver, p), c);
				}
			}
			fputc('\n', out);
		}
	}
	fputc('\n', out);
}

static const struct svf_bench_entry *find_lifecycle(const struct svf_bench_entry *e, size_t n,
						    enum svf_layout layout)
{
	for (size_t i = 0; i < n; i++)
		if (e[i].wl.kind == SVF_WL_LIFECYCLE && e[i].wl.backend == SVF_BACKEND_SYNTHETIC &&
		    e[i].wl.layout == layout && first_ran(&e[i]))
			return &e[i];
	return NULL;
}

static const char *verdict(bool met)
{
	return met ? "met" : "NOT met";
}

static void per_policy_cpu(const struct svf_bench_entry *e, double per, double limit,
			   const char *what, FILE *out)
{
	fprintf(out, "  %s <= %.0f ns:\n", what, limit);
	for (int p = 0; p < SVF_POLICY_NR; p++) {
		const struct svf_bench_result *r = &e->res[p];
		double ns;

		if (!r->ran)
			continue;
		ns = (double)r->cpu_ns / per;
		fprintf(out, "      %-9s %8.2f ns  %s\n", policy_label(r, p), ns,
			verdict(ns <= limit));
	}
}

/* The targets of the vm-real workloads that ran. */
static void vmreal_targets(const struct svf_bench_entry *e, size_t n, FILE *out)
{
	for (size_t i = 0; i < n; i++) {
		const struct svf_bench_entry *x = &e[i];
		bool thp = vm_thp(x);

		if (x->wl.kind != SVF_WL_VMREAL || !first_ran(x))
			continue;
		fprintf(out, " VM start and teardown, real memory [%s]:\n", x->id);
		for (int p = 0; p < SVF_POLICY_NR; p++) {
			const struct svf_bench_result *r = &x->res[p];
			double st, stf, td, tdf, slim = thp ? TARGET_VM_THP_START_RATIO :
				TARGET_VM_4K_RATIO;
			bool tmet;

			if (!r->ran)
				continue;
			st = svf_vmreal_per_page(r, SVF_VM_START);
			stf = svf_vmreal_per_page(r, SVF_VM_START_FLOOR);
			td = svf_vmreal_per_page(r, SVF_VM_TEARDOWN);
			tdf = svf_vmreal_per_page(r, SVF_VM_TEARDOWN_FLOOR);
			tmet = thp ? td <= TARGET_VM_THP_TEARDOWN_NS : td <= TARGET_VM_4K_RATIO * tdf;
			fprintf(out, "      %-9s start %.2fx floor (<= %.4gx) %-7s  teardown ",
				policy_label(r, p), stf > 0 ? st / stf : 0, slim,
				verdict(stf > 0 && st <= slim * stf));
			if (thp)
				fprintf(out, "%.2f ns/page (<= 3 ns) %s\n", td, verdict(tmet));
			else
				fprintf(out, "%.2fx floor (<= 1.25x) %s\n", tdf > 0 ? td / tdf : 0,
					verdict(tmet));
		}
	}
}

static bool any_vmreal(const struct svf_bench_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (e[i].wl.kind == SVF_WL_VMREAL && first_ran(&e[i]))
			return true;
	return false;
}

void svf_bench_print_targets(const struct svf_bench_entry *e, size_t n, int cost, FILE *out)
{
	const struct svf_bench_entry *frag = find_lifecycle(e, n, SVF_LAYOUT_FRAG4K);
	const struct svf_bench_entry *runs = find_lifecycle(e, n, SVF_LAYOUT_RUNS2M);

	if (!frag && !runs && !any_vmreal(e, n))
		return;
	fputs("targets (figures, not assertions):\n", out);
	if (frag) {
		const struct svf_bench_result *s = &frag->res[SVF_POLICY_STRICT];
		const struct svf_bench_result *b = &frag->res[SVF_POLICY_BATCHED];
		const struct svf_bench_result *g = &frag->res[SVF_POLICY_GATHER];

		fprintf(out, " fully fragmented 4 KiB guest [%s]:\n", frag->id);
		if (s->ran && b->ran) {
			double ratio = b->modeled_ns ? (double)s->modeled_ns / (double)b->modeled_ns : 0;

			fprintf(out, "  batched waits <= strict waits / %d: %" PRIu64 " <= %" PRIu64
				"  %s\n", TARGET_WAIT_DIVISOR, b->waits,
				s->waits / TARGET_WAIT_DIVISOR,
				verdict(b->waits <= s->waits / TARGET_WAIT_DIVISOR));
			if (cost == 0)
				fputs("  modeled device time strict / batched >= 100: n/a (cost model "
				      "off)\n", out);
			else
				fprintf(out, "  modeled device time strict / batched >= %.0f: %.1fx  "
					"%s\n      (the model's published figures, 20 ns a descriptor "
					"and 780 ns a wait, bound it at\n      (20 + 780) / (20 + "
					"780/512) = 37x: batched still queues one descriptor per page;\n"
					"      gather, which merges them, gives %.0fx)\n",
					TARGET_MODELED_RATIO, ratio, verdict(ratio >= TARGET_MODELED_RATIO),
					g->ran && g->modeled_ns ? (double)s->modeled_ns /
					(double)g->modeled_ns : 0.0);
		}
		if (b->ran && g->ran) {
			fprintf(out, "  gather <= batched: waits %" PRIu64 " <= %" PRIu64 "  %s; "
				"descriptors %" PRIu64 " <= %" PRIu64 "  %s\n", g->waits, b->waits,
				verdict(g->waits <= b->waits), g->inv_page + g->inv_domain +
				g->inv_global, b->inv_page + b->inv_domain + b->inv_global,
				verdict(g->inv_page + g->inv_domain + g->inv_global <=
					b->inv_page + b->inv_domain + b->inv_global));
		}
		per_policy_cpu(frag, (double)(frag->guest_bytes / SVF_PAGE_SIZE),
			       TARGET_CPU_PER_PAGE_NS, "CPU time per unmapped page", out);
	}
	if (runs) {
		fprintf(out, " contiguous guest in 2 MiB runs [%s]:\n", runs->id);
		per_policy_cpu(runs, (double)(runs->guest_bytes / SVF_PAGE_SIZE),
			       TARGET_CPU_PER_4K_RUNS2M_NS, "unmap CPU time per 4 KiB of guest", out);
	}
	vmreal_targets(e, n, out);
	fputc('\n', out);
}

/* (max - min) / min of v[0..n), 0 when min is 0. */
static double spread(const double *v, size_t n)
{
	double lo = v[0], hi = v[0];

	for (size_t i = 1; i < n; i++) {
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
	}
	return lo > 0 ? (hi - lo) / lo : 0;
}

#define FLAT_FMT "%-7s %-9s %9s %10s %9s %7s %10s %9s %7s %9s\n"
#define FLAT_MAX 32

bool svf_bench_print_flatness(const struct svf_bench_entry *e, size_t n,
			      const bool policy[SVF_POLICY_NR], FILE *out)
{
	bool printed = false, all_flat = true, all_rflat = true;

	for (int thp = 0; thp < 2; thp++) {
		for (int p = 0; p < SVF_POLICY_NR; p++) {
			const struct svf_bench_entry *g[FLAT_MAX];
			double v[7][FLAT_MAX];
			char c[7][32], sz[32];
			size_t k = 0;
			bool flat, rflat;

			if (!policy[p])
				continue;
			for (size_t i = 0; i < n && k < FLAT_MAX; i++)
				if (e[i].wl.kind == SVF_WL_VMREAL && vm_thp(&e[i]) == thp &&
				    e[i].res[p].ran && e[i].res[p].vm_pages)
					g[k++] = &e[i];
			if (k < 2 || g[0]->guest_bytes == g[k - 1]->guest_bytes)
				continue;
			if (!printed) {
				fputs("flatness (vm-real by guest size, per 4 KiB page; flat: every "
				      "softvfio figure's spread, (max - min) / min,\nwithin 10 %):\n",
				      out);
				fprintf(out, FLAT_FMT, "backing", "policy", "guest", "start", "floor",
					"ratio", "teardown", "floor", "ratio", "reg/page");
				printed = true;
			}
			for (size_t j = 0; j < k; j++) {
				const struct svf_bench_result *r = &g[j]->res[p];

				v[0][j] = svf_vmreal_per_page(r, SVF_VM_START);
				v[1][j] = svf_vmreal_per_page(r, SVF_VM_START_FLOOR);
				v[2][j] = v[1][j] > 0 ? v[0][j] / v[1][j] : 0;
				v[3][j] = svf_vmreal_per_page(r, SVF_VM_TEARDOWN);
				v[4][j] = svf_vmreal_per_page(r, SVF_VM_TEARDOWN_FLOOR);
				v[5][j] = v[4][j] > 0 ? v[3][j] / v[4][j] : 0;
				/* How fragmented the kernel's frames were: a teardown pays per region. */
				v[6][j] = (double)r->regions / (double)r->vm_pages;
				for (int q = 0; q < 7; q++) {
					if (q == 2 || q == 5)
						snprintf(c[q], sizeof(c[q]), "%.2fx", v[q][j]);
					else if (q == 6)
						snprintf(c[q], sizeof(c[q]), "%.3f", v[q][j]);
					else
						svf_human_ns(v[q][j], c[q], sizeof(c[q]));
				}
				svf_human_bytes(g[j]->guest_bytes, sz, sizeof(sz));
				fprintf(out, FLAT_FMT, thp ? "THP" : "4 KiB", svf_policy_name(p), sz,
					c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
			}
			for (int q = 0; q < 7; q++)
				snprintf(c[q], sizeof(c[q]), "%.1f %%", 100 * spread(v[q], k));
			flat = spread(v[0], k) <= FLAT_SPREAD && spread(v[3], k) <= FLAT_SPREAD;
			rflat = spread(v[2], k) <= FLAT_SPREAD && spread(v[5], k) <= FLAT_SPREAD;
			all_flat &= flat;
			all_rflat &= rflat;
			fprintf(out, FLAT_FMT, "", "  spread", "", c[0], c[1], c[2], c[3], c[4], c[5],
				c[6]);
			fprintf(out, "%-7s %-9s flat within 10 %%: start and teardown %s; their ratios "
				"to the floor %s\n", "", "", flat ? "yes" : "NO", rflat ? "yes" : "NO");
		}
	}
	if (printed)
		fprintf(out, "every softvfio figure flat within 10 %%: %s; every ratio to the floor: "
			"%s\n(the floor is this machine's kernel on a shared machine: where it moves "
			"too, the ratio is the figure to read;\nreg/page: physically contiguous "
			"regions per page, as the kernel gave the frames: the teardown pays per "
			"region)\n\n", all_flat ? "yes" : "NO", all_rflat ? "yes" : "NO");
	return printed;
}

void svf_bench_print_scaling(const struct svf_bench_entry *e, size_t n,
			     const bool policy[SVF_POLICY_NR], FILE *out)
{
	char a[32], b[32], c[32], d[32];

	fputs("scaling (lifecycle workloads by guest size; CPU per 4 KiB page of guest):\n", out);
	fprintf(out, "%-24s %12s %8s %12s", "workload", "pages", "mappings", "map/page");
	for (int p = 0; p < SVF_POLICY_NR; p++)
		if (policy[p])
			fprintf(out, " %10s", svf_policy_name(p));
	fprintf(out, " %12s %12s %12s\n", "page tables", "RSS mapped", "bookkeeping");
	for (size_t i = 0; i < n; i++) {
		const struct svf_bench_result *any = first_ran(&e[i]);
		double pages = (double)(e[i].guest_bytes / SVF_PAGE_SIZE);

		if (e[i].wl.kind != SVF_WL_LIFECYCLE || !any)
			continue;
		svf_human_ns((double)any->map_cpu_ns / pages, a, sizeof(a));
		fprintf(out, "%-24s %12.0f %8" PRIu64 " %12s", e[i].id, pages, e[i].mappings, a);
		for (int p = 0; p < SVF_POLICY_NR; p++) {
			if (!policy[p])
				continue;
			if (e[i].res[p].ran)
				svf_human_ns((double)e[i].res[p].cpu_ns / pages, b, sizeof(b));
			else
				snprintf(b, sizeof(b), "-");
			fprintf(out, " %10s", b);
		}
		svf_human_bytes(any->pt_bytes_peak, b, sizeof(b));
		svf_human_bytes(any->rss_bytes, c, sizeof(c));
		svf_human_bytes(any->bookkeeping_peak, d, sizeof(d));
		fprintf(out, " %12s %12s %12s\n", b, c, d);
	}
	fputc('\n', out);
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void json_u64(FILE *f, const char *key, uint64_t v, bool comma)
{
	fprintf(f, "\"%s\": %" PRIu64 "%s", key, v, comma ? ", " : "");
}

/* A figure per page with 3 decimals. */
static void json_ns(FILE *f, const char *key, double v)
{
	fprintf(f, "\"%s\": %.3f, ", key, v);
}

/* vm-real's figures per page, floors and ratios (before the common keys). */
static void json_vmreal(FILE *f, const struct svf_bench_entry *e, const struct svf_bench_result *r)
{
	double st = svf_vmreal_per_page(r, SVF_VM_START);
	double stf = svf_vmreal_per_page(r, SVF_VM_START_FLOOR);
	double td = svf_vmreal_per_page(r, SVF_VM_TEARDOWN);
	double tdf = svf_vmreal_per_page(r, SVF_VM_TEARDOWN_FLOOR);

	json_ns(f, "start_ns_per_page", st);
	json_ns(f, "start_floor_ns_per_page", stf);
	if (stf > 0)
		fprintf(f, "\"start_ratio_to_floor\": %.4f, ", st / stf);
	else
		fputs("\"start_ratio_to_floor\": null, ", f);
	json_ns(f, "teardown_ns_per_page", td);
	json_ns(f, "teardown_floor_ns_per_page", tdf);
	if (tdf > 0)
		fprintf(f, "\"teardown_ratio_to_floor\": %.4f, ", td / tdf);
	else
		fputs("\"teardown_ratio_to_floor\": null, ", f);
	json_ns(f, "linux_start_ns_per_page", svf_vmreal_linux_ns(e, false));
	if (svf_vmreal_linux_ns(e, true) > 0)
		json_ns(f, "linux_teardown_ns_per_page", svf_vmreal_linux_ns(e, true));
	else
		fputs("\"linux_teardown_ns_per_page\": null, ", f);
	json_u64(f, "start_ns", r->vm_start_ns, true);
	json_u64(f, "start_floor_ns", r->vm_start_floor_ns, true);
	json_u64(f, "teardown_ns", r->vm_teardown_ns, true);
	json_u64(f, "teardown_floor_ns", r->vm_teardown_floor_ns, true);
	json_u64(f, "vm_pages", r->vm_pages, true);
	json_u64(f, "reps", r->vm_reps, true);
	json_u64(f, "thp_bytes", r->thp_bytes, true);
}

static void json_result(FILE *f, const struct svf_bench_entry *e, enum svf_policy p,
			const struct svf_bench_result *r, const struct svf_bench_result *base)
{
	fputs("{\"policy\": ", f);
	json_str(f, svf_policy_name(p));
	fputs(", ", f);
	if (e->wl.kind == SVF_WL_VMREAL)
		json_vmreal(f, e, r);
	json_u64(f, "regions", r->regions, true);
	json_u64(f, "inv_descriptors", r->inv_page + r->inv_domain + r->inv_global, true);
	json_u64(f, "waits", r->waits, true);
	json_u64(f, "cpu_ns", r->cpu_ns, true);
	json_u64(f, "modeled_ns", r->modeled_ns, true);
	json_u64(f, "pages", r->pages, true);
	json_u64(f, "inv_page", r->inv_page, true);
	json_u64(f, "inv_domain", r->inv_domain, true);
	json_u64(f, "inv_global", r->inv_global, true);
	json_u64(f, "wall_ns", r->wall_ns, true);
	fprintf(f, "\"pages_per_s\": %.0f, ", pages_per_s(r));
	json_u64(f, "ioctls", r->ioctls, true);
	json_u64(f, "pinned_peak", r->pinned_peak, true);
	json_u64(f, "bookkeeping_bytes", r->bookkeeping_peak, true);
	json_u64(f, "page_table_bytes_peak", r->pt_bytes_peak, true);
	json_u64(f, "rss_bytes", r->rss_bytes, true);
	json_u64(f, "map_cpu_ns", r->map_cpu_ns, true);
	json_u64(f, "map_pages", r->map_pages, true);
	json_u64(f, "dma_cpu_ns", r->dma_cpu_ns, true);
	json_u64(f, "dma_bytes", r->dma_bytes, true);
	json_u64(f, "dma_faults", r->dma_faults, true);
	json_u64(f, "iotlb_hits", r->iotlb_hits, true);
	json_u64(f, "iotlb_misses", r->iotlb_misses, true);
	json_u64(f, "unmap_fallbacks", r->fallbacks, true);
	json_u64(f, "unmap_errors", r->errors, true);
	if (r->floor_ops && e->wl.kind != SVF_WL_VMREAL) {
		double per = (double)r->cpu_ns / (double)(e->wl.kind == SVF_WL_CHURN ? e->wl.count :
							  e->guest_bytes / SVF_PAGE_SIZE);
		double fl = (double)r->floor_ns / (double)r->floor_ops;

		/* lifecycle: per page (munlock; map_floor_ns: mlock + pagemap); churn: per buffer */
		json_u64(f, "floor_ns", r->floor_ns, true);
		json_u64(f, "map_floor_ns", r->map_floor_ns, true);
		json_u64(f, "floor_ops", r->floor_ops, true);
		json_ns(f, e->wl.kind == SVF_WL_CHURN ? "ns_per_buffer" : "ns_per_page", per);
		json_ns(f, "floor_ns_per_op", fl);
		if (fl > 0)
			fprintf(f, "\"ratio_to_floor\": %.4f, ", per / fl);
	}
	json_u64(f, "invariant_violations", r->violations, base != NULL || r->note[0]);
	if (r->note[0]) {
		fputs("\"note\": ", f);
		json_str(f, r->note);
		if (base)
			fputs(", ", f);
	}
	if (base) {
		/* value / strict's value; null where strict's is 0 */
		fputs("\"ratio_to_strict\": {", f);
#define RATIO(key, a, b, comma)                                                     \
		do {                                                                \
			if ((b) != 0)                                               \
				fprintf(f, "\"%s\": %.6g%s", key, (double)(a) / (double)(b), \
					comma ? ", " : "");                         \
			else                                                        \
				fprintf(f, "\"%s\": null%s", key, comma ? ", " : ""); \
		} while (0)
		RATIO("regions", r->regions, base->regions, true);
		RATIO("inv_descriptors", r->inv_page + r->inv_domain + r->inv_global,
		      base->inv_page + base->inv_domain + base->inv_global, true);
		RATIO("waits", r->waits, base->waits, true);
		RATIO("cpu_ns", r->cpu_ns, base->cpu_ns, true);
		RATIO("modeled_ns", r->modeled_ns, base->modeled_ns, true);
		RATIO("pages_per_s", pages_per_s(r), pages_per_s(base), true);
		RATIO("pinned_peak", r->pinned_peak, base->pinned_peak, true);
		RATIO("bookkeeping_bytes", r->bookkeeping_peak, base->bookkeeping_peak, false);
#undef RATIO
		fputc('}', f);
	}
	fputc('}', f);
}

int svf_bench_write_json(const struct svf_bench_entry *e, size_t n, const bool *policy,
			 FILE *f)
{
	fputs("[\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct svf_bench_entry *x = &e[i];
		const struct svf_bench_result *base = base_of(x);
		bool first = true;

		fputs("  {\"workload\": ", f);
		json_str(f, x->id);
		fputs(", \"driver\": ", f);
		json_str(f, x->driver[0] ? x->driver : "vtd");
		fputs(", ", f);
		json_u64(f, "guest_bytes", x->guest_bytes, true);
		fputs("\"kind\": ", f);
		json_str(f, x->wl.kind == SVF_WL_LIFECYCLE ? "lifecycle" :
			    x->wl.kind == SVF_WL_SMALL ? "small" :
			    x->wl.kind == SVF_WL_CHURN ? "churn" :
			    x->wl.kind == SVF_WL_VMREAL ? "vm-real" : "trace");
		if (x->wl.kind == SVF_WL_VMREAL) {
			fputs(", \"backing\": ", f);
			json_str(f, vm_thp(x) ? "thp" : "4k");
			fputs(", ", f);
			json_u64(f, "thp_bytes_before", x->thp_before, false);
			fputs(", \"floor\": \"mlock + bulk /proc/self/pagemap read of each section "
			      "(start), munlock of each (teardown), same run and range\"", f);
			fputs(", \"linux_reference\": \"published, Linux type1 on hardware; not "
			      "measured here\"", f);
		}
		fputs(", \"label\": ", f);
		json_str(f, x->label);
		fputs(", \"backend\": ", f);
		json_str(f, svf_backend_name(x->wl.backend));
		fputs(", \"layout\": ", f);
		json_str(f, svf_layout_name(x->wl.layout));
		fputs(", \"measured\": ", f);
		json_str(f, x->measured);
		fputs(", ", f);
		json_u64(f, "mappings", x->mappings, true);
		if (x->note[0]) {
			fputs("\"note\": ", f);
			json_str(f, x->note);
			fputs(", ", f);
		}
		fputs("\"skipped\": {", f);
		for (int p = 0; p < SVF_POLICY_NR; p++) {
			if (!policy[p] || x->res[p].ran)
				continue;
			fprintf(f, "%s", first ? "" : ", ");
			json_str(f, svf_policy_name(p));
			fputs(": ", f);
			json_str(f, x->res[p].skip[0] ? x->res[p].skip : x->note);
			first = false;
		}
		fputs("},\n   \"results\": [", f);
		first = true;
		for (int p = 0; p < SVF_POLICY_NR; p++) {
			if (!policy[p] || !x->res[p].ran)
				continue;
			fputs(first ? "\n    " : ",\n    ", f);
			json_result(f, x, (enum svf_policy)p, &x->res[p],
				    p == SVF_POLICY_STRICT ? NULL : base);
			first = false;
		}
		fprintf(f, "]}%s\n", i + 1 < n ? "," : "");
	}
	fputs("]\n", f);
	return ferror(f) ? -EIO : 0;
}

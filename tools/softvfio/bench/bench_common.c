/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the benchmarks (see bench_common.h): clocks, counter
 * deltas, memory samples, and the formatting of figures for people.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_common.h"

uint64_t svf_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t svf_bench_bookkeeping(struct svf_container *c, struct svf_pinner *p)
{
	struct svf_stats s;

	svf_container_get_stats(c, &s);
	return s.bookkeeping_bytes + svf_pinner_bookkeeping_bytes(p);
}

void svf_stats_delta(const struct svf_stats *before, const struct svf_stats *after,
		     struct svf_stats *d)
{
#define DELTA(name, kind, what) \
	d->name = (kind) == SVF_STAT_COUNT ? after->name - before->name : after->name;
	SVF_STATS_FIELDS(DELTA)
#undef DELTA
}

uint64_t svf_rss_bytes(void)
{
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/statm", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	if (n != 2 || page <= 0)
		return 0;
	return (uint64_t)resident * (uint64_t)page;
}

uint64_t svf_peak_rss_bytes(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)ru.ru_maxrss * 1024;
}

void svf_human_bytes(uint64_t v, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (u < 4 && v >= (1024ULL << (10 * u)) &&
	       (v % (1024ULL << (10 * u)) == 0 || v >= (10240ULL << (10 * u))))
		u++;
	snprintf(buf, len, "%" PRIu64 " %s", v >> (10 * u), unit[u]);
}

/* v with three significant digits (no exponent), then sep and unit. */
static void three_digits(double v, const char *sep, const char *unit, char *buf, size_t len)
{
	int decimals = v >= 99.95 ? 0 : v >= 9.995 ? 1 : 2;

	snprintf(buf, len, "%.*f%s%s", decimals, v, sep, unit);
}

void svf_human_ns(double ns, char *buf, size_t len)
{
	if (ns == 0)
		snprintf(buf, len, "0 ns");
	else if (ns < 0.995)
		snprintf(buf, len, "%.2f ns", ns);
	else if (ns < 999.5)
		three_digits(ns, " ", "ns", buf, len);
	else if (ns < 999.5e3)
		three_digits(ns / 1e3, " ", "us", buf, len);
	else if (ns < 999.5e6)
		three_digits(ns / 1e6, " ", "ms", buf, len);
	else
		three_digits(ns / 1e9, " ", "s", buf, len);
}

void svf_human_count(double v, char *buf, size_t len)
{
	static const char *const suffix[] = { "", "k", "M", "G", "T", "P" };
	unsigned s = 0;

	if (v < 999.5) {
		snprintf(buf, len, "%.0f", v);
		return;
	}
	while (s < 5 && v >= 999.5) {
		v /= 1000;
		s++;
	}
	three_digits(v, "", suffix[s], buf, len);
}

void svf_human_ratio(double value, double base, char *buf, size_t len)
{
	double r;

	if (base == 0) {
		snprintf(buf, len, "%s", value == 0 ? "-" : "n/a");
		return;
	}
	r = value / base;
	if (r == 0)
		snprintf(buf, len, "0");
	else if (r < 0.095)
		snprintf(buf, len, "1/%.0f", 1 / r);
	else if (r < 9.95)
		snprintf(buf, len, "%.2fx", r);
	else
		snprintf(buf, len, "%.0fx", r);
}

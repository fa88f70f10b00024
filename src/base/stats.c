/* SPDX-License-Identifier: MIT */
/* Counters as JSON: one flat object, keys named and ordered as SVF_STATS_FIELDS. */
#include <errno.h>
#include <inttypes.h>

#include <softvfio/stats.h>

int svf_stats_write_json(const struct svf_stats *s, FILE *f)
{
	const char *sep = "";
	int rc = 0;

	if (fputc('{', f) == EOF)
		return -EIO;
#define EMIT(name, kind, what)                                                      \
	if (rc >= 0)                                                                \
		rc = fprintf(f, "%s\"" #name "\": %" PRIu64, sep, (uint64_t)s->name); \
	sep = ", ";
	SVF_STATS_FIELDS(EMIT)
#undef EMIT
	if (rc < 0 || fputc('}', f) == EOF)
		return -EIO;
	return 0;
}

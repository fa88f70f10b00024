/* SPDX-License-Identifier: MIT */
/*
 * Parser of exec's device specifications (devspec.h). Pure string work: no
 * allocation, so the preload library can run it from its constructor.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devspec.h"

const char *svf_exec_kind_name(enum svf_exec_kind k)
{
	switch (k) {
	case SVF_EXEC_EDU:
		return "edu";
	case SVF_EXEC_IOAT:
		return "ioat";
	}
	return "?";
}

static int fail(char *err, size_t errlen, const char *what, const char *val)
{
	if (err && errlen)
		snprintf(err, errlen, "%s '%s'", what, val);
	return -EINVAL;
}

static bool parse_hex(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		v = v * 16 + d;
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

/* [DDDD:]BB:DD.F, as lspci and sysfs write it (the domain defaults to 0). */
static bool parse_bdf(const char *s, size_t n, struct svf_exec_devspec *d)
{
	const char *end = s + n, *dot, *c1, *c2 = NULL;
	unsigned dom = 0, bus, slot, fn;

	dot = memchr(s, '.', n);
	c1 = memchr(s, ':', n);
	if (!dot || !c1)
		return false;
	if (c1 + 1 < s + n)
		c2 = memchr(c1 + 1, ':', (size_t)(s + n - c1 - 1));
	if (c2) {
		if (!parse_hex(s, (size_t)(c1 - s), 0xffff, &dom))
			return false;
		s = c1 + 1;
		c1 = c2;
	}
	if (dot < c1 || !parse_hex(s, (size_t)(c1 - s), 0xff, &bus) ||
	    !parse_hex(c1 + 1, (size_t)(dot - c1 - 1), 0x1f, &slot) ||
	    (size_t)(end - dot - 1) != 1 || !parse_hex(dot + 1, 1, 7, &fn))
		return false;
	d->domain = (uint16_t)dom;
	d->bus = (uint8_t)bus;
	d->slot = (uint8_t)slot;
	d->fn = (uint8_t)fn;
	return true;
}

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	char buf[32], *end;

	if (!n || n >= sizeof(buf) || s[0] == '-' || s[0] == '+')
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, 0);
	return !errno && *end == '\0';
}

int svf_exec_devspec_add(struct svf_exec_devlist *l, const char *spec, char *err, size_t errlen)
{
	struct svf_exec_devspec d = { .dma_mask = SVF_EXEC_DEFAULT_DMA_MASK };
	const char *p = spec, *end = spec + strlen(spec), *comma;
	size_t n;

	comma = memchr(p, ',', (size_t)(end - p));
	n = comma ? (size_t)(comma - p) : (size_t)(end - p);
	if (n == 3 && !memcmp(p, "edu", 3)) {
		d.kind = SVF_EXEC_EDU;
	} else if (n == 4 && !memcmp(p, "ioat", 4)) {
		d.kind = SVF_EXEC_IOAT;
	} else {
		if (err && errlen)
			snprintf(err, errlen, "unknown device kind '%.*s' (edu, ioat)", (int)n, p);
		return -EINVAL;
	}
	p += n;
	while (p < end) {
		const char *key = ++p, *eq, *val;
		size_t klen, vlen;

		comma = memchr(p, ',', (size_t)(end - p));
		n = comma ? (size_t)(comma - p) : (size_t)(end - p);
		eq = memchr(key, '=', n);
		if (!eq)
			return fail(err, errlen, "expected KEY=VALUE in device spec, got", key);
		klen = (size_t)(eq - key);
		val = eq + 1;
		vlen = n - klen - 1;
		if (klen == 3 && !memcmp(key, "bdf", 3)) {
			if (!parse_bdf(val, vlen, &d))
				return fail(err, errlen, "bad bdf (DDDD:BB:DD.F) in", spec);
			d.has_bdf = true;
		} else if (klen == 5 && !memcmp(key, "group", 5)) {
			uint64_t g;

			if (!parse_u64(val, vlen, &g) || g > 0xffff)
				return fail(err, errlen, "bad group number in", spec);
			d.group = (unsigned)g;
			d.has_group = true;
		} else if (klen == 8 && !memcmp(key, "dma_mask", 8)) {
			if (!parse_u64(val, vlen, &d.dma_mask) || !d.dma_mask)
				return fail(err, errlen, "bad dma_mask in", spec);
		} else {
			if (err && errlen)
				snprintf(err, errlen, "unknown key '%.*s' in device spec '%s'"
					 " (bdf, group, dma_mask)", (int)klen, key, spec);
			return -EINVAL;
		}
		p += n;
	}
	if (l->n >= SVF_EXEC_MAX_DEVICES) {
		if (err && errlen)
			snprintf(err, errlen, "at most %d devices", SVF_EXEC_MAX_DEVICES);
		return -ENOSPC;
	}
	l->dev[l->n++] = d;
	return 0;
}

static bool bdf_eq(const struct svf_exec_devspec *a, const struct svf_exec_devspec *b)
{
	return a->domain == b->domain && a->bus == b->bus && a->slot == b->slot && a->fn == b->fn;
}

int svf_exec_devlist_finish(struct svf_exec_devlist *l, char *err, size_t errlen)
{
	char name[16];

	if (!l->n)
		l->dev[l->n++] = (struct svf_exec_devspec){ .kind = SVF_EXEC_EDU,
							    .dma_mask = SVF_EXEC_DEFAULT_DMA_MASK };
	for (unsigned i = 0; i < l->n; i++) {
		struct svf_exec_devspec *d = &l->dev[i];

		if (!d->has_bdf) {
			/* The first free slot from 00:03.0 on bus 0. */
			for (unsigned slot = 3; slot < 32; slot++) {
				struct svf_exec_devspec t = { .slot = (uint8_t)slot };
				bool used = false;

				for (unsigned j = 0; j < l->n; j++)
					if (j != i && (l->dev[j].has_bdf) && bdf_eq(&l->dev[j], &t))
						used = true;
				if (!used) {
					d->slot = (uint8_t)slot;
					break;
				}
			}
			d->has_bdf = true;
		}
		for (unsigned j = 0; j < i; j++)
			if (bdf_eq(&l->dev[j], d)) {
				svf_exec_bdf_name(d, name, sizeof(name));
				return fail(err, errlen, "two devices at", name);
			}
	}
	for (unsigned i = 0; i < l->n; i++) {
		struct svf_exec_devspec *d = &l->dev[i];

		if (d->has_group)
			continue;
		for (unsigned g = 0;; g++) {
			bool used = false;

			for (unsigned j = 0; j < l->n; j++)
				if (j != i && l->dev[j].has_group && l->dev[j].group == g)
					used = true;
			if (!used) {
				d->group = g;
				d->has_group = true;
				break;
			}
		}
	}
	return 0;
}

int svf_exec_devlist_parse(struct svf_exec_devlist *l, const char *list, char *err, size_t errlen)
{
	char spec[256];
	int rc;

	l->n = 0;
	while (list && *list) {
		const char *semi = strchr(list, ';');
		size_t n = semi ? (size_t)(semi - list) : strlen(list);

		if (n >= sizeof(spec))
			return fail(err, errlen, "device spec too long:", list);
		memcpy(spec, list, n);
		spec[n] = '\0';
		rc = svf_exec_devspec_add(l, spec, err, errlen);
		if (rc)
			return rc;
		list += n + (semi ? 1 : 0);
	}
	return svf_exec_devlist_finish(l, err, errlen);
}

void svf_exec_bdf_name(const struct svf_exec_devspec *d, char *buf, size_t len)
{
	snprintf(buf, len, "%04x:%02x:%02x.%x", d->domain, d->bus, d->slot, d->fn);
}

int svf_exec_devspec_format(const struct svf_exec_devspec *d, char *buf, size_t len)
{
	char bdf[16];
	int n;

	svf_exec_bdf_name(d, bdf, sizeof(bdf));
	n = snprintf(buf, len, "%s,bdf=%s,group=%u,dma_mask=0x%" PRIx64, svf_exec_kind_name(d->kind),
		     bdf, d->group, d->dma_mask);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

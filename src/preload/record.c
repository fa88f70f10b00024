/* SPDX-License-Identifier: MIT */
/*
 * --record (record.h): the op list and the trace writer.
 *
 * Each op keeps the request as the trace will spell it (its vaddr
 * absolute until the arena is known) and its result line's text after the
 * "L<line> <op> " prefix, formatted as `softvfio replay` prints it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <softvfio/softvfio.h>

#include "preload_log.h"
#include "record.h"

enum op_kind { OP_MAP, OP_UNMAP, OP_DIRTY_START, OP_DIRTY_STOP, OP_DIRTY_GET, OP_INFO };

struct op {
	enum op_kind kind;
	uint64_t iova, size, vaddr, pgsize;
	uint32_t flags;
	long rc;
	char *result; /* "ok ...", "err NAME" */
};

static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static char *rec_path;
static const void *rec_key; /* the recorded container */
static bool rec_closed;
static struct op *ops;
static size_t nr_ops, cap_ops;

void pv_record_init(const char *path)
{
	if (path && *path)
		rec_path = strdup(path);
}

static char *errname(long rc)
{
	const char *n = strerrorname_np((int)-rc);
	char *s;

	if (n ? asprintf(&s, "err %s", n) : asprintf(&s, "err E%ld", -rc) < 0)
		return NULL;
	return s;
}

/* " bitmap=" and two hex digits per byte. */
static char *with_bitmap(const char *head, const uint8_t *data, uint64_t bytes)
{
	size_t hl = strlen(head);
	char *s = malloc(hl + 8 + 2 * bytes + 1);

	if (!s)
		return NULL;
	memcpy(s, head, hl);
	memcpy(s + hl, " bitmap=", 8);
	for (uint64_t i = 0; i < bytes; i++)
		snprintf(s + hl + 8 + 2 * i, 3, "%02x", data[i]);
	s[hl + 8 + 2 * bytes] = '\0';
	return s;
}

/* The container's info as replay prints it: its own call, room for every capability. */
static char *info_result(struct svf_container *c)
{
	union {
		struct vfio_iommu_type1_info info;
		uint8_t raw[8192];
	} *u = calloc(1, sizeof(*u));
	const struct vfio_iommu_type1_info_cap_iova_range *ranges = NULL;
	const struct vfio_iommu_type1_info_dma_avail *avail = NULL;
	char *s = NULL, *p;
	size_t len = 0;
	FILE *f;
	uint32_t off;
	long rc;

	if (!u)
		return NULL;
	u->info.argsz = sizeof(*u);
	rc = softvfio_ioctl(c, VFIO_IOMMU_GET_INFO, &u->info);
	if (rc < 0) {
		free(u);
		return errname(rc);
	}
	off = (u->info.flags & VFIO_IOMMU_INFO_CAPS) ? u->info.cap_offset : 0;
	for (int n = 0; off && n < 16 && off + sizeof(struct vfio_info_cap_header) <= sizeof(*u);
	     n++) {
		const struct vfio_info_cap_header *h = (const void *)(u->raw + off);

		if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE)
			ranges = (const void *)h;
		else if (h->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL)
			avail = (const void *)h;
		if (h->next <= off)
			break;
		off = h->next;
	}
	f = open_memstream(&s, &len);
	if (!f) {
		free(u);
		return NULL;
	}
	fprintf(f, "ok pgsizes=0x%" PRIx64, (uint64_t)u->info.iova_pgsizes);
	if (ranges) {
		fputs(" ranges=", f);
		for (uint32_t i = 0; i < ranges->nr_iovas; i++)
			fprintf(f, "%s0x%" PRIx64 "-0x%" PRIx64, i ? "," : "",
				(uint64_t)ranges->iova_ranges[i].start,
				(uint64_t)ranges->iova_ranges[i].end);
	}
	if (avail)
		fprintf(f, " avail=%" PRIu32, avail->avail);
	fclose(f);
	free(u);
	p = s;
	return p;
}

static struct op *new_op(void)
{
	if (nr_ops == cap_ops) {
		size_t cap = cap_ops ? 2 * cap_ops : 256;
		struct op *n = realloc(ops, cap * sizeof(*n));

		if (!n)
			return NULL;
		ops = n;
		cap_ops = cap;
	}
	memset(&ops[nr_ops], 0, sizeof(ops[0]));
	return &ops[nr_ops++];
}

void pv_record_request(const void *key, struct svf_container *c, unsigned long request,
		       void *arg, long rc)
{
	struct op o = { .rc = rc };
	char head[64];

	if (!rec_path)
		return;
	switch (request) {
	case VFIO_IOMMU_MAP_DMA:
	case VFIO_IOMMU_UNMAP_DMA:
	case VFIO_IOMMU_DIRTY_PAGES:
	case VFIO_IOMMU_GET_INFO:
		break;
	default:
		return;
	}
	pthread_mutex_lock(&rec_lock);
	if (!rec_key && !rec_closed)
		rec_key = key;
	if (rec_key != key) {
		pthread_mutex_unlock(&rec_lock);
		pv_log_once(0x7265630000000001UL,
			    "--record: only the first container's requests are recorded");
		return;
	}
	pthread_mutex_unlock(&rec_lock);
	if (rc == -EFAULT) {
		pv_log_once(0x7265630000000002UL, "--record: a request that failed with EFAULT "
						  "(a bad pointer) cannot be replayed: not recorded");
		return;
	}
	switch (request) {
	case VFIO_IOMMU_MAP_DMA: {
		const struct vfio_iommu_type1_dma_map *m = arg;

		if (m->flags & VFIO_DMA_MAP_FLAG_VADDR) {
			pv_log_once(0x7265630000000003UL,
				    "--record: MAP_DMA with FLAG_VADDR has no trace form: not recorded");
			return;
		}
		o.kind = OP_MAP;
		o.iova = m->iova;
		o.size = m->size;
		o.vaddr = m->vaddr;
		o.flags = m->flags;
		o.result = rc < 0 ? errname(rc) : strdup("ok");
		break;
	}
	case VFIO_IOMMU_UNMAP_DMA: {
		const struct vfio_iommu_type1_dma_unmap *u = arg;

		o.kind = OP_UNMAP;
		o.iova = u->iova;
		o.size = u->size;
		o.flags = u->flags;
		if (rc < 0) {
			o.result = errname(rc);
			break;
		}
		snprintf(head, sizeof(head), "ok size=0x%" PRIx64, (uint64_t)u->size);
		if (u->flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) {
			const struct vfio_bitmap *bm = (const void *)u->data;

			o.pgsize = bm->pgsize;
			o.result = with_bitmap(head, (const uint8_t *)bm->data, bm->size);
		} else {
			o.result = strdup(head);
		}
		break;
	}
	case VFIO_IOMMU_DIRTY_PAGES: {
		const struct vfio_iommu_type1_dirty_bitmap *d = arg;

		if (d->flags & VFIO_IOMMU_DIRTY_PAGES_FLAG_START) {
			o.kind = OP_DIRTY_START;
		} else if (d->flags & VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP) {
			o.kind = OP_DIRTY_STOP;
		} else if (d->flags & VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP) {
			const struct vfio_iommu_type1_dirty_bitmap_get *g = (const void *)d->data;

			o.kind = OP_DIRTY_GET;
			o.iova = g->iova;
			o.size = g->size;
			o.pgsize = g->bitmap.pgsize;
			if (rc >= 0) {
				o.result = with_bitmap("ok", (const uint8_t *)g->bitmap.data,
						       g->bitmap.size);
				break;
			}
		} else {
			return; /* no flag: an EINVAL the trace cannot spell */
		}
		o.result = rc < 0 ? errname(rc) : strdup("ok");
		break;
	}
	case VFIO_IOMMU_GET_INFO:
		o.kind = OP_INFO;
		o.result = info_result(c);
		break;
	}
	if (!o.result)
		return;
	pthread_mutex_lock(&rec_lock);
	{
		struct op *slot = new_op();

		if (slot)
			*slot = o;
		else
			free(o.result);
	}
	pthread_mutex_unlock(&rec_lock);
}

void pv_record_close(const void *key)
{
	pthread_mutex_lock(&rec_lock);
	if (rec_key == key)
		rec_closed = true;
	pthread_mutex_unlock(&rec_lock);
}

struct range {
	uint64_t start, end;
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static const char *prot_name(uint32_t flags)
{
	switch (flags & (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) {
	case VFIO_DMA_MAP_FLAG_READ:
		return "r";
	case VFIO_DMA_MAP_FLAG_WRITE:
		return "w";
	case VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE:
		return "rw";
	}
	return "-";
}

void pv_record_finish(void)
{
	struct range *present = NULL;
	size_t np = 0;
	uint64_t base = UINT64_MAX, end = 0, size;
	char *xpath = NULL;
	FILE *t = NULL, *x = NULL;
	unsigned line = 1;

	if (!rec_path)
		return;
	pthread_mutex_lock(&rec_lock);
	present = calloc(nr_ops + 1, sizeof(*present));
	if (!present || asprintf(&xpath, "%s.expected", rec_path) < 0)
		goto out;
	/* The arena spans every vaddr mapped; what a map reached (not EFAULT) is present. */
	for (size_t i = 0; i < nr_ops; i++) {
		const struct op *o = &ops[i];
		uint64_t s = o->vaddr & ~4095ULL, e = (o->vaddr + o->size + 4095) & ~4095ULL;

		if (o->kind != OP_MAP || !o->size || e <= s)
			continue;
		base = s < base ? s : base;
		end = e > end ? e : end;
		if (o->rc != -EFAULT)
			present[np++] = (struct range){ s, e };
	}
	if (base == UINT64_MAX)
		base = 0, end = 4096;
	size = end - base;
	t = fopen(rec_path, "w");
	x = fopen(xpath, "w");
	if (!t || !x) {
		pv_log("--record %s: %s", rec_path, strerror(errno));
		goto out;
	}
	fprintf(t, "arena 0x%" PRIx64 "\n", size);
	fprintf(x, "L%u arena ok\n", line++);
	qsort(present, np, sizeof(*present), cmp_range);
	{
		uint64_t at = base;

		for (size_t i = 0; i <= np; i++) {
			uint64_t s = i < np ? present[i].start : end;

			if (s > at) {
				fprintf(t, "hole 0x%" PRIx64 " 0x%" PRIx64 "\n", at - base, s - at);
				fprintf(x, "L%u hole ok\n", line++);
			}
			if (i < np && present[i].end > at)
				at = present[i].end;
		}
	}
	for (size_t i = 0; i < nr_ops; i++) {
		const struct op *o = &ops[i];
		const char *name = "dirty";

		switch (o->kind) {
		case OP_MAP:
			name = "map";
			fprintf(t, "map 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 " %s\n", o->iova, o->size,
				o->vaddr - base, prot_name(o->flags));
			break;
		case OP_UNMAP:
			name = "unmap";
			fprintf(t, "unmap 0x%" PRIx64 " 0x%" PRIx64 "%s", o->iova, o->size,
				(o->flags & VFIO_DMA_UNMAP_FLAG_ALL) ? " all" : "");
			if (o->flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP)
				fprintf(t, " dirty 0x%" PRIx64, o->pgsize);
			fputc('\n', t);
			break;
		case OP_DIRTY_START:
			fputs("dirty start\n", t);
			break;
		case OP_DIRTY_STOP:
			fputs("dirty stop\n", t);
			break;
		case OP_DIRTY_GET:
			fprintf(t, "dirty get 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 "\n", o->iova,
				o->size, o->pgsize);
			break;
		case OP_INFO:
			name = "info";
			fputs("info\n", t);
			break;
		}
		fprintf(x, "L%u %s %s\n", line++, name, o->result);
	}
out:
	if (t && fclose(t))
		pv_log("--record %s: %s", rec_path, strerror(errno));
	if (x)
		fclose(x);
	free(xpath);
	free(present);
	pthread_mutex_unlock(&rec_lock);
}

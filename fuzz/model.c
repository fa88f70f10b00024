/* SPDX-License-Identifier: MIT */
/* The reference model and request driver; see model.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <softvfio/emulated.h>
#include <softvfio/iommu.h>
#include <softvfio/pin.h>

#include "model.h"
#include "svf_test.h"

#define PG        4096ULL
#define SLOT_BASE 0x100000ULL
#define NSLOTS    256
#define REGION_PG 128 /* process backend: pages of real memory behind the maps */
#define SYN_VA    0x5a0000000000ULL
#define MAX_MAPS  (NSLOTS + 64)
#define MAX_PINS  64
#define BM_BYTES  64
#define LIMIT     SVF_DEFAULT_DMA_ENTRY_LIMIT
#define MSI_START 0xfee00000ULL
#define MSI_LAST  0xfeefffffULL

struct mmap_entry {
	uint64_t iova, size;
	int prot; /* SVF_PROT_* */
	bool vinv;
};

struct svf_model {
	struct svf_model_cfg cfg;
	struct svf_pinner *p;
	struct svf_container *c;
	struct svf_emu_device *emu;
	uint8_t *region;    /* process backend */
	uint8_t *ro;        /* a read-only page: a bitmap that cannot be written */
	struct mmap_entry maps[MAX_MAPS];
	unsigned nmaps;
	bool tracking;
	bool unsynced;      /* a fault fired: results are no longer predicted */
	uint64_t pins[MAX_PINS]; /* iovas the emulated device holds (one entry per pin) */
	unsigned npins;
};

/* ---- byte stream ---- */

static uint8_t take(const uint8_t **d, const uint8_t *end)
{
	return *d < end ? *(*d)++ : 0;
}

__attribute__((format(printf, 3, 4)))
static bool fail(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return false;
}

/* ---- the model ---- */

static bool overlaps(const struct mmap_entry *e, uint64_t iova, uint64_t last)
{
	return e->iova <= last && iova <= e->iova + (e->size - 1);
}

static bool model_overlap(const struct svf_model *m, uint64_t iova, uint64_t last)
{
	for (unsigned i = 0; i < m->nmaps; i++)
		if (overlaps(&m->maps[i], iova, last))
			return true;
	return false;
}

static const struct mmap_entry *model_find(const struct svf_model *m, uint64_t iova)
{
	for (unsigned i = 0; i < m->nmaps; i++)
		if (iova - m->maps[i].iova < m->maps[i].size)
			return &m->maps[i];
	return NULL;
}

/* v2's bisect rule: [iova, last] starts or ends inside a mapping. */
static bool model_bisects(const struct svf_model *m, uint64_t iova, uint64_t last)
{
	const struct mmap_entry *a = model_find(m, iova), *b = model_find(m, last);

	return (a && a->iova != iova) || (b && b->iova + (b->size - 1) != last);
}

static void model_insert(struct svf_model *m, uint64_t iova, uint64_t size, int prot)
{
	unsigned i = m->nmaps;

	while (i && m->maps[i - 1].iova > iova) {
		m->maps[i] = m->maps[i - 1];
		i--;
	}
	m->maps[i] = (struct mmap_entry){ iova, size, prot, false };
	m->nmaps++;
}

static void model_remove(struct svf_model *m, unsigned i)
{
	memmove(&m->maps[i], &m->maps[i + 1], (m->nmaps - i - 1) * sizeof(m->maps[0]));
	m->nmaps--;
}

static uint64_t model_pages(const struct svf_model *m)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < m->nmaps; i++)
		n += m->maps[i].size / PG;
	return n;
}

/* Is [iova, last] inside the valid IOVA ranges (only with an IOMMU domain)? */
static bool iova_valid(const struct svf_model *m, uint64_t iova, uint64_t last)
{
	if (!m->cfg.default_domain)
		return true;
	if (last >= (1ULL << 48))
		return false;
	return last < MSI_START || iova > MSI_LAST;
}

/* ---- emulated device ---- */

static void emu_unmap(void *opaque, uint64_t iova, uint64_t len)
{
	struct svf_model *m = opaque;

	for (unsigned i = 0; i < m->npins;) {
		if (m->pins[i] - iova < len) {
			(void)svf_unpin_pages(m->emu, m->pins[i], 1);
			m->pins[i] = m->pins[--m->npins];
			continue;
		}
		i++;
	}
}

static const struct svf_emu_ops emu_ops = { .dma_unmap = emu_unmap };

/* ---- decoding ---- */

static uint64_t decode_iova(uint8_t slot, uint8_t flags, bool special)
{
	uint64_t iova = SLOT_BASE + (uint64_t)slot * PG;

	if (special) {
		switch (slot % 3) {
		case 0: iova = (1ULL << 48) - 16 * PG + (slot % 16) * PG; break;
		case 1: iova = MSI_START - 8 * PG + (slot % 16) * PG; break;
		default: iova = 0ULL - 16 * PG + (slot % 16) * PG; break;
		}
	}
	if (flags & 0x10)
		iova += 0x800; /* misaligned */
	return iova;
}

static uint64_t decode_vaddr(const struct svf_model *m, uint8_t b, uint64_t npages, uint64_t *np)
{
	if (m->cfg.backend == SVF_BACKEND_PROCESS) {
		uint64_t start = b % REGION_PG;

		*np = npages > REGION_PG - start ? REGION_PG - start : npages;
		return (uint64_t)(uintptr_t)m->region + start * PG;
	}
	*np = npages;
	return SYN_VA + (uint64_t)b * PG;
}

/* Bitmap shape from one byte: pgsize, claimed size, pointer. */
struct bm_shape {
	uint64_t pgsize, size;
	void *data;
	bool usable;   /* passes the bitmap checks (UNMAP row 3) */
	bool writable; /* data points at memory we can read back */
};

static void decode_bitmap(struct svf_model *m, uint8_t b, uint64_t size, uint64_t *buf,
			  struct bm_shape *s)
{
	static const uint64_t pgs[4] = { PG, 2 * PG, 0, 3 * PG };
	uint64_t pgsize = pgs[b & 3], npages, need;

	s->pgsize = pgsize;
	npages = pgsize ? size >> __builtin_ctzll(pgsize) : 0;
	need = (npages + 63) / 64 * 8;
	switch ((b >> 2) & 3) {
	case 0: s->size = need; break;
	case 1: s->size = BM_BYTES; break;
	case 2: s->size = need ? need - 1 : 0; break;
	default: s->size = (256ULL << 20) + 1; break;
	}
	s->usable = pgsize && npages && s->size && s->size <= (256ULL << 20) && s->size >= need;
	s->writable = true;
	s->data = buf;
	if (b & 0x10) {
		s->data = NULL;
		s->writable = false;
	} else if (b & 0x20) {
		s->data = m->ro;
		s->writable = false;
	}
}

/* The dirty bits must be exactly (exact) or a subset of the pages of [base + pages). */
static bool check_bits(const struct svf_model *m, const uint64_t *bits, uint64_t base,
		       uint64_t npages, const struct mmap_entry *removed, unsigned nremoved,
		       bool exact, char *msg, size_t len)
{
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t iova = base + i * PG;
		bool set = (bits[i / 64] >> (i % 64)) & 1, mapped = false;

		if (removed) {
			for (unsigned k = 0; k < nremoved; k++)
				mapped |= iova - removed[k].iova < removed[k].size;
		} else {
			mapped = model_find(m, iova) != NULL;
		}
		if (set && !mapped)
			return fail(msg, len, "dirty bit for unmapped page 0x%llx",
				    (unsigned long long)iova);
		if (exact && mapped && !set)
			return fail(msg, len, "page 0x%llx not reported dirty", (unsigned long long)iova);
	}
	return true;
}

static bool predicting(const struct svf_model *m)
{
	return !m->unsynced && !m->cfg.fault_nth;
}

/* Expect rc == want (when predicting). */
#define EXPECT(rc, want, what)                                                              \
	do {                                                                                \
		if (predicting(m) && (rc) != (want))                                        \
			return fail(msg, len, "%s: got %ld, want %ld", what, (long)(rc),    \
				    (long)(want));                                          \
	} while (0)

static bool every_page_dirty(const struct svf_model *m)
{
	return m->cfg.default_domain && !m->cfg.hw_dirty;
}

static bool op_map(struct svf_model *m, const uint8_t **d, const uint8_t *end, char *msg,
		   size_t len)
{
	uint8_t slot = take(d, end), npb = take(d, end), vb = take(d, end), fl = take(d, end);
	uint64_t np, iova = decode_iova(slot, fl, fl & 8), vaddr, size, last;
	struct vfio_iommu_type1_dma_map map = { .argsz = sizeof(map) };
	int prot = (fl & 1 ? SVF_PROT_READ : 0) | (fl & 2 ? SVF_PROT_WRITE : 0);
	bool vflag = fl & 4;
	long rc, want;

	vaddr = decode_vaddr(m, vb, (uint64_t)(npb % 16) + 1, &np);
	size = np * PG;
	map.flags = (fl & 1 ? VFIO_DMA_MAP_FLAG_READ : 0) | (fl & 2 ? VFIO_DMA_MAP_FLAG_WRITE : 0) |
		    (vflag ? VFIO_DMA_MAP_FLAG_VADDR : 0);
	map.vaddr = vaddr;
	map.iova = iova;
	map.size = size;
	rc = softvfio_ioctl(m->c, VFIO_IOMMU_MAP_DMA, &map);

	if (__builtin_add_overflow(iova, size - 1, &last))
		want = -EOVERFLOW;
	else if (vflag ? prot != 0 : prot == 0)
		want = -EINVAL;
	else if (iova & (PG - 1))
		want = -EINVAL;
	else if (vflag) {
		const struct mmap_entry *e = NULL;

		for (unsigned i = 0; i < m->nmaps && !e; i++)
			if (overlaps(&m->maps[i], iova, last))
				e = &m->maps[i];
		if (!e)
			want = -ENOENT;
		else if (!e->vinv || e->iova != iova || e->size != size)
			want = -EINVAL;
		else if (m->cfg.backend == SVF_BACKEND_PROCESS)
			want = rc; /* the new vaddr must address the pinned pages: not modelled */
		else
			want = 0;
		EXPECT(rc, want, "map vaddr");
		if (rc == 0) {
			for (unsigned i = 0; i < m->nmaps; i++)
				if (m->maps[i].iova == iova) {
					if (!m->maps[i].vinv && predicting(m))
						return fail(msg, len, "vaddr map of a valid mapping");
					m->maps[i].vinv = false;
				}
		}
		return true;
	} else if (model_overlap(m, iova, last))
		want = -EEXIST;
	else if (!iova_valid(m, iova, last))
		want = -EINVAL;
	else
		want = 0;
	EXPECT(rc, want, "map");
	if (rc == 0) {
		if (model_overlap(m, iova, last)) {
			if (predicting(m))
				return fail(msg, len, "map of 0x%llx succeeded over a mapping",
					    (unsigned long long)iova);
			/*
			 * Not predicting (a fault fired): an unmap that failed part-way
			 * removed mappings the model still holds. The container's own
			 * checker vouches for its tree; drop the stale entries.
			 */
			for (unsigned i = 0; i < m->nmaps;) {
				if (overlaps(&m->maps[i], iova, last))
					model_remove(m, i);
				else
					i++;
			}
		}
		if (m->nmaps == MAX_MAPS)
			return fail(msg, len, "model full");
		model_insert(m, iova, size, prot);
	} else if (rc != want) {
		m->unsynced = true;
	}
	return true;
}

static bool op_unmap(struct svf_model *m, const uint8_t **d, const uint8_t *end, char *msg,
		     size_t len)
{
	uint8_t slot = take(d, end), npb = take(d, end), fl = take(d, end), bb = take(d, end);
	uint64_t buf[sizeof(struct vfio_iommu_type1_dma_unmap) / 8 + 3] = { 0 };
	struct vfio_iommu_type1_dma_unmap *u = (void *)buf;
	uint64_t bits[BM_BYTES / 8] = { 0 };
	const bool dirty = fl & 1, all = fl & 2, vflag = fl & 4;
	uint64_t iova = decode_iova(slot, fl, fl & 8), size = (uint64_t)(npb % 32) * PG, last = 0;
	struct mmap_entry removed[MAX_MAPS];
	unsigned nremoved = 0;
	struct bm_shape bm;
	uint64_t total = 0;
	bool any_in_range = false;
	long rc, want;

	if (all && !(fl & 0x10)) {
		iova = 0;
		size = 0;
	}
	decode_bitmap(m, bb, size, bits, &bm);
	u->argsz = sizeof(*u) + (dirty ? sizeof(struct vfio_bitmap) : 0);
	u->flags = (dirty ? VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP : 0) |
		   (all ? VFIO_DMA_UNMAP_FLAG_ALL : 0) | (vflag ? VFIO_DMA_UNMAP_FLAG_VADDR : 0);
	u->iova = iova;
	u->size = size;
	if (dirty) {
		struct vfio_bitmap v = { .pgsize = bm.pgsize, .size = bm.size,
					 .data = (__u64 *)bm.data };

		memcpy(u->data, &v, sizeof(v));
	}

	/* What Linux would do, row by row. */
	if (dirty && (all || vflag))
		want = -EINVAL;
	else if (dirty && !bm.usable)
		want = -EINVAL;
	else if (vflag && m->cfg.emulated)
		want = -EBUSY;
	else if (iova & (PG - 1))
		want = -EINVAL;
	else if (all && (iova || size))
		want = -EINVAL;
	else if (!all && !size)
		want = -EINVAL;
	else if (!all && __builtin_add_overflow(iova, size - 1, &last))
		want = -EOVERFLOW;
	else if (dirty && (!m->tracking || bm.pgsize != PG))
		want = -EINVAL;
	else if (!m->cfg.v1 && !all && model_bisects(m, iova, last))
		want = -EINVAL;
	else {
		want = 0;
		if (all)
			last = UINT64_MAX;
		for (unsigned i = 0; i < m->nmaps; i++) {
			const struct mmap_entry *e = &m->maps[i];

			if (e->iova > last || e->iova + (e->size - 1) < iova)
				continue;
			if (m->cfg.v1 && iova > e->iova)
				break;
			if (vflag && e->vinv) {
				want = -EINVAL;
				total = 0;
				break;
			}
			any_in_range = true;
			total += e->size;
		}
		if (dirty && any_in_range && !bm.writable) {
			want = -EFAULT;
			total = 0;
		}
	}
	rc = softvfio_ioctl(m->c, VFIO_IOMMU_UNMAP_DMA, u);
	EXPECT(rc, want, "unmap");
	if (rc)
		return true; /* nothing changed (predicted), or unsynced */
	if (predicting(m) && u->size != total)
		return fail(msg, len, "unmap size 0x%llx, model 0x%llx",
			    (unsigned long long)u->size, (unsigned long long)total);
	if (!all && !size)
		return true;
	if (!all && __builtin_add_overflow(iova, size - 1, &last))
		return true;
	if (all)
		last = UINT64_MAX;
	for (unsigned i = 0; i < m->nmaps;) {
		struct mmap_entry *e = &m->maps[i];

		if (e->iova > last || e->iova + (e->size - 1) < iova) {
			i++;
			continue;
		}
		if (m->cfg.v1 && iova > e->iova)
			break;
		if (vflag) {
			e->vinv = true;
			i++;
			continue;
		}
		removed[nremoved++] = *e;
		model_remove(m, i);
	}
	if (dirty && predicting(m))
		return check_bits(m, bits, iova, size / PG, removed, nremoved, every_page_dirty(m),
				  msg, len);
	return true;
}

static bool op_dirty(struct svf_model *m, const uint8_t **d, const uint8_t *end, char *msg,
		     size_t len)
{
	uint8_t what = take(d, end);
	struct vfio_iommu_type1_dirty_bitmap req = { .argsz = sizeof(req) };
	long rc;

	req.flags = what & 1 ? VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP : VFIO_IOMMU_DIRTY_PAGES_FLAG_START;
	rc = softvfio_ioctl(m->c, VFIO_IOMMU_DIRTY_PAGES, &req);
	EXPECT(rc, m->cfg.v1 ? -EACCES : 0, "dirty start/stop");
	if (!rc)
		m->tracking = !(what & 1);
	else if (!m->cfg.v1)
		m->unsynced = true;
	return true;
}

static bool op_dirty_get(struct svf_model *m, const uint8_t **d, const uint8_t *end, char *msg,
			 size_t len)
{
	uint8_t slot = take(d, end), npb = take(d, end), bb = take(d, end), fl = take(d, end);
	uint64_t rb[(sizeof(struct vfio_iommu_type1_dirty_bitmap) +
		     sizeof(struct vfio_iommu_type1_dirty_bitmap_get)) / 8] = { 0 };
	struct vfio_iommu_type1_dirty_bitmap *h = (void *)rb;
	struct vfio_iommu_type1_dirty_bitmap_get g = { 0 };
	uint64_t bits[BM_BYTES / 8] = { 0 };
	uint64_t iova = decode_iova(slot, fl, fl & 8), size = (uint64_t)(npb % 64) * PG, last = 0;
	struct bm_shape bm;
	bool any = false;
	long rc, want;

	decode_bitmap(m, bb, size, bits, &bm);
	h->argsz = sizeof(rb);
	h->flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	g.iova = iova;
	g.size = size;
	g.bitmap.pgsize = bm.pgsize;
	g.bitmap.size = bm.size;
	g.bitmap.data = (__u64 *)bm.data;
	memcpy(h->data, &g, sizeof(g));
	if (m->cfg.v1)
		want = -EACCES;
	else if (!size)
		want = -EINVAL;
	else if (__builtin_add_overflow(iova, size - 1, &last))
		want = -EOVERFLOW;
	else if (!bm.usable || bm.pgsize != PG || (iova & (PG - 1)) || !m->tracking)
		want = -EINVAL;
	else if (model_bisects(m, iova, last))
		want = -EINVAL;
	else {
		for (unsigned i = 0; i < m->nmaps; i++)
			any |= overlaps(&m->maps[i], iova, last);
		want = any && !bm.writable ? -EFAULT : 0;
	}
	rc = softvfio_ioctl(m->c, VFIO_IOMMU_DIRTY_PAGES, h);
	EXPECT(rc, want, "dirty get");
	if (!rc && predicting(m))
		return check_bits(m, bits, iova, size / PG, NULL, 0, every_page_dirty(m), msg, len);
	return true;
}

static bool op_info(struct svf_model *m, const uint8_t **d, const uint8_t *end, char *msg,
		    size_t len)
{
	uint32_t argsz = take(d, end);
	uint64_t buf[256 / 8] = { 0 };
	struct vfio_iommu_type1_info *info = (void *)buf;
	long rc;

	info->argsz = argsz;
	rc = softvfio_ioctl(m->c, VFIO_IOMMU_GET_INFO, info);
	EXPECT(rc, argsz < 16 ? -EINVAL : 0, "get info");
	if (rc || !predicting(m))
		return true;
	if (!(info->flags & VFIO_IOMMU_INFO_PGSIZES) || !(info->iova_pgsizes & PG))
		return fail(msg, len, "info flags 0x%x pgsizes 0x%llx", info->flags,
			    (unsigned long long)info->iova_pgsizes);
	if (argsz >= 24 && info->cap_offset && argsz <= sizeof(buf)) {
		uint32_t off = info->cap_offset;

		for (int n = 0; off && n < 8 && off + 12 <= argsz; n++) {
			const struct vfio_info_cap_header *h = (const void *)((char *)buf + off);

			if (h->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
				const struct vfio_iommu_type1_info_dma_avail *a = (const void *)h;

				if (a->avail != LIMIT - m->nmaps)
					return fail(msg, len, "avail %u, model %u", a->avail,
						    LIMIT - m->nmaps);
			}
			if (h->next <= off)
				break;
			off = h->next;
		}
	}
	return true;
}

static bool op_emu_pin(struct svf_model *m, const uint8_t **d, const uint8_t *end, char *msg,
		       size_t len)
{
	uint8_t slot = take(d, end), pb = take(d, end);
	uint64_t iova = SLOT_BASE + (uint64_t)slot * PG, phys;
	int prot = pb & 1 ? SVF_PROT_WRITE : SVF_PROT_READ;
	const struct mmap_entry *e;
	long rc, want;

	if (!m->emu)
		return true;
	if (pb & 2) { /* unpin one held */
		if (!m->npins)
			return true;
		unsigned i = slot % m->npins;

		rc = svf_unpin_pages(m->emu, m->pins[i], 1);
		EXPECT(rc, 0, "emulated unpin");
		if (!rc)
			m->pins[i] = m->pins[--m->npins];
		return true;
	}
	if (m->npins == MAX_PINS)
		return true;
	e = model_find(m, iova);
	if (m->cfg.v1)
		want = -EACCES; /* Linux pins for emulated devices on v2 only */
	else if (!e)
		want = -EINVAL;
	else if ((e->prot & prot) != prot)
		want = -EPERM;
	else if (e->vinv)
		want = -EINVAL;
	else
		want = 0;
	rc = svf_pin_pages(m->emu, iova, 1, prot, &phys);
	if (!(e && e->vinv))
		EXPECT(rc, want, "emulated pin");
	if (!rc)
		m->pins[m->npins++] = iova;
	return true;
}

/* After every request: the container's own checker, counts, locked memory. */
static bool check_state(struct svf_model *m, char *msg, size_t len)
{
	struct svf_stats s;
	int rc = svf_container_check(m->c);

	if (rc)
		return fail(msg, len, "svf_container_check: %d", rc);
	svf_container_get_stats(m->c, &s);
	if (s.invariant_violations)
		return fail(msg, len, "%llu invariant violations",
			    (unsigned long long)s.invariant_violations);
	if (s.locked_bytes != s.pinned_now * PG)
		return fail(msg, len, "locked %llu bytes, pinned %llu pages",
			    (unsigned long long)s.locked_bytes, (unsigned long long)s.pinned_now);
	if (!predicting(m))
		return true;
	if (svf_container_nr_mappings(m->c) != m->nmaps)
		return fail(msg, len, "container holds %u mappings, model %u",
			    svf_container_nr_mappings(m->c), m->nmaps);
	if (m->cfg.default_domain && m->cfg.policy != SVF_POLICY_LAZY &&
	    s.pinned_now != model_pages(m))
		return fail(msg, len, "pinned %llu pages, model maps %llu",
			    (unsigned long long)s.pinned_now, (unsigned long long)model_pages(m));
	if (m->cfg.default_domain && s.pinned_now < model_pages(m))
		return fail(msg, len, "pinned %llu pages, fewer than mapped %llu",
			    (unsigned long long)s.pinned_now, (unsigned long long)model_pages(m));
	return true;
}

bool svf_model_step(struct svf_model *m, const uint8_t **d, const uint8_t *end, char *msg,
		    size_t len)
{
	uint8_t op = take(d, end);
	bool ok;

	switch (op % 8) {
	case 0:
	case 1: ok = op_map(m, d, end, msg, len); break;
	case 2:
	case 3: ok = op_unmap(m, d, end, msg, len); break;
	case 4: ok = op_dirty(m, d, end, msg, len); break;
	case 5: ok = op_dirty_get(m, d, end, msg, len); break;
	case 6: ok = op_info(m, d, end, msg, len); break;
	default: ok = op_emu_pin(m, d, end, msg, len); break;
	}
	return ok && check_state(m, msg, len);
}

void svf_model_cfg_decode(uint8_t b0, uint8_t b1, struct svf_model_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->policy = (enum svf_policy)(b0 & 3);
	cfg->backend = b0 & 4 ? SVF_BACKEND_PROCESS : SVF_BACKEND_SYNTHETIC;
	cfg->default_domain = !(b0 & 8);
	cfg->emulated = (b0 & 16) || !cfg->default_domain;
	cfg->hw_dirty = b0 & 32;
	cfg->v1 = (b0 & 0xc0) == 0xc0;
	cfg->fault_nth = (b0 & 0xc0) == 0x40 ? (uint64_t)b1 + 1 : 0;
}

int svf_model_open(const struct svf_model_cfg *cfg, struct svf_model **out)
{
	struct svf_pinner_config pc = { .backend = cfg->backend, .layout = SVF_LAYOUT_RANDOM,
					.seed = 1, .phys_base = 1ULL << 32 };
	struct svf_container_config cc;
	struct svf_iommu_config ic;
	struct svf_model *m;
	int rc;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	m->ro = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->ro == MAP_FAILED) {
		rc = -ENOMEM;
		goto err_free;
	}
	if (cfg->backend == SVF_BACKEND_PROCESS) {
		m->region = mmap(NULL, REGION_PG * PG, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m->region == MAP_FAILED) {
			rc = -ENOMEM;
			goto err_ro;
		}
		memset(m->region, 0x5a, REGION_PG * PG);
	}
	rc = svf_pinner_create(&pc, &m->p);
	if (rc)
		goto err_region;
	svf_iommu_default_config("vtd", &ic);
	ic.check_unpin = true;
	ic.cost_off = true; /* no modelled invalidation latency: the model checks behaviour, not time */
	ic.hw_dirty = cfg->hw_dirty;
	svf_container_default_config(&cc);
	cc.policy = cfg->policy;
	cc.pinner = m->p;
	cc.iommu = &ic;
	cc.attach_default_domain = cfg->default_domain;
	rc = svf_container_create(&cc, &m->c);
	if (rc)
		goto err_pinner;
	if (cfg->emulated) {
		rc = svf_container_attach_emulated(m->c, &emu_ops, m, &m->emu);
		if (rc)
			goto err_container;
	}
	rc = (int)softvfio_ioctl(m->c, VFIO_SET_IOMMU,
				 (void *)(uintptr_t)(cfg->v1 ? VFIO_TYPE1_IOMMU : VFIO_TYPE1v2_IOMMU));
	if (rc)
		goto err_container;
	if (cfg->fault_nth && svf_fault_arm(cfg->fault_nth, ~0u))
		m->cfg.fault_nth = 0; /* no seam in this build */
	*out = m;
	return 0;

err_container:
	svf_container_destroy(m->c);
err_pinner:
	svf_pinner_destroy(m->p);
err_region:
	if (m->region)
		munmap(m->region, REGION_PG * PG);
err_ro:
	munmap(m->ro, PG);
err_free:
	free(m);
	return rc;
}

struct svf_container *svf_model_container(struct svf_model *m)
{
	return m->c;
}

bool svf_model_close(struct svf_model *m, char *msg, size_t len)
{
	uint64_t unmapped = 0;
	bool ok = true;
	long rc = -1;

	svf_fault_disarm();
	for (int i = 0; i < 3 && rc; i++) {
		struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u),
							.flags = VFIO_DMA_UNMAP_FLAG_ALL };

		rc = softvfio_ioctl(m->c, VFIO_IOMMU_UNMAP_DMA, &u);
		unmapped += rc ? 0 : u.size;
	}
	if (rc)
		ok = fail(msg, len, "final unmap all: %ld", rc);
	else if (!m->unsynced && !m->cfg.fault_nth && unmapped != model_pages(m) * PG)
		ok = fail(msg, len, "final unmap removed 0x%llx, model 0x%llx",
			  (unsigned long long)unmapped, (unsigned long long)(model_pages(m) * PG));
	else if (svf_container_nr_mappings(m->c))
		ok = fail(msg, len, "%u mappings left after unmap all",
			  svf_container_nr_mappings(m->c));
	else if (svf_container_check(m->c))
		ok = fail(msg, len, "check failed after unmap all");
	while (m->npins && m->emu) {
		(void)svf_unpin_pages(m->emu, m->pins[0], 1);
		m->pins[0] = m->pins[--m->npins];
	}
	svf_container_destroy(m->c);
	if (ok && svf_pinner_pinned_pages(m->p))
		ok = fail(msg, len, "%llu pages still pinned at the end",
			  (unsigned long long)svf_pinner_pinned_pages(m->p));
	if (ok && svf_pinner_locked_bytes(m->p))
		ok = fail(msg, len, "%llu bytes still locked at the end",
			  (unsigned long long)svf_pinner_locked_bytes(m->p));
	svf_pinner_destroy(m->p);
	if (m->region)
		munmap(m->region, REGION_PG * PG);
	munmap(m->ro, PG);
	free(m);
	return ok;
}

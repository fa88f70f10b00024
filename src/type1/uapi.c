/* SPDX-License-Identifier: MIT */
/*
 * The VFIO user API (layer 1 of docs/design.md): decodes <linux/vfio.h>
 * requests, checks their arguments in Linux's order (the numbered tables of
 * docs/uapi.md: "row N" below is a row of the request's table there, and
 * the first failing row decides the errno) and hands them to the type1
 * container. Returns what Linux's ioctl would: a non-negative result, or
 * -errno where Linux sets errno.
 *
 * Container-level requests (GET_API_VERSION, CHECK_EXTENSION, SET_IOMMU)
 * are answered here; before SET_IOMMU every backend request is EINVAL (the
 * container has no driver to pass it to), after it an unknown one ENOTTY.
 *
 * Lock: takes c->lock around every request. With the container's cpu_time
 * option, cpu_ns accumulates the thread CPU time spent inside; that clock
 * is a system call, so without the option no clock is read at all.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "container_priv.h"
#include "dirty.h"
#include "fault.h"
#include "uaccess.h"

#ifndef offsetofend
#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))
#endif

#define DIRTY_BITMAP_SIZE_MAX (256ULL << 20) /* bytes, as Linux's DIRTY_BITMAP_SIZE_MAX */

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static long check_extension(struct svf_container *c, unsigned long ext)
{
	switch (ext) {
	case VFIO_TYPE1_IOMMU:
	case VFIO_TYPE1v2_IOMMU:
	case VFIO_UNMAP_ALL:
		return 1;
	case VFIO_UPDATE_VADDR:
		/* Only once the type1 backend holds the container, and never with emulated devices. */
		return c->type != 0 && !c->nr_emus;
	case VFIO_DMA_CC_IOMMU:
		if (!c->type)
			return 0;
		for (unsigned i = 0; i < c->nr_domains; i++)
			if (!svf_domain_enforces_coherency(c->domains[i]))
				return 0;
		return 1;
	default:
		return 0;
	}
}

/*
 * Linux's order: a container without a group, or with a driver already set,
 * is EINVAL whatever the type; then each registered driver is offered the
 * type. type1 claims every extension it reports (so VFIO_UNMAP_ALL reaches
 * its open, which refuses it: EINVAL); a type no driver claims is ENODEV.
 */
static long set_iommu(struct svf_container *c, unsigned long type)
{
	if ((!c->nr_domains && !c->nr_emus) || c->type)
		return -EINVAL;
	if (type == VFIO_UNMAP_ALL)
		return -EINVAL;
	if (type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU)
		return -ENODEV;
	c->type = (int)type;
	return 0;
}

static long map_dma(struct svf_container *c, void *arg)
{
	const uint32_t known = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE |
			       VFIO_DMA_MAP_FLAG_VADDR;
	struct vfio_iommu_type1_dma_map map, *m = &map;
	uint64_t end;
	int prot = 0;

	if (svf_copy_from_user(m, arg, offsetofend(struct vfio_iommu_type1_dma_map, size)))
		return -EFAULT;
	if (m->argsz < offsetofend(struct vfio_iommu_type1_dma_map, size) || (m->flags & ~known))
		return -EINVAL; /* row 1 */
	if (!m->size) /* row 2 */
		return -EINVAL;
	if (__builtin_add_overflow(m->iova, m->size - 1, &end) ||
	    __builtin_add_overflow(m->vaddr, m->size - 1, &end))
		return -EOVERFLOW; /* row 3 */
	if (m->flags & VFIO_DMA_MAP_FLAG_READ)
		prot |= SVF_PROT_READ;
	if (m->flags & VFIO_DMA_MAP_FLAG_WRITE)
		prot |= SVF_PROT_WRITE;
	if (m->flags & VFIO_DMA_MAP_FLAG_VADDR) {
		if (prot) /* row 4 */
			return -EINVAL;
	} else if (!prot) {
		return -EINVAL; /* row 4 */
	}
	if ((m->size | m->iova | m->vaddr) & (SVF_PAGE_SIZE - 1)) /* row 5 */
		return -EINVAL;
	if (m->flags & VFIO_DMA_MAP_FLAG_VADDR)
		return svf_type1_map_vaddr(c, m->iova, m->vaddr, m->size); /* row 6 */
	return svf_type1_map(c, m->iova, m->vaddr, m->size, prot);
}

/*
 * Linux's verify_bitmap_size: the bitmap must cover size / pgsize pages in
 * whole 64-bit words, be non-empty, and not exceed DIRTY_BITMAP_SIZE_MAX.
 */
static bool bitmap_fits(uint64_t size, const struct vfio_bitmap *bm)
{
	uint64_t npages, need;

	if (!bm->pgsize)
		return false;
	npages = size >> __builtin_ctzll(bm->pgsize);
	need = ((npages + 63) / 64) * sizeof(uint64_t);
	return npages && bm->size && bm->size <= DIRTY_BITMAP_SIZE_MAX && bm->size >= need;
}

static long unmap_dma(struct svf_container *c, void *arg)
{
	const size_t minsz = offsetofend(struct vfio_iommu_type1_dma_unmap, size);
	const uint32_t known = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_ALL |
			       VFIO_DMA_UNMAP_FLAG_VADDR;
	struct vfio_iommu_type1_dma_unmap u;
	struct vfio_bitmap bitmap, *bm = NULL;
	uint64_t unmapped;
	int rc;

	if (svf_copy_from_user(&u, arg, minsz))
		return -EFAULT;
	if (u.argsz < minsz || (u.flags & ~known))
		return -EINVAL; /* row 1 */
	if (u.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) { /* rows 2, 3 */
		if (u.flags & (VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR))
			return -EINVAL;
		if (u.argsz < minsz + sizeof(bitmap))
			return -EINVAL;
		if (svf_copy_from_user(&bitmap, (char *)arg + minsz, sizeof(bitmap)))
			return -EFAULT;
		if (!svf_access_ok((uintptr_t)bitmap.data, bitmap.size))
			return -EINVAL;
		bm = &bitmap;
		if (!bitmap_fits(u.size, bm))
			return -EINVAL;
	}
	if ((u.flags & VFIO_DMA_UNMAP_FLAG_VADDR) && c->nr_emus) /* row 4 */
		return -EBUSY;
	rc = svf_type1_unmap(c, u.iova, u.size, u.flags, bm, &unmapped);
	if (rc)
		return rc;
	u.size = unmapped; /* written back only on success */
	return svf_copy_to_user(arg, &u, minsz) ? -EFAULT : 0;
}

static long dirty_pages(struct svf_container *c, void *arg)
{
	const size_t minsz = offsetofend(struct vfio_iommu_type1_dirty_bitmap, flags);
	const uint32_t known = VFIO_IOMMU_DIRTY_PAGES_FLAG_START | VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP |
			       VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	struct vfio_iommu_type1_dirty_bitmap_get g;
	struct vfio_iommu_type1_dirty_bitmap d;
	uint64_t last;

	if (c->type != VFIO_TYPE1v2_IOMMU) /* before the argument is even read */
		return -EACCES;
	if (svf_copy_from_user(&d, arg, minsz))
		return -EFAULT;
	if (d.argsz < minsz || (d.flags & ~known))
		return -EINVAL;
	if (!d.flags || (d.flags & (d.flags - 1))) /* exactly one flag */
		return -EINVAL;
	if (d.flags & VFIO_IOMMU_DIRTY_PAGES_FLAG_START)
		return svf_dirty_start(c);
	if (d.flags & VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP) {
		svf_dirty_stop(c);
		return 0;
	}
	if (d.argsz - minsz < sizeof(g))
		return -EINVAL;
	if (svf_copy_from_user(&g, (char *)arg + minsz, sizeof(g)))
		return -EFAULT;
	if (!g.size)
		return -EINVAL;
	if (__builtin_add_overflow(g.iova, g.size - 1, &last))
		return -EOVERFLOW;
	if (!svf_access_ok((uintptr_t)g.bitmap.data, g.bitmap.size))
		return -EINVAL;
	if (!bitmap_fits(g.size, &g.bitmap))
		return -EINVAL;
	return svf_type1_dirty_get(c, g.iova, g.size, &g.bitmap);
}

/* Capability chain, built in a scratch buffer then copied (Linux's vfio_info_cap). */
struct capbuf {
	uint8_t *buf;
	size_t size;
	size_t last; /* offset of the last header, or SIZE_MAX */
};

static void *cap_add(struct capbuf *cb, size_t size, uint16_t id, uint16_t version)
{
	size_t at = cb->size;
	uint8_t *nb;
	struct vfio_info_cap_header *h;

	size = (size + 7) & ~(size_t)7;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return NULL;
	nb = realloc(cb->buf, at + size);
	if (!nb)
		return NULL;
	cb->buf = nb;
	memset(nb + at, 0, size);
	h = (struct vfio_info_cap_header *)(nb + at);
	h->id = id;
	h->version = version;
	if (cb->last != SIZE_MAX)
		((struct vfio_info_cap_header *)(nb + cb->last))->next = (uint32_t)at;
	cb->last = at;
	cb->size = at + size;
	return h;
}

static long get_info(struct svf_container *c, void *uinfo)
{
	const size_t minsz = offsetofend(struct vfio_iommu_type1_info, iova_pgsizes);
	const size_t capsz = offsetofend(struct vfio_iommu_type1_info, cap_offset);
	struct vfio_iommu_type1_info info = { 0 };
	struct capbuf cb = { .last = SIZE_MAX };
	struct svf_iova_range r[SVF_MAX_IOVA_RANGES];
	size_t copy;
	unsigned nr;
	int rc = 0;

	if (svf_copy_from_user(&info, uinfo, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	/* Linux: cap_offset is written back only when argsz covers it (backward compatibility). */
	copy = info.argsz >= capsz ? capsz : minsz;
	info.flags = VFIO_IOMMU_INFO_PGSIZES;
	info.iova_pgsizes = svf_type1_pgsize_bitmap(c);

	struct vfio_iommu_type1_info_cap_migration *mig =
		cap_add(&cb, sizeof(*mig), VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 1);
	if (!mig) {
		rc = -ENOMEM;
		goto out;
	}
	mig->flags = 0;
	mig->pgsize_bitmap = info.iova_pgsizes & -info.iova_pgsizes;
	mig->max_dirty_bitmap_size = DIRTY_BITMAP_SIZE_MAX;

	struct vfio_iommu_type1_info_dma_avail *avail =
		cap_add(&cb, sizeof(*avail), VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1);
	if (!avail) {
		rc = -ENOMEM;
		goto out;
	}
	avail->avail = c->dma_avail;

	/*
	 * -ENOSPC would mean more valid ranges than r holds, which cannot
	 * happen while each domain reports at most four reserved regions
	 * (SVF_MAX_IOVA_RANGES); checked rather than trusted.
	 */
	rc = svf_type1_iova_ranges(c, r, SVF_MAX_IOVA_RANGES, &nr);
	if (rc)
		goto out;
	if (nr) {
		struct vfio_iommu_type1_info_cap_iova_range *ir =
			cap_add(&cb, sizeof(*ir) + nr * sizeof(ir->iova_ranges[0]),
				VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1);
		if (!ir) {
			rc = -ENOMEM;
			goto out;
		}
		ir->nr_iovas = nr;
		for (unsigned i = 0; i < nr; i++) {
			ir->iova_ranges[i].start = r[i].start;
			ir->iova_ranges[i].end = r[i].last;
		}
	}

	info.flags |= VFIO_IOMMU_INFO_CAPS;
	if (info.argsz < sizeof(info) + cb.size) {
		info.argsz = (uint32_t)(sizeof(info) + cb.size);
	} else {
		/* Offsets in the chain are from the start of the caller's buffer. */
		for (size_t at = 0;;) {
			struct vfio_info_cap_header *h = (void *)(cb.buf + at);
			size_t next = h->next;

			if (next)
				h->next = (uint32_t)(next + sizeof(info));
			if (!next)
				break;
			at = next;
		}
		if (svf_should_fail(SVF_FAULT_COPY) ||
		    svf_copy_to_user((uint8_t *)uinfo + sizeof(info), cb.buf, cb.size)) {
			rc = -EFAULT;
			goto out;
		}
		info.cap_offset = sizeof(info);
	}
	if (svf_copy_to_user(uinfo, &info, copy))
		rc = -EFAULT;
out:
	free(cb.buf);
	return rc;
}

static long backend_ioctl(struct svf_container *c, unsigned long request, void *arg)
{
	if (!c->type)
		return -EINVAL; /* no backend yet: the container passes nothing on */
	/* Each request reads its argument through uaccess.h: a bad pointer is -EFAULT. */
	switch (request) {
	case VFIO_IOMMU_GET_INFO:
		return get_info(c, arg);
	case VFIO_IOMMU_MAP_DMA:
		return map_dma(c, arg);
	case VFIO_IOMMU_UNMAP_DMA:
		return unmap_dma(c, arg);
	case VFIO_IOMMU_DIRTY_PAGES:
		return dirty_pages(c, arg);
	default:
		return -ENOTTY;
	}
}

long softvfio_ioctl(struct svf_container *c, unsigned long request, void *arg)
{
	uint64_t t0 = 0;
	long rc;

	if (!c)
		return -EBADF;
	svf_type1_lock(c);
	if (c->st.cpu_time_measured)
		t0 = thread_cpu_ns();
	switch (request) {
	case VFIO_GET_API_VERSION:
		rc = VFIO_API_VERSION;
		break;
	case VFIO_CHECK_EXTENSION:
		rc = check_extension(c, (unsigned long)arg);
		break;
	case VFIO_SET_IOMMU:
		rc = set_iommu(c, (unsigned long)arg);
		break;
	default:
		rc = backend_ioctl(c, request, arg);
		break;
	}
	if (c->st.cpu_time_measured)
		c->st.cpu_ns += thread_cpu_ns() - t0;
	svf_type1_unlock(c);
	return rc;
}

bool svf_container_iommu_set(struct svf_container *c)
{
	bool set;

	svf_type1_lock(c);
	set = c->type != 0;
	svf_type1_unlock(c);
	return set;
}

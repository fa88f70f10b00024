/* SPDX-License-Identifier: MIT */
/*
 * Synthetic pinning backend: no memory, only a physical layout.
 *
 * A virtual address here is just a number; its "frame" is a pure function
 * of the address, the layout, the random seed and phys_base, so nothing is stored
 * per page and a terabyte guest pins with O(1) memory and O(runs) time
 * (each svf_pin_run is O(1): the run length comes from arithmetic). Pins are
 * counted by pin.c; this backend keeps no reference counts (refcount
 * introspection answers 0) and has no CPU pointer for any frame
 * (phys_to_ptr answers NULL: a device on a synthetic pinner must not touch
 * memory).
 *
 * Layouts, as offsets from phys_base (vpn = vaddr >> 12, 2M block
 * b = vaddr >> 21, off = vaddr within its block):
 *   contig  phys = vaddr                       one run, as long as asked
 *   frag4k  phys = 2 * vaddr                   every page apart: runs of 1
 *   runs2m  phys = 2 * (b << 21) + off         2 MiB runs, 2 MiB-aligned
 *                                              (when phys_base is), a 2 MiB
 *                                              hole between runs
 *   random  each block b owns the 4 MiB region at 2 * (b << 21) and a hash
 *           of (seed, b) picks its shape:
 *             2M   region + off                            one 2 MiB run
 *             64K  region + 2 * (off & ~64K) + (off % 64K) 64 KiB runs, apart
 *             4K   region + 2 * off                        pages apart
 *           Runs never cross a block, and blocks never touch, so a run
 *           ends at its block's end at the latest.
 * Every layout is injective (two virtual pages never share a frame) and
 * monotonic, and a run's frames are linear, so checking a run's last frame
 * against the physical limit checks all of it.
 *
 * Frames must lie below 2^52 (the widest host address a VT-d entry holds);
 * a page whose frame would not is "not mapped" (-EFAULT), and a run stops
 * before it. vaddr at or above 2^62 is out of every layout's reach.
 *
 * Locking: none of its own; pin.c holds the pinner lock around every op.
 * The state is immutable after init, so lookups would be safe without it.
 */
#include <errno.h>

#include "pin_priv.h"

#define SYNTH_PHYS_LIMIT (1ULL << 52)
#define SYNTH_VADDR_LIMIT (1ULL << 62)
#define SZ_64K (1ULL << 16)
#define SZ_2M (1ULL << 21)

enum block_shape { SHAPE_4K, SHAPE_64K, SHAPE_2M };

struct synth {
	enum svf_layout layout; /* immutable after init */
	uint64_t seed;
	uint64_t base;
};

/* splitmix64's finalizer: a cheap, well-mixed, stateless hash. */
static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static enum block_shape random_shape(const struct synth *s, uint64_t block)
{
	return (enum block_shape)(mix64(mix64(s->seed) ^ block) % 3);
}

/* Offset from base of the frame of page vaddr (page aligned, < 2^62). */
static uint64_t layout_offset(const struct synth *s, uint64_t vaddr)
{
	uint64_t block = vaddr >> 21, off = vaddr & (SZ_2M - 1), region = block << 22;

	switch (s->layout) {
	case SVF_LAYOUT_CONTIG:
		return vaddr;
	case SVF_LAYOUT_FRAG4K:
		return vaddr << 1;
	case SVF_LAYOUT_RUNS2M:
		return region + off;
	case SVF_LAYOUT_RANDOM:
		switch (random_shape(s, block)) {
		case SHAPE_2M:
			return region + off;
		case SHAPE_64K:
			return region + ((off & ~(SZ_64K - 1)) << 1) + (off & (SZ_64K - 1));
		case SHAPE_4K:
			return region + (off << 1);
		}
	}
	return vaddr; /* unreachable: layout validated at init */
}

/* Pages from vaddr to the end of its contiguous run, ignoring limits. */
static uint64_t layout_run_left(const struct synth *s, uint64_t vaddr)
{
	uint64_t to_2m = (SZ_2M - (vaddr & (SZ_2M - 1))) >> SVF_PAGE_SHIFT;

	switch (s->layout) {
	case SVF_LAYOUT_CONTIG:
		return UINT64_MAX;
	case SVF_LAYOUT_FRAG4K:
		return 1;
	case SVF_LAYOUT_RUNS2M:
		return to_2m;
	case SVF_LAYOUT_RANDOM:
		switch (random_shape(s, vaddr >> 21)) {
		case SHAPE_2M:
			return to_2m;
		case SHAPE_64K:
			return (SZ_64K - (vaddr & (SZ_64K - 1))) >> SVF_PAGE_SHIFT;
		case SHAPE_4K:
			return 1;
		}
	}
	return 1;
}

static int synth_frame(const struct synth *s, uint64_t vaddr, uint64_t *phys)
{
	uint64_t off;

	if (vaddr >= SYNTH_VADDR_LIMIT)
		return -EFAULT;
	off = layout_offset(s, vaddr);
	if (off >= SYNTH_PHYS_LIMIT - s->base)
		return -EFAULT;
	*phys = s->base + off;
	return 0;
}

static int synth_init(struct svf_pinner *p)
{
	struct synth *s;

	if ((p->cfg.phys_base & (SVF_PAGE_SIZE - 1)) || p->cfg.phys_base >= SYNTH_PHYS_LIMIT)
		return -EINVAL;
	s = svf_pin_zalloc(p, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->layout = p->cfg.layout;
	s->seed = p->cfg.seed;
	s->base = p->cfg.phys_base;
	p->priv = s;
	return 0;
}

static void synth_fini(struct svf_pinner *p)
{
	svf_pin_free(p, p->priv, sizeof(struct synth));
	p->priv = NULL;
}

static int synth_prepare(struct svf_pinner *p, uint64_t vaddr, uint64_t npages, bool write,
			 uint64_t *phys, uint64_t *pinned)
{
	const struct synth *s = p->priv;
	uint64_t first, run, below_limit;
	int ret;

	(void)write;
	svf_pin_assert_held(p);
	ret = synth_frame(s, vaddr, &first);
	if (ret)
		return ret;
	run = layout_run_left(s, vaddr);
	below_limit = (SYNTH_PHYS_LIMIT - first) >> SVF_PAGE_SHIFT;
	if (run > below_limit)
		run = below_limit;
	if (run > npages)
		run = npages;
	*phys = first;
	*pinned = run;
	return 0;
}

/* Nothing per page is kept: commit, abort and unpin have no state to touch. */
static void synth_nop_run(struct svf_pinner *p, uint64_t vaddr, uint64_t phys, uint64_t npages)
{
	(void)vaddr;
	(void)phys;
	(void)npages;
	svf_pin_assert_held(p);
}

static int synth_lookup(struct svf_pinner *p, uint64_t vaddr, uint64_t *phys)
{
	return synth_frame(p->priv, vaddr, phys);
}

static void *synth_phys_to_ptr(struct svf_pinner *p, uint64_t phys)
{
	(void)p;
	(void)phys;
	return NULL;
}

static uint64_t synth_refcount(struct svf_pinner *p, uint64_t phys)
{
	(void)p;
	(void)phys;
	return 0;
}

static bool synth_pfns_real(const struct svf_pinner *p)
{
	(void)p;
	return false;
}

const struct svf_pin_ops svf_pin_synthetic_ops = {
	.name = "synthetic",
	.init = synth_init,
	.fini = synth_fini,
	.pin_prepare = synth_prepare,
	.pin_commit = synth_nop_run,
	.pin_abort = synth_nop_run,
	.unpin = NULL, /* nothing to release: pin.c skips the call */
	.lookup = synth_lookup,
	.phys_to_ptr = synth_phys_to_ptr,
	.refcount = synth_refcount,
	.pfns_real = synth_pfns_real,
};

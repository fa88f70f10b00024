/* SPDX-License-Identifier: MIT */
/*
 * softvfio pinning (layer 3 of docs/design.md): user virtual addresses to pinned
 * page frames and back, behind one interface with two backends.
 *
 * process   - real pages of the calling process. Pinning mlock()s them (the
 *             kernel faults them in and keeps them resident) and reads their
 *             page frame numbers from /proc/self/pagemap. Where pagemap gives
 *             no frame numbers (no CAP_SYS_ADMIN), the frame number is the
 *             virtual page number and physical contiguity is virtual
 *             contiguity; svf_pinner_pfns_real() tells which. A reference
 *             count per frame lets two mappings of one page pin and unpin it
 *             independently; munlock happens when the last pin goes.
 *             Locked memory is charged to a process-wide count (Linux's
 *             mm->locked_vm) against RLIMIT_MEMLOCK unless the caller has
 *             CAP_IPC_LOCK, sampled at pin time.
 * synthetic - no memory at all. vaddr is only a number; the physical address
 *             of each page follows a chosen layout, so a terabyte guest can
 *             be pinned, mapped and unmapped on a small machine. Pins are
 *             counted, not stored.
 *
 * Threading: a pinner serves any number of containers; calls are serialized
 * by an internal lock. svf_pinner_phys_to_ptr() is lock-free (device path).
 */
#ifndef SOFTVFIO_PIN_H
#define SOFTVFIO_PIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <softvfio/page.h>

#ifdef __cplusplus
extern "C" {
#endif

struct svf_pinner;

enum svf_backend {
	SVF_BACKEND_PROCESS = 0,
	SVF_BACKEND_SYNTHETIC,
};

enum svf_layout {
	SVF_LAYOUT_CONTIG = 0, /* one physically contiguous run */
	SVF_LAYOUT_FRAG4K,     /* every 4 KiB page apart from its neighbours */
	SVF_LAYOUT_RUNS2M,     /* 2 MiB-aligned runs of 2 MiB, runs apart */
	SVF_LAYOUT_RANDOM,     /* a seeded mix of 4 KiB pages, 64 KiB and 2 MiB runs */
};

struct svf_pinner_config {
	enum svf_backend backend;
	enum svf_layout layout; /* synthetic only */
	uint64_t seed;          /* synthetic RANDOM layout */
	uint64_t phys_base;     /* synthetic: physical address of vaddr 0's page run */
	/* process: a limit in bytes replacing RLIMIT_MEMLOCK; 0 = use the rlimit */
	uint64_t memlock_limit_override;
};

/*
 * Create a pinner. Returns 0; -EINVAL (cfg or out NULL, unknown backend,
 * unknown layout, synthetic phys_base not page aligned or out of range);
 * -ENOMEM. The process backend also returns the errno of opening
 * /proc/self/pagemap (e.g. -ENOENT without procfs), -EOPNOTSUPP (the page
 * size is not 4 KiB, or the kernel lacks MADV_POPULATE_READ), another errno
 * of that madvise on a page of the caller's stack, or -EIO (pagemap gives no
 * entry for a present page).
 */
int svf_pinner_create(const struct svf_pinner_config *cfg, struct svf_pinner **out);
/* Frees the pinner. Every pin must have been released. Never fails. */
void svf_pinner_destroy(struct svf_pinner *p);
enum svf_backend svf_pinner_backend(const struct svf_pinner *p);
const char *svf_backend_name(enum svf_backend b);
const char *svf_layout_name(enum svf_layout l);
/* Parse a name ("process", "synthetic"; "contig", "frag4k", "runs2m", "random"). 0 or -EINVAL. */
int svf_backend_parse(const char *s, enum svf_backend *out);
int svf_layout_parse(const char *s, enum svf_layout *out);

/* process backend: true when frame numbers come from pagemap. */
bool svf_pinner_pfns_real(const struct svf_pinner *p);

/*
 * Pin the longest physically contiguous run of pages starting at vaddr, at
 * most npages pages (vaddr page aligned). *phys receives the physical address
 * of the first page and *pinned the run's length in pages (>= 1 on success).
 * write: the mapping will be written by the device (pins for write).
 * Charges *pinned pages of locked memory to the process-wide count.
 * Returns 0; -EFAULT (an address that is not mapped or not accessible: the
 * first page fails; a later page ends the run short, and the next call fails
 * on it); -ENOMEM (locked memory over the limit without CAP_IPC_LOCK, or an
 * allocation). On error nothing is pinned or charged.
 */
int svf_pin_run(struct svf_pinner *p, uint64_t vaddr, uint64_t npages, bool write,
		uint64_t *phys, uint64_t *pinned);

/*
 * Open a limit-sampling window for the calling thread: until
 * svf_pinner_sample_end(), the pins it makes read RLIMIT_MEMLOCK once and
 * CAP_IPC_LOCK at most once, instead of on every run (Linux samples both
 * once per pinning call; the container opens one window per MAP_DMA).
 * Pins from other threads keep sampling on their own. Never fails.
 */
void svf_pinner_sample_begin(struct svf_pinner *p);
void svf_pinner_sample_end(struct svf_pinner *p);

/*
 * Release npages pages pinned from vaddr whose frames start at phys (a run,
 * or any part of one, that svf_pin_run returned). Uncharges the locked memory.
 * Never fails.
 */
void svf_unpin_run(struct svf_pinner *p, uint64_t vaddr, uint64_t phys, uint64_t npages);

/* One pinned run, as svf_pin_run returned it (or any part of one). */
struct svf_pin_region {
	uint64_t vaddr;
	uint64_t phys;
	uint64_t npages;
};

/*
 * svf_unpin_run for n regions under one acquisition of the pinner's lock
 * (the unmap path releases a whole batch at once). Never fails.
 */
void svf_unpin_runs(struct svf_pinner *p, const struct svf_pin_region *r, size_t n);

/*
 * Tell the pinner that [vaddr, vaddr + len) is about to leave the process
 * (the caller will munmap it, mremap it away, or MADV_DONTNEED it) while
 * mappings may still hold pages of it pinned. On Linux those pages stay
 * pinned and devices keep reaching them (with their last content) until
 * they are unmapped for DMA; only the CPU loses them. The process backend
 * does the same: the pinned pages of the range move (same frames, same
 * content: mremap with MREMAP_DONTUNMAP) to memory the pinner owns, which
 * devices reach from then on and which goes when the last of those pins
 * does. The range itself is left mapped, empty, for the caller to unmap or
 * replace. Pages already moved by an earlier call, or pinned through a
 * range given to svf_pinner_rebase(), are not moved again. Call it before
 * the memory goes: afterwards there is nothing left to keep (a device
 * access to such memory then faults; see docs/design.md).
 * The synthetic backend has nothing to keep. Returns 0; -EINVAL (not page
 * aligned, empty or wrapping); -ENOSPC (too many released ranges are
 * alive); -ENOMEM or the errno of mremap.
 */
int svf_pinner_release(struct svf_pinner *p, uint64_t vaddr, uint64_t len);

/*
 * The pinned pages of [old, old + len) are reached through
 * [new_vaddr, new_vaddr + len) from now on: a MAP_DMA with FLAG_VADDR gave
 * their mapping that address, and the program may unmap the old one. The
 * container calls it; pins keep their identity (unpins still name old).
 * 0; -EINVAL; -ENOSPC as svf_pinner_release.
 */
int svf_pinner_rebase(struct svf_pinner *p, uint64_t old, uint64_t new_vaddr, uint64_t len);

/*
 * The physical address vaddr would pin to, without pinning (synthetic: the
 * layout; process: pagemap or the virtual page). 0 or -EFAULT.
 */
int svf_pinner_lookup(struct svf_pinner *p, uint64_t vaddr, uint64_t *phys);

/*
 * Device path: a pointer through which the CPU reaches the pinned page at
 * phys, or NULL (synthetic backend, or a page that is not pinned). When the
 * program unmapped the page without svf_pinner_release, the pointer names
 * an address the process no longer maps: the DMA engine (device.h) guards
 * its accesses against that; another caller that dereferences it faults.
 */
void *svf_pinner_phys_to_ptr(struct svf_pinner *p, uint64_t phys);

/*
 * Check mode: from now on the pinner keeps, per frame, how many pins it
 * holds and how many times its last pin went, readable without a lock by a
 * device on every access (svf_pinner_pin_state). Must be enabled before the
 * first pin. Idempotent. Returns 0, -EBUSY (pins are held already), -ENOMEM.
 * Pins then cost one table lookup more per page, and a pin may fail with
 * -ENOMEM for the table.
 */
int svf_pinner_enable_check(struct svf_pinner *p);

/*
 * Lock-free: the pin state word of the frame at phys: bits 0-31 the pins held
 * now, bits 32-63 the times its last pin was released (0 for a frame never
 * pinned); UINT64_MAX when check mode is off.
 */
uint64_t svf_pinner_pin_state(struct svf_pinner *p, uint64_t phys);
/* Heap bytes the pinner holds for bookkeeping. */
uint64_t svf_pinner_bookkeeping_bytes(const struct svf_pinner *p);

#ifdef __cplusplus
}
#endif
#endif

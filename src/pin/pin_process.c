/* SPDX-License-Identifier: MIT */
/*
 * Process pinning backend: real pages of the calling process.
 *
 * Pinning a run, and why each step is there (proc_prepare):
 *  1. Fault the pages in with madvise(MADV_POPULATE_READ or _WRITE). This
 *     is the kernel's get_user_pages fault-in without the pin, with GUP's
 *     permission checks and without touching the memory: a hole in the
 *     address space answers ENOMEM, a PROT_NONE page (or a read-only one
 *     for a write pin, or a VM_IO/VM_PFNMAP one) EINVAL, a page that would
 *     SIGBUS EFAULT, and all of those become -EFAULT as they do in type1.
 *     It never raises SIGSEGV, so no probing of /proc/self/maps is needed.
 *     A write pin uses _WRITE, which takes a write fault like FOLL_WRITE:
 *     a copy-on-write page (the zero page, a page shared with a fork
 *     child) gets its private frame before the frame number is read.
 *     (A read pin of private writable memory ends up the same way, since
 *     the kernel's mlock populate write-faults such mappings; a read pin
 *     of private read-only memory may name the shared zero page.)
 *     When the batch fails, single pages are tried to find the first bad
 *     one; ENOMEM on a page that mincore() says is mapped is a real
 *     out-of-memory (-ENOMEM), not a hole.
 *  2. Read the frames from /proc/self/pagemap (the fd stays open for the
 *     pinner's life) to see how far the run is physically contiguous.
 *  3. mlock() exactly that prefix, to keep it resident. mlock is not needed
 *     for the permission checks (step 1 did them) and, on a PROT_NONE page,
 *     would fail with the same ENOMEM as a hole; after step 1 an mlock
 *     failure means the kernel's own RLIMIT_MEMLOCK or VMA limits: -ENOMEM.
 *  4. Read pagemap again: the frames after mlock are the ones that count.
 *     A page not present now is -EFAULT (its mlock is undone); the run ends
 *     at the first frame that is not the previous one plus one.
 * Batches start at 16 pages and double up to 512 per call, so a fragmented
 * region costs O(1) extra work per short run and a long run O(pages).
 *
 * Whole-request locking (window_try, window_prepare). Inside a
 * limit-sampling window (svf_pinner_sample_begin: one MAP_DMA), the first
 * pin mlock()s the whole request at once, checks access over it (one
 * PROCMAP_QUERY per VMA for plain anonymous memory, else one
 * MADV_POPULATE_READ or _WRITE, GUP's checks), and every pin of the window then reads its
 * frames from a bulk pagemap read (WIN_PM pages a call) without another
 * system call: a MAP_DMA costs about what the kernel's own lock + pagemap
 * read of the range costs, and a THP-backed range is locked whole instead
 * of in runs that split its huge pages. When that lock fails, or a page
 * of the window cannot be pinned, the batch path above takes over from
 * that page, so failures and their errnos are exactly the batch path's.
 * Invariant: while win_locked, [win_next, win_end) is mlocked for the
 * window; the pins move win_next; window_end (the window closes) and an
 * aborted window run munlock what of it no pin holds, and no other unlock
 * touches it meanwhile (munlock_range spares it: pins of another thread,
 * outside the window, may release pages inside its range).
 *
 * Lock granules (gran_try): a small request inside a huge page locks the
 * page's whole 2 MiB once and keeps it locked, cached, after its last
 * unpin, so vIOMMU churn pays no mlock or munlock per map and unmap; what
 * is charged stays the pinned pages exactly. Bounds, invariant and caveats
 * where they are defined.
 *
 * Unpin munlocks the pages whose last pin went in maximal ranges, and
 * merges adjacent ranges of one svf_unpin_runs call (the regions of one
 * unmap batch) into one munlock (munlock_defer, flushed by unpin_done).
 * A later page that fails ends the run short; the next call then fails on
 * it, as type1 does. Any other failure (memory) fails the whole call.
 *
 * Frame numbers: pagemap bits 0-54 when the pagemap fd was opened with
 * CAP_SYS_ADMIN (checked once at init by reading a known-present page).
 * Without it the kernel reports 0 for every frame; then the virtual page
 * number stands in for the frame, physical contiguity is virtual contiguity,
 * and svf_pinner_pfns_real() says false. Two mappings of one memfd page
 * then have two different "frames": aliasing is only visible with real PFNs.
 *
 * Two reference counts, because mlock is a per-VMA flag, not a count:
 *   vpage (keyed by virtual page): pins through this virtual page. The page
 *     is mlocked while it is non-zero and munlocked when it returns to 0
 *     (so a pin of a page already held is one idempotent mlock, and an
 *     undo never unlocks a page another pin holds). Also records the frame seen
 *     at the first pin, which every later pin of the page reuses, so a
 *     page's frame is stable while it is pinned even if the kernel migrates
 *     the page (mlocked pages may be migrated; the data path goes through
 *     the virtual address, so only the frame's name is affected).
 *   frame (keyed by frame number): pins of the frame through any virtual
 *     page (svf_pinner_refcount) and the CPU address of one virtual page
 *     that maps it, for svf_pinner_phys_to_ptr. The virtual pages pinning
 *     a frame form a list (vpage.next); the frame points at its head, and
 *     when the head's last pin goes the frame moves on to the next alias.
 *   Invariant: frame.ref == the sum of vpage.count over the frame's list;
 *   frame.ptr != 0 iff frame.ref != 0.
 *
 * Huge pages whole. Both tables keep one entry for a 2 MiB unit pinned
 * whole onto a 2 MiB-aligned block of frames (a transparent huge page, or,
 * without real frame numbers, any aligned 2 MiB run): the leaf's whole
 * count stands for 512 equal counts and the frames and CPU addresses are
 * derived (struct frame_leaf, invariant W). A map of huge-page memory then
 * costs one entry per 2 MiB on pin and unpin instead of one per 4 KiB; the
 * bulk pagemap read stays, and the window checks a unit's 512 frames with
 * one compare loop. A pin or unpin of part of a unit, or an alias, splits
 * it into the 4 KiB entries described above, so every count stays exact per
 * page (svf_pinner_refcount) and what the kernel has locked is unchanged.
 *
 * Tables are radix trees of 512-entry leaves (9 bits a level, the height
 * grows with the largest key). The vpage tree is used only under the pinner
 * lock and frees a leaf when its last entry goes. The frame tree is read
 * without the lock by phys_to_ptr, so:
 *   - a node or leaf is zeroed before its pointer is stored with release,
 *     and readers load every pointer with acquire, so a reader that reaches
 *     a node sees it initialized;
 *   - growth publishes a new immutable top {height, root} with release; the
 *     old root stays reachable as slot 0 of the new one, and retired tops
 *     are kept until destroy, so a reader holding an old top walks a tree
 *     that is still valid (it just cannot see keys added above it);
 *   - nothing in the frame tree is freed before destroy, so a reader never
 *     touches freed memory; the tree grows to about 16 bytes per frame of
 *     each 2 MiB physical (or, without real PFNs, virtual) block ever
 *     pinned, and svf_pinner_bookkeeping_bytes() shows it;
 *   - a frame's ptr is one word, written with release: a reader gets the
 *     old or the new value, never a torn mix. Reading a frame while it is
 *     being unpinned may return NULL or the old address; the container
 *     never lets a device reach a frame it is unpinning (docs/design.md, invariant 1).
 *
 * Caveats, by design: the backend owns the mlock state of the pages it
 * pins (unpinning a page the caller had mlocked itself leaves it unlocked);
 * memory that is unmapped or remapped while pinned keeps the frame and
 * address recorded at its first pin (Linux keeps the old page pinned; here
 * phys_to_ptr would point at whatever is mapped there now); a process that
 * forks while holding pins should MADV_DONTFORK the memory, as VMMs do, or
 * its next write may move the page to a new frame. Needs Linux >= 5.14
 * (MADV_POPULATE_*) and 4 KiB pages; init answers -EOPNOTSUPP otherwise.
 * An munlock that fails (the memory was unmapped under a pin) is counted
 * in munlock_errors rather than reported: unpin never fails, and there is
 * nothing left to unlock.
 *
 * Locking: every function here runs under the pinner lock (pin.c) except
 * proc_phys_to_ptr and radix_find, which only read, with acquire loads.
 * Lifetime: the pagemap fd, both trees and every retired tree top live
 * until proc_fini; proc_fini munlocks whatever is still pinned.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "pin_priv.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/*
 * PROCMAP_QUERY (Linux >= 6.11): one VMA's bounds and permissions by ioctl
 * on /proc/self/maps. Declared here because older uapi headers lack it; the
 * layout is the kernel's ABI (the struct may only grow).
 */
struct svf_procmap_query {
	uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags;
	uint64_t vma_page_size, vma_offset, inode;
	uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
	uint64_t vma_name_addr, build_id_addr;
};
#define SVF_PROCMAP_QUERY    _IOWR('f', 17, struct svf_procmap_query)
#define SVF_PROCMAP_READABLE 0x01
#define SVF_PROCMAP_WRITABLE 0x02

#define PM_PRESENT (1ULL << 63)
#define PM_EXCLUSIVE (1ULL << 56) /* mapped by this page table only (not the zero page, not shared) */
#define PM_PFN_MASK ((1ULL << 55) - 1)

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif

#define BATCH_MIN 16
#define BATCH_MAX 512
#define WIN_PM    4096 /* pagemap entries per bulk read inside a window */
#define PF_DIST   16   /* pages ahead whose frame entries a window pin prefetches (twice: slots) */

#define RADIX_SHIFT 9
#define RADIX_FAN (1u << RADIX_SHIFT)
#define RADIX_MASK ((uint64_t)RADIX_FAN - 1)

/* Lock granules (gran_try): one vpage leaf's 2 MiB, at most GRAN_MAX, for GRAN_AGE_NS idle. */
#define GRAN_SIZE   ((uint64_t)RADIX_FAN * SVF_PAGE_SIZE)
#define GRAN_MAX    16
#define GRAN_AGE_NS 100000000ULL

struct radix_node {
	_Atomic(void *) slot[RADIX_FAN];
};

/* Immutable once published, except root (set once when it was NULL). */
struct radix_top {
	unsigned height;          /* interior levels above the leaves */
	_Atomic(void *) root;     /* a leaf when height == 0 */
	struct radix_top *retired; /* the top this one replaced; freed at destroy */
};

struct radix {
	_Atomic(struct radix_top *) top; /* written under the lock, read by anyone */
	size_t leaf_size;                /* immutable */
	/*
	 * Dropped leaves kept for reuse (lock; only trees without lock-free
	 * readers drop leaves), linked through their first word, at most
	 * RADIX_SPARE_MAX. A map and unmap of a large range would otherwise
	 * free and allocate a leaf per 2 MiB each time, and the allocator gives
	 * such memory back to the kernel and faults it in again (a fault per
	 * 4 KiB of leaf). A dropped leaf is zero but for words the leaf type
	 * declares meaningless while unused (radix_drop_leaf's caller says).
	 */
	void *spare;
	unsigned nr_spare;
	/*
	 * The leaf found last under the lock (radix_get, radix_leaf), and its
	 * key >> RADIX_SHIFT: pins and unpins walk keys in order, so most
	 * lookups hit it instead of walking the tree. Lock only (lock-free
	 * readers never use it); cleared when that leaf is dropped or freed.
	 */
	void *hit_leaf;
	uint64_t hit_key;
};

/* About 10 MiB of vpage leaves, the bookkeeping of 2 GiB pinned. */
#define RADIX_SPARE_MAX 1024

/*
 * One frame's state in one 16-byte entry (never across a cache line): the
 * frames of 4 KiB-backed memory are scattered over the machine's memory,
 * so a pin or unpin of such a page misses the cache on its frame's entry,
 * and one line a page misses less than two. Pins and unpins also prefetch
 * the entries they will reach (pfn_prefetch).
 */
struct frame_ent {
	_Atomic uint64_t ptr; /* (head alias vpn << 12) | 1, or 0; lock-free readers */
	uint32_t ref;         /* pin references; lock */
	uint32_t pad;
};

/*
 * A leaf covers one 2 MiB unit (512 pages) of frames or of virtual pages, and
 * is in one of two modes:
 *   per page  the arrays hold each page's state (whole == 0);
 *   whole     one entry stands for all 512 pages (whole != 0, used == 0, the
 *             arrays all zero): the unit is pinned whole, whole times, through
 *             one 2 MiB virtual unit onto one 2 MiB-aligned physical unit, as
 *             a transparent huge page is. Page i has count/ref whole, frame
 *             whole_pfn + i, and CPU address (whole_ptr >> 12) + i pages; it
 *             is its frame's only alias.
 * Whole leaves come in pairs (invariant W): a vpage leaf with whole != 0 and
 * the frame leaf of whole_pfn have the same whole count and point at each
 * other (whole_pfn, whole_ptr), and neither has a per-page entry. A pin of a
 * whole, aligned unit whose two leaves are empty (or are that pair) adds to
 * the pair; every other operation on a page of a whole leaf first splits the
 * pair into per-page entries (unit_split), which is exactly the state the
 * same pins would have built page by page, so the per-page paths below never
 * see a whole leaf. Splitting allocates nothing, so unpin may split.
 */
struct frame_leaf {
	_Atomic uint64_t whole_ptr; /* (base vpn << 12) | 1 while whole, else 0; lock-free readers */
	uint32_t used;              /* entries with ref != 0; lock */
	uint32_t whole;             /* whole pins of the unit; lock */
	struct frame_ent e[RADIX_FAN];
};

struct vpage_leaf {
	uint64_t pfn[RADIX_FAN];   /* frame recorded at the first pin (meaningful only where count) */
	uint64_t next[RADIX_FAN];  /* next vpn + 1 pinning the same frame; 0 ends the list */
	uint32_t count[RADIX_FAN]; /* pins through this virtual page */
	uint32_t used;             /* entries with count != 0; freed when used and whole are 0 */
	uint32_t whole;            /* whole pins of the unit (see above) */
	uint64_t whole_pfn;        /* the first frame while whole */
};

/*
 * A released or rebased range (svf_pinner_release, svf_pinner_rebase): the
 * pinned pages of [old, old + len) are reached at new + offset. pins counts
 * the pages of the range that were pinned when it was made and still are
 * (lock); at 0 the entry dies (live = 0, release) and, when owned, the
 * pinner's copy is unmapped: no device reaches an unpinned frame
 * (docs/design.md, invariant 1), so nothing reads it any more. A dead
 * slot is reused by the next entry, so RELOC_MAX bounds the entries alive
 * at once, not those made over the pinner's life.
 *
 * Lock-free readers (proc_phys_to_ptr) read a slot as a sequence lock: the
 * writer (lock held, slot dead) makes seq odd, stores old, new, len and age
 * with release, sets live and makes seq even again; a reader loads seq,
 * the fields with acquire, then seq again, and ignores the slot when seq
 * was odd or moved (it was dead or not yet published: the same answer).
 * age orders overlapping live entries (a rebase may cover pages an earlier
 * entry moved): the newest one wins, as it did when slots were never reused.
 */
struct reloc {
	_Atomic uint64_t seq;
	_Atomic uint64_t old, new, len, age;
	_Atomic bool live;
	uint64_t pins; /* lock */
	_Atomic bool owned; /* written under the lock, fixed while live; read lock-free */
};

#define RELOC_MAX 1024

struct proc {
	int pagemap_fd;            /* immutable */
	int maps_fd;               /* /proc/self/maps for PROCMAP_QUERY, or -1; immutable */
	bool pfns_real;            /* immutable */
	struct radix frames;       /* frame_leaf by pfn */
	struct radix vpages;       /* vpage_leaf by vpn; lock only */
	uint64_t pm[BATCH_MAX];    /* pagemap scratch; lock */
	uint64_t munlock_errors;   /* munlock failures (memory unmapped while pinned); lock */
	uint64_t whole_units;      /* vpage leaves in whole mode (test introspection); lock */

	/*
	 * Whole-request locking (see window_try), lock only. While win_locked,
	 * [win_next, win_end) is mlocked on behalf of the open window and pins
	 * at win_next are served from win_pm, which holds the pagemap entries
	 * of the pages [win_pm_vpn, win_pm_vpn + win_pm_n) read after the lock.
	 */
	bool win_tried;            /* the first pin of this window tried the whole-request lock */
	bool win_locked;
	bool win_write;            /* the window's lock was checked for write pins */
	bool win_run;              /* the last prepare was served by the window */
	bool win_onfault;          /* the window's pages are locked by a granule: present ones only */
	uint64_t win_next, win_end; /* vaddrs */
	uint64_t win_pm_vpn, win_pm_n;
	uint64_t win_pm[WIN_PM];

	/*
	 * Lock granules (gran_try), lock only: 2 MiB-aligned ranges mlocked
	 * whole (MLOCK_ONFAULT) and kept locked while cached, whether or not a
	 * pin holds a page in them. Invariant: every cached granule is mlocked
	 * whole, and no unlock touches it while it is cached (munlock_range
	 * spares it); evicting it unlocks what of it no pin holds.
	 */
	uint64_t gran[GRAN_MAX];      /* base vaddrs; 0: a free slot */
	uint64_t gran_used[GRAN_MAX]; /* CLOCK_MONOTONIC_COARSE ns of its last pin */
	unsigned nr_gran;             /* slots in use */
	unsigned gran_max;            /* slots that may be used (GRAN_MAX; tests lower it) */

	/* An munlock deferred by unpin so that adjacent regions share one call; lock. */
	uint64_t ml_start, ml_len;

	struct reloc *reloc;       /* RELOC_MAX entries, allocated at the first release */
	_Atomic unsigned nr_reloc; /* slots below it may be live; written under the lock */
	uint64_t reloc_age;        /* age of the newest entry; lock */
	_Atomic unsigned nr_live;  /* live entries: 0 keeps phys_to_ptr's extra work at one load */
};

/* ---- radix tree ---- */

static unsigned radix_height_for(uint64_t key)
{
	uint64_t leafno = key >> RADIX_SHIFT;
	unsigned h = 0;

	while (leafno) {
		leafno >>= RADIX_SHIFT;
		h++;
	}
	return h;
}

static unsigned radix_index(uint64_t key, unsigned level)
{
	return (unsigned)(((key >> RADIX_SHIFT) >> ((level - 1) * RADIX_SHIFT)) & RADIX_MASK);
}

/* Lock-free: the leaf holding key, or NULL. */
static void *radix_find(struct radix *r, uint64_t key)
{
	struct radix_top *t = atomic_load_explicit(&r->top, memory_order_acquire);
	void *n;

	if (!t || radix_height_for(key) > t->height)
		return NULL;
	n = atomic_load_explicit(&t->root, memory_order_acquire);
	for (unsigned lvl = t->height; lvl && n; lvl--) {
		struct radix_node *node = n;

		n = atomic_load_explicit(&node->slot[radix_index(key, lvl)], memory_order_acquire);
	}
	return n;
}

/* Lock held: the leaf holding key, or NULL; through the last leaf found when it is key's. */
static void *radix_get(struct radix *r, uint64_t key)
{
	void *leaf;

	if (r->hit_leaf && r->hit_key == key >> RADIX_SHIFT)
		return r->hit_leaf;
	leaf = radix_find(r, key);
	if (leaf) {
		r->hit_leaf = leaf;
		r->hit_key = key >> RADIX_SHIFT;
	}
	return leaf;
}

/* Raise the tree to height, keeping the old root as slot 0 of the new one. */
static int radix_grow(struct svf_pinner *p, struct radix *r, unsigned height)
{
	struct radix_top *old = atomic_load_explicit(&r->top, memory_order_relaxed);
	struct radix_top *t;
	void *root = old ? atomic_load_explicit(&old->root, memory_order_relaxed) : NULL;
	unsigned h = old ? old->height : 0, made = 0;

	t = svf_pin_zalloc(p, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (root) {
		for (; h < height; h++, made++) {
			struct radix_node *n = svf_pin_zalloc(p, sizeof(*n));

			if (!n)
				goto out_free_nodes;
			atomic_store_explicit(&n->slot[0], root, memory_order_relaxed);
			root = n;
		}
	}
	t->height = height;
	atomic_store_explicit(&t->root, root, memory_order_relaxed);
	t->retired = old;
	atomic_store_explicit(&r->top, t, memory_order_release);
	return 0;

out_free_nodes:
	while (made--) {
		struct radix_node *n = root;

		root = atomic_load_explicit(&n->slot[0], memory_order_relaxed);
		svf_pin_free(p, n, sizeof(*n));
	}
	svf_pin_free(p, t, sizeof(*t));
	return -ENOMEM;
}

/*
 * Lock held. The slot that holds (or would hold) key's leaf; with create,
 * missing interior nodes are made. *slotp is NULL when absent and !create.
 */
static int radix_slot(struct svf_pinner *p, struct radix *r, uint64_t key, bool create,
		      _Atomic(void *) **slotp)
{
	struct radix_top *t = atomic_load_explicit(&r->top, memory_order_relaxed);
	unsigned need = radix_height_for(key);
	_Atomic(void *) *slot;
	int ret;

	*slotp = NULL;
	if (!t || t->height < need) {
		if (!create)
			return 0;
		ret = radix_grow(p, r, need);
		if (ret)
			return ret;
		t = atomic_load_explicit(&r->top, memory_order_relaxed);
	}
	slot = &t->root;
	for (unsigned lvl = t->height; lvl; lvl--) {
		struct radix_node *node = atomic_load_explicit(slot, memory_order_relaxed);

		if (!node) {
			if (!create)
				return 0;
			node = svf_pin_zalloc(p, sizeof(*node));
			if (!node)
				return -ENOMEM;
			atomic_store_explicit(slot, node, memory_order_release);
		}
		slot = &node->slot[radix_index(key, lvl)];
	}
	*slotp = slot;
	return 0;
}

/* Lock held. key's leaf, made when missing if create. 0 or -ENOMEM. */
static int radix_leaf(struct svf_pinner *p, struct radix *r, uint64_t key, bool create,
		      void **leafp)
{
	_Atomic(void *) *slot;
	void *leaf;
	int ret;

	*leafp = NULL;
	if (r->hit_leaf && r->hit_key == key >> RADIX_SHIFT) {
		*leafp = r->hit_leaf;
		return 0;
	}
	ret = radix_slot(p, r, key, create, &slot);
	if (ret || !slot)
		return ret;
	leaf = atomic_load_explicit(slot, memory_order_relaxed);
	if (!leaf && create) {
		if (r->spare) {
			/* still a fault point: a walk must not depend on what is spare */
			if (svf_should_fail(SVF_FAULT_ALLOC))
				return -ENOMEM;
			leaf = r->spare;
			r->spare = *(void **)leaf;
			*(void **)leaf = NULL;
			r->nr_spare--;
		} else {
			leaf = svf_pin_zalloc(p, r->leaf_size);
			if (!leaf)
				return -ENOMEM;
		}
		atomic_store_explicit(slot, leaf, memory_order_release);
	}
	if (leaf) {
		r->hit_leaf = leaf;
		r->hit_key = key >> RADIX_SHIFT;
	}
	*leafp = leaf;
	return 0;
}

/*
 * Lock held, no readers: drop key's leaf, which is all zero but for words
 * that are meaningless in an unused entry (it may be reused as it is).
 */
static void radix_drop_leaf(struct svf_pinner *p, struct radix *r, uint64_t key)
{
	_Atomic(void *) *slot;
	void *leaf;

	if (radix_slot(p, r, key, false, &slot) || !slot)
		return;
	leaf = atomic_load_explicit(slot, memory_order_relaxed);
	atomic_store_explicit(slot, NULL, memory_order_relaxed);
	if (leaf == r->hit_leaf)
		r->hit_leaf = NULL;
	if (leaf && r->nr_spare < RADIX_SPARE_MAX) {
		*(void **)leaf = r->spare;
		r->spare = leaf;
		r->nr_spare++;
		return;
	}
	svf_pin_free(p, leaf, r->leaf_size);
}

typedef void (*leaf_fn)(struct svf_pinner *p, void *leaf, uint64_t first_key);

static void radix_free_node(struct svf_pinner *p, struct radix *r, void *n, unsigned lvl,
			    uint64_t first_key, leaf_fn fn)
{
	if (!n)
		return;
	if (lvl == 0) {
		if (fn)
			fn(p, n, first_key);
		svf_pin_free(p, n, r->leaf_size);
		return;
	}
	struct radix_node *node = n;
	uint64_t span = 1ULL << (RADIX_SHIFT * lvl); /* keys per slot; lvl <= 5 for 52-bit keys */

	for (unsigned i = 0; i < RADIX_FAN; i++)
		radix_free_node(p, r, atomic_load_explicit(&node->slot[i], memory_order_relaxed),
				lvl - 1, first_key + i * span, fn);
	svf_pin_free(p, node, sizeof(*node));
}

/* Destroy: no readers remain. fn sees every leaf before it is freed. */
static void radix_free(struct svf_pinner *p, struct radix *r, leaf_fn fn)
{
	struct radix_top *t = atomic_load_explicit(&r->top, memory_order_relaxed);

	if (t)
		radix_free_node(p, r, atomic_load_explicit(&t->root, memory_order_relaxed),
				t->height, 0, fn);
	while (t) {
		struct radix_top *older = t->retired;

		svf_pin_free(p, t, sizeof(*t));
		t = older;
	}
	atomic_store_explicit(&r->top, NULL, memory_order_relaxed);
	r->hit_leaf = NULL;
	while (r->spare) {
		void *next = *(void **)r->spare;

		svf_pin_free(p, r->spare, r->leaf_size);
		r->spare = next;
	}
	r->nr_spare = 0;
}

/* ---- syscalls ---- */

static int madvise_nointr(uint64_t va, uint64_t len, int advice)
{
	int ret;

	do
		ret = madvise((void *)(uintptr_t)va, len, advice);
	while (ret && errno == EINTR);
	return ret ? -errno : 0;
}

/*
 * mlock and munlock by raw system call: sanitizer runtimes (ASan, TSan)
 * intercept the libc wrappers and turn them into no-ops, which would leave
 * nothing resident and make the pinning under test a fiction. -1/errno.
 */
static int sys_mlock(uint64_t va, uint64_t len)
{
	return (int)syscall(SYS_mlock, (uintptr_t)va, (size_t)len);
}

static int sys_munlock(uint64_t va, uint64_t len)
{
	return (int)syscall(SYS_munlock, (uintptr_t)va, (size_t)len);
}

/* Whether any VMA covers [va, va + len): mincore fails with ENOMEM on a hole. */
static bool range_mapped(uint64_t va, uint64_t len)
{
	unsigned char vec[BATCH_MAX];

	if (len > BATCH_MAX * SVF_PAGE_SIZE)
		len = BATCH_MAX * SVF_PAGE_SIZE;
	return mincore((void *)(uintptr_t)va, len, vec) == 0 || errno != ENOMEM;
}

/*
 * Step 1: fault in n pages from va. *ok receives how many leading pages are
 * accessible for this kind of pin. 0 or -ENOMEM (out of memory).
 */
static int populate(uint64_t va, uint64_t n, bool write, uint64_t *ok)
{
	int advice = write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
	uint64_t i;
	int ret;

	if (madvise_nointr(va, n * SVF_PAGE_SIZE, advice) == 0) {
		*ok = n;
		return 0;
	}
	for (i = 0; i < n; i++) {
		ret = madvise_nointr(va + i * SVF_PAGE_SIZE, SVF_PAGE_SIZE, advice);
		if (ret == 0)
			continue;
		if (ret == -ENOMEM && range_mapped(va + i * SVF_PAGE_SIZE, SVF_PAGE_SIZE))
			return -ENOMEM;
		break; /* hole, no access, SIGBUS, poison: -EFAULT for this page */
	}
	*ok = i;
	return 0;
}

/* Read n pagemap entries from va into pm. A failed read reads as absent. */
static void pagemap_read_into(struct proc *s, uint64_t va, uint64_t n, uint64_t *pm)
{
	size_t want = n * sizeof(uint64_t), got = 0;
	off_t off = (off_t)((va >> SVF_PAGE_SHIFT) * sizeof(uint64_t));

	while (got < want) {
		ssize_t r = pread(s->pagemap_fd, (char *)pm + got, want - got, off + (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	for (size_t i = got / sizeof(uint64_t); i < n; i++)
		pm[i] = 0;
}

static void pagemap_read(struct proc *s, uint64_t va, uint64_t n)
{
	pagemap_read_into(s, va, n, s->pm);
}

/* ---- per-page state ---- */

static struct vpage_leaf *vpage_leaf(struct svf_pinner *p, uint64_t vpn)
{
	struct proc *s = p->priv;

	return radix_get(&s->vpages, vpn);
}

/* Pins held through vpn, and the frame recorded for it when there are any. */
static uint32_t vpage_count(struct svf_pinner *p, uint64_t vpn, uint64_t *pfn)
{
	struct vpage_leaf *vl = vpage_leaf(p, vpn);
	unsigned i = vpn & RADIX_MASK;

	if (!vl)
		return 0;
	if (vl->whole) {
		*pfn = vl->whole_pfn + i;
		return vl->whole;
	}
	if (!vl->count[i])
		return 0;
	*pfn = vl->pfn[i];
	return vl->count[i];
}

static uint32_t leaf_ref(const struct frame_leaf *fl, uint64_t pfn)
{
	if (!fl)
		return 0;
	return fl->whole ? fl->whole : fl->e[pfn & RADIX_MASK].ref;
}

/*
 * Lock held: start loading pfn's frame entry and its leaf's words into the
 * cache, some pages before a pin or unpin reaches them: the frames of
 * 4 KiB-backed memory are scattered, and without this each page would wait
 * for its own cache misses in turn. Changes nothing.
 */
/*
 * Lock held: the first step of that, PF_DIST pages (or UNPIN_AHEAD regions)
 * further ahead: start loading the node slot that holds pfn's leaf pointer,
 * which the second step then reads. The slots of the lowest level of nodes
 * take 8 bytes per 2 MiB of the machine's memory and miss the cache too;
 * without this the second step waited for them.
 */
static void pfn_prefetch_slot(struct proc *s, uint64_t pfn)
{
	struct radix_top *t = atomic_load_explicit(&s->frames.top, memory_order_acquire);
	struct radix_node *n;

	if (!t || !t->height || radix_height_for(pfn) > t->height)
		return;
	n = atomic_load_explicit(&t->root, memory_order_acquire);
	for (unsigned lvl = t->height; lvl > 1 && n; lvl--)
		n = atomic_load_explicit(&n->slot[radix_index(pfn, lvl)], memory_order_acquire);
	if (n)
		__builtin_prefetch(&n->slot[radix_index(pfn, 1)]);
}

static void pfn_prefetch(struct proc *s, uint64_t pfn)
{
	struct frame_leaf *fl =
		s->frames.hit_leaf && s->frames.hit_key == pfn >> RADIX_SHIFT ? s->frames.hit_leaf
									       : radix_find(&s->frames, pfn);

	if (fl) {
		__builtin_prefetch(fl, 1);
		__builtin_prefetch(&fl->e[pfn & RADIX_MASK], 1);
	}
}

/* The same for the frame of pagemap entry e, when it is present. */
static void frame_prefetch(struct proc *s, uint64_t e)
{
	if (e & PM_PRESENT)
		pfn_prefetch(s, e & PM_PFN_MASK);
}

static uint32_t frame_ref(struct svf_pinner *p, uint64_t pfn)
{
	struct proc *s = p->priv;

	return leaf_ref(radix_get(&s->frames, pfn), pfn);
}

/*
 * Lock held: turn the whole pair (vl, fl) (invariant W) into the per-page
 * entries the same pins would have made one page at a time. Lock-free
 * readers see the old whole_ptr or the new ptr[i], which name the same
 * address: every ptr[i] is stored before whole_ptr is cleared (release).
 */
static void unit_split(struct proc *s, struct vpage_leaf *vl, struct frame_leaf *fl,
		       uint64_t vpn_base)
{
	const uint32_t w = vl->whole;

	assert(w && fl->whole == w && !vl->used && !fl->used);
	assert(atomic_load_explicit(&fl->whole_ptr, memory_order_relaxed) ==
	       ((vpn_base << SVF_PAGE_SHIFT) | 1));
	for (unsigned i = 0; i < RADIX_FAN; i++) {
		vl->count[i] = w;
		vl->pfn[i] = vl->whole_pfn + i;
		vl->next[i] = 0;
		fl->e[i].ref = w;
		atomic_store_explicit(&fl->e[i].ptr, ((vpn_base + i) << SVF_PAGE_SHIFT) | 1,
				      memory_order_release);
	}
	vl->used = fl->used = RADIX_FAN;
	vl->whole = fl->whole = 0;
	vl->whole_pfn = 0;
	atomic_store_explicit(&fl->whole_ptr, 0, memory_order_release);
	s->whole_units--;
}

/* Lock held: vl (of vpn) is whole: split it and its frame leaf. */
static void split_vpage_leaf(struct svf_pinner *p, struct vpage_leaf *vl, uint64_t vpn)
{
	struct proc *s = p->priv;
	struct frame_leaf *fl = radix_get(&s->frames, vl->whole_pfn);

	assert(fl);
	if (fl)
		unit_split(s, vl, fl, vpn & ~RADIX_MASK);
}

/* Lock held: fl is whole: split it and its vpage leaf. */
static void split_frame_leaf(struct svf_pinner *p, struct frame_leaf *fl)
{
	uint64_t vbase = atomic_load_explicit(&fl->whole_ptr, memory_order_relaxed) >> SVF_PAGE_SHIFT;
	struct vpage_leaf *vl = vpage_leaf(p, vbase);

	assert(vl && vl->whole);
	if (vl)
		unit_split(p->priv, vl, fl, vbase);
}

/*
 * munlock the pages of [va, va + n pages) that no pin holds, in maximal
 * ranges. Used to undo mlocks of a prepare that did not commit, and on unpin.
 * A failure means the range is no longer mapped (the caller unmapped pinned
 * memory): nothing is left to unlock there, so it is counted, not returned.
 */
/*
 * munlock [va, va + len), sparing the part an open window holds locked for
 * the pins still to come (another thread's pins may release pages there)
 * and every cached lock granule. Returns the munlock failures.
 */
static unsigned munlock_range(struct proc *s, uint64_t va, uint64_t len)
{
	const uint64_t end = va + len;
	unsigned errs = 0;
	uint64_t cur = va;

	if ((!s->win_locked || s->win_next >= s->win_end) && !s->nr_gran)
		return sys_munlock(va, len) != 0;
	/* the spared spans: the window's [win_next, win_end) and every cached granule */
	while (cur < end) {
		uint64_t skip = 0, next = end;

		if (s->win_locked && s->win_next < s->win_end) {
			if (cur >= s->win_next && cur < s->win_end)
				skip = s->win_end;
			else if (s->win_next > cur && s->win_next < next)
				next = s->win_next;
		}
		for (unsigned i = 0; i < GRAN_MAX; i++) {
			const uint64_t g = s->gran[i];

			if (!g)
				continue;
			if (cur >= g && cur < g + GRAN_SIZE) {
				if (g + GRAN_SIZE > skip)
					skip = g + GRAN_SIZE;
			} else if (g > cur && g < next) {
				next = g;
			}
		}
		if (skip) {
			cur = skip;
			continue;
		}
		errs += sys_munlock(cur, next - cur) != 0;
		cur = next;
	}
	return errs;
}

static void munlock_unheld(struct svf_pinner *p, uint64_t va, uint64_t n)
{
	struct proc *s = p->priv;
	uint64_t start = 0, len = 0, pfn;

	for (uint64_t i = 0; i <= n; i++) {
		bool held = i == n || vpage_count(p, (va >> SVF_PAGE_SHIFT) + i, &pfn) != 0;

		if (!held) {
			if (!len)
				start = va + i * SVF_PAGE_SIZE;
			len += SVF_PAGE_SIZE;
			continue;
		}
		if (len)
			s->munlock_errors += munlock_range(s, start, len);
		len = 0;
	}
}

/* Lock held: make sure both tables have leaves for a run (prepare's only allocations). */
static int ensure_leaves(struct svf_pinner *p, uint64_t vpn, uint64_t pfn, uint64_t n)
{
	struct proc *s = p->priv;
	void *leaf;
	int ret;

	for (uint64_t i = 0; i < n;) {
		uint64_t vleft = RADIX_FAN - ((vpn + i) & RADIX_MASK);
		uint64_t fleft = RADIX_FAN - ((pfn + i) & RADIX_MASK);

		ret = radix_leaf(p, &s->vpages, vpn + i, true, &leaf);
		if (ret)
			return ret;
		ret = radix_leaf(p, &s->frames, pfn + i, true, &leaf);
		if (ret)
			return ret;
		i += vleft < fleft ? vleft : fleft; /* on to the next leaf edge of either table */
	}
	return 0;
}

/*
 * The frame of page i of the current batch (s->pm filled from va): the one
 * recorded when the page is already pinned, else pagemap's. False when the
 * page is not present.
 */
static bool batch_frame(struct svf_pinner *p, uint64_t va, uint64_t i, uint64_t *pfn)
{
	struct proc *s = p->priv;
	uint64_t vpn = (va >> SVF_PAGE_SHIFT) + i, e = s->pm[i];

	if (vpage_count(p, vpn, pfn))
		return true;
	if (!(e & PM_PRESENT))
		return false;
	*pfn = s->pfns_real ? (e & PM_PFN_MASK) : vpn;
	return *pfn != 0;
}

/*
 * Length of the prefix of the batch [va, va + n pages) whose frames continue
 * the run. *first is the run's first frame; when !have_first the batch's
 * first present page starts the run and sets it.
 */
static uint64_t batch_contig(struct svf_pinner *p, uint64_t va, uint64_t n, uint64_t run_done,
			     uint64_t *first, bool have_first)
{
	uint64_t i, pfn, recorded;

	for (i = 0; i < n; i++) {
		if (!batch_frame(p, va, i, &pfn))
			break;
		if (!have_first && i == 0)
			*first = pfn;
		if (pfn != *first + run_done + i)
			break;
		/* A count that would overflow ends the run (Linux: -ENOMEM on refcount overflow). */
		if (frame_ref(p, pfn) == UINT32_MAX ||
		    vpage_count(p, (va >> SVF_PAGE_SHIFT) + i, &recorded) == UINT32_MAX)
			break;
	}
	return i;
}

/* Lock held: give back the window's lock of the pages no pin came to hold. */
static void window_close(struct svf_pinner *p)
{
	struct proc *s = p->priv;

	const bool locked = s->win_locked;

	s->win_locked = false; /* first: the unlock below must not spare the window */
	s->win_onfault = false;
	s->win_pm_n = 0;
	if (locked && s->win_next < s->win_end)
		munlock_unheld(p, s->win_next, (s->win_end - s->win_next) >> SVF_PAGE_SHIFT);
}

static void proc_window_end(struct svf_pinner *p)
{
	struct proc *s = p->priv;

	svf_pin_assert_held(p);
	window_close(p);
	s->win_tried = false;
}

/*
 * The first pin of a window (one MAP_DMA) locks the whole request at once:
 * one mlock() of [vaddr, vaddr + npages) (which faults the pages in, as
 * Linux's pin does, and locks whole huge pages where the range covers
 * them, instead of splitting them with locks of smaller runs), then GUP's
 * access checks (range_plain_anon, or a populate walk over the range),
 * and then pages
 * are read from pagemap in bulk as the pins reach them. Anything that
 * fails here (a hole, no access, the kernel's own lock limit) leaves
 * nothing locked and lets the batch path below find the failing page and
 * its errno exactly as before.
 */
/*
 * Whether every VMA of [va, va + len) is plain anonymous memory (no file,
 * no name: not a special mapping) that a pin may read, and write if write,
 * asked of the kernel with one PROCMAP_QUERY per VMA. Such memory passes
 * GUP's checks once mlock has faulted it in (mlock write-faults private
 * writable memory, breaking copy-on-write as a write pin would), so the
 * populate walk over it can be skipped. False when it cannot tell.
 */
/*
 * Whether the VMA holding va is plain anonymous memory a pin may read (and
 * write if write), with its bounds. One PROCMAP_QUERY; false when it cannot tell.
 */
static bool vma_plain_anon(struct proc *s, uint64_t va, bool write, uint64_t *start,
			   uint64_t *end)
{
	char name[64];
	struct svf_procmap_query q = {
		.size = sizeof(q),
		.query_addr = va,
		.vma_name_addr = (uintptr_t)name,
		.vma_name_size = sizeof(name),
	};

	if (s->maps_fd < 0)
		return false;
	if (ioctl(s->maps_fd, SVF_PROCMAP_QUERY, &q) != 0 || q.vma_start > va || q.vma_end <= va)
		return false;
	if (q.inode || q.vma_name_size || !(q.vma_flags & SVF_PROCMAP_READABLE) ||
	    (write && !(q.vma_flags & SVF_PROCMAP_WRITABLE)))
		return false;
	*start = q.vma_start;
	*end = q.vma_end;
	return true;
}

static bool range_plain_anon(struct proc *s, uint64_t va, uint64_t len, bool write)
{
	const uint64_t end = va + len;
	uint64_t vs, ve;

	while (va < end) {
		if (!vma_plain_anon(s, va, write, &vs, &ve))
			return false;
		va = ve;
	}
	return true;
}

/*
 * ---- lock granules ----
 *
 * A small request (one MAP_DMA inside one 2 MiB granule, the 4 KiB map and
 * unmap of vIOMMU churn) does not lock and unlock its pages: its granule is
 * locked whole once, with MLOCK_ONFAULT (the pages present are locked, no
 * other page is faulted in, so no memory is added to the process), and stays
 * locked after the last pin in it goes, cached for later pins. A pin then
 * costs the access check and the pagemap read, with no mlock, and its
 * unpin no munlock. Bounds: at most GRAN_MAX granules (32 MiB of address
 * space) are cached; one unused for GRAN_AGE_NS (100 ms) is evicted at the
 * next pin or unpin of the pinner (an idle pinner keeps its granules);
 * least recently used first when full; all at svf_pinner_release or
 * _rebase over them and at destroy. Evicting unlocks what of the granule no
 * pin holds.
 *
 * What is counted is unchanged: locked-memory accounting (RLIMIT_MEMLOCK's
 * check, svf_pinner_locked_bytes, the stats) counts pinned pages exactly,
 * as type1 counts locked_vm; only the kernel's own mlock count (VmLck)
 * includes the cached granules. When an mlock for a pin fails while
 * granules are cached (the kernel's limit counts them), they are evicted
 * and the mlock is tried again, so a pin never fails for them.
 *
 * A granule is trusted only while the VMA holding the pin's page lies inside
 * cached granules: a locked granule is a VMA of its own (split from its
 * unlocked neighbours, with which it cannot merge), so memory the program
 * unmapped and mapped again there, merged with its neighbours, is seen and
 * locked afresh. Memory mapped again exactly over the granule with no
 * mergeable neighbour is not seen until the granule is evicted: like
 * memory remapped under a pin (see the caveats above), a program that does
 * so behind the library's back gets pins of unlocked pages. An unpinned
 * page in a cached granule is still locked, so MADV_DONTNEED on it fails
 * (EINVAL) until the granule is evicted; softvfio exec calls
 * svf_pinner_release first, which evicts it.
 *
 * Only granules that look like one huge page (granule_looks_huge) are
 * cached: one of 4 KiB pages would cost the lock of each present page.
 *
 * Pages in a granule are locked only if present: the window pins only
 * pages that pagemap shows present and mapped by this process alone (not
 * the zero page, no copy-on-write pending), so the frame is the one a
 * write would keep; any other page goes to the batch path, which faults it
 * in with GUP's checks and locks it exactly.
 */
static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int gran_find(const struct proc *s, uint64_t g)
{
	if (!s->nr_gran)
		return -1;
	for (unsigned i = 0; i < GRAN_MAX; i++)
		if (s->gran[i] == g)
			return (int)i;
	return -1;
}

/* Lock held: unlock the pages of the granule at g that no pin holds (and no other span spares). */
static void munlock_unheld_granule(struct svf_pinner *p, uint64_t g)
{
	struct proc *s = p->priv;
	struct vpage_leaf *vl = vpage_leaf(p, g >> SVF_PAGE_SHIFT);
	uint64_t start = 0, len = 0;

	if (!vl || (!vl->whole && !vl->used)) {
		s->munlock_errors += munlock_range(s, g, GRAN_SIZE);
		return;
	}
	if (vl->whole)
		return; /* every page held */
	for (unsigned i = 0; i <= RADIX_FAN; i++) {
		if (i < RADIX_FAN && !vl->count[i]) {
			if (!len)
				start = g + i * SVF_PAGE_SIZE;
			len += SVF_PAGE_SIZE;
			continue;
		}
		if (len)
			s->munlock_errors += munlock_range(s, start, len);
		len = 0;
	}
}

static void gran_evict(struct svf_pinner *p, unsigned i)
{
	struct proc *s = p->priv;
	const uint64_t g = s->gran[i];

	s->gran[i] = 0; /* first: the unlock below must not spare it */
	s->nr_gran--;
	munlock_unheld_granule(p, g);
}

static void gran_evict_range(struct svf_pinner *p, uint64_t va, uint64_t len)
{
	struct proc *s = p->priv;

	for (unsigned i = 0; i < GRAN_MAX && s->nr_gran; i++)
		if (s->gran[i] && s->gran[i] < va + len && s->gran[i] + GRAN_SIZE > va)
			gran_evict(p, i);
}

static void gran_expire(struct svf_pinner *p)
{
	struct proc *s = p->priv;
	const uint64_t now = coarse_ns();

	for (unsigned i = 0; i < GRAN_MAX && s->nr_gran; i++)
		if (s->gran[i] && now - s->gran_used[i] > GRAN_AGE_NS)
			gran_evict(p, i);
}

/*
 * Whether the granule at g looks like one huge page, given the pagemap
 * entry e of its page at va: e's frame sits at va's offset in an aligned
 * 2 MiB block of frames, and so does the frame of one more page of the
 * granule (its first, or its last when va is the first). A 4 KiB page
 * passes the first test by chance 1 in 512 and both almost never, so a
 * granule of 4 KiB pages is not locked whole (that would cost a lock of each
 * present page, more than the pins it could serve save), while a huge page,
 * mapped whole or split into 4 KiB mappings (one folio, locked in one
 * step), costs one more 8-byte read when it is first locked.
 */
static bool granule_looks_huge(struct proc *s, uint64_t g, uint64_t va, uint64_t e)
{
	const uint64_t m = PM_PRESENT | PM_EXCLUSIVE;
	const uint64_t other = va == g ? g + GRAN_SIZE - SVF_PAGE_SIZE : g;
	uint64_t o = 0, pfn = e & PM_PFN_MASK;

	if ((e & m) != m || ((pfn ^ (va >> SVF_PAGE_SHIFT)) & RADIX_MASK))
		return false;
	pagemap_read_into(s, other, 1, &o);
	return (o & m) == m && (o & PM_PFN_MASK) == pfn - ((va - other) >> SVF_PAGE_SHIFT);
}

/* Whether [vs, ve) lies inside cached granules. */
static bool gran_span_cached(const struct proc *s, uint64_t vs, uint64_t ve)
{
	if (ve - vs > GRAN_MAX * GRAN_SIZE)
		return false;
	for (uint64_t b = vs & ~(GRAN_SIZE - 1); b < ve; b += GRAN_SIZE)
		if (gran_find(s, b) < 0)
			return false;
	return true;
}

/* A free slot for a new granule, evicting the least recently used; -1 when none may be used. */
static int gran_slot(struct svf_pinner *p)
{
	struct proc *s = p->priv;

	if (!s->gran_max)
		return -1;
	while (s->nr_gran >= s->gran_max) {
		int lru = -1;

		for (unsigned i = 0; i < GRAN_MAX; i++)
			if (s->gran[i] && (lru < 0 || s->gran_used[i] < s->gran_used[lru]))
				lru = (int)i;
		gran_evict(p, (unsigned)lru);
	}
	for (unsigned i = 0; i < GRAN_MAX; i++)
		if (!s->gran[i])
			return (int)i;
	return -1;
}

/*
 * The first pin of a window whose request lies inside one granule: set the
 * window up from the granule's lock, locking the granule first if it is not
 * cached. False when the request is not such, or its memory is not plain
 * anonymous memory the pin may access, or the granule cannot be locked
 * whole (another VMA in it, the kernel's limit): then it is locked exactly,
 * and *anon says whether the request was found inside one plain anonymous
 * VMA the pin may access (its access check is done), and win_pm may hold
 * its pagemap entries (win_pm_n, read before the exact lock).
 */
static bool gran_try(struct svf_pinner *p, uint64_t vaddr, uint64_t npages, bool write,
		     bool *anon)
{
	struct proc *s = p->priv;
	const uint64_t len = npages * SVF_PAGE_SIZE, g = vaddr & ~(GRAN_SIZE - 1);
	uint64_t vs, ve;
	int i;

	s->win_pm_n = 0;
	if (!s->gran_max || npages >= RADIX_FAN || ((vaddr + len - 1) & ~(GRAN_SIZE - 1)) != g)
		return false;
	if (!vma_plain_anon(s, vaddr, write, &vs, &ve))
		return false;
	*anon = vaddr + len <= ve;
	if (s->nr_gran)
		gran_expire(p);
	i = gran_find(s, g);
	if (i >= 0 && !gran_span_cached(s, vs, ve)) {
		gran_evict(p, (unsigned)i); /* not the memory it locked any more */
		return false;
	}
	if (i < 0) {
		if (vs > g || ve < g + GRAN_SIZE)
			return false;
		/*
		 * Only a granule that looks like one huge page (granule_looks_huge);
		 * without real frame numbers nothing tells, and nothing is cached.
		 * The read fills the window's pagemap cache, which the pin reads next.
		 */
		if (!s->pfns_real)
			return false;
		s->win_pm_vpn = vaddr >> SVF_PAGE_SHIFT;
		s->win_pm_n = npages;
		pagemap_read_into(s, vaddr, npages, s->win_pm);
		if (!granule_looks_huge(s, g, vaddr, s->win_pm[0]))
			return false;
		i = gran_slot(p);
		if (i < 0 || syscall(SYS_mlock2, (uintptr_t)g, (size_t)GRAN_SIZE, MLOCK_ONFAULT) != 0)
			return false;
		s->gran[i] = g;
		s->nr_gran++;
	}
	s->gran_used[i] = coarse_ns();
	s->win_locked = true;
	s->win_onfault = true;
	s->win_write = write;
	s->win_next = vaddr;
	s->win_end = vaddr + len;
	return true;
}

/*
 * mlock for a pin. When it fails while granules are cached (the kernel's
 * own limit counts them), unlock what it took, evict them and try once
 * more. 0, or -1 with errno as mlock's.
 */
static int pin_mlock(struct svf_pinner *p, uint64_t va, uint64_t n)
{
	struct proc *s = p->priv;

	if (sys_mlock(va, n * SVF_PAGE_SIZE) == 0)
		return 0;
	if (!s->nr_gran)
		return -1;
	munlock_unheld(p, va, n);
	for (unsigned i = 0; i < GRAN_MAX; i++)
		if (s->gran[i])
			gran_evict(p, i);
	return sys_mlock(va, n * SVF_PAGE_SIZE);
}

static void window_try(struct svf_pinner *p, uint64_t vaddr, uint64_t npages, bool write)
{
	struct proc *s = p->priv;

	bool anon = false;

	s->win_tried = true;
	if (gran_try(p, vaddr, npages, write, &anon))
		return;
	if (pin_mlock(p, vaddr, npages) != 0) {
		/* mlock keeps what it locked before it failed (up to a hole, or all of the VMAs
		 * when populating failed): undo it, sparing what other pins hold */
		munlock_unheld(p, vaddr, npages);
		return;
	}
	if (!anon && !range_plain_anon(s, vaddr, npages * SVF_PAGE_SIZE, write) &&
	    madvise_nointr(vaddr, npages * SVF_PAGE_SIZE, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ)) {
		munlock_unheld(p, vaddr, npages);
		return;
	}
	/*
	 * Entries gran_try read before the lock still hold where the page was
	 * present and this process's alone: mlock only faults in what is
	 * absent, or shared for a write (copy-on-write); else read them again.
	 */
	for (uint64_t i = 0; i < s->win_pm_n; i++) {
		if ((s->win_pm[i] & (PM_PRESENT | PM_EXCLUSIVE)) != (PM_PRESENT | PM_EXCLUSIVE)) {
			s->win_pm_n = 0;
			break;
		}
	}
	s->win_locked = true;
	s->win_onfault = false;
	s->win_write = write;
	s->win_next = vaddr;
	s->win_end = vaddr + npages * SVF_PAGE_SIZE;
}

/*
 * Lock held, inside window_prepare: whether the 2 MiB unit at vpn (aligned,
 * its 512 pagemap entries in win_pm) continues the run as one piece: its
 * frames are contiguous from a 2 MiB-aligned first frame (want, or any when
 * want is UINT64_MAX), no count would overflow, and its leaves are empty or
 * whole (a pin of it then commits as one whole entry). Returns that first
 * frame, or 0: the per-page steps decide. *flp gets the frame leaf.
 */
static uint64_t unit_prepare(struct proc *s, const struct vpage_leaf *vl, uint64_t vpn,
			     uint64_t want, struct frame_leaf **flp)
{
	const uint64_t *e = &s->win_pm[vpn - s->win_pm_vpn];
	uint64_t pfn;
	bool ok = true;

	if (vl && vl->used)
		return 0;
	if (vl && vl->whole) {
		if (vl->whole == UINT32_MAX)
			return 0;
		pfn = vl->whole_pfn;
	} else {
		if (vpn + RADIX_FAN > s->win_pm_vpn + s->win_pm_n || !(e[0] & PM_PRESENT))
			return 0;
		pfn = s->pfns_real ? (e[0] & PM_PFN_MASK) : vpn;
		if (s->pfns_real) {
			const uint64_t m = PM_PRESENT | PM_PFN_MASK, e0 = e[0] & m;

			for (unsigned j = 1; j < RADIX_FAN; j++)
				ok &= (e[j] & m) == e0 + j;
		} else {
			for (unsigned j = 1; j < RADIX_FAN; j++)
				ok &= (e[j] & PM_PRESENT) != 0;
		}
		if (!ok)
			return 0;
	}
	if (!pfn || (pfn & RADIX_MASK) || (want != UINT64_MAX && pfn != want))
		return 0;
	*flp = radix_get(&s->frames, pfn);
	if (*flp && ((*flp)->used || (*flp)->whole == UINT32_MAX))
		return 0;
	return pfn;
}

/*
 * A run at the window's next page, from the cached frames: no system call
 * but one pagemap read per WIN_PM pages. 1 when the window cannot serve it
 * (the caller takes the batch path), else 0 or -ENOMEM.
 */
static int window_prepare(struct svf_pinner *p, uint64_t vaddr, uint64_t npages, bool write,
			  uint64_t *phys, uint64_t *pinned)
{
	struct proc *s = p->priv;
	uint64_t vpn0 = vaddr >> SVF_PAGE_SHIFT, n, i, first = 0;
	struct vpage_leaf *vl = NULL;
	struct frame_leaf *fl = NULL;
	int ret;

	if (!s->win_locked || vaddr != s->win_next || write != s->win_write)
		return 1;
	n = (s->win_end - vaddr) >> SVF_PAGE_SHIFT;
	if (npages < n)
		n = npages;
	for (i = 0; i < n;) {
		uint64_t vpn = vpn0 + i, pfn, e;
		unsigned vi = vpn & RADIX_MASK;

		if (vpn - s->win_pm_vpn >= s->win_pm_n || vpn < s->win_pm_vpn ||
		    (vi == 0 && vpn + RADIX_FAN > s->win_pm_vpn + s->win_pm_n &&
		     s->win_pm_n == WIN_PM)) {
			uint64_t left = (s->win_end >> SVF_PAGE_SHIFT) - vpn;

			s->win_pm_vpn = vpn;
			s->win_pm_n = left < WIN_PM ? left : WIN_PM;
			pagemap_read_into(s, vpn << SVF_PAGE_SHIFT, s->win_pm_n, s->win_pm);
		}
		if (i == 0 || vi == 0)
			vl = vpage_leaf(p, vpn);
		if (vi == 0 && n - i >= RADIX_FAN) {
			uint64_t got = unit_prepare(s, vl, vpn, i ? first + i : UINT64_MAX, &fl);

			if (got) {
				if (i == 0)
					first = got;
				i += RADIX_FAN;
				continue;
			}
		}
		if (s->pfns_real && vpn + 2 * PF_DIST - s->win_pm_vpn < s->win_pm_n &&
		    (s->win_pm[vpn + 2 * PF_DIST - s->win_pm_vpn] & PM_PRESENT))
			pfn_prefetch_slot(s, s->win_pm[vpn + 2 * PF_DIST - s->win_pm_vpn] & PM_PFN_MASK);
		if (s->pfns_real && vpn + PF_DIST - s->win_pm_vpn < s->win_pm_n)
			frame_prefetch(s, s->win_pm[vpn + PF_DIST - s->win_pm_vpn]);
		if (vl && vl->whole) {
			if (vl->whole == UINT32_MAX)
				break; /* a count that would overflow ends the run */
			pfn = vl->whole_pfn + vi;
		} else if (vl && vl->count[vi]) {
			if (vl->count[vi] == UINT32_MAX)
				break;
			pfn = vl->pfn[vi];
		} else {
			e = s->win_pm[vpn - s->win_pm_vpn];
			if (!(e & PM_PRESENT))
				break;
			if (s->win_onfault && !(e & PM_EXCLUSIVE))
				break; /* the zero page, or shared: the batch path faults it in */
			pfn = s->pfns_real ? (e & PM_PFN_MASK) : vpn;
			if (!pfn)
				break;
		}
		if (i == 0)
			first = pfn;
		else if (pfn != first + i)
			break;
		if (i == 0 || (pfn & RADIX_MASK) == 0)
			fl = radix_get(&s->frames, pfn);
		if (leaf_ref(fl, pfn) == UINT32_MAX)
			break;
		i++;
	}
	if (i == 0) {
		/* The page the map will fail on: let the batch path say how. */
		window_close(p);
		return 1;
	}
	ret = ensure_leaves(p, vpn0, first, i);
	if (ret)
		return ret;
	s->win_run = true;
	*phys = first << SVF_PAGE_SHIFT;
	*pinned = i;
	return 0;
}

static int proc_prepare(struct svf_pinner *p, uint64_t vaddr, uint64_t npages, bool write,
			uint64_t *phys, uint64_t *pinned)
{
	struct proc *s = p->priv;
	uint64_t done = 0, batch = BATCH_MIN, first = 0;
	int ret = 0;

	svf_pin_assert_held(p);
	s->win_run = false;
	if (svf_pin_in_window(p)) {
		if (!s->win_tried)
			window_try(p, vaddr, npages, write);
		ret = window_prepare(p, vaddr, npages, write, phys, pinned);
		if (ret <= 0)
			return ret;
		ret = 0;
	}
	while (done < npages) {
		uint64_t va = vaddr + done * SVF_PAGE_SIZE;
		uint64_t want = npages - done < batch ? npages - done : batch;
		uint64_t ok, predicted, got;

		/* 1. fault in, with GUP's permission checks */
		ret = populate(va, want, write, &ok);
		if (ret)
			goto out_undo;
		if (ok == 0) {
			ret = -EFAULT;
			break;
		}

		/* 2. predict the contiguous prefix; a page that went away meanwhile is left to mlock */
		pagemap_read(s, va, ok);
		predicted = batch_contig(p, va, ok, done, &first, done != 0);
		if (predicted == 0 && done == 0)
			predicted = 1;
		if (predicted == 0)
			break;

		/* 3. keep it resident */
		if (pin_mlock(p, va, predicted) != 0) {
			bool hole = errno == ENOMEM && !range_mapped(va, predicted * SVF_PAGE_SIZE);

			munlock_unheld(p, va, predicted);
			ret = hole ? -EFAULT : -ENOMEM;
			if (hole)
				break;
			goto out_undo;
		}

		/* 4. the frames that count are those after mlock */
		pagemap_read(s, va, predicted);
		got = batch_contig(p, va, predicted, done, &first, done != 0);
		if (got < predicted)
			munlock_unheld(p, va + got * SVF_PAGE_SIZE, predicted - got);
		if (got == 0) {
			uint64_t pfn;

			/* present but not usable: only a reference count at its maximum */
			if (done == 0 && batch_frame(p, va, 0, &pfn)) {
				ret = -ENOMEM;
				goto out_undo;
			}
			ret = -EFAULT;
			break;
		}
		ret = ensure_leaves(p, (va >> SVF_PAGE_SHIFT), first + done, got);
		if (ret) {
			munlock_unheld(p, va, got);
			goto out_undo;
		}
		done += got;
		if (got < want)
			break;
		if (batch < BATCH_MAX)
			batch <<= 1;
	}
	/* A page that fails after the first ends the run short; the next call fails on it. */
	if (done == 0)
		return ret ? ret : -EFAULT;
	*phys = first << SVF_PAGE_SHIFT;
	*pinned = done;
	return 0;

out_undo:
	munlock_unheld(p, vaddr, done);
	return ret;
}

static void proc_abort(struct svf_pinner *p, uint64_t vaddr, uint64_t phys, uint64_t npages)
{
	struct proc *s = p->priv;

	(void)phys;
	svf_pin_assert_held(p);
	if (s->win_run) {
		window_close(p); /* the map fails here: the rest of its lock goes too */
		return;
	}
	munlock_unheld(p, vaddr, npages);
}

static void proc_commit(struct svf_pinner *p, uint64_t vaddr, uint64_t phys, uint64_t npages)
{
	struct proc *s = p->priv;
	uint64_t vpn0 = vaddr >> SVF_PAGE_SHIFT, pfn0 = phys >> SVF_PAGE_SHIFT;
	struct vpage_leaf *vl = NULL;
	struct frame_leaf *fl = NULL;

	svf_pin_assert_held(p);
	if (s->win_run && s->win_locked && vaddr == s->win_next)
		s->win_next += npages * SVF_PAGE_SIZE; /* held by their pins from now on */
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t vpn = vpn0 + i, pfn = pfn0 + i;
		unsigned vi = vpn & RADIX_MASK, fi = pfn & RADIX_MASK;

		/* prepare made both leaves (ensure_leaves); look up only at leaf edges */
		if (!vl || vi == 0)
			vl = vpage_leaf(p, vpn);
		if (!fl || fi == 0)
			fl = radix_get(&s->frames, pfn);
		assert(vl && fl);

		/* A whole, aligned unit onto empty leaves or onto its own pair: one entry. */
		if (vi == 0 && fi == 0 && npages - i >= RADIX_FAN &&
		    (vl->whole ? vl->whole_pfn == pfn : !vl->used && !fl->used && !fl->whole)) {
			if (!vl->whole++) {
				vl->whole_pfn = pfn;
				atomic_store_explicit(&fl->whole_ptr, (vpn << SVF_PAGE_SHIFT) | 1,
						      memory_order_release);
				s->whole_units++;
			}
			fl->whole++;
			assert(fl->whole == vl->whole);
			i += RADIX_FAN - 1;
			continue;
		}
		if (vl->whole)
			split_vpage_leaf(p, vl, vpn);
		if (fl->whole)
			split_frame_leaf(p, fl);

		if (vl->count[vi]++ == 0) {
			uint64_t head = atomic_load_explicit(&fl->e[fi].ptr, memory_order_relaxed);

			vl->used++;
			vl->pfn[vi] = pfn;
			vl->next[vi] = head ? (head >> SVF_PAGE_SHIFT) + 1 : 0;
			atomic_store_explicit(&fl->e[fi].ptr, (vpn << SVF_PAGE_SHIFT) | 1,
					      memory_order_release);
		}
		assert(vl->pfn[vi] == pfn);
		if (fl->e[fi].ref++ == 0)
			fl->used++;
	}
}

/* vpn's count went to 0: take it off its frame's alias list. */
static void alias_unlink(struct svf_pinner *p, struct frame_leaf *fl, unsigned fi, uint64_t vpn,
			 uint64_t next)
{
	uint64_t head = atomic_load_explicit(&fl->e[fi].ptr, memory_order_relaxed);
	uint64_t cur = head >> SVF_PAGE_SHIFT;

	assert(head);
	if (cur == vpn) {
		atomic_store_explicit(&fl->e[fi].ptr, next ? ((next - 1) << SVF_PAGE_SHIFT) | 1 : 0,
				      memory_order_release);
		return;
	}
	for (;;) {
		struct vpage_leaf *cl = vpage_leaf(p, cur);
		unsigned ci = cur & RADIX_MASK;

		assert(cl && cl->next[ci]);
		if (!cl || !cl->next[ci])
			return;
		if (cl->next[ci] == vpn + 1) {
			cl->next[ci] = next;
			return;
		}
		cur = cl->next[ci] - 1;
	}
}

/* ---- released and rebased ranges ---- */

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

static void munlock_flush(struct proc *s);

/* Lock held: the newest live entry whose old range holds va, or NULL. */
/*
 * Which of two live entries holding a page names where it is: a release
 * (owned: the pages themselves moved into the pinner's memory) over a
 * rebase (the program's new address for them), since nothing the program
 * maps later holds a released page; otherwise the newest. An empty best
 * has age 0.
 */
static bool reloc_better(bool owned, uint64_t age, bool best_owned, uint64_t best_age)
{
	if (!best_age)
		return true;
	if (owned != best_owned)
		return owned;
	return age > best_age;
}

/* Lock held: the entry that names where the page at va is (see reloc_better), skip aside. */
static struct reloc *reloc_find_except(struct proc *s, uint64_t va, const struct reloc *skip)
{
	unsigned n = atomic_load_explicit(&s->nr_reloc, memory_order_relaxed);
	struct reloc *best = NULL;
	uint64_t best_age = 0;

	for (unsigned i = 0; i < n; i++) {
		struct reloc *r = &s->reloc[i];
		uint64_t age = atomic_load_explicit(&r->age, memory_order_relaxed);

		if (r != skip && atomic_load_explicit(&r->live, memory_order_relaxed) &&
		    reloc_better(r->owned, age, best ? best->owned : false, best_age) &&
		    va - atomic_load_explicit(&r->old, memory_order_relaxed) <
			    atomic_load_explicit(&r->len, memory_order_relaxed)) {
			best = r;
			best_age = age;
		}
	}
	return best;
}

static struct reloc *reloc_find(struct proc *s, uint64_t va)
{
	return reloc_find_except(s, va, NULL);
}

/* Lock-free: va through the newest live entry holding it, or va itself. */
static uint64_t reloc_translate(struct proc *s, uint64_t va)
{
	unsigned n = atomic_load_explicit(&s->nr_reloc, memory_order_acquire);
	uint64_t out = va, best_age = 0;
	bool best_owned = false;

	for (unsigned i = 0; i < n; i++) {
		struct reloc *r = &s->reloc[i];
		uint64_t seq = atomic_load_explicit(&r->seq, memory_order_acquire);
		bool live = atomic_load_explicit(&r->live, memory_order_acquire);
		uint64_t old = atomic_load_explicit(&r->old, memory_order_acquire);
		uint64_t len = atomic_load_explicit(&r->len, memory_order_acquire);
		uint64_t nw = atomic_load_explicit(&r->new, memory_order_acquire);
		uint64_t age = atomic_load_explicit(&r->age, memory_order_acquire);
		bool owned = atomic_load_explicit(&r->owned, memory_order_acquire);

		if ((seq & 1) || atomic_load_explicit(&r->seq, memory_order_relaxed) != seq)
			continue;
		if (live && reloc_better(owned, age, best_owned, best_age) && va - old < len) {
			out = nw + (va - old);
			best_age = age;
			best_owned = owned;
		}
	}
	return out;
}

/*
 * The pinner's own memory moves and unmaps go to the kernel directly: a
 * preload layer that interposes munmap and mremap to learn of the
 * program's DMA memory leaving would otherwise take these for the
 * program's, and call back into the pinner, whose lock the caller holds.
 */
static int own_munmap(void *addr, size_t len)
{
	return (int)syscall(SYS_munmap, addr, len);
}

static void *own_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
	return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}

/* Lock held: r's last pin went; its slot is free from now on. */
static void reloc_retire(struct proc *s, struct reloc *r)
{
	unsigned n = atomic_load_explicit(&s->nr_reloc, memory_order_relaxed);

	atomic_store_explicit(&r->live, false, memory_order_release);
	atomic_fetch_sub_explicit(&s->nr_live, 1, memory_order_release);
	if (r->owned)
		own_munmap((void *)(uintptr_t)atomic_load_explicit(&r->new, memory_order_relaxed),
			   atomic_load_explicit(&r->len, memory_order_relaxed));
	/* Keep readers' scans short: dead slots at the top leave it. */
	while (n && !atomic_load_explicit(&s->reloc[n - 1].live, memory_order_relaxed))
		n--;
	atomic_store_explicit(&s->nr_reloc, n, memory_order_release);
}

/* Lock held: the last pin of the virtual page at va went. */
static void reloc_unpinned(struct proc *s, uint64_t va)
{
	struct reloc *r;

	if (!atomic_load_explicit(&s->nr_live, memory_order_relaxed))
		return;
	r = reloc_find(s, va);
	if (r && --r->pins == 0)
		reloc_retire(s, r);
}

/* Lock held: whether the virtual page at va is pinned and not yet moved elsewhere. */
static bool pinned_here(struct svf_pinner *p, uint64_t va)
{
	struct proc *s = p->priv;
	uint64_t pfn;

	return vpage_count(p, va >> SVF_PAGE_SHIFT, &pfn) && !reloc_find(s, va);
}

/*
 * Lock held: publish an entry for [old, old + len) -> new holding pins pages;
 * *out (may be NULL) receives it. It is the newest (the highest age).
 */
static int reloc_add(struct svf_pinner *p, uint64_t old, uint64_t new_va, uint64_t len,
		     uint64_t pins, bool owned, struct reloc **out)
{
	struct proc *s = p->priv;
	unsigned n = atomic_load_explicit(&s->nr_reloc, memory_order_relaxed), i;
	struct reloc *r;
	uint64_t seq;

	if (!s->reloc) {
		s->reloc = svf_pin_zalloc(p, RELOC_MAX * sizeof(*s->reloc));
		if (!s->reloc)
			return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		if (!atomic_load_explicit(&s->reloc[i].live, memory_order_relaxed))
			break;
	if (i == RELOC_MAX)
		return -ENOSPC;
	r = &s->reloc[i];
	seq = atomic_load_explicit(&r->seq, memory_order_relaxed);
	atomic_store_explicit(&r->seq, seq + 1, memory_order_relaxed);
	/* Release: a reader that sees any new field sees the odd seq. */
	atomic_store_explicit(&r->old, old, memory_order_release);
	atomic_store_explicit(&r->new, new_va, memory_order_release);
	atomic_store_explicit(&r->len, len, memory_order_release);
	atomic_store_explicit(&r->age, ++s->reloc_age, memory_order_release);
	r->pins = pins;
	atomic_store_explicit(&r->owned, owned, memory_order_release);
	atomic_store_explicit(&r->live, true, memory_order_release);
	atomic_store_explicit(&r->seq, seq + 2, memory_order_release);
	atomic_fetch_add_explicit(&s->nr_live, 1, memory_order_release);
	if (i == n)
		atomic_store_explicit(&s->nr_reloc, n + 1, memory_order_release);
	if (out)
		*out = r;
	return 0;
}

/*
 * Move one run [va, va + len) of pinned pages to memory of our own; key is
 * the address they were pinned through (va itself, or where a rebase had
 * moved them from). mremap
 * moves the pages themselves (the frames, their content, their mlock):
 * with MREMAP_DONTUNMAP the old range stays mapped and empty; kernels that
 * refuse that for part of a mapping get a plain move into a reservation of
 * ours, and fresh zero-filled read-write memory over the old range (what
 * MADV_DONTNEED would leave), so the caller finds it mapped either way.
 */
static int release_run(struct svf_pinner *p, uint64_t key, uint64_t va, uint64_t len,
		       uint64_t pins)
{
	void *from = (void *)(uintptr_t)va, *to, *resv;
	int ret;

	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	to = own_mremap(from, len, len, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
	if (to == MAP_FAILED) {
		resv = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (resv == MAP_FAILED)
			return -errno;
		to = own_mremap(from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, resv);
		if (to == MAP_FAILED) {
			ret = -errno;
			own_munmap(resv, len);
			return ret;
		}
		if (mmap(from, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0) == MAP_FAILED) {
			/* The old range is simply gone: the caller was about to remove it. */
		}
	}
	ret = reloc_add(p, key, (uint64_t)(uintptr_t)to, len, pins, true, NULL);
	if (ret) {
		/* Put the pages back where they were. */
		if (own_mremap(to, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, from) == MAP_FAILED)
			own_munmap(to, len);
	}
	return ret;
}

/* Lock held: whether the page pinned through key is where r says it is. */
static bool moved_by(struct svf_pinner *p, uint64_t key, const struct reloc *r)
{
	uint64_t pfn;

	return vpage_count(p, key >> SVF_PAGE_SHIFT, &pfn) && reloc_find(p->priv, key) == r;
}

/*
 * Lock held: pages that a rebase moved into [vaddr, vaddr + len) leave the
 * program there too (a live update's new address unmapped in its turn):
 * they are released from where they are now, keyed by the address they
 * were pinned through, and their pins leave the rebase's entry.
 */
static int release_rebased(struct svf_pinner *p, uint64_t vaddr, uint64_t len)
{
	struct proc *s = p->priv;
	int ret;

	if (!atomic_load_explicit(&s->nr_live, memory_order_relaxed))
		return 0;
	for (unsigned i = 0; i < atomic_load_explicit(&s->nr_reloc, memory_order_relaxed); i++) {
		struct reloc *r = &s->reloc[i];
		uint64_t old, nw, rlen, lo, hi, run = 0, pins = 0;

		if (!atomic_load_explicit(&r->live, memory_order_relaxed) ||
		    atomic_load_explicit(&r->owned, memory_order_relaxed))
			continue;
		old = atomic_load_explicit(&r->old, memory_order_relaxed);
		nw = atomic_load_explicit(&r->new, memory_order_relaxed);
		rlen = atomic_load_explicit(&r->len, memory_order_relaxed);
		lo = vaddr > nw ? vaddr : nw;
		hi = vaddr + len < nw + rlen ? vaddr + len : nw + rlen;
		for (uint64_t at = lo; at <= hi && lo < hi; at += SVF_PAGE_SIZE) {
			if (at < hi && moved_by(p, old + (at - nw), r)) {
				if (!pins)
					run = at;
				pins++;
				continue;
			}
			if (pins) {
				ret = release_run(p, old + (run - nw), run, at - run, pins);
				if (ret)
					return ret;
				r->pins -= pins;
				if (!r->pins) {
					reloc_retire(s, r);
					break;
				}
			}
			pins = 0;
		}
	}
	return 0;
}

static int proc_release(struct svf_pinner *p, uint64_t vaddr, uint64_t len)
{
	uint64_t run = 0, pins = 0;
	int ret;

	svf_pin_assert_held(p);
	proc_window_end(p); /* no window lock may outlive the memory */
	munlock_flush(p->priv);
	gran_evict_range(p, vaddr, len); /* nor a granule's */
	/* Maximal runs of pages pinned here; each moves with one mremap. */
	for (uint64_t off = 0; off <= len; off += SVF_PAGE_SIZE) {
		if (off < len && pinned_here(p, vaddr + off)) {
			if (!pins)
				run = off;
			pins++;
			continue;
		}
		if (pins) {
			ret = release_run(p, vaddr + run, vaddr + run, off - run, pins);
			if (ret)
				return ret;
		}
		pins = 0;
	}
	return release_rebased(p, vaddr, len);
}

/*
 * Lock held: whether the pinned page at va moves with a rebase: pinned, and
 * not released (an earlier rebase's pages move again). *prev: the rebase
 * entry holding it now, or NULL.
 */
static bool rebase_moves(struct svf_pinner *p, uint64_t va, const struct reloc *skip,
			 struct reloc **prev)
{
	struct reloc *r;
	uint64_t pfn;

	*prev = NULL;
	if (!vpage_count(p, va >> SVF_PAGE_SHIFT, &pfn))
		return false;
	r = reloc_find_except(p->priv, va, skip);
	if (r && atomic_load_explicit(&r->owned, memory_order_relaxed))
		return false;
	*prev = r;
	return true;
}

/*
 * The container names pages by the address they were pinned through, so a
 * second live update of a range rebases from that address again: its pages
 * leave the first rebase's entry (whose pins drop with them) for the new
 * one. Released pages stay where the pinner keeps them (reloc_better).
 */
static int proc_rebase(struct svf_pinner *p, uint64_t old, uint64_t new_va, uint64_t len)
{
	struct proc *s = p->priv;
	struct reloc *prev, *mine;
	uint64_t pins = 0;
	int ret;

	svf_pin_assert_held(p);
	gran_evict_range(p, old, len); /* the memory it locked is elsewhere now */
	for (uint64_t off = 0; off < len; off += SVF_PAGE_SIZE)
		pins += rebase_moves(p, old + off, NULL, &prev);
	if (!pins)
		return 0;
	ret = reloc_add(p, old, new_va, len, pins, false, &mine);
	if (ret)
		return ret;
	for (uint64_t off = 0; off < len; off += SVF_PAGE_SIZE)
		if (rebase_moves(p, old + off, mine, &prev) && prev && --prev->pins == 0)
			reloc_retire(s, prev);
	return 0;
}

/*
 * Drop one pin of (vpn, pfn) whose leaves are vl and fl (either may be NULL
 * for a caller bug). True when it was the virtual page's last; *dropped
 * when that freed vl.
 */
static bool unpin_page(struct svf_pinner *p, struct vpage_leaf *vl, struct frame_leaf *fl,
		       uint64_t vpn, uint64_t pfn, bool *dropped)
{
	struct proc *s = p->priv;
	unsigned vi = vpn & RADIX_MASK, fi = pfn & RADIX_MASK;
	bool pinned;

	if (vl && vl->whole)
		split_vpage_leaf(p, vl, vpn); /* part of a whole unit goes */
	if (fl && fl->whole)
		split_frame_leaf(p, fl);
	pinned = vl && vl->count[vi] && vl->pfn[vi] == pfn && fl && fl->e[fi].ref;
	/* Unpinning what was not pinned is a caller bug: catch it, then do no harm. */
	assert(pinned);
	if (!pinned)
		return false;
	if (--fl->e[fi].ref == 0)
		fl->used--;
	if (--vl->count[vi])
		return false;
	alias_unlink(p, fl, fi, vpn, vl->next[vi]);
	vl->next[vi] = 0;
	reloc_unpinned(s, vpn << SVF_PAGE_SHIFT);
	if (--vl->used == 0) {
		radix_drop_leaf(p, &s->vpages, vpn);
		*dropped = true;
	}
	return true;
}

/*
 * Drop one whole pin of the pair (vl, fl), vl at vpn (aligned). True when it
 * was the unit's last: its pages are unpinned and vl is freed.
 */
static bool unit_unpin(struct svf_pinner *p, struct vpage_leaf *vl, struct frame_leaf *fl,
		       uint64_t vpn)
{
	struct proc *s = p->priv;

	assert(fl && fl->whole == vl->whole);
	fl->whole--;
	if (--vl->whole)
		return false;
	atomic_store_explicit(&fl->whole_ptr, 0, memory_order_release);
	vl->whole_pfn = 0;
	s->whole_units--;
	if (atomic_load_explicit(&s->nr_live, memory_order_relaxed)) {
		for (unsigned i = 0; i < RADIX_FAN; i++)
			reloc_unpinned(s, (vpn + i) << SVF_PAGE_SHIFT);
	}
	radix_drop_leaf(p, &s->vpages, vpn);
	return true;
}

static void munlock_flush(struct proc *s)
{
	if (s->ml_len)
		s->munlock_errors += munlock_range(s, s->ml_start, s->ml_len);
	s->ml_len = 0;
}

/* munlock [va, va + len) now or with the next adjacent range (proc_unpin_done at the latest). */
static void munlock_defer(struct proc *s, uint64_t va, uint64_t len)
{
	if (s->ml_len && s->ml_start + s->ml_len == va) {
		s->ml_len += len;
		return;
	}
	munlock_flush(s);
	s->ml_start = va;
	s->ml_len = len;
}

static void proc_unpin(struct svf_pinner *p, uint64_t vaddr, uint64_t phys, uint64_t npages)
{
	struct proc *s = p->priv;
	uint64_t vpn0 = vaddr >> SVF_PAGE_SHIFT, pfn0 = phys >> SVF_PAGE_SHIFT;
	uint64_t start = 0, len = 0;
	struct vpage_leaf *vl = NULL;
	struct frame_leaf *fl = NULL;

	svf_pin_assert_held(p);
	/* munlock the pages whose last pin went, in maximal ranges */
	for (uint64_t i = 0; i <= npages; i++) {
		uint64_t vpn = vpn0 + i, pfn = pfn0 + i;
		bool dropped = false;

		if (i < npages) {
			/* leaves looked up only at leaf edges, or after one was freed */
			if (!vl || (vpn & RADIX_MASK) == 0)
				vl = vpage_leaf(p, vpn);
			if (!fl || (pfn & RADIX_MASK) == 0)
				fl = radix_get(&s->frames, pfn);
			if ((vpn & RADIX_MASK) == 0 && npages - i >= RADIX_FAN && vl && fl && vl->whole &&
			    vl->whole_pfn == pfn) {
				/* one whole pin of the unit goes */
				if (unit_unpin(p, vl, fl, vpn)) {
					vl = NULL;
					if (!len)
						start = vaddr + i * SVF_PAGE_SIZE;
					len += RADIX_FAN * SVF_PAGE_SIZE;
				} else if (len) {
					munlock_defer(s, start, len);
					len = 0;
				}
				i += RADIX_FAN - 1;
				continue;
			}
			if (unpin_page(p, vl, fl, vpn, pfn, &dropped)) {
				if (dropped)
					vl = NULL;
				if (!len)
					start = vaddr + i * SVF_PAGE_SIZE;
				len += SVF_PAGE_SIZE;
				continue;
			}
		}
		if (len)
			munlock_defer(s, start, len);
		len = 0;
	}
}

static void proc_unpin_prefetch(struct svf_pinner *p, uint64_t phys, bool slot)
{
	if (slot)
		pfn_prefetch_slot(p->priv, phys >> SVF_PAGE_SHIFT);
	else
		pfn_prefetch(p->priv, phys >> SVF_PAGE_SHIFT);
}

static void proc_unpin_done(struct svf_pinner *p)
{
	struct proc *s = p->priv;

	svf_pin_assert_held(p);
	munlock_flush(s);
	if (s->nr_gran)
		gran_expire(p);
}

static int proc_lookup(struct svf_pinner *p, uint64_t vaddr, uint64_t *phys)
{
	struct proc *s = p->priv;
	uint64_t pfn;

	svf_pin_assert_held(p);
	pagemap_read(s, vaddr, 1);
	if (!batch_frame(p, vaddr, 0, &pfn)) {
		uint64_t ok = 0;

		/* Not faulted in yet (e.g. a second view of shared memory): pinning would populate it. */
		if (populate(vaddr, 1, false, &ok) || !ok)
			return -EFAULT;
		pagemap_read(s, vaddr, 1);
		if (!batch_frame(p, vaddr, 0, &pfn))
			return -EFAULT;
	}
	*phys = pfn << SVF_PAGE_SHIFT;
	return 0;
}

static void *proc_phys_to_ptr(struct svf_pinner *p, uint64_t phys)
{
	struct proc *s = p->priv;
	uint64_t pfn = phys >> SVF_PAGE_SHIFT, v;
	struct frame_leaf *fl = radix_find(&s->frames, pfn);

	if (!fl)
		return NULL;
	v = atomic_load_explicit(&fl->whole_ptr, memory_order_acquire);
	if (v)
		v += (pfn & RADIX_MASK) << SVF_PAGE_SHIFT; /* whole: the unit's page */
	else
		v = atomic_load_explicit(&fl->e[pfn & RADIX_MASK].ptr, memory_order_acquire);
	if (!v)
		return NULL;
	v = (v & ~(SVF_PAGE_SIZE - 1)) | (phys & (SVF_PAGE_SIZE - 1));
	if (atomic_load_explicit(&s->nr_live, memory_order_acquire))
		v = reloc_translate(s, v);
	return (void *)(uintptr_t)v;
}

static uint64_t proc_refcount(struct svf_pinner *p, uint64_t phys)
{
	svf_pin_assert_held(p);
	return frame_ref(p, phys >> SVF_PAGE_SHIFT);
}

static uint64_t proc_whole_units(struct svf_pinner *p)
{
	const struct proc *s = p->priv;

	svf_pin_assert_held(p);
	return s->whole_units;
}

static unsigned proc_lock_cache(struct svf_pinner *p, int max)
{
	struct proc *s = p->priv;

	svf_pin_assert_held(p);
	if (max >= 0) {
		s->gran_max = (unsigned)max < GRAN_MAX ? (unsigned)max : GRAN_MAX;
		for (unsigned i = 0; i < GRAN_MAX && s->nr_gran > s->gran_max; i++)
			if (s->gran[i])
				gran_evict(p, i);
	}
	return s->nr_gran;
}

static bool proc_pfns_real(const struct svf_pinner *p)
{
	const struct proc *s = p->priv;

	return s->pfns_real;
}

/*
 * Whether pagemap shows frame numbers to this fd, and whether the kernel has
 * MADV_POPULATE_READ: both tried on a page that is certainly present (the
 * one holding this function's stack frame).
 */
static int proc_probe(struct proc *s)
{
	volatile uint64_t here = 1;
	uint64_t va = (uint64_t)(uintptr_t)&here & ~(SVF_PAGE_SIZE - 1);
	int ret;

	if (sysconf(_SC_PAGESIZE) != (long)SVF_PAGE_SIZE)
		return -EOPNOTSUPP;
	ret = madvise_nointr(va, SVF_PAGE_SIZE, MADV_POPULATE_READ);
	if (ret)
		return ret == -EINVAL ? -EOPNOTSUPP : ret;
	pagemap_read(s, va, 1);
	if (!(s->pm[0] & PM_PRESENT))
		return -EIO;
	s->pfns_real = (s->pm[0] & PM_PFN_MASK) != 0;
	(void)here;
	return 0;
}

static int proc_init(struct svf_pinner *p)
{
	struct proc *s;
	int ret;

	s = svf_pin_zalloc(p, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->frames.leaf_size = sizeof(struct frame_leaf);
	s->gran_max = GRAN_MAX;
	s->vpages.leaf_size = sizeof(struct vpage_leaf);
	s->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (s->pagemap_fd < 0) {
		ret = -errno;
		goto out_free;
	}
	ret = proc_probe(s);
	if (ret)
		goto out_close;
	/* Only an optimization (range_plain_anon): without it, populate checks access. */
	s->maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	p->priv = s;
	return 0;

out_close:
	close(s->pagemap_fd);
out_free:
	svf_pin_free(p, s, sizeof(*s));
	return ret;
}

/* Destroy with pins still held: give the mlocks back. */
static void vpage_leaf_release(struct svf_pinner *p, void *leaf, uint64_t first_vpn)
{
	struct vpage_leaf *vl = leaf;

	(void)p;
	if (vl->whole) {
		sys_munlock(first_vpn << SVF_PAGE_SHIFT, RADIX_FAN * SVF_PAGE_SIZE);
		return;
	}
	for (unsigned i = 0; i < RADIX_FAN; i++) {
		if (vl->count[i])
			sys_munlock((first_vpn + i) << SVF_PAGE_SHIFT, SVF_PAGE_SIZE);
	}
}

static void proc_fini(struct svf_pinner *p)
{
	struct proc *s = p->priv;

	for (unsigned i = 0; i < GRAN_MAX; i++)
		if (s->gran[i])
			sys_munlock(s->gran[i], GRAN_SIZE);
	radix_free(p, &s->vpages, vpage_leaf_release);
	radix_free(p, &s->frames, NULL);
	if (s->reloc) {
		unsigned n = atomic_load_explicit(&s->nr_reloc, memory_order_relaxed);

		for (unsigned i = 0; i < n; i++)
			if (atomic_load_explicit(&s->reloc[i].live, memory_order_relaxed) &&
			    s->reloc[i].owned)
				own_munmap((void *)(uintptr_t)atomic_load_explicit(
						   &s->reloc[i].new, memory_order_relaxed),
					   atomic_load_explicit(&s->reloc[i].len,
								memory_order_relaxed));
		svf_pin_free(p, s->reloc, RELOC_MAX * sizeof(*s->reloc));
	}
	close(s->pagemap_fd);
	if (s->maps_fd >= 0)
		close(s->maps_fd);
	svf_pin_free(p, s, sizeof(*s));
	p->priv = NULL;
}

const struct svf_pin_ops svf_pin_process_ops = {
	.name = "process",
	.init = proc_init,
	.fini = proc_fini,
	.pin_prepare = proc_prepare,
	.pin_commit = proc_commit,
	.pin_abort = proc_abort,
	.unpin = proc_unpin,
	.unpin_prefetch = proc_unpin_prefetch,
	.unpin_done = proc_unpin_done,
	.window_end = proc_window_end,
	.lookup = proc_lookup,
	.release = proc_release,
	.rebase = proc_rebase,
	.phys_to_ptr = proc_phys_to_ptr,
	.refcount = proc_refcount,
	.whole_units = proc_whole_units,
	.lock_cache = proc_lock_cache,
	.pfns_real = proc_pfns_real,
};

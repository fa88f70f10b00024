/* SPDX-License-Identifier: MIT */
/*
 * The emulated AMD-Vi unit: svf_iommu_ops "amd".
 *
 * Theory of operation. A unit owns an IOTLB (iommu_iotlb.h, shared with
 * VT-d), a command buffer, a completion-wait semaphore, a list of table
 * pages waiting to be freed, a cost model and counters; a domain owns one
 * v1 page table (amd_pgtable.h) and stands for one device's device table
 * entry (device id: svf_amd_devid). What the core relies on:
 *  - map installs leaves and queues nothing, unless the unit caches
 *    non-present entries (np_cache, AMD's NpCache capability): then, as
 *    Linux does, every map is followed by invalidations of its range and a
 *    completion wait (sync_map).
 *  - unmap clears leaves and queues nothing; the core invalidates from its
 *    gather through inv_range, which queues INVALIDATE_IOMMU_PAGES with the
 *    size encoded in the address: by default one per naturally aligned
 *    power-of-two block of the range (Linux's pattern on a unit with
 *    NpCache, which is how it runs on an emulated AMD-Vi), or with
 *    covering_inv one covering command per range (Linux on bare metal).
 *    Either way no range of the 48-bit space needs a domain-wide flush.
 *  - a queued command changes nothing until the unit processes the buffer:
 *    when the driver waits (COMPLETION_WAIT) or when the buffer is full
 *    (the hardware catching up: applied, but no completion is signalled
 *    and nothing is freed).
 *  - COMPLETION_WAIT with the store bit: every command before it is done,
 *    then the unit stores the command's data to the semaphore; the driver
 *    polls the semaphore for the value it asked for (Linux's
 *    iommu_completion_wait). That store is the barrier: see wait_locked.
 *  - domain setup and teardown write the device table entry and queue
 *    INVALIDATE_DEVTAB_ENTRY, then a completion wait; teardown also
 *    invalidates every page of the domain first.
 *
 * Threads and locks: as in the VT-d driver (vtd/vtd.c). Device threads
 * translate with no lock on a hit and only an IOTLB set lock on a fill; the
 * command buffer, the deferred list and the writer counters are under the
 * unit lock (lock order: unit lock, then IOTLB set locks or the pool
 * lock); reader-side counters are per reader slot.
 *
 * Errors: map_pages SVF_FAULT_IOMMU_MAP, unmap_range SVF_FAULT_IOMMU_UNMAP,
 * inv_*, sync_map and wait SVF_FAULT_IOMMU_SYNC, each failing with -EIO
 * before changing anything. Teardown has no seam and never fails.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fault.h"

#include "amd.h"
#include "amd_pgtable.h"
#include "iommu_iotlb.h"
#include "iommu_drvutil.h"
#include "iommu_reader.h"

_Static_assert(AMD_PAGE_SIZE == SVF_PAGE_SIZE, "AMD-Vi page != SVF_PAGE_SIZE");

#define AMD_APERTURE_LAST ((1ull << AMD_IAS_BITS) - 1)
#define AMD_PHYS_LAST     ((1ull << 52) - 1)

/*
 * Cost model defaults, in modeled nanoseconds of device time.
 *
 * No published figure times an AMD-Vi command or completion wait on its
 * own; the only isolated invalidate-and-wait figure found is Intel's (800
 * ns, see vtd/vtd.c). The two mechanisms are the same shape: the IOMMU
 * fetches 16-byte entries from a ring in memory (four to a 64-byte line),
 * applies them in order, and signals completion with a memory write the CPU
 * polls (VT-d's wait descriptor writes a status word; COMPLETION_WAIT
 * stores to the semaphore). So the same derivation applies: one line read
 * (~82 ns, Intel MLC idle DRAM latency) per four commands, ~20 ns each
 * whatever the kind (INVALIDATE_IOMMU_PAGES of any size, ALL, DEVTAB: the
 * IOTLB match is a parallel compare), and the completion wait keeps the
 * rest of the round trip, 780 ns. A page-walk level on a miss is one
 * memory read, 82 ns; a 4-level miss ~330 ns as on VT-d. Equal figures
 * make the comparison one of patterns (how many commands and waits each
 * driver's invalidation rules issue), which is what the benchmark is for.
 */
static const struct svf_cost_model amd_default_cost = {
	.enabled = true,
	.inv_page_ns = 20,
	.inv_domain_ns = 20,
	.inv_global_ns = 20,
	.wait_ns = 780,
	.walk_level_ns = 82,
};

struct amd_unit {
	struct svf_drv_stripe stripes[SVF_READER_SLOTS + 1];
	struct svf_iotlb iotlb;     /* its own locking */
	struct svf_cost_model cost; /* immutable */
	bool np_cache;              /* immutable: NpCache, maps are flushed */
	bool covering_inv;          /* immutable: one covering command per range */
	/* Writer side. */
	uint32_t lock __attribute__((aligned(64)));
	struct svf_pt_pages pt;
	/*
	 * The command buffer, a ring as on the hardware: written at tail,
	 * consumed at head, and what was consumed stays in its slot until the
	 * tail comes round again, which is the log tests read (no second
	 * copy). head and tail count commands ever consumed and issued (tail is
	 * the log's count); slot i is ring[i & (cap - 1)]; [head, tail) are
	 * queued, at most depth; cap, a power of two above depth and at least
	 * SVF_AMD_LOG_DEPTH, keeps the last SVF_AMD_LOG_DEPTH readable.
	 */
	struct svf_amd_cmd *ring;   /* under lock */
	/*
	 * span[slot]: the IOVAs its command was queued for (start, last), which the
	 * unpin check compares with. A covering command names the aligned
	 * block around its range, which is wider, but only the requested IOVAs
	 * lost a translation; the rest of the block translated nothing, or
	 * still translates as its page table says. Same allocation as ring.
	 */
	uint64_t (*span)[2];
	unsigned depth;             /* immutable */
	unsigned cap;               /* immutable */
	uint64_t head;              /* under lock */
	uint64_t tail;              /* under lock; read relaxed */
	uint64_t sem;               /* the semaphore: stored by the unit (release) */
	uint64_t sem_val;           /* under lock: the last value asked for */
	struct svf_pt_freelist deferred; /* under lock */
	uint64_t inv_page, inv_domain, inv_global, inv_devtab, waits, modeled_ns;
	uint64_t wait_sync_ns;
	/* Event log: device threads append, readers take; under evlock. */
	uint32_t evlock __attribute__((aligned(64)));
	unsigned ev_head, ev_len;   /* [ev_head, ev_head + ev_len) mod depth are unread */
	bool ev_overflow;
	struct svf_amd_event events[SVF_AMD_EVENT_DEPTH];
};

struct amd_domain {
	struct amd_pt pt;
};

static inline struct amd_unit *unit_of(const struct svf_iommu *u)
{
	return u->priv;
}

static inline void unit_lock(struct amd_unit *au)
{
	svf_drv_spin_lock(&au->lock);
}

static inline void unit_unlock(struct amd_unit *au)
{
	svf_drv_spin_unlock(&au->lock);
}

static void ev_lock(struct amd_unit *au)
{
	while (__atomic_exchange_n(&au->evlock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&au->evlock, __ATOMIC_RELAXED))
			svf_cpu_relax();
}

static void ev_unlock(struct amd_unit *au)
{
	__atomic_store_n(&au->evlock, 0, __ATOMIC_RELEASE);
}

/*
 * A translation failed: the unit writes an IO_PAGE_FAULT event (device id
 * of the domain's device, domain id, the address, PR|PE when a translation
 * existed without the permission, RW for a write). A full log drops the
 * event and sets the overflow flag, as the hardware's EventOverflow. Called
 * from device threads; takes only evlock.
 */
static int log_fault(struct svf_domain *d, uint64_t iova, int access, int err)
{
	struct amd_unit *au = unit_of(d->unit);
	uint32_t flags = ((access & SVF_PROT_WRITE) ? SVF_AMD_EVF_RW : 0) |
			 (err == -EACCES ? SVF_AMD_EVF_PR | SVF_AMD_EVF_PE : 0);
	const struct svf_amd_event e = { {
		svf_amd_devid(d),
		(uint32_t)d->id | (flags << 16) | (SVF_AMD_EVENT_IO_PAGE_FAULT << 28),
		(uint32_t)iova,
		(uint32_t)(iova >> 32),
	} };

	ev_lock(au);
	if (au->ev_len == SVF_AMD_EVENT_DEPTH)
		au->ev_overflow = true;
	else
		au->events[(au->ev_head + au->ev_len++) % SVF_AMD_EVENT_DEPTH] = e;
	ev_unlock(au);
	return err;
}

uint16_t svf_amd_devid(const struct svf_domain *d)
{
	return (uint16_t)(d->id << 3); /* bus 0, device = domain id, function 0 */
}

static void amd_default_config(struct svf_iommu_config *cfg)
{
	cfg->iotlb_sets = SVF_AMD_DEFAULT_SETS;
	cfg->iotlb_ways = SVF_AMD_DEFAULT_WAYS;
	cfg->queue_depth = SVF_AMD_DEFAULT_CMDS;
	cfg->cost = amd_default_cost;
}

static int amd_unit_init(struct svf_iommu *u)
{
	const struct svf_iommu_config *cfg = &u->cfg;
	unsigned sets = cfg->iotlb_sets ? cfg->iotlb_sets : SVF_AMD_DEFAULT_SETS;
	unsigned ways = cfg->iotlb_ways ? cfg->iotlb_ways : SVF_AMD_DEFAULT_WAYS;
	unsigned depth = cfg->queue_depth ? cfg->queue_depth : SVF_AMD_DEFAULT_CMDS;
	size_t size = (sizeof(struct amd_unit) + 63) & ~(size_t)63;
	struct amd_unit *au;
	int ret;

	if (ways > 64)
		ways = 64;
	if (depth < 2)
		depth = 2; /* room for a command and its completion wait */
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	au = aligned_alloc(64, size);
	if (!au)
		return -ENOMEM;
	memset(au, 0, size);
	svf_drv_resolve_cost(cfg, &amd_default_cost, &au->cost);
	au->np_cache = cfg->np_cache;
	au->covering_inv = cfg->covering_inv;
	ret = svf_iotlb_init(&au->iotlb, sets, ways);
	if (ret)
		goto err_free;
	ret = -ENOMEM;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		goto err_iotlb;
	/* One block: the ring, then the spans (16-byte commands keep them aligned). */
	_Static_assert(sizeof(*au->ring) % sizeof(uint64_t) == 0, "span alignment");
	_Static_assert((SVF_AMD_LOG_DEPTH & (SVF_AMD_LOG_DEPTH - 1)) == 0, "power of two");
	au->cap = SVF_AMD_LOG_DEPTH;
	while (au->cap <= depth)
		au->cap *= 2;
	au->ring = calloc(au->cap, sizeof(*au->ring) + sizeof(*au->span));
	if (!au->ring)
		goto err_iotlb;
	au->span = (uint64_t(*)[2])(void *)(au->ring + au->cap);
	au->depth = depth;
	u->priv = au;
	return 0;

err_iotlb:
	svf_iotlb_fini(&au->iotlb);
err_free:
	free(au);
	return ret;
}

static void amd_unit_fini(struct svf_iommu *u)
{
	struct amd_unit *au = unit_of(u);

	if (!au)
		return;
	svf_drv_release_deferred(&au->deferred, &au->pt);
	svf_pt_pages_fini(&au->pt);
	free(au->ring);
	svf_iotlb_fini(&au->iotlb);
	free(au);
	u->priv = NULL;
}

/* Apply one invalidation command to the IOTLB (unit lock held, generation odd). */
static void apply_cmd(struct amd_unit *au, const struct svf_amd_cmd *c)
{
	struct svf_amd_cmd_info ci;
	struct svf_tlb_match m = { 0 };

	svf_amd_cmd_decode(c, &ci);
	switch (ci.op) {
	case SVF_AMD_CMD_INV_IOMMU_PAGES:
		m.did = ci.domid;
		if (ci.first == 0 && ci.last == UINT64_MAX) {
			m.kind = SVF_TLB_MATCH_DOMAIN;
			svf_drv_ctr_add(&au->modeled_ns, au->cost.inv_domain_ns);
		} else {
			m.kind = SVF_TLB_MATCH_PAGES;
			m.first_pfn = ci.first >> AMD_PAGE_SHIFT;
			m.last_pfn = ci.last >> AMD_PAGE_SHIFT;
			svf_drv_ctr_add(&au->modeled_ns, au->cost.inv_page_ns);
		}
		break;
	case SVF_AMD_CMD_INV_IOMMU_ALL:
		m.kind = SVF_TLB_MATCH_ALL;
		svf_drv_ctr_add(&au->modeled_ns, au->cost.inv_global_ns);
		break;
	case SVF_AMD_CMD_INV_DEVTAB_ENTRY:
		/* Device table entries are not cached in this emulation: a fetch only. */
		svf_drv_ctr_add(&au->modeled_ns, au->cost.inv_page_ns);
		return;
	default:
		return;
	}
	(void)svf_iotlb_invalidate(&au->iotlb, &m);
}

/*
 * Process the buffer in order (unit lock held). Invalidations take effect
 * inside one generation bump; a COMPLETION_WAIT among them (the driver
 * queues at most one, last) then completes: see wait_locked.
 */
static inline struct svf_amd_cmd *cmd_slot(const struct amd_unit *au, uint64_t i)
{
	return &au->ring[i & (au->cap - 1)];
}

static inline unsigned queued(const struct amd_unit *au)
{
	return (unsigned)(au->tail - au->head);
}

static void run_buffer(struct amd_unit *au, struct svf_amd_cmd_info *cw)
{
	bool inv = false;

	cw->op = 0;
	for (uint64_t i = au->head; i < au->tail; i++) {
		unsigned op = cmd_slot(au, i)->w[1] >> 28;

		if (op == SVF_AMD_CMD_COMPLETION_WAIT)
			svf_amd_cmd_decode(cmd_slot(au, i), cw);
		else if (op == SVF_AMD_CMD_INV_IOMMU_PAGES || op == SVF_AMD_CMD_INV_IOMMU_ALL)
			inv = true;
	}
	if (inv)
		svf_iotlb_begin_invalidation(&au->iotlb);
	for (uint64_t i = au->head; i < au->tail; i++)
		apply_cmd(au, cmd_slot(au, i));
	if (inv)
		svf_iotlb_end_invalidation(&au->iotlb);
	au->head = au->tail;
	if (inv)
		cw->s = true; /* reused as "an invalidation was processed" */
}

/*
 * Queue c, issued for the IOVAs [start, last] (0, UINT64_MAX for a whole
 * domain or unit; commands that invalidate no IOVA pass the same).
 */
static void queue_locked(struct amd_unit *au, const struct svf_amd_cmd *c, uint64_t start,
			 uint64_t last)
{
	struct svf_amd_cmd_info ci;

	if (queued(au) == au->depth) {
		/* Full: the unit catches up (no completion, nothing freed). */
		struct svf_amd_cmd_info cw;

		run_buffer(au, &cw);
	}
	au->span[au->tail & (au->cap - 1)][0] = start;
	au->span[au->tail & (au->cap - 1)][1] = last;
	*cmd_slot(au, au->tail) = *c;
	__atomic_store_n(&au->tail, au->tail + 1, __ATOMIC_RELAXED);
	svf_amd_cmd_decode(c, &ci);
	switch (ci.op) {
	case SVF_AMD_CMD_INV_IOMMU_PAGES:
		svf_drv_ctr_add(ci.first == 0 && ci.last == UINT64_MAX ? &au->inv_domain : &au->inv_page, 1);
		break;
	case SVF_AMD_CMD_INV_IOMMU_ALL:
		svf_drv_ctr_add(&au->inv_global, 1);
		break;
	case SVF_AMD_CMD_INV_DEVTAB_ENTRY:
		svf_drv_ctr_add(&au->inv_devtab, 1);
		break;
	default:
		break;
	}
}

/*
 * COMPLETION_WAIT: queue it, let the unit process the buffer, and poll the
 * semaphore for the value it carries.
 *
 * Why "when the semaphore holds the value, no device thread can still use
 * a translation an earlier invalidation removed" holds (the argument of the
 * VT-d wait, vtd/vtd.c, with the store as its last step):
 *  1. the IOTLB generation becomes odd and a heavy fence follows, so a fill
 *     racing with the processing is refused or is seen and removed;
 *  2. the commands remove their entries; the generation becomes even;
 *  3. svf_reader_synchronize() waits out every device section that began
 *     before it (a section that began later sees the cleared leaves and
 *     the removed entries, iommu_reader.h), and the table pages unlinked
 *     before the wait are freed;
 *  4. only then does the unit store the data to the semaphore, with
 *     release; the driver's acquire load of it orders everything above
 *     before what the caller does next (unpin, reuse of the IOVA).
 */
static int wait_locked(struct amd_unit *au)
{
	struct svf_amd_cmd_info cw;
	struct timespec t0, t1;
	uint64_t want = au->sem_val + 1;
	const struct svf_amd_cmd c =
		svf_amd_cmd_completion_wait((uint64_t)(uintptr_t)&au->sem, want);
	bool timed;

	au->sem_val = want;
	queue_locked(au, &c, 0, UINT64_MAX);
	timed = (queued(au) > 1 || au->deferred.count) && svf_reader_others();
	if (timed)
		clock_gettime(CLOCK_MONOTONIC, &t0);
	run_buffer(au, &cw);
	if (cw.s || au->deferred.count) {
		svf_reader_synchronize();
		if (au->deferred.count)
			svf_pt_freelist_release(&au->deferred, &au->pt);
	}
	/* The unit's store (release); the command named the semaphore's address. */
	if (cw.op == SVF_AMD_CMD_COMPLETION_WAIT && cw.store)
		__atomic_store_n((uint64_t *)(uintptr_t)cw.store_addr, cw.store_data,
				 __ATOMIC_RELEASE);
	if (timed) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		svf_drv_ctr_add(&au->wait_sync_ns, (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u +
					       (uint64_t)t1.tv_nsec - (uint64_t)t0.tv_nsec);
	}
	svf_drv_ctr_add(&au->waits, 1);
	svf_drv_ctr_add(&au->modeled_ns, au->cost.wait_ns);
	/* The driver's poll: the unit has stored by now, so one load suffices. */
	if (__atomic_load_n(&au->sem, __ATOMIC_ACQUIRE) != want)
		return -ETIMEDOUT; /* Linux: "Completion-Wait loop timed out" */
	return 0;
}

/* Queue c, a command for a whole domain or unit, taking the unit lock. */
static void queue_cmd(struct amd_unit *au, const struct svf_amd_cmd *c)
{
	unit_lock(au);
	queue_locked(au, c, 0, UINT64_MAX);
	unit_unlock(au);
}

static void defer_pages(struct amd_unit *au, struct svf_pt_freelist *fl)
{
	unit_lock(au);
	svf_pt_freelist_splice(&au->deferred, fl);
	unit_unlock(au);
}

static int amd_domain_init(struct svf_domain *d)
{
	struct amd_unit *au = unit_of(d->unit);
	struct amd_domain *ad;
	struct svf_amd_cmd c;
	int ret;

	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	ad = calloc(1, sizeof(*ad));
	if (!ad)
		return -ENOMEM;
	ret = amd_pt_init(&ad->pt, &au->pt);
	if (ret) {
		free(ad);
		return ret;
	}
	d->priv = ad;
	/* The device table entry now names the root: flush the cached entry. */
	c = svf_amd_cmd_inv_devtab(svf_amd_devid(d));
	unit_lock(au);
	queue_locked(au, &c, 0, UINT64_MAX);
	(void)wait_locked(au);
	unit_unlock(au);
	return 0;
}

static void amd_domain_fini(struct svf_domain *d)
{
	struct amd_unit *au = unit_of(d->unit);
	struct amd_domain *ad = d->priv;
	const struct svf_amd_cmd dte = svf_amd_cmd_inv_devtab(svf_amd_devid(d));
	const struct svf_amd_cmd all =
		svf_amd_cmd_inv_pages(d->id, SVF_AMD_INV_ALL_ADDR | SVF_AMD_INV_S, true);
	uint64_t *root;

	if (!ad)
		return;
	root = amd_pt_detach(&ad->pt); /* the entry is cleared: walks find nothing */
	unit_lock(au);
	queue_locked(au, &dte, 0, UINT64_MAX);
	queue_locked(au, &all, 0, UINT64_MAX);
	(void)wait_locked(au);
	unit_unlock(au);
	svf_reader_synchronize();
	amd_pt_free_tree(root, &au->pt);
	free(ad);
	d->priv = NULL;
}

static int amd_map_pages(struct svf_domain *d, uint64_t iova, uint64_t paddr, uint64_t pgsize,
			 uint64_t pgcount, int prot, uint64_t *mapped)
{
	struct amd_domain *ad = d->priv;
	struct svf_pt_freelist defer = { 0 };
	uint64_t perm = ((prot & SVF_PROT_READ) ? AMD_PTE_IR : 0) |
			((prot & SVF_PROT_WRITE) ? AMD_PTE_IW : 0);
	int ret;

	*mapped = 0;
	if (svf_should_fail(SVF_FAULT_IOMMU_MAP))
		return -EIO;
	if (!pgsize || (pgsize & (pgsize - 1)) || !(pgsize & SVF_AMD_PGSIZES))
		return -EINVAL;
	if (!perm || (prot & ~(SVF_PROT_READ | SVF_PROT_WRITE)))
		return -EINVAL;
	if ((iova | paddr) & (pgsize - 1))
		return -EINVAL;
	if (!pgcount)
		return 0;
	if (!svf_drv_map_fits(iova, paddr, pgsize, pgcount, AMD_APERTURE_LAST, AMD_PHYS_LAST))
		return -EINVAL;
	ret = amd_pt_map(&ad->pt, iova, paddr, pgsize, pgcount, perm, mapped, &defer);
	if (defer.count)
		defer_pages(unit_of(d->unit), &defer);
	return ret;
}

static int amd_unmap_range(struct svf_domain *d, uint64_t iova, uint64_t len, uint64_t *first,
			   uint64_t *unmapped, uint64_t *phys, bool *freed_tables)
{
	struct amd_domain *ad = d->priv;
	struct svf_pt_freelist defer = { 0 };

	*first = iova;
	*unmapped = 0;
	*freed_tables = false;
	if (svf_should_fail(SVF_FAULT_IOMMU_UNMAP))
		return -EIO;
	if (!svf_drv_unmap_fits(iova, len, AMD_APERTURE_LAST))
		return -EINVAL;
	amd_pt_unmap(&ad->pt, iova, iova + len - 1, first, unmapped, phys, &defer);
	if (defer.count) {
		*freed_tables = true;
		defer_pages(unit_of(d->unit), &defer);
	}
	return 0;
}

static int amd_unmap_runs(struct svf_domain *d, uint64_t iova, uint64_t len,
			  struct svf_iommu_run *runs, unsigned max, unsigned *nruns, uint64_t *end)
{
	struct amd_domain *ad = d->priv;
	struct svf_pt_freelist defer = { 0 };

	*nruns = 0;
	*end = iova;
	if (svf_should_fail(SVF_FAULT_IOMMU_UNMAP))
		return -EIO;
	if (!max || !svf_drv_unmap_fits(iova, len, AMD_APERTURE_LAST))
		return -EINVAL;
	*nruns = amd_pt_unmap_runs(&ad->pt, iova, iova + len - 1, runs, max, end, &defer);
	if (defer.count)
		defer_pages(unit_of(d->unit), &defer);
	return 0;
}

static int amd_iova_to_phys(struct svf_domain *d, uint64_t iova, uint64_t *phys,
			    uint64_t *leaf_size, int *prot)
{
	struct amd_domain *ad = d->priv;
	unsigned level, reads;
	uint64_t e, size, perm;
	int slot;

	if (iova > AMD_APERTURE_LAST)
		return -ENOENT;
	slot = svf_reader_slot();
	svf_reader_enter(slot);
	e = amd_pt_walk(&ad->pt, iova, &level, &size, &perm, &reads, NULL);
	svf_reader_exit(slot);
	if (!e)
		return -ENOENT;
	*phys = amd_leaf_base(e, size) + (iova & (size - 1));
	if (leaf_size)
		*leaf_size = size;
	if (prot)
		*prot = ((perm & AMD_PTE_IR) ? SVF_PROT_READ : 0) |
			((perm & AMD_PTE_IW) ? SVF_PROT_WRITE : 0);
	return 0;
}

static int amd_phys_run(struct svf_domain *d, uint64_t iova, uint64_t maxlen, uint64_t *phys,
			uint64_t *len)
{
	struct amd_domain *ad = d->priv;

	return amd_pt_phys_run(&ad->pt, iova, maxlen, phys, len);
}

/* Queue the invalidation of [start, last] of d (unit lock held). */
static void queue_range_locked(struct amd_unit *au, struct svf_domain *d, uint64_t start,
			       uint64_t last)
{
	struct svf_amd_cmd c;

	if (au->covering_inv && !au->np_cache) {
		c = svf_amd_cmd_inv_pages(d->id, svf_amd_inv_address(start, last), true);
		queue_locked(au, &c, start, last);
		return;
	}
	/* One command per naturally aligned block (exact, so S encodes it alone). */
	for (uint64_t addr = start, size = last - start + 1; size;) {
		uint64_t blk = svf_amd_flush_block(addr, size);

		c = svf_amd_cmd_inv_pages(d->id, svf_amd_inv_address(addr, addr + blk - 1), true);
		queue_locked(au, &c, addr, addr + blk - 1);
		addr += blk;
		size -= blk;
	}
}

static int amd_inv_range(struct svf_domain *d, uint64_t start, uint64_t last, bool leaf_only)
{
	struct amd_unit *au = unit_of(d->unit);

	(void)leaf_only; /* Linux sets PDE on every v1 flush; so does this driver */
	if (svf_should_fail(SVF_FAULT_IOMMU_SYNC))
		return -EIO;
	if (start > last || last > AMD_APERTURE_LAST)
		return -EINVAL;
	unit_lock(au);
	queue_range_locked(au, d, start, last);
	unit_unlock(au);
	return 0;
}

static int amd_inv_domain(struct svf_domain *d)
{
	const struct svf_amd_cmd c =
		svf_amd_cmd_inv_pages(d->id, SVF_AMD_INV_ALL_ADDR | SVF_AMD_INV_S, true);

	if (svf_should_fail(SVF_FAULT_IOMMU_SYNC))
		return -EIO;
	queue_cmd(unit_of(d->unit), &c);
	return 0;
}

static int amd_inv_global(struct svf_iommu *u)
{
	const struct svf_amd_cmd c = svf_amd_cmd_inv_all();

	if (svf_should_fail(SVF_FAULT_IOMMU_SYNC))
		return -EIO;
	queue_cmd(unit_of(u), &c);
	return 0;
}

static int amd_wait(struct svf_iommu *u)
{
	struct amd_unit *au = unit_of(u);
	int ret;

	if (svf_should_fail(SVF_FAULT_IOMMU_SYNC))
		return -EIO;
	unit_lock(au);
	ret = wait_locked(au);
	unit_unlock(au);
	return ret;
}

/* NpCache: a map may have left non-present entries cached; flush and wait (Linux). */
static int amd_sync_map(struct svf_domain *d, uint64_t iova, uint64_t len)
{
	struct amd_unit *au = unit_of(d->unit);
	int ret;

	if (!au->np_cache)
		return 0;
	if (svf_should_fail(SVF_FAULT_IOMMU_SYNC))
		return -EIO;
	unit_lock(au);
	queue_range_locked(au, d, iova, iova + len - 1);
	ret = wait_locked(au);
	unit_unlock(au);
	return ret;
}

/*
 * The device path, as VT-d's (vtd/vtd.c): the thread's translation cache,
 * then the IOTLB, then a walk and a fill. The IOTLB caches the largest of
 * its block sizes (4 KiB, 2 MiB, 1 GiB) that lies inside the leaf and holds
 * the address used, so invalidating any page of a large leaf removes what
 * was cached of it. Permissions are enforced: a read needs IR, a write IW.
 */
static unsigned block_code(uint64_t leaf_size)
{
	return leaf_size >= (1ull << 30) ? SVF_TLB_1G : leaf_size >= (1ull << 21) ? SVF_TLB_2M :
										       SVF_TLB_4K;
}

static int amd_translate(struct svf_domain *d, uint64_t iova, int access, uint64_t *phys)
{
	struct amd_unit *au = unit_of(d->unit);
	struct svf_tls *tl = &svf_tls;
	const uint16_t did = d->id;
	struct svf_iotlb_hint hint;
	uint64_t data, g1;
	unsigned code;
	bool cacheable;
	int slot;

	if (!access || (access & ~(SVF_PROT_READ | SVF_PROT_WRITE)))
		return -EINVAL;
	if (iova > AMD_APERTURE_LAST)
		return log_fault(d, iova, access, -ENOENT);
	slot = svf_reader_slot();
	g1 = svf_iotlb_gen(&au->iotlb);
	if (svf_iotlb_lookup_hint(&au->iotlb, did, iova, &data, &code, &hint)) {
		svf_drv_stripe_add(&au->stripes[slot].hits, slot, 1);
		cacheable = !(g1 & 1) && __atomic_load_n(&au->iotlb.gen, __ATOMIC_RELAXED) == g1;
	} else {
		struct amd_domain *ad = d->priv;

		svf_drv_stripe_add(&au->stripes[slot].misses, slot, 1);
		for (;;) {
			unsigned level, reads;
			uint64_t e, size, perm, blk;

			svf_reader_enter(slot);
			e = amd_pt_walk(&ad->pt, iova, &level, &size, &perm, &reads, NULL);
			svf_reader_exit(slot);
			svf_drv_stripe_add(&au->stripes[slot].walk_reads, slot, reads);
			if (!e)
				return log_fault(d, iova, access, -ENOENT);
			code = block_code(size);
			blk = svf_tlb_size(code);
			data = (amd_leaf_base(e, size) + ((iova & ~(blk - 1)) & (size - 1))) |
			       ((perm & AMD_PTE_IR) ? SVF_TLB_R : 0) |
			       ((perm & AMD_PTE_IW) ? SVF_TLB_W : 0);
			if (!svf_iotlb_fill_hint(&au->iotlb, did, iova, code, data, g1, &hint, &data))
				break;
			g1 = svf_iotlb_gen(&au->iotlb);
		}
		cacheable = !(g1 & 1);
	}
	if ((uint64_t)access & ~(data & (SVF_TLB_R | SVF_TLB_W)))
		return log_fault(d, iova, access, -EACCES);
	if (cacheable && slot < SVF_READER_SLOTS) /* a shared slot never hits */
		svf_tcache_fill(tl, slot, d->serial, &au->iotlb.gen, g1, &au->stripes[slot].hits,
				svf_tlb_shift(code), iova, data);
	*phys = (data & SVF_TLB_ADDR_MASK) + (iova & (svf_tlb_size(code) - 1));
	return 0;
}


static void amd_dma_begin(struct svf_domain *d)
{
	(void)d;
	svf_reader_enter(svf_reader_slot());
}

static void amd_dma_end(struct svf_domain *d)
{
	(void)d;
	svf_reader_exit(svf_tls.slot);
}

/* An IOTLB entry the page table still backs is another mapping's live one. */
static bool still_mapped(void *arg, uint16_t did, uint64_t iova, uint64_t pa)
{
	struct svf_domain *d = arg;
	struct amd_domain *ad = d->priv;
	unsigned level, reads;
	uint64_t e, size, perm;
	int slot;

	if (did != d->id)
		return false;
	slot = svf_reader_slot();
	svf_reader_enter(slot);
	e = amd_pt_walk(&ad->pt, iova, &level, &size, &perm, &reads, NULL);
	svf_reader_exit(slot);
	return e && amd_leaf_base(e, size) + (iova & (size - 1)) == pa;
}

/*
 * Whether a queued invalidation could still concern d's [start, last]: one
 * queued for IOVAs of d (or of every domain) that meet it, compared by the
 * IOVAs it was issued for, not by the block it names (see span).
 */
static bool pending_overlaps(const struct amd_unit *au, uint16_t did, uint64_t start,
			     uint64_t last)
{
	for (uint64_t i = au->head; i < au->tail; i++) {
		const uint64_t *sp = au->span[i & (au->cap - 1)];
		struct svf_amd_cmd_info ci;

		svf_amd_cmd_decode(cmd_slot(au, i), &ci);
		if (ci.op != SVF_AMD_CMD_INV_IOMMU_ALL && ci.op != SVF_AMD_CMD_INV_IOMMU_PAGES)
			continue;
		if (ci.op == SVF_AMD_CMD_INV_IOMMU_PAGES && ci.domid != did)
			continue;
		if (sp[0] <= last && sp[1] >= start)
			return true;
	}
	return false;
}

static bool amd_unpin_safe(struct svf_domain *d, uint64_t iova, uint64_t phys, uint64_t len)
{
	struct amd_unit *au = unit_of(d->unit);
	struct amd_domain *ad = d->priv;
	uint64_t last, plast;
	bool busy;
	int slot;

	if (!len)
		return true;
	last = iova + len - 1 < iova ? UINT64_MAX : iova + len - 1;
	plast = phys + len - 1 < phys ? UINT64_MAX : phys + len - 1;
	slot = svf_reader_slot();
	svf_reader_enter(slot);
	busy = amd_pt_any_mapped(&ad->pt, iova, last);
	svf_reader_exit(slot);
	if (busy)
		return false;
	if (svf_iotlb_covers(&au->iotlb, d->id, iova, last, phys, plast, still_mapped, d))
		return false;
	unit_lock(au);
	busy = pending_overlaps(au, d->id, iova, last);
	unit_unlock(au);
	return !busy;
}

static void amd_add_stats(const struct svf_iommu *u, struct svf_stats *s)
{
	const struct amd_unit *au = unit_of(u);

	s->inv_page += svf_drv_ctr_read(&au->inv_page);
	s->inv_domain += svf_drv_ctr_read(&au->inv_domain);
	s->inv_global += svf_drv_ctr_read(&au->inv_global);
	s->inv_devtab += svf_drv_ctr_read(&au->inv_devtab);
	s->waits += svf_drv_ctr_read(&au->waits);
	s->wait_sync_ns += svf_drv_ctr_read(&au->wait_sync_ns);
	s->modeled_ns += svf_drv_ctr_read(&au->modeled_ns);
	svf_drv_add_common_stats(s, au->stripes, &au->iotlb, &au->pt, au->cost.walk_level_ns);
}

/*
 * What Linux reports on AMD (amd_iommu_get_resv_regions): the MSI window
 * and the HyperTransport window just below 1 TiB, reserved whenever the
 * IOVA space reaches it.
 */
static int amd_resv_regions(const struct svf_domain *d, struct svf_resv_region *r, size_t max,
			    size_t *nr)
{
	static const struct svf_resv_region regions[] = {
		{ .start = SVF_AMD_MSI_START, .last = SVF_AMD_MSI_LAST, .what = "msi" },
		{ .start = SVF_AMD_HT_START, .last = SVF_AMD_HT_LAST, .what = "ht" },
	};

	(void)d;
	for (size_t i = 0; i < 2 && i < max; i++)
		r[i] = regions[i];
	*nr = 2;
	return 0;
}

int svf_amd_read_events(struct svf_iommu *u, struct svf_amd_event *out, size_t max, size_t *nr,
			bool *overflow)
{
	struct amd_unit *au = unit_of(u);
	size_t k = 0;

	ev_lock(au);
	for (; k < max && au->ev_len; k++, au->ev_len--) {
		out[k] = au->events[au->ev_head];
		au->ev_head = (au->ev_head + 1) % SVF_AMD_EVENT_DEPTH;
	}
	if (overflow)
		*overflow = au->ev_overflow;
	au->ev_overflow = false;
	ev_unlock(au);
	*nr = k;
	return 0;
}

/* The oldest unread event as Linux's line (svf_iommu_fault_log_read). */
static int amd_fault_log_read(struct svf_iommu *u, char *buf, size_t len, size_t *n)
{
	struct svf_amd_event e;
	size_t nr;

	svf_amd_read_events(u, &e, 1, &nr, NULL);
	if (!nr)
		return -ENOENT;
	return svf_amd_event_format(&e, false, buf, len, n);
}

const struct svf_iommu_ops svf_amd_ops = {
	.name = "amd",
	.pgsize_bitmap = SVF_AMD_PGSIZES,
	.ias_bits = AMD_IAS_BITS,
	.default_config = amd_default_config,
	.unit_init = amd_unit_init,
	.unit_fini = amd_unit_fini,
	.domain_init = amd_domain_init,
	.domain_fini = amd_domain_fini,
	.map_pages = amd_map_pages,
	.sync_map = amd_sync_map,
	.unmap_range = amd_unmap_range,
	.unmap_runs = amd_unmap_runs,
	.phys_run = amd_phys_run,
	.read_clear_dirty = NULL, /* HD bits are not emulated: Linux's software mode */
	.iova_to_phys = amd_iova_to_phys,
	.inv_range = amd_inv_range,
	.inv_domain = amd_inv_domain,
	.inv_global = amd_inv_global,
	.wait = amd_wait,
	.translate = amd_translate,
	.dma_begin = amd_dma_begin,
	.dma_end = amd_dma_end,
	.unpin_safe = amd_unpin_safe,
	.add_stats = amd_add_stats,
	.resv_regions = amd_resv_regions,
	.fault_log_read = amd_fault_log_read,
};

/* ---- test introspection (amd.h) ---- */

unsigned svf_amd_iotlb_count(const struct svf_iommu *u)
{
	return svf_iotlb_count(&unit_of(u)->iotlb);
}

int svf_amd_iotlb_peek(const struct svf_iommu *u, uint16_t domid, uint64_t iova, uint64_t *phys,
		       uint64_t *block, int *prot)
{
	uint64_t p, size, data;

	if (iova > AMD_APERTURE_LAST ||
	    svf_drv_iotlb_peek(&unit_of(u)->iotlb, domid, iova, &p, &size, &data))
		return -ENOENT;
	if (phys)
		*phys = p;
	if (block)
		*block = size;
	if (prot)
		*prot = (int)(data & (SVF_TLB_R | SVF_TLB_W));
	return 0;
}

uint64_t svf_amd_cmd_logged(const struct svf_iommu *u)
{
	return __atomic_load_n(&unit_of(u)->tail, __ATOMIC_RELAXED);
}

int svf_amd_cmd_log(const struct svf_iommu *u, uint64_t n, struct svf_amd_cmd *out)
{
	struct amd_unit *au = unit_of(u);
	int ret = -ENOENT;

	unit_lock(au);
	if (n < au->tail && au->tail - n <= SVF_AMD_LOG_DEPTH) {
		*out = *cmd_slot(au, n);
		ret = 0;
	}
	unit_unlock(au);
	return ret;
}

unsigned svf_amd_pending_cmds(const struct svf_iommu *u)
{
	struct amd_unit *au = unit_of(u);
	unsigned n;

	unit_lock(au);
	n = queued(au);
	unit_unlock(au);
	return n;
}

void svf_amd_semaphore(const struct svf_iommu *u, uint64_t *now, uint64_t *waited)
{
	struct amd_unit *au = unit_of(u);

	unit_lock(au);
	*now = __atomic_load_n(&au->sem, __ATOMIC_ACQUIRE);
	*waited = au->sem_val;
	unit_unlock(au);
}

uint64_t svf_amd_deferred_pages(const struct svf_iommu *u)
{
	struct amd_unit *au = unit_of(u);
	uint64_t n;

	unit_lock(au);
	n = au->deferred.count;
	unit_unlock(au);
	return n;
}

int svf_amd_leaf(struct svf_domain *d, uint64_t iova, uint64_t *pte, unsigned *level,
		 uint64_t *size, unsigned *replicas)
{
	struct amd_domain *ad = d->priv;
	unsigned reads;
	uint64_t perm;
	int slot;

	if (iova > AMD_APERTURE_LAST)
		return -ENOENT;
	slot = svf_reader_slot();
	svf_reader_enter(slot);
	*pte = amd_pt_walk(&ad->pt, iova, level, size, &perm, &reads, NULL);
	svf_reader_exit(slot);
	if (!*pte)
		return -ENOENT;
	*replicas = (unsigned)(*size >> amd_level_shift(*level));
	return 0;
}

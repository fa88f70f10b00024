/* SPDX-License-Identifier: MIT */
/*
 * The library's test interface: calls that exist so that tests can make
 * operations fail, look inside and check whole structures. They are not the
 * user's contract: this header is not installed and its functions are not
 * exported by the shared library (src/libsoftvfio.map lists exactly the
 * public functions). The tests link the static library, which has them.
 *
 * The unpin check (svf_iommu_check_unpin) is here too: the container calls
 * it before every unpin, and it only does work on a unit created with
 * svf_iommu_config.check_unpin, the check mode tests and `softvfio replay
 * --check-unpin` turn on.
 *
 * None of these calls changes what it looks at, except that the unpin check
 * counts a violation (invariant_violations) and the fault calls arm the seam.
 */
#ifndef SVF_BASE_SVF_TEST_H
#define SVF_BASE_SVF_TEST_H

#include <stdbool.h>
#include <stdint.h>

#include "fault.h"

#ifdef __cplusplus
extern "C" {
#endif

struct svf_container;
struct svf_domain;
struct svf_pinner;

/*
 * Fault injection (fault.h). Arm the seam: the nth point reached from now
 * (n >= 1) fails, counting only points whose site bit (1u << enum
 * svf_fault_site) is set in site_mask (0 means every site). Resets the count
 * of points passed. Returns 0, -EINVAL (nth == 0), or -ENOTSUP when built
 * without fault injection (-Dfault_injection=false).
 */
int svf_fault_arm(uint64_t nth, uint32_t site_mask);
/* Disarm. Returns true when the armed point fired since svf_fault_arm(). */
bool svf_fault_disarm(void);
/* Points passed since the last svf_fault_arm() (counting is on only while armed). */
uint64_t svf_fault_points_passed(void);

/*
 * Whole-structure consistency check of a container: mapping tree ordered
 * and disjoint, every page of every mapping translated in every domain to
 * its pinned frame with the mapping's permissions, pin and locked-memory
 * totals equal to what the mappings and the pending list hold. Takes the
 * container lock. Returns 0, or -EUCLEAN after logging the first finding
 * (svf_set_log_fn).
 */
int svf_container_check(struct svf_container *c);
/*
 * Flush what a deferring policy (lazy) holds queued now, as its timer would
 * (one sync, then the queued regions unpinned), without counting a timer
 * flush: tests compare a lazy container with the others at a point of
 * their choosing. Takes the container lock. 0, or the sync's errno (the
 * regions stay queued and pinned).
 */
int svf_container_flush(struct svf_container *c);
/* Mappings the container holds now. Takes the container lock. */
unsigned svf_container_nr_mappings(struct svf_container *c);
/* Pins held by emulated devices in c now, in pages. Takes the container lock. */
uint64_t svf_container_external_pins(struct svf_container *c);

/* Pin reference count of the page at phys (0: not pinned, or the synthetic backend). */
uint64_t svf_pinner_refcount(struct svf_pinner *p, uint64_t phys);
/*
 * 2 MiB units the process backend keeps as one pin entry now (huge pages
 * pinned whole); 0 for the synthetic backend. Takes the pinner lock.
 */
uint64_t svf_pinner_whole_units(struct svf_pinner *p);
/*
 * The process backend's lock granules (2 MiB kept mlocked for small
 * requests, pin_process.c): how many are cached now; with max >= 0, first
 * let at most max be cached (0: none, small requests lock exactly), evicting
 * the rest. 0 for the synthetic backend. Takes the pinner lock.
 */
unsigned svf_pinner_lock_cache(struct svf_pinner *p, int max);
/* Pages pinned now (sum of references) and locked-memory bytes charged now. */
uint64_t svf_pinner_pinned_pages(const struct svf_pinner *p);
uint64_t svf_pinner_locked_bytes(const struct svf_pinner *p);

/*
 * The unpin check: true when no IOTLB entry of d's unit, no page-table
 * entry of d for [iova, iova+len), and no invalidation queued but not yet
 * waited for could still translate to the pages [phys, phys+len). When
 * false it counts a violation (invariant_violations) and logs it. Does work
 * only when the unit was created with check_unpin (true otherwise).
 */
bool svf_iommu_check_unpin(struct svf_domain *d, uint64_t iova, uint64_t phys, uint64_t len);
/* Whether d's unit verifies unpins (so callers can skip the per-region call). */
bool svf_iommu_checks_unpin(const struct svf_domain *d);

#ifdef __cplusplus
}
#endif
#endif

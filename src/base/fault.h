/* SPDX-License-Identifier: MIT */
/*
 * The fault-injection seam: one for every allocation, pin and driver
 * operation of the library. Internal: not installed; the calls that arm it
 * are in svf_test.h.
 *
 * Every fallible step inside softvfio asks svf_should_fail(site) first and,
 * when it answers true, fails exactly as the real operation would (ENOMEM for
 * an allocation, the driver's errno for a driver operation). A test arms the
 * seam with "fail the Nth point from now" and walks N = 1, 2, ... until a
 * scenario runs with no point fired, checking the invariants after each run.
 *
 * Built with -Dfault_injection=false the seam compiles to a constant false
 * and costs nothing. With it on (the default, so tests can walk it), an
 * unarmed seam costs one relaxed atomic load.
 *
 * Threading: the counter is a process-wide atomic. Arm it only while no
 * device thread is running, or expect device-side points to be counted too.
 */
#ifndef SVF_BASE_FAULT_H
#define SVF_BASE_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sites, for counting and for tests that target one kind of point. */
enum svf_fault_site {
	SVF_FAULT_ALLOC = 0,    /* any heap allocation */
	SVF_FAULT_PIN,          /* pinning one run of pages */
	SVF_FAULT_IOMMU_MAP,    /* driver map of one run */
	SVF_FAULT_IOMMU_UNMAP,  /* driver unmap (fast or waiting) */
	SVF_FAULT_IOMMU_SYNC,   /* driver iotlb sync / wait */
	SVF_FAULT_PT_ALLOC,     /* page-table page allocation */
	SVF_FAULT_COPY,         /* copy to or from the caller's buffers */
	SVF_FAULT_NR_SITES,
};

#if defined(SOFTVFIO_FAULT_INJECTION) && SOFTVFIO_FAULT_INJECTION
bool svf_fault_hit(enum svf_fault_site site);
extern int svf_fault_armed_flag;

/* True when this point must fail. Cheap when nothing is armed. */
static inline bool svf_should_fail(enum svf_fault_site site)
{
	if (__builtin_expect(__atomic_load_n(&svf_fault_armed_flag, __ATOMIC_RELAXED) == 0, 1))
		return false;
	return svf_fault_hit(site);
}
#else
static inline bool svf_should_fail(enum svf_fault_site site)
{
	(void)site;
	return false;
}
#endif

#ifdef __cplusplus
}
#endif
#endif

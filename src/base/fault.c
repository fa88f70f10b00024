/* SPDX-License-Identifier: MIT */
/*
 * The fault-injection seam (see fault.h; armed through svf_test.h).
 *
 * State is three process-wide atomics: whether the seam is armed, the number
 * of the point that must fail, and the number of points passed. A point
 * "fires" at most once per arming, so a walk over N sees exactly one failure.
 */
#include <errno.h>

#include "fault.h"
#include "svf_test.h"

#if defined(SOFTVFIO_FAULT_INJECTION) && SOFTVFIO_FAULT_INJECTION

int svf_fault_armed_flag;
static uint64_t fault_nth;
static uint64_t fault_passed;
static uint32_t fault_mask;
static int fault_fired;

bool svf_fault_hit(enum svf_fault_site site)
{
	uint32_t mask = __atomic_load_n(&fault_mask, __ATOMIC_RELAXED);

	if (mask && !(mask & (1u << site)))
		return false;
	uint64_t n = __atomic_add_fetch(&fault_passed, 1, __ATOMIC_RELAXED);
	if (n != __atomic_load_n(&fault_nth, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(&fault_fired, 1, __ATOMIC_RELAXED);
	return true;
}

int svf_fault_arm(uint64_t nth, uint32_t site_mask)
{
	if (nth == 0)
		return -EINVAL;
	__atomic_store_n(&fault_nth, nth, __ATOMIC_RELAXED);
	__atomic_store_n(&fault_mask, site_mask, __ATOMIC_RELAXED);
	__atomic_store_n(&fault_passed, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fault_fired, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&svf_fault_armed_flag, 1, __ATOMIC_RELEASE);
	return 0;
}

bool svf_fault_disarm(void)
{
	__atomic_store_n(&svf_fault_armed_flag, 0, __ATOMIC_RELEASE);
	return __atomic_load_n(&fault_fired, __ATOMIC_RELAXED) != 0;
}

uint64_t svf_fault_points_passed(void)
{
	return __atomic_load_n(&fault_passed, __ATOMIC_RELAXED);
}

#else

int svf_fault_arm(uint64_t nth, uint32_t site_mask)
{
	(void)nth;
	(void)site_mask;
	return -ENOTSUP;
}

bool svf_fault_disarm(void)
{
	return false;
}

uint64_t svf_fault_points_passed(void)
{
	return 0;
}

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The example VMM session bundled in the softvfio command (see session.h).
 * Kept byte for byte equal to tests/traces/vmm-session.trace: run_traces.sh
 * compares `softvfio run --show-trace` with it, and `softvfio run --session`
 * with vmm-session.expected.
 */
#include "session.h"

const char svf_session_trace[] =
	"# A VMM session, as QEMU drives a type1 container for an assigned device:\n"
	"# guest RAM and ROM come from one arena (the guest's memory) and IOVAs are\n"
	"# guest physical addresses. Replayed by `softvfio run --session`.\n"
	"arena 64M\n"
	"info                                # what the IOMMU offers before anything is mapped\n"
	"map 0x0 0xa0000 0 rw                # guest RAM below the legacy VGA window (640 KiB)\n"
	"map 0xc0000 0x20000 0xc0000 r       # option ROM: the device may only read it\n"
	"map 0x100000 3M 0x100000 rw         # guest RAM from 1 MiB up\n"
	"map 0x100000 4K 0x100000 rw         # the same IOVA a second time: EEXIST\n"
	"map 0x80000 0x40000 0x80000 rw      # overlaps the RAM below 640 KiB: EEXIST\n"
	"map 0x400000 4K 0x400000 -          # neither read nor write: EINVAL\n"
	"map 0xfee00000 4K 0x800000 rw       # the x86 MSI window is reserved: EINVAL\n"
	"map 0x100000000 2M 0x1000000 rw     # RAM above 4 GiB\n"
	"map 0x200000000 64K 0x2000000 w     # a NIC's receive ring: the device only writes\n"
	"map 0x200010000 64K 64M rw          # past the arena, in its guard: EFAULT\n"
	"info                                # five mappings live\n"
	"unmap 0x140000 64K                  # a balloon page inside RAM bisects it: EINVAL\n"
	"unmap 0xc0000 0x20000               # the option ROM goes away\n"
	"unmap 0x0 0x200000                  # ends inside the RAM from 1 MiB: EINVAL\n"
	"unmap 0x100000000 2M                # a DIMM is unplugged\n"
	"unmap 0x300000000 1G                # nothing is mapped there: size 0\n"
	"info\n"
	"unmap 0 0 all                       # the VMM shuts down\n"
	"info\n";

const size_t svf_session_trace_len = sizeof(svf_session_trace) - 1;

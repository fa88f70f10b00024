#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The exec tests: `softvfio exec` and its preload library around real
# programs.
#
#   run_exec.sh SOFTVFIO EXEC_BASIC EXEC_DEVICES
#
# EXEC_BASIC and EXEC_DEVICES are tests/exec/*.c (libc and <linux/vfio.h>
# only): their own checks must pass under exec. Around it: exit status and signals pass
# through, --stats is written at exit and on a fatal signal, --sysfs keeps
# a tree and the temporary one goes, usage errors, device specs.
# Prints one line per check and "N passed, M failed" last.
set -u

if [ $# -ne 3 ]; then
	echo "usage: $0 SOFTVFIO EXEC_BASIC EXEC_DEVICES" >&2
	exit 2
fi
bin=$1
basic=$2
devices=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

# The program's own checks, with the default device and with another one.
if "$bin" exec --stats "$tmp/basic.json" -- "$basic" >"$tmp/out" 2>"$tmp/err"; then
	ok "exec-basic ($(tail -n 1 "$tmp/out"))"
else
	bad "exec-basic" "$(grep FAIL "$tmp/out"; cat "$tmp/err")"
fi
if "$bin" exec --device edu,bdf=0000:00:05.0,group=7 -- "$basic" 0000:00:05.0 7 \
	>"$tmp/out" 2>"$tmp/err"; then
	ok "exec-basic-device-spec"
else
	bad "exec-basic-device-spec" "$(grep FAIL "$tmp/out"; cat "$tmp/err")"
fi

# Groups, device fds, memory given back while mapped for DMA (through libc,
# and by the raw system call, which the device survives); the mapping left
# at exit is released by exec, every page unpinned.
if "$bin" exec --stats "$tmp/dev.json" -- "$devices" >"$tmp/out" 2>"$tmp/err" &&
	python3 - "$tmp/dev.json" <<'PY' 2>"$tmp/diff" &&
import json, sys
s = json.load(open(sys.argv[1]))
t = s["stats"]
assert s["released_at_exit"]["containers"] == 1, s["released_at_exit"]
assert t["pages_pinned"] == t["pages_unpinned"] and t["pinned_now"] == 0, t
# The raw munmap's two accesses: failed as faults, counted, one log line;
# one read of an address nothing maps, the fault that wakes /dev/kmsg's poll;
# one write into memory mapped read-only.
assert t["dma_requests"] >= 10 and t["dma_faults"] == 4 and t["dma_vanished"] == 2, t
PY
	[ "$(grep -c 'without svf_pinner_release' "$tmp/err")" = 1 ]; then
	ok "exec-devices ($(tail -n 1 "$tmp/out"))"
else
	bad "exec-devices" "$(grep FAIL "$tmp/out"; cat "$tmp/err" "$tmp/diff")"
fi
# The same program behind an emulated AMD-Vi unit: its faults in /dev/kmsg
# as AMD-Vi's event lines, the device's iommu link to the AMD-Vi unit.
if "$bin" exec --driver amd --stats "$tmp/amd.json" -- "$devices" amd >"$tmp/out" 2>"$tmp/err" &&
	python3 - "$tmp/amd.json" <<'PY' 2>"$tmp/diff"; then
import json, sys
t = json.load(open(sys.argv[1]))["stats"]
assert t["dma_faults"] == 4 and t["pinned_now"] == 0, t
PY
	ok "exec-devices-amd ($(tail -n 1 "$tmp/out"))"
else
	bad "exec-devices-amd" "$(grep FAIL "$tmp/out"; cat "$tmp/err" "$tmp/diff")"
fi
if "$bin" exec --driver amd -- sh -c 'readlink /sys/bus/pci/devices/0000:00:03.0/iommu;
	ls /sys/bus/pci/devices/0000:00:03.0/iommu/intel-iommu 2>/dev/null; true' >"$tmp/out" 2>&1 &&
	[ "$(cat "$tmp/out")" = "../../virtual/iommu/ivhd0" ] &&
	"$bin" exec -- sh -c 'cat /sys/bus/pci/devices/0000:00:03.0/iommu/intel-iommu/cap' \
	>"$tmp/out2" 2>&1 && [ -s "$tmp/out2" ]; then
	ok "sysfs-iommu-per-driver"
else
	bad "sysfs-iommu-per-driver" "$(cat "$tmp/out" "$tmp/out2")"
fi

# --stats: JSON with the container counters; everything released.
if python3 - "$tmp/basic.json" <<'PY' 2>"$tmp/diff"; then
import json, sys
s = json.load(open(sys.argv[1]))
assert s["containers"] >= 8, s["containers"]
assert s["requests"] > 0 and s["unknown_requests"] == 0, s
assert s["foreign_requests"] == 0, s  # the children's requests are theirs
assert s["stats"]["pinned_now"] == 0 and s["stats"]["locked_bytes"] == 0, s["stats"]
PY
	ok "stats-json"
else
	bad "stats-json" "$(cat "$tmp/diff")"
fi

# The program's exit status is exec's; a signal gives 128 + N.
"$bin" exec -- sh -c 'exit 3' 2>/dev/null
st=$?
[ $st -eq 3 ] && ok "exit-status" || bad "exit-status" "got $st, want 3"
"$bin" exec --stats "$tmp/sig.json" -- "$basic" signal 2>/dev/null
st=$?
[ $st -eq 143 ] && ok "signal-status" || bad "signal-status" "got $st, want 143"
# ... and the stats are written when a catchable signal ends the program.
if [ -s "$tmp/sig.json" ] && python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))
assert s["containers"] == 1 and s["released_at_exit"]["containers"] == 1, s' \
	"$tmp/sig.json" 2>/dev/null; then
	ok "stats-on-signal"
else
	bad "stats-on-signal" "no JSON in --stats after SIGTERM"
fi

# PROGRAM that does not exist: 127; a usage error: 2, nothing run.
"$bin" exec -- /nonexistent/program 2>/dev/null
st=$?
[ $st -eq 127 ] && ok "no-program" || bad "no-program" "got $st, want 127"
"$bin" exec --device edu,bdf=zz -- true 2>"$tmp/err"
st=$?
if [ $st -eq 2 ] && grep -q "bdf" "$tmp/err"; then ok "bad-device"; else bad "bad-device" "status $st"; fi
"$bin" exec --device edu,bdf=0000:00:03.0 --device edu,bdf=00:03.0 -- true 2>/dev/null
st=$?
[ $st -eq 2 ] && ok "duplicate-bdf" || bad "duplicate-bdf" "got $st, want 2"
"$bin" exec --policy nope -- true 2>/dev/null
st=$?
[ $st -eq 2 ] && ok "bad-policy" || bad "bad-policy" "got $st, want 2"
"$bin" exec --driver arm -- true 2>"$tmp/err"
st=$?
if [ $st -eq 2 ] && grep -q "unknown IOMMU driver 'arm'" "$tmp/err"; then
	ok "bad-driver"
else
	bad "bad-driver" "status $st: $(cat "$tmp/err")"
fi
"$bin" exec --driver amd --hw-dirty -- true 2>"$tmp/err"
st=$?
if [ $st -eq 2 ] && grep -q "needs --driver vtd" "$tmp/err"; then
	ok "hw-dirty-needs-vtd"
else
	bad "hw-dirty-needs-vtd" "status $st: $(cat "$tmp/err")"
fi
# The preload library refuses a driver it does not know: the VFIO nodes are off.
"$bin" exec -- env SOFTVFIO_DRIVER=arm sh -c 'cat /dev/vfio/vfio' >/dev/null 2>"$tmp/err"
st=$?
if [ $st -ne 0 ] && grep -q "SOFTVFIO_DRIVER: unknown IOMMU driver 'arm'" "$tmp/err"; then
	ok "preload-bad-driver"
else
	bad "preload-bad-driver" "status $st: $(cat "$tmp/err")"
fi
"$bin" exec 2>/dev/null
st=$?
[ $st -eq 2 ] && ok "no-args" || bad "no-args" "got $st, want 2"
"$bin" exec --help | grep -q -- "--record FILE" && ok "help" || bad "help" "no --record in --help"

# Two devices: each its own group, the second at the next slot.
if "$bin" exec --device edu --device edu -- sh -c \
	'readlink /sys/bus/pci/devices/0000:00:04.0/iommu_group' >"$tmp/out" 2>"$tmp/err" &&
	grep -qx '../../../kernel/iommu_groups/1' "$tmp/out"; then
	ok "two-devices"
else
	bad "two-devices" "$(cat "$tmp/out" "$tmp/err")"
fi

# --sysfs DIR stays after exit; the temporary tree is removed.
if "$bin" exec --sysfs "$tmp/sys" -- true && [ -f "$tmp/sys/bus/pci/devices/0000:00:03.0/vendor" ]; then
	ok "sysfs-dir-kept"
else
	bad "sysfs-dir-kept" "no $tmp/sys/bus/pci/devices/0000:00:03.0/vendor"
fi
d=$(TMPDIR=$tmp "$bin" exec -- sh -c 'echo $SOFTVFIO_SYSFS')
if [ -n "$d" ] && [ "${d#"$tmp"/}" != "$d" ] && [ ! -e "$d" ]; then
	ok "sysfs-temp-removed"
else
	bad "sysfs-temp-removed" "'$d' (exists: $([ -e "$d" ] && echo yes || echo no))"
fi

# Ordinary files and fds pass through untouched.
if "$bin" exec -- sh -c 'echo hi >'"$tmp"'/f && cat '"$tmp"'/f && ls /proc/self/fd >/dev/null' \
	>"$tmp/out" 2>&1 && grep -qx hi "$tmp/out"; then
	ok "pass-through"
else
	bad "pass-through" "$(cat "$tmp/out")"
fi

# The benchmark runs and prints its rows (structure only: no figure is checked).
if "$bin" bench-exec --iters 200 --reps 1 >"$tmp/out" 2>"$tmp/err" &&
	grep -q "^  GET_API_VERSION " "$tmp/out" && grep -q "^  read 1 byte /dev/zero " "$tmp/out"; then
	ok "bench-exec"
else
	bad "bench-exec" "$(cat "$tmp/out" "$tmp/err")"
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

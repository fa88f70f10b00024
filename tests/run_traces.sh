#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The trace tests: replay every vfio-trace in TRACES_DIR and compare.
#
#   run_traces.sh SOFTVFIO TRACES_DIR
#
#   NAME.trace      `softvfio replay --backend process --driver D NAME.trace`
#                   must exit 0, print nothing on stderr, and print exactly
#                   NAME.expected, for D = vtd and D = amd.
#   NAME.D.expected optional: driver D's expectation where its hardware
#                   answers differently (page sizes, reserved IOVA ranges,
#                   dirty bits); it may differ from NAME.expected only there.
#   NAME.args       optional: extra replay options for NAME.trace, on one line.
#   NAME.err.trace  a syntax error: exit status 2, nothing on stdout (nothing
#                   ran), and stderr exactly NAME.err.expected.
#
# Also checked: a trace read from standard input, the --stats JSON, that the
# session embedded in `softvfio run` is tests/traces/vmm-session.trace, and
# that `softvfio run --session` replays it.
# Prints one line per check and a last line "N passed, M failed"; the exit
# status is non-zero when anything failed.
#
# The process backend really locks what a trace maps; the traces keep under
# 8 MiB at a time, and the soft RLIMIT_MEMLOCK is raised to the hard one.
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 SOFTVFIO TRACES_DIR" >&2
	exit 2
fi
bin=$1
dir=$2
if [ ! -x "$bin" ]; then
	echo "$0: $bin is not executable" >&2
	exit 2
fi
ulimit -l unlimited 2>/dev/null || ulimit -l "$(ulimit -H -l)" 2>/dev/null || true
memlock=$(ulimit -l)
if [ "$(id -u)" != 0 ] && [ "$memlock" != unlimited ] && [ "$memlock" -lt 8192 ]; then
	echo "note: RLIMIT_MEMLOCK is $memlock KiB and cannot be raised; the traces lock" \
		"up to 6 MiB at a time, so expect ENOMEM where they map (raise ulimit -l)" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() {
	echo "PASS $1"
	pass=$((pass + 1))
}

bad() {
	echo "FAIL $1: $2"
	fail=$((fail + 1))
}

# check_trace TRACE: replay it and compare with its .expected file
check_trace() {
	local t=$1 name status
	name=$(basename "$t" .trace)
	case $name in
	*.err)
		"$bin" replay --backend process "$t" >"$tmp/out" 2>"$tmp/err"
		status=$?
		if [ ! -f "$dir/$name.expected" ]; then
			bad "$name" "no $name.expected"
		elif [ $status -ne 2 ]; then
			bad "$name" "exit status $status, expected 2"
			cat "$tmp/err"
		elif [ -s "$tmp/out" ]; then
			bad "$name" "printed results although the trace has a syntax error"
			cat "$tmp/out"
		elif ! diff -u "$dir/$name.expected" "$tmp/err" >"$tmp/diff"; then
			bad "$name" "stderr differs"
			cat "$tmp/diff"
		else
			ok "$name"
		fi
		;;
	*)
		# NAME.args, when present, holds extra replay options (one line).
		local -a extra=()
		if [ -f "$dir/$name.args" ]; then
			read -r -a extra <"$dir/$name.args"
		fi
		local drv exp label
		for drv in vtd amd; do
			# NAME.DRIVER.expected: where that driver's hardware answers
			# differently (page sizes, reserved ranges, dirty bits).
			exp=$dir/$name.expected
			[ -f "$dir/$name.$drv.expected" ] && exp=$dir/$name.$drv.expected
			label=$name
			[ $drv = vtd ] || label="$name@$drv"
			"$bin" replay --backend process --driver $drv "${extra[@]}" "$t" \
				>"$tmp/out" 2>"$tmp/err"
			status=$?
			if [ ! -f "$exp" ]; then
				bad "$label" "no $(basename "$exp")"
			elif [ $status -ne 0 ]; then
				bad "$label" "exit status $status"
				cat "$tmp/err"
			elif ! diff -u "$exp" "$tmp/out" >"$tmp/diff"; then
				bad "$label" "results differ (--- expected, +++ softvfio)"
				cat "$tmp/diff"
			elif [ -s "$tmp/err" ]; then
				bad "$label" "unexpected output on stderr"
				cat "$tmp/err"
			else
				ok "$label"
			fi
		done
		# A driver's own expectations differ from the common ones only on
		# lines where the hardware does: info (page sizes, IOVA ranges) and,
		# with hardware dirty tracking, the dirty bitmaps.
		if [ -f "$dir/$name.amd.expected" ]; then
			local allowed='^[-+]L[0-9]+ info '
			case " ${extra[*]} " in *" --hw-dirty "*) allowed='^[-+]L[0-9]+ (info|dirty|unmap) ' ;; esac
			if diff "$dir/$name.expected" "$dir/$name.amd.expected" | grep '^[<>]' |
				sed 's/^< /-/; s/^> /+/' | grep -Ev "$allowed" >"$tmp/diff"; then
				bad "$name.amd.expected" "differs from $name.expected beyond the hardware's answers"
				cat "$tmp/diff"
			else
				ok "$name.amd.expected"
			fi
		fi
		;;
	esac
}

shopt -s nullglob
traces=("$dir"/*.trace)
if [ ${#traces[@]} -eq 0 ]; then
	echo "$0: no traces in $dir" >&2
	exit 2
fi
for t in "${traces[@]}"; do
	check_trace "$t"
done

# The same trace from standard input.
if "$bin" replay - <"$dir/spec-example.trace" >"$tmp/out" 2>"$tmp/err" &&
	diff -u "$dir/spec-example.expected" "$tmp/out" >"$tmp/diff"; then
	ok "stdin"
else
	bad "stdin" "replay - < spec-example.trace differs"
	cat "$tmp/diff" "$tmp/err" 2>/dev/null
fi

# --stats: one JSON object after the results, with the counters named.
if "$bin" replay --stats - "$dir/spec-example.trace" >"$tmp/out" 2>"$tmp/err" &&
	head -n 6 "$tmp/out" | diff -q - "$dir/spec-example.expected" >/dev/null &&
	tail -n 1 "$tmp/out" | grep -q '^{.*"waits": [0-9]*.*"pages_pinned": [0-9]*.*}$'; then
	ok "stats-json"
else
	bad "stats-json" "replay --stats - did not print the results then a JSON object"
	cat "$tmp/out" "$tmp/err"
fi

# The session bundled in `softvfio run` (replayed by `run --session`, timed as
# a workload by `run`) is exactly tests/traces/vmm-session.trace ...
if "$bin" run --show-trace >"$tmp/out" 2>"$tmp/err" &&
	diff -u "$dir/vmm-session.trace" "$tmp/out" >"$tmp/diff"; then
	ok "run-embedded-trace"
else
	bad "run-embedded-trace" "the trace inside 'softvfio run' differs from vmm-session.trace"
	cat "$tmp/diff" "$tmp/err" 2>/dev/null
fi

# ... and `softvfio run --session` replays it: its result lines are exactly
# vmm-session.expected, followed by the counters.
n=$(wc -l <"$dir/vmm-session.expected")
if "$bin" run --session >"$tmp/out" 2>"$tmp/err" &&
	head -n "$n" "$tmp/out" | diff -u "$dir/vmm-session.expected" - >"$tmp/diff" &&
	grep -q '^  waits  *[0-9]' "$tmp/out"; then
	ok "run-session"
else
	bad "run-session" "'softvfio run --session' does not print vmm-session.expected and counters"
	cat "$tmp/diff" "$tmp/err" 2>/dev/null
fi

# `softvfio bench` with a trace among tiny workloads: the JSON has the summary
# keys for every workload and policy, and the chart is well-formed SVG.
# (Structure only: no figure and no time is checked.)
if "$bin" bench -w lifecycle:size=4M,layout=frag4k -w small:count=16,size=4K \
	-w churn:count=64,depth=8 --trace "$dir/spec-example.trace" --progress never \
	--json "$tmp/bench.json" --svg "$tmp/bench.svg" >"$tmp/out" 2>"$tmp/err" &&
	python3 - "$tmp/bench.json" "$tmp/bench.svg" <<'PY' 2>"$tmp/diff"
import json, sys, xml.etree.ElementTree as ET
runs = json.load(open(sys.argv[1]))
assert isinstance(runs, list) and len(runs) == 5, "5 workloads (small gives two)"
for w in runs:
    assert isinstance(w["workload"], str) and isinstance(w["guest_bytes"], int), w
    assert [r["policy"] for r in w["results"]] == ["strict", "batched", "gather", "lazy"], w
    for r in w["results"]:
        for k in ("regions", "inv_descriptors", "waits", "cpu_ns", "modeled_ns", "pages"):
            assert isinstance(r[k], int) and r[k] >= 0, (w["workload"], r["policy"], k)
    assert w["results"][0]["pages"] > 0, w["workload"]
root = ET.parse(sys.argv[2]).getroot()
assert root.tag.endswith("svg"), root.tag
PY
then
	ok "bench-json-svg"
else
	bad "bench-json-svg" "softvfio bench: exit status, JSON keys or SVG"
	cat "$tmp/err" "$tmp/diff" 2>/dev/null
fi

# `softvfio bench --driver all`: every workload on each driver, the JSON
# entries tagged with their driver, and the side-by-side table printed.
if "$bin" bench --driver all -w small:count=4,size=60K,unmap=each --progress never \
	--policy strict,gather --json "$tmp/drv.json" >"$tmp/out" 2>"$tmp/err" &&
	grep -q '^Drivers side by side' "$tmp/out" &&
	grep -Eq '^ +vtd/strict +vtd/gather +amd/strict +amd/gather$' "$tmp/out" &&
	python3 - "$tmp/drv.json" <<'PY' 2>"$tmp/diff"
import json, sys
runs = json.load(open(sys.argv[1]))
assert [w["driver"] for w in runs] == ["vtd", "amd"], runs
for w in runs:
    assert w["workload"].endswith("@" + w["driver"]), w["workload"]
    assert [r["policy"] for r in w["results"]] == ["strict", "gather"], w
# 60 KiB at an aligned IOVA: VT-d one descriptor, AMD-Vi one command per
# naturally aligned block (32K+16K+8K+4K), per mapping under strict.
vtd, amd = (w["results"][0] for w in runs)
assert amd["inv_descriptors"] == 4 * vtd["inv_descriptors"], (vtd, amd)
assert amd["waits"] == vtd["waits"], (vtd, amd)
PY
then
	ok "bench-drivers"
else
	bad "bench-drivers" "softvfio bench --driver all: exit status, table or JSON"
	cat "$tmp/out" "$tmp/err" "$tmp/diff" 2>/dev/null
fi
# The AMD-Vi variants: one covering command per range (as VT-d's one
# descriptor here), and NpCache (maps flushed: a wait per map as well).
if "$bin" bench --driver vtd,amd-covering,amd-npcache -w small:count=4,size=60K,unmap=each \
	--progress never --policy strict --json "$tmp/var.json" >"$tmp/out" 2>"$tmp/err" &&
	python3 - "$tmp/var.json" <<'PY' 2>"$tmp/diff"
import json, sys
runs = json.load(open(sys.argv[1]))
assert [w["driver"] for w in runs] == ["vtd", "amd-covering", "amd-npcache"], runs
vtd, cov, npc = (w["results"][0] for w in runs)
assert cov["inv_descriptors"] == vtd["inv_descriptors"], (vtd, cov)
assert npc["inv_descriptors"] == 4 * vtd["inv_descriptors"], (vtd, npc)
PY
then
	ok "bench-amd-variants"
else
	bad "bench-amd-variants" "softvfio bench --driver vtd,amd-covering,amd-npcache"
	cat "$tmp/out" "$tmp/err" "$tmp/diff" 2>/dev/null
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]

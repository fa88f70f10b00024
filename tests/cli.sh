#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The command's edges: write errors on standard output, output paths checked
# before any work, numeric options range-checked with a message naming the
# option, the value and the range, directory and permission errors named,
# long tokens cut, every chart bar visible on its log axis, --scale's plot,
# vm-real in the table, the JSON and the chart with its floor, ratio and
# Linux's figures, and its flatness table; the floor of the other
# real-memory workloads.
# Usage: cli.sh SOFTVFIO TRACEDIR
set -u
bin=$1 dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 n=0
ok() { n=$((n + 1)); }
bad() { echo "FAIL: $*"; sed 's/^/    /' "$tmp/err" 2>/dev/null | head -n 5; fails=$((fails + 1)); n=$((n + 1)); }

# expect STATUS NAME -- ARGS...: exit status STATUS, stdout to $tmp/out, stderr to $tmp/err.
expect() {
	local want=$1 name=$2 rc
	shift 3
	"$bin" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		bad "$name: exit $rc, want $want"
		return 1
	fi
	return 0
}
# err_has NAME TEXT...: every TEXT is in $tmp/err.
err_has() {
	local name=$1 t
	shift
	for t in "$@"; do
		if ! grep -q -F -- "$t" "$tmp/err"; then
			bad "$name: stderr lacks '$t'"
			return
		fi
	done
	ok
}

# 1. A full standard output fails the command, whatever it was doing.
for args in "replay $dir/format.trace" "--help" "--version" "run --show-trace" "help replay"; do
	# shellcheck disable=SC2086
	"$bin" $args >/dev/full 2>"$tmp/err"
	rc=$?
	if [ "$rc" -ne 0 ] && grep -q "standard output" "$tmp/err"; then ok; else bad "'$args > /dev/full' exits $rc"; fi
done

# 2. Output paths are tried before the work: no table, no result line.
expect 1 "bench --svg unwritable" -- bench -w small:count=4,size=4K --progress never \
	--svg /sys/softvfio-cli-test.svg && err_has "bench --svg /sys/..." "--svg" "Permission denied"
[ -s "$tmp/out" ] && bad "bench --svg unwritable: the benchmark ran first"
expect 1 "bench --json dir" -- bench -w small:count=4,size=4K --json "$tmp" &&
	err_has "bench --json DIR" "--json" "is a directory"
expect 1 "run --svg missing dir" -- run --svg "$tmp/no/such/dir/x.svg" &&
	err_has "run --svg missing dir" "--svg" "No such file or directory"
expect 1 "replay --stats dir" -- replay --stats "$tmp" "$dir/format.trace" &&
	err_has "replay --stats DIR" "--stats" "is a directory"
[ -s "$tmp/out" ] && bad "replay --stats DIR: the trace ran first"
expect 0 "replay --stats file" -- replay --stats "$tmp/s.json" "$dir/format.trace" &&
	{ [ -s "$tmp/s.json" ] && ok || bad "replay --stats wrote nothing"; }

# 3. Input that is a directory, or missing, says so.
expect 1 "replay DIR" -- replay "$tmp" && err_has "replay DIR" "is a directory"
expect 1 "replay missing" -- replay "$tmp/none.trace" && err_has "replay missing" "No such file"

# 4. Every numeric option: out of range is a usage error naming option, value and range.
while read -r cmd opt val range; do
	# shellcheck disable=SC2086
	expect 2 "$cmd $opt $val" -- $cmd "$opt" "$val" && err_has "$cmd $opt $val" "$opt" "'$val'" "$range"
done <<'EOF'
bench-translate --threads -1 64
bench-translate --threads 65 64
bench-translate --iters 0 1
bench-translate --mappings 2000000 1048576
bench-translate --unmaps x 1
bench --batch 0 16777216
run --batch 99999999 16777216
bench-unmap --batch -3 16777216
bench-unmap --size 4097 256T
bench-dirty --percent 101 100
bench-dirty --size 1 64T
bench-real --reps 16 15
bench-real --pairs 0 1
bench-real --size 3M MiB
bench --scale 2G:1G 255T
bench --guest-size 3M 255T
run --guest-size 0 255T
EOF
expect 2 "vm-real size" -- bench -w vm-real:size=3M && err_has "vm-real size" "multiple of 2 MiB" "'3M'"
expect 2 "vm-real backing" -- bench -w vm-real:backing=2m && err_has "vm-real backing" "4k or thp" "'2m'"
expect 2 "vm-real key" -- bench -w vm-real:layout=frag4k && err_has "vm-real key" "unknown key 'layout'"

expect 2 "bench-exec --iters" -- bench-exec --iters && err_has "bench-exec --iters" "option '--iters' needs a value" "Try 'softvfio bench-exec --help'."
expect 2 "bench-exec --reps" -- bench-exec --reps && err_has "bench-exec --reps" "option '--reps' needs a value"
expect 2 "bench-exec unknown" -- bench-exec --bogus && err_has "bench-exec unknown" "softvfio bench-exec: unknown option '--bogus'"

# 5. Long tokens are cut, on the command line and in a trace.
long=$(head -c 100000 /dev/zero | tr '\0' x)
expect 2 "long policy" -- bench --policy "$long"
if [ "$(wc -c <"$tmp/err")" -lt 400 ] && grep -q "100000 bytes" "$tmp/err"; then ok; else bad "a 100000-byte option value is echoed whole"; fi
expect 2 "long workload" -- bench -w "small:count=$long"
if [ "$(wc -c <"$tmp/err")" -lt 400 ] && grep -q "bytes)" "$tmp/err"; then ok; else bad "a 100000-byte workload spec is echoed whole"; fi
printf 'arena 4M\nmap %s 4K 0 rw\n' "$long" >"$tmp/long.trace"
expect 2 "long trace token" -- replay "$tmp/long.trace"
if [ "$(wc -c <"$tmp/err")" -lt 400 ] && grep -q "100000 bytes" "$tmp/err"; then ok; else bad "a 100000-byte trace token is echoed whole"; fi

# 6. Log axes start below the smallest value: every bar has a visible height.
# One 4 KiB mapping unmapped with unmap-all: every policy waits exactly once.
expect 0 "bench chart" -- bench -w small:count=1,size=4K,unmap=all -w small:count=8,size=4K \
	--progress never --svg "$tmp/bars.svg"
python3 - "$tmp/bars.svg" >"$tmp/err" 2>&1 <<'PY' && ok || bad "chart bars"
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
bars = [r for r in ET.parse(sys.argv[1]).getroot().iter(ns + "rect") if r.find(ns + "title") is not None]
assert bars, "no bars"
low = [(r.find(ns + "title").text, r.get("height")) for r in bars if float(r.get("height")) < 8]
assert not low, "bars of (almost) no height: %s" % low
PY

# 7. --scale draws the scaling plot: time per page against guest size.
expect 0 "bench --scale" -- bench --scale 4M:16M --progress never --svg "$tmp/scale.svg"
python3 - "$tmp/scale.svg" >"$tmp/err" 2>&1 <<'PY' && ok || bad "scaling plot"
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
lines = list(root.iter(ns + "polyline"))
assert len(lines) == 5, "map + 4 policies, got %d lines" % len(lines)
for l in lines:
    assert len(l.get("points").split()) == 3, "3 sizes (4, 8, 16 MiB): %s" % l.get("points")
texts = [t.text for t in root.iter(ns + "text")]
for size in ("4 MiB", "8 MiB", "16 MiB"):
    assert size in texts, "x axis lacks %s" % size
PY

# 8. vm-real: both backings, a figure per page beside its floor, the ratio and
# Linux's published figures, in the table, the JSON and the chart. A 4 MiB
# guest (within the usual 8 MiB RLIMIT_MEMLOCK): sections [0, 640K) and
# [1M, 4M), 160 + 768 pages.
expect 0 "bench vm-real" -- bench -w vm-real:size=4M,reps=1 -w vm-real:size=6M,reps=1,backing=4k \
	--policy gather,strict --progress never --json "$tmp/vm.json" --svg "$tmp/vm.svg"
for t in "[vm-real-4k-4M]" "[vm-real-thp-4M]" "start/page" "teardown/page" "floor" "ratio" \
	"Linux " "published" "obtained" "flatness" "spread" "flat within 10 %"; do
	grep -q -F -- "$t" "$tmp/out" || { bad "bench vm-real: the table lacks '$t'"; t=; break; }
done
[ -n "$t" ] && ok
python3 - "$tmp/vm.json" >"$tmp/err" 2>&1 <<'PY' && ok || bad "vm-real JSON"
import json, sys
d = json.load(open(sys.argv[1]))
vm = [x for x in d if x["kind"] == "vm-real"]
assert [x["workload"] for x in vm] == ["vm-real-4k-4M", "vm-real-thp-4M", "vm-real-4k-6M"], vm
for x in vm:
    assert x["backing"] in ("4k", "thp") and x["mappings"] == 2, x
    assert "thp_bytes_before" in x and "published" in x["linux_reference"], x
    assert [r["policy"] for r in x["results"]] == ["strict", "gather"], x["results"]
    for r in x["results"]:
        assert r["vm_pages"] == x["guest_bytes"] // 4096 - 96, r
        for k in ("start", "teardown"):
            v, fl, ratio = (r[k + "_ns_per_page"], r[k + "_floor_ns_per_page"],
                            r[k + "_ratio_to_floor"])
            assert v > 0 and fl > 0, (k, r)
            assert abs(ratio - v / fl) <= 0.01 * ratio + 1e-3, (k, ratio, v, fl)
        assert r["pages"] == r["vm_pages"] and r["ioctls"] == 2, r
thp = vm[1]["results"][0]
assert (thp["linux_start_ns_per_page"], thp["linux_teardown_ns_per_page"]) == (6, None), thp
k4 = vm[0]["results"][0]
assert (k4["linux_start_ns_per_page"], k4["linux_teardown_ns_per_page"]) == (59, 69), k4
PY
python3 - "$tmp/vm.svg" >"$tmp/err" 2>&1 <<'PY' && ok || bad "vm-real chart"
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
bars = [r for r in root.iter(ns + "rect") if r.find(ns + "title") is not None]
# per workload and policy: start, its floor, teardown, its floor; two ratios
assert len(bars) == 3 * 2 * 6, "bars: %d" % len(bars)
low = [(r.find(ns + "title").text, r.get("height")) for r in bars if float(r.get("height")) < 8]
assert not low, "bars of (almost) no height: %s" % low
texts = [t.text for t in root.iter(ns + "text")]
for t in ("Linux start", "Linux teardown", "Linux, published", "softvfio / floor (log scale)"):
    assert t in texts, "chart lacks %r" % t
# Linux published a teardown figure for 4 KiB pages only: the two 4 KiB rows have it.
assert texts.count("Linux teardown") == 2, "Linux teardown lines: %d" % texts.count("Linux teardown")
PY

# 9. The other real-memory workloads print their floor too: a process-backed
# lifecycle (munlock of the guest beside the teardown) and churn (one page's
# mlock + pagemap read + munlock beside each buffer), in the table and JSON.
expect 0 "bench process floors" -- bench -w lifecycle:size=4M,backend=process,dma=off \
	-w churn:count=64,depth=4,backend=process,dma=off --policy gather --progress never \
	--json "$tmp/fl.json"
if grep -q "floor, same run and range: mlock + bulk pagemap read" "$tmp/out" &&
	grep -q "the teardown per page beside it" "$tmp/out" &&
	grep -q "per buffer beside it" "$tmp/out"; then ok; else bad "process floors: not in the table"; fi
python3 - "$tmp/fl.json" >"$tmp/err" 2>&1 <<'PY' && ok || bad "process floors JSON"
import json, sys
life, churn = json.load(open(sys.argv[1]))
for x, per, ops in ((life, "ns_per_page", 1024), (churn, "ns_per_buffer", 1024)):
    r = x["results"][0]
    assert r["floor_ns"] > 0 and r["floor_ops"] == ops and r[per] > 0, r
    assert abs(r["ratio_to_floor"] - r[per] / r["floor_ns_per_op"]) <= 1e-3 * r["ratio_to_floor"] + 1e-3, r
assert life["results"][0]["map_floor_ns"] > 0
PY

if [ "$fails" -ne 0 ]; then
	echo "$fails of $n checks failed"
	exit 1
fi
echo "all $n checks passed"

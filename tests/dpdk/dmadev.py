#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""DPDK's own dmadev_autotest, unmodified (Debian's dpdk-test), against the
emulated I/OAT engine under softvfio exec.

dpdk-test --no-huge -m 128 --iova-mode=va -a BDF runs dmadev_autotest
(DPDK_TEST names the test, so it runs once and exits with the result). The
autotest prints "Test OK" even when no I/OAT device was probed (it also
tests a skeleton device), so this checks that the instance at BDF is the
ioat driver's and ran its copy, burst capacity, error handling and fill
tests, skipping none, with the error tests' 40 failures counted; that
--check-dma saw no access to an unpinned page or after an unmap; that the
error tests' IOMMU faults were recorded; and that every page DPDK had
mapped was unpinned at exit.

usage: dmadev.py SOFTVFIO [DPDK-TEST]
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

BDF = "0000:00:04.0"


def fail(msg, out=""):
    sys.stderr.write(out[-6000:] + "\n")
    sys.stderr.write("FAIL: " + msg + "\n")
    sys.exit(1)


def main():
    softvfio = sys.argv[1]
    dpdk_test = sys.argv[2] if len(sys.argv) > 2 else "/usr/bin/dpdk-test"
    if not os.access(dpdk_test, os.X_OK):
        fail(dpdk_test + " is missing: `make deps` installs dpdk-dev and librte-dma-ioat23")
    with tempfile.TemporaryDirectory() as tmp:
        stats = os.path.join(tmp, "stats.json")
        env = dict(os.environ, DPDK_TEST="dmadev_autotest")
        # softvfio's own errors matter, not DPDK's allocations left at exit.
        env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"

        cmd = [softvfio, "exec", "--device", "ioat,bdf=" + BDF, "--check-dma",
               "--stats", stats, "--", dpdk_test, "--no-huge", "-m", "128",
               "--iova-mode=va", "-a", BDF,
               # no telemetry socket nor multi-process files outside tmp
               "--no-telemetry", "--file-prefix", "svf%d" % os.getpid()]
        # A session of its own, so that a timeout ends dpdk-test as well as softvfio.
        p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, cwd=tmp, start_new_session=True)
        try:
            raw, _ = p.communicate(timeout=540)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            raw, _ = p.communicate()
            fail("softvfio exec dpdk-test did not finish in 540 s",
                 raw.decode(errors="replace").replace("\r", "\n"))
        out = raw.decode(errors="replace").replace("\r", "\n")
        if p.returncode != 0:
            fail("softvfio exec dpdk-test exited with %d" % p.returncode, out)
        lines = [l for l in out.split("\n") if l and not l.startswith("Ops submitted")]
        if "Test OK" not in lines:
            fail("dmadev_autotest did not print Test OK", "\n".join(lines))
        if not re.search(r"Probe PCI driver: dmadev_ioat \(8086:2021\) device: " +
                         re.escape(BDF), out):
            fail("the ioat driver did not probe " + BDF, "\n".join(lines))
        m = re.search(r"### Test dmadev instance (\d+) \[" + re.escape(BDF) + r"\]", out)
        if not m:
            fail("no dmadev instance at " + BDF + " was tested", "\n".join(lines))
        dev = m.group(1)
        mine = [l for l in lines if l.startswith("DMA Dev %s: " % dev)]
        for t in ("copy", "burst capacity", "error handling", "fill"):
            if not any(l.startswith("DMA Dev %s: Running %s Tests" % (dev, t)) for l in mine):
                fail("the I/OAT instance did not run its %s tests" % t, "\n".join(lines))
        skipped = [l for l in mine if "skipping" in l]
        if skipped:
            fail("the I/OAT instance skipped tests: " + "; ".join(skipped))
        # The error tests' figures as DPDK prints them: every op completed, 40 failed.
        figs = re.findall(r"DMA Dev %s: Running error handling Tests.*?\n(?:Ops submitted: \d+\t"
                          r"Ops completed: \d+\tErrors: \d+\n)*Ops submitted: (\d+)\t"
                          r"Ops completed: (\d+)\tErrors: (\d+)" % dev, out)
        if not figs or figs[0][0] != figs[0][1] or int(figs[0][2]) == 0:
            fail("error handling figures not as expected: %r" % (figs,), "\n".join(lines))
        with open(stats) as f:
            st = json.load(f)
        s = st["stats"]
        want = {"dma_unpinned_access": 0, "dma_after_unmap": 0, "invariant_violations": 0,
                "pinned_now": 0}
        for k, v in want.items():
            if s[k] != v:
                fail("stats %s = %d, not %d" % (k, s[k], v), json.dumps(st))
        if s["pages_pinned"] == 0 or s["pages_pinned"] != s["pages_unpinned"]:
            fail("pinned %d pages, unpinned %d" % (s["pages_pinned"], s["pages_unpinned"]))
        if s["dma_faults"] < int(figs[0][2]):
            fail("%d IOMMU faults recorded for %s failed copies" % (s["dma_faults"], figs[0][2]))
        print("\n".join(l for l in lines if l.startswith("DMA Dev") or l.startswith("###")
                        or l == "Test OK"))
        print("error handling: submitted %s completed %s errors %s" % figs[0])
        print("stats: pages pinned %d unpinned %d, dma_requests %d, dma_faults %d, "
              "iotlb hits %d misses %d, dma_unpinned_access %d" %
              (s["pages_pinned"], s["pages_unpinned"], s["dma_requests"], s["dma_faults"],
               s["iotlb_hits"], s["iotlb_misses"], s["dma_unpinned_access"]))
        print("1 passed, 0 failed")


if __name__ == "__main__":
    main()

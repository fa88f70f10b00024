#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Debian's QEMU 7.2, unmodified, with an edu device assigned through
vfio-pci under `softvfio exec`, driven through QEMU's qtest protocol.

    qemu_vfio.py SOFTVFIO [host|sysfsdev]

QEMU runs under TCG with a firmware image that only halts the CPU (made
here: 64 KiB whose reset vector is cli; hlt): no guest code touches the
device, this script is the guest. It checks, through QEMU's own paths:
  - the device enumerates through config space with edu's ids;
  - BAR0 sizes as 1 MiB of 32-bit memory and is programmed;
  - edu's id, liveness and factorial answer through QEMU's MMIO path;
  - a DMA guest RAM -> edu -> guest RAM moves the bytes through softvfio's
    IOMMU (QEMU maps guest RAM at IOVA = guest physical address);
  - edu's interrupt reaches QEMU as INTx (a qtest IRQ line rises, and
    falls once the script acknowledges it) and as MSI (the message lands in
    guest RAM where the script pointed the MSI address);
  - QMP's quit ends QEMU with status 0, and the --stats JSON shows every
    page QEMU mapped unmapped and unpinned;
  - --record: replaying the recorded trace gives QEMU's results line for line.
Prints PASS/FAIL per check and "N passed, M failed" last.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BDF = "0000:00:03.0"
SLOT = 4                      # -device vfio-pci,...,addr=0x4
BAR0 = 0xE0000000             # where the script programs BAR0
RAM_SRC, RAM_DST, RAM_MSI = 0x100000, 0x200000, 0x300000
EDU_BUF = 0x40000

passed = failed = 0


def check(ok, name, why=""):
    global passed, failed
    if ok:
        passed += 1
        print("PASS", name)
    else:
        failed += 1
        print("FAIL", name + (": " + why if why else ""))
    sys.stdout.flush()
    return ok


class QTest:
    """qtest over QEMU's stdin/stdout: one command, one OK/ERR line; IRQ lines aside."""

    def __init__(self, proc):
        self.p = proc
        self.irqs = []

    def cmd(self, line):
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()
        while True:
            out = self.p.stdout.readline().decode()
            if not out:
                raise RuntimeError("QEMU closed qtest answering '%s'" % line)
            out = out.strip()
            if out.startswith("IRQ "):
                self.irqs.append(out)
                continue
            if not out.startswith("OK"):
                raise RuntimeError("'%s' -> '%s'" % (line, out))
            return out[2:].strip()

    def val(self, line):
        return int(self.cmd(line), 16)

    def cfg_addr(self, off):
        return 0x80000000 | (SLOT << 11) | (off & 0xFC)

    def cfg_read(self, off, size=4):
        self.cmd("outl 0xcf8 0x%x" % self.cfg_addr(off))
        port = 0xCFC + (off & 3)
        op = {1: "inb", 2: "inw", 4: "inl"}[size]
        return self.val("%s 0x%x" % (op, port))

    def cfg_write(self, off, val, size=4):
        self.cmd("outl 0xcf8 0x%x" % self.cfg_addr(off))
        port = 0xCFC + (off & 3)
        op = {1: "outb", 2: "outw", 4: "outl"}[size]
        self.cmd("%s 0x%x 0x%x" % (op, port, val))

    def poll(self, line, want, timeout=5.0):
        """Repeats a read until it gives want (edu serves doorbells a little later)."""
        end = time.time() + timeout
        v = self.val(line)
        while v != want and time.time() < end:
            time.sleep(0.001)
            v = self.val(line)
        return v

    def irq_wait(self, word, lines, timeout=5.0):
        """The first "IRQ word N" with N in lines (other lines, such as the timer's, toggle too)."""
        end = time.time() + timeout
        while time.time() < end:
            for i, l in enumerate(self.irqs):
                w = l.split()
                if w[1] == word and int(w[2]) in lines:
                    del self.irqs[i]
                    return l
            self.cmd("readl 0x0")  # qtest sends IRQ lines between answers
            time.sleep(0.002)
        return None


def qmp_quit(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for _ in range(100):
        try:
            s.connect(path)
            break
        except OSError:
            time.sleep(0.05)
    f = s.makefile("rw")
    json.loads(f.readline())  # greeting
    for cmd in ("qmp_capabilities", "quit"):
        f.write(json.dumps({"execute": cmd}) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "return" in r or "error" in r:
                break
    s.close()


def main():
    softvfio = sys.argv[1]
    mode = sys.argv[2] if len(sys.argv) > 2 else "host"
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        check(False, "qemu", "qemu-system-x86_64 not found: 'make deps' installs Debian's "
              "qemu-system-x86")
        return
    tmp = tempfile.mkdtemp(prefix="softvfio-qemu-")
    fw = os.path.join(tmp, "halt.bin")
    img = bytearray(b"\xf4" * 65536)
    img[0xFFF0:0xFFF4] = b"\xfa\xf4\xeb\xfd"  # cli; hlt; jmp $-2 at the reset vector
    open(fw, "wb").write(bytes(img))
    sysfs = os.path.join(tmp, "sys")
    stats = os.path.join(tmp, "stats.json")
    trace = os.path.join(tmp, "qemu.trace")
    qmp = os.path.join(tmp, "qmp.sock")
    if mode == "sysfsdev":
        dev = "vfio-pci,sysfsdev=%s/bus/pci/devices/%s,addr=0x%x" % (sysfs, BDF, SLOT)
    else:
        dev = "vfio-pci,host=%s,addr=0x%x" % (BDF, SLOT)
    argv = [softvfio, "exec", "--sysfs", sysfs, "--stats", stats, "--record", trace,
            "--log", os.path.join(tmp, "log"), "--",
            qemu, "-M", "q35", "-accel", "tcg", "-bios", fw, "-qtest", "stdio",
            "-qtest-log", "/dev/null", "-display", "none", "-nodefaults", "-m", "256M",
            "-qmp", "unix:%s,server=on,wait=off" % qmp, "-device", dev]
    env = dict(os.environ)
    # QEMU is not built with sanitizers: under a sanitizer build only
    # softvfio's own errors matter, not QEMU's leaks at exit.
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"
    err = open(os.path.join(tmp, "stderr"), "w+")
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                         env=env)
    q = QTest(p)
    try:
        run_checks(q)
    except Exception as e:  # QEMU died or answered ERR: report, then clean up
        check(False, "qtest", str(e))
    try:
        qmp_quit(qmp)
        st = p.wait(timeout=60)
    except Exception as e:
        p.kill()
        st = p.wait()
        check(False, "qmp-quit", str(e))
    err.seek(0)
    errtext = err.read()
    check(st == 0, "exit-status", "exec exited %d; stderr: %s" % (st, errtext[-2000:]))
    try:
        s = json.load(open(stats))
        t = s["stats"]
        check(t["pages_pinned"] > 0 and t["pages_pinned"] == t["pages_unpinned"] and
              t["pinned_now"] == 0 and t["locked_bytes"] == 0,
              "stats-unpinned", "pinned %d unpinned %d now %d" %
              (t["pages_pinned"], t["pages_unpinned"], t["pinned_now"]))
        # QEMU neither unmaps nor closes at exit: exec released its guest RAM.
        check(s["released_at_exit"]["containers"] == 1 and
              s["released_at_exit"]["pinned_pages"] >= 65536,
              "released-at-exit", str(s["released_at_exit"]))
        check(t["dma_requests"] >= 2 and t["dma_faults"] == 0, "stats-dma",
              "requests %d faults %d" % (t["dma_requests"], t["dma_faults"]))
    except (OSError, ValueError, KeyError) as e:
        check(False, "stats", str(e))
    try:
        r = subprocess.run([softvfio, "replay", trace], capture_output=True, text=True,
                           timeout=120)
        want = open(trace + ".expected").read()
        maps = sum(1 for l in open(trace) if l.startswith("map "))
        check(r.returncode == 0 and r.stdout == want and maps >= 2, "record-replay",
              "status %d, %d maps; first difference: %s" % (
                  r.returncode, maps,
                  next((a + " | " + b for a, b in zip(r.stdout.splitlines(), want.splitlines())
                        if a != b), r.stderr[-300:])))
    except (OSError, subprocess.SubprocessError) as e:
        check(False, "record-replay", str(e))
    shutil.rmtree(tmp, ignore_errors=True)


def run_checks(q):
    # Enumeration through config space.
    check(q.cfg_read(0x00) == 0x11E81234, "config-ids", hex(q.cfg_read(0x00)))
    check(q.cfg_read(0x08) >> 8 == 0x00FF00 and q.cfg_read(0x08) & 0xFF == 0x10,
          "config-class-revision", hex(q.cfg_read(0x08)))
    # BAR0 sizing and programming.
    q.cfg_write(0x10, 0xFFFFFFFF)
    size_mask = q.cfg_read(0x10)
    check(size_mask == 0xFFF00000, "bar0-size", hex(size_mask))
    q.cfg_write(0x10, BAR0)
    check(q.cfg_read(0x10) == BAR0, "bar0-programmed", hex(q.cfg_read(0x10)))
    # The ROM BAR reads back 0: edu has none.
    q.cfg_write(0x30, 0xFFFFF800)
    check(q.cfg_read(0x30) == 0, "no-rom", hex(q.cfg_read(0x30)))
    q.cfg_write(0x04, 0x0006)  # memory space, bus master
    # Registers through QEMU's MMIO path.
    check(q.val("readl 0x%x" % BAR0) == 0x010000ED, "edu-id", hex(q.val("readl 0x%x" % BAR0)))
    q.cmd("writel 0x%x 0x12345678" % (BAR0 + 4))
    v = q.poll("readl 0x%x" % (BAR0 + 4), 0xEDCBA987)
    check(v == 0xEDCBA987, "edu-liveness", hex(v))
    q.cmd("writel 0x%x 10" % (BAR0 + 8))
    v = q.poll("readl 0x%x" % (BAR0 + 8), 3628800)
    check(v == 3628800, "edu-factorial", str(v))
    # DMA guest RAM -> edu -> guest RAM through the IOMMU.
    data = bytes((i * 13 + 5) & 0xFF for i in range(4096))
    q.cmd("write 0x%x 4096 0x%s" % (RAM_SRC, data.hex()))
    for src, dst, cmd in ((RAM_SRC, EDU_BUF, 1), (EDU_BUF, RAM_DST, 3)):
        q.cmd("writeq 0x%x 0x%x" % (BAR0 + 0x80, src))
        q.cmd("writeq 0x%x 0x%x" % (BAR0 + 0x88, dst))
        q.cmd("writeq 0x%x 4096" % (BAR0 + 0x90))
        q.cmd("writeq 0x%x 0x%x" % (BAR0 + 0x98, cmd))
        v = q.poll("readq 0x%x" % (BAR0 + 0x98), cmd & ~1)
    got = bytes.fromhex(q.cmd("read 0x%x 4096" % RAM_DST)[2:])
    check(got == data, "dma-ram-edu-ram", "first bytes %s" % got[:8].hex())
    # INTx: raise edu's interrupt; QEMU asserts the line; acknowledge: it falls.
    # (q35 routes PCI INTx to IOAPIC inputs 16-23.)
    q.cmd("irq_intercept_in ioapic")
    q.cmd("writel 0x%x 0x1" % (BAR0 + 0x60))
    up = q.irq_wait("raise", range(16, 24))
    check(up is not None, "intx-raise", "no IRQ raise line on 16-23")
    q.cmd("writel 0x%x 0x1" % (BAR0 + 0x64))
    down = q.irq_wait("lower", [int(up.split()[2])] if up else [])
    check(down is not None, "intx-lower", "%s, then no lower of that line" % up)
    # MSI: the message goes where the script points it, into guest RAM.
    cap = q.cfg_read(0x34, 1)
    while cap and (q.cfg_read(cap, 1) != 0x05):
        cap = q.cfg_read(cap + 1, 1)
    check(cap != 0, "msi-capability", "no MSI capability")
    if cap:
        q.cmd("writel 0x%x 0x0" % RAM_MSI)
        q.cfg_write(cap + 4, RAM_MSI)
        q.cfg_write(cap + 8, 0)
        q.cfg_write(cap + 12, 0x4321, 2)
        ctl = q.cfg_read(cap + 2, 2)
        q.cfg_write(cap + 2, ctl | 1, 2)  # MSI enable
        q.cmd("writel 0x%x 0x2" % (BAR0 + 0x60))
        v = q.poll("readl 0x%x" % RAM_MSI, 0x4321)
        check(v == 0x4321, "msi-to-guest-ram", hex(v))


if __name__ == "__main__":
    main()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed inputs of fuzz_device into fuzz/corpus/fuzz_device/.

Each seed is a header of three bytes (machine and fault seam, see setup()
in fuzz/fuzz_device.c) and a stream of requests, one opcode byte (mod 26)
followed by that request's bytes. Run from anywhere: python3 gen_fuzz_device.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_device")

(GROUP_OPEN, GROUP_CLOSE, GROUP_STATUS, SET_CONTAINER, UNSET_CONTAINER, GET_DEVICE_FD,
 DEVICE_CLOSE, SET_IOMMU, MAP, UNMAP, GET_INFO, REGION_INFO, IRQ_INFO, SET_IRQS, _SI2,
 READ, _RD2, WRITE, _WR2, RESET, BRINGUP, EDU_DMA, IOAT_CHAIN, MMIO_STORE, COMMAND) = range(25)
CONTAINER_PUT, EVENTFD, BADBUF = 25, 51, 77


def le32(v):
    return list(struct.pack("<I", v & 0xffffffff))


def le64(v):
    return list(struct.pack("<Q", v & 0xffffffffffffffff))


def hdr(ndev=1, ioat=(), share=0, amd=False, units2=False, pol0=0, pol1=0, seam=0, nth=0,
        mask64=False):
    h0 = (ndev - 1) | sum(1 << (2 + i) for i in ioat) | share << 6
    h1 = int(amd) | int(units2) << 1 | pol0 << 2 | pol1 << 4 | seam << 6
    h2 = (nth & 0x7f) | int(mask64) << 7
    return [h0, h1, h2]


def map_(cont=0, pg=0, n=8, write=True):
    return [MAP, cont | (2 if write else 0), pg, n - 1]


def irqs(fl, data, action, index, count, fds=(), bools=()):
    # data: 0 NONE, 1 BOOL, 2 EVENTFD; action: 0 TRIGGER, 1 MASK, 2 UNMASK
    return [SET_IRQS, fl, data | action << 2, index, count, 3] + list(fds) + list(bools)


def bar0_write(fl, pos, val, size=4):
    return [WRITE, fl, 1, 1, pos, size] + list(struct.pack("<Q", val))[:size]


def edu_dma(fl, to_ram, page, cnt8, irq=True):
    b = (1 if to_ram else 0) | (4 if irq else 0)
    return [EDU_DMA, fl, b, page, 0, 0, cnt8 - 1]


SEEDS = {}

# edu: bring up, map, MSI on an eventfd, DMA RAM -> edu -> RAM, region info of every index.
s = hdr() + [BRINGUP, 0] + map_() + irqs(0, 2, 0, 1, 1, fds=[0])
s += edu_dma(0, False, 0, 8) + edu_dma(0, True, 1, 8) + [EVENTFD, 1]
for idx in range(10):
    s += [REGION_INFO, 0, 0, idx]
for idx in range(6):
    s += [IRQ_INFO, 0, idx]
s += [GET_INFO, 0, 24, READ, 0, 0, 0, 16, READ, 0, 1, 0, 0x85]
SEEDS["edu-dma-msi"] = s

# ioat: a copy, a fill and a null descriptor, completion update; then a chain that faults.
s = hdr(ioat=[0], pol0=1) + [BRINGUP, 0] + map_()
s += [IOAT_CHAIN, 0, 0x09, 2, 0,
      0x09, 63, 2, 0, 4, 0,
      0x0c, 31, 3, 0, 5, 0,
      0x21, 0, 2, 0, 6, 0]
s += [READ, 0, 1, 0x0e, 8]
s += [IOAT_CHAIN, 0, 0x49, 0, 1, 0x09, 7, 2, 0, 0x30, 0]
s += [READ, 0, 1, 0x0e, 8, READ, 0, 1, 6 | 5 << 3, 4]
s += [UNMAP, 0, 0, 8, UNMAP, 2]
SEEDS["ioat-chain"] = s

# Groups: two devices in one group, status, containers, device names, busy unset, put.
s = hdr(ndev=2, share=1) + [GROUP_OPEN, 0, GROUP_STATUS, 0, 8, SET_CONTAINER, 0, 0,
                             GROUP_STATUS, 0, 8, SET_CONTAINER, 0, 3, SET_IOMMU, 0]
for b in range(12):
    s += [GET_DEVICE_FD, 0, b, b % 2]
s += [UNSET_CONTAINER, 0, DEVICE_CLOSE, 0, DEVICE_CLOSE, 0, DEVICE_CLOSE, 0, UNSET_CONTAINER, 0,
      SET_CONTAINER, 0, 1, CONTAINER_PUT, 1, GROUP_CLOSE, 0, GROUP_OPEN, 0x80]
SEEDS["groups"] = s

# INTx: trigger and unmask eventfds, edu raises and acknowledges, mask, loopback, disable.
s = hdr() + [BRINGUP, 0] + irqs(0, 2, 0, 0, 1, fds=[0]) + irqs(0, 2, 2, 0, 1, fds=[1])
s += bar0_write(0, 0x60, 1) + irqs(0, 0, 1, 0, 1) + irqs(0, 0, 0, 0, 1) + [EVENTFD, 0]
s += bar0_write(0, 0x64, 1) + irqs(0, 1, 2, 0, 1, bools=[1]) + [COMMAND, 0, COMMAND, 1]
s += irqs(0, 0, 0, 0, 0) + irqs(0, 2, 0, 4, 1, fds=[4]) + irqs(0, 2, 0, 4, 1, fds=[5])
SEEDS["intx-irqs"] = s

# Four devices, two units, AMD-Vi, lazy: stores through BAR0 mappings, resets, hot resets.
s = hdr(ndev=4, ioat=[0, 2], amd=True, units2=True, pol0=3, pol1=3)
s += [BRINGUP, 0, BRINGUP, 1, BRINGUP, 2 | 4, BRINGUP, 3 | 4] + map_(0) + map_(1, 0, 8)
s += [IOAT_CHAIN, 0, 0x01, 1, 0, 0x09, 15, 2, 0, 4, 0, 0x0c, 15, 3, 0, 5, 0]
s += [MMIO_STORE, 0, 0x42, 0x84, 0x20, 0, 0, 0, 0, 0, 0, 0, MMIO_STORE, 0, 0x41, 0x86, 2, 0, 0, 0, 0, 0, 0, 0]
s += [RESET, 1, 1, RESET, 2, 4 | 8 << 3, RESET, 2, 8, RESET, 3, 0, RESET, 0, 2]
s += edu_dma(1, True, 3, 16) + [DEVICE_CLOSE, 0, DEVICE_CLOSE, 0]
SEEDS["four-devices-amd"] = s

# Region accesses at the edges: past the config size, BAR ends, ROM, VGA, huge counts.
s = hdr() + [BRINGUP, 0]
for ib, pb, cb in [(0, 2, 4), (0, 3, 1), (0, 0, 0x87), (1, 2, 0x86), (1, 3, 4), (6, 0, 4),
                   (8, 0, 4), (9, 0, 4), (0x80 | 12, 0, 4), (1, 5, 0x80 | 6)]:
    s += [READ, 0, ib, pb, cb] + ([0] * 8 if pb == 5 else [])
s += [WRITE, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, WRITE, 0, 6, 0, 4, 1, 2, 3, 4]
s += [BADBUF, 0, 0, BADBUF, 0, 1 | 0x80, BADBUF, 0, 2]
s += [COMMAND, 2, READ, 0, 1, 0, 4]
SEEDS["region-edges"] = s

# The edu seed with the fault seam armed at a few points.
for nth in (1, 3, 10, 40, 100):
    body = SEEDS["edu-dma-msi"][3:]
    SEEDS["seam-%d" % nth] = hdr(seam=1, nth=nth - 1) + body
SEEDS["seam-ioat-x8"] = hdr(ioat=[0], seam=2, nth=5) + SEEDS["ioat-chain"][3:]

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes(b & 0xff for b in data))

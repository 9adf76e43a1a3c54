"""PoCL on CPUs newer than its LLVM: tell it which LLVM CPU to compile for.

The PoCL that pyopencl's wheels bundle (3.0, LLVM 14) names an unknown host CPU (AMD Zen 5,
for one) "generic", which its own compiler then refuses: every build fails with "unknown
target CPU 'generic'". PoCL has no setting for this, so hetero rewrites the device's LLVM CPU
name (a string field of PoCL's device struct, found by its value) to the x86-64
micro-architecture level the host's ISA flags prove: x86-64-v4, -v3 or -v2.
"""

from __future__ import annotations

import ctypes
import logging
from typing import Any

from hetero.backends.cpu.hostinfo import read_host_info

log = logging.getLogger("hetero.backends.opencl")
STRUCT_SCAN_BYTES = 8192
_KEEP: list[Any] = []  # the replacement names must outlive the devices that point at them


def needs_retarget(dev: Any) -> bool:
    """A PoCL CPU device whose build string ends in the CPU name 'generic' (x86 only)."""
    return ("Portable Computing Language" in dev.platform.name
            and dev.version.rstrip().endswith("-generic") and "x86_64" in dev.version)


def x86_level(features: tuple[str, ...]) -> str:
    if {"avx512f", "avx512bw", "avx512vl"} <= set(features):
        return "x86-64-v4"
    if {"avx2", "fma"} <= set(features):
        return "x86-64-v3"
    return "x86-64-v2"


def readable_ranges() -> list[tuple[int, int]]:
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            span, perms = line.split()[:2]
            if perms.startswith("r"):
                start, end = (int(x, 16) for x in span.split("-"))
                ranges.append((start, end))
    return ranges


def retarget(dev: Any) -> str | None:
    """Point the device's LLVM CPU name at a known x86-64 level; returns it, or None."""
    if not needs_retarget(dev):
        return None
    ranges = readable_ranges()
    name = ctypes.create_string_buffer(x86_level(read_host_info().features).encode())
    patched = 0
    for offset in range(0, STRUCT_SCAN_BYTES, 8):
        slot = ctypes.c_uint64.from_address(dev.int_ptr + offset)
        pointer = slot.value
        if any(a <= pointer < b - 8 for a, b in ranges) and \
                ctypes.string_at(pointer, 8) == b"generic\0":
            slot.value = ctypes.addressof(name)
            patched += 1
    if not patched:
        return None
    _KEEP.append(name)
    log.info("PoCL does not know this CPU; compiling for %s instead", name.value.decode())
    return name.value.decode()

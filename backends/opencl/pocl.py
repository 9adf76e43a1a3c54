"""PoCL on CPUs newer than its LLVM: tell it which LLVM CPU to compile for.

The PoCL that pyopencl's wheels bundle (3.0, LLVM 14) names an unknown host CPU (AMD Zen 5,
for one) "generic", which its own compiler then refuses: every build fails with "unknown
target CPU 'generic'". PoCL has no setting for this, so hetero rewrites the device's LLVM CPU
name (a string field of PoCL's device struct, found by its value) to the x86-64
micro-architecture level the host's ISA flags prove: x86-64-v4, -v3 or -v2.
"""

from __future__ import annotations

import ctypes
import gc
import logging
from typing import Any

from hetero.backends.cpu.hostinfo import read_host_info

log = logging.getLogger("hetero.backends.opencl")
STRUCT_SCAN_BYTES = 8192
_KEEP: list[Any] = []  # the replacement names must outlive the devices that point at them
_DONE: dict[int, str | None] = {}  # device struct address -> the level it was given


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
    """Point the device's LLVM CPU name at a known x86-64 level; returns it, or None.

    Done once per device per process: every later discovery (a rescan, a fresh registry)
    reuses the answer instead of scanning raw memory again.
    """
    if not needs_retarget(dev):
        return None
    if dev.int_ptr not in _DONE:
        _DONE[dev.int_ptr] = patch(dev)
    return _DONE[dev.int_ptr]


def patch(dev: Any) -> str | None:
    """Scan the device struct for pointers to "generic" and repoint them. The garbage
    collector is held off meanwhile: a collection could free (munmap) memory the snapshot of
    /proc/self/maps still lists as readable, and reading it would crash the process."""
    name = ctypes.create_string_buffer(x86_level(read_host_info().features).encode())
    enabled = gc.isenabled()
    gc.disable()
    try:
        ranges = readable_ranges()
        patched = 0
        for offset in range(0, STRUCT_SCAN_BYTES, 8):
            address = dev.int_ptr + offset
            if not readable(ranges, address):
                break  # the struct's page ends here
            slot = ctypes.c_uint64.from_address(address)
            pointer = slot.value
            if readable(ranges, pointer) and ctypes.string_at(pointer, 8) == b"generic\0":
                slot.value = ctypes.addressof(name)
                patched += 1
    finally:
        if enabled:
            gc.enable()
    if not patched:
        return None
    _KEEP.append(name)
    log.info("PoCL does not know this CPU; compiling for %s instead", name.value.decode())
    return name.value.decode()


def readable(ranges: list[tuple[int, int]], address: int) -> bool:
    """Whether 8 bytes at ``address`` lie in one readable mapping."""
    return any(a <= address and address + 8 <= b for a, b in ranges)

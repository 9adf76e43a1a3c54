"""What the host CPU is: architecture, model name, ISA features, usable cores and memory (Linux)."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from hetero.threads import allowed_cpus

# /proc/cpuinfo flag -> the feature name hetero reports (the same names on every host).
X86_FEATURES = {
    "sse4_2": "sse4.2", "avx": "avx", "avx2": "avx2", "fma": "fma", "f16c": "f16c",
    "avx512f": "avx512f", "avx512bw": "avx512bw", "avx512vl": "avx512vl",
    "avx512_vnni": "avx512_vnni", "avx512_bf16": "avx512_bf16", "avx512_fp16": "avx512_fp16",
    "avx_vnni": "avx_vnni", "amx_tile": "amx", "amx_bf16": "amx_bf16", "amx_int8": "amx_int8",
}
ARM_FEATURES = {
    "asimd": "neon", "asimdhp": "fp16", "asimddp": "dotprod", "i8mm": "i8mm", "bf16": "bf16",
    "sve": "sve", "sve2": "sve2", "sme": "sme", "sme2": "sme2",
}
# (implementer, part) from /proc/cpuinfo on ARM, which has no model name line.
ARM_PARTS = {
    ("0x41", "0xd03"): "ARM Cortex-A53", ("0x41", "0xd08"): "ARM Cortex-A72",
    ("0x41", "0xd0b"): "ARM Cortex-A76", ("0x41", "0xd0c"): "ARM Neoverse-N1",
    ("0x41", "0xd40"): "ARM Neoverse-V1", ("0x41", "0xd49"): "ARM Neoverse-N2",
    ("0x41", "0xd4f"): "ARM Neoverse-V2", ("0x4e", "0x004"): "NVIDIA Carmel",
    ("0x41", "0xd42"): "ARM Cortex-A78AE",
}


@dataclass(frozen=True)
class HostInfo:
    arch: str
    name: str
    features: tuple[str, ...]
    cores: int
    memory_bytes: int
    board: str | None = None


def normalise_arch(machine: str) -> str:
    machine = machine.lower()
    return {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def host_arch() -> str:
    return normalise_arch(platform.machine())


def first_block(cpuinfo: str) -> dict[str, str]:
    """The key/value lines of the first processor block of /proc/cpuinfo."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def parse_features(arch: str, cpuinfo: str) -> tuple[str, ...]:
    fields = first_block(cpuinfo)
    table = ARM_FEATURES if arch == "aarch64" else X86_FEATURES
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    return tuple(name for flag, name in table.items() if flag in flags)


def parse_name(arch: str, cpuinfo: str) -> str:
    fields = first_block(cpuinfo)
    if "model name" in fields:
        return fields["model name"]
    part = (fields.get("cpu implementer", ""), fields.get("cpu part", ""))
    return ARM_PARTS.get(part, platform.processor() or f"{arch} CPU")


def parse_meminfo(meminfo: str) -> int | None:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def read_text(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def usable_cores() -> int:
    """The cores this process may keep busy: affinity and cgroup quota (hetero.threads)."""
    return allowed_cpus()


def total_memory() -> int:
    from_proc = parse_meminfo(read_text("/proc/meminfo"))
    if from_proc:
        return from_proc
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def read_host_info() -> HostInfo:
    """Read this machine's CPU description."""
    arch = host_arch()
    cpuinfo = read_text("/proc/cpuinfo")
    board = read_text("/proc/device-tree/model").strip("\x00\n ") or None
    return HostInfo(arch=arch, name=parse_name(arch, cpuinfo),
                    features=parse_features(arch, cpuinfo), cores=usable_cores(),
                    memory_bytes=total_memory(), board=board)

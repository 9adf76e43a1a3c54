"""Package energy from Intel/AMD RAPL counters in sysfs, where the host exposes them."""

from __future__ import annotations

from pathlib import Path

from hetero.energy import Meter

POWERCAP = Path("/sys/class/powercap")


def package_domains(root: Path = POWERCAP) -> list[Path]:
    """The readable top-level package domains (intel-rapl:0, intel-rapl:1, …)."""
    domains = []
    for domain in sorted(root.glob("intel-rapl:*")):
        if domain.name.count(":") != 1:
            continue  # sub-domains (core, uncore, dram) are inside the package figure
        try:
            int((domain / "energy_uj").read_text())
        except (OSError, ValueError):
            continue
        domains.append(domain)
    return domains


def read_energy_uj(domains: list[Path]) -> list[int]:
    return [int((d / "energy_uj").read_text()) for d in domains]


def energy_delta_j(domains: list[Path], before: list[int], after: list[int]) -> float:
    """Joules between two readings, allowing for each counter's wrap-around."""
    total = 0
    for domain, b, a in zip(domains, before, after, strict=True):
        if a < b:
            a += int((domain / "max_energy_range_uj").read_text())
        total += a - b
    return total / 1e6


def meter(root: Path | None = None) -> Meter | None:
    """The host's package energy as one counter, where RAPL is readable (often root only)."""
    domains = package_domains(root or POWERCAP)
    if not domains:
        return None
    wrap = sum(int((d / "max_energy_range_uj").read_text()) for d in domains) / 1e6
    names = ", ".join(d.name for d in domains)
    return Meter(lambda: sum(read_energy_uj(domains)) / 1e6,
                 f"measured: RAPL package counters ({names})", f"rapl:{names}",
                 wrap if len(domains) == 1 else None)

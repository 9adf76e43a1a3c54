"""Package energy from Intel/AMD RAPL counters in sysfs, where the host exposes them."""

from __future__ import annotations

from pathlib import Path

from hetero.energy import Meter

POWERCAP = Path("/sys/class/powercap")


def package_domains(root: Path = POWERCAP) -> list[Path]:
    """The readable package domains (intel-rapl:0, intel-rapl:1, …): not their core, uncore
    and dram sub-domains, which the package figure includes, nor ``psys``, the platform."""
    domains = []
    for domain in sorted(root.glob("intel-rapl:*")):
        if domain.name.count(":") != 1:
            continue
        try:
            name = (domain / "name").read_text().strip() if (domain / "name").exists() \
                else "package"
            int((domain / "energy_uj").read_text())
            int((domain / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            continue  # often readable by root only
        if name.startswith("package"):
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
    """The host's package energy as one counter, where RAPL is readable (often root only);
    each package's wrap-around is undone between readings."""
    domains = package_domains(root or POWERCAP)
    if not domains:
        return None
    state = {"raw": read_energy_uj(domains), "joules": 0.0}

    def read_j() -> float:
        raw = read_energy_uj(domains)
        state["joules"] += energy_delta_j(domains, state["raw"], raw)
        state["raw"] = raw
        return state["joules"]

    names = ", ".join(d.name for d in domains)
    return Meter(read_j, f"measured: RAPL package counters ({names})", f"rapl:{names}")

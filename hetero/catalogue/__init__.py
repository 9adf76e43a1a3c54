"""The hardware catalogue: device profiles and link presets, built-in plus what plugins add.

The simulated backend attaches these profiles; the cost model reads them. Every figure carries its
source: "datasheet: …" (a vendor figure) or "paper: …", each naming its document's title in
quotes; "derived: …" (arithmetic on such figures, naming them); "estimate: …" (our
assumption with its reasoning, to be replaced by a measurement or a source). No source cites
a file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hetero.device import DeviceProfile
from hetero.errors import PluginError


@dataclass(frozen=True)
class LinkProfile:
    """An interconnect between two memory domains. ``zero_copy`` links cost nothing to cross."""

    name: str
    bandwidth_gbs: float
    latency_ms: float
    energy_nj_per_byte: float
    description: str
    zero_copy: bool = False
    sources: dict[str, str] = field(default_factory=dict)

    def transfer_s(self, nbytes: float) -> float:
        """Modeled seconds to move ``nbytes`` one way across the link."""
        if self.zero_copy:
            return 0.0
        return self.latency_ms * 1e-3 + nbytes / (self.bandwidth_gbs * 1e9)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def merged(builtin: list, contributed: list[tuple[str, list]], what: str,
           errors: Any) -> dict[str, Any]:
    """Built-in entries first, then plugin ones; a plugin may not shadow an existing name."""
    table = {entry.name: entry for entry in builtin}
    for plugin, entries in contributed:
        for entry in entries:
            if entry.name in table:
                errors.append(PluginError(plugin, f"hetero_{what}",
                                          f"{what[:-1]} {entry.name!r} is already catalogued"))
            else:
                table[entry.name] = entry
    return table


def load_catalogue(plugins: Any) -> tuple[dict[str, DeviceProfile], dict[str, LinkProfile]]:
    """The full catalogue: built-in profiles and links merged with plugin contributions; a
    contribution of the wrong type is a plugin error naming the plugin and hook, and skipped."""
    from hetero.catalogue.devices import BUILTIN_PROFILES
    from hetero.catalogue.links import BUILTIN_LINKS

    contributed = {what: list(plugins.call_each(f"hetero_{what}", expect=kind))  # checked
                   for what, kind in (("profiles", DeviceProfile), ("links", LinkProfile))}
    profiles = merged(BUILTIN_PROFILES, contributed["profiles"], "profiles", plugins.errors)
    links = merged(BUILTIN_LINKS, contributed["links"], "links", plugins.errors)
    return profiles, links


__all__ = ["LinkProfile", "load_catalogue"]

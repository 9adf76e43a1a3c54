"""Attach and detach simulated devices at run time (``hetero.sim.attach`` / ``detach``).

They are hot-plugged through the registry, so subscribers see "added"/"removed" events and the
generation counter moves, exactly as for real hardware.
"""

from __future__ import annotations

import difflib

from hetero.catalogue import LinkProfile
from hetero.device import Device, DeviceProfile
from hetero.discovery import default_registry
from hetero.errors import ArgumentError, HeteroError


def lookup(name: str, table: dict, what: str) -> object:
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, table, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise HeteroError(f"no {what} named {name!r} in the catalogue.{hint} "
                      f"Known: {', '.join(table)}")


def attach(profile: str | DeviceProfile, link: str | LinkProfile | None = None) -> Device:
    """Attach a simulated device of a catalogued profile; ``link`` defaults to the profile's."""
    registry = default_registry()
    registry.ensure_scanned()  # so the first scan does not report this device a second time
    profiles, links = registry.catalogue()
    if isinstance(profile, str):
        profile = lookup(profile, profiles, "device profile")
    if not isinstance(profile, DeviceProfile):
        raise ArgumentError(f"profile={profile!r}: give a catalogue name (hetero.profiles()) "
                            "or a hetero.DeviceProfile")
    link = link if link is not None else profile.default_link
    if isinstance(link, str):
        link = lookup(link, links, "link")
    if link is not None and not isinstance(link, LinkProfile):
        raise ArgumentError(f"link={link!r}: give a link name (hetero.links()) or a "
                            "hetero.LinkProfile")
    sim = registry.backend("sim")
    return registry.attach(lambda: sim.attach(profile, link))


def detach(device: Device | str) -> None:
    """Remove a simulated device; arrays still on it raise DeviceLost from then on."""
    registry = default_registry()
    if isinstance(device, str):
        device = registry.device(device)
    if not device.simulated:
        raise HeteroError(f"{device.id} is not a simulated device; only sim devices detach")
    sim = registry.backend("sim")
    registry.detach(device, lambda: sim.detach(device))

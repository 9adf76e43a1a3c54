"""``hetero devices`` and ``hetero profiles``: what hetero finds here, and the catalogue."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import hetero
from hetero.cli.show import human_bytes, peak_text, power_text, print_table
from hetero.device import Device


def device_row(d: Device) -> list[str]:
    return [d.id, d.kind, d.backend, d.arch, human_bytes(d.memory_bytes), peak_text(d.profile),
            power_text(d.profile), "yes (modeled figures)" if d.simulated else "no", ""]


def problem_rows() -> list[list[str]]:
    """A row for every backend that is not usable and every plugin error."""
    rows = [["-", "-", s.name, "-", "-", "-", "-", "yes" if s.simulated else "no",
             f"{s.state}: {s.detail}"] for s in hetero.backend_status() if s.state != "ok"]
    reported = {(s.name, s.detail) for s in hetero.backend_status()}
    rows += [["-", "-", e.plugin, "-", "-", "-", "-", "-", error_text(e)]
             for e in hetero.plugin_errors() if (e.plugin, e.detail) not in reported]
    return rows


def error_text(error: hetero.PluginError) -> str:
    """A plugin error's cell: its stage or hook, its cause, and how often it happened."""
    times = f" (x{error.count})" if error.count > 1 else ""
    return f"error ({error.stage}){times}: {error.detail}"


def attach_requested(specs: Sequence[str]) -> list[Device]:
    attached = []
    for spec in specs:
        profile, _, link = spec.partition("@")
        attached.append(hetero.sim.attach(profile, link=link or None))
    return attached


def cmd_devices(args: argparse.Namespace) -> int:
    attach_requested(args.sim)
    devices = hetero.devices()
    if args.json:
        print(json.dumps({
            "hetero_version": hetero.__version__, "plugin_api": hetero.PLUGIN_API_VERSION,
            "devices": [d.to_dict() for d in devices],
            "backends": [s.to_dict() for s in hetero.backend_status()],
            "errors": [e.as_dict() for e in hetero.plugin_errors()]}, indent=2))
        return 0
    columns = ["id", "kind", "backend", "arch", "memory", "peak", "power", "simulated", "errors"]
    print_table("hetero devices", columns, [device_row(d) for d in devices] + problem_rows())
    return 0


def cmd_profiles(args: argparse.Namespace) -> int:
    profiles = hetero.profiles()
    if args.json:
        print(json.dumps({"profiles": [p.to_dict() for p in profiles.values()],
                          "links": [x.to_dict() for x in hetero.links().values()]}, indent=2))
        return 0
    rows = [[p.name, p.kind, p.description, human_bytes(p.memory_bytes), peak_text(p),
             power_text(p), p.default_link or "-"] for p in profiles.values()]
    print_table("hetero profiles (catalogue; attach with hetero.sim.attach)",
                ["profile", "kind", "description", "memory", "peak", "power", "link"], rows)
    return 0

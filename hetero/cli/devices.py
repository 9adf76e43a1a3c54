"""``hetero devices`` and ``hetero profiles``: what hetero finds here, and the catalogue."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from typing import Any

import hetero
from hetero.cli.show import human_bytes, peak_text, power_text, print_table, show_lines
from hetero.device import Device


def device_row(d: Device) -> list[str]:
    """Two lines a device, so the table fits an 80-column terminal without cutting an id."""
    return [d.id + ("\nSIMULATED" if d.simulated else ""),
            f"{d.kind} {d.arch}\n{human_bytes(d.memory_bytes)}",
            f"{peak_text(d.profile)}\n{power_text(d.profile)}", link_text(d)]


def link_text(d: Device) -> str:
    """How data reaches the device: its link's kind, one-way latency and bandwidth, or the host's
    own memory. Link figures always come from the catalogue, so they are modeled."""
    if d.link is None:
        return "host"
    x = d.link
    if x.zero_copy:
        return f"{x.name}, zero-copy"
    return f"{x.name}: {x.latency_ms:g} ms, {rate_text(x.bandwidth_gbs)}\n(modeled)"


def rate_text(gbs: float) -> str:
    """A bandwidth as people quote it: radio links in Mbit/s, buses in GB/s."""
    return f"{gbs * 8000:,.0f} Mbit/s" if gbs < 0.125 else f"{gbs:g} GB/s"


def unavailable_line(statuses: Sequence[Any]) -> str:
    """One line for every backend that cannot run here, each with what enables it."""
    parts = [f"{s.name} ({enabling(s.detail)})" for s in statuses if s.state == "unavailable"]
    return ("not available here: " + ", ".join(parts) + "; why: hetero devices --verbose"
            if parts else "")


def enabling(detail: str) -> str:
    """The command (or setting) in an unavailable backend's reason that enables it."""
    pip = re.search(r"pip install \S+", detail)
    if pip:
        return pip.group(0)
    setting = re.search(r"\b[A-Z][A-Z0-9_]+=\S+.*", detail)  # an alternative, e.g. a simulator
    why = re.split(r" \(|; |: ", detail, maxsplit=1)[0]
    return f"{why}; {setting.group(0)}" if setting else detail


def problem_lines(verbose: bool) -> list[str]:
    """Backends that failed or timed out, and plugin errors: real problems, never hidden; with
    ``verbose`` also why each unavailable backend is unavailable."""
    statuses = hetero.backend_status()
    shown = [s for s in statuses if s.state not in ("ok", "unavailable") or
             (verbose and s.state == "unavailable")]
    lines = [f"{s.name}: {s.state}: {s.detail}" for s in shown]
    reported = {(s.name, s.detail) for s in statuses}
    lines += [f"{e.plugin}: {error_text(e)}" for e in hetero.plugin_errors()
              if (e.plugin, e.detail) not in reported]
    return lines


def error_text(error: hetero.PluginError) -> str:
    """A plugin error's line: its stage or hook, its cause, and how often it happened."""
    times = f" (x{error.count})" if error.count > 1 else ""
    return f"error ({error.stage}){times}: {error.detail}"


def devices_title(devices: Sequence[Device]) -> str:
    simulated = sum(d.simulated for d in devices)
    return f"hetero devices: {len(devices)} found" + (f", {simulated} simulated" if simulated
                                                      else "")


SIMULATED_NOTE = ("SIMULATED: computed on this host; its times and energy are modeled from the "
                  "catalogue profile and its link")


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
    columns = ["id", "kind", "peak, busy/idle W", "link"]
    print_table(devices_title(devices), columns, [device_row(d) for d in devices],
                keep=("id",), marked=[d.simulated for d in devices])
    show_lines([SIMULATED_NOTE if any(d.simulated for d in devices) else ""], style="yellow")
    show_lines(problem_lines(args.verbose), style="red")
    if not args.verbose:
        show_lines([unavailable_line(hetero.backend_status())], style="dim")
    return 0


def cmd_profiles(args: argparse.Namespace) -> int:
    profiles = hetero.profiles()
    if args.json:
        print(json.dumps({"profiles": [p.to_dict() for p in profiles.values()],
                          "links": [x.to_dict() for x in hetero.links().values()]}, indent=2))
        return 0
    rows = [[p.name, f"{p.kind}\n{human_bytes(p.memory_bytes)}",
             f"{peak_text(p)}\n{power_text(p)}",
             p.description + (f" (link: {p.default_link})" if p.default_link else "")]
            for p in profiles.values()]
    print_table("hetero profiles (catalogue; attach with hetero.sim.attach)",
                ["profile", "kind", "peak, busy/idle W", "description"], rows,
                keep=("profile",))
    return 0

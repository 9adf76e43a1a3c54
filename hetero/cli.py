"""The ``hetero`` command line: ``devices``, ``profiles`` and ``conformance`` (more arrive with
their issues)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import hetero
from hetero.device import Device, DeviceProfile


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def provenance(profile: DeviceProfile, field: str) -> str:
    """The first word of a figure's source: measured, modeled, datasheet, derived or estimate."""
    note = profile.sources.get(field) or profile.sources.get(field.split(".")[0]) or profile.source
    return note.split(":")[0].split(" ")[0]


def peak_text(profile: DeviceProfile) -> str:
    dtype = "float32" if "float32" in profile.peak_gflops else next(iter(profile.peak_gflops))
    value = profile.peak_gflops[dtype]
    return f"{value:,.0f} GFLOP/s {dtype} ({provenance(profile, f'peak_gflops.{dtype}')})"


def power_text(profile: DeviceProfile) -> str:
    return (f"{profile.active_w:g} W busy / {profile.idle_w:g} W idle "
            f"({provenance(profile, 'active_w')})")


def device_row(d: Device) -> list[str]:
    return [d.id, d.kind, d.backend, d.arch, human_bytes(d.memory_bytes), peak_text(d.profile),
            power_text(d.profile), "yes (modeled figures)" if d.simulated else "no", ""]


def problem_rows() -> list[list[str]]:
    """A row for every backend that is not usable and every plugin error."""
    rows = [["-", "-", s.name, "-", "-", "-", "-", "yes" if s.simulated else "no",
             f"{s.state}: {s.detail}"] for s in hetero.backend_status() if s.state != "ok"]
    reported = {(s.name, s.detail) for s in hetero.backend_status()}
    rows += [["-", "-", e.plugin, "-", "-", "-", "-", "-", f"error ({e.stage}): {e.detail}"]
             for e in hetero.plugin_errors() if (e.plugin, e.detail) not in reported]
    return rows


def print_table(title: str, columns: Sequence[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        problem = row[-1].startswith(("error", "unavail"))
        table.add_row(*(Text(cell) for cell in row), style="red" if problem else None)
    Console(width=max(160, Console().width)).print(table)


def attach_requested(specs: Sequence[str]) -> None:
    for spec in specs:
        profile, _, link = spec.partition("@")
        hetero.sim.attach(profile, link=link or None)


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


def cmd_conformance(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from hetero.testing.conformance import run_suite, select_devices, table

    console = Console(stderr=True)
    results = []
    # Simulated devices compute on the host (numba's CUDA simulator takes minutes): run only
    # when named.
    for dev in select_devices(args.device, args.backend, simulated=bool(args.backend)):
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"{dev.id}", total=None)
            results += run_suite(dev, args.op, args.dtype, lambda op, dtype, d=dev, t=task:
                                 bar.update(t, description=f"{d.id}: {op} {dtype}"))
    failed = [r for r in results if not r.ok]
    if args.json:
        print(json.dumps({"results": [{**vars(r), "repro": r.repro} for r in results]},
                         indent=2))
    else:
        Console(width=max(120, Console().width)).print(table(results))
        for r in failed:
            print(f"FAIL {r.op} {r.dtype} [{r.case}] ({r.arguments}) on {r.device}: "
                  f"{r.detail}\n"
                  f"  repro: {r.repro}")
        print(f"{len(results) - len(failed)}/{len(results)} cases passed")
    return 1 if failed or not results else 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="hetero", description=hetero.__doc__.splitlines()[0])
    top.add_argument("--version", action="version", version=f"hetero {hetero.__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    devices = sub.add_parser("devices", help="list every device, backend state and plugin error")
    devices.add_argument("--json", action="store_true", help="machine-readable output")
    devices.add_argument("--sim", action="append", default=[], metavar="PROFILE[@LINK]",
                         help="attach a simulated device first (repeatable), e.g. a100@5g")
    devices.set_defaults(run=cmd_devices)
    profiles = sub.add_parser("profiles", help="list the hardware catalogue and link presets")
    profiles.add_argument("--json", action="store_true", help="machine-readable output")
    profiles.set_defaults(run=cmd_profiles)
    conformance = sub.add_parser(
        "conformance", help="run every portable kernel against its NumPy reference")
    conformance.add_argument("--backend", action="append", default=[], metavar="NAME",
                             help="test every device of this backend (repeatable)")
    conformance.add_argument("--device", action="append", default=[], metavar="SELECTOR",
                             help="device to test (repeatable); default: every real device")
    conformance.add_argument("--op", action="append", default=[], metavar="NAME",
                             help="ONNX op to test (repeatable), e.g. MatMul; default: all")
    conformance.add_argument("--dtype", action="append", default=[], metavar="DTYPE",
                             help="element type to test (repeatable), e.g. float32")
    conformance.add_argument("--json", action="store_true", help="machine-readable output")
    conformance.set_defaults(run=cmd_conformance)
    return top


def show_progress() -> None:
    """One stderr line whenever hetero starts slow one-time work (a device measurement)."""
    logger = logging.getLogger("hetero")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("hetero: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    show_progress()
    try:
        return args.run(args)
    except hetero.HeteroError as exc:
        print(f"hetero {args.command}: {exc}", file=sys.stderr)
        return 2


def run() -> Any:
    sys.exit(main())


if __name__ == "__main__":
    run()

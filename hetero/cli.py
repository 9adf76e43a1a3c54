"""The ``hetero`` command line: ``devices``, ``profiles``, ``ops``, ``run``, ``plan``,
``conformance`` and ``monitor`` (in ``hetero.monitor``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import hetero
from hetero.device import Device, DeviceProfile, one_per_silicon
from hetero.monitor import add_monitor_command
from hetero.plan.objective import OBJECTIVES
from hetero.plan.place import STRATEGIES


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
    rows += [["-", "-", e.plugin, "-", "-", "-", "-", "-", error_text(e)]
             for e in hetero.plugin_errors() if (e.plugin, e.detail) not in reported]
    return rows


def error_text(error: hetero.PluginError) -> str:
    """A plugin error's cell: its stage or hook, its cause, and how often it happened."""
    times = f" (x{error.count})" if error.count > 1 else ""
    return f"error ({error.stage}){times}: {error.detail}"


def print_table(title: str, columns: Sequence[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        problem = row[-1].startswith(("error", "unavail", "timed out"))
        table.add_row(*(Text(cell) for cell in row), style="red" if problem else None)
    Console(width=max(160, Console().width)).print(table)


def attach_requested(specs: Sequence[str]) -> list[Device]:
    attached = []
    for spec in specs:
        profile, _, link = spec.partition("@")
        attached.append(hetero.sim.attach(profile, link=link or None))
    return attached


def real_devices() -> list[Device]:
    """The default of `run` and `plan`: every real device, one per piece of hardware."""
    return one_per_silicon([d for d in hetero.devices() if not d.simulated])


def plan_devices(selectors: str) -> list[Device]:
    """``sim:PROFILE[@LINK]`` attaches a simulated device; anything else is a selector."""
    chosen = []
    for selector in filter(None, (s.strip() for s in selectors.split(","))):
        if selector.startswith("sim:") and selector[4:].split("@")[0] in hetero.profiles():
            chosen += attach_requested([selector[4:]])
        else:
            chosen.append(hetero.device(selector))
    return chosen


def cmd_plan(args: argparse.Namespace) -> int:
    """Place a model's nodes under the objective and caps; show where, why and what it costs."""
    model = hetero.load(args.model)
    devices = plan_devices(args.devices) if args.devices else real_devices()
    plan = hetero.compile(model, devices=devices, objective=args.objective,
                          max_latency_ms=args.max_latency_ms, max_energy_mj=args.max_energy_mj,
                          strategy=args.strategy)
    for path, write in ((args.plot, plan.plot), (args.trace, plan.save_trace)):
        if path:
            write(path)
            print(f"wrote {path}", file=sys.stderr)
    print(plan.to_json() if args.json else plan.report())
    return 0


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


def op_support(devices: Sequence[Device]) -> list[dict[str, Any]]:
    """Every ONNX op (latest opset of each domain) with its tier on each device."""
    import onnx
    from onnx import helper

    from hetero.graph.ir import Graph, node_of

    rows = []
    for schema in sorted(onnx.defs.get_all_schemas(), key=lambda s: (s.domain, s.name)):
        if schema.deprecated or schema.domain not in ("", "ai.onnx.ml"):
            continue
        proto = helper.make_node(schema.name, [f"i{k}" for k in range(schema.min_input)],
                                 [f"o{k}" for k in range(max(schema.min_output, 1))],
                                 domain=schema.domain)
        graph = Graph([], [], [], {}, {}, {schema.domain: schema.since_version}, [])
        node = node_of(proto, 0)
        rows.append({"op": schema.name, "domain": schema.domain or "ai.onnx",
                     "tiers": {d.id: d.impl.node_tier(d, node, graph) for d in devices}})
    return rows


def cmd_ops(args: argparse.Namespace) -> int:
    devices = [hetero.device(s) for s in args.device] or hetero.devices()
    if args.model:
        return model_ops(args, devices)
    rows = op_support(devices)
    if args.json:
        print(json.dumps({"ops": rows}, indent=2))
        return 0
    print_table("hetero ops: how each device runs each ONNX op (native, portable, reference "
                "or -); backends that decide from a node's shapes and types (tvm) answer "
                "per node: `hetero ops MODEL`",
                ["op", "domain", *(d.id for d in devices)],
                [[r["op"], r["domain"], *(r["tiers"][d.id] or "-" for d in devices)]
                 for r in rows])
    return 0


def model_ops(args: argparse.Namespace, devices: Sequence[Device]) -> int:
    """Each node of the model as compile sees it (after the passes, unless --passes none),
    with its tier on each device and why not where it cannot run: the capability table
    ``hetero.compile`` places from."""
    from hetero.plan.capability import origin
    from hetero.plan.pipeline import Pipeline

    pipeline = Pipeline(args.model, passes=() if args.passes == "none" else None)
    table = pipeline.capability(list(devices))
    rows = [{"node": n.name, "op": f"{n.domain or 'ai.onnx'}.{n.op_type}", "from": origin(n),
             "tiers": {d: cells[n.name].tier for d, cells in table.rows.items()},
             "reasons": {d: cells[n.name].reason for d, cells in table.rows.items()}}
            for n in pipeline.graph.nodes]
    if args.json:
        print(json.dumps({"model": args.model, "nodes": rows}, indent=2))
        return 0
    print_table(f"hetero ops {args.model}: each node as hetero.compile places it (after the "
                "graph passes) and its tier on each device",
                ["node", "op", *(d.id for d in devices)],
                [[r["node"], r["op"], *(r["tiers"][d.id] or "-" for d in devices)]
                 for r in rows])
    for r in rows:
        if not any(r["tiers"].values()):
            print(f"no device runs {r['from']}: " + "; ".join(
                f"{d}: {why}" for d, why in r["reasons"].items()))
    return 0


def read_inputs(specs: Sequence[str], graph: Any, seed: int = 0) -> dict[str, Any]:
    """NAME=FILE.npy pairs; inputs not given get seeded random data of their declared shape
    (symbolic dimensions taken as 1)."""
    import numpy as np

    feeds = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            raise hetero.ModelError(f"--input {spec!r}: write NAME=FILE.npy")
        try:
            feeds[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise hetero.ModelError(f"--input {name}: cannot read {path} ({exc})") from exc
    rng = np.random.default_rng(seed)
    for value in graph.inputs:
        if value.name in feeds:
            continue
        if value.dtype is None:
            raise hetero.ModelError(f"input {value.name!r} has no declared tensor type; give "
                                    f"it with --input {value.name}=FILE.npy")
        shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in value.shape or ())
        data = rng.standard_normal(shape) if value.dtype.kind == "f" else \
            rng.integers(0, 2 if value.dtype.kind == "b" else 10, shape)
        feeds[value.name] = data.astype(value.dtype)
    return feeds


def cmd_run(args: argparse.Namespace) -> int:
    import time

    model = hetero.load(args.model)
    devices = [hetero.device(s) for s in args.device] or real_devices()
    plan = hetero.compile(model, devices=devices)
    plan.profile = True  # one run: each node timed on its device's clock, energy read
    feeds = read_inputs(args.input, plan.graph)
    start = time.perf_counter()
    outputs = plan.run(feeds)
    latency = (time.perf_counter() - start) * 1e3
    summary = {name: {"shape": list(getattr(v, "shape", ())), "dtype": str(getattr(v, "dtype", "")),
                      "mean": float(v.mean()) if getattr(v, "size", 0) and v.dtype.kind in "fiub"
                      else None} for name, v in outputs.items()}
    if args.json:
        print(json.dumps({"latency_ms": latency, "latency": "measured (wall clock, one run)",
                          "outputs": summary, "nodes": [vars(t) for t in plan.last_run]},
                         indent=2))
        return 0
    print(plan.report())
    for name, info in summary.items():
        print(f"output {name}: {info['dtype']}{info['shape']} mean {info['mean']}")
    print(f"latency: {latency:.3f} ms (measured, wall clock, one run including first-run work)")
    return 0


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
                             help="device to test (repeatable); default: every real "
                                  "device that runs portable kernels")
    conformance.add_argument("--op", action="append", default=[], metavar="NAME",
                             help="ONNX op to test (repeatable), e.g. MatMul; default: all")
    conformance.add_argument("--dtype", action="append", default=[], metavar="DTYPE",
                             help="element type to test (repeatable), e.g. float32")
    conformance.add_argument("--json", action="store_true", help="machine-readable output")
    conformance.set_defaults(run=cmd_conformance)
    ops = sub.add_parser("ops", help="list each ONNX op (or each node of MODEL) with its tier "
                         "on each device")
    ops.add_argument("model", nargs="?", help="an .onnx file: its nodes after the graph passes, "
                     "as hetero.compile places them")
    ops.add_argument("--passes", choices=["all", "none"], default="all",
                     help="with MODEL: run the graph passes first (default) or show the nodes "
                          "as written")
    ops.add_argument("--device", action="append", default=[], metavar="SELECTOR",
                     help="device to list (repeatable); default: every device")
    ops.add_argument("--json", action="store_true", help="machine-readable output")
    ops.set_defaults(run=cmd_ops)
    run = sub.add_parser("run", help="run an ONNX model and show where each node ran")
    run.add_argument("model", help="path to the .onnx file")
    run.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                     help="an input from a .npy file (repeatable); others get seeded random "
                          "data of their declared shape")
    run.add_argument("--device", action="append", default=[], metavar="SELECTOR",
                     help="a device the plan may use, in preference order (repeatable); "
                          "default: every real device, one per piece of hardware")
    run.add_argument("--json", action="store_true", help="machine-readable output")
    run.set_defaults(run=cmd_run)
    add_plan_command(sub)
    add_monitor_command(sub)
    return top


def add_plan_command(sub: Any) -> None:
    plan = sub.add_parser("plan", help="place a model's nodes for the least energy (or time) "
                                       "and show each choice with its reason")
    plan.add_argument("model", help="path to the .onnx file")
    plan.add_argument("--devices", default="", metavar="SEL,SEL",
                      help="devices to place on, e.g. cpu,sim:jetson-xavier-nx-gpu,sim:a100@5g"
                           " (sim:PROFILE[@LINK] attaches a simulated device); default: every real "
                           "device, one per piece of hardware")
    plan.add_argument("--objective", default="energy", choices=OBJECTIVES)
    plan.add_argument("--max-latency-ms", type=float, default=None, metavar="N")
    plan.add_argument("--max-energy-mj", type=float, default=None, metavar="N")
    plan.add_argument("--strategy", default="search", choices=STRATEGIES,
                      help="search (default), or one of the baselines to compare against")
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.add_argument("--plot", metavar="PATH.png", help="write the timeline and energy plot")
    plan.add_argument("--trace", metavar="PATH.json", help="write a Chrome trace (Perfetto)")
    plan.set_defaults(run=cmd_plan)


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

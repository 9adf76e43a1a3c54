"""``hetero plan``: place a model's nodes and show each choice with its reason."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import hetero
from hetero.cli.devices import attach_requested
from hetero.cli.show import console
from hetero.device import Device
from hetero.discovery import real_devices
from hetero.plan.objective import OBJECTIVES
from hetero.plan.place import STRATEGIES


def plan_devices(selectors: str) -> list[Device]:
    """``sim:PROFILE[@LINK]`` attaches a simulated device (an unknown profile is refused with
    the catalogue's names), ``sim:PROFILE:N`` names one attached; anything else is a
    selector."""
    chosen = []
    for selector in filter(None, (s.strip() for s in selectors.split(","))):
        if selector.startswith("sim:") and selector not in {d.id for d in hetero.devices()}:
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
    print(plan.to_json() if args.json else plan.report(console().width))
    return 0


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
    plan.add_argument("-v", "--verbose", action="store_true",
                      help="show diagnostics on stderr, the MILP solver's notes among them")
    plan.set_defaults(run=cmd_plan)

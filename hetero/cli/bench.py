"""``hetero bench``: how fast a model runs on each device, planned, and on ONNX Runtime."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import hetero
from hetero.cli.plan import plan_devices
from hetero.cli.run import add_input_option, read_inputs
from hetero.cli.show import console
from hetero.discovery import real_devices


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure (hetero.bench), then print the table or JSON and write the plot."""
    from hetero.bench import bench

    model = hetero.load(args.model)
    devices = plan_devices(args.devices) if args.devices else real_devices()
    feeds = read_inputs(args.input, model.graph(), args.seed)
    result = bench(model, devices, repeats=args.repeats, feeds=feeds)
    if args.plot:
        result.plot(args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        print(result.to_json())
    else:
        out = console()
        out.print(result.table(out.width))
    return 0


def add_bench_command(sub: Any) -> None:
    bench = sub.add_parser("bench", help="time a model on each device alone, on the planned "
                                         "placement and on ONNX Runtime (measured, interleaved)")
    bench.add_argument("model", help="path to the .onnx file")
    bench.add_argument("--devices", default="", metavar="SEL,SEL",
                       help="devices to time, alone and planned together, e.g. "
                            "cpu,sim:a100@5g (sim:PROFILE[@LINK] attaches a simulated device); "
                            "default: every real device, one per piece of hardware")
    bench.add_argument("--repeats", type=int, default=20, metavar="N",
                       help="timed runs per configuration, after its warm-up (default 20)")
    add_input_option(bench)
    bench.add_argument("--seed", type=int, default=0, metavar="N",
                       help="of the random inputs (default 0)")
    bench.add_argument("--json", action="store_true",
                       help="everything, per-run samples and the machine included, as JSON")
    bench.add_argument("--plot", metavar="PATH.png",
                       help="write a box plot of each configuration's run times")
    bench.set_defaults(run=cmd_bench)

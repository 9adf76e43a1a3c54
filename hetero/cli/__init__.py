"""The ``hetero`` command line. One module per command: ``devices`` (and ``profiles``),
``conformance``, ``ops``, ``run``, ``plan``, ``monitor``, ``bench``; ``show`` draws tables."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

import hetero
from hetero import progress
from hetero.cli.bench import add_bench_command
from hetero.cli.conformance import cmd_conformance
from hetero.cli.devices import attach_requested, cmd_devices, cmd_profiles
from hetero.cli.monitor import add_monitor_command
from hetero.cli.ops import cmd_ops
from hetero.cli.plan import add_plan_command
from hetero.cli.run import add_input_option, cmd_run, read_inputs

__all__ = ["attach_requested", "main", "parser", "read_inputs", "run"]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="hetero", description=hetero.__doc__.splitlines()[0])
    top.add_argument("--version", action="version", version=f"hetero {hetero.__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    devices = sub.add_parser("devices", help="list every device, backend state and plugin error")
    devices.add_argument("--json", action="store_true", help="machine-readable output")
    devices.add_argument("--sim", action="append", default=[], metavar="PROFILE[@LINK]",
                         help="attach a simulated device first (repeatable), e.g. a100@5g")
    devices.add_argument("-v", "--verbose", action="store_true",
                         help="also say why each unavailable backend is unavailable")
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
    add_input_option(run)
    run.add_argument("--device", action="append", default=[], metavar="SELECTOR",
                     help="a device the plan may use, in preference order (repeatable); "
                          "default: every real device, one per piece of hardware")
    run.add_argument("--repeats", type=int, default=3, metavar="N",
                     help="runs to time after the warmup; the median is shown (default 3)")
    run.add_argument("--no-warmup", action="store_true",
                     help="no plan.warmup: the first run compiles, and is shown apart")
    run.add_argument("--json", action="store_true", help="machine-readable output")
    run.set_defaults(run=cmd_run)
    add_plan_command(sub)
    add_monitor_command(sub)
    add_bench_command(sub)
    return top


LOG_HANDLER = "hetero command line"  # the name of the handler show_progress adds


def show_progress(verbose: bool = False) -> None:
    """One stderr line whenever hetero starts slow one-time work (a device measurement); with
    ``verbose`` (``--verbose``), diagnostics too, the MILP solver's notes among them."""
    logger = logging.getLogger("hetero")
    for ours in [h for h in logger.handlers if h.get_name() == LOG_HANDLER]:
        logger.removeHandler(ours)  # replaced: the stderr of this call (tests swap it)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(LOG_HANDLER)
        handler.setFormatter(logging.Formatter("hetero: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    show_progress(getattr(args, "verbose", False))
    previous = progress.enable()
    try:
        return args.run(args)
    except hetero.HeteroError as exc:
        print(f"hetero {args.command}: {exc}", file=sys.stderr)
        return 2
    finally:
        progress.enable(previous)  # main() called in a process: leave it as it was


def run() -> Any:
    sys.exit(main())


"""``hetero run``: run an ONNX model and show where each node ran."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import hetero
from hetero.cli.show import console
from hetero.discovery import real_devices
from hetero.runtime import synthetic_feed


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
        if value.name not in feeds:
            feeds[value.name] = synthetic_feed(value, rng)
    return feeds


def add_input_option(command: argparse.ArgumentParser) -> None:
    """``--input NAME=FILE.npy``, read by ``read_inputs``: run and bench take it alike."""
    command.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                         help="an input from a .npy file (repeatable); others get seeded "
                              "random data of their declared shape")


def cmd_run(args: argparse.Namespace) -> int:
    if args.repeats < 1:
        raise hetero.ArgumentError(f"--repeats {args.repeats}: give 1 or more runs to time")
    model = hetero.load(args.model)
    devices = [hetero.device(s) for s in args.device] or real_devices()
    plan = hetero.compile(model, devices=devices)
    feeds = read_inputs(args.input, plan.graph)
    compile_ms = None if args.no_warmup else plan.warmup(feeds)
    runs = timed_runs(plan, feeds, args.repeats)  # as an application runs it: not profiled
    outputs = runs.pop()
    plan.profile = True  # then one run more, untimed here, for the table's "last run": each
    plan.run(feeds)      # node timed on its device's clock, energy read
    summary = {name: {"shape": list(getattr(v, "shape", ())), "dtype": str(getattr(v, "dtype", "")),
                      "mean": float(v.mean()) if getattr(v, "size", 0) and v.dtype.kind in "fiub"
                      else None} for name, v in outputs.items()}
    timing = latency(compile_ms, runs)
    if args.json:
        print(json.dumps({**timing, "outputs": summary,
                          "nodes": [{k: v for k, v in vars(t).items() if k != "marks"}
                                    for t in plan.last_run]}, indent=2))
        return 0
    print(plan.report(console().width))
    for name, info in summary.items():
        print(f"output {name}: {info['dtype']}{info['shape']} mean {info['mean']}")
    print(latency_line(timing))
    return 0


def timed_runs(plan: Any, feeds: dict[str, Any], repeats: int) -> list[Any]:
    """Each run's measured wall-clock ms, then the last run's outputs."""
    import time

    times: list[Any] = []
    for _ in range(repeats):
        start = time.perf_counter()
        outputs = plan.run(feeds)
        times.append((time.perf_counter() - start) * 1e3)
    return [*times, outputs]


def latency(compile_ms: float | None, runs: list[float]) -> dict[str, Any]:
    """What the runs cost, first-run work apart from steady state, every figure measured:
    with a warmup, its time then the median run; without, the cold first run then the
    median of the others."""
    import statistics

    first = None if compile_ms is not None else runs[0]
    steady = runs if compile_ms is not None else runs[1:]
    median = statistics.median(steady) if steady else None
    return {"compile_ms": compile_ms,
            "compile": "measured: wall clock, plan.warmup (compiles each node's kernels, "
                       "prepares what a first run would)" if compile_ms is not None
                       else "not done (--no-warmup)",
            "first_run_ms": first,
            "first_run": "measured: wall clock, a cold first run (compiles as it goes)"
                         if first is not None else "none (warmed up first)",
            "latency_ms": median,
            "latency": f"measured: wall clock, median of {len(steady)} "
                       f"run{'s' * (len(steady) != 1)}{' after the first' * (first is not None)}"
                       if steady else "none (one cold run only; --repeats 2 or more)",
            "runs_ms": runs}


def latency_line(timing: dict[str, Any]) -> str:
    """'compile X ms, then Y ms per run': both measured, what Y is a median of."""
    parts = []
    if timing["compile_ms"] is not None:
        parts.append(f"compile {timing['compile_ms']:.1f} ms (measured: wall clock, "
                     "plan.warmup)")
    if timing["first_run_ms"] is not None:
        parts.append(f"first run {timing['first_run_ms']:.1f} ms (measured: wall clock, "
                     "compiles as it goes)")
    if timing["latency_ms"] is not None:
        parts.append(f"then {timing['latency_ms']:.3f} ms per run ({timing['latency']})")
    return "latency: " + ", ".join(parts)

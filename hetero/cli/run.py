"""``hetero run``: run an ONNX model and show where each node ran."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import hetero
from hetero.cli.plan import real_devices


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

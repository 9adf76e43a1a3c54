"""hetero against ONNX Runtime on a busy machine (issue 21, item 1): SqueezeNet's median per
run on cpu:0, quiet and beside three kinds of competitor, each ratio to ORT measured under the
same competitor.

    python benchmarks/contention.py [--model squeezenet] [--runs 40] [--competitors ...]

Competitors: ``hetero`` (a second process running ResNet-50 through hetero in a loop),
``blas`` (a process multiplying 1024x1024 matrices with NumPy in a loop), ``threads`` (four
threads of this process calling one plan, and one ORT session, at once). hetero and ORT runs
alternate call by call, so drifting load hits both alike; ORT has as many intra-op threads as
hetero's kernels, its pool not spinning. The goal: each busy ratio within 1.2x of the quiet
one.
Rerun with ``OMP_WAIT_POLICY=PASSIVE`` to see OpenMP's waiting threads asleep, not spinning.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import hetero
from hetero.bench import intra_op_threads, ort_session
from hetero.testing.models import light_model

HETERO_LOOP = """
import sys, hetero
from hetero.runtime import synthetic_feeds
from hetero.testing.models import light_model
plan = hetero.compile(hetero.load(light_model("resnet50")), devices=["cpu"])
plan.warmup()
x = synthetic_feeds(plan.graph)
open(sys.argv[1], "w").write("ready")
while True:
    plan.run(x)
"""

BLAS_LOOP = """
import sys, numpy as np
a = np.random.default_rng(0).standard_normal((1024, 1024))
open(sys.argv[1], "w").write("ready")
while True:
    a = (a @ a) / 1024.0
"""


class Competitor:
    """Another process, started and running its loop before measuring begins."""

    def __init__(self, source: str) -> None:
        self.ready = Path(tempfile.mkdtemp()) / "ready"
        self.process = subprocess.Popen([sys.executable, "-c", source, str(self.ready)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while not self.ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the competitor did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def medians(hetero_run: Callable[[], object], ort_run: Callable[[], object], runs: int,
            callers: int = 1) -> tuple[float, float]:
    """Median ms per call of each, alternating call by call; ``callers`` threads at once."""
    times: dict[str, list[float]] = {"hetero": [], "ort": []}
    lock = threading.Lock()

    def call() -> None:
        for _ in range(runs):
            for name, fn in (("hetero", hetero_run), ("ort", ort_run)):
                started = time.perf_counter()
                fn()
                with lock:
                    times[name].append((time.perf_counter() - started) * 1e3)

    workers = [threading.Thread(target=call) for _ in range(callers)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return statistics.median(times["hetero"]), statistics.median(times["ort"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="squeezenet")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--competitors", default="hetero,blas,threads")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model = light_model(args.model)
    plan = hetero.compile(hetero.load(model), devices=["cpu"])
    plan.warmup()
    (data,) = plan.graph.inputs
    x = np.random.default_rng(1).standard_normal(data.shape).astype(np.float32)
    session = ort_session(model.SerializeToString(), intra_op_threads(), spinning=False)
    run_h, run_o = (lambda: plan.run({data.name: x})), (lambda: session.run(None, {data.name: x}))
    for _ in range(20):  # past the runs that record node times
        run_h()
        run_o()
    rows = []
    for case in ["quiet", *args.competitors.split(",")]:
        competitor = Competitor(HETERO_LOOP if case == "hetero" else BLAS_LOOP) \
            if case in ("hetero", "blas") else None
        try:
            h, o = medians(run_h, run_o, args.runs, callers=4 if case == "threads" else 1)
        finally:
            if competitor:
                competitor.stop()
        rows.append({"case": case, "hetero_ms": h, "ort_ms": o, "ratio": h / o})
    quiet = rows[0]["ratio"]
    for row in rows:
        row["vs_quiet"] = row["ratio"] / quiet
    info = {"model": args.model, "runs": args.runs, "threads": intra_op_threads(),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "load_average": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                  time.gmtime())}
    if args.json:
        print(json.dumps({"machine": info, "rows": rows}, indent=2))
        return
    print(f"{args.model}, {args.runs} runs a side, alternating, medians (measured, wall "
          f"clock); {info}")
    print(f"{'case':8} {'hetero ms':>10} {'ORT ms':>8} {'ratio':>6} {'vs quiet':>8}")
    for r in rows:
        print(f"{r['case']:8} {r['hetero_ms']:10.2f} {r['ort_ms']:8.2f} {r['ratio']:6.2f} "
              f"{r['vs_quiet']:8.2f}")


if __name__ == "__main__":
    main()

"""hetero against ONNX Runtime on the CPU: the nine light models with seeded random weights
(batch 1 and 8), per-node overhead on a chain of 1000 tiny Adds, and peak resident memory.

Run: python benchmarks/onnx_cpu.py [--repeat 5] [--models resnet50,vgg19] [--batches 1,8]
Both sides use the same thread count (ORT intra-op threads = the cores numpy's BLAS uses).
Medians of measured wall clock per run (first run excluded); ratio = hetero / ORT.
Peak memory is measured in a fresh process per runtime (ru_maxrss).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_models import LIGHT, MODELS, randomised  # noqa: E402 - the seeded models of the tests

import hetero  # noqa: E402
from hetero.bench import ort_session as session  # noqa: E402


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def batched(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    """The model at ``batch``: its data input's and outputs' first dimension, and the batch
    these old models fix inside Reshape targets (``[1, -1]``, ``[1, g, c, h, w]``)."""
    weights = {t.name: t for t in model.graph.initializer}
    data = next(i for i in model.graph.input if i.name not in weights)
    data.type.tensor_type.shape.dim[0].dim_value = batch
    del model.graph.value_info[:]
    for out in model.graph.output:
        dims = out.type.tensor_type.shape.dim
        if dims and dims[0].dim_value == 1:
            dims[0].dim_value = batch
    for node in model.graph.node:
        target = weights.get(node.input[1]) if node.op_type == "Reshape" else None
        if target is not None:
            shape = numpy_helper.to_array(target).copy()
            if shape.size and shape[0] == 1:
                shape[0] = batch
                target.CopyFrom(numpy_helper.from_array(shape, target.name))
    return model


def compare(name: str, batch: int, repeat: int, threads: int) -> tuple[float, float] | None:
    model = batched(randomised(LIGHT / f"light_{name}.onnx"), batch)
    try:
        ort_session = session(model, threads)
        plan = hetero.compile(hetero.load(model), devices=[hetero.device("cpu")])
    except Exception as exc:  # a model whose graph fixes batch 1 (Reshape to [1, -1]) etc.
        print(f"{name:14s} batch {batch}: skipped ({type(exc).__name__}: {str(exc)[:80]})")
        return None
    (data,) = plan.graph.inputs
    x = np.random.default_rng(1).standard_normal(
        [batch, *data.shape[1:]]).astype(np.float32)
    try:
        ort_ms = median_ms(lambda: ort_session.run(None, {data.name: x}), repeat)
        hetero_ms = median_ms(lambda: plan.run({data.name: x}), repeat)
    except Exception as exc:
        print(f"{name:14s} batch {batch}: skipped ({type(exc).__name__}: {str(exc)[:80]})")
        return None
    print(f"{name:14s} batch {batch}: ORT {ort_ms:9.2f} ms  hetero {hetero_ms:9.2f} ms  "
          f"ratio {hetero_ms / ort_ms:6.2f}")
    return hetero_ms, ort_ms


def add_chain(n: int = 1000) -> onnx.ModelProto:
    nodes = [helper.make_node("Add", [f"v{i}", "one"], [f"v{i + 1}"]) for i in range(n)]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("v0", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info(f"v{n}", TensorProto.FLOAT, [1])],
        [helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def per_node_overhead(repeat: int, threads: int) -> None:
    model, n = add_chain(), 1000
    x = np.zeros(1, np.float32)
    plan = hetero.compile(hetero.load(model), devices=[hetero.device("cpu")])
    ort_session = session(model, threads)
    ours = median_ms(lambda: plan.run({"v0": x}), repeat) * 1e3 / n
    theirs = median_ms(lambda: ort_session.run(None, {"v0": x}), repeat) * 1e3 / n
    print(f"per-node overhead, 1000 chained Adds: hetero {ours:.2f} us/node, "
          f"ORT {theirs:.2f} us/node (goal <= 5 us)")


def peak_memory(name: str, threads: int) -> None:
    """Peak RSS of a fresh process that loads and runs the model once per runtime."""
    peaks = {}
    for runtime in ("ort", "hetero"):
        code = (f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
                f"import onnx_cpu as b; b.run_once({name!r}, {runtime!r}, {threads})")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True)
        peaks[runtime] = int(done.stdout.strip().splitlines()[-1])
    print(f"peak RSS, {name} batch 1: hetero {peaks['hetero'] / 1024:.0f} MiB, "
          f"ORT {peaks['ort'] / 1024:.0f} MiB")


def run_once(name: str, runtime: str, threads: int) -> None:
    model = randomised(LIGHT / f"light_{name}.onnx")
    data = [i for i in model.graph.input if i.name not in {t.name for t in
                                                            model.graph.initializer}][0]
    shape = [d.dim_value for d in data.type.tensor_type.shape.dim]
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    if runtime == "ort":
        session(model, threads).run(None, {data.name: x})
    else:
        hetero.compile(hetero.load(model), devices=[hetero.device("cpu")]).run({data.name: x})
    print(peak_rss_kib())


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # pragma: no cover


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batches", default="1,8")
    args = parser.parse_args()
    import numba

    threads = numba.get_num_threads()
    print(f"threads: {threads} (ORT intra-op) / numpy BLAS and numba on {os.cpu_count()} cores")
    for batch in map(int, args.batches.split(",")):
        ratios = [r[0] / r[1] for name in args.models.split(",")
                  if (r := compare(name, batch, args.repeat, threads))]
        if ratios:
            geomean = math.exp(sum(map(math.log, ratios)) / len(ratios))
            print(f"batch {batch}: geometric-mean time ratio hetero/ORT {geomean:.2f} over "
                  f"{len(ratios)} models (target <= 1.3, goal <= 1.0)")
    per_node_overhead(args.repeat, threads)
    peak_memory("resnet50", threads)


if __name__ == "__main__":
    main()

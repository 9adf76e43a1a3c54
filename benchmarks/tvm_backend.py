"""The tvm backend against the cpu backend and ONNX Runtime: ResNet-50 (seeded random
weights, batch 1) compiled whole for TVM's llvm target, in a fresh process with an empty
compile cache (compile time), then from the cache (load time), and run time per inference.

Run: python benchmarks/tvm_backend.py [--repeat 10] [--models resnet50,squeezenet]
Medians of measured wall clock per run (first run excluded). Each runtime is timed in its
own block (ORT's spinning pool threads slow whatever runs beside them).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import hetero.backends.tvm.compiler as compiler  # noqa: E402
from onnx_cpu import median_ms  # noqa: E402
from test_models import LIGHT, randomised  # noqa: E402 - onnx_cpu put tests/ on the path

import hetero  # noqa: E402
from hetero.bench import ort_session as session  # noqa: E402


def compiled(model: hetero.Model, device: hetero.Device) -> tuple[hetero.Plan, float]:
    start = time.perf_counter()
    plan = hetero.compile(model, devices=[device], strict=True)
    return plan, time.perf_counter() - start


def bench(name: str, repeat: int) -> None:
    import numpy as np

    proto = randomised(LIGHT / f"light_{name}.onnx")
    weights = {t.name for t in proto.graph.initializer}
    data = next(i for i in proto.graph.input if i.name not in weights)
    model, feed_name = hetero.load(proto), data.name
    shape = [d.dim_value for d in data.type.tensor_type.shape.dim]
    feed = {feed_name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    tvm_plan, cold = compiled(model, hetero.device("tvm"))
    _, warm = compiled(model, hetero.device("tvm"))
    cpu_plan, cpu_compile = compiled(model, hetero.device("cpu"))
    ort = session(proto, os.cpu_count() or 1)
    want = ort.run(None, feed)[0]
    gap = float(np.abs(tvm_plan.run(feed)[proto.graph.output[0].name] - want).max())
    tvm_ms = median_ms(lambda: tvm_plan.run(feed), repeat)
    cpu_ms = median_ms(lambda: cpu_plan.run(feed), repeat)
    ort_ms = median_ms(lambda: ort.run(None, feed), repeat)
    print(f"{name}: tvm compile {cold:.2f} s cold ({compiler.stats['compiled']} compiled so far), "
          f"{warm:.2f} s from the cache; cpu backend compile {cpu_compile:.2f} s (its kernels "
          f"JIT on the first run); run (measured, median of {repeat}): tvm {tvm_ms:.2f} ms, "
          f"cpu {cpu_ms:.2f} ms, ORT {ort_ms:.2f} ms; tvm/ORT {tvm_ms / ort_ms:.2f}, cpu/ORT "
          f"{cpu_ms / ort_ms:.2f}; max |tvm - ORT| {gap:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--models", default="resnet50,squeezenet")
    args = parser.parse_args()
    os.environ["HETERO_CACHE_DIR"] = tempfile.mkdtemp(prefix="hetero-tvm-bench-")
    for name in args.models.split(","):
        bench(name, args.repeat)


if __name__ == "__main__":
    main()

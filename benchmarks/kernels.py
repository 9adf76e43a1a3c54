"""Portable kernels against NumPy: 1024^3 float32 MatMul and a 16M-element float32 Add.

Run: python benchmarks/kernels.py [--devices cpu,opencl:cpu:0] [--repeat 5]
Prints medians (measured, wall clock around a synchronous op) and ratios to NumPy from the same
run; targets: MatMul >= 25% of NumPy's BLAS on cpu, Add >= 70% of NumPy's bandwidth.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from hetero.kernels import get

import hetero


def median_s(fn, repeat: int) -> float:
    fn()  # warm-up: compiles the kernel
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", default="cpu,opencl:cpu:0")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--n", type=int, default=1024)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, size = args.n, 16 * 2**20
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    x, y = (rng.standard_normal(size, dtype=np.float32) for _ in range(2))
    blas = median_s(lambda: a @ b, args.repeat)
    add = median_s(lambda: np.add(x, y), args.repeat)
    print(f"numpy  MatMul {n}^3: {blas * 1e3:8.2f} ms  {2 * n**3 / blas / 1e9:7.1f} GFLOP/s")
    print(f"numpy  Add 16M    : {add * 1e3:8.2f} ms  {12 * size / add / 1e9:7.1f} GB/s")
    for selector in args.devices.split(","):
        dev = hetero.device(selector)
        ha, hb = hetero.asarray(a, dev), hetero.asarray(b, dev)
        hx, hy = hetero.asarray(x, dev), hetero.asarray(y, dev)
        mm = median_s(lambda d=dev, p=ha, q=hb: get("MatMul")(d, [p, q]), args.repeat)
        ew = median_s(lambda d=dev, p=hx, q=hy: get("Add")(d, [p, q]), args.repeat)
        print(f"{dev.id:12s} MatMul: {mm * 1e3:8.2f} ms  {2 * n**3 / mm / 1e9:7.1f} GFLOP/s  "
              f"{blas / mm:6.1%} of BLAS (target 25%)")
        print(f"{dev.id:12s} Add   : {ew * 1e3:8.2f} ms  {12 * size / ew / 1e9:7.1f} GB/s  "
              f"{add / ew:6.1%} of numpy (target 70%)")


if __name__ == "__main__":
    main()

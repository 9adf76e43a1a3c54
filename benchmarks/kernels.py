"""Portable kernels against their peers: 1024^3 float32 MatMul and a 16M-element float32 Add.

Run: python benchmarks/kernels.py [--devices cpu,opencl:cpu:0,cuda:0] [--repeat 5]
Prints medians (measured, wall clock around a synchronous op) and ratios to the peer from the
same run: NumPy (its BLAS) for host devices, torch on the same GPU for CUDA devices when torch
is installed. Devices with a timer of their own (OpenCL profiling, CUDA events) also report
the kernels' own time, without launch overhead and output allocation.
Targets: MatMul >= 25% of BLAS on cpu, Add >= 70% of the peer's bandwidth.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from hetero.kernels import get, matmul
from hetero.kernels.base import constant

import hetero

ADD_SIZE = 16 * 2**20


def median_s(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: compiles the kernel
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def numpy_peer(a, b, x, y, repeat: int) -> tuple[str, float, float]:
    return "numpy", median_s(lambda: a @ b, repeat), median_s(lambda: np.add(x, y), repeat)


def torch_peer(a, b, x, y, repeat: int) -> tuple[str, float, float] | None:
    """torch on the GPU, synchronised, TF32 off so both sides compute in full fp32."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    ta, tb, tx, ty = (torch.from_numpy(v).cuda() for v in (a, b, x, y))

    def synced(fn):
        return lambda: (fn(), torch.cuda.synchronize())

    return (f"torch {torch.__version__}", median_s(synced(lambda: ta @ tb), repeat),
            median_s(synced(lambda: tx + ty), repeat))


def kernel_ms(dev, ha, hb, hx, hy, n: int, repeat: int) -> tuple[float, float] | None:
    """Median kernel-only times (ms) from the device's own timer (OpenCL profiling, CUDA
    events), the two kernels launched directly; None where the device has no timer."""
    hc, hz = hetero.empty((n, n), np.float32, dev), hetero.empty(ADD_SIZE, np.float32, dev)
    flat = constant(dev, (1,)), constant(dev, (0,)), constant(dev, (0,))
    grid = (-(-n // matmul.TILE) * matmul.TILE, -(-n // matmul.TILE) * matmul.RTS, 1)
    launches = {
        "mm": lambda: matmul.matmul_tiled[dev, grid, (matmul.TILE, matmul.RTS, 1)](
            ha.reshape(-1), hb.reshape(-1), hc.reshape(-1), n, n, n, *flat, 0),
        "add": lambda: get("Add").kernels[0][dev, ADD_SIZE](hx, hy, hz)}
    times = {}
    for name, launch in launches.items():
        launch().wait()
        events = [launch() for _ in range(repeat)]
        for e in events:
            e.wait()
        if any(e.timing != "device" for e in events):
            return None
        times[name] = statistics.median(e.duration_ms for e in events)
    return times["mm"], times["add"]


def report(label: str, n: int, matmul_s: float, add_s: float) -> None:
    print(f"{label:22s} MatMul {n}^3: {matmul_s * 1e3:9.3f} ms  "
          f"{2 * n**3 / matmul_s / 1e9:9.1f} GFLOP/s")
    print(f"{label:22s} Add 16M     : {add_s * 1e3:9.3f} ms  "
          f"{12 * ADD_SIZE / add_s / 1e9:9.1f} GB/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", default="cpu,opencl:cpu:0")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--n", type=int, default=1024)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.n
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    x, y = (rng.standard_normal(ADD_SIZE, dtype=np.float32) for _ in range(2))
    host = numpy_peer(a, b, x, y, args.repeat)
    report(host[0], n, host[1], host[2])
    gpu = None
    for selector in args.devices.split(","):
        dev = hetero.device(selector)
        peer = host
        if dev.kind == "gpu" and not dev.simulated:
            gpu = gpu or torch_peer(a, b, x, y, args.repeat)
            if gpu:
                report(gpu[0], n, gpu[1], gpu[2])
                peer = gpu
        ha, hb = hetero.asarray(a, dev), hetero.asarray(b, dev)
        hx, hy = hetero.asarray(x, dev), hetero.asarray(y, dev)
        mm = median_s(lambda d=dev, p=ha, q=hb: get("MatMul")(d, [p, q]), args.repeat)
        ew = median_s(lambda d=dev, p=hx, q=hy: get("Add")(d, [p, q]), args.repeat)
        report(f"{dev.id} (portable)", n, mm, ew)
        print(f"{'':22s} MatMul {peer[1] / mm:7.1%} of {peer[0]}   "
              f"Add {peer[2] / ew:7.1%} of {peer[0]}")
        timed = kernel_ms(dev, ha, hb, hx, hy, n, args.repeat)
        if timed:
            report(f"{dev.id} (kernel only)", n, timed[0] / 1e3, timed[1] / 1e3)
            print(f"{'':22s} device timer, launch and allocation excluded")


if __name__ == "__main__":
    main()

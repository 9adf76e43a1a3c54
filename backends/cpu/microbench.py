"""A short micro-benchmark of the host CPU: peak GFLOP/s, memory bandwidth, launch cost, power.

Runs once per machine (about a second) and is cached on disk as JSON keyed by the CPU's
description and the BLAS-bearing NumPy version, so later processes read it instantly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import numpy as np
from hetero.backends.cpu import rapl
from hetero.backends.cpu.hostinfo import HostInfo

from hetero import progress

log = logging.getLogger("hetero.backends.cpu")
METHOD_VERSION = 1
MATMUL_N = {"float32": 1024, "float64": 768}
COPY_BYTES = 64 * 2**20
REPEATS = 5
# Without RAPL the power draw is an assumption, and is labelled so.
MODEL_ACTIVE_W_PER_CORE = 6.0
MODEL_IDLE_W_PER_CORE = 2.0


def best_seconds(fn: Callable[[], Any], repeats: int = REPEATS) -> float:
    """Fastest of ``repeats`` timed calls after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak_gflops(dtype: str) -> float:
    n = MATMUL_N[dtype]
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    return 2 * n**3 / best_seconds(lambda: a @ b) / 1e9


def copy_bandwidth_gbs() -> float:
    src = np.ones(COPY_BYTES // 8)
    dst = np.empty_like(src)
    return 2 * COPY_BYTES / best_seconds(lambda: np.copyto(dst, src)) / 1e9


def launch_overhead_us() -> float:
    """Median host round trip of an empty submission through an in-order worker thread."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        samples = []
        for _ in range(200):
            t0 = time.perf_counter()
            pool.submit(lambda: None).result()
            samples.append(time.perf_counter() - t0)
    return float(np.median(samples) * 1e6)


def power(info: HostInfo) -> tuple[dict[str, float], dict[str, str]]:
    """Active and idle watts: measured through RAPL when readable, else modeled per core."""
    domains = rapl.package_domains()
    if not domains:
        note = (f"modeled: no RAPL counters readable on this host; assumed "
                f"{MODEL_ACTIVE_W_PER_CORE} W per core busy, {MODEL_IDLE_W_PER_CORE} W idle")
        return ({"active_w": MODEL_ACTIVE_W_PER_CORE * info.cores,
                 "idle_w": MODEL_IDLE_W_PER_CORE * info.cores},
                {"active_w": note, "idle_w": note})
    idle = watts_while(domains, lambda: time.sleep(0.25))
    a = np.ones((MATMUL_N["float32"],) * 2, dtype="float32")
    active = watts_while(domains, lambda: [a @ a for _ in range(10)])
    note = "measured: RAPL package energy counters"
    return {"active_w": active, "idle_w": idle}, {"active_w": note, "idle_w": note}


def watts_while(domains: list, fn: Callable[[], Any]) -> float:
    before, t0 = rapl.read_energy_uj(domains), time.perf_counter()
    fn()
    after, t1 = rapl.read_energy_uj(domains), time.perf_counter()
    return rapl.energy_delta_j(domains, before, after) / (t1 - t0)


def measure(info: HostInfo) -> dict[str, Any]:
    """Run the benchmark; return the figures and a note on each one's source."""
    with progress.step("measuring the host CPU (once; cached)", total=len(MATMUL_N) + 2) \
            as advance:
        peaks = {}
        for dtype in MATMUL_N:
            peaks[dtype] = round(peak_gflops(dtype), 2)
            advance()
        bandwidth = round(copy_bandwidth_gbs(), 2)
        advance()
        watts, watt_sources = power(info)
        advance()
    blas = f"numpy {np.__version__} matmul, best of {REPEATS}"
    return {
        "peak_gflops": peaks,
        "mem_bandwidth_gbs": bandwidth,
        "launch_overhead_us": round(launch_overhead_us(), 2),
        **{k: round(v, 2) for k, v in watts.items()},
        "sources": {
            **{f"peak_gflops.{d}": f"measured: {n}x{n} {d} {blas}" for d, n in MATMUL_N.items()},
            "mem_bandwidth_gbs": f"measured: {COPY_BYTES >> 20} MiB numpy copy (read+write), "
                                 f"best of {REPEATS}",
            "launch_overhead_us": "measured: median empty submission through a worker thread",
            **watt_sources,
        },
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def cache_key(info: HostInfo) -> tuple[Any, ...]:
    return (METHOD_VERSION, info.arch, info.name, info.features, info.cores, np.__version__)

"""Chaos run of a hetero.Session (issue 18): requests of a small CNN from client threads while
simulated devices are detached and re-attached at random and every simulated device fails
1% of its nodes with DeviceLost (hetero.testing.faults). Counts requests lost (neither
answered nor raised), wrong outputs against a cpu-only reference, retried and failed ones,
failover times (from a device's loss to the next completed request) and throughput against
the undisturbed session and against plan.run in a loop. Every time is measured wall clock;
the simulated devices compute on the host.

Run: python benchmarks/hotplug.py [--requests 10000] [--clients 4] [--fault-rate 0.01]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import hetero
from hetero.testing.faults import inject

PROFILES = [("jetson-xavier-nx-gpu", "shared"), ("jetson-xavier-nx-cpu", "shared"),
            ("xeon-gold-6248", "gbe")]
SELECTORS = ["cpu", *(f"sim:{name}" for name, _ in PROFILES)]


def small_cnn(seed: int = 0) -> hetero.Model:
    """Conv-ReLU x3 with a pool, global average pool and a 10-way Gemm on 1x3x32x32."""
    rng = np.random.default_rng(seed)

    def weight(name: str, *shape: int):
        return numpy_helper.from_array(
            (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32), name)

    weights = [weight("w1", 16, 3, 3, 3), weight("w2", 16, 16, 3, 3), weight("w3", 32, 16, 3, 3),
               weight("fc", 10, 32)]
    conv = {"pads": [1, 1, 1, 1]}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", **conv),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", **conv),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("MaxPool", ["r2"], ["p2"], name="pool", kernel_shape=[2, 2],
                              strides=[2, 2]),
             helper.make_node("Conv", ["p2", "w3"], ["c3"], name="conv3", **conv),
             helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
             helper.make_node("GlobalAveragePool", ["r3"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(
        nodes, "small_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], weights)
    return hetero.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


class Chaos:
    """Detaches or re-attaches a random simulated device every 50-200 ms, injects faults into
    every device it attaches, and rescans every 100 ms (the polling fallback, which brings back
    a device that a fault marked lost while its backend still sees it)."""

    def __init__(self, rate: float, seed: int):
        self.rate, self.random = rate, random.Random(seed)
        self.attached: dict[str, hetero.Device] = {}
        self.stop = threading.Event()
        self.changes = 0
        self.faults: list = []
        for name, link in PROFILES:
            self.attach(name, link)

    def attach(self, name: str, link: str) -> None:
        device = hetero.sim.attach(name, link=link)
        if self.rate:
            self.faults.append(inject(device, self.rate, self.random.randrange(1 << 30)))
        self.attached[name] = device

    def run(self) -> None:
        next_change = time.monotonic() + self.random.uniform(0.05, 0.2)
        next_scan = time.monotonic() + 0.1
        while not self.stop.wait(0.005):
            if time.monotonic() >= next_scan:
                hetero.rescan()
                next_scan = time.monotonic() + 0.1
            if time.monotonic() < next_change:
                continue
            name, link = self.random.choice(PROFILES)
            if name in self.attached:
                device = self.attached.pop(name)
                if device.alive:
                    hetero.sim.detach(device)
            else:
                self.attach(name, link)
            self.changes += 1
            next_change = time.monotonic() + self.random.uniform(0.05, 0.2)

    def detach_all(self) -> None:
        for device in self.attached.values():
            if device.alive:
                hetero.sim.detach(device)
        self.attached.clear()


def clients(session: hetero.Session, inputs: list, want: list, requests: int, count: int
            ) -> dict:
    """``requests`` runs spread over ``count`` threads, each input checked against ``want``."""
    tally = {"answered": 0, "wrong": 0, "failed": 0, "errors": {}}
    lock = threading.Lock()

    def client(k: int) -> None:
        for i in range(k, requests, count):
            feeds = {"x": inputs[i % len(inputs)]}
            try:
                out = session.run(feeds)["y"]
            except hetero.HeteroError as exc:
                with lock:
                    tally["failed"] += 1
                    kind = type(exc).__name__
                    tally["errors"][kind] = tally["errors"].get(kind, 0) + 1
                continue
            good = np.allclose(out, want[i % len(inputs)], rtol=1e-4, atol=1e-5)
            with lock:
                tally["answered"] += 1
                tally["wrong"] += not good

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(count)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    tally["seconds"] = time.perf_counter() - start
    tally["lost"] = requests - tally["answered"] - tally["failed"]
    return tally


def loop_rps(run, feeds: dict, seconds: float = 1.0) -> float:
    """Requests per second of ``run(feeds)`` in a loop on one thread (after a warm-up)."""
    for _ in range(20):
        run(feeds)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run(feeds)
        count += 1
    return count / (time.perf_counter() - start)


def undisturbed(model, inputs: list, want: list, args) -> tuple[float, float, float]:
    """(plan.run rps, session.run rps, both on one thread, interleaved; session rps from
    ``clients`` threads), with every device attached and no fault."""
    chaos = Chaos(0.0, 0)
    with hetero.Session(model, devices=SELECTORS) as session:
        plan = session.plan
        feeds = {"x": inputs[0]}
        plans, sessions = [], []
        for _ in range(7):
            plans.append(loop_rps(plan.run, feeds))
            sessions.append(loop_rps(session.run, feeds))
        ratios = [s / p for p, s in zip(plans, sessions, strict=True)]
        many = clients(session, inputs, want, args.requests // 4, args.clients)
        used = sorted(set(plan.placement.values()))
    chaos.detach_all()
    print(f"undisturbed (every device attached, no faults), plan on {', '.join(used)}:")
    print(f"  plan.run in a loop: {statistics.median(plans):.0f} requests/s; session.run in a "
          f"loop: {statistics.median(sessions):.0f} requests/s (measured, one thread, medians "
          f"of 7 interleaved 1 s runs, {min(plans):.0f}-{max(plans):.0f} and "
          f"{min(sessions):.0f}-{max(sessions):.0f}); session / plan.run, median of the 7 "
          f"pairs: {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}; "
          "goal >= 0.95)")
    rps = (args.requests // 4) / many["seconds"]
    print(f"  {args.clients} client threads: {rps:.0f} requests/s (measured, "
          f"{args.requests // 4} requests)")
    return statistics.median(plans), statistics.median(sessions), rps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--fault-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()[0]:.2f}")
    model = small_cnn()
    rng = np.random.default_rng(args.seed)
    inputs = [rng.standard_normal((1, 3, 32, 32)).astype(np.float32) for _ in range(16)]
    reference = hetero.compile(model, devices=[hetero.device("cpu")])
    want = [reference.run({"x": x})["y"] for x in inputs]
    _, _, calm = undisturbed(model, inputs, want, args)

    chaos = Chaos(args.fault_rate, args.seed)
    with hetero.Session(model, devices=SELECTORS, retries=5) as session:
        churn = threading.Thread(target=chaos.run, daemon=True)
        churn.start()
        tally = clients(session, inputs, want, args.requests, args.clients)
        chaos.stop.set()
        churn.join(10)
        stats = session.stats
    chaos.detach_all()
    failover = sorted(stats.failover_ms)
    injected = sum(f().failed for f in chaos.faults)
    rps = args.requests / tally["seconds"]
    print(f"chaos: {args.requests} requests from {args.clients} client threads, "
          f"{chaos.changes} device changes (every 50-200 ms), {injected} injected node "
          f"faults ({args.fault_rate:.0%} of each simulated device's nodes)")
    print(f"  lost {tally['lost']} (goal 0), wrong {tally['wrong']} (goal 0), answered "
          f"{tally['answered']}, failed with an error {tally['failed']} {tally['errors']}, "
          f"retried {stats.retried}, re-plans {stats.replans}")
    if failover:
        p50 = failover[len(failover) // 2]
        p99 = failover[min(len(failover) - 1, int(len(failover) * 0.99))]
        print(f"  failover (a device's loss to the next completed request): p50 {p50:.1f} ms, "
              f"p99 {p99:.1f} ms, max {failover[-1]:.1f} ms over {len(failover)} losses "
              "(measured; goal p99 <= 50 ms)")
    print(f"  throughput {rps:.0f} requests/s (measured) vs {calm:.0f} undisturbed: "
          f"{rps / calm:.2f}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

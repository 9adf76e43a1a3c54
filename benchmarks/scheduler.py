"""Placement quality and planning time (issue 5), every figure modeled by hetero's cost model
on simulated devices: how close the heuristics come to the exhaustive optimum on random
DAGs small enough to enumerate, the chosen placement against both baselines on ResNet-50 and
DenseNet-121 with four simulated devices, and planning time up to a 10,000-node graph.

Also hetero.compile end to end (issue 17): with the MILP proof and with the heuristics alone,
stage by stage, and plan.replan after a device leaves or comes back.

Run: python benchmarks/scheduler.py [--objective energy] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_models import LIGHT, randomised  # noqa: E402 - the seeded light models
from test_search import random_dag  # noqa: E402 - the tests' random DAGs

import hetero  # noqa: E402
from hetero.cost import CostModel  # noqa: E402
from hetero.graph.passes import optimise  # noqa: E402
from hetero.plan.capability import capability  # noqa: E402
from hetero.plan.heuristics import (  # noqa: E402
    best_placement,
    exhaustive,
    list_schedule,
    local_search,
)
from hetero.plan.milp import solve  # noqa: E402
from hetero.plan.objective import Goal  # noqa: E402
from hetero.plan.pipeline import Pipeline, Request  # noqa: E402
from hetero.plan.score import Scorer  # noqa: E402

EDGE_BOX = [("jetson-xavier-nx-gpu", "shared"), ("jetson-xavier-nx-cpu", "shared"),
            ("xeon-gold-6248", "gbe"), ("a100", "5g")]


def edge_box() -> dict:
    devices = [hetero.sim.attach(name, link=link) for name, link in EDGE_BOX]
    return {d.id: d for d in devices}


def detach(devices: dict) -> None:
    for device in devices.values():
        hetero.sim.detach(device)


def everywhere(graph, devices) -> dict:
    """The devices each node can run on, from the pipeline's capability table."""
    table = capability(graph, list(devices.values()), {})
    return {n.name: table.able(n.name) for n in graph.nodes}


def small_dags(objective: str, seeds: int = 20) -> None:
    gaps = []
    for seed in range(seeds):
        graph, devices = random_dag(seed, size=5), edge_box()
        candidates = everywhere(graph, devices)
        score = Scorer(graph, devices, Goal(objective))
        optimum = exhaustive(score, candidates)
        if optimum is not None:
            heuristic = local_search(score, candidates, list_schedule(score, candidates))
            gaps.append(heuristic.estimate.score(objective) / optimum.estimate.score(objective))
        detach(devices)
    exact = sum(g < 1 + 1e-9 for g in gaps)
    print(f"random DAGs ({len(gaps)} enumerable, {objective}): best_placement searches them "
          f"exhaustively (optimal by construction); list scheduling + local search alone is "
          f"optimal on {exact}, median gap {statistics.median(gaps):.3f}, worst "
          f"{max(gaps):.3f}")


def planned(graph, devices, objective: str, repeat: int) -> tuple:
    """(found, baselines, median planning seconds): each run with a fresh scorer and cost
    model, so the cost model's estimates count, as they do when hetero.compile plans."""
    candidates, times = everywhere(graph, devices), []
    for _ in range(repeat):
        score = Scorer(graph, devices, Goal(objective), CostModel())
        start = time.perf_counter()
        found, baselines = best_placement(score, candidates)
        times.append(time.perf_counter() - start)
    return found, baselines, statistics.median(times)


def model(name: str, objective: str, repeat: int) -> None:
    graph = optimise(hetero.load(randomised(LIGHT / f"light_{name}.onnx")).graph(), None)
    devices = edge_box()
    found, baselines, took = planned(graph, devices, objective, repeat)
    rows = ", ".join(f"{b.how}: {b.estimate.score(objective):.1f}" for b in baselines)
    used = sorted({d.split(":")[1] for d in found.placement.values()})
    print(f"{name} ({len(graph.nodes)} nodes, {objective}): {found.how} "
          f"{found.estimate.score(objective):.1f} [{rows}] on {', '.join(used)}; "
          f"latency {found.estimate.latency_ms:.2f} ms, energy {found.estimate.energy_mj:.1f} "
          f"mJ (modeled); planning {took * 1e3:.0f} ms (median of {repeat})")
    if objective != "edp":
        exact_reference(graph, devices, objective, found)
    compiled(name, devices, objective)
    detach(devices)


def exact_reference(graph, devices, objective: str, found) -> None:
    """The MILP optimum under the same cost model (60 s limit), against the heuristic."""
    result = solve(graph, everywhere(graph, devices), devices, objective, time_limit_s=60.0)
    if result is None or not result.placement:
        print(f"  MILP: no placement within 60 s ({result.status if result else 'infeasible'})")
        return
    value = Scorer(graph, devices, Goal(objective)).found(result.placement, "MILP")
    mine = found.estimate.score(objective)
    print(f"  MILP ({result.status}, {result.seconds:.2f} s, {result.variables} variables): "
          f"{value.estimate.score(objective):.4f}; heuristic / MILP = "
          f"{mine / value.estimate.score(objective):.4f}")


def timed(fn, repeat: int, make=lambda: None) -> tuple[float, object]:
    """(median seconds, last result) of ``repeat`` calls of ``fn(make())``, ``make`` untimed."""
    times = []
    for _ in range(repeat):
        given = make()
        start = time.perf_counter()
        result = fn(given)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def compiled(name: str, devices, objective: str, repeat: int = 7) -> None:
    """hetero.compile end to end (the model's conversion to IR, graph passes, capability and
    cost tables, placement, partition, weight packing), each run on a model loaded afresh
    (nothing converted, folded or packed before), with the MILP proof and with the heuristics
    alone; the stages on their own; and plan.replan after removing or adding a device."""
    listed = list(devices.values())
    proto = randomised(LIGHT / f"light_{name}.onnx")

    def fresh():
        return hetero.load(proto.SerializeToString())

    for strategy in ("search", "heuristic"):
        took, plan = timed(lambda m, s=strategy: hetero.compile(
            m, devices=listed, objective=objective, strategy=s), repeat, fresh)
        print(f"  hetero.compile ({strategy}): {plan.chosen.how} "
              f"{plan.estimate.score(objective):.4f}, {took * 1e3:.0f} ms end to end "
              f"(median of {repeat}, each on a freshly loaded model)")
    stages(fresh, listed, objective, repeat)
    replans(fresh, listed, objective, repeat)


def stages(fresh, listed, objective: str, repeat: int) -> None:
    """Each stage of one compile (heuristic placement), medians of ``repeat``."""
    parts: dict[str, list[float]] = {}

    def clock(label, fn):
        start = time.perf_counter()
        out = fn()
        parts.setdefault(label, []).append(time.perf_counter() - start)
        return out

    for _ in range(repeat):
        model = fresh()
        pipe = clock("convert and optimise", lambda m=model: Pipeline(m))
        table = clock("capability table", lambda p=pipe: p.capability(listed))
        clock("cost table", lambda p=pipe, t=table: p.cost_table(t, listed))
        clock("place, partition, prepare (tables cached)",
              lambda p=pipe: p.plan(listed, Request(Goal(objective), strategy="heuristic")))
    print("  stages: " + ", ".join(f"{k} {statistics.median(v) * 1e3:.1f} ms"
                                   for k, v in parts.items()))


def replans(fresh, listed, objective: str, repeat: int) -> None:
    """plan.replan without each device in turn, and with it back, each from a compile of a
    freshly loaded model."""
    for gone in listed:
        rest = [d for d in listed if d is not gone]
        removed, added = [], []
        for _ in range(repeat):
            plan = hetero.compile(fresh(), devices=listed, objective=objective)
            start = time.perf_counter()
            smaller = plan.replan(rest)
            removed.append(time.perf_counter() - start)
            start = time.perf_counter()
            bigger = smaller.replan(listed)
            added.append(time.perf_counter() - start)
        fresh_plan = hetero.compile(fresh(), devices=rest, objective=objective)
        print(f"  replan without {gone.id}: {statistics.median(removed) * 1e3:.1f} ms "
              f"(target <= 10 ms), {smaller.estimate.score(objective):.4f} vs a fresh compile's "
              f"{fresh_plan.estimate.score(objective):.4f}; adding it back: "
              f"{statistics.median(added) * 1e3:.1f} ms (target <= 20 ms), "
              f"{bigger.estimate.score(objective):.4f} (median of {repeat})")


def big_graph(objective: str, repeat: int, size: int = 10_000) -> None:
    """Planning time, and the part of it the search takes once the cost model has answered
    every (node, device) (the rest is the cost model's estimates)."""
    graph, devices = random_dag(0, size=size), edge_box()
    found, _, took = planned(graph, devices, objective, repeat)
    model, candidates, warm = CostModel(), everywhere(graph, devices), []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        best_placement(Scorer(graph, devices, Goal(objective), model), candidates)
        warm.append(time.perf_counter() - start)
    search = statistics.median(warm[1:])
    print(f"random DAG of {len(graph.nodes)} nodes ({objective}): {found.how} "
          f"{found.estimate.score(objective):.1f}, planning {took:.2f} s (median of {repeat}; "
          f"target <= 2 s), of which the search {search:.2f} s and the cost model's estimates "
          f"{took - search:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description="Placement quality and planning time of "
                                     "hetero's scheduler on simulated devices (issue 5).")
    parser.add_argument("--objective", default="energy", choices=["energy", "latency", "edp"])
    parser.add_argument("--repeat", type=int, default=5,
                        help="planning runs per problem; the median is reported")
    args = parser.parse_args()
    small_dags(args.objective)
    for name in ("resnet50", "densenet121"):
        model(name, args.objective, args.repeat)
    big_graph(args.objective, args.repeat)


if __name__ == "__main__":
    main()

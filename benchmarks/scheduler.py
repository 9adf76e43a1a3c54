"""Placement quality and planning time (issue 5), every figure modeled by hetero's cost model
on simulated devices: how close the heuristics come to the exhaustive optimum on random
DAGs small enough to enumerate, the chosen placement against both baselines on ResNet-50 and
DenseNet-121 with four simulated devices, and planning time up to a 10,000-node graph.

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
from hetero.cost import CostModel, can_run  # noqa: E402
from hetero.graph.passes import optimise  # noqa: E402
from hetero.milp import solve  # noqa: E402
from hetero.schedule import place  # noqa: E402
from hetero.search import (  # noqa: E402
    Goal,
    Scorer,
    best_placement,
    exhaustive,
    list_schedule,
    local_search,
)

EDGE_BOX = [("jetson-xavier-nx-gpu", "shared"), ("jetson-xavier-nx-cpu", "shared"),
            ("xeon-gold-6248", "gbe"), ("a100", "5g")]


def edge_box() -> dict:
    devices = [hetero.sim.attach(name, link=link) for name, link in EDGE_BOX]
    return {d.id: d for d in devices}


def detach(devices: dict) -> None:
    for device in devices.values():
        hetero.sim.detach(device)


def everywhere(graph, devices) -> dict:
    return {n.name: [d for d, device in devices.items() if can_run(n, graph, device)]
            for n in graph.nodes}


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


def compiled(name: str, devices, objective: str) -> None:
    """hetero.compile end to end (graph passes, scheduler with its MILP, node preparation),
    and the scheduler's part of it (median of 3)."""
    model = hetero.load(randomised(LIGHT / f"light_{name}.onnx"))
    start = time.perf_counter()
    plan = hetero.compile(model, devices=list(devices.values()), objective=objective)
    took = time.perf_counter() - start
    graph, placing = optimise(model.graph(), None), []
    for _ in range(3):
        start = time.perf_counter()
        place(graph, list(devices.values()), None, False, Goal(objective), CostModel())
        placing.append(time.perf_counter() - start)
    print(f"  hetero.compile: {plan.chosen.how} {plan.estimate.score(objective):.4f}, "
          f"{took:.2f} s end to end, of which placement {statistics.median(placing) * 1e3:.0f}"
          " ms")


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

"""Placement searches: baselines, exhaustive search and local search, all scored by the
timeline; two exact methods cross-checked on chains."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from test_chain import edge_devices, random_chain
from test_cost import branches_graph

import hetero
from hetero.plan.chain import best_chain
from hetero.plan.heuristics import (
    best_placement,
    best_single_device,
    exhaustive,
    list_schedule,
    local_search,
    priority_greedy,
)
from hetero.plan.objective import Goal
from hetero.plan.score import Scorer

pytestmark = pytest.mark.usefixtures("registry")
SHAPE = [1, 16, 32, 32]


def random_dag(seed: int, size: int = 7):
    """Convs, Relus and Adds over 1x16x32x32 values, each reading one or two earlier ones;
    values nothing read are added into the output (no dead branches)."""
    rng = np.random.default_rng(seed)
    values, nodes, weights = ["x"], [], []
    for i in range(size):
        out, kind = f"v{i}", rng.choice(["Conv", "Relu", "Add"])
        if kind == "Add" and len(values) > 1:
            a, b = rng.choice(len(values), 2, replace=False)
            nodes.append(helper.make_node("Add", [values[a], values[b]], [out], name=f"n{i}"))
        elif kind == "Conv":
            weights.append(numpy_helper.from_array(np.ones((16, 16, 3, 3), np.float32),
                                                   f"w{i}"))
            nodes.append(helper.make_node("Conv", [values[-1], f"w{i}"], [out], name=f"n{i}",
                                          pads=[1, 1, 1, 1]))
        else:
            source = values[int(rng.integers(len(values)))]
            nodes.append(helper.make_node("Relu", [source], [out], name=f"n{i}"))
        values.append(out)
    read = {name for node in nodes for name in node.input}
    loose = [v for v in values[1:-1] if v not in read]  # every value feeds the output
    for k, name in enumerate(loose):
        nodes.append(helper.make_node("Add", [values[-1], name], [f"m{k}"], name=f"m{k}"))
        values.append(f"m{k}")
    graph = helper.make_graph(nodes, "dag", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, SHAPE)], [helper.make_tensor_value_info(
            values[-1], TensorProto.FLOAT, SHAPE)], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return hetero.load(model).graph()


def everywhere(graph, devices):
    return {n.name: list(devices) for n in graph.nodes}


def problem(seed: int, size: int, objective: str):
    """A random DAG on the edge devices (A100 on PCIe): candidates and a scorer."""
    graph, devices = random_dag(seed, size), edge_devices("pcie4")
    return everywhere(graph, devices), Scorer(graph, devices, Goal(objective))


@pytest.mark.parametrize("objective", ["energy", "latency", "edp"])
@pytest.mark.parametrize("seed", range(3))
def test_exhaustive_search_agrees_with_the_chain_programme(seed, objective):
    graph, devices = random_chain(seed, length=5), edge_devices("pcie4")
    candidates = everywhere(graph, devices)
    found = exhaustive(Scorer(graph, devices, Goal(objective)), candidates)
    _, ms, mj = best_chain(graph, candidates, devices, objective)
    want = {"energy": mj, "latency": ms, "edp": ms * mj}[objective]
    assert found.estimate.score(objective) == pytest.approx(want)


@pytest.mark.parametrize("objective", ["energy", "latency", "edp"])
@pytest.mark.parametrize("seed", range(4))
def test_local_search_never_loses_to_the_baselines(seed, objective):
    candidates, score = problem(seed, 10, objective)
    single, greedy = best_single_device(score, candidates), priority_greedy(score, candidates)
    start = score.better(single, greedy)
    found = local_search(score, candidates, start)
    best = found.estimate.score(objective)
    assert best <= single.estimate.score(objective) and best <= greedy.estimate.score(objective)
    optimum = exhaustive(score, candidates)  # 3^10 = 59049 > the limit: None
    assert optimum is None
    again = local_search(Scorer(score.graph, score.devices, Goal(objective)), candidates,
                         start)
    assert again.placement == found.placement  # deterministic


@pytest.mark.parametrize("objective", ["energy", "latency", "edp"])
@pytest.mark.parametrize("seed", range(6))
def test_no_search_beats_exhaustive_search_on_small_dags(seed, objective):
    """Local search is a heuristic (it can stop up to ~30% above the optimum on these DAGs,
    where only moving two parallel branches at once helps); the exact search bounds it."""
    candidates, score = problem(seed, 5, objective)
    start = score.better(best_single_device(score, candidates),
                         priority_greedy(score, candidates))
    found = local_search(score, candidates, start).estimate.score(objective)
    optimum = exhaustive(score, candidates)
    assert optimum is not None, f"seed {seed}: {len(score.names)} nodes, too many to enumerate"
    assert optimum.estimate.score(objective) <= found * (1 + 1e-12)
    assert found <= start.estimate.score(objective)


def test_an_unreachable_cap_ends_on_the_closest_placement():
    graph, devices = random_chain(0, length=5), edge_devices("pcie4")
    candidates = everywhere(graph, devices)
    fastest = exhaustive(Scorer(graph, devices, Goal("latency")), candidates)
    goal = Goal("energy", max_latency_ms=fastest.estimate.latency_ms / 2)
    found = exhaustive(Scorer(graph, devices, goal), candidates)
    assert goal.excess(found.estimate) > 0
    assert found.estimate.latency_ms == pytest.approx(fastest.estimate.latency_ms)
    with pytest.raises(ValueError, match="choose one of"):
        Goal("watts")


@pytest.mark.parametrize("objective", ["energy", "latency", "edp"])
@pytest.mark.parametrize("seed", range(3))
def test_the_chosen_placement_beats_both_baselines_on_bigger_dags(seed, objective):
    candidates, score = problem(seed, 40, objective)
    found, baselines = best_placement(score, candidates)
    assert [b.how.split(" (")[0] for b in baselines] == ["best single device", "priority order"]
    assert all(found.estimate.score(objective) <= b.estimate.score(objective)
               for b in baselines)
    assert found.how.startswith(("local search", "list scheduling", "best single device",
                                 "priority order"))


def test_small_problems_are_solved_exactly():
    candidates, score = problem(2, 5, "edp")
    found, _ = best_placement(score, candidates)
    assert found.how == "exhaustive search (optimal)"


def test_list_scheduling_runs_parallel_branches_on_different_devices():
    """Two independent heavy branches: for latency, list scheduling overlaps them."""
    graph = branches_graph(channels=64, size=56)
    devices = {d.id: d for d in (hetero.sim.attach("jetson-xavier-nx-gpu", link="shared"),
                                 hetero.sim.attach("jetson-xavier-nx-gpu", link="shared"))}
    found = list_schedule(Scorer(graph, devices, Goal("latency")), everywhere(graph, devices))
    assert found.placement["a"] != found.placement["b"]

"""The timeline's fast paths against the plain ones: a layout's whole-graph timeline against
the node-by-node Timeline, a replay's incremental timing against the whole graph, and local
search's pruned sweeps against the sweeps that score every move in full."""

from __future__ import annotations

import dataclasses
import random

import pytest
from test_chain import edge_devices
from test_search import random_dag

import hetero
from hetero.cost import nbytes, tensor_info, value_bytes
from hetero.plan.heuristics import hopeless, list_schedule, local_search, moves
from hetero.plan.objective import Goal
from hetero.plan.score import Scorer
from hetero.plan.timeline import Layout, Replay, Timeline, simulate

pytestmark = pytest.mark.usefixtures("registry")
FIGURES = ("latency_ms", "energy_mj", "transfer_bytes", "busy_ms", "memory_over")


def cramped() -> dict:
    """The edge devices plus a Jetson GPU too small for a few convolutions' weights and
    activations, so that some placements overflow its memory."""
    devices = edge_devices("pcie4")
    base = hetero.profiles()["jetson-xavier-nx-gpu"]
    small = hetero.sim.attach(dataclasses.replace(base, memory_bytes=150_000), link="shared")
    return {**devices, small.id: small}


def random_placement(rng: random.Random, layout: Layout) -> list[str]:
    """Mostly one device, with a random share of nodes elsewhere (splits and transfers)."""
    devices = list(layout.devices)
    main, share = rng.choice(devices), rng.random()
    return [rng.choice(devices) if rng.random() < share else main for _ in layout.nodes]


def assert_same(got, want, spans: bool = True) -> None:
    for name in FIGURES:
        assert getattr(got, name) == getattr(want, name), name  # exactly: same sums, same order
    if spans:
        assert got.spans == want.spans and got.memory_bytes == want.memory_bytes


@pytest.mark.parametrize("seed", range(3))
def test_node_by_node_and_whole_graph_timelines_agree(seed):
    graph, devices = random_dag(seed, 30), cramped()
    layout, rng = Layout(graph, devices), random.Random(seed)
    for _ in range(10):
        place = random_placement(rng, layout)
        timeline = Timeline(graph, devices)
        for node, device in zip(graph.nodes, place, strict=True):
            timeline.place(node, device)
        placement = dict(zip((n.name for n in graph.nodes), place, strict=True))
        assert_same(layout.estimate(place), timeline.finished())
        assert_same(simulate(graph, placement, devices), timeline.finished())


@pytest.mark.parametrize("seed", range(3))
def test_a_replay_times_a_move_as_the_whole_graph_does(seed):
    graph, devices = random_dag(seed, 40), cramped()
    layout, rng = Layout(graph, devices), random.Random(seed)
    replay = Replay(layout, random_placement(rng, layout))
    assert not replay.roomy
    for _ in range(40):
        first = rng.randrange(len(layout.nodes))
        later = range(first, len(layout.nodes))
        changes = {i: rng.choice(list(devices)) for i in rng.sample(later, min(3, len(later)))}
        place = replay.changed(changes)
        assert_same(replay.trial(changes), layout.estimate(place), spans=False)
        if rng.random() < 0.3:  # take the move: later trials start from it
            replay = replay.moved(changes)
            assert_same(replay.trial({first: replay.place[first]}), layout.estimate(place),
                        spans=False)


@pytest.mark.parametrize("capped", [False, True])
@pytest.mark.parametrize("objective", ["energy", "latency", "edp"])
def test_a_dropped_move_would_not_have_won(objective, capped):
    graph, devices = random_dag(1, 40), edge_devices("pcie4")
    score = Scorer(graph, devices, Goal(objective))
    start = list_schedule(score, {n.name: list(devices) for n in graph.nodes})
    if capped:  # a latency cap the start keeps by 5%: some moves break it
        cap = start.estimate.latency_ms * 1.05
        score = Scorer(graph, devices, Goal(objective, max_latency_ms=cap))
        start = score.found(start.placement, "list scheduling")
    replay = Replay(score.layout, [start.placement[n] for n in score.names])
    beaten, dropped = hopeless(score.goal, start.estimate), 0
    for group in moves(score):
        for device in devices:
            changes = {i: device for i in group if replay.place[i] != device}
            if not changes or replay.trial(changes, beaten) is not None:
                continue
            dropped += 1
            assert score.goal.rank(score.layout.estimate(replay.changed(changes))) >= \
                score.goal.rank(start.estimate)
    assert dropped > 0


def plain_local_search(score, candidates, best, max_sweeps=20):
    """Local search as it was first written: every move scored on the whole graph."""
    groups = [[score.names[i] for i in group] for group in moves(score)]
    for _ in range(max_sweeps):
        improved = False
        for names in groups:
            for device in score.devices:
                if all(best.placement[n] == device for n in names) or \
                        any(device not in candidates[n] for n in names):
                    continue
                trial = {**best.placement, **dict.fromkeys(names, device)}
                chosen = score.better(best, score.found(trial, "local search"))
                improved, best = improved or chosen is not best, chosen
        if not improved:
            break
    return best


@pytest.mark.parametrize("objective", ["energy", "latency", "edp"])
@pytest.mark.parametrize("seed", range(3))
def test_pruned_local_search_ends_where_the_plain_one_does(seed, objective):
    graph, devices = random_dag(seed, 25), cramped()
    candidates = {n.name: list(devices) for n in graph.nodes}
    goal = Goal(objective)
    start = Scorer(graph, devices, goal).found(
        {n.name: next(iter(devices)) for n in graph.nodes}, "start")
    fast = local_search(Scorer(graph, devices, goal), candidates, start)
    plain = plain_local_search(Scorer(graph, devices, goal), candidates, start)
    assert fast.placement == plain.placement
    assert_same(fast.estimate, plain.estimate)


def test_value_sizes_match_the_cost_models():
    graph = random_dag(0, 20)
    names = {n for node in graph.nodes for n in (*node.inputs, *node.outputs)}
    for name in names | set(graph.constants) | {"", "unknown"}:
        info = tensor_info(graph, name) if name != "unknown" else None
        assert value_bytes(graph, name) == (nbytes(info) if info is not None else 0)

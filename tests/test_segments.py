"""The segment programme (a chain of small blocks placed exactly) and the device bounds that
narrow exact searches, each checked against exhaustive search on the timeline."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from test_chain import edge_devices
from test_search import everywhere, random_dag

import hetero
from hetero.history import History
from hetero.plan.bounds import useful
from hetero.plan.heuristics import exhaustive, scored_baselines
from hetero.plan.objective import Goal
from hetero.plan.score import Scorer
from hetero.plan.segments import best_segments, cuts

pytestmark = pytest.mark.usefixtures("registry")
SHAPE = [1, 16, 16, 16]


def residual_chain(seed: int, blocks: int = 2, outputs: tuple[int, ...] = ()):
    """Residual blocks as in a ResNet: a main path of one or two Convs/Relus from the block's
    input, a shortcut (the input itself, or a Conv of it), and an Add of the two. A block
    listed in ``outputs`` also returns its Add's value as a graph output."""
    rng = np.random.default_rng(seed)
    nodes, weights, value = [], [], "x"
    extra = []

    def node(kind: str, source: str, name: str) -> str:
        if kind == "Conv":
            width = int(rng.choice([4, 16]))
            weights.append(numpy_helper.from_array(
                rng.standard_normal((16, 16, 3, 3)).astype(np.float32) / width, f"w_{name}"))
            nodes.append(helper.make_node("Conv", [source, f"w_{name}"], [name], name=name,
                                          pads=[1, 1, 1, 1]))
        else:
            nodes.append(helper.make_node("Relu", [source], [name], name=name))
        return name

    for b in range(blocks):
        main = value
        for k in range(int(rng.integers(1, 3))):
            main = node(str(rng.choice(["Conv", "Relu"])), main, f"b{b}m{k}")
        skip = node("Conv", value, f"b{b}s") if rng.random() < 0.5 else value
        nodes.append(helper.make_node("Add", [main, skip], [f"b{b}"], name=f"b{b}"))
        value = f"b{b}"
        if b in outputs:
            extra.append(helper.make_tensor_value_info(value, TensorProto.FLOAT, SHAPE))
    graph = helper.make_graph(
        nodes, "residual", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
        [*extra, helper.make_tensor_value_info(value, TensorProto.FLOAT, SHAPE)]
        if value not in [e.name for e in extra] else extra, weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return hetero.load(model).graph()


def cut_names(graph, devices) -> list[str]:
    layout = Scorer(graph, devices, Goal()).layout
    return [layout.nodes[i].name for i in cuts(layout)]


def test_a_residual_chain_is_cut_after_each_block():
    graph, devices = residual_chain(0, blocks=4), edge_devices("pcie4")
    assert cut_names(graph, devices) == ["b0", "b1", "b2"]  # the last node ends the graph


def test_no_cut_where_an_earlier_value_or_a_graph_output_is_still_needed():
    graph, devices = residual_chain(1, blocks=3, outputs=(0,)), edge_devices("pcie4")
    assert cut_names(graph, devices) == []  # b0 returns to the host while the rest runs
    dag = random_dag(0, 7)
    layout = Scorer(dag, devices, Goal()).layout
    for i in cuts(layout):
        later_reads = {n for r in layout.reads[i + 1:] for n in r} | set(layout.outputs)
        made_before = {n for w in layout.writes[:i] for n in w} | {"x"}
        assert not later_reads & made_before, (layout.nodes[i].name, later_reads & made_before)


@pytest.mark.parametrize("objective", ["energy", "latency", "edp"])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("link", ["pcie4", "5g"])
def test_the_segment_programme_finds_the_exhaustive_optimum(seed, objective, link):
    graph, devices = residual_chain(seed, blocks=2), edge_devices(link)
    score = Scorer(graph, devices, Goal(objective))
    candidates = everywhere(graph, devices)
    optimum = exhaustive(score, candidates)
    placement, ms, mj = best_segments(score, candidates)
    got = score(placement)
    assert got.latency_ms == pytest.approx(ms) and got.energy_mj == pytest.approx(mj)
    assert got.score(objective) == pytest.approx(optimum.estimate.score(objective))


@pytest.mark.parametrize("seed", range(3))
def test_the_segment_programme_keeps_a_latency_cap(seed):
    graph, devices = residual_chain(seed, blocks=2), edge_devices("pcie4")
    free = exhaustive(Scorer(graph, devices, Goal("energy")), everywhere(graph, devices))
    fastest = exhaustive(Scorer(graph, devices, Goal("latency")), everywhere(graph, devices))
    cap = (free.estimate.latency_ms + fastest.estimate.latency_ms) / 2
    score = Scorer(graph, devices, Goal("energy", max_latency_ms=cap))
    optimum = exhaustive(score, everywhere(graph, devices))
    placement, ms, mj = best_segments(score, everywhere(graph, devices))
    assert ms <= cap and mj == pytest.approx(optimum.estimate.energy_mj)
    tight = Scorer(graph, devices, Goal("energy", max_latency_ms=fastest.estimate.latency_ms / 2))
    assert best_segments(tight, everywhere(graph, devices)) is None  # no placement keeps it


def test_compile_proves_a_residual_chain_with_the_segment_programme(tmp_path):
    graph, devices = residual_chain(2, blocks=2), edge_devices("5g")
    plan = hetero.compile(graph, devices=list(devices.values()), passes=(),
                          history=History(tmp_path / "history.json"))
    optimum = exhaustive(Scorer(graph, devices, Goal("energy")), everywhere(graph, devices))
    assert plan.chosen.how == "segment programme (optimal)"
    assert plan.estimate.energy_mj == pytest.approx(optimum.estimate.energy_mj)


def test_a_device_behind_a_slow_link_is_left_out_only_where_it_cannot_pay_off():
    graph, devices = residual_chain(0, blocks=2), edge_devices("5g")
    a100 = next(d for d in devices if "a100" in d)
    score = Scorer(graph, devices, Goal("energy"))
    candidates = everywhere(graph, devices)
    narrowed = useful(score, candidates, scored_baselines(score, candidates))
    assert all(a100 not in ds and len(ds) == 2 for ds in narrowed.values())
    first = graph.nodes[0].name  # a node only the A100 may run keeps it
    pinned = {**candidates, first: [a100]}
    assert useful(score, pinned, scored_baselines(score, pinned))[first] == [a100]
    near = edge_devices("pcie4")  # a round trip over PCIe is cheap: nothing is left out
    near_score = Scorer(graph, near, Goal("energy"))
    kept = useful(near_score, everywhere(graph, near),
                  scored_baselines(near_score, everywhere(graph, near)))
    assert kept == everywhere(graph, near)


@pytest.mark.parametrize("objective", ["energy", "latency", "edp"])
@pytest.mark.parametrize("seed", range(4))
def test_leaving_devices_out_never_loses_the_optimum(seed, objective):
    graph, devices = random_dag(seed, 6), edge_devices("5g")
    score = Scorer(graph, devices, Goal(objective))
    candidates = everywhere(graph, devices)
    narrowed = useful(score, candidates, scored_baselines(score, candidates))
    assert exhaustive(score, narrowed).estimate.score(objective) == \
        pytest.approx(exhaustive(score, candidates).estimate.score(objective))

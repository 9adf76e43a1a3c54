"""Exact chain placement: the dynamic programme against every placement, under one model."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import hetero
from hetero.plan.chain import best_chain, chain_order
from hetero.plan.timeline import simulate

pytestmark = pytest.mark.usefixtures("registry")


def random_chain(seed: int, length: int = 6):
    """A CNN-like chain of Convs (random widths), Relus and MaxPools on a 1x8x32x32 input."""
    rng = np.random.default_rng(seed)
    nodes, weights, value, channels, size = [], [], "x", 8, 32
    for i in range(length):
        kind = rng.choice(["Conv", "Relu", "MaxPool"]) if i else "Conv"
        out = f"v{i}"
        if kind == "Conv":
            width = int(rng.choice([4, 16, 64]))
            weights.append(numpy_helper.from_array(
                np.ones((width, channels, 3, 3), np.float32), f"w{i}"))
            nodes.append(helper.make_node("Conv", [value, f"w{i}"], [out], name=f"n{i}",
                                          pads=[1, 1, 1, 1]))
            channels = width
        elif kind == "MaxPool" and size > 2:
            nodes.append(helper.make_node("MaxPool", [value], [out], name=f"n{i}",
                                          kernel_shape=[2, 2], strides=[2, 2]))
            size //= 2
        else:
            nodes.append(helper.make_node("Relu", [value], [out], name=f"n{i}"))
        value = out
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 32, 32])],
        [helper.make_tensor_value_info(value, TensorProto.FLOAT, [1, channels, size, size])],
        weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return hetero.load(model).graph()


def edge_devices(server_link: str = "5g"):
    """A Jetson's GPU and CPU on its unified memory, and an A100 behind ``server_link``."""
    found = [hetero.sim.attach("jetson-xavier-nx-gpu", link="shared"),
             hetero.sim.attach("jetson-xavier-nx-cpu", link="shared"),
             hetero.sim.attach("a100", link=server_link)]
    return {d.id: d for d in found}


def small_memory(profile: str, nbytes: int) -> hetero.Device:
    """A simulated device of a catalogued profile with only ``nbytes`` of memory."""
    base = hetero.profiles()[profile]
    return hetero.sim.attach(dataclasses.replace(base, memory_bytes=nbytes), link="shared")


def exhaustive(graph, devices, objective, max_ms=None):
    best = None
    names = [n.name for n in graph.nodes]
    for combo in itertools.product(devices, repeat=len(names)):
        got = simulate(graph, dict(zip(names, combo, strict=True)), devices)
        if max_ms is not None and got.latency_ms > max_ms:
            continue
        if best is None or got.score(objective) < best.score(objective):
            best = got
    return best


@pytest.mark.parametrize("link", ["5g", "pcie4"])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("objective", ["energy", "latency", "edp"])
def test_the_programme_finds_the_exhaustive_optimum(seed, objective, link):
    graph, devices = random_chain(seed), edge_devices(link)
    candidates = {n.name: list(devices) for n in graph.nodes}
    placement, ms, mj = best_chain(graph, candidates, devices, objective)
    check = simulate(graph, placement, devices)
    assert check.latency_ms == pytest.approx(ms) and check.energy_mj == pytest.approx(mj)
    optimum = exhaustive(graph, devices, objective)
    assert check.score(objective) == pytest.approx(optimum.score(objective)), (
        f"seed {seed}, {objective}: programme {placement} scores {check.score(objective)}, "
        f"exhaustive best {optimum.score(objective)}")


def test_objectives_disagree_where_the_fast_device_is_power_hungry():
    """Guards the test above from being vacuous: with the A100 on PCIe the fastest plan
    uses it and the most frugal one does not."""
    graph, devices = random_chain(0), edge_devices("pcie4")
    candidates = {n.name: list(devices) for n in graph.nodes}
    fast = best_chain(graph, candidates, devices, "latency")
    frugal = best_chain(graph, candidates, devices, "energy")
    assert any(d.startswith("sim:a100") for d in fast[0].values())
    assert not any(d.startswith("sim:a100") for d in frugal[0].values())
    assert fast[1] < frugal[1] and frugal[2] < fast[2]


def test_a_latency_cap_is_honoured_or_reported_unreachable():
    graph, devices = random_chain(0), edge_devices("pcie4")
    candidates = {n.name: list(devices) for n in graph.nodes}
    fastest = best_chain(graph, candidates, devices, "latency")[1]
    frugal = best_chain(graph, candidates, devices, "energy")
    cap = (fastest + frugal[1]) / 2
    placement, ms, mj = best_chain(graph, candidates, devices, "energy", max_latency_ms=cap)
    assert ms <= cap
    assert mj == pytest.approx(exhaustive(graph, devices, "energy", cap).energy_mj)
    assert best_chain(graph, candidates, devices, "energy", max_latency_ms=fastest * 0.99) \
        is None


def test_only_chains_are_accepted():
    graph = random_chain(0)
    assert chain_order(graph) is not None
    w = numpy_helper.from_array(np.ones((4, 8, 1, 1), np.float32), "w")
    branches = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["a"], name="a"),
         helper.make_node("Relu", ["x"], ["b"], name="b")],
        "fork", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 4, 4])],
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 4, 4, 4]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 8, 4, 4])], [w])
    fork = hetero.load(helper.make_model(
        branches, opset_imports=[helper.make_opsetid("", 17)])).graph()
    assert chain_order(fork) is None
    with pytest.raises(ValueError, match="needs a chain"):
        best_chain(fork, {"a": [], "b": []}, {}, "energy")

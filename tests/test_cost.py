"""The cost model: roofline estimates, measured history and its regression, links, energy."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import hetero
from hetero import evaluate
from hetero.cost import CostModel, energy_mj, history_key, node_work, tensor_info
from hetero.history import History
from hetero.plan.capability import cell
from hetero.plan.timeline import simulate

pytestmark = pytest.mark.usefixtures("registry")  # simulated devices attach to a fresh one


def conv_graph(channels: int = 16, size: int = 32):
    """x (1, C, S, S) -> Conv 3x3 (C -> C) -> Relu."""
    w = numpy_helper.from_array(np.ones((channels, channels, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["y"], ["z"], name="relu")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                   [1, channels, size, size])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, channels, size, size])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return hetero.load(model).graph()


def test_node_work_uses_the_op_librarys_formula():
    graph = conv_graph(16, 32)
    conv, relu = graph.nodes
    work = node_work(conv, graph)
    assert work.flops == 2 * 16 * 32 * 32 * 16 * 9  # 2 x outputs x (C/G x KH x KW)
    assert work.bytes == 4 * (16 * 32 * 32 * 2 + 16 * 16 * 9)  # x, y and w once each
    assert node_work(relu, graph).bytes == 4 * 16 * 32 * 32 * 2


def test_roofline_estimate_is_labelled_modeled_and_follows_the_profile():
    graph = conv_graph()
    a100, jetson = hetero.sim.attach("a100"), hetero.sim.attach("jetson-xavier-nx-gpu")
    model = CostModel()
    fast, slow = (model.node(graph.nodes[0], graph, d) for d in (a100, jetson))
    assert not fast.measured and fast.source.startswith("modeled: roofline")
    work = node_work(graph.nodes[0], graph)
    want = max(work.flops / 845e9, work.bytes / 59.7e9) * 1e3 + 10e-3  # NX figures + launch
    assert slow.ms == pytest.approx(want)
    assert fast.ms < slow.ms


def test_history_gives_measured_times_and_survives_a_reload(tmp_path):
    graph = conv_graph()
    device = hetero.sim.attach("a100")
    node = graph.nodes[0]
    work = node_work(node, graph)
    shapes = [list(tensor_info(graph, n).shape) for n in node.inputs]
    history = History(tmp_path / "history.json")
    key = history_key("Conv", shapes, "float32", device)
    for ms in (3.0, 1.0, 2.0):
        history.record(key, "Conv", device, work, ms)
    history.save()
    got = CostModel(History(tmp_path / "history.json")).node(node, graph, device)
    assert got.measured and got.ms == 2.0  # the median of the three runs


def test_unseen_sizes_are_fitted_from_measured_ones(tmp_path):
    device = hetero.sim.attach("a100")
    history = History(tmp_path / "h.json")
    for size in (8, 16, 32):
        graph = conv_graph(size, 16)
        node = graph.nodes[0]
        work = node_work(node, graph)
        shapes = [list(tensor_info(graph, n).shape) for n in node.inputs]
        for _ in range(3):  # a size is fitted once its median has three runs
            history.record(history_key("Conv", shapes, "float32", device), "Conv", device,
                           work, 0.5 + work.flops * 1e-9)  # runs 1 GFLOP/ms + 0.5 ms
    graph = conv_graph(24, 16)
    got = CostModel(history).node(graph.nodes[0], graph, device)
    assert got.source.startswith("modeled: regression over 3 measured sizes")
    want = 0.5 + node_work(graph.nodes[0], graph).flops * 1e-9
    assert got.ms == pytest.approx(want, rel=1e-6)


def test_transfers_cross_each_devices_link_and_cost_radio_energy():
    model = CostModel()
    remote = hetero.sim.attach("a100", link="5g")
    board = hetero.sim.attach("jetson-xavier-nx-gpu", link="shared")
    link = remote.link
    time, mj = model.transfer(1e6, None, remote)
    assert time.ms == pytest.approx(link.latency_ms + 1e6 / (link.bandwidth_gbs * 1e9) * 1e3)
    assert mj == pytest.approx(1e6 * link.energy_nj_per_byte * 1e-6)
    assert model.transfer(1e6, None, board)[0].ms == 0.0  # zero-copy unified memory
    assert model.transfer(1e6, remote, remote) == (model.transfer(0, remote, remote))
    both, _ = model.transfer(1e6, board, remote)
    assert both.ms == pytest.approx(time.ms)  # the shared link adds nothing


def test_idle_power_of_every_powered_device_counts_over_the_makespan():
    a100, jetson = hetero.sim.attach("a100"), hetero.sim.attach("jetson-xavier-nx-gpu")
    busy_only = energy_mj({jetson: 10.0}, 10.0)
    assert busy_only == pytest.approx(15.0 * 10.0)  # NX active 15 W for 10 ms
    with_idle = energy_mj({jetson: 10.0, a100: 0.0}, 10.0, transfer_mj=1.0)
    assert with_idle == pytest.approx(150.0 + 50.0 * 10.0 + 1.0)  # the A100 idles at 50 W


ESTIMATOR = """
import hetero
from hetero.cost import Estimate

HETERO_PLUGIN_API = 1

@hetero.hookimpl
def hetero_estimate(node, graph, device, work):
    if node.op_type == "Conv":
        return Estimate(work.flops / 1e9, "measured: vendor profiler")
    if node.op_type == "Relu":
        return "fast"  # malformed: an error, and hetero's own estimate is used
"""


def test_a_plugin_can_override_any_estimate(install_plugin, make_registry):
    install_plugin("hetero-estimator", "estimator", ESTIMATOR)
    make_registry({})
    graph = conv_graph()
    device = hetero.sim.attach("a100")
    conv, relu = (CostModel().node(n, graph, device) for n in graph.nodes)
    assert conv.source == "measured: vendor profiler"
    assert conv.ms == pytest.approx(node_work(graph.nodes[0], graph).flops / 1e9)
    assert relu.source.startswith("modeled: roofline")
    assert any(e.plugin == "estimator" and "expected hetero.cost.Estimate" in str(e)
               for e in hetero.plugin_errors())


# -- timelines: a placement played out under the cost model -----------------------------------
def branches_graph(channels: int = 16, size: int = 64):
    return hetero.load(branches_graph_model(channels, size)).graph()


def branches_graph_model(channels: int = 16, size: int = 64):
    """x -> Conv a, x -> Conv b (independent branches) -> Add -> z."""
    w = numpy_helper.from_array(np.ones((channels, channels, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="a", pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["x", "w"], ["b"], name="b", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["a", "b"], ["z"], name="add")]
    value = [1, channels, size, size]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, value)],
                              [helper.make_tensor_value_info("z", 1, value)], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_one_device_runs_its_nodes_back_to_back():
    graph = branches_graph()
    board = hetero.sim.attach("jetson-xavier-nx-gpu", link="shared")
    devices = {board.id: board}
    got = simulate(graph, dict.fromkeys(["a", "b", "add"], board.id), devices)
    each = [CostModel().node(n, graph, board).ms for n in graph.nodes]
    assert got.latency_ms == pytest.approx(sum(each))  # zero-copy in and out
    assert got.transfer_bytes == 0
    assert got.energy_mj == pytest.approx(15.0 * sum(each))  # NX active 15 W throughout
    assert [s.name for s in got.spans] == ["a", "b", "add"]


def test_a_split_pays_the_link_and_overlaps_the_branches():
    graph = branches_graph()
    board = hetero.sim.attach("jetson-xavier-nx-gpu", link="shared")
    remote = hetero.sim.attach("a100", link="5g")
    devices = {board.id: board, remote.id: remote}
    got = simulate(graph, {"a": board.id, "b": remote.id, "add": board.id}, devices)
    size = 16 * 64 * 64 * 4
    assert got.transfer_bytes == 2 * size  # x up to the A100, b back down
    link = remote.link
    hop = link.latency_ms + size / (link.bandwidth_gbs * 1e9) * 1e3
    model = CostModel()
    a, b, add = (model.node(n, graph, d) for n, d in zip(graph.nodes, [board, remote, board],
                                                           strict=True))
    assert got.latency_ms == pytest.approx(max(a.ms, 2 * hop + b.ms) + add.ms)
    transfers = [s for s in got.spans if s.kind == "transfer"]
    assert [t.device for t in transfers] == ["host->" + remote.id, remote.id + "->" + board.id]
    radio = 2 * size * link.energy_nj_per_byte * 1e-6
    busy = {board: a.ms + add.ms, remote: b.ms}
    assert got.energy_mj == pytest.approx(energy_mj(busy, got.latency_ms, radio))


def test_objectives_are_energy_latency_and_their_product():
    graph = branches_graph()
    board = hetero.sim.attach("jetson-xavier-nx-gpu", link="shared")
    got = simulate(graph, dict.fromkeys(["a", "b", "add"], board.id), {board.id: board})
    assert got.score("edp") == pytest.approx(got.energy_mj * got.latency_ms)
    assert got.score("latency") == got.latency_ms
    with pytest.raises(ValueError, match="choose one of energy, latency, edp"):
        got.score("power")


def test_evaluate_scores_any_placement_and_refuses_incomplete_ones():
    model = hetero.load(branches_graph_model())
    board = hetero.sim.attach("jetson-xavier-nx-gpu", link="shared")
    remote = hetero.sim.attach("a100", link="5g")
    devices = [board, remote]
    local = evaluate(model, dict.fromkeys(["a", "b", "add"], board.id), devices, "edp")
    split = evaluate(model, {"a": board.id, "b": remote.id, "add": board.id}, devices, "edp")
    assert local.value == pytest.approx(local.energy_mj * local.latency_ms)
    assert split.transfer_bytes > 0 == local.transfer_bytes
    with pytest.raises(hetero.UnsupportedOp, match="1 node.s. unplaced, e.g. add"):
        evaluate(model, {"a": board.id, "b": board.id}, devices)
    with pytest.raises(hetero.UnsupportedOp, match="device.s. cuda:9 not among"):
        evaluate(model, {"a": board.id, "b": board.id, "add": "cuda:9"}, devices)


def test_a_device_without_the_nodes_dtype_cannot_run_it():
    graph = conv_graph()
    fpga = hetero.sim.attach("alveo-u280")  # its profile lists int8 only
    assert not cell(graph.nodes[0], graph, fpga).runs
    assert cell(graph.nodes[0], graph, hetero.sim.attach("a100")).runs

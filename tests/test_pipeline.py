"""The compile pipeline (hetero.plan.pipeline): one path from any model form to a plan, and
plan.replan reusing the stages it has computed (capability and cost rows, prepared steps)
while releasing what was built on a device that left."""

from __future__ import annotations

import numpy as np
import pytest
from test_runtime import WANT, X, chain_model

import hetero
from hetero import UnsupportedOp
from hetero.cost import CostModel, node_key, node_work
from hetero.history import History
from hetero.plan import capability

pytestmark = pytest.mark.usefixtures("registry")


def test_compile_and_evaluate_take_whatever_load_takes(tmp_path):
    proto = chain_model().proto
    path = tmp_path / "chain.onnx"
    path.write_bytes(proto.SerializeToString())
    cpu = hetero.device("cpu")
    plans = [hetero.compile(form, devices=[cpu])
             for form in (proto, proto.SerializeToString(), str(path), path, chain_model())]
    for plan in plans:
        np.testing.assert_allclose(plan.run({"x": X})["d"], WANT, rtol=1e-6)
    assert len({tuple(p.placement.items()) for p in plans}) == 1
    placement = plans[0].placement
    figures = {hetero.evaluate(form, placement, [cpu]).energy_mj for form in (proto, path)}
    assert figures == {hetero.evaluate(chain_model(), placement, [cpu]).energy_mj}


def test_replan_without_a_device_moves_its_nodes_and_reuses_the_steps_that_stay():
    cpu = hetero.device("cpu")
    board = hetero.sim.attach("jetson-xavier-nx-gpu", link="shared")
    plan = hetero.compile(chain_model(), devices=[cpu, board],
                          placement={"relu": board.id, "square": cpu.id})
    assert plan.placement["relu"] == board.id
    smaller = plan.replan([cpu])
    assert set(smaller.placement.values()) == {cpu.id}
    np.testing.assert_allclose(smaller.run({"x": X})["d"], WANT, rtol=1e-6)
    stayed = [n for n, d in plan.placement.items() if d == cpu.id]
    assert stayed and all(smaller.prepared[n] is plan.prepared[n] for n in stayed)
    assert plan.pipeline is smaller.pipeline
    assert plan.pipeline.prepared.devices() == {cpu.id}  # the board's steps are released
    # the board computes on host memory as the cpu does: its relu moves over as built
    assert smaller.prepared["relu"] is plan.prepared["relu"]
    fallback = next(d for d in smaller.decisions if d.node == "relu")
    assert fallback.fallback and board.id in fallback.reason  # the pin it could not keep


def test_replan_computes_capability_and_cost_rows_once_per_device(monkeypatch):
    calls: list[str] = []
    real = capability.row

    def counted(graph, device, work=None):
        calls.append(device.id)
        return real(graph, device, work) if work else real(graph, device)

    monkeypatch.setattr(capability, "row", counted)
    cpu = hetero.device("cpu")
    board = hetero.sim.attach("jetson-xavier-nx-gpu", link="shared")
    plan = hetero.compile(chain_model(), devices=[cpu, board])
    again = plan.replan([cpu]).replan([cpu, board])
    assert sorted(calls) == sorted([cpu.id, board.id])  # the board's rows kept for its return
    estimated: list[str] = []
    real_estimate = CostModel.estimate
    monkeypatch.setattr(CostModel, "estimate", lambda self, node, graph, device: (
        estimated.append(device.id), real_estimate(self, node, graph, device))[1])
    again.replan([board])
    assert estimated == []  # no node re-estimated on a device seen before
    np.testing.assert_allclose(again.run({"x": X})["d"], WANT, rtol=1e-6)


def test_a_replan_reads_what_the_history_measured_since_the_rows_were_made(tmp_path):
    history = History(tmp_path / "history.json")
    cpu = hetero.device("cpu")
    plan = hetero.compile(chain_model(), devices=[cpu], history=history)
    graph = plan.pipeline.graph
    node = graph.nodes[0]
    before = plan.pipeline.costs[cpu.id][2][node.name]
    assert not before.source.startswith("measured")
    work = node_work(node, graph)
    for _ in range(3):  # the median needs three runs
        history.record(node_key(node, graph, cpu, work), node.op_type, cpu, work, 123.0)
    after = plan.replan([cpu]).pipeline.costs[cpu.id][2][node.name]
    assert (after.ms, after.source.split(":")[0]) == (123.0, "measured")


def test_a_replan_onto_a_new_device_adds_only_its_rows():
    cpu = hetero.device("cpu")
    plan = hetero.compile(chain_model(), devices=[cpu])
    board = hetero.sim.attach("jetson-xavier-nx-gpu", link="shared")
    bigger = plan.replan([cpu, board])
    assert set(plan.pipeline.capabilities) == {cpu.id, board.id}
    assert bigger.devices.keys() == {cpu.id, board.id}
    fresh = hetero.compile(chain_model(), devices=[cpu, board])
    assert bigger.placement == fresh.placement  # the board draws less: the nodes move there
    assert bigger.estimate.energy_mj == pytest.approx(fresh.estimate.energy_mj)
    moved = [n for n, d in bigger.placement.items() if d == board.id]
    built = {key for key in plan.pipeline.prepared.steps if key[0] == cpu.id}
    assert moved and not any(n in key[1] for key in built for n in moved)  # not kept on cpu
    np.testing.assert_allclose(bigger.run({"x": X})["d"], WANT, rtol=1e-6)


def test_a_node_no_device_runs_is_refused_device_by_device():
    fpga = hetero.sim.attach("alveo-u280")  # an int8-only profile: no float32 peak
    with pytest.raises(UnsupportedOp, match=r"no device given can run it \(sim:alveo-u280:0: "
                                            r"profile 'alveo-u280' computes in .* not float32"):
        hetero.compile(chain_model(), devices=[fpga])


def gemm_relu(tmp_path):
    """my_dense (Gemm) then my_relu (Relu): the passes fuse them into one FusedGemm."""
    from onnx import TensorProto, helper, numpy_helper, save

    weights = [numpy_helper.from_array(np.ones((4, 3), np.float32), "w"),
               numpy_helper.from_array(np.zeros(4, np.float32), "b")]
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="my_dense", transB=1),
             helper.make_node("Relu", ["y"], ["z"], name="my_relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [2, 3])], [helper.make_tensor_value_info(
            "z", TensorProto.FLOAT, [2, 4])], weights)
    path = tmp_path / "gemm_relu.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_a_refusal_names_the_users_own_nodes_behind_a_fused_one(tmp_path):
    pytest.importorskip("pyopencl")
    opencl = next((d for d in hetero.devices() if d.backend == "opencl"), None)
    if opencl is None:
        pytest.skip("no OpenCL device here")
    with pytest.raises(UnsupportedOp, match=r"'my_dense' \+ 'my_relu' \(Gemm, Relu\), which the "
                                            r"graph passes made one com.hetero.FusedGemm: .*"
                                            r"runs kernels \(@hetero.kernel\), not ONNX nodes"):
        hetero.compile(gemm_relu(tmp_path), devices=[opencl])


def test_hetero_ops_on_a_model_shows_the_table_compile_places_from(tmp_path, capsys):
    import json

    from hetero.cli import main

    assert main(["ops", str(gemm_relu(tmp_path)), "--device", "cpu", "--json"]) == 0
    nodes = json.loads(capsys.readouterr().out)["nodes"]
    assert [(n["node"], n["op"], n["tiers"]) for n in nodes] == [
        ("my_dense", "com.hetero.FusedGemm", {"cpu:0": "native"})]
    assert "'my_dense' + 'my_relu'" in nodes[0]["from"]
    assert main(["ops", str(gemm_relu(tmp_path)), "--device", "cpu", "--passes", "none",
                 "--json"]) == 0
    assert [n["node"] for n in json.loads(capsys.readouterr().out)["nodes"]] == \
        ["my_dense", "my_relu"]


@pytest.mark.parametrize("where", ["cpu", "sim"])
def test_weights_on_host_memory_devices_are_shared_not_copied(tmp_path, where):
    device = hetero.device("cpu") if where == "cpu" else \
        hetero.sim.attach("jetson-xavier-nx-gpu", link="shared")
    plan = hetero.compile(gemm_relu(tmp_path), devices=[device], passes=())
    weight = plan.resident["w", device.id]
    assert np.shares_memory(weight, plan.pipeline.graph.constants["w"])
    assert not weight.flags.writeable

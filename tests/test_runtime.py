"""hetero.compile and Plan.run: placement by pins, explicit transfers, strict mode,
intermediates freed when dead, and a report that hides no fallback (the scheduler's choices
are tested in test_schedule.py)."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from onnx import TensorProto, helper

import hetero
from hetero import ModelError, UnsupportedOp


def chain_model() -> hetero.Model:
    """a = relu(x); b = a * a; c = b - x; d = atan(c) (Atan runs on the reference tier)."""
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu"),
             helper.make_node("Mul", ["a", "a"], ["b"], name="square"),
             helper.make_node("Sub", ["b", "x"], ["c"], name="minus"),
             helper.make_node("Atan", ["c"], ["d"], name="atan")]
    graph = helper.make_graph(nodes, "chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])],
                              [helper.make_tensor_value_info("d", TensorProto.FLOAT, [3, 4])])
    return hetero.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))


X = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
WANT = np.arctan(np.maximum(X, 0) ** 2 - X)


def test_one_device_runs_the_graph_with_native_and_reference_tiers(registry):
    plan = hetero.compile(chain_model(), devices=[hetero.device("cpu")])
    np.testing.assert_allclose(plan.run({"x": X})["d"], WANT, rtol=1e-6)
    assert set(plan.placement.values()) == {"cpu:0"}
    tiers = {d.node: d.tier for d in plan.decisions}
    assert tiers == {"relu": "native", "square": "native", "minus": "native",
                     "atan": "reference"}
    assert [t.node for t in plan.last_run] == ["relu", "square", "minus", "atan"]
    moves = [(s.value, s.source, s.device) for s in plan.steps if s.kind == "transfer"]
    assert moves == [("x", "host", "cpu:0"), ("d", "cpu:0", "host")]  # in, and back out
    report = plan.report()
    assert "atan" in report and "reference" in report and "measured" in report


def test_pins_split_the_graph_and_transfers_are_explicit_steps(registry):
    sim = hetero.sim.attach("jetson-xavier-nx-gpu")
    try:
        plan = hetero.compile(chain_model(), devices=[hetero.device("cpu"), sim],
                              placement={"relu": "cpu:0", "square": sim.id, "minus": "cpu:0"})
        assert plan.placement["square"] == sim.id and plan.placement["minus"] == "cpu:0"
        moves = [(s.value, s.source, s.device) for s in plan.steps if s.kind == "transfer"]
        assert ("a", "cpu:0", sim.id) in moves and ("b", sim.id, "cpu:0") in moves
        np.testing.assert_allclose(plan.run({"x": X})["d"], WANT, rtol=1e-6)
        assert "pinned by the caller" in plan.report()
    finally:
        hetero.sim.detach(sim)


def test_strict_refuses_a_pin_the_device_cannot_run_and_lax_records_the_fallback(registry):
    pytest.importorskip("pyopencl")
    devices = [hetero.device("cpu"), hetero.device("opencl:cpu:0")]
    pin = {"atan": "opencl:cpu:0"}
    with pytest.raises(UnsupportedOp, match=r"'atan' \(Atan\) is pinned to opencl:cpu:0, which "
                                            r"cannot run Atan \(strict=True\)"):
        hetero.compile(chain_model(), devices=devices, placement=pin, strict=True)
    plan = hetero.compile(chain_model(), devices=devices, placement=pin)
    (fallback,) = [d for d in plan.decisions if d.fallback]
    assert fallback.node == "atan" and fallback.device == "cpu:0"
    assert "FALLBACK: pinned to opencl:cpu:0, which cannot run Atan" in plan.report()


def test_unknown_pins_and_bad_feeds_are_named(registry):
    with pytest.raises(UnsupportedOp, match="pins unknown node.*nope"):
        hetero.compile(chain_model(), devices=[hetero.device("cpu")], placement={"nope": "cpu"})
    plan = hetero.compile(chain_model(), devices=[hetero.device("cpu")])
    with pytest.raises(ModelError, match="expected x; .*missing x"):
        plan.run({})
    with pytest.raises(ModelError, match=r"'x' is float64; the model declares float32"):
        plan.run({"x": X.astype(np.float64)})


def test_intermediates_are_freed_once_their_last_reader_ran(registry, monkeypatch):
    cpu = hetero.device("cpu")
    plan = hetero.compile(chain_model(), devices=[cpu])
    produced: dict[str, weakref.ref] = {}
    alive_when: dict[str, bool] = {}
    real = type(cpu.impl).run_node

    def tracking(self, device, prepared, inputs):
        gc.collect()
        if prepared.node.name == "atan":  # "a" was last read by "square"
            alive_when["atan"] = produced["a"]() is not None
        outputs = real(self, device, prepared, inputs)
        for name, value in zip(prepared.node.outputs, outputs, strict=True):
            produced[name] = weakref.ref(value)
        return outputs

    monkeypatch.setattr(type(cpu.impl), "run_node", tracking)
    plan.run({"x": X})
    assert alive_when == {"atan": False}


def test_sequence_values_flow_through_as_host_objects(registry):
    """ONNX sequences (lists of tensors, here ragged) are not arrays: they pass between steps
    untouched."""
    seq = helper.make_tensor_sequence_value_info("parts", TensorProto.FLOAT, None)
    graph = helper.make_graph(
        [helper.make_node("SplitToSequence", ["x", "sizes"], ["parts"], axis=0)], "seq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 2])], [seq],
        [helper.make_tensor("sizes", TensorProto.INT64, [2], [1, 2])])
    model = hetero.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    out = hetero.compile(model, devices=[hetero.device("cpu")]).run({"x": X[:, :2].copy()})
    assert isinstance(out["parts"], list) and [p.shape for p in out["parts"]] == [(1, 2), (2, 2)]
    np.testing.assert_array_equal(np.concatenate(out["parts"]), X[:, :2])


def test_untimed_runs_replay_one_recording_where_the_device_records(monkeypatch):
    """A device that records a run (a GPU's CUDA graph) replays it on the runs not timed:
    inputs written into the recorded buffers, outputs read back, no node run one by one.
    Here a stand-in recording re-runs the node calls it was given."""
    cpu = hetero.device("cpu")
    recorded = []

    def capture(self, device, work):
        recorded.append(device.id)
        return work

    monkeypatch.setattr(type(cpu.impl), "capture", capture)
    monkeypatch.setattr(type(cpu.impl), "write",
                        lambda self, device, buffer, host: np.copyto(buffer, host))
    plan = hetero.compile(chain_model(), devices=[cpu])
    plain = hetero.compile(chain_model(), devices=[cpu])
    plan.history = plain.history = None  # no run recorded for the history: none timed
    plain.graphs = False
    np.testing.assert_allclose(plan.run({"x": X})["d"], WANT, rtol=1e-6)
    assert plan.last_run and not recorded  # the first run warms up, node by node
    for x in (X, X * 0.5, X[::-1].copy()):
        np.testing.assert_allclose(plan.run({"x": x})["d"], plain.run({"x": x})["d"],
                                   rtol=1e-6)
        assert [t.node for t in plan.last_run] == ["replay:cpu:0"]  # not node by node
    assert recorded == ["cpu:0"]
    plan.profile = True  # timed runs go node by node, so their nodes are measured
    plan.run({"x": X})
    assert len(plan.last_run) == 4


def test_a_run_that_cannot_be_recorded_goes_node_by_node_for_good(monkeypatch):
    cpu = hetero.device("cpu")
    asked = []
    monkeypatch.setattr(type(cpu.impl), "capture",
                        lambda self, device, work: asked.append(1) or None)
    plan = hetero.compile(chain_model(), devices=[cpu])
    plan.history = None
    for _ in range(3):
        np.testing.assert_allclose(plan.run({"x": X})["d"], WANT, rtol=1e-6)
        assert len(plan.last_run) == 4
    assert asked == [1]


def test_recorded_runs_replay_too_and_share_the_replays_time_among_its_nodes(monkeypatch,
                                                                            tmp_path):
    from hetero.history import History

    cpu = hetero.device("cpu")
    monkeypatch.setattr(type(cpu.impl), "capture", lambda self, device, work: work)
    monkeypatch.setattr(type(cpu.impl), "write",
                        lambda self, device, buffer, host: np.copyto(buffer, host))
    history = History(tmp_path / "history.json")
    plan = hetero.compile(chain_model(), devices=[cpu], history=history)
    for _ in range(3):
        np.testing.assert_allclose(plan.run({"x": X})["d"], WANT, rtol=1e-6)
    history.flush()  # as at exit
    entries = History(tmp_path / "history.json")._entries.values()
    ops = sorted(e["op"] for e in entries)
    assert ops == sorted(n.op_type for n in plan.graph.nodes)
    assert all(e["shared"] and len(e["ms"]) == 2 for e in entries)  # runs 1 and 2
    assert "last run replayed its recording on cpu:0 as one launch" in plan.report()

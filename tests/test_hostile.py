"""Hostile and careless input (issue 19): nesting and size bounded before any recursion,
constant folding bounded, run deadlines and Loop trip limits, memory counted at run time where
shapes were symbolic, and only hetero's errors escaping ``load``, ``compile`` and ``run``.
Caches are in test_cache_safety.py, plugins in test_plugin_isolation.py, fuzzing in
test_fuzz.py."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import hetero
from hetero import ArgumentError, DeadlineExceeded, DeviceOutOfMemory, ModelError, RunError
from hetero.limits import MAX_SUBGRAPH_DEPTH

OPSET = [helper.make_opsetid("", 17)]


def model(nodes, inputs, outputs, initializers=()) -> object:
    graph = helper.make_graph(nodes, "hostile", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=OPSET)


def tensor(name: str, dtype=TensorProto.FLOAT, shape=None):
    return helper.make_tensor_value_info(name, dtype, shape)


def finishes(call, seconds: float = 60.0):
    """Run ``call`` on a thread; fail (not hang) if it has not returned in ``seconds``."""
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("result")


# -- nesting and size: checked before anything recurses ------------------------------------
DEEP_IF = """
import sys
from onnx import AttributeProto, TensorProto, helper
out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
leaf = helper.make_graph([helper.make_node("Constant", [], ["y"], value=helper.make_tensor(
    "c", TensorProto.FLOAT, [1], [1.0]))], "leaf", [], [out])
cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
m = helper.make_model(helper.make_graph([], "main", [cond], [out]),
                      opset_imports=[helper.make_opsetid("", 17)])
g = m.graph
for i in range(int(sys.argv[1])):  # in place: make_graph would copy every level
    n = g.node.add(); n.op_type = "If"; n.input.append("cond"); n.output.append("y")
    e = n.attribute.add(); e.name = "else_branch"; e.type = AttributeProto.GRAPH
    e.g.CopyFrom(leaf)
    t = n.attribute.add(); t.name = "then_branch"; t.type = AttributeProto.GRAPH
    t.g.name = f"g{i}"; t.g.output.append(out)
    g = t.g
g.node.extend(leaf.node)
"""


def nested_if(depth: int):
    scope: dict = {}
    sys.argv, saved = ["x", str(depth)], sys.argv
    try:
        exec(DEEP_IF, scope)
    finally:
        sys.argv = saved
    return scope["m"]


def test_if_nested_3000_deep_is_a_model_error_not_a_recursion_error():
    with pytest.raises(ModelError, match=f"more than {MAX_SUBGRAPH_DEPTH} deep"):
        hetero.load(nested_if(3000))


def test_if_nested_30000_deep_does_not_crash_the_process():
    """It segfaulted in hetero.load; a subprocess, so a regression fails instead of killing
    the test run."""
    script = DEEP_IF + """
import hetero
try:
    hetero.load(m)
except hetero.ModelError as exc:
    print("refused:", exc)
"""
    done = subprocess.run([sys.executable, "-c", script, "30000"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refused:" in done.stdout and "nests subgraphs" in done.stdout


def test_nesting_within_the_limit_still_loads():
    assert hetero.load(nested_if(MAX_SUBGRAPH_DEPTH)).proto.graph.node[0].op_type == "If"


def test_node_count_limit(monkeypatch):
    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"v{i - 1}"], [f"v{i}"])
             for i in range(20)]
    proto = model(nodes, [tensor("x", shape=[2])], [tensor("v19", shape=[2])])
    monkeypatch.setenv("HETERO_MAX_NODES", "10")
    with pytest.raises(ModelError, match="more than 10 nodes.*HETERO_MAX_NODES"):
        hetero.load(proto)
    monkeypatch.setenv("HETERO_MAX_NODES", "ten")
    with pytest.raises(ModelError, match="HETERO_MAX_NODES='ten' is not a number"):
        hetero.load(proto)
    monkeypatch.delenv("HETERO_MAX_NODES")
    assert hetero.load(proto)


# -- constant folding ------------------------------------------------------------------------
def constant_of_shape_model(count: int):
    """y = x + sum(ConstantOfShape([count], 1.0)): a few bytes that ask for 4·count."""
    shape = numpy_helper.from_array(np.array([count], dtype=np.int64), "shape")
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["big"], name="big",
                              value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
             helper.make_node("ReduceSum", ["big"], ["s"], keepdims=0),
             helper.make_node("Add", ["x", "s"], ["y"])]
    return model(nodes, [tensor("x", shape=[1])], [tensor("y", shape=[1])], [shape])


def test_a_tiny_model_asking_for_gigabytes_is_not_folded_at_compile_time(registry, caplog):
    """750 million floats (3 GB): folding took 12 s and 3.3 GB; now it is left to run time."""
    proto = constant_of_shape_model(750_000_000)
    assert len(proto.SerializeToString()) < 200
    with caplog.at_level(logging.INFO, logger="hetero"):
        plan = hetero.compile(hetero.load(proto), devices=[hetero.device("cpu")])
    assert "big" in {n.name for n in plan.graph.nodes}  # still a node: not folded
    assert "left node 'big' (ConstantOfShape) to run time" in caplog.text
    assert "HETERO_FOLD_MAX_BYTES" in caplog.text


def test_a_value_over_the_fold_limit_is_computed_at_run_time(registry, monkeypatch):
    monkeypatch.setenv("HETERO_FOLD_MAX_BYTES", "1000")
    plan = hetero.compile(hetero.load(constant_of_shape_model(1000)),
                          devices=[hetero.device("cpu")])
    assert "big" in {n.name for n in plan.graph.nodes}
    assert plan.run({"x": np.ones(1, np.float32)})["y"][0] == pytest.approx(1001.0)
    monkeypatch.delenv("HETERO_FOLD_MAX_BYTES")
    folded = hetero.compile(hetero.load(constant_of_shape_model(1000)),
                            devices=[hetero.device("cpu")])
    assert "big" not in {n.name for n in folded.graph.nodes}


# -- feeds -------------------------------------------------------------------------------------
def relu_plan():
    proto = model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                  [tensor("x", shape=[2])], [tensor("y", shape=[2])])
    return hetero.compile(hetero.load(proto), devices=[hetero.device("cpu")])


@pytest.mark.parametrize("feeds, match", [
    ("x", "feeds must be a mapping.*not str.*'x': array"),
    ([np.ones(2, np.float32)], "feeds must be a mapping.*not list"),
    (None, "feeds must be a mapping.*not NoneType"),
    ({1: np.ones(2)}, "keyed by input name.*1"),
    ({"x": "text"}, "input 'x': cannot make a float32 array of the str"),
    ({"x": [[1.0], [1.0, 2.0]]}, "input 'x': cannot make a float32 array of the list"),
    ({"x": object()}, "input 'x': cannot make a float32 array of the object"),
])
def test_bad_feeds_are_model_errors_naming_the_input(registry, feeds, match):
    with pytest.raises(ModelError, match=match):
        relu_plan().run(feeds)


def test_a_session_refuses_feeds_that_are_not_a_mapping(registry):
    proto = model([helper.make_node("Relu", ["x"], ["y"])], [tensor("x", shape=[2])],
                  [tensor("y", shape=[2])])
    with hetero.Session(hetero.load(proto), devices=["cpu"], watch=False) as session, \
            pytest.raises(ModelError, match="not str"):
        session.run("x")


# -- arguments ---------------------------------------------------------------------------------
def relu_model():
    return hetero.load(model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                             [tensor("x", shape=[2])], [tensor("y", shape=[2])]))


@pytest.mark.parametrize("arguments, match", [
    ({"objective": "fastest"}, "objective 'fastest': choose one of"),
    ({"strategy": "x"}, "strategy 'x': choose one of"),
    ({"max_latency_ms": "x"}, "max_latency_ms='x': a cap must be a finite number"),
    ({"max_energy_mj": float("nan")}, "max_energy_mj=nan"),
    ({"placement": ["relu"]}, "placement=.*give {node name: device id}"),
    ({"passes": "fold_constants"}, "passes='fold_constants': give a list of pass names"),
    ({"passes": ["nope"]}, "unknown graph pass"),
    ({"devices": 123}, "devices=123: give a list of devices or selectors"),
    ({"devices": "cpu"}, "devices='cpu': give a list"),
    ({"devices": [123]}, "a device selector is a string"),
])
def test_wrong_arguments_to_compile_are_argument_errors(registry, arguments, match):
    """These raised raw ValueError, TypeError or AttributeError."""
    arguments.setdefault("devices", [hetero.device("cpu")])
    with pytest.raises(ArgumentError, match=match):
        hetero.compile(relu_model(), **arguments)


@pytest.mark.parametrize("arguments, match", [
    ({"max_in_flight": -1}, "max_in_flight=-1: give a whole number of at least 1"),
    ({"workers": 0}, "workers=0"), ({"workers": 2.5}, "workers=2.5"),
    ({"retries": None}, "retries=None"), ({"retries": -1}, "retries=-1"),
    ({"history": "x"}, "history='x': give a hetero.history.History"),
    ({"placement": "relu"}, "placement='relu'"),
])
def test_wrong_arguments_to_a_session_are_argument_errors(registry, arguments, match):
    """Found by review: raw ValueError/TypeError from the semaphore, the thread pool, the
    retry loop and the history; retries=-1 became a DeviceLost of "0 tries"."""
    with pytest.raises(ArgumentError, match=match):
        hetero.Session(relu_model(), devices=["cpu"], watch=False, **arguments)


def test_load_takes_a_loaded_model(registry):
    loaded = relu_model()
    assert hetero.load(loaded) is loaded


def test_selector_strings_are_devices_to_compile(registry):
    assert set(hetero.compile(relu_model(), devices=["cpu"]).placement.values()) == {"cpu:0"}
    with pytest.raises(hetero.DeviceNotFound):
        hetero.compile(relu_model(), devices=["nope:0"])


@pytest.mark.parametrize("call, match", [
    (lambda: hetero.load(b"", memory_limit="x"), "memory_limit='x'"),
    (lambda: hetero.sim.attach(123), "profile=123: give a catalogue name"),
    (lambda: hetero.sim.attach("a100", link=5), "link=5: give a link name"),
    (lambda: hetero.device(123), "a device selector is a string"),
])
def test_wrong_arguments_elsewhere_are_argument_errors(registry, call, match):
    with pytest.raises(ArgumentError, match=match):
        call()


def test_a_feed_of_the_wrong_dtype_says_how_to_convert(registry):
    with pytest.raises(ModelError, match="input 'x' is float64; the model declares float32: "
                       "convert it with .astype"):
        relu_plan().run({"x": np.ones(2)})


# -- a node failing at run time ----------------------------------------------------------------
def test_a_node_failing_on_its_data_is_a_run_error_naming_it(registry):
    """A Reshape to a fed shape that does not fit raised numpy's raw ValueError."""
    proto = model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")],
                  [tensor("x", shape=[6]), tensor("shape", TensorProto.INT64, [2])],
                  [tensor("y", shape=["a", "b"])])
    plan = hetero.compile(hetero.load(proto), devices=[hetero.device("cpu")])
    with pytest.raises(RunError, match="node 'reshape' \\(Reshape\\) failed on cpu:0") as info:
        plan.run({"x": np.ones(6, np.float32), "shape": np.array([4, 4])})
    assert info.value.node == "reshape" and info.value.device == "cpu:0"
    assert info.value.__cause__ is not None  # the original error stays chained


def test_an_allocation_numpy_cannot_make_is_a_hetero_error(registry):
    """ConstantOfShape of a fed 1e12 elements: numpy's MemoryError or ValueError before."""
    proto = model([helper.make_node("ConstantOfShape", ["shape"], ["y"], name="fill")],
                  [tensor("shape", TensorProto.INT64, [1])], [tensor("y", shape=["n"])])
    plan = hetero.compile(hetero.load(proto), devices=[hetero.device("cpu")])
    with pytest.raises((DeviceOutOfMemory, RunError), match="node 'fill'"):
        plan.run({"shape": np.array([10**12])})


# -- memory at run time, shapes symbolic at compile time ----------------------------------------
def test_intermediates_on_a_simulated_device_are_counted_against_its_memory(registry):
    """An 8 MiB simulated Edge TPU (int8 only) computed a 16 MB intermediate (the shapes were
    symbolic, so the planner could not see it); now the run stops with DeviceOutOfMemory."""
    repeats = numpy_helper.from_array(np.array([16], dtype=np.int64), "repeats")
    proto = model([helper.make_node("Tile", ["x", "repeats"], ["big"], name="tile"),
                   helper.make_node("ReduceMax", ["big"], ["y"], keepdims=0, name="max")],
                  [tensor("x", TensorProto.INT8, ["n"])], [tensor("y", TensorProto.INT8, [])],
                  [repeats])
    tpu = hetero.sim.attach("coral-usb-edgetpu")
    try:
        plan = hetero.compile(hetero.load(proto), devices=[tpu], placement={
            "tile": tpu.id, "max": tpu.id})
        assert plan.symbolic
        small = np.arange(100, dtype=np.int8)
        assert plan.run({"x": small})["y"] == 99  # fits: 1.6 kB
        with pytest.raises(DeviceOutOfMemory, match="node 'tile'.*coral-usb-edgetpu.*"
                           "simulated.*symbolic at compile time"):
            plan.run({"x": np.zeros(1_000_000, np.int8)})  # 1 MB in, 16 MB intermediate
    finally:
        hetero.sim.detach(tpu)


# -- Loop bounds and run deadlines ---------------------------------------------------------------
def loop_model(trips: int | None):
    """y = x + 1 iterated by a Loop: ``trips`` as its M, or cond-driven forever (None)."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body",
        [tensor("i", TensorProto.INT64, []), tensor("cond_in", TensorProto.BOOL, []),
         tensor("v_in", shape=[1])],
        [tensor("cond_out", TensorProto.BOOL, []), tensor("v_out", shape=[1])],
        [numpy_helper.from_array(np.ones(1, np.float32), "one")])
    inits = [numpy_helper.from_array(np.array(True), "go")]
    inputs = ["", "go", "x"]
    if trips is not None:
        inits.append(numpy_helper.from_array(np.array(trips, dtype=np.int64), "trips"))
        inputs[0] = "trips"
    loop = helper.make_node("Loop", inputs, ["y"], name="loop", body=body)
    return model([loop], [tensor("x", shape=[1])], [tensor("y", shape=[1])], inits)


def loop_plan(trips):
    return hetero.compile(hetero.load(loop_model(trips)), devices=[hetero.device("cpu")])


X1 = np.zeros(1, np.float32)


def test_a_loop_runs_its_trip_count(registry):
    assert loop_plan(5).run({"x": X1})["y"][0] == 5.0


def test_a_loop_of_1e12_trips_is_refused_before_its_first_iteration(registry):
    plan = loop_plan(10**12)
    with pytest.raises(RunError, match="Loop node 'loop' asks for 1,000,000,000,000 "
                       "iterations.*HETERO_MAX_LOOP_TRIPS"):
        finishes(lambda: plan.run({"x": X1}))


def test_a_condition_driven_loop_stops_at_the_trip_limit(registry, monkeypatch):
    monkeypatch.setenv("HETERO_MAX_LOOP_TRIPS", "50")
    with pytest.raises(RunError, match="51 iterations or more, over the limit of 50"):
        finishes(lambda: loop_plan(None).run({"x": X1}))


def test_timeout_ms_ends_an_endless_loop(registry):
    plan = loop_plan(None)
    start = time.perf_counter()
    with pytest.raises(DeadlineExceeded, match="deadline of 200 ms before iteration"):
        finishes(lambda: plan.run({"x": X1}, timeout_ms=200))
    assert time.perf_counter() - start < 30  # it stopped near 0.2 s; endless before


def scan_model():
    """s = sum of xs rows, by a Scan over xs's first axis (its length is the feed's)."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_in"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["y_out"])], "body",
        [tensor("s_in", shape=[1]), tensor("x_in", shape=[1])],
        [tensor("s_out", shape=[1]), tensor("y_out", shape=[1])])
    scan = helper.make_node("Scan", ["s0", "xs"], ["sf", "ys"], name="scan", body=body,
                            num_scan_inputs=1)
    return model([scan], [tensor("s0", shape=[1]), tensor("xs", shape=["n", 1])],
                 [tensor("sf", shape=[1]), tensor("ys", shape=["n", 1])])


def test_timeout_ms_ends_a_long_scan(registry):
    """Found by review: a Scan over 300,000 rows passed a 200 ms deadline by 8 s."""
    def plan():
        return hetero.compile(hetero.load(scan_model()), devices=[hetero.device("cpu")])

    s0 = np.zeros(1, np.float32)
    assert plan().run({"s0": s0, "xs": np.ones((5, 1), np.float32)})["sf"][0] == 5.0
    long = plan()  # a first run: nothing recorded for replay before the nodes run
    with pytest.raises(DeadlineExceeded, match="before an iteration of Scan node 'scan'"):
        finishes(lambda: long.run({"s0": s0, "xs": np.ones((3 * 10**6, 1), np.float32)},
                                  timeout_ms=200))


def test_timeout_ms_is_checked_between_nodes(registry):
    with pytest.raises(DeadlineExceeded, match="before (running|copying)"):
        relu_plan().run({"x": np.ones(2, np.float32)}, timeout_ms=1e-9)
    for bad in (0, -5, float("nan"), "10", True):
        with pytest.raises(ArgumentError, match="timeout_ms=.*give a positive number"):
            relu_plan().run({"x": np.ones(2, np.float32)}, timeout_ms=bad)
    assert relu_plan().run({"x": np.ones(2, np.float32)}, timeout_ms=60_000)["y"].shape == (2,)


def test_a_session_default_timeout_applies_to_each_request(registry):
    with hetero.Session(hetero.load(loop_model(None)), devices=["cpu"], watch=False,
                        timeout_ms=200) as session:
        with pytest.raises(DeadlineExceeded):
            finishes(lambda: session.run({"x": X1}))
        assert session.stats.failed == 1
        assert finishes(lambda: session.submit({"x": X1}, timeout_ms=300).exception(60))


def test_loop_limits_reach_nested_bodies(registry, monkeypatch):
    """The bounded Loop is handed to onnx.reference's subgraph evaluators too."""
    inner = loop_model(None).graph.node[0]
    outer_body = helper.make_graph(
        [inner, helper.make_node("Identity", ["cond_in"], ["cond_out"])], "outer",
        [tensor("j", TensorProto.INT64, []), tensor("cond_in", TensorProto.BOOL, []),
         tensor("x", shape=[1])],
        [tensor("cond_out", TensorProto.BOOL, []), tensor("y", shape=[1])],
        [numpy_helper.from_array(np.array(True), "go")])
    one = numpy_helper.from_array(np.array(1, dtype=np.int64), "one_trip")
    truth = numpy_helper.from_array(np.array(True), "go_outer")
    outer = helper.make_node("Loop", ["one_trip", "go_outer", "x"], ["y"], name="outer",
                             body=outer_body)
    proto = model([outer], [tensor("x", shape=[1])], [tensor("y", shape=[1])], [one, truth])
    monkeypatch.setenv("HETERO_MAX_LOOP_TRIPS", "20")
    plan = hetero.compile(hetero.load(proto), devices=[hetero.device("cpu")])
    with pytest.raises(RunError, match="Loop node 'loop'.*over the limit of 20"):
        finishes(lambda: plan.run({"x": X1}))

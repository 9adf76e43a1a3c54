"""The tvm backend: TVM's llvm target on the host, compiling each run of consecutive nodes
placed on it as one subgraph, next to nodes placed elsewhere, with an on-disk compile cache
that a second process reuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper
from test_models import LIGHT, randomised
from test_runtime import WANT, X, chain_model

import hetero
from hetero.device import HOST_CPU, silicon
from hetero.history import History
from hetero.testing.conformance import select_devices

pytest.importorskip("tvm")
pytestmark = pytest.mark.usefixtures("registry")
ROOT = Path(__file__).resolve().parents[1]


def test_the_device_says_what_it_is_and_is_not_a_second_cpu_by_default():
    tvm, cpu = hetero.device("tvm"), hetero.device("cpu")
    assert "TVM" in tvm.name and "llvm target on the host CPU" in tvm.name
    assert tvm.info["target"] == {"kind": "llvm"} and not tvm.simulated
    assert silicon(tvm) == silicon(cpu) == HOST_CPU
    plan = hetero.compile(chain_model())  # default devices: one per piece of hardware
    assert tvm.id not in set(plan.placement.values())


def test_runs_of_nodes_compile_as_one_subgraph_next_to_other_devices():
    tvm, cpu = hetero.device("tvm"), hetero.device("cpu")
    pins = {"relu": tvm.id, "square": tvm.id, "minus": cpu.id, "atan": tvm.id}
    plan = hetero.compile(chain_model(), devices=[cpu, tvm], placement=pins)
    assert plan.units == {"subgraph[relu..square]": ["relu", "square"],
                          "subgraph[atan]": ["atan"]}
    np.testing.assert_allclose(plan.run({"x": X})["d"], WANT, rtol=1e-6)
    ran = {t.node: t.device for t in plan.last_run}
    assert ran == {"subgraph[relu..square]": tvm.id, "minus": cpu.id, "subgraph[atan]": tvm.id}
    assert "subgraph[relu..square]: relu, square on tvm:cpu:0, compiled as one unit" in \
        plan.report()


def test_a_subgraphs_measured_time_is_shared_among_its_nodes_in_the_history(tmp_path):
    """A subgraph runs as one program: its time reaches the history split over its nodes by
    their modeled times, so the next plan costs tvm by what it measured."""
    tvm, cpu = hetero.device("tvm"), hetero.device("cpu")
    pins = {"relu": tvm.id, "square": tvm.id, "minus": tvm.id, "atan": cpu.id}
    history = History(tmp_path / "history.json")
    plan = hetero.compile(chain_model(), devices=[cpu, tvm], placement=pins, history=history)
    modeled = {d.node: d.ms for d in plan.decisions}
    for _ in range(4):  # the first run compiles and is not recorded
        plan.run({"x": X})
    unit = next(t.ms for t in plan.last_run if t.node == "subgraph[relu..minus]")
    history.flush()  # as at exit: another process reads the file
    again = hetero.compile(chain_model(), devices=[cpu, tvm], placement=pins,
                           history=History(tmp_path / "history.json"))
    got = {d.node: d for d in again.decisions}
    members = ("relu", "square", "minus")
    shares = [got[n].ms for n in members]
    assert all(got[n].source.startswith("measured: its share") for n in ("relu", "square"))
    assert got["atan"].source.startswith("measured: median")  # a node alone: its own time
    total = sum(modeled[n] for n in members)
    ratios = [s / (modeled[n] / total) for s, n in zip(shares, members, strict=True)]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-9)  # split by modeled time
    assert 0.2 * unit < sum(shares) < 5 * unit  # medians of the same runs' subgraph times


def test_tvm_claims_what_its_frontend_converts_at_static_shapes():
    tvm = hetero.device("tvm")
    dynamic = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="relu"),
         helper.make_node("Shape", ["y"], ["s"], name="shape"),
         helper.make_node("StringNormalizer", ["t"], ["u"], name="strings")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("t", TensorProto.STRING, [2])],
        [helper.make_tensor_value_info("s", TensorProto.INT64, [2]),
         helper.make_tensor_value_info("u", TensorProto.STRING, [2])])
    graph = hetero.load(helper.make_model(
        dynamic, opset_imports=[helper.make_opsetid("", 17)])).graph()
    tiers = {n.name: tvm.impl.node_tier(tvm, n, graph) for n in graph.nodes}
    assert tiers == {"relu": None, "shape": None, "strings": None}  # symbolic batch, strings
    chain = chain_model().graph()
    assert {n.name: tvm.impl.node_tier(tvm, n, chain) for n in chain.nodes} == dict.fromkeys(
        ["relu", "square", "minus", "atan"], "native")


def test_an_op_in_tvms_table_that_its_converter_refuses_is_not_claimed():
    """TVM lists CumSum, but its converter refuses an axis that is not a constant: claiming
    asks the frontend itself, so compile never meets the refusal."""
    tvm = hetero.device("tvm")
    sums = helper.make_graph(
        [helper.make_node("CumSum", ["x", "axis"], ["y"], name="fed"),
         helper.make_node("CumSum", ["x", "zero"], ["z"], name="constant")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("axis", TensorProto.INT32, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor("zero", TensorProto.INT32, [], [0])])
    graph = hetero.load(helper.make_model(
        sums, opset_imports=[helper.make_opsetid("", 17)])).graph()
    assert {n.name: tvm.impl.node_tier(tvm, n, graph) for n in graph.nodes} == {
        "fed": None, "constant": "native"}


def test_half_of_squeezenet_on_tvm_and_half_on_the_cpu_matches_onnx_runtime():
    onnxruntime = pytest.importorskip("onnxruntime")
    proto = randomised(LIGHT / "light_squeezenet.onnx")
    model = hetero.load(proto)
    tvm, cpu = hetero.device("tvm"), hetero.device("cpu")
    names = [n.name for n in hetero.compile(model, devices=[cpu]).graph.nodes]
    pins = {n: tvm.id if i < len(names) // 2 else cpu.id for i, n in enumerate(names)}
    plan = hetero.compile(model, devices=[cpu, tvm], placement=pins)
    on_tvm = plan.graph.nodes[:len(names) // 2]
    assert len(plan.units) == 1 and any(n.op_type.startswith("Fused") for n in on_tvm)
    image = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    want = onnxruntime.InferenceSession(proto.SerializeToString(),
                                        providers=["CPUExecutionProvider"]).run(None, {
                                            "data_0": image})[0]
    np.testing.assert_allclose(plan.run({"data_0": image})["softmaxout_1"], want, atol=1e-6)


@pytest.mark.filterwarnings("ignore")  # TVM's frontend warns about shapes it infers itself
def test_a_light_model_compiled_whole_by_tvm_matches_onnx_runtime():
    """ShuffleNet (the quickest to compile); benchmarks/tvm_backend.py checks all nine."""
    onnxruntime = pytest.importorskip("onnxruntime")
    proto = randomised(LIGHT / "light_shufflenet.onnx")
    plan = hetero.compile(hetero.load(proto), devices=[hetero.device("tvm")], strict=True)
    assert len(plan.units) == 1
    (data,) = plan.graph.inputs
    x = np.random.default_rng(1).standard_normal(data.shape).astype(np.float32)
    want = onnxruntime.InferenceSession(proto.SerializeToString(),
                                        providers=["CPUExecutionProvider"]).run(None, {
                                            data.name: x})[0]
    got = plan.run({data.name: x})[plan.graph.outputs[0].name]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
import hetero
import hetero.backends.tvm.compiler as compiler
from test_runtime import chain_model, X
tvm = hetero.device("tvm")
plan = hetero.compile(chain_model(), devices=[tvm])
plan.run({{"x": X}})
print(json.dumps(compiler.stats))
"""


def test_a_second_process_loads_the_compiled_subgraph_instead_of_compiling(tmp_path):
    env = {**os.environ, "HETERO_CACHE_DIR": str(tmp_path)}
    script = SCRIPT.format(tests=str(ROOT / "tests"))
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                      capture_output=True, text=True).stdout.splitlines()[-1])
            for _ in range(2)]
    assert runs == [{"compiled": 1, "loaded": 0}, {"compiled": 0, "loaded": 1}]
    assert len(list((tmp_path / "tvm").glob("*.so"))) == 1


NPU_VENDOR = """
import hetero
from hetero.backends.tvm.targets import TVMTarget

HETERO_PLUGIN_API = 1

@hetero.hookimpl
def hetero_tvm_targets():
    return [
        # a real NPU flow: TVM's example NPU patterns and codegen (this wheel lacks the codegen)
        TVMTarget("example-npu", "npu", {"kind": "llvm"}, "example_npu", codegen="example_npu",
                  modules=("tvm.relax.backend.contrib.example_npu",)),
        # the same patterns, the partitions built by the host's llvm: claiming, testable here
        TVMTarget("patterned", "npu", {"kind": "llvm"}, "example_npu",
                  modules=("tvm.relax.backend.contrib.example_npu",),
                  description="example_npu's patterns, built for the host by TVM's llvm"),
    ]
"""


def test_a_vendor_package_adds_an_npu_whose_patterns_decide_what_it_runs(install_plugin,
                                                                           make_registry):
    install_plugin("hetero-npu-vendor", "npu_vendor", NPU_VENDOR)
    make_registry({})
    ids = [d.id for d in hetero.devices()]
    assert "tvm:patterned:0" in ids and "tvm:example-npu:0" not in ids
    assert any(e.plugin == "npu_vendor" and "no codegen relax.ext.example_npu" in str(e)
               for e in hetero.plugin_errors())
    npu, cpu = hetero.device("tvm:patterned:0"), hetero.device("cpu")
    assert npu.kind == "npu" and npu.info["patterns"] == "example_npu"
    graph = chain_model().graph()  # Relu, Mul, Sub: example_npu ops; Atan: not
    tiers = {n.name: npu.impl.node_tier(npu, n, graph) for n in graph.nodes}
    assert tiers == {"relu": "native", "square": "native", "minus": "native", "atan": None}
    with pytest.raises(hetero.UnsupportedOp, match="does not run @hetero.kernel code"):
        doubled[npu, 4](hetero.zeros(4, np.float32, npu), hetero.zeros(4, np.float32, npu))
    assert npu.id not in {d.id for d in select_devices([], [])}  # not in the kernel suite
    plan = hetero.compile(chain_model(), devices=[cpu, npu],
                          placement={"relu": npu.id, "square": npu.id, "minus": npu.id})
    assert plan.placement["atan"] == cpu.id
    assert plan.units == {"subgraph[relu..minus]": ["relu", "square", "minus"]}
    np.testing.assert_allclose(plan.run({"x": X})["d"], WANT, rtol=1e-6)


JUNK_TARGETS = """
import hetero
from hetero.backends.tvm.targets import TVMTarget

HETERO_PLUGIN_API = 1

@hetero.hookimpl
def hetero_tvm_targets():
    return ["abc", 42, TVMTarget("broken", "npu", {"kind": "llvm"}, "x", modules=(None,))]
"""


def test_junk_tvm_targets_are_plugin_errors_and_tvm_still_lists(install_plugin,
                                                                 make_registry):
    """Issue 19: a hetero_tvm_targets result of strings broke the tvm backend's discovery
    (raw AttributeError: 'str' object has no attribute 'unavailable')."""
    install_plugin("hetero-junk-targets", "junk_targets", JUNK_TARGETS)
    make_registry({})
    assert "tvm:cpu:0" in {d.id for d in hetero.devices()}
    errors = [e for e in hetero.plugin_errors() if e.plugin == "junk_targets"]
    assert any("'abc'" in e.detail and "TVMTarget" in e.detail for e in errors), errors
    assert any("AttributeError" in e.detail for e in errors), errors  # modules=(None,)


@hetero.kernel
def doubled(x, out):
    i = hetero.global_id(0)
    if i < x.shape[0]:
        out[i] = x[i] * 2.0


def test_a_portable_kernel_is_tir_built_once_then_loaded_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HETERO_CACHE_DIR", str(tmp_path))
    x = hetero.asarray(np.arange(10, dtype=np.float32), "tvm")
    out = hetero.zeros(10, np.float32, "tvm")
    assert "@T.prim_func" in doubled.source("tvm", x, out)
    origins = []
    for _ in range(2):
        kern = hetero.kernel(doubled.fn)  # a fresh kernel: nothing compiled in memory
        kern["tvm", 16](x, out).wait()  # a global size past the data: guarded
        origins.append(next(iter(kern._programs.values())).origin)
        np.testing.assert_array_equal(out.numpy(), np.arange(10) * 2)
    assert origins[0].startswith("compiled in") and origins[1] == "loaded from the compile cache"
    assert len(list((tmp_path / "tvm").glob("*.so"))) == 1


def test_a_model_cross_compiles_to_an_aarch64_shared_library(tmp_path):
    import shutil

    from hetero.backends.tvm.compiler import build
    from hetero.backends.tvm.cross import elf_machine, export

    from hetero.errors import UnsupportedOp

    with pytest.raises(UnsupportedOp, match="apt-get install gcc-aarch64-linux-gnu"):
        export(chain_model(), tmp_path / "x.so", cc="hetero-no-such-gcc")
    host = tmp_path / "host.so"
    build(chain_model().proto, {"kind": "llvm"}).export_library(str(host))
    assert elf_machine(host) == "x86-64"  # the check tells the two apart
    if shutil.which("aarch64-linux-gnu-gcc") is None:
        pytest.skip("needs Debian's cross linker: apt-get install gcc-aarch64-linux-gnu")
    assert elf_machine(export(chain_model(), tmp_path / "chain.so")) == "AArch64"

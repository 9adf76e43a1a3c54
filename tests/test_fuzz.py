"""Fuzzed models, feeds and plugin hook results (issue 19): hetero.load, hetero.compile,
Plan.run and the CLI raise only HeteroErrors, and every case finishes. Then one regression
test per defect the fuzzer found, each with its minimal model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

import hetero
from hetero import cli
from hetero.discovery import Registry, set_default_registry
from hetero.errors import HeteroError, ModelError
from hetero.plugins import load_plugins
from hetero.testing.fuzz import MARKER, JunkPlugin, case, check, hook_results, seed_models

ROOT = Path(__file__).resolve().parents[1]
SEED, CASES = 19, 500


# -- the model fuzz, in a subprocess: a hang or a crash fails the test and names its case ------
def test_fuzzed_models_raise_only_hetero_errors_and_finish(tmp_path):
    command = [sys.executable, "-W", "ignore", "-m", "hetero.testing.fuzz", "--seed", str(SEED),
               "--cases", str(CASES), "--timeout-ms", "5000", "--sim", "jetson-xavier-nx-gpu"]
    env = {**os.environ, "HETERO_DISABLE_PLUGIN_AUTOLOAD": "1",
           "HETERO_CACHE_DIR": os.environ["HETERO_CACHE_DIR"]}  # conftest's: the CPU measured once
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=90, env=env,
                              cwd=ROOT)
        out, code = done.stdout, done.returncode
    except subprocess.TimeoutExpired as exc:  # the whole run took ~10 s here
        out, code = (exc.stdout or b"").decode(), "timeout"
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    results = [r for r in lines if "kind" in r]
    if code != 0 or len(results) != CASES:
        started = [r for r in lines if "start" in r]
        last = started[-1]["repro"] if started else "(none started)"
        err = done.stderr[-3000:] if code != "timeout" else ""
        pytest.fail(f"the fuzz run ended with {code} after {len(results)} of {CASES} cases; "
                    f"the case that hung or crashed: {last}\n{err}")
    foreign = [r for r in results if r["kind"] == "foreign"]
    assert not foreign, "\n\n".join(f"{r['repro']}\n{r['stage']}: {r['error']}\n{r['detail']}"
                                    for r in foreign[:5])
    kinds = {k: sum(r["kind"] == k for r in results) for k in ("ok", "refused")}
    # the mutator must reach compile and run too, not only the checker's refusals
    assert kinds["ok"] >= CASES // 20 and kinds["refused"] >= CASES // 2, kinds
    assert sum(r["stage"] == "run" and r["kind"] == "refused" for r in results) >= CASES // 20


def test_cases_are_reproducible_from_seed_and_index():
    first, again = case(7, 42), case(7, 42)
    assert first.data == again.data and first.mutations == again.mutations
    assert "case(7, 42)" in first.repro()
    assert len({case(7, i).data for i in range(20)}) > 15


# -- plugin hook results -------------------------------------------------------------------------
def junk_registry(results: dict) -> Registry:
    plugins = load_plugins({"HETERO_DISABLE_PLUGIN_AUTOLOAD": "1"})
    for name in ("cuda", "opencl", "tvm"):  # their first discovery alone may take seconds
        plugins.manager.unregister(name=name)
    plugins.register("junk", JunkPlugin(results))
    return Registry(env={"HETERO_DISCOVERY_TIMEOUT_S": "5"}, plugins=plugins)


def test_fuzzed_hook_results_raise_only_hetero_errors(capsys):
    model = hetero.load(seed_models()["gemm_relu"])
    values = hook_results(SEED, 5 * 12)
    previous = set_default_registry(None)
    try:
        for round_ in range(12):
            results = dict(zip(JunkPlugin.HOOKS, values[5 * round_:5 * round_ + 5], strict=True))
            set_default_registry(junk_registry(results))
            try:
                assert "cpu:0" in [d.id for d in hetero.devices()]
                hetero.profiles(), hetero.links()
                dev = hetero.sim.attach("jetson-xavier-nx-gpu")
                plan = hetero.compile(model, devices=[hetero.device("cpu"), dev])
                plan.run({"x": np.ones((2, 4), np.float32)}, timeout_ms=5000)
                hetero.sim.detach(dev)
                assert cli.main(["devices"]) == 0
            except HeteroError:
                pass
            except Exception as exc:  # noqa: BLE001 - the point: nothing else may escape
                pytest.fail(f"hook results {results!r}: {type(exc).__name__}: {exc}")
            capsys.readouterr()
    finally:
        set_default_registry(previous)


# -- the CLI -------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", [1, 2, 6, 9])
def test_hetero_run_on_a_broken_model_exits_non_zero_with_a_message(tmp_path, capsys, index):
    path = tmp_path / "broken.onnx"
    path.write_bytes(case(SEED, index).data if index != 9 else b"\x08\xff\xff\xff")
    code = cli.main(["run", str(path), "--device", "cpu"])
    err = capsys.readouterr().err
    if code == 0:  # a mutation that left the model valid: then it runs
        return
    assert code == 2 and err.startswith("hetero run:") and len(err) > 30, err


def test_hetero_run_on_garbage_names_the_file(tmp_path, capsys):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\x0a\xff\xff\xff\xff\x0f not a model")
    assert cli.main(["run", str(path)]) == 2
    assert str(path) in capsys.readouterr().err


# -- the defects the fuzzer found ----------------------------------------------------------------
def compile_on_cpu(source):
    return hetero.compile(hetero.load(source), devices=[hetero.device("cpu")])


def test_invalid_utf8_in_a_node_name_is_a_model_error():
    """protobuf returned the name as bytes; the fusion pass / reference tier then raised
    UnicodeDecodeError from helper.make_node."""
    model = seed_models()["gemm_relu"]
    model.graph.node[0].name = MARKER.decode()
    data = model.SerializeToString().replace(MARKER, b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8")
    with pytest.raises(ModelError, match=r"graph\.node\[0\]\.name is not valid UTF-8"):
        compile_on_cpu(data)


def test_initializer_raw_data_of_the_wrong_size_is_a_model_error():
    """numpy's reshape raised ValueError in Graph.from_model."""
    model = seed_models()["matmul_add"]
    model.graph.initializer[1].raw_data += bytes(8)  # too little, the checker refuses itself
    with pytest.raises(ModelError, match=r"initializer 'b' declares dims \[5\].* holds 28 "):
        compile_on_cpu(model.SerializeToString())


def test_initializer_typed_data_of_the_wrong_length_is_a_model_error():
    model = seed_models()["matmul_add"]
    bias = model.graph.initializer[1]
    bias.ClearField("raw_data")
    bias.float_data[:] = [1.0] * 7  # dims say 5 (fewer, and the checker refuses it)
    with pytest.raises(ModelError, match="initializer 'b'"):
        compile_on_cpu(model)


def test_the_ai_onnx_domain_alias_runs_as_the_default_domain():
    """The checker accepts opset_import domain "ai.onnx"; onnx.reference raised RuntimeError
    "Domain '' is not specified" for the reference-tier nodes."""
    model = seed_models()["slice_gather"]
    model.opset_import[0].domain = "ai.onnx"
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    got = compile_on_cpu(model).run({"x": x})["y"]
    want = compile_on_cpu(seed_models()["slice_gather"]).run({"x": x})["y"]
    np.testing.assert_allclose(got, want)


def test_a_conv_with_group_zero_is_a_model_error_naming_the_node():
    """The CPU backend's direct Conv kernel raised ZeroDivisionError at compile."""
    model = seed_models()["conv_pool"]
    model.graph.node[0].attribute.append(helper.make_attribute("group", 0))
    with pytest.raises(ModelError, match=r"node 'conv' .*group=0"):
        compile_on_cpu(model)


def test_a_negative_input_dimension_is_refused_without_aborting():
    """ONNX's C++ shape inference aborted the whole process (a failed std::clamp assertion)
    on a Slice whose input declares dimension -1; run in a subprocess so that cannot end
    the test session."""
    code = ("import hetero\nfrom hetero.testing.fuzz import seed_models\n"
            "m = seed_models()['slice_gather']\n"
            "m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -1\n"
            "try:\n    hetero.load(m)\nexcept hetero.ModelError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "graph.input[0].type.tensor_type.shape.dim[0] is -1" in done.stdout



@pytest.mark.parametrize("index", [16084])
def test_an_empty_nchwc_result_comes_back_to_the_host(index):
    """Found by the fuzzer: a zero-sized NCHWc result's conversion to the plain layout
    reshaped with -1, which numpy cannot infer for 0 elements (raw ValueError in run)."""
    outcome = check(case(1, index), devices=[hetero.device("cpu")])
    assert outcome.kind != "foreign", outcome.detail

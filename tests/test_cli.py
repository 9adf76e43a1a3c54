"""The ``hetero`` command line, run as a user would: a separate process."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

from hetero.backends.cpu.hostinfo import normalise_arch


def hetero_cli(*args: str, env: dict | None = None, check: bool = True):
    return subprocess.run([sys.executable, "-m", "hetero.cli", *args], capture_output=True,
                          text=True, check=check,
                          env={**os.environ, "COLUMNS": "300", **(env or {})})


def test_devices_json_lists_the_real_host_cpu():
    listing = json.loads(hetero_cli("devices", "--json").stdout)
    cpu = next(d for d in listing["devices"] if d["id"] == "cpu:0")
    assert cpu["arch"] == normalise_arch(platform.machine())
    assert cpu["simulated"] is False and cpu["kind"] == "cpu"
    assert cpu["profile"]["peak_gflops"]["float32"] > 0
    assert cpu["profile"]["sources"]["peak_gflops.float32"].startswith("measured:")
    assert isinstance(cpu["features"], list)
    assert {b["name"] for b in listing["backends"]} >= {"cpu", "sim", "opencl", "tvm", "cuda"}
    assert listing["plugin_api"] == 1


def test_devices_with_a_simulated_device_marks_it_everywhere():
    out = hetero_cli("devices", "--json", "--sim", "a100@5g").stdout
    sim = next(d for d in json.loads(out)["devices"] if d["id"] == "sim:a100:0")
    assert sim["simulated"] is True and sim["link"] == "5g"
    assert "simulated" in sim["name"]
    table = hetero_cli("devices", "--sim", "a100@5g").stdout.splitlines()
    at = next(k for k, line in enumerate(table) if "sim:a100:0" in line)
    assert "SIMULATED" in table[at + 1] and "5g: 8 ms, 100 Mbit/s" in table[at]
    assert any(line.startswith("SIMULATED: computed on this host") for line in table)


def test_devices_verbose_says_why_each_backend_is_unavailable():
    status = {b["name"]: b for b in json.loads(hetero_cli("devices", "--json").stdout)["backends"]}
    table = hetero_cli("devices", "--verbose", env={"HETERO_BACKENDS": ""}).stdout
    assert "cpu:0" in table and "(measured)" in table
    for name, backend in status.items():
        if backend["state"] != "ok":
            assert f"{name}: {backend['state']}: {backend['detail'][:40]}" in \
                " ".join(table.split()), name
        for device_id in backend["devices"]:
            assert device_id in table


def test_loud_failures_exit_non_zero_with_the_reason():
    result = hetero_cli("devices", env={"HETERO_BACKENDS": "cpu,nosuch"}, check=False)
    assert result.returncode == 2
    assert "nosuch" in result.stderr and "no plugin provides it" in result.stderr


def test_unknown_simulated_profile_is_explained():
    result = hetero_cli("devices", "--sim", "jetson", check=False)
    assert result.returncode == 2 and "Known:" in result.stderr


def test_profiles_json_lists_the_catalogue():
    data = json.loads(hetero_cli("profiles", "--json").stdout)
    assert "jetson-xavier-nx-gpu" in {p["name"] for p in data["profiles"]}
    assert "5g" in {x["name"] for x in data["links"]}


def test_every_device_description_is_plain_json(registry):
    import hetero

    hetero.sim.attach("a100", link="5g")
    for device in hetero.devices():
        text = json.dumps(device.to_dict())  # no default=: an object repr would raise here
        assert "object at 0x" not in text


def test_conformance_prints_the_table_and_passes_on_the_cpu():
    done = hetero_cli("conformance", "--device", "cpu", "--op", "Relu", "--op", "Add",
                      "--dtype", "float32")
    assert "hetero conformance" in done.stdout
    assert "Relu" in done.stdout and "Add" in done.stdout and "cpu:0" in done.stdout
    assert "FAIL" not in done.stdout
    passed, total = done.stdout.strip().splitlines()[-1].split()[0].split("/")
    assert passed == total and int(total) >= 2


def test_conformance_json_names_every_case_with_a_repro():
    done = hetero_cli("conformance", "--device", "cpu", "--op", "Softmax", "--dtype",
                      "float64", "--json")
    results = json.loads(done.stdout)["results"]
    assert results and all(r["op"] == "Softmax" and r["dtype"] == "float64" for r in results)
    assert all(r["ok"] and "check_case('Softmax', 'float64'" in r["repro"] for r in results)


def test_conformance_refuses_an_unknown_op_with_the_known_ones():
    done = hetero_cli("conformance", "--device", "cpu", "--op", "Frobnicate", check=False)
    assert done.returncode == 2
    assert "Frobnicate" in done.stderr and "MatMul" in done.stderr


def test_conformance_failure_exits_one_and_prints_the_repro(monkeypatch, capsys, registry):
    from hetero import cli
    from hetero.testing import conformance

    def wrong(op, case, dtype, device):
        return conformance.Result(op.name, dtype, case.label, device.id, False, "max |error| 1")

    monkeypatch.setattr(conformance, "compare", wrong)
    assert cli.main(["conformance", "--device", "cpu", "--op", "Relu", "--dtype",
                     "float32"]) == 1
    out = capsys.readouterr().out
    assert "FAIL Relu float32" in out and "repro: python -c" in out and "max |error| 1" in out


def test_conformance_table_says_which_devices_are_simulated():
    done = hetero_cli("conformance", "--device", "cuda:0", "--op", "Relu", "--dtype",
                      "float32", env={"NUMBA_ENABLE_CUDASIM": "1"})
    assert "cuda:0 (simulated)" in done.stdout and "FAIL" not in done.stdout


def test_ops_lists_each_op_with_its_tier_per_device():
    rows = json.loads(hetero_cli("ops", "--device", "cpu", "--json").stdout)["ops"]
    tiers = {(r["domain"], r["op"]): r["tiers"]["cpu:0"] for r in rows}
    assert tiers[("ai.onnx", "Add")] == "native" and tiers[("ai.onnx", "Softmax")] == "native"
    assert tiers[("ai.onnx", "Atan")] == "reference"
    assert tiers[("ai.onnx.ml", "Binarizer")] == "reference"
    assert len(rows) > 180


def write_model(folder) -> str:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="relu"),
         helper.make_node("Atan", ["r"], ["y"], name="atan")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])])
    path = folder / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return str(path)


def test_run_feeds_random_or_given_inputs_and_shows_where_nodes_ran(tmp_path):
    import numpy as np

    model = write_model(tmp_path)
    done = json.loads(hetero_cli("run", model, "--device", "cpu", "--json").stdout)
    assert done["outputs"]["y"]["shape"] == [1, 3] and done["latency"].startswith("measured")
    assert done["compile_ms"] > 0 and done["compile"].startswith("measured")  # warmed up
    assert len(done["runs_ms"]) == 3 and done["latency_ms"] == sorted(done["runs_ms"])[1]
    assert done["first_run_ms"] is None and "median of 3 runs" in done["latency"]
    assert [(n["node"], n["device"], n["tier"]) for n in done["nodes"]] == [
        ("relu", "cpu:0", "native"), ("atan", "cpu:0", "reference")]
    np.save(tmp_path / "x.npy", np.full((4, 3), -1.0, np.float32))
    given = json.loads(hetero_cli("run", model, "--input", f"x={tmp_path / 'x.npy'}",
                                  "--no-warmup", "--repeats", "2", "--json").stdout)
    assert given["outputs"]["y"] == {"shape": [4, 3], "dtype": "float32", "mean": 0.0}
    assert given["compile_ms"] is None and given["first_run_ms"] == given["runs_ms"][0]
    assert given["latency_ms"] == given["runs_ms"][1]  # the cold first run kept apart
    table = hetero_cli("run", model, "--device", "cpu", env={"COLUMNS": "80"}).stdout
    assert "relu" in table and "reference" in table
    latency = next(line for line in table.splitlines() if line.startswith("latency:"))
    assert latency.startswith("latency: compile ") and " ms (measured: wall clock" in latency
    assert " ms per run (measured: wall clock, median of 3 runs)" in latency
    bad = hetero_cli("run", model, "--input", "x", check=False)
    assert bad.returncode == 2 and "write NAME=FILE.npy" in bad.stderr

"""``hetero bench`` and ``hetero.bench``: every device alone, the planned placement and ONNX
Runtime, timed interleaved on a tiny model that needs no kernel compilation (a first run
in under a millisecond), so the whole file takes seconds."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, save

import hetero
from hetero.bench import NO_ORT, SIMULATED, BenchResult, Row, bench, measure

ONLY = {"HETERO_BACKENDS": "cpu,sim"}  # no OpenCL or TVM discovery: faster starts


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """Two MatMuls with a bias and Tanh between them: x[4, 16] -> y[4, 8]."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
               for name, shape in (("w1", (16, 32)), ("b", (32,)), ("w2", (32, 8)))]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]),
             helper.make_node("Add", ["h", "b"], ["hb"]),
             helper.make_node("Tanh", ["hb"], ["t"]),
             helper.make_node("MatMul", ["t", "w2"], ["y"])]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])], weights)
    path = tmp_path / "tiny.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


@pytest.fixture
def sims(make_registry):
    """cpu and sim backends only, with a simulated A100 and an int8-only Coral TPU."""
    make_registry(ONLY)
    attached = [hetero.sim.attach("a100", link="5g"), hetero.sim.attach("coral-usb-edgetpu")]
    yield attached
    for device in attached:
        hetero.sim.detach(device)


def hetero_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hetero.cli", "bench", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "120", **ONLY})


def test_one_row_per_device_planned_and_onnxruntime_with_ordered_spread(model, sims):
    pytest.importorskip("onnxruntime")
    a100, coral = sims
    result = bench(str(model), devices=["cpu", a100, coral], repeats=3)
    rows = {r.label: r for r in result.rows}
    assert [r.kind for r in result.rows] == ["device"] * 3 + ["planned", "onnxruntime"]
    assert rows[coral.id].error.startswith("cannot run: UnsupportedOp")  # int8 only
    assert "int8" in rows[coral.id].error and not rows[coral.id].samples_ms
    ort = result.ort
    assert ort is not None and ort.label.startswith("onnxruntime")
    for row in (rows["cpu:0"], rows[a100.id], rows["planned"], ort):
        s = row.stats()
        assert len(row.samples_ms) == 3 and s["median_ms"] > 0
        assert s["min_ms"] <= s["p10_ms"] <= s["median_ms"] <= s["p90_ms"] <= s["max_ms"]
        assert result.ratio(row) == pytest.approx(s["median_ms"] / ort.median_ms)
        assert row.compile_s > 0 and row.first_run_ms > 0
    for row in (rows["cpu:0"], rows[a100.id], rows["planned"]):
        assert row.max_abs_error is not None and row.max_abs_error < 1e-4
    assert rows[a100.id].simulated == [a100.id] and rows[a100.id].estimate_ms > 0
    assert rows["cpu:0"].simulated == []
    assert sum(rows["planned"].placement.values()) == 4  # every node placed somewhere
    data = json.loads(result.to_json())
    assert data["machine"]["cores"] >= 1 and len(data["machine"]["load_average_before"]) == 3
    assert data["machine"]["repeats"] == 3 and data["machine"]["onnxruntime"]
    sim_row = next(c for c in data["configurations"] if c["label"] == a100.id)
    assert SIMULATED in sim_row["source"] and sim_row["estimate"]["source"] == "modeled"


def test_without_onnxruntime_its_row_says_how_to_install_it(model, sims, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime fails
    result = bench(model, devices=["cpu"], repeats=2)
    ort = result.rows[-1]
    assert ort.kind == "onnxruntime" and ort.error == NO_ORT == \
        "not installed: pip install onnxruntime"
    assert result.ort is None and result.ratio(result.rows[0]) is None
    assert result.rows[0].max_abs_error is None and result.machine["onnxruntime"] is None
    assert len(result.rows) == 2  # one device: no separate planned row


def test_warm_up_calls_plan_warmup_and_timed_runs_write_no_history(model, sims, monkeypatch):
    """Plan.warmup where it exists; and a plan's first runs save the measured node times
    (10-30 ms each): the warm-up runs them, so none falls among the timed runs."""
    import hetero.bench as library
    from hetero.history import History

    phase, saves, warmed = ["warm-up"], [], []
    monkeypatch.setattr(History, "save", lambda self: saves.append(phase[0]))
    monkeypatch.setattr(hetero.Plan, "warmup", lambda self, feeds=None: warmed.append(feeds))
    timed = library.measure
    monkeypatch.setattr(library, "measure",
                        lambda *args: (phase.__setitem__(0, "timed"), timed(*args)))
    bench(model, devices=["cpu"], repeats=3, onnxruntime=False)
    assert "warm-up" in saves and "timed" not in saves
    assert len(warmed) == 1 and set(warmed[0]) == {"x"}  # on the feeds given, not synthetic


def test_runs_are_interleaved_round_robin():
    calls: list[str] = []
    runners = [(Row(name, "device"), lambda name=name: calls.append(name)) for name in "ab"]
    runners.append((Row("c", "device", error="cannot run: ..."), None))
    measure(runners, 3)
    assert calls == ["a", "b"] * 3
    assert [len(row.samples_ms) for row, _ in runners] == [3, 3, 0]


def test_bad_repeats_and_devices_are_argument_errors(model):
    for repeats in (0, -1, 2.5, True):
        with pytest.raises(hetero.ArgumentError, match="repeats"):
            bench(model, devices=["cpu"], repeats=repeats)
    for devices in ("cpu", []):
        with pytest.raises(hetero.ArgumentError, match="devices"):
            bench(model, devices=devices)


def test_cli_table_at_120_columns(model):
    pytest.importorskip("onnxruntime")
    done = hetero_cli(str(model), "--devices", "cpu,sim:a100@5g", "--repeats", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(map(len, lines)) <= 120
    header = next(line for line in lines if "configuration" in line)
    for column in ("median", "min", "p10-p90", "max", "x ORT", "compile s", "first run",
                   "max |diff|", "modeled"):
        assert column in header
    rows = [line for line in lines if line.startswith("│")]
    for label in ("cpu:0", "sim:a100:0", "planned", "onnxruntime"):
        assert any(row.startswith(f"│ {label}") for row in rows), label
    assert "measured ms per run" in done.stdout and "(simulated)" in done.stdout
    text = " ".join(done.stdout.split())
    assert f"sim:a100:0: its times are the {SIMULATED}" in text


def test_cli_json_and_plot(model, tmp_path):
    pytest.importorskip("onnxruntime")
    plot = tmp_path / "bench.png"
    drawn = importlib.util.find_spec("matplotlib") is not None
    done = hetero_cli(str(model), "--devices", "cpu,sim:a100", "--repeats", "2", "--json",
                      *(["--plot", str(plot)] if drawn else []))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [c["label"] for c in data["configurations"]] == \
        ["cpu:0", "sim:a100:0", "planned", data["configurations"][-1]["label"]]
    assert all(len(c["samples_ms"]) == 2 for c in data["configurations"])
    assert {"cpu", "cores", "load_average_before", "hetero", "onnxruntime", "date",
            "repeats"} <= set(data["machine"])
    if not drawn:
        pytest.skip("matplotlib is not installed: --plot not tried")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_names_the_extra(monkeypatch, tmp_path):
    result = BenchResult("m.onnx", 1, [Row("cpu:0", "device", samples_ms=[1.0])], {})
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(hetero.UnsupportedOp, match=r"pip install 'hetero\[plan\]'"):
        result.plot(tmp_path / "b.png")


@pytest.mark.parametrize(("args", "says"), [
    (["missing.onnx"], "cannot read the model"),
    (["MODEL", "--repeats", "0"], "repeats=0"),
    (["MODEL", "--devices", "cpu,nosuch"], "no device matches selector 'nosuch'"),
])
def test_cli_bad_arguments_exit_2_with_the_reason(model, args, says):
    done = hetero_cli(*[str(model) if a == "MODEL" else a for a in args])
    assert done.returncode == 2
    assert done.stderr.startswith("hetero bench: ") and says in done.stderr


def test_nan_on_one_side_is_a_difference_and_nan_on_both_agrees():
    """Found by review: np.nanmax skipped NaN, so a plan returning NaN 'matched' ORT."""
    from hetero.bench import difference, max_abs_error

    nan_here = max_abs_error({"y": np.array([np.nan, 1.0])}, {"y": np.array([0.5, 1.0])})
    assert np.isnan(nan_here) and difference(nan_here) == "NaN differs"
    both = max_abs_error({"y": np.array([np.nan, 1.0, np.inf])},
                         {"y": np.array([np.nan, 1.5, np.inf])})
    assert both == 0.5


def test_at_80_columns_ids_stay_whole_and_what_is_left_out_is_said():
    from io import StringIO

    from rich.console import Console

    rows = [Row("sim:jetson-xavier-nx-gpu:0", "device", simulated=["sim:jetson-xavier-nx-gpu:0"],
                samples_ms=[1.0, 2.0, 3.0], compile_s=0.1, first_run_ms=1900.0,
                max_abs_error=0.0, estimate_ms=16.0),
            Row("onnxruntime 1.32.0", "onnxruntime", samples_ms=[0.5, 0.6, 0.7])]
    result = BenchResult("m.onnx", 3, rows, {"threads": 2})
    out = StringIO()
    Console(file=out, width=80).print(result.table(80))
    lines = out.getvalue().splitlines()
    assert max(map(len, lines)) <= 80
    assert any("sim:jetson-xavier-nx-gpu:0 " in line for line in lines)  # whole, one line
    assert "left out at this width: " in " ".join(out.getvalue().split())

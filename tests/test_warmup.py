"""First-run cost apart from steady state: ``plan.warmup`` compiles what a first run would and
records nothing; the history never takes a cold first run, and its estimates are medians
of enough runs, shown with their count."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from test_runtime import X, chain_model

import hetero
from hetero.cost import CostModel, node_key, node_work
from hetero.history import MIN_RUNS, History


def lrn() -> hetero.Model:
    """One LRN node: the cpu runs it on a numba loop, compiled on its first call."""
    graph = helper.make_graph(
        [helper.make_node("LRN", ["x"], ["y"], name="lrn", size=3)], "lrn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3, 3])])
    return hetero.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))


def test_warmup_compiles_the_kernels_so_the_next_run_compiles_nothing(tmp_path, monkeypatch):
    import numba
    from hetero.backends.cpu.nchwc import loops
    from numba.core.event import install_recorder

    # the LRN loop as a new process has it, not yet compiled (serial: compiles faster)
    monkeypatch.setattr(loops, "lrn_rows", numba.njit(loops.lrn_rows.py_func))
    plan = hetero.compile(lrn(), devices=[hetero.device("cpu")],
                          history=History(tmp_path / "history.json"))
    with install_recorder("numba:compile") as warming:
        took = plan.warmup()  # no inputs given: synthetic ones of the declared shape
    assert warming.buffer, "the warmup compiled nothing: the first run would"
    assert took > 0 and plan.warmup_ms == took and plan.runs == 0
    with install_recorder("numba:compile") as running:
        plan.run({"x": np.ones((1, 4, 3, 3), np.float32)})
    assert running.buffer == []
    assert plan.warmup() == took and plan.runs == 1  # once warm, a second call runs nothing


def test_warmup_records_nothing_and_a_cold_first_run_is_never_a_sample(tmp_path):
    warm = hetero.compile(chain_model(), devices=[hetero.device("cpu")],
                          history=History(tmp_path / "warm.json"))
    warm.warmup()
    assert warm.history._entries == {}  # the warmup's times are not steady state
    warm.run({"x": X})  # warmed up: its first run is steady state
    warm.history.flush()
    assert [len(e["ms"]) for e in History(tmp_path / "warm.json")._entries.values()] == [1] * 4
    cold = hetero.compile(chain_model(), devices=[hetero.device("cpu")],
                          history=History(tmp_path / "cold.json"))
    cold.run({"x": X})  # compiles as it goes: not recorded
    assert cold.history._entries == {}
    cold.run({"x": X})
    assert [len(e["ms"]) for e in cold.history._entries.values()] == [1] * 4


def recorded(tmp_path, times: list[float]) -> tuple[hetero.Plan, CostModel]:
    """A chain plan whose relu node has these measured times in a fresh history."""
    history = History(tmp_path / "history.json")
    cpu = hetero.device("cpu")
    plan = hetero.compile(chain_model(), devices=[cpu], history=history)
    graph = plan.pipeline.graph
    relu = graph.nodes[0]
    work = node_work(relu, graph)
    for ms in times:
        history.record(node_key(relu, graph, cpu, work), relu.op_type, cpu, work, ms)
    return plan, CostModel(history)


def test_an_outlier_among_the_runs_barely_moves_the_estimate(tmp_path):
    plan, model = recorded(tmp_path, [0.03] * 9 + [8.0])
    graph = plan.pipeline.graph
    got = model.estimate(graph.nodes[0], graph, plan.devices["cpu:0"])
    assert got.measured and got.runs == 10 and got.ms == pytest.approx(0.03)


def test_too_few_runs_fall_back_to_the_model_and_say_how_many(tmp_path):
    plan, model = recorded(tmp_path, [0.03, 8.0][:MIN_RUNS - 1])
    graph = plan.pipeline.graph
    got = model.estimate(graph.nodes[0], graph, plan.devices["cpu:0"])
    assert not got.measured and got.runs == 0 and got.ms < 1.0  # not the mean of 0.03 and 8
    assert got.source.startswith("modeled: roofline") and "2 measured runs" in got.source


def test_the_report_shows_how_many_runs_an_estimate_is_the_median_of(tmp_path):
    plan, _ = recorded(tmp_path, [0.031] * 12)
    again = plan.replan(list(plan.devices.values()))  # the cost rows read the history anew
    rows = {line.split()[1]: line for line in again.report().splitlines()
            if line.startswith("│")}
    assert "0.031 ms measured, median of 12" in rows["relu"]
    assert "ms modeled" in rows["atan"]
    assert {d.node: d.runs for d in again.decisions}["relu"] == 12


def test_recorded_runs_reach_the_disk_soon_at_the_last_recorded_run_and_at_exit(tmp_path,
                                                                                monkeypatch):
    """Writing history.json on every recorded run cost 2-30 ms inside the runs measured: now
    runs record in memory, and the file is written every SAVE_EVERY_S, when the plan stops
    recording, and at exit; a compile in the same process sees the samples at once."""
    import os
    import subprocess
    import sys

    from hetero import history
    from hetero.history import SAMPLES_KEPT

    monkeypatch.setattr(history, "SAVE_EVERY_S", 3600.0)  # no timed save in this test
    path = tmp_path / "history.json"
    plan = hetero.compile(chain_model(), devices=[hetero.device("cpu")], history=History(path))
    plan.warmup()
    plan.run({"x": X})
    plan.run({"x": X})
    assert not path.exists() and plan.history.runs(next(iter(plan.history._entries))) == 2
    while plan.runs <= SAMPLES_KEPT:  # the last recorded run writes the file
        plan.run({"x": X})
    assert [len(e["ms"]) for e in History(path)._entries.values()] == [SAMPLES_KEPT] * 4
    script = ("import hetero; from hetero.history import History; from hetero.queue import "
              "Work; h = History(); h.record('k', 'Relu', hetero.device('cpu'), Work(1, 1), "
              "0.5); h.changed()")
    subprocess.run([sys.executable, "-c", script], check=True,
                   env={**os.environ, "HETERO_CACHE_DIR": str(tmp_path / "exit"),
                        "HETERO_BACKENDS": "cpu"})
    assert History(tmp_path / "exit" / "history.json").runs("k") == 1


def test_a_cold_first_run_and_a_warmup_show_their_compiling(tmp_path, monkeypatch, capsys):
    """Numba compiles a model's kernels on its first run (16 s for SqueezeNet here): with
    progress on, that is never silent."""
    from hetero import progress

    monkeypatch.setenv("HETERO_PROGRESS", "1")
    monkeypatch.setattr(progress, "REPORT_AFTER_S", 0.0)
    cpu = hetero.device("cpu")
    cold = hetero.compile(chain_model(), devices=[cpu], history=History(tmp_path / "h.json"))
    cold.run({"x": X})
    cold.run({"x": X})  # not cold: no line
    warm = hetero.compile(chain_model(), devices=[cpu], history=History(tmp_path / "h.json"))
    warm.warmup()
    lines = [line for line in capsys.readouterr().err.splitlines() if "done in" in line]
    assert [line.split(":")[1].strip() for line in lines if "kernels" in line] == [
        "first run", "compiling kernels for the first run"], lines

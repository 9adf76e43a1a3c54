"""What `hetero plan` and plan.report() say: transfers counted and measured the same way in
the title, the estimate line and the JSON; budgets no placement meets called unreachable with
the constraint that binds, never nan; the MILP solver's notes only with --verbose."""

from __future__ import annotations

import json
import logging

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hetero
from hetero.cli import main, show_progress
from hetero.history import History

pytestmark = pytest.mark.usefixtures("registry")


def gemm2() -> onnx.ModelProto:
    """y = (x[2,8] @ W1[8,8]) @ W2[8,4]: two Gemm nodes, one value (h) between them."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
               for name, shape in (("W1", (8, 8)), ("W2", (8, 4)))]
    nodes = [helper.make_node("Gemm", ["x", "W1"], ["h"], name="g1"),
             helper.make_node("Gemm", ["h", "W2"], ["y"], name="g2")]
    graph = helper.make_graph(nodes, "gemm2",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
                              weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


@pytest.fixture
def board_and_cpu(tmp_path):
    """The host's CPU and a simulated Jetson GPU behind 5G, and a plan maker (all modeled)."""
    devices = [hetero.device("cpu"), hetero.sim.attach("jetson-xavier-nx-gpu", link="5g")]

    def plan(**kwargs) -> hetero.Plan:
        return hetero.compile(hetero.load(gemm2()), devices=devices, passes=(),
                              history=History(tmp_path / "history.json"), **kwargs)

    return devices, plan


def shown(plan: hetero.Plan) -> tuple[str, str, dict]:
    """The report's title and estimate line, and the JSON's transfers."""
    lines = plan.report().splitlines()
    title = next(line.strip() for line in lines if line.strip().startswith("hetero plan:"))
    estimate = next(line for line in lines if line.startswith("estimate ("))
    return title, estimate, json.loads(plan.to_json())["transfers"]


def test_copies_within_the_hosts_memory_are_counted_as_host_in_out_moving_nothing(
        board_and_cpu):
    (cpu, _), plan = board_and_cpu
    both_on_cpu = plan(placement={"g1": cpu.id, "g2": cpu.id})
    title, estimate, transfers = shown(both_on_cpu)
    assert title == "hetero plan: 2 nodes, 2 transfers (2 host in/out, 0 between devices)"
    assert "0 bytes moved over links (0 host in/out, 0 between devices; 2 transfers within " \
           "one memory move none)" in estimate
    assert transfers == {"host_in_out": {"copies": 2, "over_links": 0, "bytes": 0},
                         "between_devices": {"copies": 0, "over_links": 0, "bytes": 0}}


def test_a_split_counts_and_measures_host_and_device_copies_alike(board_and_cpu):
    (cpu, board), plan = board_and_cpu
    split = plan(placement={"g1": cpu.id, "g2": board.id})
    title, estimate, transfers = shown(split)
    h, y = 2 * 8 * 4, 2 * 4 * 4  # float32 bytes: h crosses cpu -> board, y board -> host
    assert title == "hetero plan: 2 nodes, 3 transfers (2 host in/out, 1 between devices)"
    assert f"{h + y} bytes moved over links ({y} host in/out, {h} between devices; 1 " \
           "transfer within one memory move none)" in estimate
    assert transfers["between_devices"] == {"copies": 1, "over_links": 1, "bytes": h}
    assert transfers["host_in_out"] == {"copies": 2, "over_links": 1, "bytes": y}
    assert sum(t["bytes"] for t in transfers.values()) == split.estimate.transfer_bytes
    assert sum(t["copies"] for t in transfers.values()) == \
        sum(s.kind == "transfer" for s in split.steps)


@pytest.mark.parametrize(("flag", "metric", "best"), [
    ("--max-latency-ms", "latency", "fastest"), ("--max-energy-mj", "energy", "most frugal")])
def test_an_unreachable_cap_names_itself_and_what_limits_it(board_and_cpu, tmp_path, capsys,
                                                           flag, metric, best):
    _, plan = board_and_cpu
    reachable = plan(objective=metric).estimate.score(metric)
    path = tmp_path / "gemm2.onnx"
    onnx.save(gemm2(), path)
    devices = "cpu,sim:jetson-xavier-nx-gpu@5g"
    assert main(["plan", str(path), "--devices", devices, flag, "1e-06"]) == 2
    err = capsys.readouterr().err
    cap, unit = flag[2:].replace("-", "_"), "ms" if metric == "latency" else "mJ"
    assert f"hetero plan: unreachable: {cap}=1e-06 is below the {best} placement's " \
           f"{reachable:.4g} {unit}" in err
    assert "nan" not in err


@pytest.fixture
def cli_logging():
    """The `hetero` logger as the command line leaves it, restored afterwards."""
    logger = logging.getLogger("hetero")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:], logger.level = handlers, level


@pytest.fixture
def note_printing_solve(capfd):
    """A MILP on which HiGHS 1.12 (scipy 1.17) prints a note from C to stdout, ready to solve
    once what setting it up printed (a first measurement of the host) is read off."""
    pytest.importorskip("scipy")
    from test_chain import edge_devices
    from test_search import everywhere, random_dag

    from hetero.plan.milp import solve

    graph, devices = random_dag(4, 5), edge_devices("pcie4")
    candidates = everywhere(graph, devices)
    capfd.readouterr()
    return lambda: solve(graph, candidates, devices, "energy")


def test_the_solvers_notes_reach_neither_stdout_nor_stderr(capfd, cli_logging,
                                                           note_printing_solve):
    show_progress(verbose=False)  # as `hetero plan` without --verbose
    assert note_printing_solve().status == "optimal"
    assert capfd.readouterr() == ("", "")


def test_verbose_shows_the_solvers_notes_on_stderr(capfd, cli_logging, note_printing_solve):
    show_progress(verbose=True)  # as `hetero plan --verbose`
    assert note_printing_solve().status == "optimal"
    out, err = capfd.readouterr()
    assert out == ""
    assert "hetero: HiGHS (the MILP solver) printed: HighsMipSolverData::" in err, \
        "this problem made HiGHS 1.12 print a note; a HiGHS that no longer does needs " \
        "another problem here"


@pytest.mark.parametrize(("flags", "level"), [([], logging.INFO), (["-v"], logging.DEBUG),
                                              (["--verbose"], logging.DEBUG)])
def test_hetero_plan_verbose_turns_diagnostics_on(tmp_path, capsys, cli_logging, flags, level):
    path = tmp_path / "gemm2.onnx"
    onnx.save(gemm2(), path)
    assert main(["plan", str(path), "--devices", "cpu", *flags]) == 0
    assert logging.getLogger("hetero").getEffectiveLevel() == level
    assert "hetero plan: 2 nodes" in capsys.readouterr().out

"""hetero.compile's scheduler: optimal where the problem is small, never worse than the
baselines, caps and memory honoured or reported by PlanInfeasible, every node explained, and
plans that show themselves (report, JSON, trace, plot) and feed the history when they run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_chain import edge_devices, random_chain, small_memory
from test_cost import branches_graph
from test_search import everywhere, random_dag

import hetero
from hetero.errors import PlanInfeasible
from hetero.history import History
from hetero.plan.chain import best_chain
from hetero.plan.heuristics import exhaustive
from hetero.plan.objective import Goal
from hetero.plan.score import Scorer
from hetero.plan.timeline import simulate

pytestmark = pytest.mark.usefixtures("registry")


def plan_for(graph, devices, tmp_path, **kwargs):
    """A plan of ``graph`` as written (no passes) with an empty history: all modeled."""
    return hetero.compile(graph, devices=list(devices.values()), passes=(),
                          history=History(tmp_path / "history.json"), **kwargs)


@pytest.mark.parametrize("objective", ["energy", "latency", "edp"])
def test_a_chain_gets_the_chain_programmes_optimum(objective, tmp_path):
    graph, devices = random_chain(3), edge_devices("5g")
    plan = plan_for(graph, devices, tmp_path, objective=objective)
    placement, ms, mj = best_chain(graph, everywhere(graph, devices), devices, objective)
    assert plan.chosen.how == "chain programme (optimal)"
    assert plan.estimate.latency_ms == pytest.approx(ms)
    assert plan.estimate.energy_mj == pytest.approx(mj)
    same = hetero.evaluate(graph, plan.placement, list(devices.values()), objective, passes=())
    assert same.value == pytest.approx(plan.estimate.value)


@pytest.mark.parametrize("seed", [0, 2, 3])
@pytest.mark.parametrize("objective", ["energy", "latency"])
def test_a_small_dag_gets_the_exhaustive_optimum_and_beats_the_baselines(seed, objective,
                                                                           tmp_path):
    graph, devices = random_dag(seed, 6), edge_devices("pcie4")
    plan = plan_for(graph, devices, tmp_path, objective=objective)
    best = exhaustive(Scorer(graph, devices, Goal(objective)), everywhere(graph, devices))
    assert plan.chosen.how in ("MILP (optimal)", "chain programme (optimal)",
                               "segment programme (optimal)")
    assert plan.estimate.value == pytest.approx(best.estimate.score(objective))
    assert {b.how.split(" (")[0] for b in plan.baselines} == {"best single device",
                                                               "priority order"}
    assert all(plan.estimate.value <= b.estimate.score(objective) * (1 + 1e-9)
               for b in plan.baselines)


def test_without_scipy_small_dags_are_searched_exhaustively(tmp_path, monkeypatch):
    import hetero.plan.milp
    from hetero.errors import UnsupportedOp

    def missing():
        raise UnsupportedOp("no scipy")

    monkeypatch.setattr(hetero.plan.milp, "scipy_milp", missing)
    graph, devices = random_dag(2, 6), edge_devices("pcie4")  # not a chain
    plan = plan_for(graph, devices, tmp_path)
    best = exhaustive(Scorer(graph, devices, Goal("energy")), everywhere(graph, devices))
    assert plan.chosen.how == "exhaustive search (optimal)"
    assert plan.estimate.energy_mj == pytest.approx(best.estimate.energy_mj)


def test_the_baselines_are_strategies_of_the_same_api(tmp_path):
    graph, devices = random_dag(0, 6), edge_devices("pcie4")
    first = next(iter(devices))
    priority = plan_for(graph, devices, tmp_path, strategy="priority")
    assert set(priority.placement.values()) == {first}  # the first device runs everything
    single = plan_for(graph, devices, tmp_path, strategy="single-device")
    assert len(set(single.placement.values())) == 1
    searched = plan_for(graph, devices, tmp_path)
    assert searched.estimate.energy_mj <= min(priority.estimate.energy_mj,
                                              single.estimate.energy_mj) * (1 + 1e-9)
    with pytest.raises(ValueError, match="strategy 'fastest'"):
        plan_for(graph, devices, tmp_path, strategy="fastest")


def test_planning_is_deterministic(tmp_path):
    graph, devices = branches_graph(), edge_devices("5g")
    plans = [plan_for(graph, devices, tmp_path) for _ in range(2)]
    assert plans[0].placement == plans[1].placement
    assert plans[0].estimate.energy_mj == plans[1].estimate.energy_mj


def test_a_latency_cap_is_met_or_refused_with_the_best_reachable_latency(tmp_path):
    graph, devices = random_chain(0), edge_devices("pcie4")  # the fast A100 is power-hungry
    free = plan_for(graph, devices, tmp_path, objective="energy")
    fastest = plan_for(graph, devices, tmp_path, objective="latency").estimate.latency_ms
    assert fastest < free.estimate.latency_ms  # the cap below has something to bind
    cap = (fastest + free.estimate.latency_ms) / 2
    capped = plan_for(graph, devices, tmp_path, max_latency_ms=cap)
    assert capped.estimate.latency_ms <= cap
    assert capped.estimate.energy_mj >= free.estimate.energy_mj
    with pytest.raises(PlanInfeasible, match=r"max_latency_ms=.*best reachable latency") as info:
        plan_for(graph, devices, tmp_path, max_latency_ms=fastest * 0.9)
    assert info.value.constraint == "max_latency_ms"
    assert info.value.best == pytest.approx(fastest)
    with pytest.raises(PlanInfeasible, match=r"max_latency_ms=.*best reachable latency"):
        plan_for(graph, devices, tmp_path, max_latency_ms=fastest * 0.9, strategy="heuristic")


def test_an_energy_cap_is_refused_with_the_best_reachable_energy(tmp_path):
    graph, devices = random_dag(2, 6), edge_devices("pcie4")
    least = plan_for(graph, devices, tmp_path).estimate.energy_mj
    with pytest.raises(PlanInfeasible, match="max_energy_mj") as info:
        plan_for(graph, devices, tmp_path, objective="latency", max_energy_mj=least * 0.5)
    assert info.value.constraint == "max_energy_mj"
    assert info.value.best == pytest.approx(least)


def test_weights_that_do_not_fit_a_device_go_elsewhere_or_are_refused(tmp_path):
    graph = random_chain(1)  # convolutions with weights
    frugal = small_memory("jetson-xavier-nx-gpu", 4096)  # smaller than any conv's weights
    other = small_memory("jetson-xavier-nx-cpu", 2**30)
    devices = {frugal.id: frugal, other.id: other}
    plan = plan_for(graph, devices, tmp_path)
    weighted = {n.name for n in graph.nodes if any(i in graph.constants for i in n.inputs)}
    assert weighted and all(plan.placement[n] == other.id for n in weighted)
    assert plan.estimate.memory_bytes[frugal.id] <= 4096
    with pytest.raises(PlanInfeasible, match=r"memory: the closest found .* needing "
                                             r"\d[\d,]* of its 4,096 bytes") as info:
        plan_for(graph, {frugal.id: frugal}, tmp_path)
    assert info.value.constraint == "memory"


def test_every_node_is_explained_with_its_options(tmp_path):
    graph, devices = random_chain(0), edge_devices("5g")
    pinned = graph.nodes[0].name
    plan = plan_for(graph, devices, tmp_path, placement={pinned: next(iter(devices))})
    decisions = {d.node: d for d in plan.decisions}
    assert decisions[pinned].reason == "pinned by the caller"
    for d in plan.decisions[1:]:
        assert set(d.options) == set(devices) and d.ms == pytest.approx(d.options[d.device])
        assert d.source.startswith("modeled") and "chain programme (optimal), energy" in d.reason
    report = plan.report()
    assert "SIMULATED" in report and "baseline best single device" in report
    assert "modeled" in report and f"{plan.estimate.energy_mj:.4g} mJ" in report


def test_json_trace_and_plot_show_the_estimate(tmp_path):
    graph, devices = branches_graph(), edge_devices("5g")
    plan = plan_for(graph, devices, tmp_path)
    data = json.loads(plan.to_json())
    assert data["placement"] == plan.placement
    assert data["estimate"]["energy_mj"] == pytest.approx(plan.estimate.energy_mj)
    assert data["estimate"]["source"] == "modeled"
    parts = data["estimate"]["energy_parts_mj"]
    assert sum(parts.values()) == pytest.approx(plan.estimate.energy_mj)
    trace = json.loads(plan.save_trace(tmp_path / "t.json").read_text())["traceEvents"]
    spans = [e for e in trace if e["ph"] == "X"]
    assert {e["name"] for e in spans if e["cat"] == "node"} == {n.name for n in graph.nodes}
    assert all(e["dur"] >= 0 and e["args"]["source"] for e in spans)
    pytest.importorskip("matplotlib")
    image = plan.plot(tmp_path / "p.png")
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_on_real_devices_feed_the_history(tmp_path):
    graph = random_chain(0)
    cpu, sim = hetero.device("cpu"), hetero.sim.attach("jetson-xavier-nx-cpu", link="shared")
    history = History(tmp_path / "history.json")
    first, second = graph.nodes[0].name, graph.nodes[1].name
    pins = {n.name: cpu.id for n in graph.nodes}
    pins[second] = sim.id
    plan = hetero.compile(graph, devices=[cpu, sim], placement=pins, passes=(),
                          history=history)
    feed = {"x": np.ones((1, 8, 32, 32), np.float32)}
    for _ in range(4):  # the first run compiles: not recorded
        plan.run(feed)
    history.flush()  # as at exit: another process reads the file
    again = hetero.compile(graph, devices=[cpu, sim], placement=pins, passes=(),
                           history=History(tmp_path / "history.json"))
    sources = {d.node: d.source for d in again.decisions}
    checked = hetero.evaluate(graph, again.placement, [cpu, sim], passes=(),
                              history=History(tmp_path / "history.json"))
    assert checked.latency_ms == pytest.approx(again.estimate.latency_ms)  # the same model
    assert sources[first] == "measured: median of 3 runs of this op, shape and device"
    assert sources[second].startswith("modeled")  # a simulated device's wall clock is the host's
    trace = json.loads(plan.save_trace(tmp_path / "t.json").read_text())["traceEvents"]
    assert sum(e["ph"] == "X" and e["pid"] == 2 for e in trace) == len(graph.nodes)


def test_hetero_plan_prints_the_plan_and_refuses_an_impossible_budget(tmp_path, capsys):
    import onnx
    from test_runtime import chain_model

    from hetero.cli import main

    path = tmp_path / "chain.onnx"
    onnx.save(chain_model().proto, path)
    devices = "cpu,sim:jetson-xavier-nx-gpu,sim:a100@5g"
    assert main(["plan", str(path), "--devices", devices, "--json",
                 "--trace", str(tmp_path / "t.json")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["placement"]) == {"relu", "square", "minus", "atan"}
    assert {d["id"] for d in data["devices"]} == {"cpu:0", "sim:jetson-xavier-nx-gpu:0",
                                                  "sim:a100:0"}
    assert (tmp_path / "t.json").exists()
    assert main(["plan", str(path), "--devices", devices, "--max-latency-ms", "1e-6"]) == 2
    assert "unreachable: max_latency_ms=1e-06 is below the fastest placement's" in \
        capsys.readouterr().err


@pytest.mark.parametrize("cap", [{"max_latency_ms": 0}, {"max_energy_mj": -1.0},
                                 {"max_latency_ms": float("nan")}])
def test_a_cap_must_be_a_positive_number(cap, tmp_path):
    graph, devices = random_chain(0), edge_devices("5g")
    with pytest.raises(ValueError, match="a cap must be a finite number above 0"):
        plan_for(graph, devices, tmp_path, **cap)


def test_a_baseline_strategy_that_breaks_a_cap_says_so(tmp_path):
    graph, devices = random_chain(0), edge_devices("pcie4")
    fastest = plan_for(graph, devices, tmp_path, objective="latency").estimate.latency_ms
    priority = plan_for(graph, devices, tmp_path, strategy="priority").estimate.latency_ms
    assert fastest < priority
    with pytest.raises(PlanInfeasible, match="strategy 'priority' .* breaks the constraints: "
                                             "latency .* > max_latency_ms"):
        plan_for(graph, devices, tmp_path, strategy="priority", max_latency_ms=fastest * 1.01)
    assert plan_for(graph, devices, tmp_path, max_latency_ms=fastest * 1.01)


def test_memory_is_blamed_only_when_no_placement_fits(tmp_path):
    """The fast device holds 99% of what the graph needs, the slow one everything: under a
    cap only the fast device meets, the cap binds, not memory."""
    graph = random_chain(1)
    probe = small_memory("jetson-xavier-nx-cpu", 2**40)
    names = [n.name for n in graph.nodes]
    need = simulate(graph, dict.fromkeys(names, probe.id), {probe.id: probe}).memory_bytes
    hetero.sim.detach(probe)
    fast = small_memory("jetson-xavier-nx-cpu", int(need[probe.id] * 0.99))
    slow = hetero.sim.attach("a100", link="4g")
    devices = {fast.id: fast, slow.id: slow}
    alone = simulate(graph, dict.fromkeys(names, fast.id), devices).latency_ms
    with pytest.raises(PlanInfeasible, match="best reachable latency within the devices' "
                                             "memory") as info:
        plan_for(graph, devices, tmp_path, max_latency_ms=alone * 1.0001)
    assert info.value.constraint == "max_latency_ms" and info.value.best > alone


def test_values_read_by_a_subgraph_wait_for_their_producer_and_their_transfer(tmp_path):
    """An If reads y from the outer scope: it starts after y is made and has crossed the link
    (the runtime moves outer values like inputs, and so does the timeline)."""
    from onnx import TensorProto, helper

    def branch(op: str, out: str):
        return helper.make_graph([helper.make_node(op, ["y"], [out])], op, [],
                                 [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 1024])])

    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu"),
             helper.make_node("If", ["c"], ["z"], name="if", then_branch=branch("Abs", "o1"),
                              else_branch=branch("Neg", "o2"))]
    graph = hetero.load(helper.make_model(helper.make_graph(
        nodes, "outer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1024]),
                         helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 1024])]),
        opset_imports=[helper.make_opsetid("", 17)])).graph()
    far, near = hetero.sim.attach("a100", link="4g"), hetero.sim.attach("jetson-xavier-nx-gpu")
    devices = {far.id: far, near.id: near}
    estimate = simulate(graph, {"relu": far.id, "if": near.id}, devices)
    spans = {s.name: s for s in estimate.spans}
    assert spans["y"].kind == "transfer" and spans["if"].start_ms >= spans["y"].end_ms
    assert estimate.transfer_bytes >= 2 * 4096  # y crossed the link, as did x and z
    plan = plan_for(graph, devices, tmp_path)
    out = plan.run({"x": np.ones((1, 1024), np.float32), "c": np.array(True)})
    np.testing.assert_array_equal(out["z"], np.ones((1, 1024), np.float32))

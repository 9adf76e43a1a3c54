"""The MILP placement against exhaustive search, both under the timeline's cost model: the
same optimum, and the MILP's own figure is what the timeline says of its placement."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from test_chain import edge_devices, random_chain, small_memory
from test_cost import branches_graph
from test_search import everywhere, random_dag

import hetero
from hetero.errors import UnsupportedOp
from hetero.plan.heuristics import best_placement, exhaustive
from hetero.plan.objective import Goal
from hetero.plan.score import Scorer
from hetero.plan.timeline import simulate

pytest.importorskip("scipy")
from hetero.plan.milp import solve  # noqa: E402 - after the skip: the MILP needs scipy

pytestmark = pytest.mark.usefixtures("registry")


def attached(*specs: tuple[str, str]) -> dict:
    """Simulated devices of catalogued profiles, each on the given link."""
    return {d.id: d for d in (hetero.sim.attach(p, link=link) for p, link in specs)}


GPU, CPU = ("jetson-xavier-nx-gpu", "shared"), ("jetson-xavier-nx-cpu", "shared")
#: small enough to enumerate (at most 3^8 placements): DAGs, chains, parallel branches, on
#: devices where (but for the two identical GPUs) the fastest and the most frugal placements
#: differ, so each cap below binds
CASES = {
    "dag 0, edge": lambda: (random_dag(0, 5), edge_devices("pcie4")),
    "dag 2, edge": lambda: (random_dag(2, 5), edge_devices("pcie4")),
    "dag 4, edge": lambda: (random_dag(4, 5), edge_devices("pcie4")),
    "dag 5, edge": lambda: (random_dag(5, 5), edge_devices("pcie4")),
    "dag 6, edge on 5g": lambda: (random_dag(6, 5), edge_devices("5g")),
    "dag 6, board + xeon on gbe": lambda: (random_dag(6, 5), attached(
        GPU, CPU, ("xeon-gold-6248", "gbe"))),
    "dag 1, board gpu + a100": lambda: (random_dag(1, 5), attached(GPU, ("a100", "pcie4"))),
    "dag 3, board gpu + a100": lambda: (random_dag(3, 5), attached(GPU, ("a100", "pcie4"))),
    "chain 0, edge": lambda: (random_chain(0), edge_devices("pcie4")),
    "chain 2, edge": lambda: (random_chain(2), edge_devices("pcie4")),
    "chain 1, board gpu + a100": lambda: (random_chain(1), attached(GPU, ("a100", "pcie4"))),
    "branches, edge": lambda: (branches_graph(channels=64, size=56), edge_devices("pcie4")),
    "branches, board gpu + xeon": lambda: (branches_graph(channels=64, size=56),
                                           attached(GPU, ("xeon-gold-6248", "pcie4"))),
    "branches, two gpus": lambda: (branches_graph(channels=64, size=56), attached(GPU, GPU)),
}


class Enumerated:
    """Exhaustive search of one problem under several goals, each placement simulated once."""

    def __init__(self, graph, devices):
        self.graph, self.devices = graph, devices
        self.candidates = everywhere(graph, devices)
        self.seen: dict = {}

    def best(self, goal: Goal):
        score = Scorer(self.graph, self.devices, goal)
        score.seen = self.seen  # the scorer's cache: an estimate does not depend on the goal
        return exhaustive(score, self.candidates).estimate

    def check(self, goal: Goal) -> None:
        """The MILP reaches exhaustive search's optimum, keeps the caps, and reports the
        figure the timeline gives its placement."""
        found = solve(self.graph, self.candidates, self.devices, goal.objective,
                      goal.max_latency_ms, goal.max_energy_mj)
        assert found is not None and found.status == "optimal"
        got = simulate(self.graph, found.placement, self.devices)
        optimum = self.best(goal)
        assert goal.excess(optimum) == 0 and goal.excess(got) == 0
        assert got.score(goal.objective) == pytest.approx(optimum.score(goal.objective),
                                                          rel=1e-6)
        assert found.objective == pytest.approx(got.score(goal.objective), rel=1e-6)
        assert found.bound == pytest.approx(found.objective, rel=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_the_milp_finds_the_exhaustive_optimum_with_and_without_caps(case):
    problem = Enumerated(*CASES[case]())
    fastest, frugal = problem.best(Goal("latency")), problem.best(Goal("energy"))
    problem.check(Goal("energy"))
    problem.check(Goal("latency"))
    slow_ms = (fastest.latency_ms + frugal.latency_ms) / 2
    dear_mj = (frugal.energy_mj + fastest.energy_mj) / 2
    problem.check(Goal("energy", max_latency_ms=slow_ms))
    problem.check(Goal("latency", max_energy_mj=dear_mj))
    if case != "branches, two gpus":  # the caps bind: they change the optimum
        assert problem.best(Goal("energy", max_latency_ms=slow_ms)).energy_mj > \
            frugal.energy_mj * (1 + 1e-9)
        assert problem.best(Goal("latency", max_energy_mj=dear_mj)).latency_ms > \
            fastest.latency_ms * (1 + 1e-9)


def test_parallel_branches_run_on_both_gpus():
    """The serialisation rows: two heavy branches overlap on two devices."""
    graph, devices = CASES["branches, two gpus"]()
    found = solve(graph, everywhere(graph, devices), devices, "latency")
    assert found.placement["a"] != found.placement["b"]


def test_caps_no_placement_keeps_are_reported_as_none():
    graph, devices = random_dag(0, 5), edge_devices("pcie4")
    candidates = everywhere(graph, devices)
    fastest = solve(graph, candidates, devices, "latency").objective
    frugal = solve(graph, candidates, devices, "energy").objective
    assert solve(graph, candidates, devices, "energy", max_latency_ms=fastest * 0.99) is None
    assert solve(graph, candidates, devices, "latency", max_energy_mj=frugal * 0.99) is None
    nowhere = {**candidates, graph.nodes[0].name: []}
    assert solve(graph, nowhere, devices, "energy") is None


def test_the_energy_delay_product_is_refused_as_nonlinear():
    graph, devices = random_chain(0), edge_devices()
    with pytest.raises(ValueError, match="nonlinear"):
        solve(graph, everywhere(graph, devices), devices, "edp")
    with pytest.raises(ValueError, match="choose one of"):
        solve(graph, everywhere(graph, devices), devices, "watts")


def test_a_device_holds_no_more_than_its_memory():
    """The energy optimum puts every conv on the Jetson's GPU; with room for half of what
    that needs (weights + the largest working set), some go elsewhere, as exhaustive search
    (which ranks an overflow like a broken cap) also finds."""
    graph = random_chain(1)
    roomy = edge_devices("pcie4")
    gpu = next(d for d in roomy if "gpu" in d)
    everything = simulate(graph, dict.fromkeys(everywhere(graph, roomy), gpu), roomy)
    small = small_memory("jetson-xavier-nx-gpu", everything.memory_bytes[gpu] // 2)
    devices = {small.id: small, **{d: v for d, v in roomy.items() if d != gpu}}
    problem = Enumerated(graph, devices)
    free = solve(graph, problem.candidates, devices, "energy", memory=False)
    assert simulate(graph, free.placement, devices).memory_over > 0  # not vacuous
    problem.check(Goal("energy"))
    problem.check(Goal("latency"))
    alone = {small.id: small}
    assert solve(graph, everywhere(graph, alone), alone, "energy") is None


def test_larger_dags_solve_to_optimality_and_never_lose_to_the_heuristics():
    graph, devices = random_dag(1, 10), edge_devices("pcie4")
    candidates = everywhere(graph, devices)
    for objective in ("energy", "latency"):
        found = solve(graph, candidates, devices, objective)
        heuristic, _ = best_placement(Scorer(graph, devices, Goal(objective)), candidates)
        assert found.status == "optimal"
        assert found.objective <= heuristic.estimate.score(objective) * (1 + 1e-9)
        assert solve(graph, candidates, devices, objective).placement == found.placement


def test_without_scipy_the_error_says_what_to_install(monkeypatch):
    graph, devices = random_chain(0), edge_devices()
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    with pytest.raises(UnsupportedOp, match=r"pip install 'hetero\[plan\]'"):
        solve(graph, everywhere(graph, devices), devices)


def test_a_highs_solve_error_is_retried_without_presolve(monkeypatch):
    """HiGHS 1.12 sometimes rejects an integer solution it found ("Solve error")."""
    import scipy.optimize

    real, tries = scipy.optimize.milp, []

    def failing_first(*args, **kwargs):
        tries.append(kwargs["options"]["presolve"])
        if len(tries) == 1:
            return SimpleNamespace(status=4, x=None, message="(HiGHS Status 4: Solve error)")
        return real(*args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "milp", failing_first)
    graph, devices = random_chain(0), edge_devices("pcie4")
    found = solve(graph, everywhere(graph, devices), devices)
    assert tries == [True, False] and found.status == "optimal"

"""The compile pipeline, top to bottom; every path from a model to a plan goes through it
(``hetero.compile``, ``hetero.evaluate``, ``plan.replan``, ``hetero ops``, ``hetero plan``):

    model ──load──▶ Graph ──optimise──▶ Graph (passes)           hetero/graph/passes
          ──capability──▶ node × device → tier and reason       hetero/plan/capability.py
          ──cost_table──▶ node × device → ms (measured/modeled) hetero/plan/costs.py
          ──place──▶ a device per node, with the reason          hetero/plan/place.py
          ──partition──▶ steps: nodes, compiled subgraphs        hetero/plan/partition.py
          ──prepare──▶ built steps, resident weights, transfers  hetero/plan/prepare.py
          ──▶ Plan (runs in hetero/runtime.py)

A ``Pipeline`` is one model's stages, cached: the optimised graph once, the capability and
cost rows once per device, prepared steps once per (nodes, device). ``replan`` on another
device set recomputes only what the change touches.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hetero import progress
from hetero.cost import CostModel
from hetero.device import Device, one_per_silicon
from hetero.discovery import default_registry
from hetero.errors import ArgumentError, DeviceLost, UnsupportedOp
from hetero.graph import Model, load
from hetero.graph.ir import Graph
from hetero.graph.passes import optimise
from hetero.history import History, calibrated
from hetero.plan.capability import Capability, capability
from hetero.plan.costs import CostTable, Known, cost_table
from hetero.plan.heuristics import Start
from hetero.plan.objective import Goal, PlanEstimate, checked_objective
from hetero.plan.partition import units
from hetero.plan.place import STRATEGIES, place
from hetero.plan.prepare import Prepared, prepare, steps
from hetero.plan.timeline import Layout
from hetero.runtime import Plan


@dataclass(frozen=True)
class Request:
    """What a plan was asked for, kept so a re-plan asks the same."""

    goal: Goal
    pins: dict[str, str] | None = None
    strict: bool = False
    strategy: str = "search"


def graph_of(model: Any) -> Graph:
    """The IR of whatever ``hetero.load`` accepts (a path, bytes, a ``ModelProto``), of a
    loaded ``Model``, or a ``Graph`` as it is."""
    if isinstance(model, Graph):
        return model
    return (model if isinstance(model, Model) else load(model)).graph()


class Pipeline:
    """One model's stages, each computed once and kept for re-plans."""

    def __init__(self, model: Any, passes: Sequence[str] | None = None,
                 history: History | None = None):
        if history is not None and not isinstance(history, History):
            raise ArgumentError(f"history={reprlib.repr(history)}: give a hetero.history."
                                "History, or None for the one in $HETERO_CACHE_DIR")
        self.original = graph_of(model)
        with progress.step(f"optimising {len(self.original.nodes)} nodes (graph passes)"):
            self.graph = optimise(self.original, passes)  # stage 1
        self.history = history if history is not None else History.default()
        self.model = CostModel(self.history)
        self.capabilities: dict[str, Any] = {}  # device id -> (device, capability row)
        self.costs: Known = {}  # device id -> (device, history version, cost row)
        self.prepared = Prepared()

    def check_pins(self, pins: dict[str, str] | None) -> None:
        """Pins name nodes as the model does: one a pass removed is refused, with why."""
        names = {n.name for n in self.graph.nodes}
        gone = set(pins or {}) & {n.name for n in self.original.nodes} - names
        if gone:
            raise UnsupportedOp(f"placement pins {', '.join(sorted(gone))}, which the graph "
                                "passes removed or merged into a neighbour; pin that node, or "
                                "compile with passes=() to keep every node")

    def capability(self, devices: list[Device]) -> Capability:  # stage 2
        return capability(self.graph, devices, self.capabilities, self.model.work)

    def cost_table(self, table: Capability, devices: list[Device]) -> CostTable:  # stage 3
        planning = [calibrated(d, self.history) for d in devices]  # busy power as measured
        return cost_table(self.graph, table, planning, self.model, self.costs)

    def plan(self, devices: list[Device], request: Request,
             start: Start | None = None) -> Plan:
        """Stages 2 to 6 for ``devices``, each from the cache where it holds."""
        gone = [d.id for d in devices if not d.alive]
        if gone:
            raise DeviceLost(f"cannot plan on {', '.join(gone)}: removed (unplugged, "
                             "detached); hetero.devices() lists the devices left")
        with progress.step(f"compiling {len(self.graph.nodes)} nodes for "
                           f"{len(devices)} device(s)", total=5) as advance:
            advance(0, "compile: capability table")
            table = self.capability(devices)
            advance(1, "compile: cost table")
            costs = self.cost_table(table, devices)
            advance(1, "compile: placement")
            placed = place(self.graph, table, costs, request.pins, request.strict,
                           request.goal, request.strategy, start)  # stage 4
            for found in (placed.chosen, *placed.baselines):
                found.estimate.objective = request.goal.objective
            by_id = {d.id: d for d in devices}
            advance(1, "compile: partition")
            plan_units = units(self.graph, placed.decisions, by_id)  # stage 5
            advance(1, "compile: prepare each node")
            prepared, resident = prepare(self.graph, plan_units, by_id, self.prepared)  # 6
            advance(1)
        return Plan(self.graph, by_id, placed.decisions, steps(self.graph, plan_units),
                    prepared, resident, placed.chosen, placed.baselines, self.history,
                    units={u.node.name: [m.name for m in u.members]
                           for u in plan_units if u.members},
                    planned=costs.devices, pipeline=self, request=request)

    def replan(self, plan: Plan, devices: list[Device]) -> Plan:
        """``plan``'s request on ``devices``: the search is the heuristics' from ``plan``'s
        placement (baselines keep theirs); steps built on devices that left are released once
        the new plan is prepared (their capability and cost rows stay: a device that comes
        back reuses them)."""
        request = plan.request or Request(Goal())
        if request.strategy == "search":
            request = replace(request, strategy="heuristic")
        return self.plan(devices, request, Start(plan.placement, frozenset(plan.devices)))

    def evaluate(self, placement: dict[str, str], devices: list[Device],
                 objective: str) -> PlanEstimate:
        """The estimate of a given placement under the same tables the scheduler reads."""
        by_id = {d.id: d for d in devices}
        names = [n.name for n in self.graph.nodes]
        problems = [f"{len(missing)} node(s) unplaced, e.g. {', '.join(missing[:5])}"
                    for missing in [[n for n in names if n not in placement]] if missing]
        problems += [f"unknown node(s) {', '.join(extra)}"
                     for extra in [sorted(set(placement) - set(names))] if extra]
        problems += [f"device(s) {', '.join(bad)} not among {', '.join(by_id) or 'none'}"
                     for bad in [sorted(set(placement.values()) - set(by_id))] if bad]
        if problems:
            raise UnsupportedOp("evaluate: the placement must put every node of the optimised "
                                f"graph on a given device: {'; '.join(problems)}")
        table = self.capability(devices)
        for node in self.graph.nodes:
            cell = table.rows[placement[node.name]][node.name]
            if not cell.runs:
                raise UnsupportedOp(f"evaluate: {node.label} is placed on "
                                    f"{placement[node.name]}, which cannot run it: "
                                    f"{cell.reason} (`hetero ops MODEL` lists each node's "
                                    "tier on each device)")
        costs = self.cost_table(table, devices)
        layout = Layout(self.graph, costs.devices, costs)
        estimate = layout.estimate([placement[n] for n in names])
        estimate.objective = objective
        return estimate


def checked_placement(placement: Any) -> dict[str, str] | None:
    """``placement`` as {node name: device id}; anything else is the caller's error."""
    if placement is None:
        return None
    if not isinstance(placement, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in placement.items()):
        raise ArgumentError(f"placement={placement!r}: give {{node name: device id}}, e.g. "
                            "{'conv1': 'cpu:0'}")
    return dict(placement)


def chosen_devices(devices: Any) -> list[Device]:
    """``devices`` as Devices: each a Device or a selector string (``hetero.device``)."""
    if isinstance(devices, str | Device) or not isinstance(devices, Iterable):
        raise ArgumentError(f"devices={devices!r}: give a list of devices or selectors, e.g. "
                            "devices=[hetero.device('cpu')] or devices=['cpu', 'sim:a100']")
    return [d if isinstance(d, Device) else default_registry().device(d) for d in devices]


def compile(model: Any, devices: list[Device] | None = None, objective: str = "energy",
            max_latency_ms: float | None = None, placement: dict[str, str] | None = None,
            strict: bool = False, passes: Sequence[str] | None = None,
            max_energy_mj: float | None = None, strategy: str = "search",
            history: History | None = None) -> Plan:
    """Place ``model``'s nodes on ``devices`` (default: every device, one per piece of
    hardware: cpu:0 rather than also TVM's or OpenCL's view of the same cores) and prepare
    each node. ``model``: whatever ``hetero.load`` accepts, or a loaded model.

    Placement minimises ``objective`` ("energy", "latency" or "edp") within the caps and
    each device's memory (``hetero.plan.place``); ``placement`` pins nodes, and a pin a
    device cannot honour falls back (recorded) unless ``strict``. ``strategy``: "search"
    (exact where it can be proved), "heuristic" (no proof: faster), or a baseline,
    "single-device" or "priority". ``history`` (default: the one in ``$HETERO_CACHE_DIR``)
    supplies measured times and receives the plan's runs.

    ``passes`` names the graph passes to run (default: all of ``hetero.graph.passes``;
    ``()`` for none). Pins name nodes as the model does; pinning a node that a pass removed
    or merged into another is refused with the reason.
    """
    # a bad objective, cap or argument fails first
    request = Request(Goal(objective, max_latency_ms, max_energy_mj),
                      checked_placement(placement), strict, strategy)
    if strategy not in STRATEGIES:
        raise ArgumentError(f"strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    pipeline = Pipeline(model, passes, history)
    pipeline.check_pins(placement)
    chosen = chosen_devices(devices) if devices is not None else \
        one_per_silicon(default_registry().devices())
    return pipeline.plan(chosen, request)


def evaluate(model: Any, placement: dict[str, str], devices: list[Device] | None = None,
             objective: str = "energy", passes: Sequence[str] | None = None,
             history: History | None = None) -> PlanEstimate:
    """The estimate of any placement ({node name: device id}, every node of the graph after
    the same passes ``hetero.compile`` runs) under the cost model the scheduler uses,
    measured history included (``history``: default, the one ``hetero.compile`` reads)."""
    checked_objective(objective)
    pipeline = Pipeline(model, passes, history)
    chosen = list(devices) if devices is not None else default_registry().devices()
    return pipeline.evaluate(placement, chosen, objective)

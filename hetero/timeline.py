"""A placement played out under the cost model: when each node and transfer runs, how long
the whole job takes and what it costs in energy. The scheduler scores candidate placements
with it and ``hetero.evaluate`` shows it to anyone checking a plan.

Each device runs its nodes one at a time in graph order; a node starts once its device is
free and its inputs have arrived there. Inputs come from the caller's memory (the host),
outputs go back to it, and weights are resident before the run (they move at compile time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hetero.cost import CostModel, Estimate, can_run, energy_mj, nbytes, tensor_info
from hetero.device import Device

OBJECTIVES = ("energy", "latency", "edp")


@dataclass
class Span:
    """One node or transfer on the timeline (ms from the start of the run)."""

    name: str
    kind: str  # "node" or "transfer"
    device: str  # for a transfer: "source->target"
    start_ms: float
    end_ms: float
    source: str  # where the duration came from: "measured: …" / "modeled: …"


@dataclass
class PlanEstimate:
    latency_ms: float
    energy_mj: float
    transfer_bytes: int
    spans: list[Span] = field(default_factory=list)
    busy_ms: dict[str, float] = field(default_factory=dict)
    objective: str = "energy"
    memory_bytes: dict[str, int] = field(default_factory=dict)  # needed per device
    memory_over: float = 0.0  # how far the needs exceed capacities (sum of ratios - 1)

    @property
    def value(self) -> float:
        """This estimate's figure under its objective."""
        return self.score(self.objective)

    def score(self, objective: str) -> float:
        """The figure an objective minimises: mJ, ms, or mJ x ms (energy-delay product)."""
        return {"energy": self.energy_mj, "latency": self.latency_ms,
                "edp": self.energy_mj * self.latency_ms}[checked_objective(objective)]


def checked_objective(name: str) -> str:
    if name not in OBJECTIVES:
        raise ValueError(f"objective {name!r}: choose one of {', '.join(OBJECTIVES)}")
    return name


def overflow(needed: dict[str, int], devices: dict[str, Device]) -> float:
    """Sum over devices of how far the memory needed exceeds capacity, as a fraction of
    it (0: everything fits); a device reporting no capacity is not limited."""
    return sum(max(needed[d] / devices[d].memory_bytes - 1.0, 0.0)
               for d in needed if devices[d].memory_bytes > 0)


def evaluate(model: Any, placement: dict[str, str], devices: list[Device] | None = None,
             objective: str = "energy", passes: Any = None) -> PlanEstimate:
    """The estimate of any placement ({node name: device id}, every node of the graph after
    the same passes ``hetero.compile`` runs) under the cost model the scheduler uses."""
    import hetero
    from hetero.errors import UnsupportedOp
    from hetero.graph.passes import optimise

    graph = optimise(model.graph() if hasattr(model, "graph") else model, passes)
    by_id = {d.id: d for d in (list(devices) if devices is not None else hetero.devices())}
    names = [n.name for n in graph.nodes]
    problems = [f"{len(missing)} node(s) unplaced, e.g. {', '.join(missing[:5])}"
                for missing in [[n for n in names if n not in placement]] if missing]
    problems += [f"unknown node(s) {', '.join(extra)}"
                 for extra in [sorted(set(placement) - set(names))] if extra]
    problems += [f"device(s) {', '.join(bad)} not among {', '.join(by_id) or 'none'}"
                 for bad in [sorted(set(placement.values()) - set(by_id))] if bad]
    if problems:
        raise UnsupportedOp("evaluate: the placement must put every node of the optimised "
                            f"graph on a given device: {'; '.join(problems)}")
    for node in graph.nodes:
        device = by_id[placement[node.name]]
        if not can_run(node, graph, device):
            raise UnsupportedOp(f"evaluate: {node.label} is placed on {device.id}, which cannot"
                                " run it (`hetero ops` lists op support; the device's profile "
                                "lists the dtypes it computes in)")
    estimate = simulate(graph, placement, by_id)
    estimate.objective = checked_objective(objective)
    return estimate


def simulate(graph: Any, placement: dict[str, str], devices: dict[str, Device],
             model: CostModel | None = None) -> PlanEstimate:
    """The timeline of ``graph`` with each node on ``devices[placement[node]]``."""
    timeline = Timeline(graph, devices, model)
    for node in graph.nodes:
        timeline.place(node, placement[node.name])
    return timeline.finished()


@dataclass
class Step:
    """What placing one node on one device would do to the timeline."""

    end_ms: float
    took: Estimate
    start_ms: float
    arrivals: list[tuple[str, float, float, int, Span | None]]  # value, at, mJ, bytes, span


class Timeline:
    """A placement built node by node in graph order: ``trial`` says what a step would cost
    without taking it (list scheduling asks it of every device), ``place`` takes it."""

    def __init__(self, graph: Any, devices: dict[str, Device], model: CostModel | None = None):
        self.graph, self.devices, self.model = graph, devices, model or CostModel()
        self.free = dict.fromkeys(devices, 0.0)  # when each device is next idle
        self.busy = dict.fromkeys(devices, 0.0)
        self.ready: dict[str, dict[str | None, float]] = {v.name: {None: 0.0}
                                                           for v in graph.inputs}
        self.spans: list[Span] = []
        self.moved_mj, self.moved_bytes = 0.0, 0
        self.weights: dict[str, dict[str, int]] = {d: {} for d in devices}
        self.working: dict[str, int] = dict.fromkeys(devices, 0)

    def trial(self, node: Any, device_id: str) -> Step:
        device = self.devices[device_id]
        start, arrivals = self.free[device_id], []
        for name in dict.fromkeys(n for n in node.inputs if n and n not in self.graph.constants):
            arrival = self.arrival(name, device)
            arrivals.append(arrival)
            start = max(start, arrival[1])
        took = self.model.node(node, self.graph, device)
        return Step(start + took.ms, took, start, arrivals)

    def place(self, node: Any, device_id: str, step: Step | None = None) -> Step:
        step = step or self.trial(node, device_id)
        self.commit(step.arrivals, device_id)
        self.spans.append(Span(node.name, "node", device_id, step.start_ms, step.end_ms,
                               step.took.source))
        self.free[device_id] = step.end_ms
        self.busy[device_id] += step.took.ms
        self.hold(node, device_id)
        for name in node.outputs:
            if name:
                self.ready[name] = {device_id: step.end_ms}
        return step

    def finished(self) -> PlanEstimate:
        """The estimate once every node is placed: the outputs travel back to the host."""
        finish = 0.0
        for out in self.graph.outputs:
            if out.name not in self.graph.constants:
                arrival = self.arrival(out.name, None)
                self.commit([arrival], None)
                finish = max(finish, arrival[1])
        makespan = max([finish, *self.free.values()])
        energy = energy_mj({self.devices[d]: ms for d, ms in self.busy.items()}, makespan,
                           self.moved_mj)
        needed = {d: sum(held.values()) + self.working[d] for d, held in self.weights.items()}
        return PlanEstimate(makespan, energy, self.moved_bytes, self.spans, dict(self.busy),
                            memory_bytes=needed, memory_over=overflow(needed, self.devices))

    def hold(self, node: Any, device_id: str) -> None:
        """Memory a node needs on its device: its weights stay resident for the whole run,
        its activations (inputs and outputs) only while it runs."""
        weights, acts = self.weights[device_id], 0
        for name in [*node.inputs, *node.outputs]:
            if not name or name in weights:
                continue
            info = tensor_info(self.graph, name)
            size = nbytes(info) if info is not None else 0
            if name in self.graph.constants:
                weights[name] = size
            else:
                acts += size
        self.working[device_id] = max(self.working[device_id], acts)

    def arrival(self, name: str, target: Device | None
                ) -> tuple[str, float, float, int, Span | None]:
        """(value, arrival ms, transfer mJ, bytes, transfer span) of ``name`` on ``target``
        (None: the host), copied from wherever it became ready first."""
        where = target.id if target is not None else None
        held = self.ready.get(name)
        if not held:
            raise KeyError(f"value {name!r} is read before any node produces it")
        if where in held:
            return name, held[where], 0.0, 0, None
        holder = min(held, key=lambda d: (held[d], d or ""))  # earliest; ties: the host
        at = held[holder]
        info = tensor_info(self.graph, name)
        size = nbytes(info) if info is not None else 0
        took, mj = self.model.transfer(size, self.devices.get(holder), target)
        if took.ms == 0.0 and mj == 0.0:
            return name, at, 0.0, 0, None  # same memory: nothing moves
        span = Span(name, "transfer", f"{holder or 'host'}->{where or 'host'}", at,
                    at + took.ms, took.source)
        return name, at + took.ms, mj, size, span

    def commit(self, arrivals: list, where: str | None) -> None:
        for name, at, mj, size, span in arrivals:
            self.ready[name][where] = at  # the copy is remembered for later readers
            self.moved_mj += mj
            self.moved_bytes += size
            if span is not None:
                self.spans.append(span)


__all__ = ["OBJECTIVES", "Estimate", "PlanEstimate", "Span", "Timeline", "evaluate", "simulate"]

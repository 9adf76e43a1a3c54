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

from hetero.cost import CostModel, Estimate, energy_mj, nbytes, tensor_info
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
        if device.impl.node_tier(device, node, graph) is None:
            raise UnsupportedOp(f"evaluate: {node.label} is placed on {device.id}, which cannot"
                                " run it; `hetero ops` lists op support")
    estimate = simulate(graph, placement, by_id)
    estimate.objective = checked_objective(objective)
    return estimate


def simulate(graph: Any, placement: dict[str, str], devices: dict[str, Device],
             model: CostModel | None = None) -> PlanEstimate:
    """The timeline of ``graph`` with each node on ``devices[placement[node]]``."""
    model = model or CostModel()
    free = dict.fromkeys(devices, 0.0)  # when each device is next idle
    ready: dict[tuple[str, str | None], float] = {(v.name, None): 0.0 for v in graph.inputs}
    spans: list[Span] = []
    moved_mj, moved_bytes = 0.0, 0
    for node in graph.nodes:
        device = devices[placement[node.name]]
        start = free[device.id]
        for name in dict.fromkeys(n for n in node.inputs if n and n not in graph.constants):
            arrival, mj, size = fetch(name, device, ready, devices, graph, model, spans)
            start, moved_mj, moved_bytes = max(start, arrival), moved_mj + mj, moved_bytes + size
        took = model.node(node, graph, device)
        end = start + took.ms
        spans.append(Span(node.name, "node", device.id, start, end, took.source))
        free[device.id] = end
        for name in node.outputs:
            if name:
                ready[name, device.id] = end
    finish = 0.0
    for out in graph.outputs:
        if out.name not in graph.constants:
            arrival, mj, size = fetch(out.name, None, ready, devices, graph, model, spans)
            finish, moved_mj, moved_bytes = max(finish, arrival), moved_mj + mj, \
                moved_bytes + size
    makespan = max([finish, *free.values()])
    busy = {d: sum(s.end_ms - s.start_ms for s in spans if s.kind == "node" and s.device == d)
            for d in devices}
    energy = energy_mj({devices[d]: ms for d, ms in busy.items()}, makespan, moved_mj)
    return PlanEstimate(makespan, energy, moved_bytes, spans, busy)


def fetch(name: str, target: Device | None, ready: dict, devices: dict[str, Device],
          graph: Any, model: CostModel, spans: list[Span]) -> tuple[float, float, int]:
    """(arrival ms, transfer mJ, bytes moved) of value ``name`` on ``target`` (None: the
    host), copying it from wherever it became ready first; copies are remembered."""
    where = target.id if target is not None else None
    if (name, where) in ready:
        return ready[name, where], 0.0, 0
    holders = [(t, d) for (n, d), t in ready.items() if n == name]
    if not holders:
        raise KeyError(f"value {name!r} is read before any node produces it")
    at, holder = min(holders, key=lambda h: (h[0], h[1] or ""))  # earliest; ties: host
    source = devices[holder] if holder is not None else None
    info = tensor_info(graph, name)
    size = nbytes(info) if info is not None else 0
    took, mj = model.transfer(size, source, target)
    if took.ms == 0.0 and mj == 0.0:
        ready[name, where] = at  # same memory: nothing moves
        return at, 0.0, 0
    ready[name, where] = at + took.ms
    spans.append(Span(name, "transfer", f"{holder or 'host'}->{where or 'host'}", at,
                      at + took.ms, took.source))
    return at + took.ms, mj, size


__all__ = ["OBJECTIVES", "Estimate", "PlanEstimate", "Span", "evaluate", "simulate"]

"""A placement scored: the estimate of each placement of one graph on one set of devices under
the cost table, remembered, and ranked under the goal (a placement breaking a cap ranks after
every one keeping it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hetero.cost import CostModel
from hetero.device import Device
from hetero.plan.objective import Goal, PlanEstimate
from hetero.plan.timeline import Layout


@dataclass
class Found:
    placement: dict[str, str]
    estimate: PlanEstimate
    how: str  # which search produced it, for the plan's report


class Scorer:
    """Scores placements of one graph on one set of devices, remembering each it has seen."""

    def __init__(self, graph: Any, devices: dict[str, Device], goal: Goal,
                 model: CostModel | None = None):
        self.graph, self.devices, self.goal = graph, devices, goal
        self.model = model or CostModel()
        self.seen: dict[tuple[str, ...], PlanEstimate] = {}
        self.names = [n.name for n in graph.nodes]
        self._layout: Layout | None = None

    @property
    def layout(self) -> Layout:
        """The graph's timing data, worked out on first use (so a search's time counts it)."""
        if self._layout is None:
            self._layout = Layout(self.graph, self.devices, self.model)
        return self._layout

    def __call__(self, placement: dict[str, str]) -> PlanEstimate:
        key = tuple(placement[n] for n in self.names)
        if key not in self.seen:
            self.seen[key] = self.layout.estimate(key)
        return self.seen[key]

    def found(self, placement: dict[str, str], how: str) -> Found:
        return Found(dict(placement), self(placement), how)

    def better(self, a: Found | None, b: Found) -> Found:
        return b if a is None or self.goal.rank(b.estimate) < self.goal.rank(a.estimate) else a

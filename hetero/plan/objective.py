"""What a plan minimises and must keep: the objective (energy, latency or their product),
the caps on latency and energy, and a placement's estimate scored against them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hetero.errors import ArgumentError

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
        return figure(objective, self.latency_ms, self.energy_mj)


def figure(objective: str, latency_ms: float, energy_mj: float) -> float:
    """An objective's figure from latency and energy (searches bound it millions of times,
    without building an estimate)."""
    if objective == "energy":
        return energy_mj
    if objective == "latency":
        return latency_ms
    if checked_objective(objective) == "edp":
        return energy_mj * latency_ms
    raise AssertionError(objective)  # unreachable: checked_objective raised


def checked_objective(name: str) -> str:
    if name not in OBJECTIVES:
        raise ArgumentError(f"objective {name!r}: choose one of {', '.join(OBJECTIVES)}")
    return name


@dataclass(frozen=True)
class Goal:
    """What a search minimises, and the caps a placement must keep."""

    objective: str = "energy"
    max_latency_ms: float | None = None
    max_energy_mj: float | None = None

    def __post_init__(self) -> None:
        checked_objective(self.objective)
        for cap in ("max_latency_ms", "max_energy_mj"):
            value = getattr(self, cap)
            if value is not None and not (isinstance(value, int | float) and
                                          math.isfinite(value) and value > 0):
                raise ArgumentError(f"{cap}={value!r}: a cap must be a finite number above 0 "
                                    "(or None for no cap)")

    def excess(self, estimate: PlanEstimate) -> float:
        """How far ``estimate`` breaks the caps and the devices' memory capacities, relative
        to each (0: keeps them all)."""
        return self.excess_of(estimate.latency_ms, estimate.energy_mj, estimate.memory_over)

    def excess_of(self, latency_ms: float, energy_mj: float, memory_over: float) -> float:
        """``excess`` of the figures themselves."""
        over = memory_over
        if self.max_latency_ms is not None:
            over += max(latency_ms / self.max_latency_ms - 1.0, 0.0)
        if self.max_energy_mj is not None:
            over += max(energy_mj / self.max_energy_mj - 1.0, 0.0)
        return over

    def rank(self, estimate: PlanEstimate) -> tuple[float, float]:
        return self.excess(estimate), estimate.score(self.objective)

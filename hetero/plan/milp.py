"""Exact placement of a DAG as a mixed-integer linear programme (scipy's HiGHS), under the
same cost model as ``hetero.plan.timeline.simulate``: for graphs with branches, where the chain
programme does not apply and exhaustive search has too many placements to enumerate.

Binary x[n,d] puts node n on candidate device d; s_n is its start, C the makespan. For each
value p makes and m reads, z[a,b] = x[p,a]·x[m,b] (a coupling of the two placements: tight
where z >= x + x - 1 is not) charges the copy from p's device to m's: s_m >= s_p + t_p +
Σ T[a,b]·z[a,b]. Each device runs its nodes in graph order (big-M rows, only for pairs the
graph does not already order); C bounds every finish, every output's return to the host and
every device's busy time. Latency is C; energy is Σ x·t·(active − idle) + Σ idle · C + the
copies' energy, once per value and target device. Both are linear, so either can be
minimised with a cap on the other; the energy-delay product cannot. Where a device reports
a capacity, what it holds (resident weights + its largest working set, as the timeline
counts them) must fit.

``solve`` returns None when the solver proves that no placement keeps the caps and memory;
a time limit reached first returns the best placement found, with the gap in its status.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hetero.cost import CostModel, idle_w, value_bytes
from hetero.device import Device
from hetero.plan.objective import checked_objective
from hetero.plan.timeline import node_reads, simulate

Terms = list[tuple[int | None, float]]  # (column, coefficient); column None: a constant
#: times are solved in units of a bound on the optimum's makespan / SPAN, energies likewise:
#: HiGHS's tolerances are absolute (1e-6), and a DAG's milliseconds can be a few hundredths
SPAN = 1e4
#: (presolve, tight horizon) tried in turn while HiGHS ends in "Solve error": HiGHS 1.12
#: (scipy 1.17) sometimes rejects an integer solution it found (ERGO-Code/HiGHS#2808), on a
#: few of the small DAGs tested; another variant of the same problem avoids it
ATTEMPTS = ((True, True), (False, True), (True, False), (False, False))
REDIRECT = threading.Lock()  # stdout is redirected around one solve at a time
log = logging.getLogger("hetero.plan.milp")


@dataclass(frozen=True)
class MilpResult:
    """What the solver found. ``placement`` is empty when the time limit ran out before any
    placement was found; ``objective`` (ms or mJ) is the MILP's figure for it, ``bound`` the
    best lower bound it proved (equal to ``objective`` when optimal)."""

    placement: dict[str, str]
    objective: float
    bound: float
    status: str  # "optimal", "time limit: best found, gap 1.23%", …
    seconds: float
    variables: int
    constraints: int


def solve(graph: Any, candidates: dict[str, list[str]], devices: dict[str, Device],
          objective: str = "energy", max_latency_ms: float | None = None,
          max_energy_mj: float | None = None, model: CostModel | None = None,
          time_limit_s: float = 30.0, memory: bool = True) -> MilpResult | None:
    """The placement minimising ``objective`` ("energy" or "latency") within the caps and,
    with ``memory``, the devices' memory capacities; None if no placement keeps them.
    ``candidates``: the devices each node may run on."""
    if checked_objective(objective) == "edp":
        raise ValueError("objective 'edp' (energy x latency) is nonlinear, so the MILP cannot "
                         "minimise it: minimise 'energy' with a latency cap (or the reverse), "
                         "or use hetero.plan.chain.best_chain / hetero.plan.heuristics")
    milp, bounds, constraint = scipy_milp()
    start = time.perf_counter()
    model = model or CostModel()
    for presolve, tight in ATTEMPTS:
        problem = Formulation(graph, candidates, devices, model)
        if problem.unplaceable:
            return None
        problem.build(objective, max_latency_ms, max_energy_mj, memory, tight)
        matrix, lower, upper = problem.rows.matrix()
        cols = problem.cols
        with solver_notes():
            res = milp(cols.cost, integrality=cols.integer,
                       bounds=bounds([0.0] * len(cols.upper), cols.upper),
                       constraints=constraint(matrix, lower, upper) if lower else None,
                       options={"time_limit": time_limit_s, "mip_rel_gap": 1e-9,
                                "presolve": presolve, "disp": False})
        if res.status != 4:  # 4: "Solve error"
            break
    return problem.result(res, time.perf_counter() - start)


@contextlib.contextmanager
def solver_notes() -> Iterator[None]:
    """HiGHS 1.12 prints some notes from C straight to the process's stdout, disp=False or
    not ("HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();"), where
    no option reaches them (scipy's HiGHS writes to stdout only: its library imports no
    stderr). Around a solve, fd 1 points at a temporary file, and what it caught is logged
    at DEBUG on ``hetero.plan.milp`` (``hetero plan --verbose`` shows it): nothing reaches
    stdout (``--json`` stays JSON) or stderr unasked. The redirect is process-wide, so one
    solve at a time, and another thread's stdout during a solve is caught with the notes;
    where fd 1 cannot be redirected, nothing moves."""
    with REDIRECT, tempfile.TemporaryFile() as caught:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            sys.stdout.flush()  # what Python buffered goes out before fd 1 moves
        try:
            saved = os.dup(1)
        except OSError:
            yield
            return
        os.dup2(caught.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        caught.seek(0)
        notes = caught.read().decode(errors="replace").strip()
        if notes:
            log.debug("HiGHS (the MILP solver) printed: %s", notes)


def scipy_milp() -> tuple[Any, Any, Any]:
    """scipy's milp, Bounds and LinearConstraint, imported only when a MILP is solved."""
    try:
        from scipy.optimize import Bounds, LinearConstraint, milp
    except ImportError as exc:
        from hetero.errors import UnsupportedOp

        raise UnsupportedOp("hetero.plan.milp needs scipy (HiGHS): `pip install 'hetero[plan]'` "
                            "installs it") from exc
    return milp, Bounds, LinearConstraint


class Columns:
    """The variables: objective coefficient, upper bound (lower is 0), integrality."""

    def __init__(self) -> None:
        self.cost: list[float] = []
        self.upper: list[float] = []
        self.integer: list[int] = []

    def new(self, upper: float = math.inf, integer: bool = False) -> int:
        self.cost.append(0.0)
        self.upper.append(upper)
        self.integer.append(int(integer))
        return len(self.cost) - 1


class Rows:
    """Constraints lower <= Σ coef·var <= upper, built one at a time; constant terms move to
    the bounds."""

    def __init__(self) -> None:
        self.rows: list[dict[int, float]] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def add(self, terms: Terms, lower: float = -math.inf, upper: float = math.inf) -> None:
        row: dict[int, float] = {}
        constant = 0.0
        for col, coef in terms:
            if col is None:
                constant += coef
            elif coef:
                row[col] = row.get(col, 0.0) + coef
        self.rows.append(row)
        self.lower.append(lower - constant)
        self.upper.append(upper - constant)

    def matrix(self) -> tuple[Any, list[float], list[float]]:
        from scipy.sparse import csr_array

        data = [v for row in self.rows for v in row.values()]
        cols = [c for row in self.rows for c in row]
        rows = [i for i, row in enumerate(self.rows) for _ in row]
        width = 1 + max(cols, default=0)
        return csr_array((data, (rows, cols)), shape=(len(self.rows), width)), \
            self.lower, self.upper


class Formulation:
    """The MILP of one placement problem: the cost model's figures, then the columns and rows
    that reproduce the timeline."""

    def __init__(self, graph: Any, candidates: dict[str, list[str]],
                 devices: dict[str, Device], model: CostModel):
        self.graph, self.devices, self.model = graph, devices, model
        self.nodes = list(graph.nodes)
        self.cand = [list(dict.fromkeys(candidates[n.name])) for n in self.nodes]
        unknown = sorted({d for ds in self.cand for d in ds} - set(devices))
        if unknown:
            raise ValueError(f"candidate device(s) {', '.join(unknown)} not among the devices")
        self.unplaceable = any(not ds for ds in self.cand)
        self.reads = [list(node_reads(n, graph.constants)) for n in self.nodes]
        self.producer = self.producers()
        self.hops: dict[tuple[str, str | None, str | None], tuple[float, float]] = {}
        self.time_ms = [{d: model.node(n, graph, devices[d]).ms for d in ds}
                        for n, ds in zip(self.nodes, self.cand, strict=True)]
        self.cols, self.rows = Columns(), Rows()
        self.energy: Terms = []
        self.copies_mj: dict[tuple[str, str], int] = {}

    def producers(self) -> dict[str, int]:
        """Index of the node making each value; a value read before it is made is refused,
        as the timeline refuses it."""
        made: dict[str, int] = {}
        fed = {v.name for v in self.graph.inputs}
        for i, node in enumerate(self.nodes):
            missing = [v for v in self.reads[i] if v not in made and v not in fed]
            if missing:
                raise ValueError(f"{node.label} reads {missing[0]!r} before any node makes it")
            made.update((v, i) for v in node.outputs if v)
        return made

    def hop(self, value: str, source: str | None, target: str | None) -> tuple[float, float]:
        """(time, energy) of copying ``value`` between two devices (None: the host), in the
        problem's units; a time past the horizon is cut to twice it, which rules the copy
        out all the same and keeps HiGHS's coefficients in range (it failed on 0.7 ms copies
        against a 0.05 ms horizon)."""
        ms, mj = self.hop_ms_mj(value, source, target)
        return min(ms / self.ms_unit, 2 * SPAN), mj / self.mj_unit

    def hop_ms_mj(self, value: str, source: str | None, target: str | None
                  ) -> tuple[float, float]:
        key = (value, source, target)
        if key not in self.hops:
            if source == target:
                self.hops[key] = 0.0, 0.0
            else:
                took, mj = self.model.transfer(value_bytes(self.graph, value),
                                               self.devices.get(source),
                                               self.devices.get(target))
                self.hops[key] = took.ms, mj
        return self.hops[key]

    def copies(self) -> list[list[tuple[float, float]]]:
        """(ms, mJ) of every copy each value could need, host included."""
        ends: list[str | None] = [None, *self.devices]
        values = dict.fromkeys([*[v for r in self.reads for v in r],
                                *[v.name for v in self.graph.outputs]])
        return [[self.hop_ms_mj(v, a, b) for a in ends for b in ends] for v in values]

    def horizon_ms(self, objective: str, max_latency_ms: float | None,
                   max_energy_mj: float | None, memory: bool, tight: bool) -> float:
        """A bound on the optimum's makespan, as tight as is cheap: the serialisation rows'
        big-M, and the LP bound is only as good as it. Any placement's makespan is at most
        every node back to back plus every value's slowest copy (following the critical path
        back, each node and each value's copy appears at most once); the optimum keeps the
        latency cap, is no slower than a placement known to keep the caps (latency), and, as
        each ms of makespan costs at least the devices' idle power, spends no more than it
        (energy)."""
        bound = sum(max(t.values(), default=0.0) for t in self.time_ms) + \
            sum(max(ms for ms, _ in c) for c in self.copies())
        if not tight:
            return max(bound * 1.01, 1e-9)
        if max_latency_ms is not None:
            bound = min(bound, max_latency_ms)
        idle = idle_w(self.devices)
        frugal = idle > 0 and all(d.profile.active_w >= d.profile.idle_w
                                  for d in self.devices.values())
        if frugal and max_energy_mj is not None:
            bound = min(bound, max_energy_mj / idle)
        for found in self.known(max_latency_ms, max_energy_mj, memory):
            if objective == "latency":
                bound = min(bound, found.latency_ms)
            elif frugal:
                bound = min(bound, found.energy_mj / idle)
        return max(bound * 1.01, 1e-9)  # the slack keeps the bound off the optimum

    def known(self, max_latency_ms: float | None, max_energy_mj: float | None,
              memory: bool) -> list[Any]:
        """Timeline estimates of quick placements (each device alone, each node on its first
        candidate) that keep the caps."""
        names = [n.name for n in self.nodes]
        tries = [dict.fromkeys(names, d) for d in self.devices
                 if all(d in ds for ds in self.cand)]
        tries.append({n: ds[0] for n, ds in zip(names, self.cand, strict=True)})
        found = [simulate(self.graph, p, self.devices, self.model) for p in tries]
        return [e for e in found if (max_latency_ms is None or e.latency_ms <= max_latency_ms)
                and (max_energy_mj is None or e.energy_mj <= max_energy_mj)
                and (not memory or e.memory_over == 0)]

    def units(self, horizon_ms: float) -> tuple[float, float]:
        """(ms, mJ) per unit: SPAN units for the horizon, and for a bound on the energy (each
        node at its most power-hungry candidate, every device idle throughout, every value's
        dearest copy to every device)."""
        idle = idle_w(self.devices)
        mj = horizon_ms * idle + sum(max(mj for _, mj in c) for c in self.copies()) * \
            (1 + len(self.devices)) + \
            sum(max((t * self.devices[d].profile.active_w for d, t in ts.items()), default=0.0)
                for ts in self.time_ms)
        return horizon_ms / SPAN, max(mj, 1e-9) / SPAN

    def build(self, objective: str, max_latency_ms: float | None,
              max_energy_mj: float | None, memory: bool, tight: bool = True) -> None:
        horizon = self.horizon_ms(objective, max_latency_ms, max_energy_mj, memory, tight)
        self.ms_unit, self.mj_unit = self.units(horizon)
        self.time = [{d: t / self.ms_unit for d, t in ts.items()} for ts in self.time_ms]
        self.variables()
        self.precedence()
        self.serialisation()
        self.makespan()
        self.running_energy()
        if memory:
            self.memory()
        if max_latency_ms is not None:
            self.cols.upper[self.c] = min(SPAN, max_latency_ms / self.ms_unit)
        if max_energy_mj is not None:
            self.rows.add(self.energy, upper=max_energy_mj / self.mj_unit)
        for col, coef in (self.energy if objective == "energy" else [(self.c, 1.0)]):
            if col is not None:
                self.cols.cost[col] += coef
        self.constant = sum(c for col, c in self.energy if col is None) \
            if objective == "energy" else 0.0
        self.unit = self.mj_unit if objective == "energy" else self.ms_unit

    def variables(self) -> None:
        """x[n][d] binary, each node on exactly one candidate (none that alone outlasts the
        horizon); starts and C within the horizon, SPAN units."""
        self.x = [{d: self.cols.new(float(self.time[n][d] <= SPAN), integer=True) for d in ds}
                  for n, ds in enumerate(self.cand)]
        self.start = [self.cols.new(SPAN) for _ in self.nodes]
        self.c = self.cols.new(SPAN)
        for xs in self.x:
            self.rows.add([(col, 1.0) for col in xs.values()], 1.0, 1.0)

    def precedence(self) -> None:
        """s_m >= s_p + t_p + the copy's time, for each value m reads; the copy's energy is
        charged once per target device (e[v,b] >= it for every reader of v on b)."""
        for m, reads in enumerate(self.reads):
            for value in reads:
                if value in self.producer:
                    self.edge(value, m)
                else:
                    self.fed(value, m)

    def fed(self, value: str, m: int) -> None:
        """A graph input read by node m: copied from the host, whose figures are constants."""
        row: Terms = [(self.start[m], 1.0)]
        for b, col in self.x[m].items():
            ms, mj = self.hop(value, None, b)
            row.append((col, -ms))
            if mj > 0.0:
                self.rows.add([(self.copied(value, b), 1.0), (col, -mj)], lower=0.0)
        if len(row) > 1:
            self.rows.add(row, lower=0.0)

    def edge(self, value: str, m: int) -> None:
        """A value node p makes and node m reads: z[a,b] = x[p,a]·x[m,b], linearised as a
        coupling of the two nodes' placements (its rows sum to x[p,·], its columns to
        x[m,·]), which keeps the LP relaxation tight, unlike z >= x + x - 1."""
        p = self.producer[value]
        pairs = {(a, b): self.hop(value, a, b) for a in self.x[p] for b in self.x[m]}
        row: Terms = [(self.start[m], 1.0), (self.start[p], -1.0)] + \
            [(col, -self.time[p][a]) for a, col in self.x[p].items()]
        if not any(ms or mj for ms, mj in pairs.values()):
            self.rows.add(row, lower=0.0)
            return
        z = {pair: self.cols.new(1.0) for pair in pairs}
        for a, col in self.x[p].items():
            self.rows.add([(col, -1.0)] + [(z[a, b], 1.0) for b in self.x[m]], 0.0, 0.0)
        for b, col in self.x[m].items():
            self.rows.add([(col, -1.0)] + [(z[a, b], 1.0) for a in self.x[p]], 0.0, 0.0)
            if any(pairs[a, b][1] > 0.0 for a in self.x[p]):
                self.rows.add([(self.copied(value, b), 1.0)] +
                              [(z[a, b], -pairs[a, b][1]) for a in self.x[p]], lower=0.0)
        self.rows.add(row + [(z[pair], -ms) for pair, (ms, _) in pairs.items()], lower=0.0)

    def copied(self, value: str, target: str) -> int:
        """The column of the energy of copying ``value`` to ``target`` (made once)."""
        key = (value, target)
        if key not in self.copies_mj:
            self.copies_mj[key] = self.cols.new()
            self.energy.append((self.copies_mj[key], 1.0))
        return self.copies_mj[key]

    def serialisation(self) -> None:
        """Two nodes on one device run in graph order: s_m >= s_n + t[n,d] when both are on
        d, for the pairs the graph does not already order. M = horizon + t[n,d] frees the
        row when either is elsewhere (s_m - s_n >= -horizon)."""
        later = self.descendants()
        for n in range(len(self.nodes)):
            for m in range(n + 1, len(self.nodes)):
                if later[n] >> m & 1:
                    continue
                for d in self.cand[n]:
                    if d in self.x[m]:
                        t = self.time[n][d]
                        big = SPAN + t
                        self.rows.add([(self.start[m], 1.0), (self.start[n], -1.0),
                                       (self.x[n][d], -big), (self.x[m][d], -big)],
                                      lower=t - 2 * big)

    def descendants(self) -> list[int]:
        """Bit m of entry n: node m reads, through some path, what node n makes."""
        readers: list[list[int]] = [[] for _ in self.nodes]
        for m, reads in enumerate(self.reads):
            for value in reads:
                if value in self.producer:
                    readers[self.producer[value]].append(m)
        later = [0] * len(self.nodes)
        for n in reversed(range(len(self.nodes))):
            for m in readers[n]:
                later[n] |= 1 << m | later[m]
        return later

    def makespan(self) -> None:
        """C >= every node's finish and every output's arrival back on the host; and C >=
        each device's busy time, implied by the rest but not in the LP relaxation (where it
        lifts the energy bound: idle power x C)."""
        for n, xs in enumerate(self.x):
            self.rows.add([(self.c, 1.0), (self.start[n], -1.0)] +
                          [(col, -self.time[n][d]) for d, col in xs.items()], lower=0.0)
        for d in self.devices:
            self.rows.add([(self.c, 1.0)] + [(xs[d], -self.time[n][d])
                                             for n, xs in enumerate(self.x) if d in xs],
                          lower=0.0)
        for value in dict.fromkeys(v.name for v in self.graph.outputs):
            if value in self.graph.constants or value not in self.producer:
                continue
            p = self.producer[value]
            self.rows.add([(self.c, 1.0), (self.start[p], -1.0)] +
                          [(col, -self.time[p][a] - self.hop(value, a, None)[0])
                           for a, col in self.x[p].items()], lower=0.0)
            self.energy += [(col, self.hop(value, a, None)[1]) for a, col in self.x[p].items()]

    def running_energy(self) -> None:
        """Busy time at active power, the rest of the makespan at idle power."""
        per_unit = self.ms_unit / self.mj_unit  # W x ms = mJ
        for n, xs in enumerate(self.x):
            for d, col in xs.items():
                p = self.devices[d].profile
                self.energy.append((col, self.time[n][d] * (p.active_w - p.idle_w) * per_unit))
        idle = idle_w(self.devices)
        self.energy.append((self.c, idle * per_unit))

    def memory(self) -> None:
        """Σ resident weights + W_d <= capacity, W_d >= each working set placed on d; only
        for devices with a capacity that everything at once could exceed."""
        weights = [{v: value_bytes(self.graph, v) for v in [*n.inputs, *n.outputs]
                    if v in self.graph.constants} for n in self.nodes]
        working = [sum(value_bytes(self.graph, v) for v in [*n.inputs, *n.outputs]
                       if v and v not in self.graph.constants) for n in self.nodes]
        for d, device in self.devices.items():
            on = [n for n, xs in enumerate(self.x) if d in xs]
            held = {v: size for n in on for v, size in weights[n].items()}
            most = sum(held.values()) + max((working[n] for n in on), default=0)
            if device.memory_bytes <= 0 or most <= device.memory_bytes:
                continue
            room = device.memory_bytes  # rows in fractions of it
            resident = {v: self.cols.new(1.0) for v in held}
            peak = self.cols.new()
            for n in on:
                self.rows.add([(peak, 1.0), (self.x[n][d], -working[n] / room)], lower=0.0)
                for v in weights[n]:
                    self.rows.add([(resident[v], 1.0), (self.x[n][d], -1.0)], lower=0.0)
            self.rows.add([(peak, 1.0)] + [(col, held[v] / room) for v, col in resident.items()],
                          upper=1.0)

    def result(self, res: Any, seconds: float) -> MilpResult | None:
        """The placement read off x (None when proven infeasible) and the solver's figures."""
        size = (len(self.cols.cost), len(self.rows.rows))
        if res.status == 2:
            return None
        if res.x is None:
            status = "time limit: no placement found" if res.status == 1 else res.message
            return MilpResult({}, math.inf, self.bound(res), status, seconds, *size)
        placement = {n.name: max(xs, key=lambda d: res.x[xs[d]])
                     for n, xs in zip(self.nodes, self.x, strict=True)}
        value = (float(res.fun) + self.constant) * self.unit
        gap = getattr(res, "mip_gap", 0.0) or 0.0
        status = "optimal" if res.status == 0 else \
            f"time limit: best found, gap {100 * gap:.2f}%" if res.status == 1 else res.message
        return MilpResult(placement, value, self.bound(res), status, seconds, *size)

    def bound(self, res: Any) -> float:
        found = getattr(res, "mip_dual_bound", None)
        return -math.inf if found is None else (float(found) + self.constant) * self.unit


__all__ = ["MilpResult", "solve"]

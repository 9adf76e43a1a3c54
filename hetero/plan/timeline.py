"""A placement played out under the cost model: when each node and transfer runs, how long
the whole job takes and what it costs in energy. The scheduler scores candidate placements
with it and ``hetero.evaluate`` shows it to anyone checking a plan.

Each device runs its nodes one at a time in graph order; a node starts once its device is
free and its inputs have arrived there. Inputs come from the caller's memory (the host),
outputs go back to it, and weights are resident before the run (they move at compile time).

A search times thousands of placements of one graph: a ``Layout`` works out once what they
share, and a ``Replay`` times a placement that differs from a known one only from node k on
from its saved state before k.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hetero.cost import CostModel, Estimate, energy_mj, idle_w, value_bytes
from hetero.device import Device
from hetero.plan.objective import PlanEstimate, Span


def overflow(needed: dict[str, int], devices: dict[str, Device]) -> float:
    """Sum over devices of how far the memory needed exceeds capacity, as a fraction of
    it (0: everything fits); a device reporting no capacity is not limited."""
    return sum(max(needed[d] / devices[d].memory_bytes - 1.0, 0.0)
               for d in needed if devices[d].memory_bytes > 0)


def simulate(graph: Any, placement: dict[str, str], devices: dict[str, Device],
             model: CostModel | None = None) -> PlanEstimate:
    """The timeline of ``graph`` with each node on ``devices[placement[node]]``."""
    layout = Layout(graph, devices, model)
    return layout.estimate([placement[node.name] for node in layout.nodes])


#: (value, arrival ms, transfer mJ, bytes moved, transfer span) of one input reaching a device
Arrival = tuple[str, float, float, int, "Span | None"]


@dataclass
class Step:
    """What placing one node on one device would do to the timeline."""

    end_ms: float
    took: Estimate
    start_ms: float
    arrivals: list[Arrival]


class Run:
    """A timeline partway through: when each device is next free, its busy time, which
    devices hold each value since when, and what has moved. Each value's holders are
    replaced, never changed in place, so a copy shares them safely."""

    __slots__ = ("busy", "free", "moved_bytes", "moved_mj", "ready", "spans")

    def __init__(self, free: dict[str, float], busy: dict[str, float],
                 ready: dict[str, dict[str | None, float]], moved_mj: float = 0.0,
                 moved_bytes: int = 0, spans: list[Span] | None = None):
        self.free, self.busy, self.ready = free, busy, ready
        self.moved_mj, self.moved_bytes, self.spans = moved_mj, moved_bytes, spans

    def copy(self) -> Run:
        """The same state, to be played on without touching this one (no spans kept)."""
        return Run(dict(self.free), dict(self.busy), dict(self.ready), self.moved_mj,
                   self.moved_bytes)


def node_reads(node: Any, constants: Any) -> tuple[str, ...]:
    """The values a node needs before it starts, weights aside: its inputs and the outer-scope
    values its subgraphs (If, Loop, Scan) read, as the runtime moves them."""
    return tuple(dict.fromkeys(n for n in (*node.inputs, *node.outer)
                               if n and n not in constants))


class Layout:
    """What timing any placement of one graph on one set of devices needs, worked out once
    (a search times thousands of placements): each node's reads, writes and memory, value
    sizes, and node and transfer times as they are first asked for."""

    def __init__(self, graph: Any, devices: dict[str, Device], model: CostModel | None = None):
        self.graph, self.devices, self.model = graph, devices, model or CostModel()
        self.nodes = list(graph.nodes)
        self.index = {node.name: i for i, node in enumerate(self.nodes)}
        self.sizes: dict[str, int] = {}
        consts = graph.constants
        touched = [[n for n in (*node.inputs, *node.outer, *node.outputs) if n]
                   for node in self.nodes]
        self.reads = [node_reads(node, consts) for node in self.nodes]
        self.writes = [tuple(n for n in node.outputs if n) for node in self.nodes]
        self.acts = [sum(self.size(n) for n in names if n not in consts) for names in touched]
        self.weights = [{n: self.size(n) for n in names if n in consts} for names in touched]
        self.times: list[dict[str, Estimate]] = [{} for _ in self.nodes]
        self.moves: dict[tuple[int, str | None, str | None], tuple[float, float, str, str]] = {}
        self.outputs = [v.name for v in graph.outputs if v.name not in consts]
        producer = {name: i for i, names in enumerate(self.writes) for name in names}
        self.readers: list[list[int]] = [[] for _ in self.nodes]  # nodes reading i's outputs
        for i, names in enumerate(self.reads):
            for k in sorted({producer[n] for n in names if n in producer}):
                self.readers[k].append(i)
        self.idle_w = idle_w(devices)  # W while powered
        self.extra_w = [d.profile.active_w - d.profile.idle_w for d in devices.values()]

    def size(self, name: str) -> int:
        if name not in self.sizes:
            self.sizes[name] = value_bytes(self.graph, name)
        return self.sizes[name]

    def took(self, i: int, device_id: str) -> Estimate:
        """Node ``i``'s time on a device (asked of the cost model once)."""
        took = self.times[i].get(device_id)
        if took is None:
            took = self.model.node(self.nodes[i], self.graph, self.devices[device_id])
            self.times[i][device_id] = took
        return took

    def transfer(self, size: int, source: str | None, target: str | None
                 ) -> tuple[float, float, str, str]:
        """(ms, mJ, where the figure came from, route) to move ``size`` bytes (None: the
        host)."""
        key = (size, source, target)
        if key not in self.moves:
            took, mj = self.model.transfer(size, self.devices.get(source),
                                           self.devices.get(target))
            self.moves[key] = took.ms, mj, took.source, f"{source or 'host'}->{target or 'host'}"
        return self.moves[key]

    def start(self, spans: list[Span] | None = None) -> Run:
        """The state before any node runs: the graph's inputs in the host's memory."""
        return Run(dict.fromkeys(self.devices, 0.0), dict.fromkeys(self.devices, 0.0),
                   {v.name: {None: 0.0} for v in self.graph.inputs}, spans=spans)

    def arrival(self, run: Run, name: str, where: str | None) -> Arrival:
        """When ``name`` is on ``where`` (None: the host), copied from wherever it became
        ready first, and what the copy costs."""
        held = run.ready.get(name)
        if not held:
            raise KeyError(f"value {name!r} is read before any node produces it")
        if where in held:
            return name, held[where], 0.0, 0, None
        holder = min(held, key=lambda d: (held[d], d or "")) if len(held) > 1 else \
            next(iter(held))  # the earliest; ties: the host
        at, size = held[holder], self.size(name)
        ms, mj, source, route = self.transfer(size, holder, where)
        if ms == 0.0 and mj == 0.0:
            return name, at, 0.0, 0, None  # same memory: nothing moves
        span = Span(name, "transfer", route, at, at + ms, source) if run.spans is not None \
            else None  # a search's trial keeps no spans: none is made
        return name, at + ms, mj, size, span

    @staticmethod
    def commit(run: Run, arrivals: Iterable[Arrival], where: str | None) -> None:
        for name, at, mj, size, span in arrivals:
            run.ready[name] = {**run.ready[name], where: at}  # later readers reuse the copy
            run.moved_mj += mj
            run.moved_bytes += size
            if span is not None and run.spans is not None:
                run.spans.append(span)

    def play(self, run: Run, place: Sequence[str], start: int, stop: int) -> None:
        """Runs nodes ``start`` to ``stop - 1``, node i on ``place[i]``: ``Timeline.trial``
        and ``place`` inlined, as every placement a search scores goes through here."""
        free, busy, ready, spans = run.free, run.busy, run.ready, run.spans
        reads, writes, times = self.reads, self.writes, self.times
        for i in range(start, stop):
            device = place[i]
            begin = free[device]
            for name in reads[i]:
                held = ready.get(name)
                at = held.get(device) if held else None
                if at is None:
                    arrival = self.arrival(run, name, device)
                    self.commit(run, (arrival,), device)
                    at = arrival[1]
                if at > begin:
                    begin = at
            took = times[i].get(device) or self.took(i, device)
            end = begin + took.ms
            free[device] = end
            busy[device] += took.ms
            if spans is not None:
                spans.append(Span(self.nodes[i].name, "node", device, begin, end, took.source))
            for name in writes[i]:
                ready[name] = {device: end}

    def finish(self, run: Run, needed: dict[str, int]) -> PlanEstimate:
        """The estimate once every node has run, given the memory each device needs: the
        outputs travel back to the host."""
        finish = 0.0
        for name in self.outputs:
            arrival = self.arrival(run, name, None)
            self.commit(run, (arrival,), None)
            finish = max(finish, arrival[1])
        makespan = max([finish, *run.free.values()])
        energy = energy_mj({self.devices[d]: ms for d, ms in run.busy.items()}, makespan,
                           run.moved_mj)
        return PlanEstimate(makespan, energy, run.moved_bytes, run.spans or [],
                            dict(run.busy), memory_bytes=needed,
                            memory_over=overflow(needed, self.devices))

    def estimate(self, place: Sequence[str]) -> PlanEstimate:
        """The whole timeline of node i on ``place[i]``, spans included."""
        run = self.start(spans=[])
        self.play(run, place, 0, len(place))
        return self.finish(run, self.memory(enumerate(place)))

    def memory(self, placed: Iterable[tuple[int, str]]) -> dict[str, int]:
        """Bytes each device needs: its nodes' weights stay resident for the whole run, their
        activations (inputs and outputs) only while each runs, so the largest counts."""
        weights: dict[str, dict[str, int]] = {d: {} for d in self.devices}
        working = dict.fromkeys(self.devices, 0)
        for i, device in placed:
            weights[device].update(self.weights[i])
            working[device] = max(working[device], self.acts[i])
        return {d: sum(held.values()) + working[d] for d, held in weights.items()}

    def roomy(self) -> bool:
        """Whether every placement fits every device: all weights plus the largest working
        set fit each device that reports a capacity."""
        most = sum({n: b for w in self.weights for n, b in w.items()}.values()) + \
            max(self.acts, default=0)
        return all(d.memory_bytes <= 0 or most <= d.memory_bytes for d in self.devices.values())


class Replay:
    """One placement's timeline with its state saved before every node: a placement that
    differs from it only from node k on is timed from k (the timeline is built in graph
    order), and can be dropped as soon as bounds on its figures show it cannot win."""

    def __init__(self, layout: Layout, place: Sequence[str], base: Replay | None = None,
                 first: int = 0):
        self.layout, self.place = layout, list(place)
        self.saved = base.saved[:first + 1] if base is not None else [layout.start()]
        run = self.saved[-1].copy()
        for i in range(len(self.saved) - 1, len(self.place)):
            layout.play(run, self.place, i, i + 1)
            self.saved.append(run.copy())
        self.tails, self.reach = self.remaining()
        self.roomy = base.roomy if base is not None else layout.roomy()

    def remaining(self) -> tuple[list[tuple[float, ...]], list[tuple[float, ...]]]:
        """Per node i, each device's busy time from node i on, and how long at least the
        graph runs after that device is free: its nodes up to some node k, then the
        longest chain of readers from k (for the bounds)."""
        times = [self.layout.took(i, d).ms for i, d in enumerate(self.place)]
        chain = times.copy()  # longest path of readers from each node, its own time included
        for i in reversed(range(len(chain))):
            chain[i] += max((chain[r] for r in self.layout.readers[i]), default=0.0)
        left, reach = (dict.fromkeys(self.layout.devices, 0.0) for _ in range(2))
        tails, reaches = [tuple(left.values())], [tuple(reach.values())]
        for i in reversed(range(len(self.place))):
            device = self.place[i]
            left[device] += times[i]
            reach[device] = max(chain[i], times[i] + reach[device])
            tails.append(tuple(left.values()))
            reaches.append(tuple(reach.values()))
        return tails[::-1], reaches[::-1]

    def bound(self, run: Run, i: int) -> tuple[float, float]:
        """Lower bounds on (latency ms, energy mJ) of a run that reached node i and places
        the rest as this replay does: no device's nodes, nor the chains of readers that
        follow them, finish before it is free; every device's idle power counts until
        then."""
        ms = max([free + reach for free, reach
                  in zip(run.free.values(), self.reach[i], strict=True)])
        mj = run.moved_mj + self.layout.idle_w * ms
        for extra, busy, left in zip(self.layout.extra_w, run.busy.values(), self.tails[i],
                                     strict=True):
            mj += extra * (busy + left)
        return ms, mj

    def trial(self, changes: dict[int, str],
              hopeless: Callable[[float, float, float], bool] | None = None,
              widest: int = 16) -> PlanEstimate | None:
        """The estimate with node i moved to ``changes[i]``, without spans (and without
        memory_bytes where no placement can overflow); None once ``hopeless(memory overflow,
        ms, mJ)`` holds for lower bounds of its figures, checked after the last node moved,
        then 1, 2, 4, … up to ``widest`` nodes later (most moves are dropped at once, the
        others near the end, where checking often costs more than it saves)."""
        place, count = self.changed(changes), len(self.place)
        needed = {} if self.roomy else self.layout.memory(enumerate(place))
        over = overflow(needed, self.layout.devices) if needed else 0.0
        if hopeless is not None and hopeless(over, 0.0, 0.0):
            return None
        first, at, gap = min(changes), max(changes) + 1, 1
        run = self.saved[first].copy()
        self.layout.play(run, place, first, at)
        while hopeless is not None and at < count:
            if hopeless(over, *self.bound(run, at)):
                return None
            self.layout.play(run, place, at, min(at + gap, count))
            at, gap = at + gap, min(2 * gap, widest)
        self.layout.play(run, place, min(at, count), count)
        return self.layout.finish(run, needed)

    def moved(self, changes: dict[int, str]) -> Replay:
        """The replay of this placement with ``changes`` taken, reusing the saved states
        before the first node moved."""
        return Replay(self.layout, self.changed(changes), self, min(changes))

    def changed(self, changes: dict[int, str]) -> list[str]:
        """This replay's placement with node i on ``changes[i]``."""
        place = self.place.copy()
        for i, device in changes.items():
            place[i] = device
        return place


class Timeline:
    """A placement built node by node in graph order: ``trial`` says what a step would cost
    without taking it (list scheduling asks it of every device), ``place`` takes it."""

    def __init__(self, graph: Any, devices: dict[str, Device], model: CostModel | None = None,
                 layout: Layout | None = None):
        self.layout = layout or Layout(graph, devices, model)
        self.graph, self.devices, self.model = graph, devices, self.layout.model
        self.run = self.layout.start(spans=[])
        self.free, self.busy, self.spans = self.run.free, self.run.busy, self.run.spans
        self.placed: list[tuple[int, str]] = []

    def trial(self, node: Any, device_id: str) -> Step:
        layout, ready = self.layout, self.run.ready
        i = layout.index[node.name]
        start, arrivals = self.free[device_id], []
        for name in layout.reads[i]:
            held = ready.get(name)
            at = held.get(device_id) if held else None
            arrival = (name, at, 0.0, 0, None) if at is not None else \
                layout.arrival(self.run, name, device_id)
            arrivals.append(arrival)
            start = max(start, arrival[1])
        took = layout.times[i].get(device_id) or layout.took(i, device_id)
        return Step(start + took.ms, took, start, arrivals)

    def place(self, node: Any, device_id: str, step: Step | None = None) -> Step:
        step = step or self.trial(node, device_id)
        self.layout.commit(self.run, step.arrivals, device_id)
        self.spans.append(Span(node.name, "node", device_id, step.start_ms, step.end_ms,
                               step.took.source))
        self.free[device_id] = step.end_ms
        self.busy[device_id] += step.took.ms
        self.placed.append((self.layout.index[node.name], device_id))
        for name in node.outputs:
            if name:
                self.run.ready[name] = {device_id: step.end_ms}
        return step

    def finished(self) -> PlanEstimate:
        """The estimate once every node is placed: the outputs travel back to the host."""
        return self.layout.finish(self.run, self.layout.memory(self.placed))


__all__ = ["Layout", "Replay", "Timeline", "simulate"]

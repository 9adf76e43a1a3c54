"""Runs a placed graph: node steps on their devices, explicit transfers between memory
domains, intermediates freed as soon as their last reader has run.

``hetero.compile`` builds a ``Plan`` (placement from ``hetero.schedule``); ``plan.run``
executes it and records where and how long each node ran (measured, wall clock), which also
feeds the cost model's history (``hetero.cost.History``) for the devices that are real.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hetero import planview
from hetero.backend import Clock
from hetero.cost import (
    SAMPLES_KEPT,
    CostModel,
    History,
    calibrated,
    node_key,
    node_work,
    tensor_info,
)
from hetero.device import Device, one_per_silicon
from hetero.energy import Energy, Span, Window
from hetero.errors import ModelError, UnsupportedOp
from hetero.graph.ir import Graph, Node
from hetero.planview import REPLAYED
from hetero.queue import Work
from hetero.replay import Replay, record
from hetero.schedule import Decision, place
from hetero.search import Found, Goal
from hetero.subgraphs import Unit, units
from hetero.timeline import PlanEstimate

HOST = "host"  # where the caller's inputs and the returned outputs live


@dataclass
class Step:
    """``run`` a node on a device, or ``transfer`` a value between memory domains."""

    kind: str
    device: str
    node: Node | None = None
    value: str = ""
    source: str = ""
    tier: str = ""  # of a run: "native" or "reference", as placement decided


@dataclass
class NodeTime:
    node: str
    op_type: str
    device: str
    tier: str
    ms: float  # measured: see ``timing``
    start_ms: float = 0.0  # when it started (was submitted), from the start of the run
    #: "host": wall clock around the node's run; "device": the device's own timer (CUDA
    #: events); "submitted": only the host's time to submit it to an asynchronous device
    timing: str = "host"
    marks: tuple[Any, Any, Any] | None = None  # (clock, start, end) until the run is read


@dataclass(frozen=True)
class Dispatch:
    """One node step resolved at compile time (its buffers' keys, what dies after it), so
    a run does little Python per node: every line here runs against caches the previous
    node's kernel has just flushed."""

    step: Step
    device: Device
    prepared: Any
    inputs: tuple[tuple[str, tuple[str, str]], ...]  # (input name, env key)
    outputs: tuple[tuple[str, str] | None, ...]  # env keys, None for an omitted output
    frees: tuple[tuple[str, str], ...]  # env keys no later step reads
    clock: Clock | None = None  # the device's timer, where it runs nodes asynchronously

    def run(self, env: dict, began: float, timed: bool = False) -> NodeTime:
        """Run the node; ``timed``: between marks of the device's clock, where it has one."""
        inputs = {name: env[key] for name, key in self.inputs}
        clock = self.clock if timed else None
        first = clock.mark() if clock is not None else None
        start = time.perf_counter()
        outputs = self.device.impl.run_node(self.device, self.prepared, inputs)
        elapsed = (time.perf_counter() - start) * 1e3
        last = clock.mark() if clock is not None else None
        for key, value in zip(self.outputs, outputs, strict=False):
            if key is not None:
                env[key] = value
        for key in self.frees:
            env.pop(key, None)
        node = self.step.node
        timing = "host" if self.clock is None else "submitted"
        return NodeTime(node.name, node.op_type, self.step.device, self.step.tier, elapsed,
                        (start - began) * 1e3, timing,
                        None if clock is None else (clock, first, last))


def read_clocks(times: list[NodeTime]) -> None:
    """Nodes run between device marks take the device's time, once the run is done."""
    for t in times:
        if t.marks is not None:
            clock, first, last = t.marks
            t.ms, t.timing, t.marks = clock.elapsed_ms(first, last), "device", None


def dispatches(plan: Plan) -> list[Dispatch | None]:
    """A Dispatch per node step (None for transfers); a value is freed, wherever copies of
    it live, after its last reader (graph outputs never)."""
    last: dict[str, int] = {}
    for index, step in enumerate(plan.steps):
        if step.node is not None:
            for name in step.node.inputs + step.node.outer:
                last[name] = index
    kept = {out.name for out in plan.graph.outputs}
    places = (HOST, *plan.devices)
    calls: list[Dispatch | None] = []
    for index, step in enumerate(plan.steps):
        node = step.node
        if node is None:
            calls.append(None)
            continue
        names = list(dict.fromkeys(n for n in [*node.inputs, *node.outer] if n))
        dying = [n for n in names if last[n] == index and n not in kept]
        device = plan.devices[step.device]
        calls.append(Dispatch(
            step, device, plan.prepared[node.name],
            tuple((n, (n, step.device)) for n in names),
            tuple((n, step.device) if n else None for n in node.outputs),
            tuple((n, where) for n in dying for where in places),
            device.impl.node_clock(device)))
    return calls


#: one power sample from a window of runs, read at its two ends, once the devices computed
#: LEARN_BUSY_MS in it and LEARN_WALL_MS have passed: RAPL moves every ~1 ms, but an H200's
#: NVML counter moved every 100 ms in steps of ~13 J (2026-12-04), so a window of 1 s errs
#: by a step at most (~10%, half that on average) where a 2 ms ResNet-50 run saw nothing.
#: The window closes unfinished after LEARN_RUNS runs (a plan that barely computes; a
#: replayed ResNet-50 takes ~420 runs); runs read no counter of their own unless profiled.
LEARN_BUSY_MS = 100.0
LEARN_WALL_MS = 1000.0
LEARN_RUNS = 100_000


@dataclass
class Plan:
    graph: Graph
    devices: dict[str, Device]
    decisions: list[Decision]
    steps: list[Step]
    prepared: dict[str, Any]
    resident: dict[tuple[str, str], Any]  # constants already on the devices that read them
    chosen: Found
    baselines: list[Found] = field(default_factory=list)
    history: History | None = None  # where run() records measured node times
    units: dict[str, list[str]] = field(default_factory=dict)  # Subgraph step -> its nodes
    last_run: list[NodeTime] = field(default_factory=list)
    last_energy: list[Energy] = field(default_factory=list)  # measured, where counters exist
    runs: int = 0
    planned: dict[str, Device] = field(default_factory=dict)  # as the planner saw them
    #: time every node with its device's own clock (CUDA events) and read the energy
    #: counters on every run, not only on the runs the calibration history records: exact
    #: per-node times and ``last_energy``, a few µs more per node and up to ms per counter
    profile: bool = False
    #: replay runs as one recorded launch (a CUDA graph) where every node runs on one
    #: device that records them (``hetero.replay``); False: node by node always
    graphs: bool = True
    _replay: Replay | bool | None = field(default=None, init=False, repr=False)
    _span: Span | None = field(default=None, init=False, repr=False)
    _window: Window | bool | None = field(default=None, init=False, repr=False)
    _entries: dict[tuple[str, str], tuple[str, Work]] = field(default_factory=dict, init=False,
                                                             repr=False)

    def __post_init__(self) -> None:
        self.calls = dispatches(self)

    @property
    def placement(self) -> dict[str, str]:
        """{node name: device id}"""
        return {d.node: d.device for d in self.decisions}

    @property
    def estimate(self) -> PlanEstimate:
        """Latency, energy and bytes moved under the cost model, each span with its source."""
        return self.chosen.estimate

    # -- running ------------------------------------------------------------------------------
    def run(self, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        """Run the graph on ``feeds`` ({input name: array}); {output name: NumPy array}."""
        checked = self.check_feeds(feeds)
        recording = self.history is not None and 0 < self.runs <= SAMPLES_KEPT
        learning = self.learning_power()
        timed = self.profile or recording or learning
        replay = self.replay_for(checked)  # recorded before the clocks start
        meters = self.energy_span() if self.profile else Span()  # a read can cost ms (NVML)
        began = time.perf_counter()
        meters.start()
        if replay is not None:
            outputs, times = self.run_replay(replay, checked, began, timed)
        else:
            outputs, times = self.run_steps(checked, began, timed)
        self.last_run, self.last_energy = times, meters.stop()
        read_clocks(times)
        self.runs += 1
        if recording:
            self.remember(feeds, times)
        if learning:
            self.learn_power(times)
        return outputs

    def run_steps(self, feeds: dict[str, Any], began: float, timed: bool
                  ) -> tuple[dict[str, np.ndarray], list[NodeTime]]:
        """Node by node: each step's copies and node calls, in order."""
        env: dict[tuple[str, str], Any] = dict(self.resident)  # (value, device) -> buffer
        for name, array in feeds.items():
            env[name, HOST] = array
        times = []
        for step, call in zip(self.steps, self.calls, strict=True):
            if call is None:
                env[step.value, step.device] = self.transfer(env[step.value, step.source],
                                                             step.source, step.device)
            else:
                times.append(call.run(env, began, timed))
        return {out.name: env[out.name, HOST] for out in self.graph.outputs}, times

    def run_replay(self, replay: Replay, feeds: dict[str, Any], began: float, timed: bool
                   ) -> tuple[dict[str, np.ndarray], list[NodeTime]]:
        """The recording replayed: one time for the whole launch, on the device's clock
        when ``timed`` (the history shares it among the replay's nodes)."""
        outputs, start, ms, marks = replay.run(feeds, timed)
        return outputs, [NodeTime(replay.name, REPLAYED, replay.device.id, "native", ms,
                                  (start - began) * 1e3,
                                  "host" if replay.clock is None else "submitted", marks)]

    def replay_for(self, feeds: dict[str, Any]) -> Replay | None:
        """The recording this run replays (made on the first ask, after the run that warms
        up handles and caches), or None: node by node when profiling, when the plan cannot
        be recorded, or when the feeds differ in shape from the recorded ones."""
        if not self.graphs or self.profile or self.runs == 0:
            return None
        if self._replay is None:
            self._replay = record(self, feeds) or False
        return self._replay if self._replay and self._replay.matches(feeds) else None

    def energy_span(self) -> Span:
        """The meters of the devices this plan runs on, each counter read once."""
        if self._span is None:
            self._span = Span.of(self.devices[d] for d in self.used_devices())
        return self._span

    def used_devices(self) -> list[str]:
        return list(dict.fromkeys(d.device for d in self.decisions))

    def remember(self, feeds: dict[str, Any], times: list[NodeTime]) -> None:
        """Feed measured node times to the history: real devices only (a simulated
        device's wall clock is the host's), after the first run (it compiles), for the
        first runs only (enough for a median), and when the inputs have the shapes planned
        for."""
        planned = {v.name: tensor_info(self.graph, v.name) for v in self.graph.inputs}
        if any(info is None or tuple(np.shape(feeds[name])) != info.shape
               for name, info in planned.items()):
            return
        for node, device, ms, shared in self.node_times(times):
            if not device.simulated:
                key, work = self.history_entry(node, device)
                self.history.record(key, node.op_type, device, work, ms, shared)
        self.history.save()

    def history_entry(self, node: Node, device: Device) -> tuple[str, Work]:
        """A node's history key and work, worked out once per plan: runs are recorded at
        the planned shapes only, so neither changes (hashing the key each run cost ~25 µs
        a node)."""
        found = self._entries.get((node.name, device.id))
        if found is None:
            work = node_work(node, self.graph)
            found = self._entries[node.name, device.id] = (
                node_key(node, self.graph, device, work), work)
        return found

    def learning_power(self) -> bool:
        """Whether this run is in the window that learns the devices' busy power (opened
        on the first recorded run, read once at each end)."""
        if self.history is None or self._window is False or not 0 < self.runs <= LEARN_RUNS:
            return False
        if self._window is None:
            self._window = Window.open(self.devices[d] for d in self.used_devices()) or False
        return bool(self._window)

    def learn_power(self, times: list[NodeTime]) -> None:
        """Busy time into the window; once it holds ``LEARN_BUSY_MS`` of computing over
        ``LEARN_WALL_MS``, each counter's busy watts into the history (not below idle: that
        is noise, not a busy draw). A key names one piece of silicon, so its first device's
        idle power is the silicon's. Gives up after ``LEARN_RUNS`` runs."""
        for t in times:
            self._window.add(t.device, t.ms)
        idle = {name: device.profile.idle_w for name, device in self.devices.items()}
        found = self._window.watts(idle, LEARN_BUSY_MS, LEARN_WALL_MS)
        if found is None:
            if self.runs >= LEARN_RUNS:
                self._window = False
            return
        self._window = False
        for names, watts in found:
            if watts > self.devices[names[0]].profile.idle_w:
                for name in names:
                    self.history.record_power(self.devices[name], watts)
        self.history.save()

    def node_times(self, times: list[NodeTime]) -> Iterator[tuple[Node, Device, float, bool]]:
        """(node, device, ms, shared) per node run; a subgraph's or a replay's time is shared
        among its members in proportion to their modeled times (TVM runs them as one
        program, a CUDA graph replays them as one launch)."""
        nodes = {n.name: n for n in self.graph.nodes}
        modeled = {d.node: d.ms for d in self.decisions}
        together = dict(self.units)  # what ran as one piece: subgraphs, a replay
        if self._replay:
            together[self._replay.name] = self._replay.nodes
        for t in times:
            members = together.get(t.node) or ([t.node] if t.node in nodes else [])
            weights = [max(modeled.get(m, 0.0), 0.0) for m in members]
            total = sum(weights)
            for name, weight in zip(members, weights, strict=True):
                share = weight / total if total > 0 else 1 / len(members)
                yield nodes[name], self.devices[t.device], t.ms * share, len(members) > 1

    def transfer(self, value: Any, source: str, target: str) -> Any:
        if not hasattr(value, "dtype"):
            return value  # sequences, maps and optionals live on the host (host-memory tiers)
        host = value if source == HOST else self.devices[source].impl.to_host(
            self.devices[source], value, np.shape(value), value.dtype)
        if target == HOST:
            return host
        device = self.devices[target]
        return device.impl.from_host(device, np.asarray(host))

    def check_feeds(self, feeds: dict[str, Any]) -> dict[str, Any]:
        wanted = {v.name: v for v in self.graph.inputs}
        weights = sorted(set(feeds) & set(self.graph.constants))
        if weights:
            raise ModelError(f"inputs {', '.join(weights)} are initializers (weights) of the "
                             "model; hetero does not let a feed override them")
        unknown, missing = sorted(set(feeds) - set(wanted)), sorted(set(wanted) - set(feeds))
        if unknown or missing:
            raise ModelError(f"inputs: expected {', '.join(sorted(wanted)) or 'none'}; "
                             + (f"unknown {', '.join(unknown)}; " if unknown else "")
                             + (f"missing {', '.join(missing)}" if missing else ""))
        return {name: checked_feed(value, wanted[name]) for name, value in feeds.items()}

    # -- reporting (hetero.planview) -----------------------------------------------------------
    def report(self) -> str:
        """One line per node: where it runs, on which tier, its estimate, its last measured
        run and why (fallbacks marked); then the estimate and the baselines."""
        return planview.report(self)

    def to_json(self) -> str:
        """Placement, estimate (with provenance and energy parts), baselines, devices,
        decisions, spans and the last run, as JSON."""
        return json.dumps(planview.as_dict(self), indent=2)

    def save_trace(self, path: str | Path) -> Path:
        """Chrome trace JSON (opens in Perfetto): the estimated timeline and the last run."""
        return planview.save_trace(self, path)

    def plot(self, path: str | Path) -> Path:
        """The estimated timeline per device and the energy breakdown (needs matplotlib)."""
        return planview.plot(self, path)


def checked_feed(value: Any, want: Any) -> Any:
    """A feed as the array its declared input expects (dtype, rank, static dimensions);
    sequences and other non-tensor inputs (no declared dtype) pass as given."""
    if want.dtype is None:
        return value
    array = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if array.dtype != want.dtype:
        if isinstance(value, np.ndarray | np.generic):
            raise ModelError(f"input {want.name!r} is {array.dtype}; the model declares "
                             f"{want.dtype}: convert it with .astype(np.{want.dtype})")
        array = array.astype(want.dtype)  # Python numbers and lists take the declared type
    if want.shape is not None:
        fixed = [(i, d) for i, d in enumerate(want.shape) if isinstance(d, int) and d > 0]
        if array.ndim != len(want.shape) or any(array.shape[i] != d for i, d in fixed):
            raise ModelError(f"input {want.name!r} has shape {array.shape}; the model declares "
                             f"{tuple(d if d else '?' for d in want.shape)}")
    return array


def compile(model: Any, devices: list[Device] | None = None, objective: str = "energy",
            max_latency_ms: float | None = None, placement: dict[str, str] | None = None,
            strict: bool = False, passes: Sequence[str] | None = None,
            max_energy_mj: float | None = None, strategy: str = "search",
            history: History | None = None) -> Plan:
    """Place ``model``'s nodes on ``devices`` (default: every device, one per piece of
    hardware: cpu:0 rather than also TVM's or OpenCL's view of the same cores) and prepare
    each node.

    Placement minimises ``objective`` ("energy", "latency" or "edp") within the caps and
    each device's memory (``hetero.schedule``); ``placement`` pins nodes, and a pin a device
    cannot honour falls back (recorded) unless ``strict``. ``strategy`` "single-device" or
    "priority" gives a baseline instead of the search. ``history`` (default: the one in
    ``$HETERO_CACHE_DIR``) supplies measured times and receives the plan's runs.

    ``passes`` names the graph passes to run (default: all of ``hetero.graph.passes``;
    ``()`` for none). Pins name nodes as the model does; pinning a node that a pass removed
    or merged into another is refused with the reason.
    """
    import hetero
    from hetero.graph.passes import optimise

    goal = Goal(objective, max_latency_ms, max_energy_mj)  # a bad objective fails first

    original = model.graph() if hasattr(model, "graph") else model
    graph = optimise(original, passes)
    gone = set(placement or {}) & {n.name for n in original.nodes} - {n.name for n in graph.nodes}
    if gone:
        raise UnsupportedOp(f"placement pins {', '.join(sorted(gone))}, which the graph passes "
                            "removed or merged into a neighbour; pin that node, or compile "
                            "with passes=() to keep every node")
    chosen = list(devices) if devices is not None else one_per_silicon(hetero.devices())
    by_id = {d.id: d for d in chosen}
    history = history if history is not None else History()
    planning = [calibrated(d, history) for d in chosen]  # busy power as measured, if it was
    placed = place(graph, planning, placement, strict, goal, CostModel(history), strategy)
    placed.chosen.estimate.objective = objective
    for base in placed.baselines:
        base.estimate.objective = objective
    plan_units = units(graph, placed.decisions, by_id)
    prepared, resident = prepare(graph, plan_units, by_id)
    return Plan(graph, by_id, placed.decisions, steps(graph, plan_units), prepared, resident,
                placed.chosen, placed.baselines, history,
                units={u.node.name: [m.name for m in u.members] for u in plan_units if u.members},
                planned={d.id: d for d in planning})


def prepare(graph: Graph, plan_units: list[Unit], by_id: dict[str, Device]
            ) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    """Each step built once (a node's evaluator or kernel, a subgraph's compiled program),
    and the weights its device reads moved there once."""
    prepared, resident = {}, {}
    for unit in plan_units:
        node, device = unit.node, by_id[unit.decision.device]
        if unit.members:  # weights travel inside the compiled unit
            prepared[node.name] = device.impl.prepare_subgraph(
                device, unit.members, graph, node.inputs, node.outputs)
            continue
        prepared[node.name] = device.impl.prepare_node(device, node, graph)
        for name in [*node.inputs, *node.outer]:
            if name in graph.constants and (name, device.id) not in resident:
                value = graph.constants[name]  # a folded sequence stays a host list
                resident[name, device.id] = device.impl.from_host(device, value) \
                    if isinstance(value, np.ndarray) else value
    for out in graph.outputs:
        if out.name in graph.constants:
            resident[out.name, HOST] = graph.constants[out.name]
    return prepared, resident


def steps(graph: Graph, plan_units: list[Unit]) -> list[Step]:
    """Node runs in graph order, each preceded by the transfers that bring its inputs; then
    the transfers that bring the outputs back to the caller."""
    # where each value is, first holder first: copies come from where it was made, as in
    # the timeline (a dict, so the choice does not depend on hashing)
    where: dict[str, dict[str, None]] = {v.name: {HOST: None} for v in graph.inputs}
    out: list[Step] = []
    for unit in plan_units:
        node, decision = unit.node, unit.decision
        for name in dict.fromkeys(n for n in [*node.inputs, *node.outer] if n):
            if name in graph.constants:
                continue  # resident since compile
            held = where.setdefault(name, {})
            if decision.device not in held:
                out.append(Step("transfer", decision.device, value=name, source=next(iter(held))))
                held[decision.device] = None
        out.append(Step("run", decision.device, node=node, tier=decision.tier))
        for name in node.outputs:
            if name:
                where[name] = {decision.device: None}
    for value in graph.outputs:
        held = where.get(value.name, {})
        if value.name not in graph.constants and HOST not in held:
            out.append(Step("transfer", HOST, value=value.name, source=next(iter(held))))
    return out

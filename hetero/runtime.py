"""Runs a placed graph: node steps on their devices, explicit transfers between memory
domains, intermediates freed as soon as their last reader has run.

``hetero.compile`` builds a ``Plan`` (the pipeline in ``hetero.plan``); ``plan.run``
executes it and records where and how long each node ran (measured), which
``hetero.history.Feedback`` feeds to the cost model's history for the devices that are real.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hetero import progress, threads
from hetero.backend import Clock
from hetero.device import HOST, Device
from hetero.energy import Energy, Span
from hetero.errors import DeviceLost, DeviceOutOfMemory, HeteroError, ModelError, RunError
from hetero.graph.ir import Graph, Node
from hetero.history import Feedback, History
from hetero.limits import deadline, deadline_passed, overdue
from hetero.plan import view
from hetero.replay import Replay, record

if TYPE_CHECKING:
    from hetero.plan.objective import PlanEstimate
    from hetero.plan.pipeline import Pipeline, Request
    from hetero.plan.place import Decision
    from hetero.plan.score import Found


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

    def run(self, env: dict, began: float, timed: bool = False,
            ledger: Ledger | None = None) -> NodeTime:
        """Run the node; ``timed``: between marks of the device's clock, where it has one;
        ``ledger``: count what it leaves on its device (shapes unknown at compile time)."""
        if not self.device.alive:  # never run silently where the device has gone
            raise lost(self.device, f"run {self.step.node.label} on it")
        inputs = {name: env[key] for name, key in self.inputs}
        clock = self.clock if timed else None
        first = clock.mark() if clock is not None else None
        start = time.perf_counter()
        try:
            outputs = self.device.impl.run_node(self.device, self.prepared, inputs)
        except DeviceLost as exc:  # the backend found the device gone: say which
            exc.device = exc.device or self.device
            raise
        except HeteroError:
            raise
        except Exception as exc:  # numpy's, a kernel's, a backend's: name the node
            raise node_failure(self.step.node, self.device, exc) from exc
        elapsed = (time.perf_counter() - start) * 1e3
        last = clock.mark() if clock is not None else None
        for key, value in zip(self.outputs, outputs, strict=False):
            if key is not None:
                env[key] = value
                if ledger is not None:
                    ledger.charge(key[1], value, self.step.node.label)
        for key in self.frees:
            value = env.pop(key, None)
            if ledger is not None and value is not None:
                ledger.release(key[1], value)
        node = self.step.node
        timing = "host" if self.clock is None else "submitted"
        return NodeTime(node.name, node.op_type, self.step.device, self.step.tier, elapsed,
                        (start - began) * 1e3, timing,
                        None if clock is None else (clock, first, last))


def lost(device: Device, doing: str) -> DeviceLost:
    """The error a plan raises where a device it uses has gone: what to do instead."""
    return DeviceLost(f"device {device.id} ({device.name}) was removed; cannot {doing}. "
                      "Re-plan on the devices left (plan.replan(hetero.devices())), or run "
                      "through a hetero.Session, which re-plans as devices come and go", device)


def node_failure(node: Node, device: Device, exc: Exception) -> HeteroError:
    """The hetero error for a node that raised something else: which node, where, why."""
    if isinstance(exc, MemoryError):
        why = str(exc) or "the allocation failed"
        return DeviceOutOfMemory(f"{node.label} ran out of memory on {device.id} ({why}); "
                                 "feed smaller inputs or place it on a device with more memory")
    return RunError(f"{node.label} failed on {device.id}: {type(exc).__name__}: {exc}. "
                    "The model passed the ONNX checker, so its inputs at run time (shapes, "
                    "values) are the likely cause", node.name, device.id)


def nbytes(value: Any) -> int:
    return int(getattr(value, "nbytes", 0) or 0)


class Ledger:
    """Live bytes per device during one run of a plan whose shapes were symbolic at compile
    time: the planner could not check its memory, so each result is counted as it lands
    and one that overflows its device's capacity ends the run (simulated devices included)."""

    def __init__(self, plan: Plan, env: dict) -> None:
        self.devices = {i: d for i, d in plan.devices.items() if d.memory_bytes > 0}
        self.live: dict[str, int] = dict.fromkeys(self.devices, 0)
        for (_, where), value in env.items():
            if where in self.live:
                self.live[where] += nbytes(value)

    def charge(self, where: str, value: Any, doing: str) -> None:
        if where not in self.live:
            return
        self.live[where] += nbytes(value)
        device = self.devices[where]
        if self.live[where] > device.memory_bytes:
            raise DeviceOutOfMemory(
                f"{doing} leaves {self.live[where]:,} bytes live on {device.id}"
                f"{' (simulated)' if device.simulated else ''}, over its "
                f"{device.memory_bytes:,}; the model's shapes were symbolic at compile time, "
                "so these inputs were too large for the plan: feed smaller ones or re-plan on "
                "devices with more memory")

    def release(self, where: str, value: Any) -> None:
        if where in self.live:
            self.live[where] -= nbytes(value)


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
    pipeline: Pipeline | None = field(default=None, repr=False)  # the stages it came from
    request: Request | None = None  # what it was compiled for: goal, pins, strategy
    _feedback: Feedback | None = field(default=None, init=False, repr=False)
    #: measured ms ``warmup`` took (compiling, preparing), None until it has run
    warmup_ms: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.calls = dispatches(self)
        self.using = [self.devices[d] for d in dict.fromkeys(s.device for s in self.steps)
                      if d in self.devices]  # checked alive before every run
        #: shapes unknown at compile time: memory is counted as each run goes (``Ledger``)
        self.symbolic = any(v.shape is None or not all(isinstance(d, int) and d >= 0
                                                       for d in v.shape)
                            for v in self.graph.values.values() if v.dtype is not None)

    @property
    def placement(self) -> dict[str, str]:
        """{node name: device id}"""
        return {d.node: d.device for d in self.decisions}

    @property
    def estimate(self) -> PlanEstimate:
        """Latency, energy and bytes moved under the cost model, each span with its source."""
        return self.chosen.estimate

    # -- running ------------------------------------------------------------------------------
    @property
    def cold(self) -> bool:
        """Whether the next run is the plan's first with nothing warmed up: it compiles,
        so its times are not steady state (the history skips them)."""
        return self.runs == 0 and self.warmup_ms is None

    @property
    def node_calls(self) -> int:
        """How many node calls a run makes: what a first run's progress counts."""
        return sum(call is not None for call in self.calls)

    @property
    def settled(self) -> bool:
        """Whether the next run is steady state: not a cold first run, past the runs that
        record node times, and no busy-power window open (those runs time each node apart
        and may write the history)."""
        if self.cold:
            return False
        feedback = self.feedback()
        return feedback is None or not (feedback.recording(self.runs, False) or feedback.window)

    def warmup(self, feeds: dict[str, Any] | None = None) -> float:
        """Do now what a first run does lazily (numba compiles each node's kernels, backends
        build launch tables, a replay is recorded), so the next run is steady state.

        Runs once on ``feeds``, by default synthetic inputs of the planned shapes (symbolic
        dimensions as 1); records nothing in the history. Returns the measured ms it took
        (``warmup_ms``); later calls return that at once, and 0.0 after a run."""
        if self.warmup_ms is not None:
            return self.warmup_ms
        if self.runs:
            self.warmup_ms = 0.0  # its first run did that work
            return 0.0
        checked = self.check_feeds(synthetic_feeds(self.graph) if feeds is None else feeds)
        began = time.perf_counter()
        with progress.step("compiling kernels for the first run",
                           total=self.node_calls) as advance:
            self.run_steps(checked, began, False, advance)
            self.warmup_ms = (time.perf_counter() - began) * 1e3  # warm: replay_for records
            self.replay_for(checked)
        self.warmup_ms = (time.perf_counter() - began) * 1e3
        return self.warmup_ms

    def run(self, feeds: dict[str, Any], timeout_ms: float | None = None
            ) -> dict[str, np.ndarray]:
        """Run the graph on ``feeds`` ({input name: array}); {output name: NumPy array}.

        ``timeout_ms`` bounds the run: it ends with DeadlineExceeded once that has passed
        (checked between nodes and between a Loop's iterations; a node already running on
        a device finishes first)."""
        checked = self.check_feeds(feeds)
        with deadline(timeout_ms), threads.sharing():
            return self._run(checked, feeds)

    def _run(self, checked: dict[str, Any], feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        for device in self.using:
            if not device.alive:
                raise lost(device, "run this plan, which places work on it")
        feedback, cold = self.feedback(), self.cold
        recording = feedback is not None and feedback.recording(self.runs, cold)
        learning = feedback is not None and feedback.learning(self.runs, cold)
        timed = self.profile or recording or learning
        replay = self.replay_for(checked)  # recorded before the clocks start
        meters = self.energy_span() if self.profile else Span()  # a read can cost ms (NVML)
        began = time.perf_counter()
        meters.start()
        if replay is not None:
            outputs, times = self.run_replay(replay, checked, began, timed)
        elif cold:  # compiles as it goes: seconds a model, so shown (plan.warmup does it apart)
            with progress.step("first run: compiling kernels as it goes",
                               total=self.node_calls) as step:
                outputs, times = self.run_steps(checked, began, timed, step)
        else:
            outputs, times = self.run_steps(checked, began, timed)
        self.last_run, self.last_energy = times, meters.stop()
        read_clocks(times)
        self.runs += 1
        if recording:
            feedback.remember(feeds, times, self.together(),
                              last=not feedback.recording(self.runs, False))
        if learning:
            feedback.learn_power(times, self.runs)
        return outputs

    def run_steps(self, feeds: dict[str, Any], began: float, timed: bool,
                  advance: progress.Advance | None = None
                  ) -> tuple[dict[str, np.ndarray], list[NodeTime]]:
        """Node by node: each step's copies and node calls, in order (``advance``: called
        after each node, for a progress bar)."""
        env: dict[tuple[str, str], Any] = dict(self.resident)  # (value, device) -> buffer
        for name, array in feeds.items():
            env[name, HOST] = array
        times = []
        ledger = Ledger(self, env) if self.symbolic else None
        for step, call in zip(self.steps, self.calls, strict=True):
            if call is None:
                if deadline_passed():
                    raise overdue(f"copying {step.value!r} to {step.device}")
                value = self.transfer(env[step.value, step.source], step.source, step.device)
                env[step.value, step.device] = value
                if ledger is not None:
                    ledger.charge(step.device, value, f"copying {step.value!r}")
            else:
                if deadline_passed():
                    raise overdue(f"running {step.node.label}")
                times.append(call.run(env, began, timed, ledger))
                if advance is not None:
                    advance()
        return {out.name: env[out.name, HOST] for out in self.graph.outputs}, times

    def run_replay(self, replay: Replay, feeds: dict[str, Any], began: float, timed: bool
                   ) -> tuple[dict[str, np.ndarray], list[NodeTime]]:
        """The recording replayed: one time for the whole launch, on the device's clock
        when ``timed`` (the history shares it among the replay's nodes)."""
        outputs, start, ms, marks = replay.run(feeds, timed)
        return outputs, [NodeTime(replay.name, view.REPLAYED, replay.device.id, "native", ms,
                                  (start - began) * 1e3,
                                  "host" if replay.clock is None else "submitted", marks)]

    def replay_for(self, feeds: dict[str, Any]) -> Replay | None:
        """The recording this run replays (made on the first ask, after the run or warmup
        that warms up handles and caches), or None: node by node when profiling, when the
        plan cannot be recorded, or when the feeds differ in shape from the recorded ones."""
        if not self.graphs or self.profile or self.cold:
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

    def feedback(self) -> Feedback | None:
        """What the runs teach ``history`` (none when it is None)."""
        if self.history is None:
            return None
        if self._feedback is None or self._feedback.history is not self.history:
            self._feedback = Feedback(self.history, self.graph, self.devices,
                                      {d.node: d.ms for d in self.decisions},
                                      self.used_devices())
        return self._feedback

    def together(self) -> dict[str, list[str]]:
        """What ran as one piece, by the name its time is under: subgraphs, a replay."""
        together = dict(self.units)
        if self._replay:
            together[self._replay.name] = self._replay.nodes
        return together

    # -- re-planning (hetero.plan.pipeline) ------------------------------------------------------
    def replan(self, devices: list[Device]) -> Plan:
        """This model on another set of devices, from the stages already computed: the
        optimised graph, the capability and cost rows of devices seen before, and the steps
        prepared on devices that stay (those of devices that left are released). The
        placement is searched by the heuristics, from this plan's placement, in
        milliseconds; ``hetero.compile`` proves optimality where it can."""
        if self.pipeline is None:
            raise ModelError("this plan was not made by hetero.compile; compile it again")
        return self.pipeline.replan(self, list(devices))

    def transfer(self, value: Any, source: str, target: str) -> Any:
        if not hasattr(value, "dtype"):
            return value  # sequences, maps and optionals live on the host (host-memory tiers)
        host = value if source == HOST else self.devices[source].impl.to_host(
            self.devices[source], value, np.shape(value), value.dtype)
        if target == HOST:
            return host
        device = self.devices[target]
        if not device.alive:
            raise lost(device, "copy a value onto it")
        return device.impl.from_host(device, np.asarray(host))

    def check_feeds(self, feeds: dict[str, Any]) -> dict[str, Any]:
        wanted = {v.name: v for v in self.graph.inputs}
        checked_mapping(feeds, wanted)
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

    # -- reporting (hetero.plan.view) -----------------------------------------------------------
    def report(self, width: int = 180) -> str:
        """One line per node: where it runs, on which tier, its estimate, its last measured
        run and why (fallbacks marked); then the estimate and the baselines; ``width``
        columns wide (the command line passes its terminal's)."""
        return view.report(self, width)

    def to_json(self) -> str:
        """Placement, estimate (with provenance and energy parts), baselines, devices,
        decisions, spans and the last run, as JSON."""
        return json.dumps(view.as_dict(self), indent=2)

    def save_trace(self, path: str | Path) -> Path:
        """Chrome trace JSON (opens in Perfetto): the estimated timeline and the last run."""
        return view.save_trace(self, path)

    def plot(self, path: str | Path) -> Path:
        """The estimated timeline per device and the energy breakdown (needs matplotlib)."""
        return view.plot(self, path)


def checked_mapping(feeds: Any, wanted: Collection[str] = ()) -> Mapping[str, Any]:
    """``feeds`` if it is {input name: value}; else a ModelError showing the form
    (``wanted``: the input names, for the example)."""
    if not isinstance(feeds, Mapping):
        example = ", ".join(f"{n!r}: array" for n in wanted) or "'x': array"
        raise ModelError(f"feeds must be a mapping {{input name: array}}, not "
                         f"{type(feeds).__name__}; e.g. plan.run({{{example}}})")
    odd = [repr(k) for k in feeds if not isinstance(k, str)]
    if odd:
        raise ModelError(f"feeds are keyed by input name (a str); got {', '.join(odd)}")
    return feeds


def synthetic_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random inputs of the declared shapes and dtypes (symbolic dimensions as 1: the
    shapes a plan is costed and its history recorded at), for runs that need no real data."""
    rng = np.random.default_rng(seed)
    return {value.name: synthetic_feed(value, rng) for value in graph.inputs}


def synthetic_feed(value: Any, rng: np.random.Generator) -> np.ndarray:
    """One declared input as seeded random data: normal floats, small integers, booleans."""
    if value.dtype is None:
        raise ModelError(f"input {value.name!r} has no declared tensor type (a sequence or "
                         "map), so hetero cannot make an example of it; give its data, e.g. "
                         f"plan.warmup({{{value.name!r}: ...}}) or --input {value.name}=FILE.npy")
    shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in value.shape or ())
    data = rng.standard_normal(shape) if value.dtype.kind == "f" else \
        rng.integers(0, 2 if value.dtype.kind == "b" else 10, shape)
    return data.astype(value.dtype)


def checked_feed(value: Any, want: Any) -> Any:
    """A feed as the array its declared input expects (dtype, rank, static dimensions);
    sequences and other non-tensor inputs (no declared dtype) pass as given."""
    if want.dtype is None:
        return value
    try:
        array = np.asarray(value) if not isinstance(value, np.ndarray) else value
        if array.dtype != want.dtype and not isinstance(value, np.ndarray | np.generic):
            array = array.astype(want.dtype)  # Python numbers and lists take the declared type
    except (ValueError, TypeError, OverflowError) as exc:  # ragged lists, text, objects
        raise ModelError(f"input {want.name!r}: cannot make a {want.dtype} array of the "
                         f"{type(value).__name__} given ({exc}); pass a NumPy array") from exc
    if array.dtype != want.dtype:
        raise ModelError(f"input {want.name!r} is {array.dtype}; the model declares "
                         f"{want.dtype}: convert it with .astype(np.{want.dtype})")
    if want.shape is not None:
        fixed = [(i, d) for i, d in enumerate(want.shape) if isinstance(d, int) and d > 0]
        if array.ndim != len(want.shape) or any(array.shape[i] != d for i, d in fixed):
            raise ModelError(f"input {want.name!r} has shape {array.shape}; the model declares "
                             f"{tuple(d if d else '?' for d in want.shape)}")
    return array

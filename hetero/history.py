"""Measured node times and busy power on disk, and what a plan's runs feed into them.

The cost model reads the history (``hetero.cost.CostModel``); a plan's first runs write it:
each node's measured time on a real device (``SAMPLES_KEPT`` runs), and the busy power a
device's energy counter shows over a window of runs (``Feedback``).
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hetero.cache import cache_dir, load_json, save_json
from hetero.cost import Estimate, node_key, node_work, tensor_info
from hetero.device import Device
from hetero.energy import Window
from hetero.queue import Work

SAVE_EVERY_S = 5.0  # recorded samples reach the disk this often at most, and at exit
SAMPLES_KEPT = 16  # measured times kept per key: enough for a median, bounded on disk
#: measured runs of a key before their median is its estimate: the median of 3 or more
#: ignores one outlier (a stall, another process); with fewer the cost model is used
MIN_RUNS = 3
MIN_FIT_POINTS = 3  # distinct sizes of one (op, device) before a regression is trusted
#: one power sample from a window of runs, read at its two ends, once the devices computed
#: LEARN_BUSY_MS in it and LEARN_WALL_MS have passed: RAPL moves every ~1 ms, but an H200's
#: NVML counter moved every 100 ms in steps of ~13 J (2026-12-04), so a window of 1 s errs
#: by a step at most (~10%, half that on average) where a 2 ms ResNet-50 run saw nothing.
#: The window closes unfinished after LEARN_RUNS runs (a plan that barely computes; a
#: replayed ResNet-50 takes ~420 runs); runs read no counter of their own unless profiled.
LEARN_BUSY_MS = 100.0
LEARN_WALL_MS = 1000.0
LEARN_RUNS = 100_000
#: history.json's layout (``hetero.cache.mismatch``): a file of another layout is discarded
#: and the history starts empty, rather than failing every plan that reads it
SCHEMA = {"entries?": {str: {"op": str, "device": str, "flops": float, "bytes": float,
                             "ms": [float], "shared?": bool}},
          "power?": {str: [float]}}


def profile_key(device: Device) -> str:
    """What measurements are kept per: the backend and the device model, not the index."""
    return f"{device.backend}/{device.profile.name}"


def calibrated(device: Device, history: History) -> Device:
    """The device as the planner should see it: its busy power as its energy counter
    measured it (median of runs), where the history has it; else as given."""
    found = history.power(device)
    if found is None:
        return device
    watts, runs = found
    watts = max(watts, device.profile.idle_w)  # busy never draws less than idle
    source = (f"measured: median of {runs} run{'s' * (runs != 1)}' energy counter over busy "
              "time (idle power as modeled)")
    profile = replace(device.profile, active_w=round(watts, 3),
                      sources={**device.profile.sources, "active_w": source})
    return replace(device, profile=profile)


SHARED: dict[Path, History] = {}  # History.default's instance per cache folder
SHARED_LOCK = threading.Lock()
#: every History in this process, so that samples not yet saved are written at exit
UNSAVED: weakref.WeakSet[History] = weakref.WeakSet()


@atexit.register
def flush_all() -> None:
    for history in list(UNSAVED):
        with contextlib.suppress(OSError):  # a cache folder gone at exit: samples lost
            history.flush()


class History:
    """Measured node times on disk (JSON, ``$HETERO_CACHE_DIR/history.json``): samples per
    (op, shapes, dtype, device profile), and the sizes needed to fit unseen shapes."""

    def __init__(self, path: Path | None = None):
        self.path = path or cache_dir() / "history.json"
        self._lock = threading.Lock()
        stored = load_json(self.path, SCHEMA) or {}
        self._entries: dict[str, dict[str, Any]] = stored.get("entries", {})
        self._power: dict[str, list[float]] = stored.get("power", {})  # busy watts per model
        #: samples recorded per device model since load: a cost row worked out at another
        #: count is stale (``hetero.plan.costs``)
        self._versions: dict[str, int] = {}
        self._unsaved = False
        self._saved_at = time.monotonic()
        UNSAVED.add(self)

    @classmethod
    def default(cls) -> History:
        """The history in ``$HETERO_CACHE_DIR``, one instance per folder in a process: a
        compile sees the samples this process recorded, saved to disk yet or not."""
        path = cache_dir() / "history.json"
        with SHARED_LOCK:
            found = SHARED.get(path)
            if found is None:
                found = SHARED[path] = cls(path)
            return found

    def version(self, device: Device) -> int:
        """How many samples of this device model were recorded since the history loaded."""
        return self._versions.get(profile_key(device), 0)

    def _recorded(self, device: Device) -> None:
        key = profile_key(device)
        self._versions[key] = self._versions.get(key, 0) + 1

    def record(self, key: str, op: str, device: Device, work: Work, ms: float,
               shared: bool = False) -> None:
        """One sample; ``shared``: the node's share of a subgraph's measured time."""
        with self._lock:
            entry = self._entries.setdefault(key, {
                "op": op, "device": profile_key(device),
                "flops": work.flops, "bytes": work.bytes, "ms": []})
            entry["ms"] = [*entry["ms"], float(ms)][-SAMPLES_KEPT:]
            entry["shared"] = entry.get("shared", False) or shared  # any sample a share
            self._recorded(device)

    def record_power(self, device: Device, watts: float) -> None:
        """One run's busy power on this device model, from its energy counter."""
        with self._lock:
            samples = self._power.setdefault(profile_key(device), [])
            self._power[profile_key(device)] = [*samples, float(watts)][-SAMPLES_KEPT:]
            self._recorded(device)

    def power(self, device: Device) -> tuple[float, int] | None:
        """(median busy watts, runs) measured on this device model, or None."""
        samples = self._power.get(profile_key(device))
        return (float(np.median(samples)), len(samples)) if samples else None

    def save(self) -> None:
        with self._lock:
            save_json(self.path, {"format": 1, "entries": self._entries,
                                   "power": self._power})
            self._unsaved, self._saved_at = False, time.monotonic()

    def changed(self, now: bool = False) -> None:
        """Samples were recorded: saved at once when ``now``, else at most every
        ``SAVE_EVERY_S`` and at exit. Writing the file on every recorded run cost 2-30 ms
        a run (hash, index, rename), paid inside the runs being measured."""
        if not self._unsaved:  # the clock starts at the first sample not on disk
            self._unsaved, self._saved_at = True, time.monotonic()
        if now or time.monotonic() - self._saved_at >= SAVE_EVERY_S:
            self.save()

    def flush(self) -> None:
        """Write what is recorded but not yet saved."""
        if self._unsaved:
            self.save()

    def runs(self, key: str) -> int:
        """How many measured runs (steady state: no first runs) the history keeps of a key."""
        entry = self._entries.get(key)
        return len(entry["ms"]) if entry else 0

    def exact(self, key: str) -> Estimate | None:
        """The median of the key's kept runs, once there are ``MIN_RUNS``: a median, not a
        mean, so one stalled run among them does not move it."""
        entry = self._entries.get(key)
        runs = len(entry["ms"]) if entry else 0
        if runs < MIN_RUNS:
            return None
        what = "its share (by modeled time) of its subgraph's time, " \
            if entry.get("shared") else ""
        return Estimate(float(np.median(entry["ms"])),
                        f"measured: {what}median of {runs} runs of this op, shape and device",
                        runs)

    def fitted(self, op: str, device: Device, work: Work) -> Estimate | None:
        """ms = a + b * flops + c * bytes over this op's measured sizes on this device model
        (non-negative terms; each size's median, once it has ``MIN_RUNS``); None until
        ``MIN_FIT_POINTS`` distinct sizes exist."""
        name = profile_key(device)
        with self._lock:  # a plan on another thread may be recording a new key
            entries = list(self._entries.values())
        points = [(e["flops"], e["bytes"], float(np.median(e["ms"])))
                  for e in entries if e["op"] == op and e["device"] == name
                  and len(e["ms"]) >= MIN_RUNS]
        if len({(f, b) for f, b, _ in points}) < MIN_FIT_POINTS:
            return None
        a = np.array([[1.0, f, b] for f, b, _ in points])
        y = np.array([ms for _, _, ms in points])
        coef = np.clip(np.linalg.lstsq(a, y, rcond=None)[0], 0.0, None)
        ms = float(coef @ [1.0, work.flops, work.bytes])
        return Estimate(ms, f"modeled: regression over {len(points)} measured sizes of {op} on "
                            f"{name}")




class Feedback:
    """What one plan's runs teach the history: each node's measured time on real devices
    over its first runs at the planned shapes, and its devices' busy power over a window
    of runs (opened on the first recorded run, each counter read once at each end)."""

    def __init__(self, history: History, graph: Any, devices: dict[str, Device],
                 modeled: dict[str, float], used: list[str]):
        self.history, self.graph, self.devices = history, graph, devices
        self.modeled, self.used = modeled, used  # node -> modeled ms; devices that run nodes
        self.nodes = {n.name: n for n in graph.nodes}
        self.window: Window | bool | None = None
        self.entries: dict[tuple[str, str], tuple[str, Work]] = {}

    @staticmethod
    def recording(runs: int, cold: bool) -> bool:
        """For the first runs only (enough for a median), never a ``cold`` one: a plan's
        first run without ``plan.warmup`` compiles, which is not what a run costs."""
        return not cold and runs <= SAMPLES_KEPT

    def learning(self, runs: int, cold: bool) -> bool:
        """Whether this run is in the window that learns the devices' busy power (never a
        cold first run: compiling is not busy power)."""
        if self.window is False or cold or runs > LEARN_RUNS:
            return False
        if self.window is None:
            self.window = Window.open(self.devices[d] for d in self.used) or False
        return bool(self.window)

    def remember(self, feeds: dict[str, Any], times: list[Any],
                 together: dict[str, list[str]], last: bool = False) -> None:
        """Measured node times into the history: real devices only (a simulated device's
        wall clock is the host's), when the inputs have the shapes planned for; saved to
        disk now when this is the ``last`` run recorded, else soon (``History.changed``)."""
        for value in self.graph.inputs:
            info = tensor_info(self.graph, value.name)
            if info is None or tuple(np.shape(feeds[value.name])) != info.shape:
                return
        recorded = False
        for node, device, ms, shared in self.node_times(times, together):
            if not device.simulated:
                key, work = self.entry(node, device)
                self.history.record(key, node.op_type, device, work, ms, shared)
                recorded = True
        if recorded:
            self.history.changed(now=last)

    def entry(self, node: Any, device: Device) -> tuple[str, Work]:
        """A node's history key and work, worked out once per plan: runs are recorded at
        the planned shapes only, so neither changes (hashing the key each run cost ~25 µs
        a node)."""
        found = self.entries.get((node.name, device.id))
        if found is None:
            work = node_work(node, self.graph)
            found = self.entries[node.name, device.id] = (
                node_key(node, self.graph, device, work), work)
        return found

    def learn_power(self, times: list[Any], runs: int) -> None:
        """Busy time into the window; once it holds ``LEARN_BUSY_MS`` of computing over
        ``LEARN_WALL_MS``, each counter's busy watts into the history (not below idle: that
        is noise, not a busy draw). A key names one piece of silicon, so its first device's
        idle power is the silicon's. Gives up after ``LEARN_RUNS`` runs."""
        for t in times:
            self.window.add(t.device, t.ms)
        idle = {name: device.profile.idle_w for name, device in self.devices.items()}
        found = self.window.watts(idle, LEARN_BUSY_MS, LEARN_WALL_MS)
        if found is None:
            if runs >= LEARN_RUNS:
                self.window = False
            return
        self.window = False
        for names, watts in found:
            if watts > self.devices[names[0]].profile.idle_w:
                for name in names:
                    self.history.record_power(self.devices[name], watts)
        self.history.changed(now=True)

    def node_times(self, times: list[Any], together: dict[str, list[str]]
                   ) -> Iterator[tuple[Any, Device, float, bool]]:
        """(node, device, ms, shared) per node run; what ran as one piece (a subgraph, a
        replay: ``together``) shares its time among its members in proportion to their
        modeled times (TVM runs them as one program, a CUDA graph replays them as one
        launch)."""
        for t in times:
            members = together.get(t.node) or ([t.node] if t.node in self.nodes else [])
            weights = [max(self.modeled.get(m, 0.0), 0.0) for m in members]
            total = sum(weights)
            for name, weight in zip(members, weights, strict=True):
                share = weight / total if total > 0 else 1 / len(members)
                yield self.nodes[name], self.devices[t.device], t.ms * share, len(members) > 1

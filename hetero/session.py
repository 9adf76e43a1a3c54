"""A model kept answering while devices come and go: ``hetero.Session``.

A session holds one compile pipeline and the plan it made last. It listens to the device
registry: when a device the plan uses goes, it re-plans on the devices left at once, from
the pipeline's cached stages (milliseconds); when a device comes, it plans in the
background and swaps the new plan in only once it is prepared and better by a margin, so a
device arriving never stalls a request. Each swap is atomic: a request runs wholly on one
plan generation. A request that meets a lost device mid-run (the device vanished, or its
backend raised ``DeviceLost``) has that device marked lost in the registry and is run again
from its inputs, which the session holds until it finishes, on the next plan; retries are
bounded, so a request returns the right outputs or raises, never hangs and never returns a
partial result.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetero.device import Device, one_per_silicon
from hetero.discovery import DeviceEvent, default_registry
from hetero.errors import (
    ArgumentError,
    DeviceLost,
    HeteroError,
    PlanInfeasible,
    UnsupportedOp,
)
from hetero.history import History
from hetero.limits import deadline
from hetero.plan.objective import Goal
from hetero.plan.pipeline import Pipeline, Request, checked_placement
from hetero.runtime import Plan, checked_mapping
from hetero.selector import select
from hetero.watch import release, shared

#: what a newly arrived device's plan must save, as a fraction of the objective, to be
#: swapped in (a re-plan that saves less is not worth preparing twice)
SWAP_MARGIN = 0.02
#: a device lost under requests this many times within QUARANTINE_WINDOW_S is quarantined:
#: left out of the session's plans until its health probe (``Backend.probe``) passes, first
#: after PROBE_FIRST_S (twice as long for each earlier quarantine of it), then twice as long
#: after each failed probe, up to PROBE_MAX_S
QUARANTINE_STRIKES = 3
QUARANTINE_WINDOW_S = 10.0
PROBE_FIRST_S, PROBE_MAX_S = 1.0, 30.0


@dataclass(frozen=True)
class SessionEvent:
    """One thing that happened to a session: a device came or went, a plan was swapped in, a
    request failed over or failed."""

    at: float  # time.monotonic()
    kind: str  # "device added", "device removed", "replanned", "failover", "failed", …
    detail: str
    generation: int  # the session's plan generation after it


@dataclass
class SessionStats:
    """Counts since the session opened; ``failover_ms``: from the loss of a device the plan
    used (its removal, or a request meeting it gone) to the next request completed after."""

    requests: int = 0
    completed: int = 0
    retried: int = 0
    failed: int = 0
    replans: int = 0
    failover_ms: list[float] = field(default_factory=list)


class Session:
    """``model`` kept planned on the live devices; thread-safe and long-lived.

    ``devices``: None follows every live device (one per piece of hardware, as
    ``hetero.compile`` picks); a list of devices or selector strings narrows it (a selector is
    matched against the live devices at every re-plan). The rest is ``hetero.compile``'s.
    ``max_in_flight`` bounds the requests ``submit`` has queued or running (it blocks beyond);
    ``retries`` bounds how often one request is run again after a device was lost under it.
    ``watch``: follow the kernel's device events (``hetero.watch``; a poller where there are
    none) while the session is open, so hardware that comes or goes is noticed unasked.
    """

    def __init__(self, model: Any, devices: Sequence[Device | str] | str | None = None,
                 objective: str = "energy", max_latency_ms: float | None = None,
                 max_energy_mj: float | None = None, placement: dict[str, str] | None = None,
                 strict: bool = False, passes: Sequence[str] | None = None,
                 strategy: str = "search", history: History | None = None,
                 max_in_flight: int = 64, retries: int = 3, workers: int = 2,
                 watch: bool = True, timeout_ms: float | None = None):
        self.request = Request(Goal(objective, max_latency_ms, max_energy_mj),
                               checked_placement(placement), strict, strategy)
        if isinstance(devices, Device):
            devices = [devices]
        self.wanted = devices.split(",") if isinstance(devices, str) else \
            None if devices is None else list(devices)
        for name, value, least in (("max_in_flight", max_in_flight, 1), ("workers", workers, 1),
                                   ("retries", retries, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ArgumentError(f"{name}={value!r}: give a whole number of at least {least}")
        self.retries = retries
        self.timeout_ms = timeout_ms
        self.registry = default_registry()
        self.stats = SessionStats()
        self.events: deque[SessionEvent] = deque(maxlen=1000)
        self.generation = 0
        self._lock = threading.RLock()  # the plan, the stats and the events
        self._planning = threading.Lock()  # one re-plan at a time through the pipeline
        self._lost_at: float | None = None  # a loss not yet followed by a completed request
        self._why: HeteroError | None = None  # why there is no plan, when there is none
        self._closed = False
        self._background: list[threading.Thread] = []
        self._strikes: dict[str, list[float]] = {}  # device id -> when it was lost
        self._quarantines: dict[str, int] = {}  # device id -> times quarantined
        self._prober: threading.Thread | None = None
        #: device id -> (the device, when its next probe is due, the wait after that)
        self.quarantined: dict[str, tuple[Device, float, float]] = {}
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="hetero-session")
        self._pipeline = Pipeline(model, passes, history)
        self._pipeline.check_pins(placement)
        self._plan: Plan | None = self._pipeline.plan(self.devices(), self.request)
        self._unsubscribe = self.registry.subscribe(self._on_event)
        self.watcher = shared(self.registry) if watch else None

    # -- devices and plans -------------------------------------------------------------------
    def devices(self) -> list[Device]:
        """The live devices the session may plan on now."""
        live = [d for d in self.registry.devices() if d.id not in self.quarantined]
        if self.wanted is None:
            return one_per_silicon(live)
        chosen: list[Device] = []
        for want in self.wanted:
            if isinstance(want, Device):
                found = want if want in live else None
            else:
                try:
                    found = select(want.strip(), live)
                except HeteroError:
                    found = None
            if found is not None and found not in chosen:
                chosen.append(found)
        return chosen

    @property
    def plan(self) -> Plan:
        """The plan requests run on now; PlanInfeasible when no device set can run the model."""
        with self._lock:
            if self._plan is None:
                raise self._no_plan()
            return self._plan

    def _no_plan(self) -> PlanInfeasible:
        why = f": {self._why}" if self._why is not None else ""
        return PlanInfeasible(f"no plan: the devices left cannot run the model{why}. Attach or "
                              "plug in a device that runs it; the session re-plans when one "
                              "comes")

    def _swap(self, plan: Plan | None, why: str, error: HeteroError | None = None) -> None:
        with self._lock:
            self._plan, self._why = plan, error
            self.generation += 1
            self.stats.replans += 1
            self._note("replanned" if plan is not None else "no plan", why)

    def _replan_now(self, failed: Plan | None, why: str) -> None:
        """Re-plan on the live devices unless the plan has changed since ``failed`` ran."""
        with self._planning:
            with self._lock:
                if failed is not None and self._plan is not failed:
                    return  # another thread re-planned already
                current = self._plan
            self._install(current, why)

    def _install(self, current: Plan | None, why: str) -> None:
        """Plan on the live devices and swap it in; no plan (with why) where none runs the
        model. A device leaving while it plans sends it round again."""
        for _ in range(10):
            devices = self.devices()
            try:
                fresh = self._pipeline.replan(current, devices) if current is not None \
                    else self._pipeline.plan(devices, self.request)
            except DeviceLost:
                continue
            except (UnsupportedOp, PlanInfeasible) as exc:
                self._swap(None, f"{why}; no device set left runs the model", exc)
                return
            if any(not d.alive for d in fresh.using):
                continue  # a device left while the plan was prepared
            used = ", ".join(sorted(set(fresh.placement.values())))
            self._swap(fresh, f"{why}: now on {used}")
            return
        self._swap(None, f"{why}; devices kept leaving while it re-planned")

    def _on_event(self, event: DeviceEvent) -> None:
        """A device came or went (on the thread that reported it)."""
        if self._closed:
            return
        device = event.device
        with self._lock:
            self._note(f"device {event.kind}", device.id)
            plan = self._plan
        if event.kind == "removed":
            if plan is None or device in plan.using:
                with self._lock:
                    self._lost_at = self._lost_at or time.monotonic()
                self._replan_now(plan, f"{device.id} removed")
            return
        if device in self.devices():
            self._in_background(lambda: self._consider(device))

    def _consider(self, device: Device) -> None:
        """Plan with a new device in the background; swap only when prepared and better."""
        with self._planning:
            with self._lock:
                current = self._plan
            if current is None:
                self._install(None, f"{device.id} added")
                return
            try:
                fresh = self._pipeline.replan(current, self.devices())
            except (UnsupportedOp, PlanInfeasible, DeviceLost):
                return
            if any(not d.alive for d in fresh.using):
                return  # a device left meanwhile: its removal re-plans
            objective = self.request.goal.objective
            now, then = fresh.estimate.score(objective), current.estimate.score(objective)
            with self._lock:
                if self._plan is not current:
                    return
                if now < then * (1 - SWAP_MARGIN):
                    self._swap(fresh, f"{device.id} added: {objective} {then:.4g} -> "
                               f"{now:.4g} (modeled)")
                else:
                    self._note("kept plan", f"{device.id} added: {now:.4g} is not "
                               f"{SWAP_MARGIN:.0%} better than {then:.4g} (modeled)")

    def _in_background(self, work: Any) -> None:
        thread = threading.Thread(target=work, name="hetero-session-replan", daemon=True)
        with self._lock:
            self._background = [t for t in self._background if t.is_alive()] + [thread]
        thread.start()

    def _note(self, kind: str, detail: str) -> None:
        self.events.append(SessionEvent(time.monotonic(), kind, detail, self.generation))

    # -- requests ------------------------------------------------------------------------------
    def run(self, feeds: dict[str, Any], timeout_ms: float | None = None
            ) -> dict[str, np.ndarray]:
        """Run the model on ``feeds``; a device lost mid-run sends the request to the next
        plan, from its inputs (at most ``retries`` times). ``timeout_ms`` (default: the
        session's) bounds the request, retries included (DeadlineExceeded)."""
        if self._closed:
            raise HeteroError("the session is closed; open a new hetero.Session")
        held = {name: np.array(value, copy=True) if isinstance(value, np.ndarray) else value
                for name, value in checked_mapping(feeds).items()}  # the caller may reuse them
        with self._lock:
            self.stats.requests += 1
        with deadline(self.timeout_ms if timeout_ms is None else timeout_ms):
            return self._attempts(held)

    def _attempts(self, held: dict[str, Any]) -> dict[str, np.ndarray]:
        for attempt in range(self.retries + 1):
            plan = self._plan_or_fail()
            try:
                outputs = plan.run(held)
            except DeviceLost as exc:
                self._lost(plan, exc, attempt)
                continue
            except BaseException:
                self._count("failed")
                raise
            self._completed()
            return outputs
        self._count("failed")
        raise DeviceLost(f"the request lost a device on each of its {self.retries + 1} tries; "
                         "devices are leaving faster than the session can re-plan")

    def _plan_or_fail(self) -> Plan:
        try:
            return self.plan
        except PlanInfeasible:
            self._count("failed")
            raise

    def _lost(self, plan: Plan, exc: DeviceLost, attempt: int) -> None:
        """A device was lost under a request: mark it lost, re-plan, count the retry."""
        device = exc.device if isinstance(exc.device, Device) else None
        with self._lock:
            self._lost_at = self._lost_at or time.monotonic()
            if attempt < self.retries:
                self.stats.retried += 1
            self._note("failover", f"{device.id if device else 'a device'} lost mid-request: "
                       f"{exc}")
        if device is not None and device.alive:  # this request found the loss: a strike
            self._strike(device)
        if device is not None and device.alive:
            with contextlib.suppress(HeteroError):  # not registered: nothing to tell
                self.registry.remove(device)  # its subscribers, this session included, hear
        self._replan_now(plan, f"{device.id if device else 'a device'} lost mid-request")

    def _strike(self, device: Device) -> None:
        """Count a loss; the ``QUARANTINE_STRIKES``-th within the window quarantines it."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._strikes.get(device.id, [])
                      if t > now - QUARANTINE_WINDOW_S] + [now]
            self._strikes[device.id] = recent
            if len(recent) < QUARANTINE_STRIKES or device.id in self.quarantined:
                return
            times = self._quarantines.get(device.id, 0)  # trusted slower each time
            self._quarantines[device.id] = times + 1
            wait = min(PROBE_FIRST_S * 2 ** times, PROBE_MAX_S)
            self.quarantined[device.id] = (device, now + wait, wait)
            self._note("quarantined", f"{device.id}: lost {len(recent)} times in "
                       f"{QUARANTINE_WINDOW_S:g} s; probed in {wait:g} s")
            if self._prober is not None and self._prober.is_alive():
                return  # the running prober takes it
            self._prober = threading.Thread(target=self._probing, daemon=True,
                                            name="hetero-session-probe")
        self._prober.start()

    def _probing(self) -> None:
        """Probe quarantined devices when due until none is left (or the session closes)."""
        while not self._closed:
            with self._lock:
                if not self.quarantined:
                    return
                due = min(self.quarantined.values(), key=lambda q: q[1])
            device, when, wait = due
            time.sleep(min(max(0.0, when - time.monotonic()), 0.1))
            if time.monotonic() < when:
                continue
            self._probe(device, wait)

    def _probe(self, device: Device, wait: float) -> None:
        """Probe the device registered under the quarantined id now (it may have been
        unplugged and plugged in again since)."""
        present = [d for d in self.registry.devices() if d.id == device.id]
        try:
            if not present:
                raise DeviceLost(f"{device.id} is not present", device)
            device = present[0]
            device.impl.probe(device)
        except Exception as exc:  # noqa: BLE001 - any failure keeps it out
            longer = min(2 * wait, PROBE_MAX_S)
            with self._lock:
                self.quarantined[device.id] = (device, time.monotonic() + longer, longer)
                self._note("probe failed", f"{device.id}: {exc}; next in {longer:g} s")
            return
        with self._lock:
            self.quarantined.pop(device.id, None)
            self._strikes.pop(device.id, None)
            self._note("trusted again", f"{device.id}: its health probe passed")
        self._consider(device)

    def _completed(self) -> None:
        with self._lock:
            self.stats.completed += 1
            if self._lost_at is not None:
                self.stats.failover_ms.append((time.monotonic() - self._lost_at) * 1e3)
                self._lost_at = None

    def _count(self, what: str) -> None:
        with self._lock:
            setattr(self.stats, what, getattr(self.stats, what) + 1)
            self._note(what, "a request raised")

    def submit(self, feeds: dict[str, Any], timeout_ms: float | None = None) -> Future:
        """``run`` on the session's workers; blocks while ``max_in_flight`` are pending."""
        if self._closed:
            raise HeteroError("the session is closed; open a new hetero.Session")
        self._slots.acquire()
        try:
            future = self._pool.submit(self.run, feeds, timeout_ms)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop following devices; let pending requests finish."""
        if self._closed:
            return
        self._closed = True
        self._unsubscribe()
        if self.watcher is not None:
            release(self.registry)
        self._pool.shutdown(wait=True)
        for thread in [*self._background, *([self._prober] if self._prober else [])]:
            thread.join(30)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        with self._lock:
            where = "no plan" if self._plan is None else \
                ", ".join(sorted(set(self._plan.placement.values())))
        return f"<hetero.Session generation {self.generation}: {where}>"


__all__ = ["Session", "SessionEvent", "SessionStats"]

"""The live device registry: scans backends, keeps a generation counter, emits add/remove events.

Hot-plug goes through here: a rescan diffs what the backends see now against what was known, and
``add``/``remove`` let a backend report a device that came or went between scans (the simulated
backend's attach/detach do). Subscribers hear every change as a :class:`DeviceEvent`.

Each backend's discovery runs in a daemon thread with a deadline (``HETERO_DISCOVERY_TIMEOUT_S``,
default 10 s) and outside the registry's lock, so a hung backend delays no other thread's
``devices()``; past its deadline it is "timed out". Python cannot kill a thread: a hung
``discover()`` is abandoned, and not called again while it still runs.
"""

from __future__ import annotations

import atexit
import itertools
import math
import os
import reprlib
import threading
import time
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hetero.backend import Backend
from hetero.device import Device, one_per_silicon
from hetero.errors import HeteroError, PluginError
from hetero.plugins import (
    PluginSet,
    autoload_disabled,
    contain,
    describe_exception,
    load_plugins,
)
from hetero.selector import Selector, select

#: Seconds one backend's discovery may take, unless HETERO_DISCOVERY_TIMEOUT_S says otherwise.
DEFAULT_DISCOVERY_TIMEOUT_S = 10.0  # a cold `import tvm` alone takes ~3 s
TIMEOUT_VARIABLE = "HETERO_DISCOVERY_TIMEOUT_S"
#: More devices than one backend could plausibly see: a sign of a runaway discover().
MAX_DEVICES = 4096
#: At exit, how long to let discoveries that passed their deadline finish: a thread still in
#: native code (a C++ library's import) when the interpreter ends aborts the process.
EXIT_WAIT_S = 10.0
#: The PluginError stage of each failed discovery state.
FAILED_STAGE = {"error": "discover", "timed out": "timeout", "unavailable": "unavailable"}


@dataclass(frozen=True)
class DeviceEvent:
    """A device was added or removed; ``generation`` is the registry's counter after the change."""

    kind: Literal["added", "removed"]
    device: Device
    generation: int


@dataclass
class BackendStatus:
    """How one backend fared in the last scan: "ok", "unavailable" (with the fix), "error", or
    "timed out" (its discovery ran past the deadline)."""

    name: str
    state: Literal["ok", "unavailable", "error", "timed out"]
    detail: str = ""
    simulated: bool = False
    devices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "detail": self.detail,
                "simulated": self.simulated, "devices": list(self.devices)}


_discovering: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


@atexit.register
def _let_discoveries_finish() -> None:
    """Give discoveries still running at exit up to EXIT_WAIT_S in all: one inside a C++
    import (TVM's, past a short deadline) when the interpreter ends aborted the process
    ("terminate called without an active exception")."""
    until = time.monotonic() + EXIT_WAIT_S
    for thread in list(_discovering):
        thread.join(max(0.0, until - time.monotonic()))


def requested_backends(env: Mapping[str, str]) -> list[str] | None:
    """The backend names HETERO_BACKENDS asks for, in order, or None when it is unset."""
    names = [n.strip() for n in env.get("HETERO_BACKENDS", "").split(",") if n.strip()]
    return names or None


def discovery_timeout(env: Mapping[str, str]) -> float:
    """The per-backend discovery deadline HETERO_DISCOVERY_TIMEOUT_S sets, in seconds."""
    text = env.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_DISCOVERY_TIMEOUT_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (seconds > 0 and math.isfinite(seconds)):
        raise HeteroError(f"{TIMEOUT_VARIABLE}={text!r} is not a positive number of seconds; "
                          f"set it to e.g. {DEFAULT_DISCOVERY_TIMEOUT_S:g}, or unset it")
    return seconds


@dataclass
class Found:
    """What one backend's discovery came to: its devices, or why there are none."""

    state: Literal["ok", "unavailable", "error", "timed out"]
    detail: str = ""
    devices: list[Device] = field(default_factory=list)


def checked_devices(found: object) -> list[Device]:
    """A backend's discovery result as a list of Devices; anything else is the backend's error
    (an endless generator too: at most MAX_DEVICES are taken from it)."""
    if isinstance(found, str | bytes) or not isinstance(found, Iterable):
        raise TypeError(f"discover() returned {reprlib.repr(found)}, not a list of "
                        "hetero.Device")
    devices = list(itertools.islice(found, MAX_DEVICES + 1))
    if len(devices) > MAX_DEVICES:
        raise TypeError(f"discover() returned more than the {MAX_DEVICES:,} devices one "
                        "backend may report (an endless generator?)")
    for device in devices:
        if not isinstance(device, Device):
            raise TypeError(f"discover() returned {reprlib.repr(device)}, not a hetero.Device")
    return devices


class Registry:
    """Every device all backends discovered, plus those hot-plugged since."""

    def __init__(self, env: Mapping[str, str] | None = None, plugins: PluginSet | None = None,
                 discovery_timeout_s: float | None = None):
        self.env = dict(os.environ if env is None else env)
        self._plugins = plugins
        #: Seconds each backend's discovery may take (else HETERO_DISCOVERY_TIMEOUT_S, else 10).
        self.discovery_timeout_s = discovery_timeout_s or discovery_timeout(self.env)
        self._lock = threading.RLock()
        self._scan_lock = threading.RLock()  # one scan at a time; never held with _lock waited on
        self._changed: dict[str, str] | None = None  # ids hot-plugged while a scan discovers
        self._running: dict[str, tuple[threading.Thread, float]] = {}  # discoveries under way
        self._devices: dict[str, Device] = {}
        self._backends: dict[str, Backend] | None = None
        self._status: dict[str, BackendStatus] = {}
        self._subscribers: list[Callable[[DeviceEvent], Any]] = []
        self._pending: deque[DeviceEvent] = deque()
        self._delivering = threading.RLock()  # one deliverer at a time keeps events in order
        self._generation = 0
        self._scanned = False
        self._missing: PluginError | None = None  # a named backend that never loaded
        self._failed: PluginError | None = None   # a named backend that failed this scan
        self._catalogue: tuple[dict, dict] | None = None

    # -- plugins and backends ----------------------------------------------------------------
    @property
    def plugins(self) -> PluginSet:
        with self._lock:
            if self._plugins is None:
                self._plugins = load_plugins(self.env)
            return self._plugins

    def catalogue(self) -> tuple[dict, dict]:
        """(profiles, links) of the hardware catalogue, loaded once."""
        from hetero.catalogue import load_catalogue

        with self._lock:
            if self._catalogue is None:
                self._catalogue = load_catalogue(self.plugins)
            return self._catalogue

    def backends(self) -> dict[str, Backend]:
        """The loaded backends by name, limited and ordered by HETERO_BACKENDS when set."""
        with self._lock:
            if self._backends is None:
                self._backends = self._load_backends()
            return self._backends

    def _load_backends(self) -> dict[str, Backend]:
        found: dict[str, Backend] = {}
        for plugin, backends in self.plugins.call_each("hetero_backends"):
            if not isinstance(backends, list | tuple):
                self.plugins.errors.append(PluginError(
                    plugin, "hetero_backends",
                    f"returned {reprlib.repr(backends)}, not a list of backends"))
                continue
            for backend in backends:
                name, exc = contain(lambda b=backend: b.name) if isinstance(backend, Backend) \
                    else (None, None)  # a plugin's property: it may raise too
                if not isinstance(name, str) or not name:
                    why = f" (its name raised {describe_exception(exc)})" if exc else ""
                    self.plugins.errors.append(PluginError(
                        plugin, "hetero_backends", f"returned {type(backend).__name__} object, "
                        f"not a named hetero.backend.Backend instance{why}"))
                elif name in found:
                    self.plugins.errors.append(PluginError(
                        plugin, "hetero_backends", f"backend name {name!r} is taken"))
                else:
                    found[name] = backend
        wanted = requested_backends(self.env)
        if wanted is None:
            return found
        for name in wanted:
            if name not in found:
                self._missing = self._missing or self._named_failure(name, found)
        return {name: found[name] for name in wanted if name in found}

    def _named_failure(self, name: str, found: Mapping[str, Backend]) -> PluginError:
        """The loud error for a backend HETERO_BACKENDS names but that did not load."""
        for error in self.plugins.errors:
            if error.plugin == name:
                return error
        autoload = (" (HETERO_DISABLE_PLUGIN_AUTOLOAD is on, so only built-ins were loaded)"
                    if autoload_disabled(self.env) else "")
        return PluginError(
            name, "not-found",
            f"HETERO_BACKENDS names {name!r}, but no plugin provides it{autoload}; loaded "
            f"backends: {', '.join(found) or 'none'}")

    # -- scanning ----------------------------------------------------------------------------
    def rescan(self, backends: Collection[str] | None = None) -> list[DeviceEvent]:
        """Ask every backend (or only those named) what it sees now; report and apply the
        difference as events.

        Discovery runs outside the registry's lock: ``devices()``, attach and detach go on
        meanwhile, and a device hot-plugged meanwhile is left as its hot-plug reported it.
        """
        with self._scan_lock:
            with self._lock:
                todo = self._to_discover(backends)
            found = {name: self._discover_one(backend) for name, backend in todo.items()}
            with self._lock:
                events = self._settle(found)
        self._deliver()
        return events

    def _to_discover(self, only: Collection[str] | None) -> dict[str, Backend]:
        """The backends this scan asks (all on the first scan); starts noting hot-plugs."""
        self._changed = {}
        return {name: backend for name, backend in self.backends().items()
                if only is None or name in only or not self._scanned}

    def _discover_one(self, backend: Backend) -> Found:
        """One backend's discovery in a daemon thread, waited for up to the deadline; whatever
        it raises (SystemExit too) is its error, and a Ctrl-C in it goes on up."""
        running = self._running.get(backend.name)
        if running is not None and running[0].is_alive():
            return Found("timed out", self._overdue(time.monotonic() - running[1]))
        outcome: list[Found | BaseException] = []

        def work() -> None:
            try:
                reason = backend.unavailable_reason()
                outcome.append(Found("unavailable", reason) if reason else
                               Found("ok", devices=checked_devices(backend.discover())))
            except BaseException as exc:  # noqa: BLE001 - handed to the scanning thread
                outcome.append(exc)

        thread = threading.Thread(target=work, name=f"hetero-discover-{backend.name}",
                                  daemon=True)
        self._running[backend.name] = (thread, time.monotonic())
        _discovering.add(thread)
        thread.start()
        thread.join(self.discovery_timeout_s)
        if not outcome:
            return Found("timed out", self._overdue(self.discovery_timeout_s))
        del self._running[backend.name]
        if isinstance(outcome[0], KeyboardInterrupt):
            raise outcome[0]
        if isinstance(outcome[0], BaseException):
            return Found("error", describe_exception(outcome[0]))
        return outcome[0]

    def _overdue(self, waited: float) -> str:
        return (f"discover() has not returned after {waited:.1f} s (deadline "
                f"{self.discovery_timeout_s:g} s); it is left running in a daemon thread, which "
                f"Python cannot stop, and is not called again until it returns. Fix the backend, "
                f"or give it longer: {TIMEOUT_VARIABLE}={max(30, 6 * self.discovery_timeout_s):g}")

    def _settle(self, found: Mapping[str, Found]) -> list[DeviceEvent]:
        """Apply a scan's findings: statuses, errors, and the difference as events; ids
        hot-plugged while it discovered keep what their hot-plug did (no ghost, no loss)."""
        seen: dict[str, Device] = {}
        wanted = requested_backends(self.env) or []
        changed, self._changed = self._changed or {}, None
        self._failed = None
        for name, backend in self.backends().items():
            if name not in found:  # not asked: what it reported stands
                seen.update((d.id, d) for d in self._devices.values() if d.backend == name)
                continue
            status = self._status[name] = self._settled(backend, found[name], seen)
            if status.state != "ok" and name in wanted and self._failed is None:
                self._failed = PluginError(name, FAILED_STAGE[status.state], status.detail)
        events = [self._apply("removed", d) for i, d in list(self._devices.items())
                  if i not in seen and i not in changed]
        events += [self._apply("added", d) for i, d in seen.items()
                   if i not in self._devices and i not in changed]
        for device in (self._devices[i] for i in changed if i in self._devices):
            status = self._status.get(device.backend)
            if device.backend in found and status and device.id not in status.devices:
                status.devices.append(device.id)  # attached while this scan discovered
        self._scanned = True
        return events

    def _settled(self, backend: Backend, found: Found, seen: dict[str, Device]) -> BackendStatus:
        """One backend's status from its findings; on error or timeout it keeps the devices it
        reported before."""
        status = BackendStatus(backend.name, found.state, found.detail,
                               simulated=backend.simulated)
        self.plugins.errors.discard(backend.name, ("discover", "timeout"))  # this scan's only
        devices = found.devices
        if found.state in ("error", "timed out"):
            self.plugins.errors.append(PluginError(backend.name, FAILED_STAGE[found.state],
                                                   found.detail))
            devices = [d for d in self._devices.values() if d.backend == backend.name]
        for device in devices:
            if device.id in seen:
                self.plugins.errors.append(PluginError(
                    backend.name, "discover", f"device id {device.id!r} is already taken"))
                continue
            device.impl = device.impl or backend
            seen[device.id] = self._devices.get(device.id, device)
            status.devices.append(device.id)
        return status

    def _apply(self, kind: Literal["added", "removed"], device: Device) -> DeviceEvent:
        self._generation += 1
        if kind == "added":
            device.alive = True
            self._devices[device.id] = device
        else:
            device.alive = False
            device.close_queue()
            self._devices.pop(device.id, None)
        event = DeviceEvent(kind, device, self._generation)
        self._pending.append(event)
        return event

    def ensure_scanned(self) -> None:
        """Run the first scan if none ran yet; raise a loud failure HETERO_BACKENDS asked for."""
        self._first_scan()
        loud = self._missing or self._failed
        if loud is not None:
            raise loud

    def _first_scan(self) -> None:
        """Scan once; a thread arriving meanwhile waits for that scan (bounded by the deadline)."""
        if not self._scanned:
            with self._scan_lock:
                if not self._scanned:
                    self.rescan()

    # -- hot-plug ----------------------------------------------------------------------------
    def add(self, device: Device) -> DeviceEvent | None:
        """Report a device that appeared between scans (a hot-plug, a simulated attach).

        Returns None when a concurrent rescan already reported this very device.
        """
        self.ensure_scanned()
        with self._lock:
            event = self._added(device)
        self._deliver()
        return event

    def attach(self, make: Callable[[], Device]) -> Device:
        """Make a device (a backend records it) and register it as one step, so that no
        rescan, attach or detach lands between the two (no ghost, no duplicate id)."""
        self.ensure_scanned()
        with self._lock:
            device = make()
            self._added(device)
        self._deliver()
        return device

    def _added(self, device: Device) -> DeviceEvent | None:
        known = self._devices.get(device.id)
        if known is device:
            return None
        if known is not None:
            raise HeteroError(f"a device with id {device.id!r} is already registered")
        event = self._apply("added", device)
        if self._changed is not None:
            self._changed[device.id] = "added"
        if device.backend in self._status:
            self._status[device.backend].devices.append(device.id)
        return event

    def remove(self, device: Device) -> DeviceEvent | None:
        """Report a device that went away; it is marked lost and subscribers are told.

        Returns None when a concurrent rescan already reported the removal.
        """
        with self._lock:
            if self._devices.get(device.id) is not device:
                if not device.alive:
                    return None
                raise HeteroError(f"device {device.id!r} is not registered")
            event = self._removed(device)
        self._deliver()
        return event

    def detach(self, device: Device, forget: Callable[[], Any]) -> DeviceEvent:
        """Make the backend forget a device and remove it from the registry as one step; a
        device already removed (by another thread too) raises DeviceLost."""
        with self._lock:
            device.check_alive("detach it again")
            if self._devices.get(device.id) is not device:
                raise HeteroError(f"device {device.id!r} is not registered")
            forget()
            event = self._removed(device)
        self._deliver()
        return event

    def _removed(self, device: Device) -> DeviceEvent:
        event = self._apply("removed", device)
        if self._changed is not None:
            self._changed[device.id] = "removed"
        status = self._status.get(device.backend)
        if status and device.id in status.devices:
            status.devices.remove(device.id)
        return event

    def subscribe(self, callback: Callable[[DeviceEvent], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` on every change; returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def _deliver(self) -> None:
        """Hand pending events to subscribers and plugins, outside the lock, in generation order.

        Whichever thread gets here first delivers everything queued so far, one event at a
        time, so listeners never see generation 5 before 4; a failing listener breaks nothing.
        """
        with self._delivering:
            while True:
                with self._lock:
                    if not self._pending:
                        return
                    event = self._pending.popleft()
                    subscribers = list(self._subscribers)
                for callback in subscribers:
                    try:
                        callback(event)
                    except Exception as exc:
                        warnings.warn(f"device-event callback {callback!r} raised "
                                      f"{describe_exception(exc)}", RuntimeWarning, stacklevel=3)
                list(self.plugins.call_each("hetero_device_event", event=event))

    # -- queries -----------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        return self._generation

    def devices(self) -> list[Device]:
        self.ensure_scanned()
        with self._lock:
            return list(self._devices.values())

    def device(self, selector: Selector) -> Device:
        devices = self.devices()
        return select(selector, devices, hint=self._unavailable_hint())

    def _unavailable_hint(self) -> str:
        down = [f"{s.name} ({s.detail})" for s in self._status.values() if s.state != "ok"]
        return f" Not available: {'; '.join(down)}." if down else ""

    def statuses(self) -> list[BackendStatus]:
        self._first_scan()
        with self._lock:
            return list(self._status.values())

    def errors(self) -> list[PluginError]:
        self._first_scan()
        return list(self.plugins.errors)

    def backend(self, name: str) -> Backend:
        """A loaded backend by name; the error says why it is not loaded."""
        backends = self.backends()
        if name not in backends:
            why = (f"HETERO_BACKENDS={self.env['HETERO_BACKENDS']!r} leaves it out"
                   if requested_backends(self.env) else "no plugin provides it")
            raise HeteroError(f"backend {name!r} is not loaded: {why}; loaded: "
                              f"{', '.join(backends) or 'none'}")
        return backends[name]


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry ``hetero.devices()`` and friends use, created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Registry()
        return _default


def real_devices() -> list[Device]:
    """Every real device, one per piece of hardware (cpu:0, not also TVM's or OpenCL's view
    of the same cores): what ``hetero run``, ``hetero plan`` and ``hetero bench`` use by
    default."""
    return one_per_silicon([d for d in default_registry().devices() if not d.simulated])


def set_default_registry(registry: Registry | None) -> Registry | None:
    """Swap the process-wide registry (tests, embedding); returns the previous one."""
    global _default
    with _default_lock:
        previous, _default = _default, registry
        return previous

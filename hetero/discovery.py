"""The live device registry: scans backends, keeps a generation counter, emits add/remove events.

Hot-plug goes through here: a rescan diffs what the backends see now against what was known, and
``add``/``remove`` let a backend report a device that came or went between scans (the simulated
backend's attach/detach do). Subscribers hear every change as a :class:`DeviceEvent`.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hetero.backend import Backend
from hetero.device import Device
from hetero.errors import HeteroError, PluginError
from hetero.plugins import PluginSet, autoload_disabled, describe_exception, load_plugins
from hetero.selector import Selector, select


@dataclass(frozen=True)
class DeviceEvent:
    """A device was added or removed; ``generation`` is the registry's counter after the change."""

    kind: Literal["added", "removed"]
    device: Device
    generation: int


@dataclass
class BackendStatus:
    """How one backend fared in the last scan: "ok", "unavailable" (with the fix) or "error"."""

    name: str
    state: Literal["ok", "unavailable", "error"]
    detail: str = ""
    simulated: bool = False
    devices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "detail": self.detail,
                "simulated": self.simulated, "devices": list(self.devices)}


def requested_backends(env: Mapping[str, str]) -> list[str] | None:
    """The backend names HETERO_BACKENDS asks for, in order, or None when it is unset."""
    names = [n.strip() for n in env.get("HETERO_BACKENDS", "").split(",") if n.strip()]
    return names or None


def checked_devices(found: object) -> list[Device]:
    """A backend's discovery result as a list of Devices; anything else is the backend's error."""
    devices = list(found)  # type: ignore[call-overload]
    for device in devices:
        if not isinstance(device, Device):
            raise TypeError(f"discover() returned {device!r}, not a hetero.Device")
    return devices


class Registry:
    """Every device all backends discovered, plus those hot-plugged since."""

    def __init__(self, env: Mapping[str, str] | None = None, plugins: PluginSet | None = None):
        self.env = dict(os.environ if env is None else env)
        self._plugins = plugins
        self._lock = threading.RLock()
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
                    plugin, "hetero_backends", f"returned {backends!r}, not a list of backends"))
                continue
            for backend in backends:
                if not isinstance(backend, Backend) or not backend.name:
                    self.plugins.errors.append(PluginError(
                        plugin, "hetero_backends",
                        f"returned {backend!r}, not a named hetero.backend.Backend instance"))
                elif backend.name in found:
                    self.plugins.errors.append(PluginError(
                        plugin, "hetero_backends", f"backend name {backend.name!r} is taken"))
                else:
                    found[backend.name] = backend
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
        difference as events."""
        with self._lock:
            seen = self._discover_all(backends)
            events = [self._apply("removed", d) for i, d in list(self._devices.items())
                      if i not in seen]
            events += [self._apply("added", d) for i, d in seen.items() if i not in self._devices]
            self._scanned = True
        self._deliver()
        return events

    def _discover_all(self, only: Collection[str] | None = None) -> dict[str, Device]:
        seen: dict[str, Device] = {}
        wanted = requested_backends(self.env) or []
        self._failed = None
        for name, backend in self.backends().items():
            if only is not None and name not in only and self._scanned:
                seen.update((d.id, d) for d in self._devices.values() if d.backend == name)
                continue  # not asked: what it reported stands
            status = self._discover_one(backend, seen)
            self._status[name] = status
            if status.state != "ok" and name in wanted and self._failed is None:
                self._failed = PluginError(name, "discover" if status.state == "error"
                                           else "unavailable", status.detail)
        return seen

    def _discover_one(self, backend: Backend, seen: dict[str, Device]) -> BackendStatus:
        """Discover one backend in isolation; on error keep the devices it reported before."""
        status = BackendStatus(backend.name, "ok", simulated=backend.simulated)
        self.plugins.errors[:] = [e for e in self.plugins.errors  # this scan's, not a pile-up
                                  if (e.plugin, e.stage) != (backend.name, "discover")]
        try:
            reason = backend.unavailable_reason()
            devices = [] if reason else checked_devices(backend.discover())
        except Exception as exc:
            status.state, status.detail = "error", describe_exception(exc)
            self.plugins.errors.append(PluginError(backend.name, "discover", status.detail))
            devices = [d for d in self._devices.values() if d.backend == backend.name]
        else:
            if reason:
                status.state, status.detail = "unavailable", reason
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
        with self._lock:
            if not self._scanned:
                self.rescan()
        loud = self._missing or self._failed
        if loud is not None:
            raise loud

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
        with self._lock:
            if not self._scanned:
                self.rescan()
            return list(self._status.values())

    def errors(self) -> list[PluginError]:
        with self._lock:
            if not self._scanned:
                self.rescan()
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


def set_default_registry(registry: Registry | None) -> Registry | None:
    """Swap the process-wide registry (tests, embedding); returns the previous one."""
    global _default
    with _default_lock:
        previous, _default = _default, registry
        return previous

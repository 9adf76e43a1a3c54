"""Device events from the kernel: the registry rescans the backends concerned when hardware
comes or goes.

On Linux, a pyudev monitor reads the kernel's uevents over netlink (``hetero[hotplug]``);
each backend names the events that concern it (``Backend.uevents``: a subsystem, optionally
one vendor), and a burst of events (a USB stick enumerates in several) becomes one rescan
of those backends, ``debounce_s`` after its first event. Where netlink or pyudev is not
available (another OS, a container without the socket), a poller rescans every backend
every ``poll_s`` instead; ``hetero.rescan()`` always works.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from hetero.backend import Uevent
from hetero.discovery import Registry, default_registry


class Watcher:
    """A thread that turns kernel device events (or, failing them, a timer) into rescans.
    ``mode`` says which: "udev" or "polling" (``why`` says why not udev)."""

    def __init__(self, registry: Registry | None = None, poll_s: float = 2.0,
                 debounce_s: float = 0.2, udev: bool = True):
        self.registry = registry or default_registry()
        self.poll_s, self.debounce_s = poll_s, debounce_s
        self.concerns = {name: backend.uevents()
                         for name, backend in self.registry.backends().items()}
        self.events = 0  # kernel events that concerned some backend
        self.rescans = 0
        self.why = ""
        self.error: Exception | None = None  # the last rescan's failure, if it failed
        self._stop = threading.Event()
        self._monitor = self._netlink() if udev else None
        if not udev:
            self.why = "udev off (udev=False)"
        self.mode = "udev" if self._monitor is not None else "polling"
        target = self._udev if self._monitor is not None else self._poll
        self._thread = threading.Thread(target=target, name=f"hetero-watch-{self.mode}",
                                        daemon=True)
        self._thread.start()

    def _netlink(self) -> Any:
        """A started pyudev monitor filtered to the subsystems some backend cares about, or
        None (with ``why``)."""
        subsystems = sorted({u.subsystem for us in self.concerns.values() for u in us})
        if not subsystems:
            self.why = "no backend asks for kernel device events"
            return None
        try:
            import pyudev
        except ImportError:
            self.why = "pyudev is not installed: pip install 'hetero[hotplug]'"
            return None
        try:
            monitor = pyudev.Monitor.from_netlink(pyudev.Context(), source="kernel")
            for subsystem in subsystems:
                monitor.filter_by(subsystem)
            monitor.start()
        except (OSError, ValueError, pyudev.DeviceNotFoundError) as exc:
            self.why = f"netlink is not available here ({exc})"
            return None
        return monitor

    def concerned(self, subsystem: str, properties: dict[str, str]) -> set[str]:
        """The backends an event of ``subsystem`` with these uevent properties concerns."""
        vendor = vendor_of(properties)
        return {name for name, wanted in self.concerns.items()
                if any(matches(u, subsystem, vendor) for u in wanted)}

    def _udev(self) -> None:
        pending: set[str] = set()
        due = 0.0
        while not self._stop.is_set():
            wait = max(0.0, due - time.monotonic()) if pending else 0.1
            event = self._monitor.poll(timeout=min(wait, 0.1) or 0.01)
            if event is not None:
                names = self.concerned(event.subsystem or "", dict(event.properties))
                if names:
                    self.events += 1
                    if not pending:
                        due = time.monotonic() + self.debounce_s
                    pending |= names
            if pending and time.monotonic() >= due:
                self._rescan(pending)
                pending = set()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._rescan(None)

    def _rescan(self, backends: set[str] | None) -> None:
        self.rescans += 1
        try:
            self.registry.rescan(backends)
        except Exception as exc:  # noqa: BLE001 - the watcher outlives one bad scan
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def __repr__(self) -> str:
        why = f" ({self.why})" if self.why else ""
        return f"<hetero.Watcher {self.mode}{why}: {self.events} events, {self.rescans} rescans>"


def vendor_of(properties: dict[str, str]) -> int | None:
    """The vendor id a uevent reports: USB's PRODUCT ("3e7/2485/1"), PCI's PCI_ID
    ("10DE:2330"), or udev's ID_VENDOR_ID."""
    for key in ("ID_VENDOR_ID", "PRODUCT", "PCI_ID"):
        text = properties.get(key)
        if text:
            try:
                return int(text.replace(":", "/").split("/")[0], 16)
            except ValueError:
                continue
    return None


def matches(wanted: Uevent, subsystem: str, vendor: int | None) -> bool:
    return wanted.subsystem == subsystem and \
        (wanted.vendor is None or vendor == int(wanted.vendor, 16))


_shared: dict[int, tuple[Watcher, int]] = {}
_shared_lock = threading.Lock()


def watch(registry: Registry | None = None, poll_s: float = 2.0, debounce_s: float = 0.2,
          udev: bool = True) -> Watcher:
    """Start a watcher of kernel device events (or a poller where they are not available)
    for ``registry`` (default: the process-wide one); ``.stop()`` ends it."""
    return Watcher(registry, poll_s, debounce_s, udev)


def shared(registry: Registry) -> Watcher:
    """The registry's one watcher, started on first use (a session holds it while open)."""
    with _shared_lock:
        watcher, users = _shared.get(id(registry), (None, 0))
        if watcher is None:
            watcher = Watcher(registry)
        _shared[id(registry)] = (watcher, users + 1)
        return watcher


def release(registry: Registry) -> None:
    """A session no longer needs the registry's watcher; the last one stops it."""
    with _shared_lock:
        watcher, users = _shared.get(id(registry), (None, 0))
        if watcher is None:
            return
        if users <= 1:
            del _shared[id(registry)]
            watcher.stop()
        else:
            _shared[id(registry)] = (watcher, users - 1)


__all__ = ["Watcher", "watch"]

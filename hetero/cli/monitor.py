"""``hetero monitor``: a live terminal view of the devices, their state and the event log;
with ``--run MODEL`` it also drives a ``hetero.Session`` in a loop and shows, as devices come
and go, where the model runs, its throughput and each failover.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import deque
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

import hetero
from hetero import progress
from hetero.discovery import DeviceEvent
from hetero.session import Session


class View:
    """What the screen shows: the registry's events as they come, and the session's figures."""

    def __init__(self, session: Session | None = None, log: int = 12):
        self.session = session
        self.started = time.monotonic()
        self.log: deque[tuple[float, str]] = deque(maxlen=log)
        self.removed: dict[str, hetero.Device] = {}
        self.done: deque[float] = deque()  # completion times of the last second's requests
        self._lock = threading.Lock()
        self._unsubscribe = hetero.on_device_event(self.heard)

    def heard(self, event: DeviceEvent) -> None:
        device = event.device
        with self._lock:
            if event.kind == "removed":
                self.removed[device.id] = device
            else:
                self.removed.pop(device.id, None)
            self.log.append((time.monotonic(), f"{event.kind} {device.id} (registry generation "
                                               f"{event.generation})"))

    def completed(self) -> None:
        now = time.monotonic()
        with self._lock:
            self.done.append(now)
            while self.done and self.done[0] < now - 1.0:
                self.done.popleft()

    def close(self) -> None:
        self._unsubscribe()

    def render(self) -> Group:
        parts: list[Any] = [self.devices()]
        if self.session is not None:
            parts.append(self.figures())
        parts.append(self.events())
        return Group(*parts)

    def devices(self) -> Table:
        used = self.using()
        table = Table(title="devices", expand=True)
        for column in ("id", "kind", "backend", "state", "simulated"):
            table.add_column(column)
        live = hetero.devices()
        with self._lock:
            gone = [d for d in self.removed.values() if d not in live]
        for device in [*live, *gone]:
            state = "removed" if not device.alive else \
                f"live, runs {used[device.id]} node(s)" if device.id in used else "live"
            table.add_row(device.id, device.kind, device.backend,
                          f"[red]{state}[/]" if not device.alive else state,
                          "yes (figures modeled)" if device.simulated else "no")
        return table

    def using(self) -> dict[str, int]:
        if self.session is None:
            return {}
        try:
            placement = self.session.plan.placement
        except hetero.HeteroError:
            return {}
        counts: dict[str, int] = {}
        for device in placement.values():
            counts[device] = counts.get(device, 0) + 1
        return counts

    def figures(self) -> Panel:
        session = self.session
        stats = session.stats
        with self._lock:
            rate = len(self.done)
        failover = sorted(stats.failover_ms)
        tail = (f"failover p50 {failover[len(failover) // 2]:.1f} ms, max {failover[-1]:.1f} "
                f"ms over {len(failover)} (measured)") if failover else "no failover yet"
        lines = [f"plan generation {session.generation}: {session!r}",
                 f"{rate} requests/s (measured, last second); {stats.completed} completed, "
                 f"{stats.retried} retried, {stats.failed} failed, {stats.replans} re-plans",
                 tail]
        return Panel("\n".join(lines), title="session")

    def events(self) -> Panel:
        with self._lock:
            heard = list(self.log)
        if self.session is not None:
            heard += [(e.at, f"session: {e.kind}: {e.detail}") for e in self.session.events]
        heard = sorted(heard)[-self.log.maxlen:]
        lines = [f"{at - self.started:8.2f} s  {text}" for at, text in heard] or ["(none yet)"]
        return Panel("\n".join(lines), title="events")


def drive(session: Session, view: View, stop: threading.Event) -> None:
    """Run the session in a loop on random inputs of the model's declared shapes."""
    from hetero.cli.run import read_inputs

    feeds = read_inputs([], session.plan.graph)
    while not stop.is_set():
        try:
            session.run(feeds)
        except hetero.HeteroError:
            time.sleep(0.05)  # no plan now: the event log says why
            continue
        view.completed()


def cmd_monitor(args: argparse.Namespace) -> int:
    progress.enable(False)  # the live view owns the terminal: no second display under it
    from hetero.cli.devices import attach_requested

    attach_requested(args.sim)
    hetero.devices()
    session = Session(args.model, devices=args.devices.split(",") if args.devices else None,
                      objective=args.objective) if args.model else None
    watcher = hetero.watch() if session is None else session.watcher
    view, stop = View(session), threading.Event()
    driver = threading.Thread(target=drive, args=(session, view, stop), daemon=True) \
        if session is not None else None
    if driver is not None:
        driver.start()
    console = Console()
    end = time.monotonic() + args.seconds if args.seconds else float("inf")
    try:
        with Live(view.render(), console=console, refresh_per_second=4,
                  auto_refresh=False) as live:
            while time.monotonic() < end:
                time.sleep(min(0.25, max(0.0, end - time.monotonic())))
                live.update(view.render(), refresh=True)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if driver is not None:
            driver.join(5)
        view.close()
        if session is not None:
            session.close()
        elif watcher is not None:
            watcher.stop()
    mode = f"{watcher.mode}" + (f" ({watcher.why})" if watcher and watcher.why else "") \
        if watcher is not None else "off"
    console.print(f"\ndevice events: {mode}")
    return 0


def add_monitor_command(sub: Any) -> None:
    monitor = sub.add_parser("monitor", help="watch devices come and go, live; with --run, a "
                                             "session's placement, throughput and failovers")
    monitor.add_argument("--run", dest="model", metavar="MODEL",
                         help="an .onnx file to run in a loop through a hetero.Session")
    monitor.add_argument("--devices", default="", metavar="SEL,SEL",
                         help="the session's devices (default: every live device, followed)")
    monitor.add_argument("--objective", default="energy",
                         choices=["energy", "latency", "edp"])
    monitor.add_argument("--sim", action="append", default=[], metavar="PROFILE[@LINK]",
                         help="attach a simulated device first (repeatable)")
    monitor.add_argument("--seconds", type=float, default=0.0,
                         help="stop after this long (default: until Ctrl-C)")
    monitor.set_defaults(run=cmd_monitor)


__all__ = ["View", "add_monitor_command", "cmd_monitor"]

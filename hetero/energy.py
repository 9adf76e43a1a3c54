"""Measured energy: cumulative hardware counters read around a piece of work.

A backend offers a ``Meter`` per device where the hardware counts energy (RAPL packages for
the host CPU, NVML's total-energy counter for NVIDIA GPUs, a Jetson's input power rail).
``Span`` reads every meter before and after a run, once per counter (``cpu:0`` and
``tvm:cpu:0`` read the same package), so a plan's run reports joules that were measured,
each with where they came from. A counter that fails is logged and left out: measuring must
never stop a run. ``Window`` reads them once across many runs to learn busy power.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hetero.device import Device

log = logging.getLogger("hetero")


@dataclass
class Meter:
    """A counter of joules that only grows (a counter that wraps, like RAPL's, is unwrapped
    by its reader)."""

    read_j: Callable[[], float]
    source: str  # "measured: RAPL package counters (sysfs powercap)", …
    key: str  # what it counts: devices whose meters share a key are measured together
    learn: bool = True  # False for a whole-board rail: its joules are not these devices' own

    def since(self, before: float, after: float) -> float:
        return max(after - before, 0.0)


@dataclass
class Energy:
    """Joules one counter measured during a run, the devices it covers, and how."""

    devices: list[str]
    joules: float
    source: str
    learn: bool = True  # whether the joules are these devices' own (see Meter.learn)


@dataclass
class Span:
    """Meters of the given devices, read at ``start()`` and ``stop()``."""

    meters: dict[str, tuple[list[str], Meter]] = field(default_factory=dict)
    _before: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, devices: Iterable[Device]) -> Span:
        span = cls()
        for device in devices:
            try:
                meter = device.impl.energy_meter(device) if device.impl is not None else None
            except Exception as exc:  # noqa: BLE001 - a counter must never stop a run
                log.warning("no energy counter for %s: %s", device.id, exc)
                continue
            if meter is None:
                continue
            if meter.key in span.meters:
                span.meters[meter.key][0].append(device.id)
            else:
                span.meters[meter.key] = ([device.id], meter)
        return span

    def start(self) -> None:
        self._before = {key: reading for key, (_, meter) in self.meters.items()
                        if (reading := read(meter)) is not None}

    def stop(self) -> list[Energy]:
        """Joules per counter since ``start``; a counter that failed to read is left out."""
        found = []
        for key, (ids, meter) in self.meters.items():
            after = read(meter)
            if key in self._before and after is not None:
                found.append(Energy(ids, meter.since(self._before[key], after), meter.source,
                                    meter.learn))
        return found


def read(meter: Meter) -> float | None:
    try:
        return meter.read_j()
    except Exception as exc:  # noqa: BLE001 - sysfs and NVML reads can fail transiently
        log.warning("energy counter %s failed to read: %s", meter.key, exc)
        return None


@dataclass
class Window:
    """Counters read once across many runs, to learn the busy power of the devices they
    measure: a run of a few ms is too short for a counter that moves in steps, and NVML's
    read took 3.4 ms on an H200 (twice per run doubled a ResNet-50 run's time)."""

    span: Span
    began: float
    busy: dict[str, float] = field(default_factory=dict)  # device id -> busy ms summed

    @classmethod
    def open(cls, devices: Iterable[Device]) -> Window | None:
        span = Span.of(devices)
        if not span.meters:
            return None
        span.start()
        return cls(span, time.perf_counter())

    def add(self, device: str, ms: float) -> None:
        self.busy[device] = self.busy.get(device, 0.0) + ms

    def computed(self, devices: list[str]) -> float:
        """Busy ms of the devices one counter measures, summed."""
        return sum(self.busy.get(d, 0.0) for d in devices)

    def watts(self, idle_w: dict[str, float], min_busy_ms: float, min_wall_ms: float
              ) -> list[tuple[list[str], float]] | None:
        """None until ``min_wall_ms`` have passed and some counter's devices computed for
        ``min_busy_ms``; then (devices, busy watts) per such counter whose joules are their
        own: joules less their idle draw while they waited, over the time they computed."""
        wall = (time.perf_counter() - self.began) * 1e3
        counted = [self.computed(ids) for ids, _ in self.span.meters.values()]
        if wall < min_wall_ms or max(counted) < min_busy_ms:
            return None
        found = []
        for energy in self.span.stop():
            computed = self.computed(energy.devices)
            if energy.learn and computed >= min_busy_ms:
                idle_mj = idle_w[energy.devices[0]] * max(wall - computed, 0.0)
                found.append((energy.devices, (energy.joules * 1e3 - idle_mj) / computed))
        return found

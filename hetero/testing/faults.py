"""Fault injection for hot-plug tests and chaos runs: a device whose backend fails some of its
nodes with ``DeviceLost``, as a USB accelerator dropping a transfer or a GPU raising a sticky
error does. Works on any backend: the device gets a twin of its backend (same state, same
class plus the fault), so everything else, type checks included, behaves as before.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable
from typing import Any

from hetero.device import Device
from hetero.errors import DeviceLost


class Faults:
    """How often a twin fails, and how often it has (seeded, thread-safe)."""

    def __init__(self, rate: float, seed: int = 0):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate={rate!r}: a fraction of nodes, between 0 and 1")
        self.rate, self.failed, self.ran = rate, 0, 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def strike(self) -> bool:
        with self._lock:
            self.ran += 1
            hit = self._random.random() < self.rate
            self.failed += hit
            return hit


class FaultyNodes:
    """Mixed in before a backend's class: ``run_node`` fails at the twin's rate."""

    faults: Faults

    def run_node(self, device: Device, prepared: Any, inputs: Any) -> Any:
        if self.faults.strike():
            raise DeviceLost(f"{device.id}: a node failed (injected fault)", device)
        return super().run_node(device, prepared, inputs)  # type: ignore[misc]

    def probe(self, device: Device) -> None:
        """A flaky device fails its health probe as often as its nodes."""
        if self.faults.strike():
            raise DeviceLost(f"{device.id}: the probe failed (injected fault)", device)
        super().probe(device)  # type: ignore[misc]


def inject(device: Device, rate: float, seed: int = 0) -> Callable[[], Faults]:
    """Make ``device`` fail ``rate`` of its nodes from now on; returns a function that
    restores its backend and gives the counts."""
    original = device.impl
    kind = type(original)
    twin = copy.copy(original)  # shares the backend's state: its dicts, locks and caches
    twin.__class__ = type(f"Faulty{kind.__name__}", (FaultyNodes, kind), {})
    twin.faults = Faults(rate, seed)
    device.impl = twin

    def restore() -> Faults:
        device.impl = original
        return twin.faults

    return restore


__all__ = ["Faults", "inject"]

"""NVIDIA Jetson boards: which module this is, its power mode, and its input power rail.

A Jetson's GPU is integrated (Tegra): it shares memory with the CPU. The board says what it
is in the device tree, its power mode (nvpmodel) in ``/var/lib/nvpmodel/status``, what that
mode allows (power budget, GPU clock cap) in ``/etc/nvpmodel.conf``, and it measures power
on INA3221 monitors exposed through hwmon. Those give watts, not joules, so
the energy meter integrates the module's input rail (VDD_IN) by sampling it.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hetero.energy import Meter

ROOT = Path("/")
INPUT_RAILS = ("VDD_IN", "POM_5V_IN", "VIN_SYS_5V0")  # the whole module, by board generation
SAMPLE_S = 0.005


@dataclass(frozen=True)
class PowerMode:
    """One nvpmodel mode: its number, name ("MODE_15W_6CORE"), the module's power budget
    (the watts in the name; None for MAXN) and the GPU's clock cap in Hz, where known."""

    id: str
    name: str | None = None
    budget_w: float | None = None
    gpu_max_hz: float | None = None


@dataclass(frozen=True)
class Board:
    model: str  # "NVIDIA Jetson Xavier NX Developer Kit"
    power_mode: PowerMode | None  # nvpmodel's active mode, where the board says


def board(root: Path = ROOT) -> Board | None:
    """The Jetson this runs on, or None on any other machine."""
    try:
        model = (root / "proc/device-tree/model").read_text().strip("\x00\n ")
    except OSError:
        return None
    if "jetson" not in model.lower():
        return None
    return Board(model, power_mode(root))


def power_mode(root: Path = ROOT) -> PowerMode | None:
    """nvpmodel's current mode ("pmode:0002" in its status file) with what its
    configuration says of it, where readable."""
    try:
        status = (root / "var/lib/nvpmodel/status").read_text()
    except OSError:
        return None
    _, _, number = status.strip().partition(":")
    if not number.isdigit():
        return None
    mode = str(int(number))
    return mode_settings(root, mode) or PowerMode(mode)


MODE_HEADER = re.compile(r"<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=(\S+?)\s*>")


def mode_settings(root: Path, mode: str) -> PowerMode | None:
    """The mode's block of ``/etc/nvpmodel.conf``: its name, the budget its name states and
    its ``GPU MAX_FREQ`` line."""
    try:
        conf = (root / "etc/nvpmodel.conf").read_text()
    except OSError:
        return None
    blocks = MODE_HEADER.split(conf)  # [before, id, name, body, id, name, body, ...]
    for at in range(1, len(blocks) - 2, 3):
        if blocks[at] == mode:
            name, body = blocks[at + 1], blocks[at + 2]
            watts = re.search(r"(\d+)W", name)
            clock = re.search(r"^\s*GPU\s+MAX_FREQ\s+(\d+)", body, re.MULTILINE)
            return PowerMode(mode, name, float(watts.group(1)) if watts else None,
                             float(clock.group(1)) if clock and int(clock.group(1)) > 0
                             else None)
    return None


def input_rail(root: Path = ROOT) -> Callable[[], float] | None:
    """Watts on the module's input rail from an INA3221 in hwmon (millivolts x milliamps)."""
    for hwmon in sorted((root / "sys/class/hwmon").glob("hwmon*")):
        for label in sorted(hwmon.glob("in*_label")):
            if label.read_text().strip() in INPUT_RAILS:
                channel = label.name[2:-len("_label")]
                volts, amps = hwmon / f"in{channel}_input", hwmon / f"curr{channel}_input"
                if volts.exists() and amps.exists():
                    return lambda v=volts, a=amps: (int(v.read_text()) * int(a.read_text())
                                                    / 1e6)
    return None


class Integrator:
    """Joules from a power reading: trapezoids between samples, taken every ``SAMPLE_S`` by
    a daemon thread once the first reading is asked for (and at every reading)."""

    def __init__(self, read_w: Callable[[], float], clock: Callable[[], float] = time.monotonic):
        self.read_w, self.clock = read_w, clock
        self.joules, self._last = 0.0, None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def sample(self) -> float:
        with self._lock:
            now, watts = self.clock(), self.read_w()
            if self._last is not None:
                then, before = self._last
                self.joules += (now - then) * (watts + before) / 2
            self._last = (now, watts)
            return self.joules

    def read_j(self) -> float:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="hetero-jetson-power")
                self._thread.start()
        return self.sample()

    def _run(self) -> None:
        while True:
            time.sleep(SAMPLE_S)
            with contextlib.suppress(OSError, ValueError):  # an I2C read can fail briefly
                self.sample()


_METERS: dict[Path, Meter] = {}


def meter(root: Path = ROOT) -> Meter | None:
    """The module's input power, integrated (one sampler per board)."""
    if root not in _METERS:
        read_w = input_rail(root)
        if read_w is None:
            return None
        _METERS[root] = Meter(Integrator(read_w).read_j,
                              f"measured: Jetson input rail (INA3221, the whole module), "
                              f"sampled every {SAMPLE_S * 1000:g} ms", "jetson-input-rail",
                              learn=False)
    return _METERS[root]

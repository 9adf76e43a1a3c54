"""Small builders for tests: synthetic profiles and devices that need no hardware."""

from __future__ import annotations

from hetero.backend import HostMemoryBackend
from hetero.device import Device, DeviceProfile


def profile(name: str = "test-profile", kind: str = "cpu", **overrides) -> DeviceProfile:
    figures = dict(
        peak_gflops={"float32": 100.0}, mem_bandwidth_gbs=10.0, active_w=10.0, idle_w=1.0,
        launch_overhead_us=5.0, unified_memory=True, memory_bytes=2**30,
        source="estimate: test fixture",
        sources={"peak_gflops.float32": "estimate: test"})
    figures.update(overrides)
    return DeviceProfile(name=name, kind=kind, **figures)


def device(id: str, kind: str = "cpu", backend: str | None = None, profile_name: str = "p",
           impl=None) -> Device:
    backend = backend or id.split(":")[0]
    return Device(id=id, name=f"test {id}", backend=backend, kind=kind, arch="test",
                  memory_bytes=2**30, profile=profile(profile_name, kind),
                  impl=impl or HostMemoryBackend())


class TickClock:
    """A device clock (``Backend.node_clock``) stand-in: each mark is a tick, and a node
    between two marks lasts 2.5 ms per tick."""

    def __init__(self):
        self.ticks = 0

    def mark(self):
        self.ticks += 1
        return self.ticks

    def elapsed_ms(self, start, end):
        return (end - start) * 2.5

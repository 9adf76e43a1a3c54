"""The host CPU backend (x86_64 and aarch64, one code path): host memory, figures measured here."""

from __future__ import annotations

from hetero.backends.cpu import rapl
from hetero.backends.cpu.hostinfo import HostInfo, read_host_info
from hetero.backends.cpu.kernels import NumbaKernels
from hetero.backends.cpu.microbench import cache_key, measure
from hetero.backends.cpu.nodes import HostNodes

from hetero.backend import HostMemoryBackend
from hetero.cache import cached
from hetero.device import HOST_CPU, Device, DeviceProfile
from hetero.energy import Meter
from hetero.hookspecs import hookimpl

HETERO_PLUGIN_API = 1
#: the cached micro-benchmark's layout (what ``host_device`` reads): a cache file of another
#: layout is discarded and the host measured again (``hetero.cache.mismatch``)
FIGURES = {"peak_gflops": {str: float}, "mem_bandwidth_gbs": float, "active_w": float,
           "idle_w": float, "launch_overhead_us": float, "sources": {str: str},
           "measured_at": str}


def figures(info: HostInfo) -> dict:
    """The host's measured figures: from the cache, else measured now (about a second)."""
    return cached("cpu-profile", cache_key(info), lambda: measure(info), schema=FIGURES)


def profile_source(sources: dict[str, str]) -> str:
    power = sources.get("active_w", "")
    if power.startswith("measured"):
        return "measured"
    return "measured (peak, bandwidth, launch); power modeled: no RAPL counters"


def host_device(info: HostInfo, figures: dict) -> Device:
    """The ``cpu:0`` device from the host description and its (cached) measured figures."""
    profile = DeviceProfile(
        name="host-cpu", kind="cpu", arch=info.arch, description=info.name,
        peak_gflops=figures["peak_gflops"], mem_bandwidth_gbs=figures["mem_bandwidth_gbs"],
        active_w=figures["active_w"], idle_w=figures["idle_w"],
        launch_overhead_us=figures["launch_overhead_us"], unified_memory=True,
        memory_bytes=info.memory_bytes, source=profile_source(figures["sources"]),
        sources={**figures["sources"], "memory_bytes": "measured: /proc/meminfo MemTotal"},
        default_link="shared")
    return Device(
        id="cpu:0", name=info.name, backend="cpu", kind="cpu", arch=info.arch,
        memory_bytes=info.memory_bytes, profile=profile, features=info.features,
        info={"cores": info.cores, "board": info.board, "measured_at": figures["measured_at"],
              "silicon": HOST_CPU})


class CPUBackend(NumbaKernels, HostNodes, HostMemoryBackend):
    """The machine hetero runs on, as one device; its buffers are NumPy arrays."""

    name = "cpu"

    def __init__(self) -> None:
        self._device: Device | None = None

    def discover(self) -> list[Device]:
        if self._device is None:
            info = read_host_info()
            self._device = host_device(info, figures(info))
        return [self._device]

    def energy_meter(self, device: Device) -> Meter | None:
        return rapl.meter()


@hookimpl
def hetero_backends() -> list[CPUBackend]:
    return [CPUBackend()]

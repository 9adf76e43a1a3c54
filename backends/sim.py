"""The simulated backend: catalogued hardware attached at run time, computing on the host.

Results are real (NumPy on the host); time and energy are modeled from the profile and labelled
so. Every simulated device says so in its name, its ``simulated`` flag and every listing.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np
from hetero.backends.cpu.kernels import NumbaKernels
from hetero.backends.cpu.nodes import HostNodes

from hetero.backend import HostMemoryBackend
from hetero.catalogue import LinkProfile
from hetero.device import Device, DeviceProfile
from hetero.errors import DeviceOutOfMemory
from hetero.hookspecs import hookimpl

HETERO_PLUGIN_API = 1


class SimBackend(NumbaKernels, HostNodes, HostMemoryBackend):
    """Holds the simulated devices attached so far; discovery reports exactly those."""

    name = "sim"
    simulated = True

    def __init__(self) -> None:
        self._attached: list[Device] = []
        self._lock = threading.Lock()
        self._used: dict[Device, int] = {}  # bytes of live arrays per device

    def discover(self) -> list[Device]:
        with self._lock:
            return list(self._attached)

    def attach(self, profile: DeviceProfile, link: LinkProfile | None) -> Device:
        """A new simulated device of ``profile``: id ``sim:<profile>:<lowest free index>``."""
        with self._lock:
            taken = {d.id for d in self._attached}
            index = next(i for i in range(len(taken) + 1)
                         if f"sim:{profile.name}:{i}" not in taken)
            device = Device(
                id=f"sim:{profile.name}:{index}",
                name=f"{profile.description or profile.name} (simulated)", backend=self.name,
                kind=profile.kind, arch=profile.arch or profile.name,
                memory_bytes=profile.memory_bytes, profile=profile, simulated=True, link=link,
                impl=self, info={"computes_on": "host CPU (NumPy)", "figures": "modeled"})
            self._attached.append(device)
            return device

    def detach(self, device: Device) -> None:
        with self._lock:
            self._attached.remove(device)

    def allocate(self, device: Device, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        return self._charged(device, nbytes,
                             lambda: HostMemoryBackend.allocate(self, device, shape, dtype))

    def from_host(self, device: Device, host: np.ndarray) -> np.ndarray:
        """A copy of ``host`` (the caller's to write), charged to the device."""
        return self._charged(device, host.nbytes,
                             lambda: HostMemoryBackend.from_host(self, device, host))

    def constant(self, device: Device, host: np.ndarray) -> np.ndarray:
        """A weight, shared with the host where nothing can write it, charged as a copy."""
        return self._charged(device, host.nbytes,
                             lambda: HostMemoryBackend.constant(self, device, host))

    def memory_used(self, device: Device) -> int:
        """Bytes of live arrays on a simulated device."""
        with self._lock:
            return self._used.get(device, 0)

    def _charged(self, device: Device, nbytes: int, make: Any) -> np.ndarray:
        """Reserve ``nbytes`` of the profile's memory, then make the buffer; freed with it."""
        with self._lock:
            used = self._used.get(device, 0)
            if used + nbytes > device.memory_bytes:
                raise DeviceOutOfMemory(
                    f"{device.id} (simulated) holds {used:,} of {device.memory_bytes:,} bytes; "
                    f"{nbytes:,} more do not fit. Free arrays on it, or pick a larger device")
            self._used[device] = used + nbytes
        try:
            buffer = make()
        except BaseException:
            self._release(device, nbytes)
            raise
        weakref.finalize(buffer, self._release, device, nbytes)
        return buffer

    def _release(self, device: Device, nbytes: int) -> None:
        with self._lock:
            self._used[device] -= nbytes
            if not self._used[device]:
                del self._used[device]  # detached devices leave no entry behind

    def modeled_cost(self, device: Device, work: Any) -> dict[str, Any]:
        """Roofline time and active energy of ``work`` on the profile, labelled modeled."""
        profile = device.profile
        seconds = profile.roofline_s(work.flops, work.bytes, work.dtype)
        return {"time_ms": seconds * 1e3, "energy_mj": profile.active_w * seconds * 1e3,
                "source": f"modeled: roofline of profile {profile.name!r} ({profile.source})"}


@hookimpl
def hetero_backends() -> list[SimBackend]:
    return [SimBackend()]

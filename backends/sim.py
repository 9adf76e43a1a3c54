"""The simulated backend: catalogued hardware attached at run time, computing on the host.

Results are real (NumPy on the host); time and energy are modeled from the profile and labelled
so. Every simulated device says so in its name, its ``simulated`` flag and every listing.
"""

from __future__ import annotations

import threading
from typing import Any

from hetero.backend import HostMemoryBackend
from hetero.catalogue import LinkProfile
from hetero.device import Device, DeviceProfile
from hetero.hookspecs import hookimpl

HETERO_PLUGIN_API = 1


class SimBackend(HostMemoryBackend):
    """Holds the simulated devices attached so far; discovery reports exactly those."""

    name = "sim"
    simulated = True

    def __init__(self) -> None:
        self._attached: list[Device] = []
        self._lock = threading.Lock()

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

    def modeled_cost(self, device: Device, work: Any) -> dict[str, Any]:
        """Roofline time and active energy of ``work`` on the profile, labelled modeled."""
        profile = device.profile
        seconds = profile.roofline_s(work.flops, work.bytes, work.dtype)
        return {"time_ms": seconds * 1e3, "energy_mj": profile.active_w * seconds * 1e3,
                "source": f"modeled: roofline of profile {profile.name!r} ({profile.source})"}


@hookimpl
def hetero_backends() -> list[SimBackend]:
    return [SimBackend()]

"""``Device`` and ``DeviceProfile``: what a device is, and the figures the cost model uses."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from hetero.errors import DeviceLost, UnsupportedOp

if TYPE_CHECKING:
    from hetero.backend import Backend
    from hetero.catalogue import LinkProfile
    from hetero.queue import Queue

KINDS = ("cpu", "gpu", "npu", "fpga", "accelerator")
#: ``info["silicon"]`` of every device that computes on the host's own cores (cpu:0, an
#: OpenCL CPU device, TVM's llvm target): one piece of hardware seen by several backends
HOST_CPU = "host-cpu"
#: where a plan's feeds come from and its outputs return: the caller's memory
HOST = "host"


@dataclass(frozen=True)
class DeviceProfile:
    """Performance and power figures of one device, each with where it came from.

    ``source`` summarises the provenance ("measured", "datasheet: …", "modeled: …");
    ``sources`` maps each figure's field name to its own provenance, so a measured peak and a
    modeled power draw are never confused.
    """

    name: str
    kind: str
    peak_gflops: dict[str, float]
    mem_bandwidth_gbs: float
    active_w: float
    idle_w: float
    launch_overhead_us: float
    unified_memory: bool
    memory_bytes: int
    source: str
    sources: dict[str, str] = field(default_factory=dict)
    description: str = ""
    default_link: str | None = None
    arch: str = ""

    def peak_for(self, dtype: str) -> float:
        """Peak GFLOP/s for ``dtype``; a dtype the profile does not list is unsupported there."""
        if dtype not in self.peak_gflops:
            raise UnsupportedOp(
                f"profile {self.name!r} lists no peak for {dtype}; it lists "
                f"{', '.join(self.peak_gflops) or 'none'} (quantise, or pick another device)")
        return self.peak_gflops[dtype]

    def roofline_s(self, flops: float, nbytes: float, dtype: str = "float32") -> float:
        """Modeled seconds for ``flops`` and ``nbytes`` of work: the slower roof plus launch."""
        compute = flops / (self.peak_for(dtype) * 1e9)
        memory = nbytes / (self.mem_bandwidth_gbs * 1e9)
        return max(compute, memory) + self.launch_overhead_us * 1e-6

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(eq=False)
class Device:
    """One device as a backend discovered it. Identity is the object; ``id`` is its stable name.

    ``alive`` turns False when the device is removed (unplugged, detached): data and work that
    still refer to it raise :class:`~hetero.DeviceLost`.
    """

    id: str
    name: str
    backend: str
    kind: str
    arch: str
    memory_bytes: int
    profile: DeviceProfile
    simulated: bool = False
    features: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    link: LinkProfile | None = None
    impl: Backend | None = field(default=None, repr=False)
    #: The backend's own handle for the device (an OpenCL context and queue, …); not described.
    native: Any = field(default=None, repr=False)
    alive: bool = field(default=True, repr=False)
    _queue: Queue | None = field(default=None, init=False, repr=False)
    _queue_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"device {self.id}: kind {self.kind!r} is not one of {KINDS}")

    def __repr__(self) -> str:
        sim = ", simulated" if self.simulated else ""
        gone = ", removed" if not self.alive else ""
        return f"<Device {self.id} {self.name!r} ({self.kind}, {self.arch}{sim}{gone})>"

    @property
    def queue(self) -> Queue:
        """The device's in-order queue, created on first use."""
        from hetero.queue import Queue

        with self._queue_lock:
            if self._queue is None:
                self._queue = Queue(self)
            return self._queue

    def close_queue(self) -> None:
        """Stop the queue's worker once its work is done (the device went away)."""
        with self._queue_lock:
            if self._queue is not None:
                self._queue.close()

    def check_alive(self, doing: str = "use it") -> None:
        if not self.alive:
            raise DeviceLost(
                f"device {self.id} ({self.name}) was removed; cannot {doing}. Copy data off a "
                "device before detaching it, or pick a surviving device with hetero.devices()",
                device=self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; the simulated flag and figure sources are always included."""
        return {
            "id": self.id, "name": self.name, "backend": self.backend, "kind": self.kind,
            "arch": self.arch, "memory_bytes": self.memory_bytes, "simulated": self.simulated,
            "features": list(self.features), "info": self.info,
            "link": self.link.name if self.link else None, "profile": self.profile.to_dict(),
        }


def silicon(device: Device) -> str:
    """The hardware a device computes on: devices of different backends on the same chip
    share it (``info["silicon"]``); any other device is its own."""
    return device.info.get("silicon", device.id)


def one_per_silicon(devices: list[Device]) -> list[Device]:
    """The first device of each piece of hardware: the default set a plan is made for, as
    the cost model treats every device given as separate hardware running in parallel."""
    first: dict[str, Device] = {}
    for device in devices:
        first.setdefault(silicon(device), device)
    return list(first.values())

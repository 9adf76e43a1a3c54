"""The backend contract: what every backend, built-in or third-party, fills in.

Modelled on tinygrad's small backends: discovery, an allocator (allocate / copy in / copy out),
and execution. Optional abilities (compiling kernels, subgraphs, power telemetry) default to
"unsupported" with a message saying so; later layers add their own optional methods here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from hetero.errors import DeviceLost, UnsupportedOp

if TYPE_CHECKING:
    from hetero.device import Device
    from hetero.energy import Meter
    from hetero.kernel.ir import KernelIR
    from hetero.kernel.launch import LaunchSpec
    from hetero.queue import DeviceTime


def importable(module: str) -> bool:
    """Whether ``module`` can be found, without importing it (a blocked import counts as no)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules[module] is None (blocked)
        return False


class Clock(Protocol):
    """A device's own timer for work it runs asynchronously (CUDA events on a stream)."""

    def mark(self) -> Any:
        """A point in the device's work stream, placed now."""

    def elapsed_ms(self, start: Any, end: Any) -> float:
        """Device time between two marks; waits for the later one."""


@dataclass(frozen=True)
class Uevent:
    """Which kernel device events (udev) concern a backend: a subsystem ("pci", "usb",
    "drm", "accel", "misc", …), optionally only devices of one vendor (the hex id a USB or
    PCI device reports, e.g. "03e7" for Intel Movidius)."""

    subsystem: str
    vendor: str | None = None


class Backend:
    """Base class of every backend. Subclasses set ``name`` and implement ``discover``."""

    #: Unique backend name, used in device ids, selectors and HETERO_BACKENDS.
    name: ClassVar[str] = ""
    #: The pip extra that installs this backend's dependencies (``hetero[<extra>]``).
    extra: ClassVar[str | None] = None
    #: Modules that must be importable for the backend to work.
    requires: ClassVar[tuple[str, ...]] = ()
    #: True when the devices compute on the host and only model the target's figures.
    simulated: ClassVar[bool] = False
    #: True when the backend compiles each run of consecutive nodes placed on one of its
    #: devices as one unit (``prepare_subgraph``) rather than node by node (TVM, NPUs).
    subgraphs: ClassVar[bool] = False

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot run here (with the fix), or None when it can."""
        for module in self.requires:
            if not importable(module):
                fix = (f"pip install 'hetero[{self.extra}]'" if self.extra
                       else f"pip install {module}")
                return f"{module} is not installed: {fix}"
        return None

    def discover(self) -> list[Device]:
        """The devices present now. Called on every registry scan; may be called again later."""
        raise NotImplementedError

    def uevents(self) -> tuple[Uevent, ...]:
        """The kernel device events after which this backend's devices may have changed
        (``hetero.watch`` rescans it then, and only then); () for hardware that never comes
        or goes, or that the backend notices itself."""
        return ()

    # -- memory ------------------------------------------------------------------------------
    def allocate(self, device: Device, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        """Uninitialised device memory for an array of ``shape`` and ``dtype``."""
        raise UnsupportedOp(f"backend {self.name} cannot allocate memory")

    def from_host(self, device: Device, host: np.ndarray) -> Any:
        """Copy a host array onto the device; returns the backend's buffer."""
        raise UnsupportedOp(f"backend {self.name} cannot copy data to its devices")

    def constant(self, device: Device, host: np.ndarray) -> Any:
        """A model's weight on the device, which prepared steps read and never write: a copy
        (``from_host``) unless the backend can share the host's memory."""
        return self.from_host(device, host)

    def to_host(self, device: Device, buffer: Any, shape: tuple[int, ...],
                dtype: np.dtype) -> np.ndarray:
        """Copy a device buffer back into a new host array."""
        raise UnsupportedOp(f"backend {self.name} cannot copy data from its devices")

    def probe(self, device: Device) -> None:
        """Check that the device answers (a health probe before a quarantined device is
        trusted again): by default a small array copied there and back. Raise
        ``DeviceLost`` (or anything) when it does not."""
        host = np.arange(16, dtype=np.float32)
        back = self.to_host(device, self.from_host(device, host), host.shape, host.dtype)
        if not np.array_equal(np.asarray(back), host):
            raise DeviceLost(f"{device.id} returned other data than it was given", device)

    def dlpack_device(self, device: Device) -> tuple[int, int] | None:
        """The DLPack (device type, index) of the device's own memory, where foreign
        libraries can hand it over (``hetero.from_dlpack``); None for host memory."""
        return None

    def adopt(self, device: Device, obj: Any) -> tuple[Any, tuple[int, ...], np.dtype]:
        """(buffer, shape, dtype) sharing the memory of ``obj``, a DLPack producer on this
        device: no copy."""
        raise UnsupportedOp(f"backend {self.name} cannot import other libraries' memory")

    def export_dlpack(self, device: Device, buffer: Any, kwargs: dict[str, Any]) -> Any:
        """The buffer's DLPack capsule for a consumer (``Array.__dlpack__``); a backend that
        computes asynchronously orders the consumer's stream after its own work here."""
        return buffer.__dlpack__(**kwargs)

    def cuda_array_interface(self, device: Device, buffer: Any, shape: tuple[int, ...]
                             ) -> dict[str, Any] | None:
        """``__cuda_array_interface__`` (version 3: with the stream the data is ready on) of
        a buffer in CUDA memory, viewed with ``shape``; None for other memory."""
        return None

    def host_view(self, buffer: Any) -> np.ndarray | None:
        """The buffer as a host array without copying, when it lives in host memory; else None."""
        return None

    def reshape_buffer(self, buffer: Any, shape: tuple[int, ...]) -> Any:
        """The buffer viewed with another shape (flat device buffers need no change)."""
        return buffer

    # -- execution ---------------------------------------------------------------------------
    def execute(self, device: Device, fn: Callable[..., Any], args: Sequence[Any],
                kwargs: dict[str, Any]) -> Any:
        """Run ``fn`` on the device's queue with backend-native buffers in place of Arrays."""
        raise UnsupportedOp(f"backend {self.name} cannot run host callables")

    # -- kernels (the kernel language) ---------------------------------------------------------
    #: The code generator this backend's kernels use ("numba-cpu", "opencl", "cuda"), or None.
    kernel_target: ClassVar[str | None] = None

    def runs_kernels(self, device: Device) -> bool:
        """Whether this device compiles @hetero.kernel code (an accelerator a backend
        reaches through a graph compiler may run ONNX subgraphs only)."""
        return self.kernel_target is not None

    def kernel_source(self, device: Device, kernel: KernelIR, entry: str) -> str:
        """The code generated for one kernel specialisation on this device."""
        raise UnsupportedOp(f"backend {self.name} does not compile @hetero.kernel code")

    def compile_kernel(self, device: Device, kernel: KernelIR, entry: str) -> Any:
        """A runnable program for one kernel specialisation (KernelCompileError on failure)."""
        raise UnsupportedOp(f"backend {self.name} does not compile @hetero.kernel code")

    def run_kernel(self, device: Device, program: Any, args: Sequence[Any],
                   spec: LaunchSpec) -> DeviceTime | None:
        """Run a compiled kernel on native buffers; return the device's own timing if any."""
        raise UnsupportedOp(f"backend {self.name} does not run @hetero.kernel code")

    def max_group_size(self, device: Device) -> int:
        """The largest work-group this device runs, for launches that leave it to hetero."""
        return 256

    # -- ONNX nodes (the graph runtime) -------------------------------------------------------
    def node_tier(self, device: Device, node: Any, graph: Any) -> str | None:
        """How this device runs an ONNX ``node``: "native" (an implementation of its own),
        "reference" (onnx.reference's, slow) or None (it cannot). Placement reads this."""
        return None

    def prepare_node(self, device: Device, node: Any, graph: Any) -> Any:
        """Whatever running ``node`` needs, built once per plan (an evaluator, a program)."""
        raise UnsupportedOp(f"backend {self.name} does not run ONNX nodes")

    def step_family(self) -> str | None:
        """Backends that name the same family run each other's prepared nodes as they are
        (the same code on the same memory), so a re-plan moving a node between their
        devices prepares nothing again; None: a step is its device's own."""
        return None

    def run_node(self, device: Device, prepared: Any, inputs: dict[str, Any]) -> list[Any]:
        """Run a prepared node (or subgraph) on native buffers (by value name); its outputs,
        in order."""
        raise UnsupportedOp(f"backend {self.name} does not run ONNX nodes")

    def node_clock(self, device: Device) -> Clock | None:
        """For a device that runs nodes asynchronously (``run_node`` submits and returns):
        its timer, so a node's time is the device's, not the host's time to submit it.
        None where the host's clock around ``run_node`` times the node."""
        return None

    def capture(self, device: Device, work: Callable[[], None]) -> Callable[[], None] | None:
        """Record ``work`` (a run's node calls, all on this device) as one launch the device
        can replay (a CUDA graph: no per-node host work), and return what replays it; None
        where the device has no such thing or ``work`` cannot be recorded. Recording runs
        nothing: the caller replays once to compute."""
        return None

    def write(self, device: Device, buffer: Any, host: np.ndarray) -> None:
        """Copy ``host`` into ``buffer`` (same shape and dtype), in the device's order: the
        inputs of a captured run are refilled, not reallocated."""
        raise UnsupportedOp(f"backend {self.name} does not write into buffers")

    def prepare_subgraph(self, device: Device, nodes: list[Any], graph: Any,
                         inputs: list[str], outputs: list[str]) -> Any:
        """With ``subgraphs``: one unit for a run of consecutive nodes placed here, reading
        ``inputs`` (weights aside) and producing ``outputs``; ``run_node`` runs it."""
        raise UnsupportedOp(f"backend {self.name} does not compile subgraphs")

    def modeled_cost(self, device: Device, work: Any) -> dict[str, Any] | None:
        """Modeled time/energy of a work item (simulated backends); None when not modeled."""
        return None

    def power_w(self, device: Device) -> float | None:
        """Instantaneous measured power draw in watts, where the hardware tells; else None."""
        return None

    def energy_meter(self, device: Device) -> Meter | None:
        """The device's cumulative energy counter (``hetero.energy.Meter``), read around a
        plan's run to measure its joules; None where the hardware counts none."""
        return None


class HostMemoryBackend(Backend):
    """A backend whose buffers are host NumPy arrays (the CPU, and devices simulated on it)."""

    def allocate(self, device: Device, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return np.empty(shape, dtype=dtype)

    def from_host(self, device: Device, host: np.ndarray) -> np.ndarray:
        return np.array(host, copy=True, order="C")

    def constant(self, device: Device, host: np.ndarray) -> np.ndarray:
        """Shared where no one can write it (a model's weights as ``hetero.graph`` hands
        them out): ResNet-50's 100 MB are not copied once per device, and no side can tell."""
        if host.flags.c_contiguous and frozen(host):
            return host.view()
        return self.from_host(device, host)

    def to_host(self, device: Device, buffer: np.ndarray, shape: tuple[int, ...],
                dtype: np.dtype) -> np.ndarray:
        return buffer.copy()

    def host_view(self, buffer: np.ndarray) -> np.ndarray:
        return buffer

    def reshape_buffer(self, buffer: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return buffer.reshape(shape)

    def execute(self, device: Device, fn: Callable[..., Any], args: Sequence[Any],
                kwargs: dict[str, Any]) -> Any:
        return fn(*args, **kwargs)


def frozen(array: np.ndarray) -> bool:
    """Whether no one can write ``array``'s memory: it and every array it views are
    read-only, down to their owner or an immutable ``bytes`` (a read-only view of a
    writable array can still change)."""
    while isinstance(array, np.ndarray):
        if array.flags.writeable:
            return False
        array = array.base
    return array is None or isinstance(array, bytes)

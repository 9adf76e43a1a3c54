"""The CUDA backend: NVIDIA GPUs (Jetson included) through torch and numba.cuda.

Devices come from ``torch.cuda``; memory is torch tensors from its caching allocator, one
stream per device (``memory.py``); ONNX nodes run as torch ops (cuDNN, cuBLAS; ``ops/``,
``nodes.py``) and ``@hetero.kernel`` code as numba.cuda kernels, which take the tensors
through ``__cuda_array_interface__``. With ``NUMBA_ENABLE_CUDASIM=1`` numba's CUDA simulator
stands in for a GPU: the device is listed as simulated and computes on the host (torch's CPU
tensors), which is how CI checks the code generator and the torch ops. Energy is measured
through NVML's total-energy counter (``nvml.py``) or, on a Jetson, the module's input power
rail (``jetson.py``), whose integrated GPU shares the host's memory.
"""

from __future__ import annotations

import contextlib
import glob
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from hetero.backends.cuda import jetson
from hetero.backends.cuda.errors import lost_on_sticky
from hetero.backends.cuda.memory import DLPACK_CUDA, Memory, numpy_dtype
from hetero.backends.cuda.nodes import TorchNodes
from hetero.backends.cuda.nvml import (
    Figures,
    figures,
    nvml_meter,
    pcie_generation,
    watch_xids,
)

from hetero.backend import Backend, Clock, Uevent
from hetero.catalogue import LinkProfile
from hetero.device import Device, DeviceProfile
from hetero.discovery import default_registry
from hetero.energy import Meter
from hetero.errors import HeteroError, UnsupportedOp
from hetero.hookspecs import hookimpl
from hetero.kernel import ir
from hetero.kernel.codegen import cuda as codegen
from hetero.kernel.codegen.pysource import load_python
from hetero.kernel.launch import LaunchSpec
from hetero.kernel.types import ArrayType, marshal_scalars
from hetero.queue import DeviceTime

HETERO_PLUGIN_API = 1
ASSUMED_CLOCK_GHZ = 1.4
ASSUMED_BANDWIDTH_GBS = 500.0
#: float32 fused multiply-adds per clock per SM by compute capability: NVIDIA, CUDA C++
#: Programming Guide, "Throughput of Native Arithmetic Instructions" (Pascal GP100, Volta,
#: Turing and A100 have 64; the others since Maxwell 128)
FP32_LANES_BY_ARCH = {"sm_60": 64, "sm_70": 64, "sm_72": 64, "sm_75": 64, "sm_80": 64}
FP32_LANES_PER_SM = 128
DEFAULT_BLOCK = 128
MAX_GRID_YZ = 65535  # CUDA's limit on a grid's y and z extents (x: 2^31 - 1)


def numpy_aliases_for_numba_cuda() -> None:
    """numba-cuda (0.30.4, the newest) registers an overload of ``np.row_stack`` when it
    compiles its first kernel; NumPy 2.5 removed that alias of ``vstack`` (deprecated in 2.0),
    so on a GPU every kernel failed to compile (seen on an H200 with NumPy 2.5.2). Restores
    the alias until numba-cuda drops it."""
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack


numpy_aliases_for_numba_cuda()


def simulator() -> bool:
    from numba import config

    return bool(config.ENABLE_CUDASIM)


GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia[0-9]*", "/dev/nvhost-ctrl-gpu",
                    "/dev/nvgpu", "/dev/dxg")  # discrete, Jetson (two generations), WSL2


def gpu_profile(name: str, arch: str, sms: int, memory: int, simulated: bool,
                integrated: bool = False, mode: jetson.PowerMode | None = None,
                nvml: Figures | None = None) -> DeviceProfile:
    """Figures derived from the device's attributes, NVML's clocks, bus and idle draw, and a
    Jetson's power mode (its GPU clock cap and module budget); busy power stays a guess
    until NVML or a rail measures it. An integrated GPU (Tegra) works in the host's memory,
    so moves to it cost nothing."""
    nvml = nvml or Figures()
    clock, clock_note = ASSUMED_CLOCK_GHZ, f"assumed {ASSUMED_CLOCK_GHZ} GHz"
    if mode is not None and mode.gpu_max_hz:
        clock = mode.gpu_max_hz / 1e9
        clock_note = f"{clock:.3g} GHz, power mode {mode.name}'s GPU cap (nvpmodel)"
    elif nvml.sm_clock_mhz:
        clock, clock_note = nvml.sm_clock_mhz / 1e3, f"{nvml.sm_clock_mhz:.0f} MHz (NVML max)"
    lanes = FP32_LANES_BY_ARCH.get(arch, FP32_LANES_PER_SM)
    note = "modeled: an assumed figure; runs measured by NVML or a Jetson rail replace it"
    bandwidth = nvml.bandwidth_gbs or ASSUMED_BANDWIDTH_GBS
    sources = {"peak_gflops.float32": f"modeled: {sms} SMs x {lanes} FP32 lanes "
                                      f"x 2 FLOP x {clock_note}",
               "mem_bandwidth_gbs": note if nvml.bandwidth_gbs is None else
               f"modeled: NVML's {nvml.memory_clock_mhz:.0f} MHz memory clock x 2 x "
               f"{nvml.bus_width_bits}-bit bus",
               "active_w": note, "idle_w": note,
               "launch_overhead_us": "estimate: typical CUDA kernel launch latency",
               "memory_bytes": "measured: cudaMemGetInfo" if not simulated
               else "modeled: the simulator has no device memory"}
    active_w = 250.0
    if mode is not None and mode.budget_w:
        active_w = mode.budget_w
        sources["active_w"] = (f"nvpmodel: power mode {mode.name}'s module budget, until a "
                               "run measures the draw")
    idle_w = 2.5 if integrated else 30.0
    if nvml.idle_w is not None:
        idle_w = round(nvml.idle_w, 1)
        sources["idle_w"] = "measured: NVML power draw at discovery, the GPU idle"
    return DeviceProfile(
        name=f"cuda-{name}", kind="gpu", arch=arch, description=name,
        peak_gflops={"float32": round(sms * lanes * 2 * clock, 1)},
        mem_bandwidth_gbs=round(bandwidth, 1), active_w=max(active_w, idle_w), idle_w=idle_w,
        launch_overhead_us=5.0, unified_memory=integrated, memory_bytes=memory,
        source="modeled (numba CUDA simulator: computes on the host CPU)" if simulated
        else "modeled", sources=sources)


def host_link(integrated: bool, generation: int | None) -> LinkProfile:
    """How data reaches the GPU from the host, for the cost model: nothing to cross on an
    integrated GPU (Tegra), else the PCIe preset of the link's generation (4 when unknown)."""
    links = default_registry().catalogue()[1]
    if integrated:
        return links["shared"]
    return links["pcie3" if generation is not None and generation <= 3 else "pcie4"]


def bus_id(props: Any) -> str | None:
    """The PCI bus id NVML knows the GPU by ("00000000:3b:00.0"), where torch reports it."""
    if getattr(props, "pci_bus_id", None) is None:
        return None
    return (f"{getattr(props, 'pci_domain_id', 0):08x}:{props.pci_bus_id:02x}:"
            f"{getattr(props, 'pci_device_id', 0):02x}.0")


@dataclass
class CUDAProgram:
    kernel: ir.KernelIR
    source: str
    function: Any


class CUDABackend(TorchNodes, Backend):
    """GPUs torch can see (or numba's CUDA simulator, flagged simulated)."""

    name = "cuda"
    extra = "cuda"
    requires = ("numba", "torch")
    kernel_target = "cuda"

    def __init__(self) -> None:
        self._memory: dict[str, Memory] = {}
        self._xid_stop: threading.Event | None = None

    def uevents(self) -> tuple[Uevent, ...]:
        """NVIDIA's PCI devices (vendor 0x10de: an eGPU, a hot-plugged card)."""
        return (Uevent("pci", "10de"),)

    def unavailable_reason(self) -> str | None:
        missing = super().unavailable_reason()
        if missing or simulator():
            return missing
        hint = "; NUMBA_ENABLE_CUDASIM=1 runs a simulated CUDA device on the host instead"
        if not any(glob.glob(pattern) for pattern in GPU_DEVICE_FILES):
            return f"no NVIDIA GPU here (no /dev/nvidia* or Jetson GPU device){hint}"
        import torch

        if torch.version.cuda is None:
            return (f"torch {torch.__version__} is a CPU-only build: install a CUDA build "
                    f"(pip install 'hetero[cuda]' where PyPI serves one){hint}")
        if not torch.cuda.is_available():
            return f"torch sees no CUDA device (driver missing or too old?){hint}"
        return None

    def discover(self) -> list[Device]:
        if simulator():
            from numba import cuda

            return [self.simulated_device(i) for i in range(len(cuda.gpus))]
        import torch

        found = [self.real_device(i, torch.cuda.get_device_properties(i))
                 for i in range(torch.cuda.device_count())]
        self.watch_xids(found)
        return found

    def watch_xids(self, found: list[Device]) -> None:
        """Follow NVML's critical Xid events for the GPUs just found (a GPU that fell off
        the bus may still be listed until the driver lets go of it)."""
        if self._xid_stop is not None:
            self._xid_stop.set()
        self._xid_stop = threading.Event()
        watch_xids({d.info.get("pci_bus_id") or d.native: d for d in found}, self.lost,
                   self._xid_stop)

    def lost(self, device: Device, xid: int) -> None:
        """A critical Xid: the registry's device of that id is marked lost, and every
        subscriber (a session re-plans) is told."""
        registry = default_registry()
        for known in registry.devices():
            if known.id == device.id and known.backend == self.name:
                known.info["lost"] = f"NVML critical Xid {xid}"
                with contextlib.suppress(HeteroError):
                    registry.remove(known)

    def real_device(self, index: int, props: Any) -> Device:
        import torch

        name, arch = props.name, f"sm_{props.major}{props.minor}"
        integrated = bool(getattr(props, "is_integrated", False))
        _, total = torch.cuda.mem_get_info(index)
        info: dict[str, Any] = {"integrated": integrated, "pci_bus_id": bus_id(props),
                                "torch": torch.__version__, "cuda": torch.version.cuda}
        found = jetson.board() if integrated else None
        mode = found.power_mode if found is not None else None
        if found is not None:
            info.update(jetson=found.model, power_mode=mode and (mode.name or mode.id))
        profile = gpu_profile(name, arch, props.multi_processor_count, total, False,
                              integrated, mode, figures(info["pci_bus_id"] or index))
        return Device(id=f"cuda:{index}", name=name, backend=self.name, kind="gpu", arch=arch,
                      memory_bytes=total, profile=profile, impl=self, info=info,
                      link=host_link(integrated, pcie_generation(info["pci_bus_id"] or index)),
                      native=index)

    def simulated_device(self, index: int) -> Device:
        name = "numba CUDA simulator"
        memory = 2**30
        return Device(id=f"cuda:{index}", name=f"{name} (simulated, runs on the host CPU)",
                      backend=self.name, kind="gpu", arch="sm_50 (simulated)",
                      memory_bytes=memory, profile=gpu_profile(name, "sm_50", 1, memory, True),
                      simulated=True, impl=self,
                      info={"computes_on": "host CPU (numba CUDA simulator, torch's CPU "
                                           "tensors)", "figures": "modeled"}, native=index)

    def energy_meter(self, device: Device) -> Meter | None:
        """NVML's total-energy counter (millijoules since the driver loaded; Volta and
        newer) where nvidia-ml-py is installed and the GPU reports it; on a Jetson, the
        module's input power rail, integrated (the whole module's draw)."""
        if device.simulated:
            return None
        found = nvml_meter(device.info.get("pci_bus_id") or device.native)
        if found is None and device.info.get("integrated"):  # Tegra has no NVML: its rail
            found = jetson.meter()
        return found

    # -- memory -------------------------------------------------------------------------------
    def memory(self, device: Device) -> Memory:
        """The device's allocator and stream, made on first use."""
        found = self._memory.get(device.id)
        if found is None:
            where = "cpu" if device.simulated else f"cuda:{device.native}"
            found = self._memory[device.id] = Memory(where)
        return found

    def allocate(self, device: Device, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        return self.memory(device).allocate(shape, dtype)

    def from_host(self, device: Device, host: np.ndarray) -> Any:
        return self.memory(device).from_host(host)

    def to_host(self, device: Device, buffer: Any, shape: tuple[int, ...],
                dtype: np.dtype) -> np.ndarray:
        return self.memory(device).to_host(buffer, shape)

    def reshape_buffer(self, buffer: Any, shape: tuple[int, ...]) -> Any:
        return buffer.reshape(shape)

    def export_dlpack(self, device: Device, buffer: Any, kwargs: dict[str, Any]) -> Any:
        return self.memory(device).export(buffer, kwargs)

    def cuda_array_interface(self, device: Device, buffer: Any, shape: tuple[int, ...]
                             ) -> dict[str, Any] | None:
        return self.memory(device).interface(buffer.reshape(shape))

    def dlpack_device(self, device: Device) -> tuple[int, int] | None:
        return None if device.simulated else (DLPACK_CUDA, device.native)

    def adopt(self, device: Device, obj: Any) -> tuple[Any, tuple[int, ...], np.dtype]:
        tensor = self.memory(device).adopt(obj)
        return tensor, tuple(tensor.shape), numpy_dtype(tensor)

    def capture(self, device: Device, work: Any) -> Any:
        """A CUDA graph of ``work`` on the device's stream (none in the simulator)."""
        return None if device.simulated else self.memory(device).capture(work)

    def write(self, device: Device, buffer: Any, host: np.ndarray) -> None:
        self.memory(device).write(buffer, host)

    def node_clock(self, device: Device) -> Clock | None:
        """CUDA events on the device's stream; the simulator computes synchronously."""
        return None if device.simulated else self.memory(device)

    # -- kernels ------------------------------------------------------------------------------
    def kernel_source(self, device: Device, kernel: ir.KernelIR, entry: str) -> str:
        return codegen.generate(kernel, entry)

    def compile_kernel(self, device: Device, kernel: ir.KernelIR, entry: str) -> CUDAProgram:
        from numba import cuda

        source = codegen.generate(kernel, entry)
        function = load_python(source, entry, {"cuda": cuda})
        return CUDAProgram(kernel, source, cuda.jit(function))

    def run_kernel(self, device: Device, program: CUDAProgram, args: list[Any],
                   spec: LaunchSpec) -> DeviceTime | None:
        """Launch on the device's stream and wait; on a GPU, CUDA events time the kernel."""
        from numba import cuda

        memory = self.memory(device)
        block = spec.local_size or (min(DEFAULT_BLOCK, spec.global_size[0]), 1, 1)
        blocks = tuple(-(-g // b) for g, b in zip(spec.global_size, block, strict=True))
        if max(blocks[1:]) > MAX_GRID_YZ:
            raise UnsupportedOp(
                f"launching {program.kernel.name}: {blocks[1]} x {blocks[2]} blocks in y and "
                f"z exceed CUDA's {MAX_GRID_YZ}; give a local_size with larger y/z extents, "
                "or put the long axis first (x allows 2^31 - 1 blocks)")
        params = program.kernel.params
        values = [memory.kernel_view(v) if isinstance(p.type, ArrayType) else v
                  for p, v in zip(params, marshal_scalars(params, args), strict=True)]
        if memory.stream is None:  # the simulator's "device" is the host: no device timer
            program.function[blocks, block](*values, *spec.global_size)
            return None
        with lost_on_sticky(device), cuda.gpus[device.native]:  # numba's context for it
            stream = cuda.external_stream(memory.stream.cuda_stream)
            launched = compiled(program.function, [*values, *spec.global_size])
            start, end = cuda.event(), cuda.event()
            start.record(stream)
            launched[blocks, block, stream](*values, *spec.global_size)
            end.record(stream)
            end.synchronize()
            return DeviceTime(round(cuda.event_elapsed_time(start, end) * 1e6))

    def max_group_size(self, device: Device) -> int:
        return 1024


def compiled(function: Any, args: list[Any]) -> Any:
    """The kernel compiled for these arguments' types before its events are recorded: numba
    compiles at the first call, and on an H200 the first launch's events measured 844 ms of
    compiling for a 1000-element kernel."""
    import numba

    function.compile(tuple(numba.typeof(a) for a in args))
    return function


@hookimpl
def hetero_backends() -> list[CUDABackend]:
    return [CUDABackend()]

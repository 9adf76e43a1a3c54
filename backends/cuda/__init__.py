"""The CUDA backend: NVIDIA GPUs (Jetson included) through numba.cuda.

Memory is numba device arrays; kernels are the kernel IR printed as numba.cuda Python. With
``NUMBA_ENABLE_CUDASIM=1`` numba's CUDA simulator stands in for a GPU: the device is listed as
simulated (it runs on the host CPU), which is how CI checks the CUDA code generator.
Energy is measured through NVML's total-energy counter (``nvml.py``) or, on a Jetson, the
module's input power rail (``jetson.py``), whose integrated GPU shares the host's memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from hetero.backends.cuda import jetson
from hetero.backends.cuda.nvml import nvml_meter, pcie_generation

from hetero.backend import Backend
from hetero.catalogue import LinkProfile
from hetero.device import Device, DeviceProfile
from hetero.energy import Meter
from hetero.hookspecs import hookimpl
from hetero.kernel import ir
from hetero.kernel.codegen import cuda as codegen
from hetero.kernel.codegen.pysource import load_python
from hetero.kernel.launch import LaunchSpec
from hetero.kernel.types import marshal_scalars
from hetero.queue import DeviceTime

HETERO_PLUGIN_API = 1
ASSUMED_CLOCK_GHZ = 1.4
FP32_LANES_PER_SM = 64
DEFAULT_BLOCK = 128


def simulator() -> bool:
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def gpu_profile(name: str, arch: str, sms: int, memory: int, simulated: bool) -> DeviceProfile:
    """Figures derived from the device's attributes; power is unknown until NVML measures it."""
    peak = sms * FP32_LANES_PER_SM * 2 * ASSUMED_CLOCK_GHZ
    note = "modeled: an assumed figure; runs measured by NVML or a Jetson rail replace it"
    source = "modeled (numba CUDA simulator: computes on the host CPU)" if simulated \
        else "modeled"
    return DeviceProfile(
        name=f"cuda-{name}", kind="gpu", arch=arch, description=name,
        peak_gflops={"float32": round(peak, 1)}, mem_bandwidth_gbs=500.0, active_w=250.0,
        idle_w=30.0, launch_overhead_us=5.0, unified_memory=False, memory_bytes=memory,
        source=source,
        sources={"peak_gflops.float32": f"modeled: {sms} SMs x {FP32_LANES_PER_SM} FP32 lanes "
                                        f"x 2 FLOP x assumed {ASSUMED_CLOCK_GHZ} GHz",
                 "mem_bandwidth_gbs": note, "active_w": note, "idle_w": note,
                 "launch_overhead_us": "estimate: typical CUDA kernel launch latency",
                 "memory_bytes": "measured: cuMemGetInfo" if not simulated
                 else "modeled: the simulator has no device memory"})


def host_link(integrated: bool, generation: int | None) -> LinkProfile:
    """How data reaches the GPU from the host, for the cost model: nothing to cross on an
    integrated GPU (Tegra), else the PCIe preset of the link's generation (4 when unknown)."""
    import hetero

    if integrated:
        return hetero.links()["shared"]
    return hetero.links()["pcie3" if generation is not None and generation <= 3 else "pcie4"]


@dataclass
class CUDAProgram:
    kernel: ir.KernelIR
    source: str
    function: Any


class CUDABackend(Backend):
    """GPUs numba.cuda can see (or its simulator, flagged simulated)."""

    name = "cuda"
    extra = "cuda"
    requires = ("numba",)
    kernel_target = "cuda"

    def unavailable_reason(self) -> str | None:
        missing = super().unavailable_reason()
        if missing:
            return missing
        from numba import cuda

        if not cuda.is_available():
            return ("numba.cuda sees no CUDA device (no NVIDIA GPU or driver here); "
                    "NUMBA_ENABLE_CUDASIM=1 runs kernels in numba's CUDA simulator instead")
        return None

    def discover(self) -> list[Device]:
        from numba import cuda

        devices = []
        for i, gpu in enumerate(cuda.gpus):
            devices.append(self.simulated_device(i) if simulator() else self.real_device(i, gpu))
        return devices

    def real_device(self, index: int, gpu: Any) -> Device:
        from numba import cuda

        with gpu:
            dev = cuda.get_current_device()
            _, total = cuda.current_context().get_memory_info()
            name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
            major, minor = dev.compute_capability
            sms = dev.MULTIPROCESSOR_COUNT
            integrated = bool(getattr(dev, "INTEGRATED", 0))
            bus_id = (f"{getattr(dev, 'PCI_DOMAIN_ID', 0):08x}:{dev.PCI_BUS_ID:02x}:"
                      f"{dev.PCI_DEVICE_ID:02x}.0")
        arch = f"sm_{major}{minor}"
        profile = gpu_profile(name, arch, sms, total, False)
        info: dict[str, Any] = {"integrated": integrated, "pci_bus_id": bus_id}
        if integrated:  # Tegra: the GPU works in the host's memory, so moves cost nothing
            profile = replace(profile, unified_memory=True)
            found = jetson.board()
            if found is not None:
                info.update(jetson=found.model, power_mode=found.power_mode)
        return Device(id=f"cuda:{index}", name=name, backend=self.name, kind="gpu", arch=arch,
                      memory_bytes=total, profile=profile, impl=self, info=info,
                      link=host_link(integrated, pcie_generation(bus_id)), native=index)

    def simulated_device(self, index: int) -> Device:
        name = "numba CUDA simulator"
        memory = 2**30
        return Device(id=f"cuda:{index}", name=f"{name} (simulated, runs on the host CPU)",
                      backend=self.name, kind="gpu", arch="sm_50 (simulated)",
                      memory_bytes=memory, profile=gpu_profile(name, "sm_50", 1, memory, True),
                      simulated=True, impl=self,
                      info={"computes_on": "host CPU (numba CUDA simulator)",
                            "figures": "modeled"}, native=index)

    def energy_meter(self, device: Device) -> Meter | None:
        """NVML's total-energy counter (millijoules since the driver loaded; Volta and
        newer) where nvidia-ml-py is installed and the GPU reports it; on a Jetson, the
        module's input power rail, integrated (the whole module's draw)."""
        if device.simulated:
            return None
        found = nvml_meter(device.info.get("pci_bus_id", device.native))
        if found is None and device.info.get("integrated"):  # Tegra has no NVML: its rail
            found = jetson.meter()
        return found

    # -- memory -------------------------------------------------------------------------------
    def allocate(self, device: Device, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        from numba import cuda

        return cuda.device_array(max(math.prod(shape), 1), dtype=dtype)

    def from_host(self, device: Device, host: np.ndarray) -> Any:
        from numba import cuda

        flat = host.reshape(-1) if host.size else np.zeros(1, host.dtype)
        return cuda.to_device(np.ascontiguousarray(flat))

    def to_host(self, device: Device, buffer: Any, shape: tuple[int, ...],
                dtype: np.dtype) -> np.ndarray:
        host = buffer.copy_to_host()
        return host[:math.prod(shape)].reshape(shape)

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
        """Launch and wait; on a real GPU, CUDA events time the kernel itself."""
        from numba import cuda

        block = spec.local_size or (min(DEFAULT_BLOCK, spec.global_size[0]), 1, 1)
        blocks = tuple(-(-g // b) for g, b in zip(spec.global_size, block, strict=True))
        values = marshal_scalars(program.kernel.params, args)
        if device.simulated:  # the simulator's "device" is the host: no device timer
            program.function[blocks, block](*values, *spec.global_size)
            cuda.synchronize()
            return None
        start, end = cuda.event(), cuda.event()
        start.record()
        program.function[blocks, block](*values, *spec.global_size)
        end.record()
        end.synchronize()
        return DeviceTime(round(cuda.event_elapsed_time(start, end) * 1e6))

    def max_group_size(self, device: Device) -> int:
        return 1024


@hookimpl
def hetero_backends() -> list[CUDABackend]:
    return [CUDABackend()]

"""The OpenCL backend: every OpenCL platform and device through pyopencl (FPGAs among them).

Discovery, memory (zero-copy host-allocated buffers where the device shares host memory) and
kernels: OpenCL C generated from the kernel IR, built through ``programs``' binary cache or
loaded prebuilt on FPGAs, run on a profiling queue whose timers go into each ``Event``.
PoCL's CPU device (``pip install 'hetero[opencl]'``) gives a real OpenCL device on any host.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from hetero.backends.cpu.hostinfo import host_arch
from hetero.backends.opencl import pocl, programs

from hetero.backend import Backend, Uevent
from hetero.cache import cached
from hetero.device import HOST_CPU, Device, DeviceProfile
from hetero.errors import DeviceLost, KernelCompileError
from hetero.hookspecs import hookimpl
from hetero.kernel import ir
from hetero.kernel.codegen import opencl as codegen
from hetero.kernel.launch import LaunchSpec
from hetero.kernel.types import ARGUMENT_TYPES, marshal_scalars
from hetero.queue import DeviceTime

HETERO_PLUGIN_API = 1
log = logging.getLogger("hetero.backends.opencl")
FPGA_PLATFORM_MARKERS = ("fpga", "xilinx", "xrt", "altera")
COPY_BYTES = 64 * 2**20
ASSUMED_W = {"cpu": (6.0, 2.0), "gpu": (75.0, 10.0), "fpga": (75.0, 20.0),
             "accelerator": (75.0, 10.0)}  # per compute unit for cpu, per card otherwise


def device_kind(cl: Any, dev: Any) -> str:
    """hetero's kind for an OpenCL device: an ACCELERATOR on an FPGA vendor's platform is fpga."""
    if dev.type & cl.device_type.ACCELERATOR:
        platform = f"{dev.platform.name} {dev.platform.vendor}".lower()
        return "fpga" if any(m in platform for m in FPGA_PLATFORM_MARKERS) else "accelerator"
    if dev.type & cl.device_type.GPU:
        return "gpu"
    return "cpu" if dev.type & cl.device_type.CPU else "accelerator"


SCALAR_ARGS = {**ARGUMENT_TYPES, "bool": np.int32}  # OpenCL kernel arguments cannot be bool


@dataclass
class CLProgram:
    """A built kernel: where its binary came from ("compiled", "cache" or "prebuilt")."""

    kernel: ir.KernelIR
    entry: str
    cl_kernel: Any
    origin: str


class Handle:
    """One OpenCL device with its own context and a profiling-enabled in-order queue."""

    def __init__(self, cl: Any, dev: Any):
        self.cl, self.dev = cl, dev
        self.llvm_cpu = pocl.retarget(dev)

    @cached_property
    def context(self) -> Any:
        return self.cl.Context([self.dev])

    @cached_property
    def shared(self) -> bool:
        """The device works in host RAM (CPUs, integrated GPUs): buffers are zero-copy."""
        return bool(self.dev.host_unified_memory)

    @cached_property
    def flags(self) -> Any:
        """Buffer flags: host-allocated (zero-copy) memory where the device shares host RAM."""
        mf = self.cl.mem_flags
        return mf.READ_WRITE | (mf.ALLOC_HOST_PTR if self.shared else 0)

    def mapped(self, buffer: Any, flags: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        """The buffer's memory as a NumPy array, no copy (unmapped when released)."""
        array, _ = self.cl.enqueue_map_buffer(self.queue, buffer, flags, 0, shape, dtype,
                                              is_blocking=True)
        return array

    @cached_property
    def queue(self) -> Any:
        props = self.cl.command_queue_properties.PROFILING_ENABLE
        return self.cl.CommandQueue(self.context, properties=props)


def copy_bandwidth_gbs(handle: Handle) -> float:
    """Device-side buffer-to-buffer copy, timed by the device's own profiling counters."""
    cl = handle.cl
    log.info("measuring %s once (copy bandwidth); the result is cached", handle.dev.name.strip())
    src = cl.Buffer(handle.context, cl.mem_flags.READ_WRITE, COPY_BYTES)
    dst = cl.Buffer(handle.context, cl.mem_flags.READ_WRITE, COPY_BYTES)
    best = float("inf")
    for _ in range(4):
        event = cl.enqueue_copy(handle.queue, dst, src, byte_count=COPY_BYTES)
        event.wait()
        best = min(best, (event.profile.end - event.profile.start) * 1e-9)
    return 2 * COPY_BYTES / best / 1e9


def make_profile(handle: Handle, kind: str) -> DeviceProfile:
    dev = handle.dev
    key = (dev.platform.name, dev.name, dev.driver_version, dev.global_mem_size)
    measured = cached("opencl-profile", key, lambda: {
        "mem_bandwidth_gbs": round(copy_bandwidth_gbs(handle), 2),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        schema={"mem_bandwidth_gbs": float, "measured_at": str})
    lanes = max(dev.preferred_vector_width_float, 1)
    peak = dev.max_compute_units * dev.max_clock_frequency * 2 * lanes / 1000
    active, idle = ASSUMED_W[kind]
    scale = dev.max_compute_units if kind == "cpu" else 1
    power_note = (f"modeled: OpenCL reports no power; assumed {active} W busy, {idle} W idle "
                  f"{'per compute unit' if kind == 'cpu' else 'per device'}")
    return DeviceProfile(
        name=f"opencl-{dev.name.strip()}", kind=kind, arch=dev.version, description=dev.name,
        peak_gflops={"float32": round(peak, 1)},
        mem_bandwidth_gbs=measured["mem_bandwidth_gbs"], active_w=active * scale,
        idle_w=idle * scale, launch_overhead_us=20.0,
        unified_memory=bool(dev.host_unified_memory), memory_bytes=dev.global_mem_size,
        source="measured (bandwidth); modeled (peak, power)",
        sources={"peak_gflops.float32": "modeled: compute units x clock x 2 FLOP x preferred "
                                        "float vector width (OpenCL device info)",
                 "mem_bandwidth_gbs": "measured: 64 MiB device buffer copy, profiling events",
                 "active_w": power_note, "idle_w": power_note,
                 "launch_overhead_us": "estimate: typical OpenCL enqueue latency",
                 "memory_bytes": "measured: CL_DEVICE_GLOBAL_MEM_SIZE"})


class OpenCLBackend(Backend):
    """Devices of every OpenCL platform; buffers are ``pyopencl.Buffer`` objects."""

    name = "opencl"
    extra = "opencl"
    requires = ("pyopencl",)

    def uevents(self) -> tuple[Uevent, ...]:
        """GPUs and FPGA cards come on PCI and show as DRM or accel nodes."""
        return (Uevent("pci"), Uevent("drm"), Uevent("accel"))

    def discover(self) -> list[Device]:
        import pyopencl as cl

        found: list[Device] = []
        counts: dict[str, int] = {}
        for platform in cl.get_platforms():
            for dev in platform.get_devices():
                kind = device_kind(cl, dev)
                index = counts[kind] = counts.get(kind, -1) + 1
                handle = Handle(cl, dev)
                found.append(Device(
                    id=f"opencl:{kind}:{index}", name=dev.name.strip(), backend=self.name,
                    kind=kind, arch=host_arch() if kind == "cpu" else dev.version,
                    memory_bytes=dev.global_mem_size,
                    profile=make_profile(handle, kind), impl=self,
                    info={"platform": platform.name, "vendor": dev.vendor,
                          "version": dev.version,
                          "driver": dev.driver_version, "compute_units": dev.max_compute_units,
                          **({"silicon": HOST_CPU} if kind == "cpu" else {})},
                    native=handle))
        return found

    def allocate(self, device: Device, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        handle = device.native
        nbytes = max(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, 1)
        return handle.cl.Buffer(handle.context, handle.flags, nbytes)

    def from_host(self, device: Device, host: np.ndarray) -> Any:
        """Shared-memory devices: the host writes straight into the mapped buffer (zero-copy);
        others: one copy at creation."""
        handle = device.native
        if host.nbytes == 0 or handle.shared:
            buffer = self.allocate(device, host.shape, host.dtype)
            if host.nbytes:
                view = handle.mapped(buffer, handle.cl.map_flags.WRITE, host.shape, host.dtype)
                view[...] = host
                view.base.release(handle.queue)
            return buffer
        flags = handle.flags | handle.cl.mem_flags.COPY_HOST_PTR
        return handle.cl.Buffer(handle.context, flags, hostbuf=host)

    def to_host(self, device: Device, buffer: Any, shape: tuple[int, ...],
                dtype: np.dtype) -> np.ndarray:
        """Shared-memory devices: read through a mapping (no device transfer)."""
        out = np.empty(shape, dtype=dtype)
        if out.nbytes:
            handle = device.native
            if handle.shared:
                view = handle.mapped(buffer, handle.cl.map_flags.READ, shape, dtype)
                out[...] = view
                view.base.release(handle.queue)
            else:
                handle.cl.enqueue_copy(handle.queue, out, buffer).wait()
        return out

    # -- kernels ------------------------------------------------------------------------------
    kernel_target = "opencl"

    def kernel_source(self, device: Device, kernel: ir.KernelIR, entry: str) -> str:
        return codegen.generate(kernel, entry)

    def compile_kernel(self, device: Device, kernel: ir.KernelIR, entry: str) -> CLProgram:
        handle = device.native
        cl, dev, options = handle.cl, handle.dev, ""
        source = codegen.generate(kernel, entry)
        binary = programs.prebuilt(dev, entry, source, programs.manifest_path())
        if binary is not None:
            prg, origin = programs.program_from_binary(cl, handle.context, dev, binary,
                                                       options), "prebuilt"
        elif device.kind == "fpga":
            raise KernelCompileError(
                f"{device.id} is an FPGA: it cannot compile {entry} at run time. Build it "
                f"offline from kern.source({device.id!r}, ...), list the binary in a manifest "
                f"(hetero.backends.opencl.programs.write_manifest) and point "
                f"{programs.MANIFEST_ENV} at it")
        else:
            cache = programs.ProgramCache()
            key = cache.key(dev, source, options)
            prg, origin = cache.load(cl, handle.context, dev, key, options), "cache"
            if prg is None:
                prg, origin = programs.program_from_source(cl, handle.context, dev, source,
                                                           options), "compiled"
                cache.store(cl, prg, dev, key, entry, options)
        return CLProgram(kernel, entry, cl.Kernel(cl.Program(prg), entry), origin)

    def run_kernel(self, device: Device, program: CLProgram, args: list[Any],
                   spec: LaunchSpec) -> DeviceTime:
        handle = device.native
        values = marshal_scalars(program.kernel.params, args, SCALAR_ARGS)
        program.cl_kernel.set_args(*values)
        try:
            event = handle.cl.enqueue_nd_range_kernel(handle.queue, program.cl_kernel,
                                                      spec.global_size, spec.local_size)
            event.wait()
        except Exception as exc:
            raise lost_if_unavailable(device, exc) from exc
        return DeviceTime(event.profile.end - event.profile.start)

    def max_group_size(self, device: Device) -> int:
        return int(device.native.dev.max_work_group_size)


#: OpenCL's CL_DEVICE_NOT_AVAILABLE (cl.h): the device went away or was reset
DEVICE_NOT_AVAILABLE = -2


def lost_if_unavailable(device: Device, exc: Exception) -> Exception:
    """``DeviceLost`` for an OpenCL error whose code is CL_DEVICE_NOT_AVAILABLE (pyopencl's
    errors carry it as ``code``, or as their first argument's); else ``exc`` itself."""
    code = getattr(exc, "code", None)
    if code is None and exc.args:
        code = getattr(exc.args[0], "code", None)
    if code == DEVICE_NOT_AVAILABLE:
        return DeviceLost(f"{device.id}: OpenCL reports CL_DEVICE_NOT_AVAILABLE ({exc})",
                          device)
    return exc


@hookimpl
def hetero_backends() -> list[OpenCLBackend]:
    return [OpenCLBackend()]

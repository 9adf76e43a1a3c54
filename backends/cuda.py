"""The CUDA backend: NVIDIA GPUs (Jetson included) through torch.

In this version it reports whether CUDA is usable and lists the GPUs torch sees; memory, ops and
NVML energy arrive with the CUDA backend issue.
"""

from __future__ import annotations

from hetero.backend import Backend
from hetero.device import Device, DeviceProfile
from hetero.hookspecs import hookimpl

HETERO_PLUGIN_API = 1
ASSUMED_CLOCK_GHZ = 1.4
FP32_LANES_PER_SM = 64


def gpu_profile(props: object) -> DeviceProfile:
    """Figures derived from what torch reports; power is unknown until NVML measures it."""
    sms = props.multi_processor_count
    peak = sms * FP32_LANES_PER_SM * 2 * ASSUMED_CLOCK_GHZ
    note = "modeled: not measured yet (NVML measurement arrives with the CUDA issue)"
    return DeviceProfile(
        name=f"cuda-{props.name}", kind="gpu", arch=f"sm_{props.major}{props.minor}",
        description=props.name, peak_gflops={"float32": round(peak, 1)},
        mem_bandwidth_gbs=500.0, active_w=250.0, idle_w=30.0, launch_overhead_us=5.0,
        unified_memory=bool(getattr(props, "is_integrated", False)),
        memory_bytes=props.total_memory, source="modeled",
        sources={"peak_gflops.float32": f"modeled: {sms} SMs x {FP32_LANES_PER_SM} FP32 lanes "
                                        f"x 2 FLOP x assumed {ASSUMED_CLOCK_GHZ} GHz",
                 "mem_bandwidth_gbs": note, "active_w": note, "idle_w": note,
                 "launch_overhead_us": "estimate: typical CUDA kernel launch latency",
                 "memory_bytes": "measured: torch.cuda.get_device_properties"})


class CUDABackend(Backend):
    """GPUs torch can see."""

    name = "cuda"
    extra = "cuda"
    requires = ("torch",)

    def unavailable_reason(self) -> str | None:
        missing = super().unavailable_reason()
        if missing:
            return missing
        import torch

        if not torch.cuda.is_available():
            return (f"torch {torch.__version__} sees no CUDA device "
                    "(torch.cuda.is_available() is False): no NVIDIA GPU or driver here")
        return None

    def discover(self) -> list[Device]:
        import torch

        devices = []
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            devices.append(Device(
                id=f"cuda:{i}", name=props.name, backend=self.name, kind="gpu",
                arch=f"sm_{props.major}{props.minor}", memory_bytes=props.total_memory,
                profile=gpu_profile(props), impl=self,
                info={"integrated": bool(getattr(props, "is_integrated", False))}))
        return devices


@hookimpl
def hetero_backends() -> list[CUDABackend]:
    return [CUDABackend()]

"""NVIDIA's management library (nvidia-ml-py): the GPU's energy counter, its PCIe link, and
the critical Xid events after which it is lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hetero.energy import Meter


def handle_of(pynvml, gpu: int | str):
    """NVML's handle for a GPU: by PCI bus id where known (NVML numbers GPUs in PCI order and
    ignores CUDA_VISIBLE_DEVICES, so a CUDA ordinal may name another GPU), else by index."""
    if isinstance(gpu, str):
        return pynvml.nvmlDeviceGetHandleByPciBusId(gpu)
    return pynvml.nvmlDeviceGetHandleByIndex(gpu)


def nvml_meter(gpu: int | str) -> Meter | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = handle_of(pynvml, gpu)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # raises where unsupported
    except Exception:  # noqa: BLE001 - no library, no driver, or a GPU without the counter
        return None
    return Meter(lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0,
                 "measured: NVML total energy counter", f"nvml:{gpu}")


def pcie_generation(gpu: int | str) -> int | None:
    """The PCIe generation the GPU's link can run at (the current one drops while idle)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetMaxPcieLinkGeneration(handle_of(pynvml, gpu)))
    except Exception:  # noqa: BLE001 - no library, no driver, or no PCIe (Tegra)
        return None


@dataclass(frozen=True)
class Figures:
    """What NVML tells of a GPU for its profile: clocks and bus (peak rates) and, when the
    GPU is idle at discovery, its draw then (the idle power)."""

    sm_clock_mhz: float | None = None
    memory_clock_mhz: float | None = None
    bus_width_bits: int | None = None
    idle_w: float | None = None

    @property
    def bandwidth_gbs(self) -> float | None:
        """Peak device memory bandwidth: two transfers per memory clock (the clock NVML
        reports for HBM and GDDR alike) over the bus: 4915 GB/s on an H200, against its
        datasheet's 4.8 TB/s; an H100's 2619 MHz x 5120 bits gives its 3.35 TB/s."""
        if not self.memory_clock_mhz or not self.bus_width_bits:
            return None
        return 2 * self.memory_clock_mhz * 1e6 * self.bus_width_bits / 8 / 1e9


def figures(gpu: int | str) -> Figures:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = handle_of(pynvml, gpu)
    except Exception:  # noqa: BLE001 - no library, no driver (Tegra has no NVML)
        return Figures()

    def ask(fn, *args):
        try:
            return fn(handle, *args)
        except Exception:  # noqa: BLE001 - a figure this GPU or driver does not report
            return None

    busy = ask(pynvml.nvmlDeviceGetUtilizationRates)
    draw_mw = ask(pynvml.nvmlDeviceGetPowerUsage) if busy is not None and busy.gpu == 0 \
        else None
    return Figures(ask(pynvml.nvmlDeviceGetMaxClockInfo, pynvml.NVML_CLOCK_SM),
                   ask(pynvml.nvmlDeviceGetMaxClockInfo, pynvml.NVML_CLOCK_MEM),
                   ask(pynvml.nvmlDeviceGetMemoryBusWidth),
                   None if draw_mw is None else draw_mw / 1000.0)


#: Xids after which the GPU is gone or must be reset before it computes again (NVIDIA, "Xid
#: Errors", docs.nvidia.com/deploy/xid-errors): 48 double-bit ECC error, 79 fallen off the
#: bus, 94/95 contained/uncontained ECC error, 119/120 GSP RPC timeout/error. Others (13, 31,
#: 43: a faulting kernel) end one application's work, not the device.
LOST_XIDS = frozenset({48, 79, 94, 95, 119, 120})


def watch_xids(gpus: dict[int | str, Any], lost: Callable[[Any, int], None],
               stop: threading.Event) -> threading.Thread | None:
    """A thread calling ``lost(device, xid)`` when NVML reports a critical Xid in
    ``LOST_XIDS`` on one of ``gpus`` ({NVML index or PCI bus id: device}); None where NVML
    or its events are not available (a Jetson, no driver, no nvidia-ml-py)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        events = pynvml.nvmlEventSetCreate()
        by_uuid = {}
        for key, device in gpus.items():
            handle = handle_of(pynvml, key)
            pynvml.nvmlDeviceRegisterEvents(handle, pynvml.nvmlEventTypeXidCriticalError,
                                            events)
            by_uuid[pynvml.nvmlDeviceGetUUID(handle)] = device
    except Exception:  # noqa: BLE001 - no library, no driver, or no events on this GPU
        return None

    def wait() -> None:
        while not stop.is_set():
            try:
                data = pynvml.nvmlEventSetWait_v2(events, 200)  # ms; times out to check stop
                device = by_uuid.get(pynvml.nvmlDeviceGetUUID(data.device))
            except pynvml.NVMLError:
                continue
            if device is not None and int(data.eventData) in LOST_XIDS:
                lost(device, int(data.eventData))

    thread = threading.Thread(target=wait, name="hetero-nvml-xid", daemon=True)
    thread.start()
    return thread

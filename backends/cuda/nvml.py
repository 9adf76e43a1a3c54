"""NVIDIA's management library (nvidia-ml-py): the GPU's energy counter and its PCIe link."""

from __future__ import annotations

from dataclasses import dataclass

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

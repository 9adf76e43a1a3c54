"""NVIDIA's management library (nvidia-ml-py): the GPU's energy counter and its PCIe link."""

from __future__ import annotations

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

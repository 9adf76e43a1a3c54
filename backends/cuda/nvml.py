"""NVIDIA's management library (nvidia-ml-py): the GPU's energy counter and its PCIe link."""

from __future__ import annotations

from hetero.energy import Meter


def nvml_meter(index: int) -> Meter | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # raises where unsupported
    except Exception:  # noqa: BLE001 - no library, no driver, or a GPU without the counter
        return None
    return Meter(lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0,
                 "measured: NVML total energy counter", f"nvml:{index}")


def pcie_generation(index: int) -> int | None:
    """The PCIe generation the GPU's link runs at now, where NVML says."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return int(pynvml.nvmlDeviceGetCurrPcieLinkGeneration(
            pynvml.nvmlDeviceGetHandleByIndex(index)))
    except Exception:  # noqa: BLE001 - no library, no driver, or no PCIe (Tegra)
        return None

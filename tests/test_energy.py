"""Measured energy: hardware counters (RAPL, NVML) read around a plan's run, once per piece
of silicon, each figure saying where it came from."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from hetero.backends.cpu import rapl
from hetero.backends.cuda import nvml_meter
from test_runtime import WANT, X, chain_model

import hetero
from hetero.energy import Meter, Span

pytestmark = pytest.mark.usefixtures("registry")


def fake_powercap(root, packages: dict[str, int], wrap: int = 2**32):
    for name, uj in packages.items():
        domain = root / name
        domain.mkdir(parents=True, exist_ok=True)
        (domain / "energy_uj").write_text(f"{uj}\n")
        (domain / "max_energy_range_uj").write_text(f"{wrap}\n")
    (root / "intel-rapl:0:0").mkdir(exist_ok=True)  # a core sub-domain: inside the package


def test_rapl_sums_the_packages_and_unwraps_a_counter(tmp_path):
    fake_powercap(tmp_path, {"intel-rapl:0": 5_000_000})
    meter = rapl.meter(tmp_path)
    assert meter.source == "measured: RAPL package counters (intel-rapl:0)"
    before = meter.read_j()
    fake_powercap(tmp_path, {"intel-rapl:0": 7_500_000})
    assert meter.since(before, meter.read_j()) == pytest.approx(2.5)
    assert meter.since(4290.0, 1.0) == pytest.approx(2**32 / 1e6 - 4290.0 + 1.0)  # wrapped
    fake_powercap(tmp_path, {"intel-rapl:1": 1_000_000})
    assert rapl.meter(tmp_path).read_j() == pytest.approx(7.5 + 1.0)
    assert rapl.meter(tmp_path / "none") is None


def test_nvml_total_energy_counter_in_joules(monkeypatch):
    counter = {"mj": 1_000}
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlDeviceGetHandleByIndex=lambda i: f"gpu{i}",
        nvmlDeviceGetTotalEnergyConsumption=lambda handle: counter["mj"])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    meter = nvml_meter(0)
    before = meter.read_j()
    counter["mj"] += 2_500
    assert meter.since(before, meter.read_j()) == pytest.approx(2.5)
    assert meter.source == "measured: NVML total energy counter"

    def unsupported(handle):
        raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")

    fake.nvmlDeviceGetTotalEnergyConsumption = unsupported
    assert nvml_meter(0) is None


def test_a_run_reports_the_joules_its_devices_counted(monkeypatch):
    cpu = hetero.device("cpu")
    counter = {"j": 100.0}

    def read() -> float:
        counter["j"] += 0.25  # the counter moves 0.25 J between two readings
        return counter["j"]

    monkeypatch.setattr(type(cpu.impl), "energy_meter",
                        lambda self, device: Meter(read, "measured: test counter"))
    plan = hetero.compile(chain_model(), devices=[cpu])
    for _ in range(2):
        np.testing.assert_allclose(plan.run({"x": X})["d"], WANT, rtol=1e-6)
    (energy,) = plan.last_energy
    assert energy.devices == ["cpu:0"] and energy.joules == pytest.approx(0.25)
    assert "last run energy on cpu:0: 0.25 J (measured: test counter)" in plan.report()
    assert plan.to_json() and plan.last_energy[0].source.startswith("measured")


def test_devices_on_one_piece_of_silicon_are_metered_once(monkeypatch):
    pytest.importorskip("tvm")
    cpu, tvm = hetero.device("cpu"), hetero.device("tvm")
    reads = []
    meter = Meter(lambda: reads.append(1) or float(len(reads)), "measured: test counter")
    monkeypatch.setattr(type(cpu.impl), "energy_meter", lambda self, device: meter)
    monkeypatch.setattr(type(tvm.impl), "energy_meter", lambda self, device: meter)
    span = Span.of([cpu, tvm])
    span.start()
    (energy,) = span.stop()
    assert energy.devices == ["cpu:0", "tvm:cpu:0"] and len(reads) == 2

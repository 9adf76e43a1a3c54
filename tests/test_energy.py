"""Measured energy: hardware counters (RAPL, NVML) read around a plan's run, once per piece
of silicon, each figure saying where it came from."""

from __future__ import annotations

import sys
import types
from dataclasses import replace

import numpy as np
import pytest
from helpers import TickClock
from hetero.backends.cpu import rapl
from hetero.backends.cuda import nvml_meter
from test_runtime import WANT, X, chain_model

import hetero
from hetero.energy import Meter, Span
from hetero.history import History, calibrated

pytestmark = pytest.mark.usefixtures("registry")


def fake_powercap(root, packages: dict[str, int], wrap: int = 2**32, name: str = "package"):
    for domain_name, uj in packages.items():
        domain = root / domain_name
        domain.mkdir(parents=True, exist_ok=True)
        (domain / "name").write_text(f"{name}-{domain_name[-1]}\n")
        (domain / "energy_uj").write_text(f"{uj}\n")
        (domain / "max_energy_range_uj").write_text(f"{wrap}\n")
    (root / "intel-rapl:0:0").mkdir(exist_ok=True)  # a core sub-domain: inside the package


def test_rapl_sums_the_packages_and_unwraps_each_counter(tmp_path):
    fake_powercap(tmp_path, {"intel-rapl:0": 5_000_000, "intel-rapl:1": 1_000_000},
                  wrap=10_000_000)
    fake_powercap(tmp_path, {"intel-rapl:2": 9_000_000}, name="psys")  # the platform: not
    meter = rapl.meter(tmp_path)
    assert meter.source == "measured: RAPL package counters (intel-rapl:0, intel-rapl:1)"
    before = meter.read_j()
    fake_powercap(tmp_path, {"intel-rapl:0": 7_500_000, "intel-rapl:1": 500_000},
                  wrap=10_000_000)  # package 1 wrapped: 9.5 J since
    assert meter.since(before, meter.read_j()) == pytest.approx(2.5 + 9.5)
    (tmp_path / "intel-rapl:1" / "max_energy_range_uj").unlink()  # unreadable: left out
    assert rapl.meter(tmp_path).source.endswith("(intel-rapl:0)")
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


def test_a_gpu_is_reached_over_its_pcie_generation_or_shares_memory(monkeypatch):
    from hetero.backends.cuda import host_link
    from hetero.backends.cuda.nvml import pcie_generation

    fake = types.SimpleNamespace(nvmlInit=lambda: None, nvmlDeviceGetHandleByIndex=lambda i: i,
                                 nvmlDeviceGetMaxPcieLinkGeneration=lambda handle: 3)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert pcie_generation(0) == 3 and host_link(False, 3).name == "pcie3"
    assert host_link(False, None).name == "pcie4"  # unknown: the common case today
    shared = host_link(True, None)  # a Jetson's GPU: nothing to cross
    assert shared.zero_copy
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    assert pcie_generation(0) is None


def test_a_run_reports_the_joules_its_devices_counted(monkeypatch, tmp_path):
    cpu = hetero.device("cpu")
    counter = {"j": 100.0}

    def read() -> float:
        counter["j"] += 0.25  # the counter moves 0.25 J between two readings
        return counter["j"]

    monkeypatch.setattr(type(cpu.impl), "energy_meter",
                        lambda self, device: Meter(read, "measured: test counter", "test"))
    plan = hetero.compile(chain_model(), devices=[cpu], history=History(tmp_path / "h.json"))
    plan.profile = True  # a run reads the counters of its own when profiled
    for _ in range(2):
        np.testing.assert_allclose(plan.run({"x": X})["d"], WANT, rtol=1e-6)
    (energy,) = plan.last_energy
    assert energy.devices == ["cpu:0"] and energy.joules == pytest.approx(0.25)
    assert "last run energy on cpu:0: 0.25 J (measured: test counter)" in plan.report()
    assert plan.to_json() and plan.last_energy[0].source.startswith("measured")


def test_devices_that_one_counter_measures_are_metered_once(monkeypatch):
    pytest.importorskip("tvm")
    cpu, tvm = hetero.device("cpu"), hetero.device("tvm")
    reads = []
    meter = Meter(lambda: reads.append(1) or float(len(reads)), "measured: test counter",
                  "test")
    monkeypatch.setattr(type(cpu.impl), "energy_meter", lambda self, device: meter)
    monkeypatch.setattr(type(tvm.impl), "energy_meter", lambda self, device: meter)
    span = Span.of([cpu, tvm])
    span.start()
    (energy,) = span.stop()
    assert energy.devices == ["cpu:0", "tvm:cpu:0"] and len(reads) == 2


def fake_jetson(root, mode: str = "pmode:0002", rail: str = "VDD_IN"):
    (root / "proc/device-tree").mkdir(parents=True)
    (root / "proc/device-tree/model").write_text("NVIDIA Jetson Xavier NX Developer Kit\x00")
    (root / "var/lib/nvpmodel").mkdir(parents=True)
    (root / "var/lib/nvpmodel/status").write_text(mode + "\n")
    hwmon = root / "sys/class/hwmon/hwmon3"
    hwmon.mkdir(parents=True)
    for channel, label, mv, ma in ((1, rail, 5000, 2000), (2, "VDD_CPU_GPU_CV", 5000, 900)):
        (hwmon / f"in{channel}_label").write_text(label + "\n")
        (hwmon / f"in{channel}_input").write_text(f"{mv}\n")
        (hwmon / f"curr{channel}_input").write_text(f"{ma}\n")
    return hwmon


def test_a_jetson_says_what_it_is_and_its_power_mode(tmp_path):
    from hetero.backends.cuda import jetson

    fake_jetson(tmp_path)
    assert jetson.board(tmp_path) == jetson.Board("NVIDIA Jetson Xavier NX Developer Kit",
                                                  jetson.PowerMode("2"))
    assert jetson.board(tmp_path / "elsewhere") is None
    assert jetson.input_rail(tmp_path)() == pytest.approx(10.0)  # 5 V x 2 A on VDD_IN


def test_the_jetson_input_rail_is_integrated_into_joules(tmp_path):
    from hetero.backends.cuda import jetson

    hwmon = fake_jetson(tmp_path)
    now = {"s": 0.0}
    integrator = jetson.Integrator(jetson.input_rail(tmp_path), clock=lambda: now["s"])
    assert integrator.sample() == 0.0
    now["s"] = 0.5
    assert integrator.sample() == pytest.approx(5.0)  # 10 W for half a second
    (hwmon / "curr1_input").write_text("4000\n")  # the draw doubles to 20 W
    now["s"] = 1.0
    assert integrator.sample() == pytest.approx(5.0 + 0.5 * (10 + 20) / 2)
    meter = jetson.meter(tmp_path)
    assert meter.key == "jetson-input-rail" and meter.source.startswith("measured: Jetson")


def test_measured_energy_teaches_the_planner_each_devices_busy_power(tmp_path, monkeypatch):
    from hetero import history as runtime

    monkeypatch.setattr(runtime, "LEARN_BUSY_MS", 0.0)  # the chain model computes for µs
    monkeypatch.setattr(runtime, "LEARN_WALL_MS", 0.0)  # the window closes after one run
    cpu = hetero.device("cpu")
    monkeypatch.setattr(cpu, "profile", replace(cpu.profile, idle_w=0.0))  # no idle term
    counter = {"j": 0.0}

    def read() -> float:
        counter["j"] += 2.5  # 2.5 J between the readings at the window's ends
        return counter["j"]

    monkeypatch.setattr(type(cpu.impl), "energy_meter",
                        lambda self, device: Meter(read, "measured: test counter", "test"))
    plan = hetero.compile(chain_model(), devices=[cpu], history=History(tmp_path / "h.json"))
    modeled = plan.estimate.energy_mj
    assert cpu.profile.active_w < 1000
    for _ in range(3):  # the first run compiles and teaches nothing
        plan.run({"x": X})
    history = History(tmp_path / "h.json")
    watts, samples = history.power(cpu)
    assert samples == 1 and watts > 1000  # 2.5 J over well under 2.5 ms of computing
    seen = calibrated(cpu, history)
    assert seen.profile.active_w == round(watts, 3) and seen is not cpu
    assert seen.profile.sources["active_w"].startswith("measured: median of 1 run'")
    again = hetero.compile(chain_model(), devices=[cpu], history=history)
    assert again.estimate.energy_mj > 10 * modeled
    assert again.devices["cpu:0"] is cpu  # plans still run on the device itself
    parts = again.to_json()
    assert '"transfers": 0.0' in parts  # the breakdown prices busy time as planned
    same = hetero.evaluate(chain_model(), again.placement, [cpu], history=history)
    assert same.energy_mj == pytest.approx(again.estimate.energy_mj)


def test_no_power_is_learned_from_a_whole_board_rail_or_below_idle(tmp_path, monkeypatch):
    from hetero import history as runtime

    monkeypatch.setattr(runtime, "LEARN_BUSY_MS", 0.0)
    monkeypatch.setattr(runtime, "LEARN_WALL_MS", 0.0)
    cpu = hetero.device("cpu")
    for learn, joules_per_run in ((False, 2.5), (True, 0.0)):
        counter = {"j": 0.0}

        def read(step=joules_per_run / 2, counter=counter) -> float:
            counter["j"] += step
            return counter["j"]

        meter = Meter(read, "measured: test counter", "test", learn=learn)
        monkeypatch.setattr(type(cpu.impl), "energy_meter", lambda self, device, m=meter: m)
        history = History(tmp_path / f"{learn}.json")
        plan = hetero.compile(chain_model(), devices=[cpu], history=history)
        for _ in range(3):
            plan.run({"x": X})
        assert counter["j"] > 0 or not joules_per_run  # the counter was read
        assert History(tmp_path / f"{learn}.json").power(cpu) is None


def test_a_failing_counter_is_left_out_and_the_run_goes_on(monkeypatch, tmp_path):
    cpu = hetero.device("cpu")

    def broken() -> float:
        raise OSError("energy_uj: permission denied")

    monkeypatch.setattr(type(cpu.impl), "energy_meter",
                        lambda self, device: Meter(broken, "measured: test", "test"))
    plan = hetero.compile(chain_model(), devices=[cpu], history=History(tmp_path / "h.json"))
    np.testing.assert_allclose(plan.run({"x": X})["d"], WANT, rtol=1e-6)
    assert plan.last_energy == []


def test_counters_are_read_at_the_ends_of_one_window_and_on_profiled_runs(tmp_path,
                                                                         monkeypatch):
    """Reading NVML took 3.4 ms on an H200 (twice per run doubled ResNet-50's time): a
    plan reads the counters once when it starts learning power and once when the window
    holds enough computing, and on every profiled run; no other run reads them."""
    from hetero import history as runtime

    monkeypatch.setattr(runtime, "LEARN_BUSY_MS", 40.0)  # 2.5 ms x 4 nodes: 4 runs' worth
    monkeypatch.setattr(runtime, "LEARN_WALL_MS", 0.0)
    cpu = hetero.device("cpu")
    monkeypatch.setattr(type(cpu.impl), "node_clock", lambda self, device: TickClock())
    reads = []
    meter = Meter(lambda: reads.append(1) or 10.0 * len(reads), "measured: test", "test")
    monkeypatch.setattr(type(cpu.impl), "energy_meter", lambda self, device: meter)
    history = History(tmp_path / "h.json")
    plan = hetero.compile(chain_model(), devices=[cpu], history=history)
    assert len(plan.graph.nodes) == 4
    seen = []
    for _ in range(8):
        plan.run({"x": X})
        seen.append(len(reads))
        assert plan.last_energy == []
    # run 0 warms up; run 1 opens the window; after run 4 it holds 40 ms: closed
    assert seen == [0, 1, 1, 1, 2, 2, 2, 2]
    assert history.power(cpu)[1] == 1
    plan.profile = True
    plan.run({"x": X})
    assert plan.last_energy and len(reads) == 4


def test_a_window_that_never_fills_gives_up_without_a_sample(tmp_path, monkeypatch):
    from hetero import history as runtime

    monkeypatch.setattr(runtime, "LEARN_WALL_MS", 1e9)
    monkeypatch.setattr(runtime, "LEARN_RUNS", 3)
    cpu = hetero.device("cpu")
    reads = []
    meter = Meter(lambda: reads.append(1) or 10.0 * len(reads), "measured: test", "test")
    monkeypatch.setattr(type(cpu.impl), "energy_meter", lambda self, device: meter)
    history = History(tmp_path / "h.json")
    plan = hetero.compile(chain_model(), devices=[cpu], history=history)
    for _ in range(6):
        plan.run({"x": X})
    assert len(reads) == 1 and history.power(cpu) is None and plan.feedback().window is False

"""Backends whose extra is missing degrade to "unavailable: pip install …"; never an ImportError."""

from __future__ import annotations

import sys
import types

import pytest
from hetero.backends import cuda, opencl, tvm

import hetero


def test_missing_extras_say_which_pip_install_fixes_them(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("tvm", "torch", "pyopencl")
                        else real(name, *a))
    assert tvm.TVMBackend().unavailable_reason() == (
        "tvm is not installed: pip install 'hetero[tvm]'")
    assert cuda.CUDABackend().unavailable_reason() == (
        "torch is not installed: pip install 'hetero[cuda]'")
    assert opencl.OpenCLBackend().unavailable_reason() == (
        "pyopencl is not installed: pip install 'hetero[opencl]'")


def test_unavailable_backends_are_listed_not_raised(registry, monkeypatch):
    monkeypatch.setattr(tvm.TVMBackend, "requires", ("hetero_no_such_module",))
    status = {s.name: s for s in hetero.backend_status()}
    assert status["tvm"].state == "unavailable"
    assert "pip install 'hetero[tvm]'" in status["tvm"].detail
    assert hetero.device("cpu").id == "cpu:0"


def test_cuda_without_a_gpu_says_so(monkeypatch):
    fake = types.ModuleType("torch")
    fake.__version__ = "2.13.0+cpu"
    fake.cuda = types.SimpleNamespace(is_available=lambda: False)
    monkeypatch.setitem(sys.modules, "torch", fake)
    monkeypatch.setattr(cuda.CUDABackend, "requires", ())
    reason = cuda.CUDABackend().unavailable_reason()
    assert "sees no CUDA device" in reason and "2.13.0+cpu" in reason


def test_cuda_lists_the_gpus_torch_sees(monkeypatch):
    props = types.SimpleNamespace(name="NVIDIA H200", major=9, minor=0,
                                  multi_processor_count=132, total_memory=141 * 2**30,
                                  is_integrated=False)
    fake = types.ModuleType("torch")
    fake.cuda = types.SimpleNamespace(device_count=lambda: 1,
                                      get_device_properties=lambda i: props)
    monkeypatch.setitem(sys.modules, "torch", fake)
    (gpu,) = cuda.CUDABackend().discover()
    assert (gpu.id, gpu.kind, gpu.arch, gpu.memory_bytes) == ("cuda:0", "gpu", "sm_90",
                                                              141 * 2**30)
    assert gpu.profile.source == "modeled"


def test_tvm_device_says_it_is_the_host_cpu(monkeypatch):
    fake = types.ModuleType("tvm")
    fake.__version__ = "0.27.0"
    fake.runtime = types.SimpleNamespace(enabled=lambda target: target == "llvm")
    monkeypatch.setitem(sys.modules, "tvm", fake)
    (dev,) = tvm.TVMBackend().discover()
    assert dev.id == "tvm:cpu:0" and dev.kind == "cpu" and dev.backend == "tvm"
    assert "llvm target on the host CPU" in dev.name


class FakeCl:
    class device_type:  # noqa: N801 - mirrors pyopencl's names
        CPU, GPU, ACCELERATOR = 2, 4, 8


def fake_cl_device(type_, platform):
    return types.SimpleNamespace(type=type_, platform=types.SimpleNamespace(
        name=platform, vendor=platform))


@pytest.mark.parametrize("type_, platform, kind", [
    (8, "Intel(R) FPGA SDK for OpenCL(TM)", "fpga"),
    (8, "Xilinx", "fpga"),
    (8, "Some DSP vendor", "accelerator"),
    (4, "NVIDIA CUDA", "gpu"),
    (2, "Portable Computing Language", "cpu"),
])
def test_opencl_device_kinds(type_, platform, kind):
    assert opencl.device_kind(FakeCl, fake_cl_device(type_, platform)) == kind


def test_pocl_is_a_real_opencl_device_with_measured_bandwidth(registry):
    pytest.importorskip("pyopencl")
    dev = hetero.device("opencl:cpu:0")
    assert dev.backend == "opencl" and not dev.simulated
    assert dev.profile.mem_bandwidth_gbs > 0
    assert dev.profile.sources["mem_bandwidth_gbs"].startswith("measured:")
    assert dev.profile.sources["peak_gflops.float32"].startswith("modeled:")


def test_blocked_extras_degrade_in_a_real_process():
    """With the extras' modules unimportable, import and discovery still work and explain."""
    import json
    import subprocess

    code = (
        "import sys, json\n"
        "for m in ('pyopencl', 'tvm', 'torch'): sys.modules[m] = None  # as if not installed\n"
        "import hetero\n"
        "status = {s.name: s.detail for s in hetero.backend_status() if s.state != 'ok'}\n"
        "print(json.dumps([hetero.device('cpu').id, status]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    cpu, status = json.loads(out)
    assert cpu == "cpu:0"
    assert status == {"cuda": "torch is not installed: pip install 'hetero[cuda]'",
                      "opencl": "pyopencl is not installed: pip install 'hetero[opencl]'",
                      "tvm": "tvm is not installed: pip install 'hetero[tvm]'"}

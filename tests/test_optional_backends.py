"""Backends whose extra is missing degrade to "unavailable: pip install …"; never an ImportError."""

from __future__ import annotations

import sys

import pytest
from hetero.backends import cuda, opencl, tvm

import hetero


def test_missing_extras_say_which_pip_install_fixes_them(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("tvm", "numba", "pyopencl")
                        else real(name, *a))
    assert tvm.TVMBackend().unavailable_reason() == (
        "tvm is not installed: pip install 'hetero[tvm]'")
    assert cuda.CUDABackend().unavailable_reason() == (
        "numba is not installed: pip install 'hetero[cuda]'")
    assert opencl.OpenCLBackend().unavailable_reason() == (
        "pyopencl is not installed: pip install 'hetero[opencl]'")


def test_unavailable_backends_are_listed_not_raised(registry, monkeypatch):
    monkeypatch.setattr(tvm.TVMBackend, "requires", ("hetero_no_such_module",))
    status = {s.name: s for s in hetero.backend_status()}
    assert status["tvm"].state == "unavailable"
    assert "pip install 'hetero[tvm]'" in status["tvm"].detail
    assert hetero.device("cpu").id == "cpu:0"


def test_cuda_simulator_device_says_it_is_simulated(registry):
    from numba import config

    if not config.ENABLE_CUDASIM:
        pytest.skip("needs NUMBA_ENABLE_CUDASIM=1 (the suite's conftest sets it)")
    gpu = hetero.device("cuda")
    assert gpu.simulated and "simulat" in gpu.name and gpu.kind == "gpu"
    assert "simulator" in gpu.profile.source


def test_blocked_extras_degrade_in_a_real_process():
    """With the extras' modules unimportable, import and discovery still work and explain."""
    import json
    import subprocess

    code = (
        "import sys, json\n"
        "for m in ('pyopencl', 'tvm', 'numba'): sys.modules[m] = None  # as if not installed\n"
        "import hetero\n"
        "status = {s.name: s.detail for s in hetero.backend_status() if s.state != 'ok'}\n"
        "print(json.dumps([hetero.device('cpu').id, status]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    cpu, status = json.loads(out)
    assert cpu == "cpu:0"
    assert status == {"cuda": "numba is not installed: pip install 'hetero[cuda]'",
                      "opencl": "pyopencl is not installed: pip install 'hetero[opencl]'",
                      "tvm": "tvm is not installed: pip install 'hetero[tvm]'"}


def test_pocl_is_retargeted_once_per_device_not_on_every_discovery(registry, monkeypatch):
    """Scanning PoCL's device struct reads raw memory; a rescan must reuse the first answer."""
    pytest.importorskip("pyopencl")
    from hetero.backends.opencl import pocl

    dev = hetero.device("opencl:cpu:0").native.dev
    first = pocl.retarget(dev)

    def no_second_scan(device):
        raise AssertionError("scanned the device struct again")

    monkeypatch.setattr(pocl, "patch", no_second_scan)
    assert pocl.retarget(dev) == first

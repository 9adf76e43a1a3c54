"""The cross-device conformance suite (hetero.testing.suite) over every device found here.

The plugin parametrises it; this file adds that CI really covers the four targets.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hetero.testing.plugin import cases
from hetero.testing.suite import test_op_matches_numpy_reference  # noqa: F401 - collected here


def test_the_suite_covers_cpu_opencl_tvm_and_the_cuda_simulator(pytestconfig):
    """A backend that failed to install would otherwise just drop out of the suite."""
    if pytestconfig.getoption("--hetero-backend") or pytestconfig.getoption("--hetero-device"):
        return
    covered = {p.values[0] for p in cases(pytestconfig)}
    assert {"cpu:0", "opencl:cpu:0", "cuda:0", "tvm:cpu:0"} <= covered


HOST_NPU = """
import numpy as np
import hetero
from hetero.backend import HostMemoryBackend
from hetero.backends.cpu.kernels import NumbaKernels
from hetero.device import Device, DeviceProfile

HETERO_PLUGIN_API = 1
PROFILE = DeviceProfile(
    name="host-npu", kind="npu", peak_gflops={"float32": 10.0}, mem_bandwidth_gbs=1.0,
    active_w=1.0, idle_w=0.1, launch_overhead_us=1.0, unified_memory=True,
    memory_bytes=2**30, source="estimate: test plugin")


class HostNpu(NumbaKernels, HostMemoryBackend):
    name = "hostnpu"
    BROKEN = {broken}

    def discover(self):
        return [Device(id="hostnpu:0", name="Host NPU", backend="hostnpu", kind="npu",
                       arch="host", memory_bytes=2**30, profile=PROFILE)]

    def host_view(self, buffer):  # what Array.numpy() reads on a host-memory backend
        out = super().host_view(buffer)
        return out + 1 if self.BROKEN else out


@hetero.hookimpl
def hetero_backends():
    return [HostNpu()]
"""


def run_suite_on_plugin(tmp_path, site, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           "--pyargs", "hetero.testing.suite", "--hetero-backend", "hostnpu",
                           "-k", "npu:0-Relu-float32", *args], capture_output=True, text=True,
                          cwd=tmp_path, env=env)


@pytest.mark.parametrize("broken", [False, True], ids=["correct", "off-by-one"])
def test_a_third_party_backend_runs_the_suite_through_the_pytest_plugin(
        tmp_path, install_plugin, broken):
    site = install_plugin("hetero-hostnpu", "hostnpu", HOST_NPU.replace("{broken}", str(broken)))
    done = run_suite_on_plugin(tmp_path, site)
    assert "hostnpu:0" in done.stdout and "hetero conformance" in done.stdout
    if not broken:
        assert done.returncode == 0, done.stdout[-2000:]
        assert "conformance: 3/3 cases passed" in done.stdout
        return
    assert done.returncode == 1
    assert "Relu float32 [" in done.stdout and "(float32[" in done.stdout
    assert "repro: python -c" in done.stdout and "'hostnpu:0'" in done.stdout
    assert "conformance: 0/3 cases passed" in done.stdout

"""A lost GPU or OpenCL device becomes DeviceLost: NVML's critical Xid events (against a
stand-in for nvidia-ml-py that delivers the events a real driver would; no GPU here), CUDA's
sticky errors and OpenCL's CL_DEVICE_NOT_AVAILABLE."""

from __future__ import annotations

import queue
import sys
import threading
import time
import types

import pytest
from hetero.backends.cuda import CUDABackend
from hetero.backends.cuda.nvml import LOST_XIDS, watch_xids

import hetero


class FakeNVML(types.ModuleType):
    """Two GPUs; ``fire(uuid, xid)`` delivers a critical Xid event to the waiting set."""

    nvmlEventTypeXidCriticalError = 8

    class NVMLError(Exception):
        pass

    def __init__(self):
        super().__init__("pynvml")
        self.pending: queue.Queue = queue.Queue()
        self.registered: list[str] = []

    def nvmlInit(self):
        pass

    def nvmlEventSetCreate(self):
        return "set"

    def nvmlDeviceGetHandleByPciBusId(self, bus):
        return f"uuid-{bus}"

    def nvmlDeviceGetHandleByIndex(self, index):
        return f"uuid-{index}"

    def nvmlDeviceGetUUID(self, handle):
        return handle

    def nvmlDeviceRegisterEvents(self, handle, kinds, events):
        assert kinds == self.nvmlEventTypeXidCriticalError and events == "set"
        self.registered.append(handle)

    def nvmlEventSetWait_v2(self, events, timeout_ms):
        try:
            return self.pending.get(timeout=timeout_ms / 1000)
        except queue.Empty:
            raise self.NVMLError("timeout") from None

    def fire(self, handle, xid):
        self.pending.put(types.SimpleNamespace(device=handle, eventData=xid,
                                               eventType=self.nvmlEventTypeXidCriticalError))


@pytest.fixture
def nvml(monkeypatch):
    fake = FakeNVML()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return fake


def until(condition, timeout=5.0):
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)
    return condition()


def test_only_an_xid_that_loses_the_gpu_is_reported(nvml):
    heard, stop = [], threading.Event()
    thread = watch_xids({"0000:01:00.0": "gpu0", 1: "gpu1"},
                        lambda device, xid: heard.append((device, xid)), stop)
    try:
        assert nvml.registered == ["uuid-0000:01:00.0", "uuid-1"]
        nvml.fire("uuid-1", 13)  # a faulting kernel: the application's, not the device's
        nvml.fire("uuid-0000:01:00.0", 79)  # fallen off the bus
        assert until(lambda: heard == [("gpu0", 79)])
        time.sleep(0.1)
        assert heard == [("gpu0", 79)] and 79 in LOST_XIDS and 13 not in LOST_XIDS
    finally:
        stop.set()
        thread.join(5)


def test_without_nvml_events_nothing_is_watched(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    assert watch_xids({0: "gpu0"}, lambda *a: None, threading.Event()) is None


def test_a_lost_xid_removes_the_registry_s_gpu(registry, nvml):
    backend = CUDABackend()
    gpu = hetero.sim.attach("a100")  # stands in for the registered GPU of the same id
    gpu.backend = backend.name
    heard = []
    hetero.on_device_event(heard.append)
    stop = threading.Event()
    thread = watch_xids({0: gpu}, backend.lost, stop)
    try:
        nvml.fire("uuid-0", 95)  # uncontained ECC error
        assert until(lambda: not gpu.alive)
        assert [(e.kind, e.device.id) for e in heard] == [("removed", gpu.id)]
        assert gpu.info["lost"] == "NVML critical Xid 95"
    finally:
        stop.set()
        thread.join(5)


def test_a_sticky_cuda_error_is_a_lost_device_and_out_of_memory_is_not():
    from hetero.backends.cuda.errors import lost_on_sticky

    gpu = types.SimpleNamespace(id="cuda:0")
    sticky = "cuda:0: CUDA reported a sticky error"
    with pytest.raises(hetero.DeviceLost, match=sticky) as lost, lost_on_sticky(gpu):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
    assert lost.value.device is gpu and isinstance(lost.value.__cause__, RuntimeError)
    with pytest.raises(RuntimeError, match="out of memory"), lost_on_sticky(gpu):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_opencl_device_not_available_is_a_lost_device():
    from hetero.backends.opencl import lost_if_unavailable

    device = types.SimpleNamespace(id="opencl:gpu:0")
    gone = RuntimeError("clEnqueueNDRangeKernel failed: DEVICE_NOT_AVAILABLE")
    gone.code = -2
    assert isinstance(lost_if_unavailable(device, gone), hetero.DeviceLost)
    busy = RuntimeError("clEnqueueNDRangeKernel failed: OUT_OF_HOST_MEMORY")
    busy.code = -6
    assert lost_if_unavailable(device, busy) is busy

"""The cuda backend on a real NVIDIA GPU: what numba's simulator cannot show. Streams order
work between hetero and other libraries (DLPack both ways, ``__cuda_array_interface__``),
CUDA events time kernels and nodes, NVML counts joules. Each ordering check queues ~50 ms of
matrix products before the write it orders, so a missing wait reads stale memory.

Skipped without a GPU (CI); run on one with ``NUMBA_ENABLE_CUDASIM=0 pytest
tests/test_cuda_gpu.py`` (``benchmarks/cuda_gpu.sh`` does).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_cuda_backend import one_node

import hetero

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def gpu() -> hetero.Device:
    from numba import config

    if config.ENABLE_CUDASIM:
        pytest.skip("numba's CUDA simulator is on (the suite's default): "
                    "NUMBA_ENABLE_CUDASIM=0 on a machine with an NVIDIA GPU runs these")
    status = {s.name: s for s in hetero.backend_status()}.get("cuda")
    if status is None or status.state != "ok":
        pytest.skip(f"no real GPU: {status and status.detail}")
    return hetero.device("cuda")


def busy_then_fill(memory, tensor, value: float) -> None:
    """On hetero's stream: ~50 ms of matrix products, then ``tensor`` filled with ``value``
    (what a node does: submitted, not waited for)."""
    with memory.ordered():
        a = torch.randn(4096, 4096, device=memory.torch_device)
        for _ in range(8):
            a = a @ a
            a /= a.norm()
        tensor.fill_(value)


def test_dlpack_export_orders_the_consumer_after_hetero_work(gpu):
    array = hetero.asarray(np.zeros(1 << 20, np.float32), gpu)
    busy_then_fill(gpu.impl.memory(gpu), array.buffer, 3.0)
    seen = torch.from_dlpack(array).clone()  # torch's current stream: the default stream
    assert seen.min().item() == 3.0 == seen.max().item()


def test_dlpack_import_orders_hetero_after_the_producer(gpu):
    a = torch.randn(4096, 4096, device=f"cuda:{gpu.native}")
    produced = torch.zeros(1 << 20, device=a.device)
    for _ in range(8):  # on torch's current stream, as a producer's pending work
        a = a @ a
        a /= a.norm()
    produced.fill_(5.0)
    array = hetero.from_dlpack(produced)
    assert array.device is gpu
    copy = array.numpy()  # read on hetero's stream
    assert copy.min() == 5.0 == copy.max()


def test_cuda_array_interface_makes_numba_wait_for_hetero_stream(gpu):
    from numba import cuda

    array = hetero.asarray(np.zeros(1 << 20, np.float32), gpu)
    memory = gpu.impl.memory(gpu)
    assert array.__cuda_array_interface__["stream"] == memory.stream.cuda_stream
    busy_then_fill(memory, array.buffer, 2.0)
    seen = cuda.as_cuda_array(array).copy_to_host()  # numba syncs on the interface's stream
    assert seen.min() == 2.0 == seen.max()


def test_a_kernel_sees_adopted_memory_and_is_timed_by_events(gpu):
    @hetero.kernel
    def twice(src, out):
        i = hetero.global_id(0)
        if i < src.shape[0]:
            out[i] = src[i] * 2

    source = torch.arange(1000, dtype=torch.float32, device=f"cuda:{gpu.native}")
    x = hetero.from_dlpack(source)
    out = hetero.empty(1000, "float32", gpu)
    event = twice[gpu, 1024](x, out)
    event.wait()
    assert event.timing == "device" and 0 < event.duration_ms < 100
    np.testing.assert_array_equal(out.numpy(), np.arange(1000, dtype=np.float32) * 2)
    np.testing.assert_array_equal(torch.from_dlpack(out).cpu().numpy(), out.numpy())


def test_every_node_is_timed_on_the_device_when_profiling(gpu):
    x = np.random.default_rng(0).standard_normal((8, 16, 32, 32)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((16, 16, 3, 3)).astype(np.float32)
    plan = hetero.compile(hetero.load(one_node("Conv", [x], {"w": w}, 17, None, pads=[1] * 4)),
                          devices=[gpu], strict=True)
    plan.profile = True
    plan.run({"x0": x})
    plan.run({"x0": x})
    (timed,) = [t for t in plan.last_run if t.device == gpu.id]
    assert timed.timing == "device" and 0 < timed.ms < 50


def test_nvml_counts_the_joules_of_busy_work(gpu):
    if gpu.info.get("integrated"):
        pytest.skip("an integrated GPU has no NVML counter (a Jetson's rail is measured)")
    meter = gpu.impl.energy_meter(gpu)
    assert meter is not None and meter.source.startswith("measured: NVML"), gpu.info
    memory = gpu.impl.memory(gpu)
    before = meter.read_j()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record(memory.stream)
    for _ in range(20):
        busy_then_fill(memory, torch.empty(1, device=memory.torch_device), 0.0)
    end.record(memory.stream)
    end.synchronize()
    joules, seconds = meter.read_j() - before, start.elapsed_time(end) / 1e3
    assert 10 < joules / seconds < 2000, (joules, seconds)  # watts a GPU can draw


def test_the_gpu_is_the_one_nvml_knows_by_its_pci_bus_id(gpu):
    pynvml = pytest.importorskip("pynvml")
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByPciBusId(gpu.info["pci_bus_id"])
    name = pynvml.nvmlDeviceGetName(handle)
    assert (name.decode() if isinstance(name, bytes) else name) == gpu.name
    assert gpu.link is not None and gpu.link.name.startswith("pcie")


def test_untimed_runs_replay_a_cuda_graph_with_fresh_inputs(gpu):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    proto = one_node("Conv", [np.zeros((2, 8, 16, 16), np.float32)], {"w": w}, 17, None,
                     pads=[1] * 4)
    plan = hetero.compile(hetero.load(proto), devices=[gpu], strict=True)
    plain = hetero.compile(hetero.load(proto), devices=[gpu], strict=True)
    plan.history = plain.history = None
    plain.graphs = False
    for _ in range(4):
        x = rng.standard_normal((2, 8, 16, 16)).astype(np.float32)
        np.testing.assert_allclose(plan.run({"x0": x})["y"], plain.run({"x0": x})["y"],
                                   rtol=1e-5, atol=1e-5)
    assert plan._replay and [t.node for t in plan.last_run] == [f"replay:{gpu.id}"]

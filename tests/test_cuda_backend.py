"""The cuda backend without a GPU: torch ops, memory, kernels and timing on numba's CUDA
simulator (torch's CPU tensors stand in for device memory), checked against ONNX Runtime;
discovery, Jetson power modes and clear refusals through fakes of what a GPU would report."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime
import pytest
from helpers import TickClock
from onnx import helper, numpy_helper
from test_models import LIGHT, randomised

import hetero

torch = pytest.importorskip("torch")
cuda_backend = pytest.importorskip("hetero.backends.cuda")


@pytest.fixture
def gpu(registry):
    """The simulated cuda:0 (the suite's conftest turns the simulator on), or with
    NUMBA_ENABLE_CUDASIM=0 on a machine with an NVIDIA GPU, the real one."""
    status = {s.name: s for s in hetero.backend_status()}["cuda"]
    if status.state != "ok":
        pytest.skip(f"no cuda device: {status.detail}")
    return hetero.device("cuda")


@pytest.fixture
def sim_gpu(gpu):
    """For checks that stand host memory in for a GPU's."""
    if not gpu.simulated:
        pytest.skip("checks the simulator's host-memory stand-ins")
    return gpu


def onnxruntime_outputs(proto, feeds: dict) -> list[np.ndarray]:
    session = onnxruntime.InferenceSession(proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def one_node(op: str, inputs: list[np.ndarray], weights: dict, opset: int, out_shape,
             **attrs):
    """A model of one node: ``inputs`` fed, ``weights`` as initializers."""
    names = [f"x{i}" for i in range(len(inputs))] + list(weights)
    graph = helper.make_graph(
        [helper.make_node(op, names, ["y"], **attrs)], op,
        [helper.make_tensor_value_info(f"x{i}", helper.np_dtype_to_tensor_dtype(x.dtype),
                                       x.shape) for i, x in enumerate(inputs)],
        [helper.make_tensor_value_info("y", helper.np_dtype_to_tensor_dtype(inputs[0].dtype),
                                       out_shape)],
        [numpy_helper.from_array(w, n) for n, w in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=10)  # ONNX Runtime 1.30 (a GPU image's) reads <= 13
    return onnx.shape_inference.infer_shapes(model)  # the output's shape


RNG = np.random.default_rng(7)
IMAGE = RNG.standard_normal((1, 4, 9, 8)).astype(np.float32)
WEIGHT = RNG.standard_normal((6, 2, 3, 3)).astype(np.float32)
CASES = {  # what ONNX's backend suite covers thinly: padding rules, old opsets, broadcasting
    "Conv asymmetric pads, groups, dilations": (
        "Conv", [IMAGE], {"w": WEIGHT}, 17, None,
        dict(pads=[0, 2, 1, 1], group=2, dilations=[2, 1], strides=[1, 2])),
    "Conv SAME_LOWER": ("Conv", [IMAGE], {"w": WEIGHT}, 17, None,
                        dict(auto_pad="SAME_LOWER", group=2, strides=[2, 2])),
    "MaxPool ceil_mode with pads": ("MaxPool", [IMAGE], {}, 12, None,
                                    dict(kernel_shape=[3, 2], strides=[2, 2],
                                         pads=[1, 0, 0, 1], ceil_mode=1)),
    "AveragePool count_include_pad, ceil_mode": (
        "AveragePool", [IMAGE], {}, 19, None,
        dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1,
             count_include_pad=1)),
    "AveragePool 1-D SAME_UPPER": ("AveragePool", [IMAGE[0]], {}, 19, None,
                                   dict(kernel_shape=[4], auto_pad="SAME_UPPER")),
    "Gemm transposed, C broadcast": (
        "Gemm", [RNG.standard_normal((5, 3)).astype(np.float32)],
        {"b": RNG.standard_normal((4, 5)).astype(np.float32),
         "c": RNG.standard_normal((1, 4)).astype(np.float32)}, 13, None,
        dict(transA=1, transB=1, alpha=0.5, beta=2.0)),
    "Softmax opset 11 flattens at axis": ("Softmax", [IMAGE], {}, 11, None, dict(axis=2)),
    "LRN": ("LRN", [IMAGE], {}, 13, None, dict(size=3, alpha=0.1, beta=0.6, bias=2.0)),
    "ReduceMean opset 18 axes input": (
        "ReduceMean", [IMAGE], {"axes": np.array([-1, 1], np.int64)}, 18, None,
        dict(keepdims=0)),
}


@pytest.mark.parametrize("case", CASES)
def test_torch_ops_match_onnxruntime(gpu, case):
    op, inputs, weights, opset, shape, attrs = CASES[case]
    proto = one_node(op, inputs, weights, opset, shape, **attrs)
    plan = hetero.compile(hetero.load(proto), devices=[gpu], strict=True)
    feeds = {f"x{i}": x for i, x in enumerate(inputs)}
    (want,) = onnxruntime_outputs(proto, feeds)
    got = plan.run(feeds)["y"]
    assert [d.tier for d in plan.decisions] == ["native"], case
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6,
                               err_msg=f"{case}: {op} {attrs} at opset {opset}")


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", ["resnet50", "inception_v1", "shufflenet"])
def test_light_models_run_whole_on_cuda_and_match_onnxruntime(gpu, name):
    """ResNet-50's residual FusedConv, Inception's LRN and Dropout, ShuffleNet's
    ChannelShuffle: every node on the cuda device, through torch."""
    proto = randomised(LIGHT / f"light_{name}.onnx")
    plan = hetero.compile(hetero.load(proto), devices=[gpu], strict=True)
    (data,) = plan.graph.inputs
    x = np.random.default_rng(1).standard_normal(data.shape).astype(np.float32)
    (want,) = onnxruntime_outputs(proto, {data.name: x})
    (got,) = plan.run({data.name: x}).values()
    assert {d.tier for d in plan.decisions} == {"native"}
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_a_pool_torch_cannot_run_takes_the_portable_kernel(gpu):
    """torch's average pool has no dilations (ONNX's, from opset 19): the op library's
    portable kernel, compiled by numba.cuda, runs that node on the device instead."""
    attrs = dict(kernel_shape=[2, 2], dilations=[2, 2], strides=[1, 2])
    proto = one_node("AveragePool", [IMAGE], {}, 19, None, **attrs)
    plan = hetero.compile(hetero.load(proto), devices=[gpu], strict=True)
    assert [d.tier for d in plan.decisions] == ["portable"]
    (want,) = onnxruntime_outputs(proto, {"x0": IMAGE})
    np.testing.assert_allclose(plan.run({"x0": IMAGE})["y"], want, rtol=1e-5, atol=1e-6)


def test_a_portable_op_that_reads_an_input_as_an_attribute_is_not_placed(gpu):
    """opset 18's ReduceSum takes its axes as an input; the portable kernel reads an
    attribute: shape inference disagrees with the op's, so it is not offered."""
    from hetero.backends.cuda.nodes import portable_op

    proto = one_node("ReduceSum", [IMAGE.astype(np.float64)],
                     {"axes": np.array([1], np.int64)}, 18, None, keepdims=1)
    graph = hetero.load(proto).graph()
    assert portable_op(graph.nodes[0], graph) is None


def test_arrays_are_torch_tensors_that_kernels_share_without_copying(gpu):
    x = hetero.asarray(np.arange(6, dtype=np.float32), gpu)
    memory = gpu.impl.memory(gpu)
    assert isinstance(x.buffer, torch.Tensor)
    memory.kernel_view(x.buffer)[2] = 40.0  # what a kernel writes, the tensor holds
    assert x.numpy()[2] == 40.0
    assert x.reshape(2, 3).numpy().tolist() == [[0, 1, 40], [3, 4, 5]]

    @hetero.kernel
    def twice(src, out):
        i = hetero.global_id(0)
        out[i] = src[i] * 2

    out = hetero.empty(6, "float32", gpu)
    twice.launch(gpu, 6, None, [x, out]).wait()
    np.testing.assert_array_equal(out.numpy(), [0, 2, 80, 6, 8, 10])


class ForeignCUDA:
    """What another library hands over: to hetero a tensor on CUDA device ``index``; to
    torch, asked next, where it really is (the host: the simulator's device memory)."""

    def __init__(self, tensor, index: int = 0):
        self.tensor, self.index, self.asked = tensor, index, 0

    def __dlpack_device__(self):
        self.asked += 1
        return (2, self.index) if self.asked == 1 else self.tensor.__dlpack_device__()

    def __dlpack__(self, **kwargs):
        return self.tensor.__dlpack__(**kwargs)


def test_from_dlpack_adopts_gpu_memory_without_copying(sim_gpu, monkeypatch):
    gpu = sim_gpu
    monkeypatch.setattr(type(gpu.impl), "dlpack_device", lambda self, device: (2, 0))
    source = torch.arange(4, dtype=torch.float32)
    array = hetero.from_dlpack(ForeignCUDA(source))
    assert array.device is gpu and array.shape == (4,) and array.dtype == np.float32
    source[1] = 9.0  # shared memory: the producer's write shows through
    assert array.numpy()[1] == 9.0
    on_cpu = hetero.from_dlpack(ForeignCUDA(source), device="cpu")
    assert on_cpu.device.id == "cpu:0" and on_cpu.numpy().tolist() == [0, 9, 2, 3]


def test_from_dlpack_of_memory_no_device_owns_says_so(registry):
    with pytest.raises(hetero.UnsupportedOp, match=r"CUDA memory \(device 7\)"):
        hetero.from_dlpack(ForeignCUDA(torch.zeros(2), index=7))


def test_cuda_array_interface_names_the_stream_the_data_is_ready_on(sim_gpu, monkeypatch):
    """A CUDA tensor's interface, as the Array's shape, with the device's stream (version
    3), so numba or CuPy wait for hetero's work; host memory has none."""
    gpu = sim_gpu
    cpu_array = hetero.asarray(np.zeros(4, np.float32), "cpu")
    sim_array = hetero.asarray(np.zeros(6, np.float32), gpu)
    assert not hasattr(cpu_array, "__cuda_array_interface__")
    assert not hasattr(sim_array, "__cuda_array_interface__")  # the simulator: host memory

    class Tensor:
        def __init__(self, shape):
            self.__cuda_array_interface__ = {"shape": shape, "version": 2, "data": (64, False)}

        def reshape(self, shape):
            return Tensor(tuple(shape))

    memory = gpu.impl.memory(gpu)
    monkeypatch.setattr(memory, "on_gpu", True)
    monkeypatch.setattr(memory, "stream", SimpleNamespace(cuda_stream=77))
    array = hetero.Array(Tensor((6,)), gpu, (2, 3), np.float32)
    described = array.__cuda_array_interface__
    assert described == {"shape": (2, 3), "version": 3, "data": (64, False), "stream": 77}


def test_asynchronous_nodes_are_timed_by_the_device_clock_on_recorded_runs(gpu, monkeypatch,
                                                                           tmp_path):
    from test_runtime import chain_model

    clock = TickClock()
    monkeypatch.setattr(type(gpu.impl), "node_clock", lambda self, device: clock)
    plan = hetero.compile(chain_model(), devices=[gpu], strict=True,
                          history=hetero.history.History(tmp_path / "history.json"))
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    plan.run({"x": x})  # the first run compiles: not recorded, only submission timed
    first = {t.timing for t in plan.last_run if t.device == gpu.id}
    plan.run({"x": x})  # recorded for the history: device times
    second = [t for t in plan.last_run if t.device == gpu.id]
    assert first == {"submitted"}
    assert {t.timing for t in second} == {"device"} and {t.ms for t in second} == {2.5}
    assert "(device timer)" in plan.report()


def no_simulator(monkeypatch, device_files: bool):
    monkeypatch.setattr(cuda_backend, "simulator", lambda: False)
    monkeypatch.setattr(cuda_backend.glob, "glob",
                        lambda pattern: ["/dev/nvidiactl"] if device_files else [])


def test_without_a_gpu_the_backend_says_why_and_how_to_simulate(monkeypatch):
    no_simulator(monkeypatch, device_files=False)
    reason = cuda_backend.CUDABackend().unavailable_reason()
    assert "no NVIDIA GPU here" in reason and "NUMBA_ENABLE_CUDASIM=1" in reason


def test_a_cpu_only_torch_build_is_named_as_the_reason(monkeypatch):
    no_simulator(monkeypatch, device_files=True)
    monkeypatch.setattr(torch.version, "cuda", None)
    reason = cuda_backend.CUDABackend().unavailable_reason()
    assert "CPU-only build" in reason and torch.__version__ in reason


def props(**overrides):
    """What torch.cuda.get_device_properties reports, for a GPU this machine lacks."""
    return SimpleNamespace(**{"name": "NVIDIA H200", "major": 9, "minor": 0,
                              "multi_processor_count": 132, "is_integrated": False,
                              "pci_bus_id": 0x19, "pci_device_id": 0, "pci_domain_id": 0,
                              **overrides})


def test_a_discrete_gpu_is_reached_over_the_pcie_generation_nvml_reports(registry,
                                                                        monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index: (10, 141 * 2**30))
    asked = []
    monkeypatch.setattr(cuda_backend, "pcie_generation", lambda gpu: asked.append(gpu) or 5)
    monkeypatch.setattr(cuda_backend, "figures", lambda gpu: cuda_backend.Figures())
    device = cuda_backend.CUDABackend().real_device(0, props())
    assert asked == ["00000000:19:00.0"] and device.info["pci_bus_id"] == asked[0]
    assert device.link.name == "pcie4" and not device.profile.unified_memory
    assert device.memory_bytes == 141 * 2**30 and device.arch == "sm_90"
    # without NVML's clocks: Hopper's 128 FP32 lanes per SM at an assumed clock
    assert device.profile.peak_gflops["float32"] == pytest.approx(132 * 128 * 2 * 1.4)
    assert device.profile.idle_w == 30.0 and "assumed" in device.profile.sources["idle_w"]


def test_nvml_clocks_bus_and_idle_draw_give_the_profile_its_figures(registry, monkeypatch):
    """What an H200 reported (2026-12-04): 1980 MHz SM and 3201 MHz memory clocks, a
    6144-bit bus, 91.5 W idle. The modeled peaks land on its datasheet's 67 TFLOP/s float32
    and 4.8 TB/s (the 500 GB/s and 23.7 TFLOP/s assumed before were 8x and 2.8x low)."""
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index: (10, 141 * 2**30))
    monkeypatch.setattr(cuda_backend, "pcie_generation", lambda gpu: 5)
    monkeypatch.setattr(cuda_backend, "figures",
                        lambda gpu: cuda_backend.Figures(1980, 3201, 6144, 91.5))
    profile = cuda_backend.CUDABackend().real_device(0, props()).profile
    assert profile.peak_gflops["float32"] == pytest.approx(66908, rel=1e-3)
    assert profile.mem_bandwidth_gbs == pytest.approx(4916.7, abs=0.1)
    assert profile.idle_w == 91.5 and profile.sources["idle_w"].startswith("measured: NVML")
    assert "1980 MHz (NVML max)" in profile.sources["peak_gflops.float32"]
    assert profile.active_w >= profile.idle_w


NVPMODEL_CONF = """< POWER_MODEL ID=0 NAME=MODE_15W_2CORE >
CPU_ONLINE CORE_0 1
GPU_POWER_CONTROL_ENABLE GPU_PWR_CNTL_EN on
GPU MIN_FREQ 0
GPU MAX_FREQ 1109250000
< POWER_MODEL ID=2 NAME=MODE_10W_4CORE >
CPU_ONLINE CORE_0 1
GPU MIN_FREQ 0
GPU MAX_FREQ 599250000
< POWER_MODEL ID=8 NAME=MAXN >
GPU MAX_FREQ -1
< PM_CONFIG DEFAULT=2 >
"""


def jetson_root(tmp_path, mode: int):
    (tmp_path / "etc").mkdir(exist_ok=True)
    (tmp_path / "etc/nvpmodel.conf").write_text(NVPMODEL_CONF)
    (tmp_path / "var/lib/nvpmodel").mkdir(parents=True, exist_ok=True)
    (tmp_path / "var/lib/nvpmodel/status").write_text(f"pmode:{mode:04d}\n")
    return tmp_path


def test_a_jetson_power_mode_gives_its_budget_and_gpu_clock(tmp_path):
    from hetero.backends.cuda import jetson

    assert jetson.power_mode(jetson_root(tmp_path, 2)) == jetson.PowerMode(
        "2", "MODE_10W_4CORE", 10.0, 599250000.0)
    assert jetson.power_mode(jetson_root(tmp_path, 0)).gpu_max_hz == 1109250000.0
    assert jetson.power_mode(jetson_root(tmp_path, 8)) == jetson.PowerMode("8", "MAXN")
    assert jetson.power_mode(jetson_root(tmp_path, 5)) == jetson.PowerMode("5")  # not listed


def test_an_integrated_gpus_profile_follows_the_power_mode(registry, tmp_path, monkeypatch):
    """Switching nvpmodel's mode changes the peak (GPU clock cap) and the power (budget)
    the planner sees at the next discovery; the GPU shares the host's memory."""
    from hetero.backends.cuda import jetson

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index: (1, 8 * 2**30))
    xavier = props(name="Xavier", major=7, minor=2, multi_processor_count=6,
                   is_integrated=True)
    seen = {}
    for mode in (0, 2):
        root = jetson_root(tmp_path, mode)
        monkeypatch.setattr(jetson, "board", lambda r=root: jetson.Board("Jetson Xavier NX",
                                                                         jetson.power_mode(r)))
        seen[mode] = cuda_backend.CUDABackend().real_device(0, xavier)
    fast, slow = seen[0], seen[2]
    assert fast.profile.peak_gflops["float32"] == pytest.approx(6 * 64 * 2 * 1.10925, abs=0.05)
    assert slow.profile.peak_gflops["float32"] == pytest.approx(6 * 64 * 2 * 0.59925, abs=0.05)
    assert (fast.profile.active_w, slow.profile.active_w) == (15.0, 10.0)
    assert "MODE_10W_4CORE" in slow.profile.sources["active_w"]
    assert slow.info["power_mode"] == "MODE_10W_4CORE" and slow.profile.unified_memory
    assert slow.link.name == "shared"


def test_constant_shapes_are_read_on_the_host_not_back_from_the_gpu(gpu):
    """Reshape's target shape is a model constant: the op gets it as a NumPy array, so a run
    never waits for the GPU to copy a shape back."""
    proto = one_node("Reshape", [IMAGE], {"shape": np.array([0, -1], np.int64)}, 14, None)
    plan = hetero.compile(hetero.load(proto), devices=[gpu], strict=True)
    (prepared,) = plan.prepared.values()
    assert list(prepared.host) == [1] and prepared.host[1].tolist() == [0, -1]
    np.testing.assert_array_equal(plan.run({"x0": IMAGE})["y"], IMAGE.reshape(1, -1))


def test_a_grid_past_cudas_y_limit_is_refused_with_the_way_out(gpu):
    @hetero.kernel
    def fill(out):
        out[hetero.global_id(1)] = 1.0

    out = hetero.empty(70000, "float32", gpu)
    with pytest.raises(hetero.UnsupportedOp, match="exceed CUDA's 65535.*local_size"):
        fill.launch(gpu, (1, 70000), None, [out]).wait()


def test_numba_cuda_compiles_with_a_numpy_that_removed_row_stack():
    """NumPy 2.5 removed np.row_stack, which numba-cuda registers at its first compile: the
    backend restores the alias, so kernels compile (every one failed on an H200)."""
    import subprocess
    import sys

    pytest.importorskip("numba_cuda", reason="numba-cuda (the cuda extra) registers row_stack; "
                        "numba's own CUDA target does not")
    script = ("import numpy as np\n"
              "if hasattr(np, 'row_stack'): del np.row_stack  # as NumPy 2.5\n"
              "{import_backend}"
              "import numba.cuda.np.arrayobj\n")
    env = {**__import__("os").environ, "NUMBA_ENABLE_CUDASIM": "1"}
    without = subprocess.run([sys.executable, "-c", script.format(import_backend="")],
                             capture_output=True, text=True, env=env)
    assert "row_stack" in without.stderr  # the failure the alias mends
    with_backend = subprocess.run(
        [sys.executable, "-c", script.format(import_backend="import hetero.backends.cuda\n")],
        capture_output=True, text=True, env=env)
    assert with_backend.returncode == 0, with_backend.stderr[-2000:]

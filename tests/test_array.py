"""hetero.Array: placement, explicit transfers, NumPy and DLPack interop, device mismatch."""

from __future__ import annotations

import numpy as np
import pytest

import hetero


@pytest.fixture
def cpu(registry):
    return hetero.device("cpu")


def test_asarray_copies_onto_the_device(cpu):
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = hetero.asarray(host, device=cpu)
    host[0, 0] = 99
    assert (x.shape, x.dtype, x.device, x.ndim, x.size, x.nbytes) == (
        (2, 3), np.float32, cpu, 2, 6, 24)
    assert x.numpy()[0, 0] == 0
    assert "cpu:0" in repr(x)


@pytest.mark.parametrize("where", ["cpu", "sim"])
def test_an_array_made_from_read_only_memory_is_the_callers_to_write(cpu, where):
    device = cpu if where == "cpu" else hetero.sim.attach("jetson-xavier-nx-gpu")
    host = np.frombuffer(np.arange(4, dtype=np.float32).tobytes(), np.float32)  # read-only
    x = hetero.asarray(host, device=device)
    x.numpy()[0] = 7.0  # a view on host-memory devices
    assert x.numpy()[0] == 7.0 and host[0] == 0.0


def test_default_device_is_the_host_cpu_or_hetero_device(cpu, monkeypatch):
    assert hetero.asarray([1, 2]).device is cpu
    sim = hetero.sim.attach("a100")
    monkeypatch.setenv("HETERO_DEVICE", "sim:a100")
    assert hetero.zeros(3).device is sim


def test_empty_zeros_and_dtype_checks(cpu):
    z = hetero.zeros((2, 2), dtype="float64", device=cpu)
    assert z.numpy().tolist() == [[0, 0], [0, 0]] and z.dtype == np.float64
    assert hetero.empty(5, device=cpu).shape == (5,)
    with pytest.raises(TypeError, match="not <U1|not object"):
        hetero.asarray(np.array(["a"]), device=cpu)
    with pytest.raises(TypeError, match="complex128"):
        hetero.zeros(2, dtype="complex128", device=cpu)


def test_to_moves_explicitly_and_keeps_identity_when_already_there(cpu):
    sim = hetero.sim.attach("jetson-xavier-nx-gpu")
    x = hetero.asarray([1.0, 2.0], device=cpu)
    assert x.to(cpu) is x
    y = x.to(sim)
    assert y.device is sim and y.numpy().tolist() == [1.0, 2.0]
    y.numpy()[0] = 5.0  # sim memory is its own: the copy is independent
    assert x.numpy()[0] == 1.0


def test_numpy_protocols(cpu):
    x = hetero.asarray([[1, 2], [3, 4]], dtype="int32", device=cpu)
    assert np.asarray(x).dtype == np.int32
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    copied = np.array(x, copy=True)
    copied[0, 0] = 100
    assert x.numpy()[0, 0] == 1
    assert np.asarray(x, copy=False).base is not None or np.shares_memory(
        np.asarray(x, copy=False), x.numpy())
    with pytest.raises(ValueError, match="dtype conversion"):
        np.asarray(x, dtype=np.float64, copy=False)
    assert len(x) == 2
    with pytest.raises(TypeError, match="0-d"):
        len(hetero.asarray(1.0, device=cpu))


def test_dlpack_export_is_zero_copy_on_the_host(cpu):
    x = hetero.asarray(np.arange(4.0), device=cpu)
    assert x.__dlpack_device__() == (1, 0)
    view = np.from_dlpack(x)
    view[1] = 42.0
    assert x.numpy()[1] == 42.0


def test_from_dlpack_wraps_without_copying(cpu):
    host = np.arange(3.0)
    x = hetero.from_dlpack(host)
    assert x.device is cpu
    host[0] = 7.0
    assert x.numpy()[0] == 7.0


def test_from_dlpack_refuses_foreign_device_memory(cpu):
    class FakeCuda:
        def __dlpack_device__(self):
            return (2, 0)

    with pytest.raises(hetero.UnsupportedOp, match="CUDA"):
        hetero.from_dlpack(FakeCuda())


def test_one_launch_with_arrays_on_two_devices_names_both(cpu):
    sim = hetero.sim.attach("a100")
    a = hetero.asarray([1.0], device=cpu)
    b = hetero.asarray([2.0], device=sim)
    with pytest.raises(hetero.DeviceMismatch) as info:
        cpu.queue.submit(np.add, (a, b))
    assert "sim:a100:0" in str(info.value) and "cpu:0" in str(info.value)
    assert ".to('cpu:0')" in str(info.value)


def test_arrays_nested_in_arguments_are_checked_and_unwrapped(cpu):
    sim = hetero.sim.attach("a100")
    here = hetero.asarray([1.0, 2.0], device=cpu)
    there = hetero.asarray([3.0], device=sim)
    with pytest.raises(hetero.DeviceMismatch, match=r"argument 0\[1\] lives on sim:a100:0"):
        cpu.queue.submit(np.concatenate, ([here, there],))
    with pytest.raises(hetero.DeviceMismatch, match=r"argument 'parts'\['b'\]"):
        cpu.queue.submit(lambda parts: None, kwargs={"parts": {"a": here, "b": there}})
    joined = cpu.queue.submit(np.concatenate, ([here, here],)).wait()
    assert joined.tolist() == [1.0, 2.0, 1.0, 2.0]


def test_from_dlpack_checks_the_dtype(cpu):
    with pytest.raises(TypeError, match="complex128"):
        hetero.from_dlpack(np.zeros(2, dtype=np.complex128))


def test_data_on_a_detached_device_is_lost_loudly(cpu):
    sim = hetero.sim.attach("a100")
    x = hetero.asarray([1.0], device=sim)
    hetero.sim.detach(sim)
    with pytest.raises(hetero.DeviceLost, match="sim:a100:0"):
        x.numpy()
    with pytest.raises(hetero.DeviceLost):
        x.to(cpu)
    with pytest.raises(hetero.DeviceLost):
        hetero.asarray([1.0], device=sim)


def test_opencl_round_trip(registry):
    pytest.importorskip("pyopencl")
    dev = hetero.device("opencl")
    host = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    x = hetero.asarray(host, device=dev)
    assert x.device is dev and x.device.backend == "opencl"
    np.testing.assert_array_equal(x.numpy(), host)
    np.testing.assert_array_equal(x.to("cpu").numpy(), host)
    assert hetero.zeros(4, device=dev).numpy().tolist() == [0, 0, 0, 0]
    assert hetero.asarray(np.zeros((0, 3)), device=dev).numpy().shape == (0, 3)
    with pytest.raises(BufferError, match="do not support DLPack"):
        x.__dlpack__()
    with pytest.raises(ValueError, match="device memory"):
        np.asarray(x, copy=False)


def test_simulated_devices_enforce_their_memory_capacity(registry):
    import gc

    stick = hetero.sim.attach("coral-usb-edgetpu")  # 8 MiB on-chip memory
    sim = registry.backend("sim")
    half = hetero.zeros(2**20, dtype="float32", device=stick)
    other = hetero.empty(2**20, dtype="float32", device=stick)
    assert sim.memory_used(stick) == 8 * 2**20
    with pytest.raises(hetero.DeviceOutOfMemory, match="sim:coral-usb-edgetpu:0.*do not fit"):
        hetero.asarray(np.ones(1, np.float32), device=stick)
    with pytest.raises(MemoryError):  # an ordinary MemoryError handler catches it too
        hetero.empty((10**6, 10**6), device=stick)
    del half
    gc.collect()
    assert sim.memory_used(stick) == 4 * 2**20
    assert hetero.zeros(2**20, dtype="float32", device=stick).device is stick
    del other

"""In-order asynchronous queues and their events."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import hetero
from hetero import Work


@pytest.fixture
def cpu(registry):
    return hetero.device("cpu")


def test_submit_is_asynchronous_and_in_order(cpu):
    gate = threading.Event()
    order = []
    first = cpu.queue.submit(lambda: (gate.wait(5), order.append(1)))
    second = cpu.queue.submit(order.append, (2,))
    assert second.status == "queued"  # returned before any work ran
    gate.set()
    second.wait(5)
    assert order == [1, 2] and first.status == second.status == "complete"


def test_event_timestamps_are_measured_on_the_host(cpu):
    event = cpu.queue.submit(time.sleep, (0.02,))
    event.wait()
    assert event.timing == "host"
    assert event.submit_ns <= event.start_ns < event.end_ns
    assert event.duration_ms >= 15
    assert "complete" in repr(event) and "measured" in repr(event)


def test_kernel_arguments_arrive_as_native_buffers(cpu):
    x = hetero.asarray([1.0, 2.0], device=cpu)
    out = hetero.zeros(2, dtype="float64", device=cpu)
    cpu.queue.submit(np.multiply, (x, 3.0), {"out": out}).wait()
    assert out.numpy().tolist() == [3.0, 6.0]


def test_errors_surface_on_wait(cpu):
    event = cpu.queue.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        event.wait()
    assert event.status == "error"
    cpu.queue.submit(lambda: None).wait()  # the queue survives a failed item


def test_queue_wait_drains_everything(cpu):
    done = []
    for i in range(20):
        cpu.queue.submit(done.append, (i,))
    cpu.queue.wait()
    assert done == list(range(20))


def test_simulated_devices_report_modeled_time_and_energy(registry):
    sim = hetero.device(hetero.sim.attach("jetson-xavier-nx-gpu"))
    a = hetero.asarray(np.ones((64, 64), np.float32), device=sim)
    work = Work(flops=2 * 64**3, bytes=3 * 64 * 64 * 4)
    event = sim.queue.submit(np.matmul, (a, a), work=work)
    assert event.wait()[0, 0] == 64.0  # computed for real, on the host
    modeled = event.modeled
    assert modeled["source"].startswith("modeled:")
    expected_s = sim.profile.roofline_s(work.flops, work.bytes)
    assert modeled["time_ms"] == pytest.approx(expected_s * 1e3)
    assert modeled["energy_mj"] == pytest.approx(sim.profile.active_w * expected_s * 1e3)


def test_real_devices_do_not_invent_modeled_figures(cpu):
    assert cpu.queue.submit(lambda: None, work=Work(1e6, 1e6)).modeled is None


def test_submit_to_a_detached_device_raises_device_lost(registry):
    sim = hetero.sim.attach("a100")
    queue = sim.queue
    hetero.sim.detach(sim)
    with pytest.raises(hetero.DeviceLost, match="sim:a100:0"):
        queue.submit(lambda: None)

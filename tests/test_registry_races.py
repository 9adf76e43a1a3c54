"""The registry under races: attach, detach, rescan and queue submits from many threads leave
no ghost device, no duplicate id and no raw error; plans never run on a removed device."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest
from test_runtime import WANT, X, chain_model

import hetero
from hetero import DeviceLost, HeteroError

ROUNDS = 40


@pytest.fixture(autouse=True)
def eager_switching():
    """Threads switch every microsecond (not every 5 ms), so races happen within a test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.fixture
def slow_sim(registry, monkeypatch):
    """The simulated backend takes a millisecond after recording an attach or a detach, as a
    real driver does: whatever is not atomic with the registry's update races here."""
    sim = registry.backend("sim")
    for name in ("attach", "detach"):
        original = getattr(sim, name)

        def slow(*args, original=original):
            result = original(*args)
            time.sleep(0.001)
            return result

        monkeypatch.setattr(sim, name, slow)
    return registry


def hammer(work, threads: int = 3) -> list[BaseException]:
    """Run ``work(thread index)`` on several threads at once; the errors they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def body(k: int) -> None:
        start.wait()
        try:
            work(k)
        except BaseException as exc:  # noqa: BLE001 - every error is the test's finding
            errors.append(exc)

    runners = [threading.Thread(target=body, args=(k,)) for k in range(threads)]
    for t in runners:
        t.start()
    for t in runners:
        t.join(60)
    return errors


def test_threads_attaching_and_detaching_one_profile_leave_no_ghost(slow_sim):
    def churn(_: int) -> None:
        for _ in range(ROUNDS):
            hetero.sim.detach(hetero.sim.attach("a100"))

    assert hammer(churn) == []
    assert [d for d in hetero.devices() if d.backend == "sim"] == []
    assert slow_sim.backend("sim").discover() == []
    assert hetero.rescan() == []  # nothing attached behind the registry's back


def test_a_rescan_racing_attaches_reports_each_device_once(slow_sim):
    seen: list[tuple[str, hetero.Device]] = []
    hetero.on_device_event(lambda e: seen.append((e.kind, e.device)))

    def work(k: int) -> None:
        for _ in range(ROUNDS):
            if k == 0:
                hetero.rescan()
            else:
                hetero.sim.detach(hetero.sim.attach("coral-usb-edgetpu"))

    assert hammer(work) == []
    added = [d for kind, d in seen if kind == "added" and d.backend == "sim"]
    removed = [d for kind, d in seen if kind == "removed" and d.backend == "sim"]
    assert len(added) == len(removed) == 2 * ROUNDS
    assert len(set(map(id, added))) == len(added)  # no device reported twice


def test_two_threads_detaching_one_device_one_wins_the_other_is_told(slow_sim):
    for _ in range(30):
        device = hetero.sim.attach("a100")
        errors = hammer(lambda _, device=device: hetero.sim.detach(device), threads=2)
        assert len(errors) == 1 and isinstance(errors[0], DeviceLost), errors
        assert device.id in str(errors[0]) and not device.alive


def test_a_submit_racing_a_detach_runs_or_raises_device_lost(registry):
    outcomes = {"ran": 0, "lost": 0}
    for _ in range(60):
        device = hetero.sim.attach("a100")

        def work(k: int, device=device) -> None:
            if k:
                hetero.sim.detach(device)
                return
            try:
                device.queue.submit(lambda: None).wait(5)
                outcomes["ran"] += 1
            except DeviceLost:
                outcomes["lost"] += 1

        assert hammer(work, threads=2) == []
    assert outcomes["ran"] + outcomes["lost"] == 60


def test_a_plan_never_runs_on_a_removed_device(registry):
    sim = hetero.sim.attach("jetson-xavier-nx-gpu")
    plan = hetero.compile(chain_model(), devices=[hetero.device("cpu"), sim],
                          placement={"square": sim.id})
    np.testing.assert_allclose(plan.run({"x": X})["d"], WANT, rtol=1e-6)
    hetero.sim.detach(sim)
    with pytest.raises(DeviceLost, match=f"{sim.id}.*plan.replan"):
        plan.run({"x": X})
    survivor = plan.replan(hetero.devices())
    assert sim.id not in survivor.placement.values()
    np.testing.assert_allclose(survivor.run({"x": X})["d"], WANT, rtol=1e-6)


def test_a_plan_that_leaves_a_removed_device_unused_still_runs(registry):
    sim = hetero.sim.attach("a100")
    plan = hetero.compile(chain_model(), devices=[hetero.device("cpu"), sim],
                          placement={n: "cpu:0" for n in ("relu", "square", "minus", "atan")})
    hetero.sim.detach(sim)
    np.testing.assert_allclose(plan.run({"x": X})["d"], WANT, rtol=1e-6)


def test_compile_and_replan_refuse_a_removed_device_by_name(registry):
    sim = hetero.sim.attach("a100")
    plan = hetero.compile(chain_model(), devices=[hetero.device("cpu"), sim])
    hetero.sim.detach(sim)
    with pytest.raises(DeviceLost, match=f"cannot plan on {sim.id}: removed"):
        hetero.compile(chain_model(), devices=[hetero.device("cpu"), sim])
    with pytest.raises(DeviceLost, match=sim.id):
        plan.replan([hetero.device("cpu"), sim])
    assert isinstance(DeviceLost("x"), HeteroError)


def test_a_queue_closed_between_the_check_and_the_submit_raises_device_lost(registry,
                                                                           monkeypatch):
    device = hetero.sim.attach("a100")
    queue = device.queue
    real, calls = type(device).check_alive, []

    def late(self, doing="use it"):  # the detach lands just after the first check
        calls.append(doing)
        if len(calls) > 1:
            real(self, doing)

    hetero.sim.detach(device)
    monkeypatch.setattr(type(device), "check_alive", late)
    with pytest.raises(DeviceLost, match=device.id):
        queue.submit(lambda: None)
    assert len(calls) == 2

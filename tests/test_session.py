"""hetero.Session: re-plans when devices come and go, fails a request over to the next plan
when a device is lost under it, and answers every request correctly or raises."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from test_runtime import WANT, X, chain_model
from test_search import random_dag

import hetero
from hetero import DeviceLost, HeteroError, PlanInfeasible
from hetero.history import History

JETSON_GPU, JETSON_CPU = "jetson-xavier-nx-gpu", "jetson-xavier-nx-cpu"


def settled(session, generation: int, timeout: float = 20.0) -> bool:
    """Wait until the session's plan generation passes ``generation``."""
    end = time.monotonic() + timeout
    while session.generation <= generation and time.monotonic() < end:
        time.sleep(0.01)
    return session.generation > generation


def reference(graph, feeds):
    return hetero.compile(graph, devices=[hetero.device("cpu")]).run(feeds)


def test_a_removed_device_is_replanned_away_at_once(registry):
    sim = hetero.sim.attach(JETSON_GPU)
    with hetero.Session(chain_model(), devices=["cpu", sim],
                        placement={"square": sim.id}) as session:
        assert sim.id in session.plan.placement.values()
        np.testing.assert_allclose(session.run({"x": X})["d"], WANT, rtol=1e-6)
        before = session.generation
        hetero.sim.detach(sim)
        assert session.generation == before + 1  # on the detaching thread, before it returns
        assert sim.id not in session.plan.placement.values()
        np.testing.assert_allclose(session.run({"x": X})["d"], WANT, rtol=1e-6)
        kinds = [e.kind for e in session.events]
        assert kinds[-2:] == ["device removed", "replanned"]
        assert session.stats.requests == session.stats.completed == 2
        assert session.stats.replans == 1 and session.stats.failed == 0


def test_an_added_device_is_planned_in_the_background_and_swapped_in_when_better(registry,
                                                                                tmp_path):
    graph = random_dag(0, 6)
    feeds = {"x": np.random.default_rng(0).standard_normal((1, 16, 32, 32)).astype(np.float32)}
    want = reference(graph, feeds)
    hetero.sim.attach(JETSON_CPU)
    with hetero.Session(graph, devices=[f"sim:{JETSON_CPU}", f"sim:{JETSON_GPU}"],
                        history=History(tmp_path / "history.json")) as session:
        assert set(session.plan.placement.values()) == {f"sim:{JETSON_CPU}:0"}
        before = session.generation
        gpu = hetero.sim.attach(JETSON_GPU)
        for _ in range(5):  # requests keep being answered while it plans
            out = session.run(feeds)
            np.testing.assert_allclose(out[graph.outputs[0].name],
                                       want[graph.outputs[0].name], rtol=1e-4, atol=1e-4)
        assert settled(session, before)
        assert gpu.id in session.plan.placement.values()
        swap = [e for e in session.events if e.kind == "replanned"][-1]
        assert gpu.id in swap.detail and "(modeled)" in swap.detail


def test_a_device_lost_mid_request_is_marked_lost_and_the_request_retried(registry,
                                                                          monkeypatch):
    sim = hetero.sim.attach(JETSON_GPU)
    backend = registry.backend("sim")
    original, failures = backend.run_node, []

    def failing(device, prepared, inputs):  # a USB transfer error, once
        if device is sim and not failures:
            failures.append(device)
            raise DeviceLost(f"{device.id}: transfer error (injected)")
        return original(device, prepared, inputs)

    monkeypatch.setattr(backend, "run_node", failing)
    with hetero.Session(chain_model(), devices=["cpu", sim],
                        placement={"square": sim.id}) as session:
        np.testing.assert_allclose(session.run({"x": X})["d"], WANT, rtol=1e-6)
        assert failures == [sim] and not sim.alive  # the registry was told
        assert sim not in hetero.devices()
        assert session.stats.retried == 1 and session.stats.completed == 1
        assert len(session.stats.failover_ms) == 1
        assert any(e.kind == "failover" and sim.id in e.detail for e in session.events)


def test_retries_are_bounded(registry, monkeypatch):
    sims = [hetero.sim.attach(JETSON_GPU) for _ in range(4)]
    backend = registry.backend("sim")

    def always(device, prepared, inputs):
        raise DeviceLost(f"{device.id}: gone (injected)")

    monkeypatch.setattr(backend, "run_node", always)
    with hetero.Session(chain_model(), devices=sims, retries=2) as session:
        with pytest.raises(DeviceLost, match="each of its 3 tries"):
            session.run({"x": X})
        assert session.stats.failed == 1 and session.stats.retried == 2


def test_with_no_device_left_requests_fail_clearly_until_one_comes(registry):
    sim = hetero.sim.attach(JETSON_GPU)
    with hetero.Session(chain_model(), devices=[f"sim:{JETSON_GPU}"]) as session:
        hetero.sim.detach(sim)
        with pytest.raises(PlanInfeasible, match="no plan: the devices left cannot run"):
            session.run({"x": X})
        before = session.generation
        back = hetero.sim.attach(JETSON_GPU)
        assert settled(session, before)
        assert set(session.plan.placement.values()) == {back.id}
        np.testing.assert_allclose(session.run({"x": X})["d"], WANT, rtol=1e-6)
        assert session.stats.failed == 1


def test_submitted_requests_survive_devices_coming_and_going(registry):
    sims = [hetero.sim.attach(JETSON_GPU) for _ in range(2)]
    with hetero.Session(chain_model(), devices=[f"sim:{JETSON_GPU}", "cpu"],
                        max_in_flight=8, workers=3) as session:
        futures, stop = [], threading.Event()

        def churn() -> None:
            while not stop.is_set():
                hetero.sim.detach(sims.pop(0))
                sims.append(hetero.sim.attach(JETSON_GPU))
                time.sleep(0.005)

        churner = threading.Thread(target=churn)
        churner.start()
        try:
            futures = [session.submit({"x": X}) for _ in range(300)]
            results = [f.result(30) for f in futures]
        finally:
            stop.set()
            churner.join(10)
        for out in results:
            np.testing.assert_allclose(out["d"], WANT, rtol=1e-6)
        stats = session.stats
        assert stats.requests == stats.completed == 300 and stats.failed == 0
        assert stats.replans >= 1


def test_a_closed_session_refuses_requests_and_stops_following_devices(registry):
    session = hetero.Session(chain_model(), devices=["cpu"])
    session.close()
    with pytest.raises(HeteroError, match="closed"):
        session.run({"x": X})
    before = len(session.events)
    hetero.sim.detach(hetero.sim.attach(JETSON_GPU))
    assert len(session.events) == before


def test_injected_faults_are_survived_and_counted(registry):
    from hetero.testing.faults import inject

    sims = [hetero.sim.attach(JETSON_GPU) for _ in range(2)]
    restores = [inject(s, rate=0.2, seed=k) for k, s in enumerate(sims)]
    with hetero.Session(chain_model(), devices=[*sims, "cpu"], retries=5) as session:
        for _ in range(40):
            np.testing.assert_allclose(session.run({"x": X})["d"], WANT, rtol=1e-6)
            hetero.rescan()  # a lost device its backend still sees comes back
        faults = [r() for r in restores]
        assert sum(f.failed for f in faults) >= 1 and session.stats.retried >= 1
        assert session.stats.completed == 40 and session.stats.failed == 0


def test_a_device_lost_repeatedly_is_quarantined_until_its_probe_passes(registry, tmp_path,
                                                                       monkeypatch):
    import hetero.session as session_module
    from hetero.testing.faults import inject

    monkeypatch.setattr(session_module, "PROBE_FIRST_S", 0.05)
    sim = hetero.sim.attach(JETSON_GPU)
    backend = registry.backend("sim")
    probes = []

    def probe(device):  # fails while the device still fails its nodes
        probes.append(device.impl is not backend)
        if device.impl is not backend:
            raise DeviceLost(f"{device.id}: still failing (injected)", device)

    monkeypatch.setattr(backend, "probe", probe)
    restore = inject(sim, rate=1.0)  # every node on it fails (the twin keeps the probe)
    with hetero.Session(chain_model(), devices=[sim, "cpu"], placement={"square": sim.id},
                        retries=1, history=History(tmp_path / "history.json")) as session:
        for _ in range(3):  # on it, lost (a strike), back on the next rescan, on it again ...
            assert until(lambda: sim.id in session.plan.placement.values(), timeout=10)
            np.testing.assert_allclose(session.run({"x": X})["d"], WANT, rtol=1e-6)
            hetero.rescan()  # the background plan with it swaps in once prepared
        assert sim.id in session.quarantined and sim.alive  # present, but not trusted
        assert sim not in session.devices()
        assert sim.id not in session.plan.placement.values()
        assert until(lambda: any(e.kind == "probe failed" for e in session.events))
        restore()
        assert until(lambda: sim.id not in session.quarantined, timeout=10)
        assert any(e.kind == "trusted again" and sim.id in e.detail for e in session.events)
        assert sim in session.devices() and probes[0] is True and probes[-1] is False
        np.testing.assert_allclose(session.run({"x": X})["d"], WANT, rtol=1e-6)


def until(condition, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)
    return condition()


def test_the_failover_example_answers_every_request_right(registry, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import failover

    failover.main()
    shown = capsys.readouterr().out
    assert "removed: now on cpu:0" in shown and "lost mid-request" in shown
    summary = shown.strip().splitlines()[-1]
    assert " 0 wrong" in summary and " 0 failed" in summary, summary


def test_submit_blocks_beyond_max_in_flight(registry):
    with hetero.Session(chain_model(), devices=["cpu"], max_in_flight=2, workers=3,
                        watch=False) as session:
        gate = threading.Event()
        session.run = lambda feeds, timeout_ms=None: gate.wait(10)  # they hold their slot
        first, second = session.submit({"x": X}), session.submit({"x": X})
        third: list = []
        waiting = threading.Thread(target=lambda: third.append(session.submit({"x": X})))
        waiting.start()
        time.sleep(0.2)
        assert third == [] and not first.done()  # the third waits for a slot
        gate.set()
        waiting.join(10)
        assert len(third) == 1 and third[0].result(10) and first.result(10) and second.result(10)

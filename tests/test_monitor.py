"""``hetero monitor``: devices, their state and the event log, live; with --run, a session's
placement, throughput and failovers as a device leaves."""

from __future__ import annotations

import threading
import time

import onnx
from test_runtime import chain_model

import hetero
from hetero.cli import main

GPU = "sim:jetson-xavier-nx-gpu"


def test_monitor_shows_a_device_leaving_and_the_session_replanning(registry, tmp_path,
                                                                   capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one event per line
    path = tmp_path / "chain.onnx"
    onnx.save(chain_model().proto, path)

    def detach_once_running() -> None:
        end = time.monotonic() + 30
        while time.monotonic() < end:  # the session and the view have subscribed
            if len(registry._subscribers) >= 2:
                time.sleep(0.5)  # let a few requests run on it first
                hetero.sim.detach(hetero.device(GPU))
                return
            time.sleep(0.02)

    remover = threading.Thread(target=detach_once_running)
    remover.start()
    assert main(["monitor", "--run", str(path), "--sim", "jetson-xavier-nx-gpu",
                 "--devices", f"{GPU},cpu", "--seconds", "3"]) == 0
    remover.join(20)
    shown = capsys.readouterr().out
    assert f"removed {GPU}:0" in shown  # the event log
    assert "session: replanned" in shown and "now on cpu:0" in shown
    assert "requests/s (measured, last second)" in shown and "0 failed" in shown
    assert "device events:" in shown


def test_monitor_without_a_model_lists_the_devices(registry, capsys):
    hetero.sim.attach("a100")
    assert main(["monitor", "--seconds", "0.3"]) == 0
    shown = capsys.readouterr().out
    assert "sim:a100:0" in shown and "yes (figures modeled)" in shown and "(none yet)" in shown

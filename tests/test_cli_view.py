"""What a person sees: the command line's output at a narrow terminal's width, and its
progress display in a real terminal (tmux), checked line by line rather than by exit code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

MISSING_EXTRA = """
import hetero
from hetero.backend import HostMemoryBackend

HETERO_PLUGIN_API = 1


class NeedsADriver(HostMemoryBackend):
    name = "needsdriver"
    requires = ("hetero_no_such_driver",)
    extra = "needsdriver"

    def discover(self):
        return []


@hetero.hookimpl
def hetero_backends():
    return [NeedsADriver()]
"""


def shown(*args: str, width: int = 80, env: dict | None = None) -> list[str]:
    """The command's stdout as a terminal ``width`` columns wide would show it."""
    done = subprocess.run([sys.executable, "-m", "hetero.cli", *args], capture_output=True,
                          text=True, check=True,
                          env={**os.environ, "COLUMNS": str(width), **(env or {})})
    return done.stdout.splitlines()


def column(lines: list[str], start: int, end: int | None) -> str:
    """The text of one table column over several lines, joined as a person reads it."""
    return " ".join(" ".join(line[start:end].strip() for line in lines).split())


def test_the_main_job_tells_the_demo_s_story_in_80_columns():
    args = ("devices", "--sim", "jetson-xavier-nx-gpu@5g")
    listing = json.loads("\n".join(shown(*args, "--json")))["devices"]
    ids = [d["id"] for d in listing]
    lines = shown(*args)
    assert all(len(line.rstrip()) <= 80 for line in lines), max(lines, key=len)
    for device_id in ids:  # every id whole, at the start of its row
        assert any(line.split()[:1] == [device_id] for line in lines if line.strip()), device_id
    at = next(k for k, line in enumerate(lines) if "sim:jetson-xavier-nx-gpu:0" in line)
    assert "SIMULATED" in lines[at + 1] and "gpu sm_72" in lines[at]
    header = next(line for line in lines if line.split()[:1] == ["id"])
    link = column(lines[at:at + 4], header.index("link"), None)
    assert "5g: 8 ms, 100 Mbit/s (modeled)" in link  # the link: its kind, latency and rate
    peak = column(lines[at:at + 4], lines[at].index("845 GFLOP"), header.index("link"))
    assert "845 GFLOP/s (derived)" in peak and "15/2.5 W (datasheet/estimate)" in peak
    simulated = sum(d["simulated"] for d in listing)
    assert lines[0].split(",")[-1].strip() == f"{simulated} simulated"


def test_unavailable_backends_are_one_line_with_the_command_that_enables_each(install_plugin):
    site = install_plugin("hetero-needsdriver", "needsdriver", MISSING_EXTRA)
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    lines = shown("devices", width=200, env=env)
    summary = [line for line in lines if line.startswith("not available here:")]
    assert len(summary) == 1
    assert "needsdriver (pip install 'hetero[needsdriver]')" in summary[0]
    assert "hetero devices --verbose" in summary[0]
    assert not any("hetero_no_such_driver" in line for line in lines)  # the why waits for -v
    verbose = " ".join(shown("devices", "--verbose", width=200, env=env))
    assert "needsdriver: unavailable: hetero_no_such_driver is not installed" in verbose


def test_profiles_fit_80_columns_without_cutting_a_name():
    lines = shown("profiles")
    assert all(len(line.rstrip()) <= 80 for line in lines)
    names = [p["name"] for p in json.loads("\n".join(shown("profiles", "--json")))["profiles"]]
    for name in names:
        assert any(line.split()[:1] == [name] for line in lines), name


needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


class Terminal:
    """A detached tmux session 80x24 running one command: what its screen shows, polled."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.name = f"hetero-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={v!r}" for k, v in env.items())
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "80", "-y", "24",
                        f"env {exports} {command}; sleep 30"], check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True).stdout

    def wait_for(self, text: str, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never shown; the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


SLOW_STEP = """
import time
from hetero import progress
progress.enable()
with progress.step("measuring the widget", total=4) as advance:
    for _ in range(4):
        time.sleep(0.6)
        advance()
print("finished")
"""


@needs_tmux
def test_a_long_step_shows_a_live_bar_then_one_line_in_a_real_terminal(tmp_path: Path):
    script = tmp_path / "slow.py"
    script.write_text(SLOW_STEP)
    term = Terminal(f"{sys.executable} {script}", {"HETERO_CACHE_DIR": str(tmp_path / "c")})
    try:
        live = term.wait_for("measuring the widget")
        assert "/4" in live  # the bar counts steps while the work goes on
        final = term.wait_for("finished")
        assert "measuring the widget: done in" in final
        assert "/4" not in final  # the bar is gone once the work is done
    finally:
        term.close()


@needs_tmux
def test_conformance_is_never_silent_at_a_terminal(tmp_path: Path):
    term = Terminal(f"{sys.executable} -m hetero.cli conformance --device cpu --op Relu "
                    "--op Add --dtype float32", {"HETERO_CACHE_DIR": str(tmp_path)})
    try:
        live = term.wait_for("cpu:0: ")  # the bar names the op it is checking, while it runs
        assert "cases passed" not in live and ("Relu" in live or "Add" in live)
        assert "cases passed" in term.wait_for("cases passed", timeout_s=240)
    finally:
        term.close()


def test_a_step_that_fails_says_so_and_main_leaves_progress_as_it_was(monkeypatch, capsys):
    from hetero import cli, progress

    monkeypatch.delenv("HETERO_PROGRESS", raising=False)
    monkeypatch.setattr(progress, "REPORT_AFTER_S", 0.0)
    previous = progress.enable()
    try:
        with pytest.raises(ValueError), progress.step("parsing the widget"):
            raise ValueError("bad widget")
    finally:
        progress.enable(previous)
    assert "hetero: parsing the widget: failed after" in capsys.readouterr().err
    assert cli.main(["profiles", "--json"]) == 0
    assert not progress.enabled()  # the command switched it on only while it ran

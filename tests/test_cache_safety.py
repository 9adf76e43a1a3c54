"""Hostile and broken cache entries (issue 19): each is discarded with a warning and rebuilt;
none is loaded before it is checked; hetero never crashes on one (docs/caches.md)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import hetero
from hetero.cache import INDEX, Folder, cached, content_key
from hetero.history import History
from hetero.queue import Work

TESTS = Path(__file__).parent


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def private(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


@hetero.kernel
def doubled(x, out):
    i = hetero.global_id(0)
    if i < x.shape[0]:
        out[i] = x[i] * 2.0


@hetero.kernel
def tripled(x, out):
    i = hetero.global_id(0)
    if i < x.shape[0]:
        out[i] = x[i] * 3.0


def run_on_tvm(kern, factor: float) -> str:
    """Launch a fresh copy of ``kern`` (nothing compiled in memory) on tvm; its origin."""
    fresh = hetero.kernel(kern.fn)
    x = hetero.asarray(np.arange(10, dtype=np.float32), "tvm")
    out = hetero.zeros(10, np.float32, "tvm")
    fresh["tvm", 16](x, out).wait()
    np.testing.assert_array_equal(out.numpy(), np.arange(10) * factor)
    return next(iter(fresh._programs.values())).origin


def shared_library(tmp_path: Path, body: str) -> Path:
    """A real shared library built by the C compiler (the test is skipped without one)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build a planted library")
    source, lib = tmp_path / "planted.c", tmp_path / "planted.so"
    source.write_text(body)
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(source)], check=True)
    return lib


# -- the folder and its files ----------------------------------------------------------------


def test_a_cache_folder_hetero_creates_is_private_and_its_entries_indexed(tmp_path, monkeypatch):
    root = tmp_path / "new" / "cache"
    monkeypatch.setenv("HETERO_CACHE_DIR", str(root))
    cached("x", (1,), lambda: {"v": 1})
    (entry,) = root.glob("x-*.json")
    assert mode(root) == mode(root.parent) == 0o700 and mode(entry) == 0o600
    index = json.loads((root / INDEX).read_text())["entries"]
    assert index[entry.name]["size"] == entry.stat().st_size


@pytest.mark.parametrize("unsafe", ["folder", "file"])
def test_a_group_writable_cache_is_not_used(tmp_path, monkeypatch, caplog, unsafe):
    root = private(tmp_path / "cache")
    monkeypatch.setenv("HETERO_CACHE_DIR", str(root))
    cached("x", (1,), lambda: {"v": 1})
    (entry,) = root.glob("x-*.json")
    target = root if unsafe == "folder" else entry
    os.chmod(target, mode(target) | 0o020)
    with caplog.at_level(logging.WARNING, logger="hetero"):
        assert cached("x", (1,), lambda: {"v": 2}) == {"v": 2}  # recomputed, not read
    assert str(target) in caplog.text and "writable by group or others" in caplog.text
    if unsafe == "folder":  # nothing is written there either; the fix is said
        assert "chmod 700" in caplog.text and json.loads(entry.read_text()) == {"v": 1}
    else:  # a file in a private folder is replaced by a safe one
        assert json.loads(entry.read_text()) == {"v": 2} and mode(entry) == 0o600


def test_a_planted_fifo_or_symlink_is_refused_without_hanging(tmp_path, monkeypatch):
    root = private(tmp_path / "cache")
    monkeypatch.setenv("HETERO_CACHE_DIR", str(root))
    secret = tmp_path / "secret.json"
    secret.write_text('{"v": "not yours"}')
    os.mkfifo(root / f"x-{content_key('x', 1)}.json")  # opening it to read would block
    (root / f"y-{content_key('y', 1)}.json").symlink_to(secret)
    got = {}
    worker = threading.Thread(target=lambda: got.update(
        x=cached("x", (1,), lambda: {"v": 1}), y=cached("y", (1,), lambda: {"v": 2})),
        daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "reading a planted FIFO hung"
    assert got == {"x": {"v": 1}, "y": {"v": 2}}
    assert json.loads(secret.read_text()) == {"v": "not yours"}


def test_a_planted_huge_file_or_index_is_judged_unread(tmp_path, monkeypatch, caplog):
    """Found by review: a planted 4 GB file not in the index was read whole before its
    verdict (4.7 GB peak RSS); a 3 GB index was read three times per compile."""
    root = private(tmp_path / "cache")
    monkeypatch.setenv("HETERO_CACHE_DIR", str(root))
    cached("x", (1,), lambda: {"v": 1})
    planted = root / f"y-{content_key('y', 1)}.json"
    with open(planted, "wb") as f:
        f.truncate(2**40)  # sparse: a terabyte that cannot be read into memory
    os.chmod(planted, 0o600)
    with caplog.at_level(logging.WARNING, logger="hetero"):
        assert cached("y", (1,), lambda: {"v": 2}) == {"v": 2}
    assert "not in the cache's index" in caplog.text
    with open(root / INDEX, "r+b") as f:
        f.truncate(2**40)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hetero"):
        assert cached("x", (1,), lambda: {"v": 3}) == {"v": 3}  # index ignored: rebuilt
    assert "more than the 16,777,216 it may have" in caplog.text


def test_a_deeply_nested_index_is_ignored_not_a_recursion_error(tmp_path, monkeypatch):
    """Found by review: "[" * 200,000 as the index raised RecursionError out of every
    backend's discovery (cpu:0, opencl and tvm:cpu:0 vanished)."""
    root = private(tmp_path / "cache")
    monkeypatch.setenv("HETERO_CACHE_DIR", str(root))
    cached("x", (1,), lambda: {"v": 1})
    (root / INDEX).write_text("[" * 200_000 + "]" * 200_000)
    assert cached("x", (1,), lambda: {"v": 2}) == {"v": 2}


def test_concurrent_writers_leave_a_consistent_index(tmp_path):
    folder = Folder(private(tmp_path / "cache"))
    names = [f"e{i}.bin" for i in range(8)]

    def write(seed: int) -> None:
        for round_ in range(10):
            for name in names:  # every thread writes every entry: same names, racing
                folder.write_bytes(name, f"{name} {seed} {round_}".encode() * (seed + 1))

    threads = [threading.Thread(target=write, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    index = json.loads((folder.path / INDEX).read_text())["entries"]
    assert sorted(index) == names  # none lost another's record
    for name in names:  # each file is one writer's whole entry, and matches its record
        assert folder.read(name) is not None
    assert not list(folder.path.glob(".tmp-*"))  # no half-written leftovers


# -- JSON caches of the wrong layout ---------------------------------------------------------


def test_an_empty_cpu_profile_is_measured_again(tmp_path, monkeypatch, registry):
    import hetero.backends.cpu as cpu
    from hetero.backends.cpu.hostinfo import read_host_info
    from hetero.backends.cpu.microbench import cache_key

    monkeypatch.setenv("HETERO_CACHE_DIR", str(private(tmp_path / "cache")))
    info = read_host_info()
    name = f"cpu-profile-{content_key('cpu-profile', *cache_key(info))}.json"
    Folder(tmp_path / "cache").write_json(name, {})  # recorded as hetero's, wrong layout
    figures = {"peak_gflops": {"float32": 10.0}, "mem_bandwidth_gbs": 5.0, "active_w": 20.0,
               "idle_w": 5.0, "launch_overhead_us": 3.0, "sources": {},
               "measured_at": "2026-01-01T00:00:00+00:00"}
    monkeypatch.setattr(cpu, "measure", lambda info: figures)
    ids = [d.id for d in hetero.devices()]
    assert "cpu:0" in ids
    if _has_tvm():
        assert "tvm:cpu:0" in ids
    assert json.loads((tmp_path / "cache" / name).read_text()) == figures  # stored anew


def _has_tvm() -> bool:
    try:
        import tvm  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("stored", [{"entries": [1, 2]}, {"entries": {"k": 5}},
                                    {"power": "x"}, {"entries": {"k": {"op": "Relu"}}}])
def test_a_history_of_the_wrong_layout_is_started_afresh(tmp_path, caplog, stored):
    folder = Folder(private(tmp_path / "cache"))
    folder.write_json("history.json", stored)  # hetero's own file, of another layout
    device = hetero.sim.attach("a100")
    try:
        with caplog.at_level(logging.WARNING, logger="hetero"):
            history = History(folder.path / "history.json")
        assert history.power(device) is None and history.exact("k") is None
        assert history.fitted("Relu", device, Work(1.0, 1.0)) is None
        assert "history.json" in caplog.text and "layout" in caplog.text
        for _ in range(3):  # the median needs three runs
            history.record("k", "Relu", device, Work(1.0, 1.0), 2.0)
        history.save()
        assert History(folder.path / "history.json").exact("k").ms == 2.0
    finally:
        hetero.sim.detach(device)


# -- native code: TVM libraries --------------------------------------------------------------

TRUNCATED = """
import sys
sys.path.insert(0, {tests!r})
from test_cache_safety import doubled, run_on_tvm
print(run_on_tvm(doubled, 2.0))
"""


def test_a_truncated_tvm_library_is_rebuilt_not_loaded(tmp_path, monkeypatch):
    pytest.importorskip("tvm")
    cache = private(tmp_path / "cache")
    monkeypatch.setenv("HETERO_CACHE_DIR", str(cache))
    assert run_on_tvm(doubled, 2.0).startswith("compiled")
    (lib,) = (cache / "tvm").glob("*.so")
    os.truncate(lib, lib.stat().st_size // 2)
    # in a child: before the check, dlopen'ing the truncated file killed the process (SIGBUS)
    done = subprocess.run([sys.executable, "-c", TRUNCATED.format(tests=str(TESTS))],
                          env={**os.environ, "HETERO_CACHE_DIR": str(cache)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1].startswith("compiled")
    assert "truncated" in done.stderr
    assert run_on_tvm(doubled, 2.0) == "loaded from the compile cache"  # rebuilt, indexed


def test_a_planted_library_is_never_loaded(tmp_path, monkeypatch):
    pytest.importorskip("tvm")
    marker = tmp_path / "constructor-ran"
    planted = shared_library(tmp_path, f"""
        #include <stdio.h>
        __attribute__((constructor)) static void planted(void) {{
            FILE *f = fopen("{marker}", "w"); if (f) fclose(f);
        }}""")
    monkeypatch.setenv("HETERO_CACHE_DIR", str(private(tmp_path / "first")))
    run_on_tvm(doubled, 2.0)
    (name,) = [p.name for p in (tmp_path / "first" / "tvm").glob("*.so")]
    cache = private(tmp_path / "second")
    shutil.copy(planted, private(cache / "tvm") / name)  # where doubled's library would be
    monkeypatch.setenv("HETERO_CACHE_DIR", str(cache))
    assert run_on_tvm(doubled, 2.0).startswith("compiled")
    assert not marker.exists()


def test_a_foreign_library_recorded_as_hetero_s_is_rebuilt(tmp_path, monkeypatch):
    """A library that passes the index but is not what was expected (no Relax VM in it; a
    kernel library lacking the kernel) is discarded and rebuilt, not a lasting UnsupportedOp."""
    pytest.importorskip("tvm")
    sys.path.insert(0, str(TESTS))
    from test_runtime import WANT, X, chain_model

    def run_chain() -> np.ndarray:
        return hetero.compile(chain_model(), devices=[hetero.device("tvm")]).run({"x": X})["d"]

    first = private(tmp_path / "first")
    monkeypatch.setenv("HETERO_CACHE_DIR", str(first))

    def new_library(action) -> str:
        before = set((first / "tvm").glob("*.so"))
        action()
        (added,) = set((first / "tvm").glob("*.so")) - before
        return added.name

    subgraph = new_library(run_chain)
    kernel_a = new_library(lambda: run_on_tvm(doubled, 2.0))
    kernel_b = new_library(lambda: run_on_tvm(tripled, 3.0))
    folder = Folder(private(tmp_path / "second" / "tvm"))
    folder.write_bytes(subgraph, shared_library(tmp_path, "int answer(void) { return 42; }\n")
                       .read_bytes())
    folder.write_bytes(kernel_b, (first / "tvm" / kernel_a).read_bytes())
    monkeypatch.setenv("HETERO_CACHE_DIR", str(tmp_path / "second"))
    np.testing.assert_allclose(run_chain(), WANT, rtol=1e-6)
    assert run_on_tvm(tripled, 3.0).startswith("compiled")
    assert run_on_tvm(tripled, 3.0) == "loaded from the compile cache"  # rebuilt, indexed


# -- native code: OpenCL binaries ------------------------------------------------------------


@hetero.kernel
def saxpy(a, x, y, out):
    i = hetero.global_id(0)
    if i < x.shape[0]:
        out[i] = a * x[i] + y[i]


def saxpy_on_opencl() -> str:
    """A fresh saxpy on PoCL's CPU device (skipped without one); where its program came from."""
    pytest.importorskip("pyopencl")
    try:
        dev = hetero.device("opencl:cpu:0")
    except hetero.DeviceNotFound:
        pytest.skip("no OpenCL CPU device (PoCL)")
    kern = hetero.kernel(saxpy.fn)
    x = np.arange(16, dtype=np.float32)
    xa, ya = hetero.asarray(x, dev), hetero.asarray(x, dev)
    out = hetero.zeros(16, np.float32, dev)
    kern[dev, 16](2.0, xa, ya, out).wait()
    np.testing.assert_array_equal(out.numpy(), 3 * x)
    return next(iter(kern._programs.values())).origin


def test_an_opencl_binary_with_a_matching_note_but_no_record_is_refused(tmp_path, monkeypatch):
    from hetero.backends.opencl import programs

    monkeypatch.delenv(programs.MANIFEST_ENV, raising=False)
    monkeypatch.setenv("HETERO_CACHE_DIR", str(private(tmp_path / "first")))
    assert saxpy_on_opencl() == "compiled"
    assert saxpy_on_opencl() == "cache"
    planted = private(tmp_path / "second" / "opencl-programs")
    for file in [*(tmp_path / "first" / "opencl-programs").glob("[!.]*")]:
        shutil.copy(file, planted)  # a binary and a note whose sha256 matches it: not recorded
    monkeypatch.setenv("HETERO_CACHE_DIR", str(tmp_path / "second"))
    assert saxpy_on_opencl() == "compiled"
    assert saxpy_on_opencl() == "cache"

"""Shared fixtures: an isolated cache, a fresh registry per test, out-of-tree plugin packages."""

from __future__ import annotations

import os
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

# One cache for the whole session (and the subprocesses it starts): the CPU is measured once.
os.environ.setdefault("HETERO_CACHE_DIR", tempfile.mkdtemp(prefix="hetero-test-cache-"))
# The CUDA code generator is checked in numba's CUDA simulator unless a run asks for a real GPU
# (NUMBA_ENABLE_CUDASIM=0 on a machine with one). Must be set before numba.cuda is imported.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

from hetero.discovery import Registry, set_default_registry  # noqa: E402


@pytest.fixture
def registry() -> Iterator[Registry]:
    """A fresh process-wide registry with the built-in backends only."""
    yield from swapped_registry({"HETERO_DISABLE_PLUGIN_AUTOLOAD": "1"})


@pytest.fixture
def make_registry() -> Iterator:
    """Install a fresh registry built from a given environment; restored afterwards."""
    previous = set_default_registry(None)

    def make(env: dict[str, str]) -> Registry:
        reg = Registry(env=env)
        set_default_registry(reg)
        return reg

    yield make
    set_default_registry(previous)


def swapped_registry(env: dict[str, str]) -> Iterator[Registry]:
    reg = Registry(env=env)
    previous = set_default_registry(reg)
    try:
        yield reg
    finally:
        set_default_registry(previous)


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a one-module distribution with a ``hetero`` entry point onto sys.path.

    This is a real installation as importlib.metadata sees it: a ``*.dist-info`` folder with
    METADATA and entry_points.txt beside the module, found through sys.path.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(dist: str, entry: str, source: str) -> Path:
        normalised = dist.replace("-", "_")  # as wheel installers name the folder
        module = f"{normalised}_plugin"
        monkeypatch.delitem(sys.modules, module, raising=False)  # each test imports its own
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{normalised}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[hetero]\n{entry} = {module}\n")
        return site

    yield install
    for name in [m for m in sys.modules if m.endswith("_plugin")]:
        del sys.modules[name]

"""ONNX subgraphs to TVM Relax virtual-machine programs, through an on-disk compile cache.

A subgraph compiles once per (its ONNX bytes, target, TVM version): ``tvm.compile``'s
library is exported (``export_library``) under ``$HETERO_CACHE_DIR/tvm/``, and a later
process loads it instead of compiling. The cache holds shared libraries TVM built for this
machine's target, named by content hash; nothing in it is unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hetero.cache import cache_dir, content_key

log = logging.getLogger("hetero")
HOST_TARGET = {"kind": "llvm"}
stats = {"compiled": 0, "loaded": 0}  # this process's compiles and cache loads, for tests


@dataclass
class Program:
    """One compiled subgraph: call it with its inputs by name; NumPy arrays come back."""

    vm: Any
    inputs: list[str]
    outputs: list[str]
    source: str  # "compiled in 0.12 s" or "loaded from the compile cache"
    device: Any = field(default=None, repr=False)

    def __call__(self, feeds: dict[str, Any]) -> list[Any]:
        import numpy as np
        import tvm

        args = [tvm.runtime.tensor(np.ascontiguousarray(feeds[n]), self.device)
                for n in self.inputs]
        result = self.vm["main"](*args)
        results = list(result) if not hasattr(result, "numpy") else [result]
        return [r.numpy() for r in results]


def cache_path(proto: Any, target: dict[str, Any], accelerator: Any = None) -> Path:
    import tvm

    digest = hashlib.sha256(proto.SerializeToString(deterministic=True)).hexdigest()
    offload = (accelerator.patterns, accelerator.codegen) if accelerator else None
    return cache_dir() / "tvm" / f"{content_key(digest, target, offload, tvm.__version__)}.so"


def program(proto: Any, inputs: list[str], outputs: list[str],
            target: dict[str, Any] = HOST_TARGET, accelerator: Any = None) -> Program:
    """The subgraph's program: from the cache if this exact subgraph was built for this
    target (and accelerator: a ``TVMTarget``) by this TVM version, else compiled now and
    cached."""
    import tvm
    from tvm import relax

    path = cache_path(proto, target, accelerator)
    library, source = cached_library(path, lambda: build(proto, target, accelerator))
    if source.startswith("compiled"):
        log.info("TVM subgraph of %d nodes %s", len(proto.graph.node), source)
    device = tvm.cpu()
    return Program(relax.VirtualMachine(library, device), inputs, outputs, source, device)


def cached_library(path: Path, build: Callable[[], Any]) -> tuple[Any, str]:
    """The library stored at ``path``, else ``build()`` now and stored there; and which of
    the two happened, in words. An unreadable library is rebuilt over."""
    import tvm

    if path.exists():
        try:
            library = tvm.runtime.load_module(str(path))
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: build anew
            log.warning("ignoring unloadable cached TVM library %s: %s", path, exc)
        else:
            stats["loaded"] += 1
            return library, "loaded from the compile cache"
    start = time.perf_counter()
    library = build()
    stats["compiled"] += 1
    store(library, path)
    return library, f"compiled in {time.perf_counter() - start:.2f} s"


def build(proto: Any, target: dict[str, Any], accelerator: Any = None) -> Any:
    """Relax from TVM's ONNX frontend, compiled for ``target`` (a JSON target: a bare dict
    must be wrapped in ``tvm.target.Target``); for an accelerator with a codegen, its
    patterns' partitions first go to that codegen (without one, ``target`` builds them all)."""
    import tvm
    from hetero.backends.tvm.targets import partitioned
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    module = from_onnx(proto, keep_params_in_input=False)
    if accelerator is not None and accelerator.codegen:
        module = relax.transform.RunCodegen()(partitioned(module, accelerator))
    return tvm.compile(module, target=tvm.target.Target(target))


def store(library: Any, path: Path) -> None:
    """Export atomically, so a concurrent process never loads half a library; a read-only
    cache only costs a recompile next time."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".so")
        os.close(fd)
        library.export_library(tmp)
        os.replace(tmp, path)

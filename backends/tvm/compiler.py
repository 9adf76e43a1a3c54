"""ONNX subgraphs to TVM Relax virtual-machine programs, through an on-disk compile cache.

A subgraph compiles once per (its ONNX bytes, target, TVM version): ``tvm.compile``'s
library is exported (``export_library``) under ``$HETERO_CACHE_DIR/tvm/``, and a later
process loads it instead of compiling. The cache holds native code (shared libraries TVM
built for this machine's target, named by content hash) that is dlopen'ed: a library is
loaded only once ``hetero.cache.Folder`` found it, by size and sha256, to be the one hetero
wrote there (docs/caches.md); nothing in it is unpickled.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hetero.cache import Folder, cache_dir, content_key

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

    device = tvm.cpu()
    vm, source = cached_library(cache_path(proto, target, accelerator),
                                lambda: build(proto, target, accelerator),
                                lambda library: relax.VirtualMachine(library, device))
    if source.startswith("compiled"):
        log.info("TVM subgraph of %d nodes %s", len(proto.graph.node), source)
    return Program(vm, inputs, outputs, source, device)


def cached_library(path: Path, build: Callable[[], Any], expect: Callable[[Any], Any]
                   ) -> tuple[Any, str]:
    """``expect(library)`` (what the caller uses of it: a VM, a function; it raises when the
    library lacks it) of the library stored at ``path``, else of ``build()`` now, stored
    there; and which of the two happened, in words. The stored file is checked against the
    cache's index before it is loaded; one that fails, or loads but is not what ``expect``
    wants, is discarded and rebuilt."""
    import tvm

    folder = Folder(path.parent)
    with folder.checked_path(path.name) as checked:
        if checked is not None:
            try:
                found = expect(tvm.runtime.load_module(str(checked)))
            except Exception as exc:  # noqa: BLE001 - TVM raises many types: rebuild it
                folder.discard(path.name, f"TVM cannot use it ({type(exc).__name__}: "
                                          f"{str(exc).strip()[-200:]})")
            else:
                stats["loaded"] += 1
                return found, "loaded from the compile cache"
    start = time.perf_counter()
    library = build()
    found = expect(library)
    stats["compiled"] += 1
    store(library, path)
    return found, f"compiled in {time.perf_counter() - start:.2f} s"


def store(library: Any, path: Path) -> None:
    """Export ``library`` into the cache at ``path``: written aside, then indexed by size and
    sha256 and moved into place (``hetero.cache.Folder``)."""
    Folder(path.parent).write(path.name, lambda tmp: library.export_library(str(tmp)))


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

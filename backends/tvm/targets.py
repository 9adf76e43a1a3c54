"""Accelerators TVM compiles for (NPUs), as vendor packages declare them through the
``hetero_tvm_targets`` hook, and the pattern-based claiming that decides what runs there.

A target names a JSON target for ``tvm.compile``, a prefix of TVM's pattern registry (the ops
the accelerator takes, as ``FuseOpsByPattern`` matches them: TVM's ``example_npu`` table shows
NPU-style constraints) and the BYOC codegen (``relax.ext.<codegen>``) the matched partitions
go to. A node is claimed by such a device when its patterns cover every op the node becomes.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TVMTarget:
    """What a vendor package's ``hetero_tvm_targets`` hook returns, one per accelerator."""

    name: str  # the device id is tvm:<name>:0
    kind: str  # "npu", "fpga", "accelerator", …
    target: dict[str, Any]  # the JSON target tvm.compile builds the host side for
    patterns: str  # prefix in TVM's pattern registry, e.g. "example_npu"
    codegen: str | None = None  # BYOC codegen of the partitions; None: ``target`` builds them
    profile: Any = None  # catalogue profile name or DeviceProfile for planning; None: host's
    description: str = ""
    modules: tuple[str, ...] = field(default=())  # imported first: they register the patterns

    def unavailable(self) -> str | None:
        """Why this TVM cannot compile for the target (the fix included), or None."""
        import importlib

        import tvm
        from tvm.relax.backend.pattern_registry import get_patterns_with_prefix

        for module in self.modules:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                return f"cannot import {module} ({exc}); install the vendor's TVM package"
        if not get_patterns_with_prefix(self.patterns):
            return f"no TVM patterns registered under {self.patterns!r}"
        if self.codegen and tvm.get_global_func(f"relax.ext.{self.codegen}",
                                                allow_missing=True) is None:
            return (f"this TVM build has no codegen relax.ext.{self.codegen}: install a TVM "
                    "built with the vendor's codegen")
        return None


def partitioned(module: Any, target: TVMTarget) -> Any:
    """``module`` with the ops the target's patterns match grouped into functions for its
    codegen (weights folded first, so a bias reshape is no op of its own)."""
    from tvm import relax
    from tvm.relax.backend.pattern_registry import get_patterns_with_prefix

    module = relax.transform.FoldConstant()(module)
    return relax.transform.FuseOpsByPattern(get_patterns_with_prefix(target.patterns),
                                            bind_constants=True, annotate_codegen=True)(module)


def covered(proto: Any, target: TVMTarget) -> bool:
    """Whether the target's patterns take every op of the one-node model ``proto``."""
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            module = partitioned(from_onnx(proto, keep_params_in_input=False), target)
    except Exception:  # noqa: BLE001 - a refusal of the frontend or the partitioner
        return False
    left: list[str] = []
    relax.analysis.post_order_visit(module["main"].body, lambda e: left.append(e.op.name) if (
        isinstance(e, relax.Call) and isinstance(e.op, tvm.ir.Op)) else None)
    return not left

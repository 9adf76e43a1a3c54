"""The CPU's native ONNX ops: NumPy/BLAS implementations of the ops models spend time in.

One op family per module; each registers ``op_type -> fn(inputs, attrs, opset) -> outputs``
in ``NATIVE`` (``opset``: the model's version of the op's domain, for ops whose meaning
changed between versions). Anything not here runs on the reference tier
(``hetero.graph.reference``).

Two opt-ins: ``blocked=True`` when the op accepts activations in the NCHWc layout
(``nchwc.layout.Blocked``) as they are (others receive plain arrays), and ``specialise`` for
ops that prepare per node once (a Conv packs its constant weights for the tile kernels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

NativeOp = Callable[[list[Any], dict[str, Any], int], list[np.ndarray]]
NATIVE: dict[str, NativeOp] = {}
#: op_type -> predicate on the node: the native version covers only these uses of the op
#: (one output of MaxPool, inference-mode BatchNormalization, ...); others go to the reference
WHEN: dict[str, Callable[[Any], bool]] = {}
#: op_type -> the first opset whose meaning the native version implements (older nodes, with
#: attributes such as ``broadcast`` or ``consumed_inputs``, go to the reference tier)
SINCE: dict[str, int] = {}
#: the ops whose native version takes Blocked inputs as they are
BLOCKED: set[str] = set()
#: op_type -> fn(node, graph, opset) -> a NativeOp made for that node, or None (use NATIVE)
SPECIALISE: dict[str, Callable[[Any, Any, int], NativeOp | None]] = {}


def native(*op_types: str, when: Callable[[Any], bool] | None = None, since: int = 1,
           blocked: bool = False,
           specialise: Callable[[Any, Any, int], NativeOp | None] | None = None
           ) -> Callable[[NativeOp], NativeOp]:
    def register(fn: NativeOp) -> NativeOp:
        for op in op_types:
            NATIVE[op] = fn
            SINCE[op] = since
            if when is not None:
                WHEN[op] = when
            if blocked:
                BLOCKED.add(op)
            if specialise is not None:
                SPECIALISE[op] = specialise
        return fn

    return register


#: the domains of the ops in NATIVE: ONNX's own, and hetero's fused ops (graph passes)
DOMAINS = ("", "com.hetero")


def runs_natively(node: Any, opset: int) -> bool:
    """Whether the native version covers this node at the model's ``opset``."""
    if node.domain not in DOMAINS or node.op_type not in NATIVE:
        return False
    if node.domain == "" and opset < SINCE[node.op_type]:
        return False
    return WHEN.get(node.op_type, lambda n: True)(node)


def outputs_used(node: Any) -> int:
    return sum(1 for o in node.outputs if o)


from hetero.backends.cpu.ops import (  # noqa: E402, F401 - they register
    conv,
    elementwise,
    linalg,
    normalization,
    pool,
    shape,
    softmax,
)

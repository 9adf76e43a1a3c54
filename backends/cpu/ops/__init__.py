"""The CPU's native ONNX ops: NumPy/BLAS implementations of the ops models spend time in.

One op family per module; each registers ``op_type -> fn(inputs, attrs, opset) -> outputs``
in ``NATIVE`` (``opset``: the model's version of the op's domain, for ops whose meaning
changed between versions). Anything not here runs on the reference tier
(``hetero.graph.reference``).
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


def native(*op_types: str, when: Callable[[Any], bool] | None = None
           ) -> Callable[[NativeOp], NativeOp]:
    def register(fn: NativeOp) -> NativeOp:
        for op in op_types:
            NATIVE[op] = fn
            if when is not None:
                WHEN[op] = when
        return fn

    return register


#: the domains of the ops in NATIVE: ONNX's own, and hetero's fused ops (graph passes)
DOMAINS = ("", "com.hetero")


def runs_natively(node: Any) -> bool:
    return node.domain in DOMAINS and node.op_type in NATIVE and WHEN.get(node.op_type,
                                                                          lambda n: True)(node)


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

"""The CPU's native ONNX ops: NumPy/BLAS implementations of the ops models spend time in.

One op family per module; each registers ``op_type -> fn(inputs, attrs, opset) -> outputs``
in ``TABLE`` (``opset``: the model's version of the op's domain, for ops whose meaning
changed between versions). Anything not here runs on the reference tier
(``hetero.graph.reference``).

Two opt-ins: ``blocked=True`` when the op accepts activations in the NCHWc layout
(``nchwc.layout.Blocked``) as they are (others receive plain arrays), and ``specialise`` for
ops that prepare per node once (a Conv packs its constant weights for the tile kernels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hetero.optable import OpTable, outputs_used  # noqa: F401 - the op modules import it

TABLE = OpTable()


def native(*op_types: str, when: Callable[[Any], bool] | None = None, since: int = 1,
           blocked: bool = False, specialise: Callable[[Any, Any, int], Any] | None = None
           ) -> Callable:
    """Register a native op; ``blocked``: it takes NCHWc activations as they are;
    ``specialise``: fn(node, graph, opset) -> an op made for that node, or None."""
    return TABLE.register(*op_types, when=when, since=since, blocked=blocked,
                          specialise=specialise)


def runs_natively(node: Any, opset: int) -> bool:
    """Whether the native version covers this node at the model's ``opset``."""
    return TABLE.covers(node, opset)


from hetero.backends.cpu.ops import (  # noqa: E402, F401 - they register
    conv,
    elementwise,
    linalg,
    normalization,
    pool,
    shape,
    softmax,
)

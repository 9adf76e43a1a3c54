"""A backend's table of native ONNX ops: ``op_type -> fn(inputs, attrs, opset) -> outputs``,
with the uses of each op it covers, so placement never sends a node where it cannot run.

Each backend with ops of its own (the CPU's NumPy/BLAS ops, CUDA's torch ops) fills one
table through its ``register`` decorator, one op family per module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NativeOp = Callable[[list[Any], dict[str, Any], int], list[Any]]
#: the domains native ops come from: ONNX's own, and hetero's fused ops (graph passes)
DOMAINS = ("", "com.hetero")


def outputs_used(node: Any) -> int:
    return sum(1 for o in node.outputs if o)


class OpTable:
    """``fns``: op_type -> NativeOp; ``when``: op_type -> predicate on the node (the version
    here covers only these uses: one output of MaxPool, say); ``since``: the first opset whose
    meaning it implements (older nodes, with attributes such as ``broadcast``, are left to
    other tiers); ``tags``: op_type -> the backend's own opt-ins for the op."""

    def __init__(self) -> None:
        self.fns: dict[str, NativeOp] = {}
        self.when: dict[str, Callable[[Any], bool]] = {}
        self.since: dict[str, int] = {}
        self.tags: dict[str, dict[str, Any]] = {}

    def register(self, *op_types: str, when: Callable[[Any], bool] | None = None,
                 since: int = 1, **tags: Any) -> Callable[[NativeOp], NativeOp]:
        def add(fn: NativeOp) -> NativeOp:
            for op in op_types:
                self.fns[op], self.since[op], self.tags[op] = fn, since, tags
                if when is not None:
                    self.when[op] = when
            return fn

        return add

    def covers(self, node: Any, opset: int) -> bool:
        """Whether the table's version runs this node at the model's ``opset``."""
        if node.domain not in DOMAINS or node.op_type not in self.fns:
            return False
        if node.domain == "" and opset < self.since[node.op_type]:
            return False
        return self.when.get(node.op_type, lambda n: True)(node)

    def tag(self, op_type: str, name: str, default: Any = None) -> Any:
        return self.tags.get(op_type, {}).get(name, default)

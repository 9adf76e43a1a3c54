"""ONNX nodes on host memory: the native tier (``ops/``) first, ``onnx.reference`` after.

Shared by the backends whose buffers are NumPy arrays (cpu, and sim, which computes on the
host); tiers are reported so a slow path is never mistaken for a fast one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from hetero.backends.cpu.ops import NATIVE, runs_natively


@dataclass
class PreparedNode:
    node: Any
    tier: str
    run: Any  # native fn(inputs, attrs, opset) or a ReferenceNode
    opset: int = 0


class HostNodes:
    """The node half of a host-memory backend."""

    def node_tier(self, device: Any, node: Any, graph: Any) -> str | None:
        from hetero.graph.reference import reference_supports

        if runs_natively(node, graph.opsets.get("", 1)):
            return "native"
        return "reference" if reference_supports(node, graph) else None

    def prepare_node(self, device: Any, node: Any, graph: Any) -> PreparedNode:
        from hetero.graph.reference import ReferenceNode

        tier = self.node_tier(device, node, graph)
        if tier == "native":
            return PreparedNode(node, tier, NATIVE[node.op_type], graph.opsets.get("", 1))
        return PreparedNode(node, "reference", ReferenceNode(node, graph))

    def run_node(self, device: Any, prepared: PreparedNode, inputs: dict[str, Any]
                 ) -> list[np.ndarray]:
        node = prepared.node
        if prepared.tier == "native":
            return prepared.run([inputs.get(n) if n else None for n in node.inputs], node.attrs,
                                prepared.opset)
        return prepared.run(inputs)

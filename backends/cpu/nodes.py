"""ONNX nodes on host memory: the native tier (``ops/``) first, ``onnx.reference`` after.

Shared by the backends whose buffers are NumPy arrays (cpu, and sim, which computes on the
host); tiers are reported so a slow path is never mistaken for a fast one. Activations may be
held in the blocked layout between ops that take it; every other op sees NCHW arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from hetero.backends.cpu.nchwc.layout import Blocked, plain
from hetero.backends.cpu.ops.table import TABLE, runs_natively


@dataclass
class PreparedNode:
    node: Any
    tier: str
    run: Any  # native fn(inputs, attrs, opset) or a ReferenceNode
    opset: int = 0
    blocked: bool = False  # takes Blocked inputs as they are


class HostNodes:
    """The node half of a host-memory backend."""

    def node_tier(self, device: Any, node: Any, graph: Any) -> str | None:
        from hetero.graph.reference import reference_supports

        if runs_natively(node, graph.opsets.get("", 1)):
            return "native"
        return "reference" if reference_supports(node, graph) else None

    def step_family(self) -> str:
        """A prepared node reads no device: any host-memory backend runs it."""
        return "host nodes"

    def prepare_node(self, device: Any, node: Any, graph: Any) -> PreparedNode:
        from hetero.graph.reference import ReferenceNode

        tier = self.node_tier(device, node, graph)
        if tier != "native":
            return PreparedNode(node, "reference", ReferenceNode(node, graph))
        opset = graph.opsets.get("", 1)  # fused ops run their ONNX op's version
        special = TABLE.tag(node.op_type, "specialise")
        run = (special and special(node, graph, opset)) or TABLE.fns[node.op_type]
        return PreparedNode(node, tier, run, opset, TABLE.tag(node.op_type, "blocked", False))

    def run_node(self, device: Any, prepared: PreparedNode, inputs: dict[str, Any]
                 ) -> list[np.ndarray]:
        node = prepared.node
        if not prepared.blocked:
            inputs = {name: plain(value) for name, value in inputs.items()}
        if prepared.tier == "native":
            return prepared.run([inputs.get(n) if n else None for n in node.inputs], node.attrs,
                                prepared.opset)
        return prepared.run(inputs)

    def to_host(self, device: Any, buffer: Any, shape: tuple[int, ...], dtype: np.dtype
                ) -> np.ndarray:
        """A new host array; activations held blocked leave the device in NCHW."""
        if isinstance(buffer, Blocked):
            return Blocked(buffer.data, buffer.channels).plain()  # a fresh conversion
        return super().to_host(device, buffer, shape, dtype)

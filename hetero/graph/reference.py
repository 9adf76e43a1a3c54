"""The long-tail tier: ONNX nodes run by ``onnx.reference``, ONNX's own reference evaluator.

Slow and host-only, but it covers nearly the whole opset; every node it runs is reported as
tier "reference" so it is never mistaken for a fast path. (Not an oracle: checked against
ONNX Runtime by the backend test suite and the model tests.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hetero.graph.ir import Graph, Node


class ReferenceNode:
    """One node compiled once for ``onnx.reference``; call it with its inputs by name.

    The node is wrapped in a one-node graph so the evaluator honours the model's opsets (a
    bare NodeProto gets the newest version of every op) and sees outer-scope values that
    subgraphs (If, Loop, Scan) read.
    """

    def __init__(self, node: Node, graph: Graph):
        from onnx import ValueInfoProto, helper
        from onnx.reference import ReferenceEvaluator

        self.names = list(dict.fromkeys(n for n in [*node.proto.input, *node.outer] if n))
        wrapper = helper.make_graph(
            unfused(node), node.name, [ValueInfoProto(name=n) for n in self.names],
            [ValueInfoProto(name=n) for n in node.proto.output if n])
        self.outputs = list(node.proto.output)
        self.evaluator = ReferenceEvaluator(wrapper, opsets=dict(graph.opsets),
                                            functions=graph.functions or None)

    def __call__(self, feeds: dict[str, np.ndarray]) -> list[Any]:
        results = iter(self.evaluator.run(None, {n: feeds[n] for n in self.names}))
        return [next(results) if name else None for name in self.outputs]


def unfused(node: Node) -> list:
    """The node's ONNX form: hetero's fused ops (``com.hetero`` FusedConv, FusedGemm,
    FusedBatchNormalization) become the op, its residual Add (FusedConv's Z) and its
    activation again, and ChannelShuffle its Reshape, Transpose and Reshape, so any device
    with this tier runs them."""
    from onnx import helper

    if node.domain != "com.hetero":
        return [node.proto]
    if node.op_type == "ChannelShuffle":  # the fuse_channel_shuffle pass
        x, split, back = node.inputs
        return [helper.make_node("Reshape", [x, split], [f"{x}__split"]),
                helper.make_node("Transpose", [f"{x}__split"], [f"{x}__shuffled"],
                                 perm=[0, 2, 1, 3, 4]),
                helper.make_node("Reshape", [f"{x}__shuffled", back], node.outputs[:1])]
    attrs = {k: v for k, v in node.attrs.items() if k != "activation"}
    operands, residual = list(node.inputs), ""
    if node.op_type == "FusedConv" and len(operands) > 3:
        operands, residual = operands[:3], operands[3]
    while operands and not operands[-1]:
        operands = operands[:-1]
    inner = f"{node.outputs[0]}__unfused"
    nodes = [helper.make_node(node.op_type.removeprefix("Fused"), operands, [inner], **attrs)]
    if residual:  # FusedConv's Z (the residual fusion pass)
        nodes.append(helper.make_node("Add", [inner, residual], [f"{inner}_sum"]))
        inner = f"{inner}_sum"
    return [*nodes, helper.make_node(node.attrs["activation"], [inner], node.outputs[:1])]


def reference_supports(node: Node, graph: Graph) -> bool:
    """Whether onnx.reference runs this node at the model's opset: an implementation of the op,
    or (for ops defined by a function body, such as Gelu) an evaluator that builds."""
    if reference_has(node.domain, node.op_type, graph.opsets.get(node.domain)) or \
            node.domain == "com.hetero":
        return True
    try:
        ReferenceNode(node, graph)
    except Exception:  # NotImplementedError, RuntimeError, ...: no implementation
        return False
    return True


def reference_has(domain: str, op_type: str, version: int | None) -> bool:
    """Whether onnx.reference implements ``op_type`` itself (not through a function body)."""
    from onnx.reference.ops import load_op
    from onnx.reference.ops.aionnxml import load_op as load_ml_op

    loader = {"": load_op, "ai.onnx.ml": load_ml_op}.get(domain)
    if loader is None:
        return False
    try:
        loader(domain, op_type, version)
    except Exception:  # the loaders raise several error types for "no implementation"
        return False
    return True

"""The long-tail tier: ONNX nodes run by ``onnx.reference``, ONNX's own reference evaluator.

Slow and host-only, but it covers nearly the whole opset; every node it runs is reported as
tier "reference" so it is never mistaken for a fast path. (Not an oracle: checked against
ONNX Runtime by the backend test suite and the model tests.)
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from hetero.errors import RunError
from hetero.graph.ir import Graph, Node
from hetero.limits import deadline_passed, max_loop_trips, overdue


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
                                            functions=graph.functions or None,
                                            new_ops=[bounded_loop(), bounded_scan()])

    def __call__(self, feeds: dict[str, np.ndarray]) -> list[Any]:
        results = iter(self.evaluator.run(None, {n: feeds[n] for n in self.names}))
        return [next(results) if name else None for name in self.outputs]


@functools.cache
def bounded_loop() -> type:
    """``onnx.reference``'s Loop with hetero's bounds (nested bodies get it too): a trip
    count over ``max_loop_trips()`` is refused before the first iteration, iterations past it
    stop a condition-driven loop, and every iteration checks the run's deadline."""
    from onnx.reference.ops.op_loop import Loop as OnnxLoop

    class Loop(OnnxLoop):
        op_domain = ""

        def __init__(self, onnx_node: Any, run_params: dict) -> None:
            super().__init__(onnx_node, run_params)
            body, self._trips, self._limit = self._run_body, 0, max_loop_trips()

            def counted(*args: Any, **kwargs: Any) -> Any:
                self._trips += 1
                self._check(self._trips)
                if deadline_passed():
                    raise overdue(f"iteration {self._trips} of {self._label()}")
                return body(*args, **kwargs)

            self._run_body = counted

        def _label(self) -> str:
            return f"Loop node {self.onnx_node.name or '(unnamed)'!r}"

        def _check(self, trips: int) -> None:
            if trips > self._limit:
                raise RunError(f"{self._label()} asks for {trips:,} iterations or more, over "
                               f"the limit of {self._limit:,}; set HETERO_MAX_LOOP_TRIPS to "
                               "allow more", self.onnx_node.name)

        def _run(self, M: Any, cond: Any, *args: Any, **kwargs: Any) -> Any:
            self._limit = max_loop_trips()  # read once a run, not once an iteration
            runs = cond is None or bool(np.asarray(cond).reshape(-1)[:1].all())
            if runs and M is not None and np.size(M) == 1:
                self._check(int(np.asarray(M).reshape(())))
            self._trips = 0
            return super()._run(M, cond, *args, **kwargs)

    return Loop


@functools.cache
def bounded_scan() -> type:
    """``onnx.reference``'s Scan checking the run's deadline at every iteration (its length
    is its input's, so a trip count needs no limit of its own)."""
    from onnx.reference.ops.op_scan import Scan as OnnxScan

    class Scan(OnnxScan):
        op_domain = ""

        def __init__(self, onnx_node: Any, run_params: dict) -> None:
            super().__init__(onnx_node, run_params)
            body, label = self._run_body, f"Scan node {onnx_node.name or '(unnamed)'!r}"

            def checked(*args: Any, **kwargs: Any) -> Any:
                if deadline_passed():
                    raise overdue(f"an iteration of {label}")
                return body(*args, **kwargs)

            self._run_body = checked

    return Scan


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

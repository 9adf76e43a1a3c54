"""Constant folding: a node whose inputs are all known is computed once, at compile time
(Constant, ConstantOfShape chains, Shape of a statically shaped value, weight reshapes...)."""

from __future__ import annotations

import logging

import numpy as np

from hetero.graph.ir import Graph, Node
from hetero.graph.passes.rewrite import with_nodes
from hetero.limits import fold_max_bytes

log = logging.getLogger("hetero")

#: ops whose output differs run to run, or that need the run's context
NEVER = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
         "Bernoulli", "Multinomial", "If", "Loop", "Scan", "SequenceMap"}
#: ops onnx.reference (which folding uses) gets wrong before opset 13: it applies the
#: opset-13 axis rule; at run time the CPU's native versions handle them
OLD_AXIS_RULE = {"Softmax", "LogSoftmax", "Hardmax"}


def static_shape(graph: Graph, name: str) -> tuple[int, ...] | None:
    value = graph.values.get(name)
    if value is None or value.shape is None or not all(isinstance(d, int) and d > 0
                                                       for d in value.shape):
        return None
    return tuple(value.shape)


def foldable(node: Node, known: dict[str, np.ndarray], graph: Graph) -> bool:
    if node.domain != "" or node.op_type in NEVER or node.outer:
        return False
    if node.op_type in OLD_AXIS_RULE and graph.opsets.get("", 1) < 13:
        return False
    if node.op_type == "Shape":
        return node.inputs[0] in known or static_shape(graph, node.inputs[0]) is not None
    return all(not n or n in known for n in node.inputs)


def evaluate(node: Node, known: dict[str, np.ndarray], graph: Graph) -> list[np.ndarray]:
    from hetero.graph.reference import ReferenceNode

    if node.op_type == "Shape" and node.inputs[0] not in known:
        dims = np.array(static_shape(graph, node.inputs[0]), dtype=np.int64)
        return [dims[node.attrs.get("start", 0):node.attrs.get("end")]]
    return ReferenceNode(node, graph)({n: known[n] for n in node.inputs if n})


def predicted_bytes(node: Node, known: dict, graph: Graph) -> int | None:
    """What folding ``node`` would allocate, known before running it (None: cannot tell)."""
    if node.op_type == "ConstantOfShape":
        return int(np.prod(known[node.inputs[0]], dtype=object)) * 8
    total = 0
    for name in node.outputs:
        value = graph.values.get(name)
        if not name or value is None or value.dtype is None or value.shape is None or \
                not all(isinstance(d, int) for d in value.shape):
            return None
        total += int(np.prod(value.shape, dtype=object)) * value.dtype.itemsize
    return total


def fold_constants(graph: Graph) -> Graph:
    """Fold what is known, within the model's memory limit and ``fold_max_bytes()``: a
    148-byte ConstantOfShape asking for gigabytes is left to run time, where it is computed
    only if a run needs it (and fits the device)."""
    known = dict(graph.constants)
    budget = min(graph.memory_limit - sum(v.nbytes for v in known.values()), fold_max_bytes())
    keep = []
    for node in graph.nodes:
        size = predicted_bytes(node, known, graph) if foldable(node, known, graph) else None
        if size is None or size > budget:
            if size is not None:
                log.info("constant folding left %s to run time: its result takes %s bytes, "
                         "over the %s left of the fold limit (HETERO_FOLD_MAX_BYTES)",
                         node.label, f"{size:,}", f"{max(budget, 0):,}")
            keep.append(node)
            continue
        try:
            values = evaluate(node, known, graph)
        except Exception:  # leave it to run time, where the error has its context
            keep.append(node)
            continue
        for name, value in zip(node.outputs, values, strict=False):
            if name:  # sequences stay lists
                known[name] = value if isinstance(value, list) else np.asarray(value)
        budget -= size
    return with_nodes(graph, keep, known)

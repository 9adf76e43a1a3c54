"""Constant folding: a node whose inputs are all known is computed once, at compile time
(Constant, ConstantOfShape chains, Shape of a statically shaped value, weight reshapes...)."""

from __future__ import annotations

import numpy as np

from hetero.graph.ir import Graph, Node
from hetero.graph.passes.rewrite import with_nodes

#: ops whose output differs run to run, or that need the run's context
NEVER = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
         "Bernoulli", "Multinomial", "If", "Loop", "Scan", "SequenceMap"}


def static_shape(graph: Graph, name: str) -> tuple[int, ...] | None:
    value = graph.values.get(name)
    if value is None or value.shape is None or not all(isinstance(d, int) and d > 0
                                                       for d in value.shape):
        return None
    return tuple(value.shape)


def foldable(node: Node, known: dict[str, np.ndarray], graph: Graph) -> bool:
    if node.domain != "" or node.op_type in NEVER or node.outer:
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


def fold_constants(graph: Graph) -> Graph:
    known = dict(graph.constants)
    keep = []
    for node in graph.nodes:
        if foldable(node, known, graph):
            try:
                values = evaluate(node, known, graph)
            except Exception:  # leave it to run time, where the error has its context
                keep.append(node)
                continue
            known.update({name: np.asarray(v) for name, v in zip(node.outputs, values,
                                                                 strict=False) if name})
            continue
        keep.append(node)
    return with_nodes(graph, keep, known)

"""A Mul, Add, Sub or Div by a per-output-channel constant after a Conv folds into its
weights and bias, as a BatchNormalization does; after an inference BatchNormalization, into
its scale and bias (models exported with BatchNorm spelt out as Mul and Add, or followed by
them: DenseNet-121, Inception v2). Repeats until nothing more folds."""

from __future__ import annotations

import dataclasses

import numpy as np

from hetero.graph.ir import Graph, Node
from hetero.graph.passes.batchnorm import inference_bn, replaced
from hetero.graph.passes.rewrite import graph_outputs, origins, readers, with_nodes

#: op -> how it changes (weights, bias) given the per-channel constant k (k the right operand)
FOLDS = {
    "Mul": lambda w, b, k: (w * k.reshape(-1, *[1] * (w.ndim - 1)), b * k),
    "Div": lambda w, b, k: (w / k.reshape(-1, *[1] * (w.ndim - 1)), b / k),
    "Add": lambda w, b, k: (w, b + k),
    "Sub": lambda w, b, k: (w, b - k),
}
COMMUTATIVE = ("Mul", "Add")


def per_channel(k: np.ndarray, channels: int, rank: int) -> np.ndarray | None:
    """``k`` as one value per output channel when it broadcasts that way against an NCHW-like
    output of ``rank`` (shape (C, 1, 1), (1, C, 1, 1) or a single value); else None."""
    if k.ndim > rank or k.dtype.kind != "f":
        return None
    shape = (1,) * (rank - k.ndim) + k.shape
    if shape[0] != 1 or any(d != 1 for d in shape[2:]) or shape[1] not in (1, channels):
        return None
    return np.broadcast_to(k.reshape(-1), (channels,))


def fold_target(node: Node, graph: Graph, by_output: dict, read: dict,
                constants: dict) -> tuple[Node, np.ndarray] | None:
    """(the Conv to fold ``node`` into, the per-channel constant) when the rule applies."""
    if node.op_type not in FOLDS or node.domain != "" or len(node.inputs) != 2:
        return None
    for data, k in ((0, 1), (1, 0)) if node.op_type in COMMUTATIVE else ((0, 1),):
        source = by_output.get(node.inputs[data])
        value = constants.get(node.inputs[k])
        if source is None or value is None or not foldable(source, constants):
            continue
        if len(read.get(node.inputs[data], [])) != 1 or node.inputs[data] in \
                graph_outputs(graph):
            continue
        w = constants[source.inputs[1]]
        rank = w.ndim if source.op_type == "Conv" else len(
            graph.values[node.inputs[data]].shape or ()) if node.inputs[data] in \
            graph.values else 0
        k_vector = per_channel(value, w.shape[0], rank) if rank >= 2 else None
        if k_vector is not None and k_vector.dtype == w.dtype:
            return source, k_vector
    return None


def foldable(source: Node, constants: dict) -> bool:
    """A Conv with constant weights (and bias), or an inference BatchNormalization."""
    if source.op_type == "BatchNormalization":
        return inference_bn(source, constants)
    return source.op_type == "Conv" and not source.domain and \
        all(n in constants for n in source.inputs[1:3] if n)


def folded(source: Node, node: Node, k: np.ndarray, constants: dict) -> tuple[Node, dict]:
    """``source`` taking ``node``'s output, its (weights or scale, bias) adjusted."""
    w = constants[source.inputs[1]]
    bias_name = source.inputs[2] if len(source.inputs) > 2 else ""
    bias = constants[bias_name] if bias_name else np.zeros(w.shape[0], w.dtype)
    w, bias = FOLDS[node.op_type](w, bias, k)
    names = (f"{node.name}__w_affine", f"{node.name}__b_affine")
    inputs = [source.inputs[0], *names, *source.inputs[3:]]
    merged = replaced(source, inputs, node.outputs[:1], dict(source.attrs))
    return dataclasses.replace(merged, sources=origins(source, node)), \
        dict(zip(names, (w.astype(k.dtype), bias.astype(k.dtype)), strict=True))


def fold_affine(graph: Graph) -> Graph:
    if graph.opsets.get("", 1) < 7:  # older Mul/Add broadcast only by attribute
        return graph
    while True:
        by_output = {o: n for n in graph.nodes for o in n.outputs if o}
        read, constants = readers(graph), dict(graph.constants)
        for node in graph.nodes:
            target = fold_target(node, graph, by_output, read, constants)
            if target is not None:
                break
        else:
            return graph
        source, k = target
        merged, new = folded(source, node, k, constants)
        constants.update(new)
        nodes = [merged if n is source else n for n in graph.nodes if n is not node]
        graph = with_nodes(graph, nodes, constants)

"""Inference BatchNormalization after a Conv or Gemm is folded into its weights and bias:
y = (x*W + b - mean) * f + beta with f = scale / sqrt(var + eps) is x*(W*f) + ((b-mean)*f+beta)."""

from __future__ import annotations

import dataclasses

import numpy as np

from hetero.graph.ir import Graph, Node, read_only
from hetero.graph.passes.rewrite import graph_outputs, origins, readers, with_nodes


def inference_bn(node: Node, constants: dict) -> bool:
    return (node.op_type == "BatchNormalization" and node.domain == ""
            and not node.attrs.get("training_mode", 0)
            and sum(1 for o in node.outputs if o) == 1
            and all(n in constants for n in node.inputs[1:5]))


def producer_to_fold(bn: Node, graph: Graph, by_output: dict, read: dict) -> Node | None:
    """The Conv/Gemm feeding ``bn`` alone, with constant weights (and bias), if any."""
    source = by_output.get(bn.inputs[0])
    if source is None or source.op_type not in ("Conv", "Gemm") or source.domain != "":
        return None
    if len(read.get(bn.inputs[0], [])) != 1 or bn.inputs[0] in graph_outputs(graph):
        return None
    weights = [n for n in source.inputs[1:3] if n]
    if not all(n in graph.constants for n in weights):
        return None
    if source.op_type == "Gemm":
        bias = source.inputs[2] if len(source.inputs) > 2 else ""
        if source.attrs.get("transA", 0) or (bias and graph.constants[bias].ndim > 1):
            return None
    return source


def folded(source: Node, bn: Node, constants: dict) -> tuple[Node, dict]:
    scale, beta, mean, var = (constants[n] for n in bn.inputs[1:5])
    factor = scale / np.sqrt(var + np.asarray(bn.attrs.get("epsilon", 1e-5), var.dtype))
    w = constants[source.inputs[1]]
    bias = constants[source.inputs[2]] if len(source.inputs) > 2 and source.inputs[2] else 0
    attrs = dict(source.attrs)
    if source.op_type == "Conv":
        w = w * factor.reshape(-1, *([1] * (w.ndim - 1)))
    else:  # Gemm: output channels are B's columns (rows when transB)
        w = w * (factor[:, None] if attrs.get("transB", 0) else factor[None, :])
        w = w * np.asarray(attrs.pop("alpha", 1.0), w.dtype)
        bias = bias * np.asarray(attrs.pop("beta", 1.0), w.dtype)
    b = ((bias - mean) * factor + beta).astype(w.dtype)
    w = w.astype(constants[source.inputs[1]].dtype, copy=False)  # float32 stays as it is
    names = (f"{source.name}__w_bn", f"{source.name}__b_bn")
    # read-only, as the model's own weights are: devices then share them instead of copying
    node = replaced(source, [source.inputs[0], *names], bn.outputs[:1], attrs)
    return dataclasses.replace(node, sources=origins(source, bn)), \
        dict(zip(names, (read_only(w), read_only(b)), strict=True))


def replaced(node: Node, inputs: list[str], outputs: list[str], attrs: dict) -> Node:
    from onnx import helper

    proto = helper.make_node(node.op_type, inputs, outputs, name=node.name, **attrs)
    return dataclasses.replace(node, inputs=inputs, outputs=outputs, attrs=attrs, proto=proto)


def fold_batchnorm(graph: Graph) -> Graph:
    by_output = {o: n for n in graph.nodes for o in n.outputs if o}
    read = readers(graph)
    constants = dict(graph.constants)
    merged: dict[int, Node] = {}  # id(producer) -> its folded replacement
    dropped: set[int] = set()
    for bn in graph.nodes:
        if not inference_bn(bn, constants):
            continue
        source = producer_to_fold(bn, graph, by_output, read)
        if source is None or id(source) in merged:
            continue
        merged[id(source)], new = folded(source, bn, constants)
        constants.update(new)
        dropped.add(id(bn))
    nodes = [merged.get(id(n), n) for n in graph.nodes if id(n) not in dropped]
    return with_nodes(graph, nodes, constants)

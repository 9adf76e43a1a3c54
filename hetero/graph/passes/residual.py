"""A Conv whose output is added to another tensor of the same shape, then Relu'd (a ResNet
block's end: Conv -> Add/Sum -> Relu), becomes one ``FusedConv`` with that tensor as a
fourth input Z: y = Relu(Conv(x) + Z), as ONNX Runtime's com.microsoft.FusedConv. The
kernel adds Z to its registers before storing: two passes over the activation saved."""

from __future__ import annotations

import dataclasses

from hetero.graph.ir import Graph, Node
from hetero.graph.passes.rewrite import (
    DOMAIN,
    origins,
    readers,
    sole_reader,
    static_shape,
    with_fused,
)


def residual_conv(add: Node, graph: Graph, by_output: dict, read: dict) -> tuple | None:
    """(conv, the other addend, relu) when ``add`` ends a fusable Conv -> Add -> Relu."""
    if add.op_type not in ("Add", "Sum") or add.domain or len(add.inputs) != 2 or \
            add.inputs[0] == add.inputs[1] or graph.opsets.get("", 1) < 7:
        return None
    relu = sole_reader(graph, read, add.outputs[0])
    if relu is None or relu.op_type != "Relu" or relu.domain:
        return None
    for mine, other in ((0, 1), (1, 0)):
        conv = by_output.get(add.inputs[mine])
        if conv is None or conv.op_type != "Conv" or conv.domain or \
                sole_reader(graph, read, add.inputs[mine]) is not add:
            continue
        shape = static_shape(graph, add.inputs[mine])
        if shape is not None and shape == static_shape(graph, add.inputs[other]):
            return conv, add.inputs[other], relu
    return None


def fused(conv: Node, z: str, relu: Node, add: Node) -> Node:
    from onnx import helper

    inputs = [*conv.inputs, *[""] * (3 - len(conv.inputs)), z]
    attrs = {**conv.attrs, "activation": "Relu"}
    proto = helper.make_node("FusedConv", inputs, relu.outputs, name=conv.name, domain=DOMAIN,
                             **attrs)
    return dataclasses.replace(conv, op_type="FusedConv", domain=DOMAIN, inputs=inputs,
                               outputs=list(relu.outputs), attrs=attrs, proto=proto,
                               sources=origins(conv, add, relu))


def fuse_residual(graph: Graph) -> Graph:
    read = readers(graph)
    by_output = {o: n for n in graph.nodes for o in n.outputs if o}
    at_add: dict[int, Node] = {}  # the fused node takes the Add's place: Z exists by then
    dropped: set[int] = set()
    for add in graph.nodes:
        found = residual_conv(add, graph, by_output, read)
        if found is None or id(found[0]) in dropped:
            continue
        conv, z, relu = found
        at_add[id(add)] = fused(conv, z, relu, add)
        dropped |= {id(conv), id(relu)}
    return with_fused(graph, at_add, dropped)

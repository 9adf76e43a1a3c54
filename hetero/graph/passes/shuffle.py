"""ShuffleNet's channel shuffle, Reshape (N, C, H, W) -> (N, g, C/g, H, W), Transpose
(0, 2, 1, 3, 4), Reshape back, becomes one ``ChannelShuffle`` node (hetero's domain,
``group=g``): one permutation of channels instead of three copies, and a backend that keeps
channels blocked can do it without leaving that layout. The reference tier runs the three
nodes again (``graph.reference.unfused``)."""

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

PERM = [0, 2, 1, 3, 4]


def shuffle_chain(first: Node, graph: Graph, read: dict) -> tuple[Node, Node, int] | None:
    """(transpose, last reshape, groups) when ``first`` starts a channel shuffle."""
    if first.op_type != "Reshape" or first.domain or len(first.inputs) != 2 or \
            first.inputs[1] not in graph.constants:
        return None
    transpose = sole_reader(graph, read, first.outputs[0])
    if transpose is None or transpose.op_type != "Transpose" or transpose.domain or \
            list(transpose.attrs.get("perm", [])) != PERM:
        return None
    last = sole_reader(graph, read, transpose.outputs[0])
    if last is None or last.op_type != "Reshape" or last.domain or \
            last.inputs[1] not in graph.constants:
        return None
    shape, split = static_shape(graph, first.inputs[0]), static_shape(graph, first.outputs[0])
    if shape is None or len(shape) != 4 or split is None or len(split) != 5 or \
            static_shape(graph, last.outputs[0]) != shape:
        return None
    n, c, h, w = shape
    if split[0] != n or split[1] * split[2] != c or split[3:] != (h, w):
        return None
    return transpose, last, split[1]


def fused(first: Node, transpose: Node, last: Node, groups: int) -> Node:
    from onnx import helper

    inputs = [first.inputs[0], first.inputs[1], last.inputs[1]]
    proto = helper.make_node("ChannelShuffle", inputs, last.outputs, name=first.name,
                             domain=DOMAIN, group=groups)
    return dataclasses.replace(first, op_type="ChannelShuffle", domain=DOMAIN, inputs=inputs,
                               outputs=list(last.outputs), attrs={"group": groups},
                               proto=proto, sources=origins(first, transpose, last))


def fuse_channel_shuffle(graph: Graph) -> Graph:
    read = readers(graph)
    at_last: dict[int, Node] = {}
    dropped: set[int] = set()
    for first in graph.nodes:
        found = shuffle_chain(first, graph, read)
        if found is None:
            continue
        transpose, last, groups = found
        at_last[id(last)] = fused(first, transpose, last, groups)
        dropped |= {id(first), id(transpose)}
    return with_fused(graph, at_last, dropped)

"""Small helpers the passes share: who reads a value, renaming inputs, a graph copy."""

from __future__ import annotations

import dataclasses

from hetero.graph.ir import Graph, Node

DOMAIN = "com.hetero"  # the domain of the ops hetero's fusion passes create


def with_fused(graph: Graph, fused: dict[int, Node], dropped: set[int]) -> Graph:
    """``graph`` with nodes replaced (by id) by fused ones and others dropped; hetero's
    domain joins the opsets when anything was fused."""
    nodes = [fused.get(id(n), n) for n in graph.nodes if id(n) not in dropped]
    opsets = {**graph.opsets, DOMAIN: 1} if fused else graph.opsets
    return dataclasses.replace(with_nodes(graph, nodes), opsets=opsets)


def readers(graph: Graph) -> dict[str, list[Node]]:
    """Value name -> the nodes that read it (subgraph outer reads included)."""
    out: dict[str, list[Node]] = {}
    for node in graph.nodes:
        for name in {n for n in [*node.inputs, *node.outer] if n}:
            out.setdefault(name, []).append(node)
    return out


def graph_outputs(graph: Graph) -> set[str]:
    return {v.name for v in graph.outputs}


def with_nodes(graph: Graph, nodes: list[Node], constants: dict | None = None) -> Graph:
    return dataclasses.replace(graph, nodes=nodes,
                               constants=graph.constants if constants is None else constants)


def renamed_inputs(node: Node, old: str, new: str) -> Node:
    """``node`` reading ``new`` where it read ``old`` (its NodeProto updated too)."""
    proto = type(node.proto)()
    proto.CopyFrom(node.proto)
    for i, name in enumerate(proto.input):
        if name == old:
            proto.input[i] = new
    return dataclasses.replace(node, inputs=[new if n == old else n for n in node.inputs],
                               proto=proto)


def static_shape(graph: Graph, name: str) -> tuple | None:
    """The value's shape where shape inference fixed every dimension, else None."""
    value = graph.values.get(name)
    shape = value.shape if value is not None else None
    return shape if shape and all(isinstance(d, int) and d > 0 for d in shape) else None


def sole_reader(graph: Graph, read: dict, name: str) -> Node | None:
    """The one node reading ``name`` (not a graph output), else None."""
    readers_of = read.get(name, [])
    if len(readers_of) != 1 or name in graph_outputs(graph):
        return None
    return readers_of[0]


def origins(*nodes: Node) -> tuple[tuple[str, str], ...]:
    """The model's own nodes behind ``nodes`` (each itself, unless a pass merged others into
    it), for the node a pass makes of them."""
    return tuple(dict.fromkeys(s for n in nodes for s in (n.sources or ((n.name, n.op_type),))))

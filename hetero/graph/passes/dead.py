"""Nodes nothing reads (and constants no node reads) are dropped."""

from __future__ import annotations

from hetero.graph.ir import Graph
from hetero.graph.passes.rewrite import graph_outputs, with_nodes


def eliminate_dead(graph: Graph) -> Graph:
    live = set(graph_outputs(graph))
    keep = []
    for node in reversed(graph.nodes):
        if any(o in live for o in node.outputs if o):
            keep.append(node)
            live |= {n for n in [*node.inputs, *node.outer] if n}
    constants = {k: v for k, v in graph.constants.items() if k in live}
    return with_nodes(graph, keep[::-1], constants)

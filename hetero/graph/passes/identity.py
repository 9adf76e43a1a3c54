"""Identity, and Dropout at inference, pass their input through: their readers read the
input instead."""

from __future__ import annotations

from hetero.graph.ir import Graph, Node
from hetero.graph.passes.rewrite import graph_outputs, renamed_inputs, with_nodes


def passes_through(node: Node) -> bool:
    if node.domain != "":
        return False
    if node.op_type == "Identity":
        return True
    return (node.op_type == "Dropout" and (len(node.outputs) < 2 or not node.outputs[1])
            and (len(node.inputs) < 3 or not node.inputs[2]))  # no mask, no training_mode


def remove_identity(graph: Graph) -> Graph:
    keep, alias = [], {}
    # graph outputs keep their names; values a subgraph reads keep theirs (no renaming inside)
    fixed = graph_outputs(graph) | {n for node in graph.nodes for n in node.outer}
    for node in graph.nodes:
        for old, new in alias.items():
            if old in node.inputs:
                node = renamed_inputs(node, old, new)
        if passes_through(node) and node.outputs[0] not in fixed:
            alias[node.outputs[0]] = node.inputs[0]
            continue
        keep.append(node)
    return with_nodes(graph, keep)

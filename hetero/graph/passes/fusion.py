"""Conv/Gemm/inference BatchNormalization followed by its only reader, a Relu, become one node
(``FusedConv``, ``FusedGemm`` or ``FusedBatchNormalization`` in hetero's domain,
``activation="Relu"``): one pass over the output, one buffer fewer. Backends that lack the
fused op run it on the reference tier, which unfuses it."""

from __future__ import annotations

import dataclasses

from hetero.graph.ir import Graph, Node
from hetero.graph.passes.rewrite import DOMAIN, graph_outputs, origins, readers, with_fused

FUSABLE = {"Conv": "FusedConv", "Gemm": "FusedGemm",
           "BatchNormalization": "FusedBatchNormalization"}
ACTIVATIONS = ("Relu",)


def fused(source: Node, activation: Node) -> Node:
    from onnx import helper

    attrs = {**source.attrs, "activation": activation.op_type}
    proto = helper.make_node(FUSABLE[source.op_type], source.inputs, activation.outputs,
                             name=source.name, domain=DOMAIN, **attrs)
    return dataclasses.replace(source, op_type=FUSABLE[source.op_type], domain=DOMAIN,
                               outputs=list(activation.outputs), attrs=attrs, proto=proto,
                               sources=origins(source, activation))


def fuse_activation(graph: Graph) -> Graph:
    read = readers(graph)
    outputs = graph_outputs(graph)
    by_output = {o: n for n in graph.nodes for o in n.outputs if o}
    merged: dict[int, Node] = {}
    dropped: set[int] = set()
    for act in graph.nodes:
        if act.op_type not in ACTIVATIONS or act.domain != "":
            continue
        source = by_output.get(act.inputs[0])
        if source is None or source.op_type not in FUSABLE or source.domain != "" \
                or len(read.get(act.inputs[0], [])) != 1 or act.inputs[0] in outputs \
                or sum(1 for o in source.outputs if o) != 1 \
                or source.attrs.get("training_mode", 0) \
                or (source.op_type == "BatchNormalization" and graph.opsets.get("", 1) < 9):
            continue  # (older BatchNormalization: spatial, is_test, consumed_inputs)
        merged[id(source)] = fused(source, act)
        dropped.add(id(act))
    return with_fused(graph, merged, dropped)

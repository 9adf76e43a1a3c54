"""A run of hetero graph nodes as a standalone ONNX model, the unit TVM compiles: the values
it reads from outside become graph inputs, the values read after it (or returned) become
its outputs, and the weights it reads travel inside it as initializers, so TVM folds them."""

from __future__ import annotations

from typing import Any

import numpy as np

from hetero.graph.reference import unfused


def submodel(nodes: list[Any], graph: Any, inputs: list[str], outputs: list[str]) -> Any:
    """The ONNX ModelProto of ``nodes`` (hetero's fused ops unfused to standard ONNX), at the
    graph's opsets; every boundary value typed with its static shape."""
    from onnx import helper, numpy_helper

    weights = [v for v in dict.fromkeys(i for n in nodes for i in n.inputs if i)
               if v in graph.constants]
    body = helper.make_graph(
        [proto for n in nodes for proto in unfused(n)], "hetero_subgraph",
        [typed(graph, v) for v in inputs], [typed(graph, v) for v in outputs],
        [numpy_helper.from_array(np.asarray(graph.constants[w]), w) for w in weights])
    opsets = [helper.make_opsetid(domain, version) for domain, version in graph.opsets.items()
              if domain in ("", "ai.onnx")]
    return helper.make_model(body, opset_imports=opsets, producer_name="hetero")


def typed(graph: Any, name: str) -> Any:
    from onnx import helper

    value = graph.values[name]
    shape = list(value.shape) if value.shape is not None else None  # TVM infers it
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype),
                                         shape)

"""ONNX nodes on a CUDA device: torch's ops (``ops/``, cuDNN and cuBLAS) first, the op
library's portable kernels compiled by numba.cuda after (tier "portable"), else another
device. Work is submitted to the device's stream and not waited for: a node's own time comes
from CUDA events (``Clock``), read once the run is done."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hetero.backends.cuda.errors import lost_on_sticky

#: the dtypes torch holds on a GPU that ONNX models use (no strings, no complex)
TENSOR_DTYPES = {"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32",
                 "float64"}
FLOAT_DTYPES = {"float16", "float32", "float64"}


def value_dtype(graph: Any, name: str) -> str | None:
    if name in graph.constants:
        return np.asarray(graph.constants[name]).dtype.name
    info = graph.values.get(name)
    return None if info is None or info.dtype is None else np.dtype(info.dtype).name


def portable_op(node: Any, graph: Any) -> Any:
    """The op library's version of an ONNX node torch's ops do not take (AveragePool with
    dilations, say: torch's average pools have none), where its portable kernel does: it
    implements the model's opset, takes the input dtypes, and infers the outputs shape
    inference gave the node (an input the op reads as an attribute, such as opset 18's
    reduction axes, shows as a mismatch)."""
    from hetero.kernels import OPS

    from hetero.cost import tensor_info

    op = OPS.get(node.op_type) if node.domain == "" else None
    if op is None or graph.opsets.get("", 1) < op.since[0]:
        return None
    given = [tensor_info(graph, n) for n in node.inputs if n]
    wanted = [tensor_info(graph, n) for n in node.outputs if n]
    if any(t is None or t.dtype not in op.dtypes for t in given) or None in wanted:
        return None
    try:
        inferred = op.infer(given, node.attrs)
    except Exception:  # noqa: BLE001 - the op refuses these inputs or attributes
        return None
    return op if [tuple(t) for t in inferred[:len(wanted)]] == [tuple(t) for t in wanted] \
        else None


@dataclass
class TorchNode:
    node: Any
    tier: str
    run: Any  # fn(inputs, attrs, opset) -> outputs, or the portable Op
    opset: int
    attrs: dict[str, Any]  # the node's, and (native ops) how many outputs it has
    host: dict[int, np.ndarray] = field(default_factory=dict)  # inputs read on the host


class TorchNodes:
    """The node half of the CUDA backend (``memory(device)``: the device's ``Memory``)."""

    def node_tier(self, device: Any, node: Any, graph: Any) -> str | None:
        from hetero.backends.cuda.ops import TABLE

        if node.outer:  # If/Loop/Scan bodies run where their graphs can be evaluated
            return None
        dtypes = [value_dtype(graph, n) for n in node.inputs if n]  # None: not known yet
        if any(d is not None and d not in TENSOR_DTYPES for d in dtypes):
            return None
        if TABLE.covers(node, graph.opsets.get("", 1)):
            floats = TABLE.tag(node.op_type, "floats", False)
            if not floats or (dtypes and dtypes[0] in (None, *FLOAT_DTYPES)):
                return "native"
        return "portable" if portable_op(node, graph) is not None else None

    def prepare_node(self, device: Any, node: Any, graph: Any) -> TorchNode:
        from hetero.backends.cuda.ops import OUTPUTS, TABLE

        tier = self.node_tier(device, node, graph)
        opset = graph.opsets.get("", 1)
        if tier == "native":
            host = {i: np.asarray(graph.constants[node.inputs[i]])
                    for i in TABLE.tag(node.op_type, "host", ())
                    if i < len(node.inputs) and node.inputs[i] in graph.constants}
            return TorchNode(node, tier, TABLE.fns[node.op_type], opset,
                             {**node.attrs, OUTPUTS: len(node.outputs)}, host)
        if tier == "portable":
            return TorchNode(node, tier, portable_op(node, graph), opset, node.attrs)
        raise ValueError(f"{node.op_type} node {node.name!r} cannot run on {device.id}")

    def run_node(self, device: Any, prepared: TorchNode, inputs: dict[str, Any]) -> list[Any]:
        node = prepared.node
        xs = [inputs.get(n) if n else None for n in node.inputs]
        for i, value in prepared.host.items():
            xs[i] = value
        if prepared.tier == "portable":
            return self.run_portable(device, prepared, xs)
        with lost_on_sticky(device), self.memory(device).ordered():  # copies on the stream
            outputs = prepared.run(xs, prepared.attrs, prepared.opset)
            return [y if y.is_contiguous() else y.contiguous() for y in outputs]

    def run_portable(self, device: Any, prepared: TorchNode, xs: list[Any]) -> list[Any]:
        """Through hetero Arrays on this device, as any caller of the op library would."""
        from hetero.backends.cuda.memory import numpy_dtype

        from hetero.array import Array

        arrays = [None if x is None else Array(x, device, tuple(x.shape), numpy_dtype(x))
                  for x in xs]
        return [y.buffer for y in prepared.run(device, arrays, prepared.attrs)]

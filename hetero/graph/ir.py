"""hetero's graph IR: nodes in topological order over named, typed values.

Built from a validated ``Model``. Initializers become NumPy constants; a node keeps its
``NodeProto`` because the reference tier (``onnx.reference``) and subgraph ops need it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from hetero.errors import ModelError

Shape = tuple[int | str | None, ...]


class TensorInfo(NamedTuple):
    """A value's concrete shape and dtype name: what the op library's shape inference and
    cost formulas read, and what the cost model sizes values by."""

    shape: tuple[int, ...]
    dtype: str


def numel(shape: Iterable[int]) -> int:
    return int(math.prod(shape))


@functools.cache
def itemsize(dtype: str) -> int:
    """Cached: the cost model asks it of every value, for every device, many times."""
    return np.dtype(dtype).itemsize


@dataclass
class Value:
    """A tensor flowing through the graph: name, element type and (possibly symbolic) shape;
    ``dtype``/``shape`` are None where ONNX could not infer them."""

    name: str
    dtype: np.dtype | None = None
    shape: Shape | None = None


@dataclass
class Node:
    name: str
    op_type: str
    domain: str
    inputs: list[str]  # "" marks an omitted optional input
    outputs: list[str]
    attrs: dict[str, Any]
    proto: Any  # onnx.NodeProto
    #: names a subgraph attribute (If/Loop/Scan bodies) reads from the enclosing graph
    outer: list[str] = field(default_factory=list)
    #: (name, op type) of the model's own nodes a graph pass merged into this one; empty:
    #: the node is the model's own (refusals and ``hetero ops`` name what the user wrote)
    sources: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        return f"node {self.name!r} ({self.op_type})"


@dataclass
class Graph:
    nodes: list[Node]
    inputs: list[Value]  # graph inputs that are not initializers: what a caller feeds
    outputs: list[Value]
    constants: dict[str, np.ndarray]
    values: dict[str, Value]
    opsets: dict[str, int]
    functions: list[Any]  # onnx.FunctionProto, for model-local functions
    memory_limit: int = 2**62  # bytes compile-time work (constant folding) may create

    @classmethod
    def from_model(cls, model: Any) -> Graph:
        proto = model.proto
        g = proto.graph
        constants = {t.name: read_only(constant(t, model.name)) for t in g.initializer}
        values = {v.name: value_of(v) for v in [*g.input, *g.value_info, *g.output]}
        nodes = unique_names([node_of(n, i) for i, n in enumerate(g.node)])
        graph = cls(nodes=topological(nodes, set(values) | set(constants), model.name),
                    inputs=[values[v.name] for v in g.input if v.name not in constants],
                    outputs=[values[v.name] for v in g.output], constants=constants,
                    values=values,
                    opsets={domain_of(o.domain): o.version for o in proto.opset_import},
                    functions=list(proto.functions), memory_limit=model.memory_limit)
        return graph

    def copy(self) -> Graph:
        """A Graph with its own lists and dicts over the same nodes, values and constants:
        what the passes change (they build new nodes and arrays, never mutate these)."""
        return replace(self, nodes=list(self.nodes), inputs=list(self.inputs),
                       outputs=list(self.outputs), constants=dict(self.constants),
                       values=dict(self.values), opsets=dict(self.opsets),
                       functions=list(self.functions))


def constant(tensor: Any, model: str) -> np.ndarray:
    """An initializer as an array; data that does not fit its dims or type (typed fields of
    the wrong length, which ``hetero.load`` does not size-check) is a ModelError naming it."""
    from onnx import numpy_helper

    try:
        return numpy_helper.to_array(tensor)
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelError(f"{model}: initializer {tensor.name!r} (dims {list(tensor.dims)}, "
                         f"data type {tensor.data_type}) cannot be read: {exc}; the model is "
                         "corrupt: re-export it") from exc


def read_only(array: np.ndarray) -> np.ndarray:
    """``array``, no longer writable: a model's constants are shared by every Graph made
    from it (and by the devices that read them), so a write would change them all."""
    array.flags.writeable = False
    return array


def unique_names(nodes: list[Node]) -> list[Node]:
    """Node names made unique (the checker allows duplicates; placement is keyed by name)."""
    seen: set[str] = set()
    for node in nodes:
        name, k = node.name, 2
        while name in seen:
            name, k = f"{node.name}__{k}", k + 1
        node.name = name
        seen.add(name)
    return nodes


def value_of(info: Any) -> Value:
    from onnx import helper

    tensor = info.type.tensor_type if info.type.HasField("tensor_type") else None
    if tensor is None or not tensor.elem_type:
        return Value(info.name)
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type))
    except (KeyError, TypeError, ValueError):
        dtype = None
    shape = None
    if tensor.HasField("shape"):
        shape = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                      for d in tensor.shape.dim)
    return Value(info.name, dtype, shape)


def domain_of(domain: str) -> str:
    """ONNX's default domain by one name: "ai.onnx" is an alias of "" that the checker
    accepts but ``onnx.reference`` (and every ``opsets.get("")``) does not."""
    return "" if domain == "ai.onnx" else domain


def node_of(proto: Any, index: int) -> Node:
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in proto.attribute}
    return Node(name=proto.name or f"{proto.op_type}_{index}", op_type=proto.op_type,
                domain=domain_of(proto.domain), inputs=list(proto.input),
                outputs=list(proto.output),
                attrs=attrs, proto=proto, outer=sorted(free_names(proto)))


def free_names(node: Any) -> set[str]:
    """Names the node's subgraphs read but do not define (their outer-scope inputs)."""
    from onnx import AttributeProto

    found: set[str] = set()
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == AttributeProto.GRAPH else \
            list(attr.graphs) if attr.type == AttributeProto.GRAPHS else []
        for graph in graphs:
            defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
            for inner in graph.node:
                found |= {n for n in [*inner.input, *free_names(inner)]
                          if n and n not in defined}
                defined |= set(inner.output)
    return found


def topological(nodes: list[Node], available: set[str], name: str) -> list[Node]:
    """Nodes ordered so each runs after its inputs' producers (ONNX files should already be)."""
    produced = {out: n for n in nodes for out in n.outputs if out}
    ordered: list[Node] = []
    done: set[int] = set()
    visiting: set[int] = set()

    def visit(node: Node) -> None:
        if id(node) in done:
            return
        if id(node) in visiting:
            raise ModelError(f"{name}: the graph has a cycle through {node.label}")
        visiting.add(id(node))
        for inp in [*node.inputs, *node.outer]:
            if inp and inp in produced:
                visit(produced[inp])
            elif inp and inp not in available:
                raise ModelError(f"{name}: {node.label} reads {inp!r}, which no node, "
                                 "initializer or graph input provides")
        visiting.discard(id(node))
        done.add(id(node))
        ordered.append(node)

    for node in nodes:
        visit(node)
    return ordered


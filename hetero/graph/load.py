"""``hetero.load``: an ONNX model, validated before anything of it is trusted or allocated.

Order matters. The protobuf is parsed without external data; every declared tensor size is
summed and checked against a memory limit; external-data paths are confined to the model's
folder (absolute paths, ``..`` and symbolic links that leave it are refused, as ONNX's own
CVE-2024-27318/-5187 fixes do); only then is data read, the ONNX checker run and shapes
inferred. Every refusal is a ``ModelError`` naming what, where and how to fix it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hetero.errors import ArgumentError, ModelError
from hetero.limits import MAX_SUBGRAPH_DEPTH, max_nodes

#: What one tensor costs beyond its data once it is an array (so a million empty tensors
#: count too).
TENSOR_OVERHEAD = 128
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * PAGE_BYTES
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 16 * 2**30


@dataclass
class Model:
    """A validated ONNX model with inferred shapes; ``folder`` anchors its external data."""

    proto: Any  # onnx.ModelProto
    name: str
    folder: Path | None
    memory_limit: int = 2**62  # what compile-time work on it may allocate, in bytes
    _graph: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def opset(self) -> int:
        """The default-domain opset the model imports."""
        return next((o.version for o in self.proto.opset_import if o.domain in ("", "ai.onnx")),
                    1)

    def graph(self):
        """The model as hetero's graph IR (topologically ordered nodes, typed values).

        Converted once (ResNet-50's 100 MB of initializers take tens of ms) and copied per
        call: each Graph has its own containers over the shared, read-only constants. A new
        ``proto``, ``name`` or ``memory_limit`` converts afresh; editing the proto in place
        after ``load`` is not seen."""
        from hetero.graph.ir import Graph

        key = (self.name, self.memory_limit)
        if self._graph is None or self._graph[0] is not self.proto or self._graph[1] != key:
            self._graph = self.proto, key, Graph.from_model(self)
        return self._graph[2].copy()


def load(source: Any, memory_limit: int | None = None) -> Model:
    """Validate an ONNX model given as a path, bytes or ``onnx.ModelProto``.

    ``memory_limit`` caps the bytes the model declares (default: the host's physical memory).
    """
    import onnx

    if isinstance(source, Model) and memory_limit is None:
        return source  # already validated (compile and Session take either)
    limit = physical_memory() if memory_limit is None else memory_limit
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        raise ArgumentError(f"memory_limit={memory_limit!r}: give a positive number of bytes")
    proto, name, folder = parse(source, onnx, limit)
    check_declared_size(proto, name, limit)
    load_external_data(proto, name, folder)
    check_tensor_data(proto, name)
    check(proto, name, onnx)
    return Model(infer_shapes(proto, name, onnx), name, folder, limit)


def parse(source: Any, onnx: Any, limit: int) -> tuple[Any, str, Path | None]:
    """(ModelProto without external data, a name for messages, the folder of external data)."""
    if isinstance(source, onnx.ModelProto):
        name = f"model {source.graph.name or '(unnamed)'}"
        check_messages(source, name)  # before CopyFrom, which recurses in C
        proto = onnx.ModelProto()
        proto.CopyFrom(source)
        return proto, name, None
    if isinstance(source, bytes | bytearray | memoryview):
        data, name, folder = bytes(source), "model bytes", None
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        data = read_model_file(path, limit)
        name, folder = str(path), path.resolve().parent
    else:
        raise ModelError(f"hetero.load takes a path, bytes or onnx.ModelProto, not "
                         f"{type(source).__name__}")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)  # external data stays unread until its paths are checked
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelError(f"{name}: not an ONNX model (protobuf parse failed: {exc})") from exc
    check_messages(proto, name)
    return proto, name, folder


def check_messages(proto: Any, name: str) -> None:
    """Walk every message of the model once, without recursion, before anything else reads
    it (protobuf's CopyFrom and ONNX's C++ recurse; a 30000-deep ``If`` chain crashed them)
    and refuse: subgraphs nested deeper than MAX_SUBGRAPH_DEPTH; more than ``max_nodes()``
    nodes; string fields that are not valid UTF-8 (protobuf (upb) hands them back as
    ``bytes``, which broke the first copy of a name); negative dimensions (ONNX's C++ shape
    inference aborts the process on one, at a failed assertion)."""
    from google.protobuf.descriptor import FieldDescriptor

    limit, nodes = max_nodes(), 0
    pending = [(proto, "model", 0, "")]  # (message, where, subgraphs around it, its node)
    while pending:
        message, where, depth, node = pending.pop()
        kind = message.DESCRIPTOR.name
        if kind == "NodeProto":
            nodes += 1
            node = f"node {message.name or message.op_type!r} ({message.op_type})"
            if nodes > limit:
                raise ModelError(f"{name}: more than {limit:,} nodes (subgraphs and functions "
                                 "included); set HETERO_MAX_NODES to allow more")
        elif kind == "GraphProto" and depth > MAX_SUBGRAPH_DEPTH:
            raise ModelError(f"{name}: {node} nests subgraphs more than {MAX_SUBGRAPH_DEPTH} "
                             "deep; ONNX tools cannot parse such a model. Flatten the control "
                             "flow")
        elif getattr(message, "dim_value", 0) < 0:
            raise ModelError(f"{name}: {where} is {message.dim_value}; a dimension must be 0 "
                             "or more (or a dim_param name): fix the model's shapes")
        for fd, value in message.ListFields():
            if fd.type == FieldDescriptor.TYPE_STRING:
                bad = next((v for v in (value if fd.is_repeated else [value])
                            if not isinstance(v, str)), None)
                if bad is not None:
                    raise ModelError(f"{name}: {where}.{fd.name} is not valid UTF-8 "
                                     f"({bytes(bad)[:40]!r}); ONNX strings must be UTF-8: "
                                     "fix or re-export the model")
            elif fd.type == FieldDescriptor.TYPE_MESSAGE:
                inner = depth + (kind == "AttributeProto" and fd.name in ("g", "graphs"))
                pending += [(m, f"{where}.{fd.name}" + (f"[{i}]" if fd.is_repeated else ""),
                             inner, node)
                            for i, m in enumerate(value if fd.is_repeated else [value])]


def read_model_file(path: Path, limit: int) -> bytes:
    """The file's bytes, after checking it is a regular file no bigger than ``limit``."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ModelError(f"{path}: not a regular file (a device, pipe or folder); give the "
                             ".onnx file itself")
        if info.st_size > limit:
            raise ModelError(f"{path}: the file is {info.st_size:,} bytes, over the memory "
                             f"limit of {limit:,}; pass hetero.load(..., memory_limit=N)")
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model ({exc.strerror or exc})") from exc


def tensors(proto: Any):
    """Every TensorProto the model carries, as ``(tensor, where)``: initializers (sparse ones
    too), Constant nodes and other tensor attributes, in subgraphs and in model-local
    functions. Anything that can point at external data is here, so all of it is checked."""
    yield from in_nodes(proto.graph.node, "")
    yield from in_graph(proto.graph, "")
    for function in proto.functions:
        yield from in_nodes(function.node, f"function {function.name!r}: ")


def in_graph(graph: Any, where: str):
    for t in graph.initializer:
        yield t, f"{where}initializer {t.name!r}"
    for sparse in graph.sparse_initializer:
        label = f"{where}sparse initializer {sparse.values.name!r}"
        yield sparse.values, label
        yield sparse.indices, label


def in_nodes(nodes: Any, where: str):
    from onnx import AttributeProto

    for node in nodes:
        label = f"{where}node {node.name or node.op_type!r} ({node.op_type})"
        for attr in node.attribute:
            kind = attr.type
            if kind == AttributeProto.TENSOR:
                yield attr.t, label
            elif kind == AttributeProto.TENSORS:
                yield from ((t, label) for t in attr.tensors)
            elif kind == AttributeProto.SPARSE_TENSOR:
                yield from ((t, label) for t in (attr.sparse_tensor.values,
                                                 attr.sparse_tensor.indices))
            elif kind == AttributeProto.SPARSE_TENSORS:
                for sparse in attr.sparse_tensors:
                    yield from ((t, label) for t in (sparse.values, sparse.indices))
            for graph in ([attr.g] if kind == AttributeProto.GRAPH else
                          list(attr.graphs) if kind == AttributeProto.GRAPHS else []):
                inner = f"{label}.{attr.name}: "
                yield from in_graph(graph, inner)
                yield from in_nodes(graph.node, inner)


def tensor_bytes(tensor: Any, where: str, name: str) -> int:
    from onnx import helper

    if any(d < 0 for d in tensor.dims):
        raise ModelError(f"{name}: {where} declares negative dimensions {list(tensor.dims)}")
    try:
        itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
    except (KeyError, TypeError, ValueError):
        itemsize = 8  # string and unknown types: count them as 8-byte items
    return int(np.prod(tensor.dims, dtype=object)) * itemsize


def check_declared_size(proto: Any, name: str, limit: int) -> None:
    """Refuse a model whose tensors declare more bytes than ``limit``, before allocating."""
    total, biggest = 0, (0, "")
    for tensor, where in tensors(proto):
        size = tensor_bytes(tensor, where, name)
        total += size + TENSOR_OVERHEAD
        biggest = max(biggest, (size, where))
    if total > limit:
        raise ModelError(f"{name}: its tensors declare {total:,} bytes, over the memory limit of "
                         f"{limit:,} (largest: {biggest[1]}, {biggest[0]:,} bytes); pass "
                         "hetero.load(..., memory_limit=N) to allow more")


def check_tensor_data(proto: Any, name: str) -> None:
    """Refuse a tensor whose raw data does not hold exactly its dims' worth of elements:
    the ONNX checker lets it through, and NumPy failed on it later with a bare ValueError."""
    from onnx import TensorProto, helper

    for tensor, where in tensors(proto):
        if tensor.data_type in (TensorProto.STRING, TensorProto.UNDEFINED) or \
                not tensor.HasField("raw_data"):
            continue
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type))
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{name}: {where}: tensor {tensor.name!r} has unknown data type "
                             f"{tensor.data_type}") from None
        count = int(np.prod(tensor.dims, dtype=object))
        bits = PACKED_BITS.get(tensor.data_type, 8 * dtype.itemsize)
        want = (count * bits + 7) // 8
        if len(tensor.raw_data) != want:
            label = where if repr(tensor.name) in where else f"{where}, tensor {tensor.name!r}"
            raise ModelError(f"{name}: {label} declares dims "
                             f"{list(tensor.dims)} of {dtype} ({want:,} bytes) but holds "
                             f"{len(tensor.raw_data):,} bytes of data; the model is corrupt or "
                             "truncated: re-export it")


#: Bits per element of the types ONNX packs several to a byte (by TensorProto.DataType).
PACKED_BITS = {21: 4, 22: 4, 23: 4, 25: 2, 26: 2}  # UINT4, INT4, FLOAT4E2M1, UINT2, INT2


def external_location(tensor: Any) -> dict[str, str]:
    return {e.key: e.value for e in tensor.external_data}


def load_external_data(proto: Any, name: str, folder: Path | None) -> None:
    """Read external tensor data, refusing any file outside the model's folder."""
    from onnx import TensorProto

    for tensor, where in tensors(proto):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        info = external_location(tensor)
        location = info.get("location", "")
        if folder is None:
            raise ModelError(f"{name}: {where} keeps its data in external file {location!r}, "
                             "but the model was not loaded from a path; load it from its file")
        path = confined(folder, location, where, name)
        size = path.stat().st_size
        want = tensor_bytes(tensor, where, name)
        try:
            offset = int(info.get("offset", 0))
            length = int(info["length"]) if "length" in info else size - offset
        except ValueError as exc:
            raise ModelError(f"{name}: {where} has a malformed external offset/length "
                             f"({exc})") from exc
        if offset < 0 or offset + length > size or length != want:
            raise ModelError(f"{name}: {where} expects {want:,} bytes at offset {offset} of "
                             f"{location!r} ({size:,} bytes; length {length:,}): the file is "
                             "truncated or the model is corrupt")
        with path.open("rb") as f:
            f.seek(offset)
            tensor.raw_data = f.read(length)
        del tensor.external_data[:]
        tensor.data_location = TensorProto.DEFAULT


def confined(folder: Path, location: str, where: str, name: str) -> Path:
    """``location`` resolved inside ``folder``, or a ModelError."""
    if not location:
        raise ModelError(f"{name}: {where} is external but names no location")
    if Path(location).is_absolute() or location.startswith(("/", "\\")) or ":" in location:
        raise ModelError(f"{name}: {where} points at absolute path {location!r}; external data "
                         "must sit beside the model (refused: it could read any file)")
    try:
        path = (folder / location).resolve()
    except (ValueError, OSError) as exc:  # a NUL byte, a link loop
        raise ModelError(f"{name}: {where} names an unusable location {location!r} "
                         f"({exc})") from exc
    if folder != path and folder not in path.parents:
        raise ModelError(f"{name}: {where} points at {location!r}, outside the model's folder "
                         f"{folder} (refused: '..' or a link escapes it)")
    if not path.is_file():
        raise ModelError(f"{name}: {where} needs external data file {location!r}, which is not "
                         f"in {folder}")
    return path


def check(proto: Any, name: str, onnx: Any) -> None:
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:  # ValidationError, and ValueError where protobuf cannot parse
        raise ModelError(f"{name}: the ONNX checker refused it: {first_lines(exc)}") from exc


def infer_shapes(proto: Any, name: str, onnx: Any) -> Any:
    try:
        return onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True,
                                                 data_prop=True)
    except Exception as exc:  # InferenceError, and checker errors raised from inference
        raise ModelError(f"{name}: shape inference failed: {first_lines(exc)}") from exc


def first_lines(exc: Exception, count: int = 4) -> str:
    """ONNX's messages name the node ("Bad node spec for node. Name: ... OpType: ..."); keep
    them short enough to read."""
    return " ".join(str(exc).strip().splitlines()[:count])

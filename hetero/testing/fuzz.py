"""A seeded, structure-aware fuzzer for hetero's model path (``hetero.load`` →
``hetero.compile`` → ``Plan.run``): small valid ONNX seed models, mutated.

Issue 19's rule is that everything hetero raises on bad input is a ``HeteroError`` naming
what failed; this module makes the inputs that test it. A case is a pure function of
``(seed, index)`` (its own ``random.Random``), so any failure is reproduced by
``case(seed, index)`` alone, in any order, on any machine. Used by ``tests/test_fuzz.py``,
``benchmarks/fuzz.py`` and third-party backends (``check(case(s, i), devices=[...])``).

Mutations are structural (node inputs/outputs dropped, duplicated or renamed, op types,
attributes of the wrong type or value, dims 0/negative/huge, dtypes, initializer data
lengths, opsets, domains, graph inputs/outputs), on the serialized bytes (bit flips,
truncation, invalid UTF-8 in names and doc strings: protobuf refuses to *set* such strings,
so they are planted in the bytes) and on the feeds (text, ragged lists, None, wrong dtypes
and ranks, scalars, non-str keys, objects).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import hetero

OPSET = 17
#: op types a mutation may swap in (ones the seeds use, and others with other arities)
OPS = ["Relu", "Add", "Mul", "MatMul", "Gemm", "Conv", "Reshape", "Concat", "Slice",
       "Gather", "If", "Loop", "Softmax", "Transpose", "MaxPool", "AveragePool", "Split",
       "BatchNormalization", "Squeeze", "Unsqueeze", "Expand", "Tile", "Pad", "Cast",
       "ReduceSum", "Where", "TopK", "ConstantOfShape", "Range", "Shape", "Flatten", "Sigmoid",
       "Identity", "Dropout", "Clip", "Resize", "NonZero", "Einsum", "NoSuchOp", ""]
#: values an attribute may be given, of every attribute type
ATTR_VALUES: list[Any] = [0, -1, 1, 2, 7, -(2**31), 2**31, 2**62, 0.0, -1.5, float("nan"),
                          float("inf"), "", "NOTSET", "same_upper", "x" * 300, [], [0], [-1],
                          [1, 1], [0, 0, 0, 0], [2**40, 1], [-7, 3, 9], [1.5, 2.5], ["a", "b"]]
DIMS = [0, -1, -3, 1, 3, 2**31 - 1, 2**40, 2**62]
OPSETS = [0, 1, 5, 7, 9, 11, 13, 18, 21, 22, 99, 2**31 - 1]
DOMAINS = ["", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.example.nosuch", "ai.onnx.preview"]
#: a marker of plain ASCII planted in names and doc strings, swapped for invalid UTF-8 of the
#: same length once the model is bytes (so every length prefix still holds)
MARKER = b"FUZZMARK"
BAD_UTF8 = [b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", b"\xc3\x28\xa0\xa1\xe2\x28\xa1\x80",
            b"\xed\xa0\x80\xed\xbf\xbf\xf0\x28"]


# -- seed models ---------------------------------------------------------------------------------
def _tensor(name: str, array: np.ndarray) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(array), name)


def _model(nodes: list, inputs: list, outputs: list, inits: Sequence = (), name: str = "seed"
           ) -> Any:
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                             ir_version=8)


def _io(name: str, dtype: int, shape: Sequence[int | str | None]) -> Any:
    from onnx import helper

    return helper.make_tensor_value_info(name, dtype, list(shape))


def seed_models() -> dict[str, Any]:
    """A handful of small valid models, a few nodes each, over the common op families."""
    from onnx import TensorProto as T
    from onnx import helper as h

    f = T.FLOAT
    rng = np.random.default_rng(0)
    w = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    then = h.make_graph([h.make_node("Add", ["x", "x"], ["t"])], "then", [],
                        [_io("t", f, [2, 3])])
    other = h.make_graph([h.make_node("Mul", ["x", "x"], ["e"])], "else", [],
                         [_io("e", f, [2, 3])])
    body = h.make_graph(
        [h.make_node("Identity", ["cond_in"], ["cond_out"]),
         h.make_node("Add", ["acc_in", "one"], ["acc_out"])], "body",
        [_io("i", T.INT64, []), _io("cond_in", T.BOOL, []), _io("acc_in", f, [2])],
        [_io("cond_out", T.BOOL, []), _io("acc_out", f, [2])],
        [_tensor("one", np.ones(2, np.float32))])
    return {
        "gemm_relu": _model(
            [h.make_node("Gemm", ["x", "w", "b"], ["g"], name="gemm", transB=1),
             h.make_node("Relu", ["g"], ["y"], name="relu")],
            [_io("x", f, [2, 4])], [_io("y", f, [2, 3])],
            [_tensor("w", w(3, 4)), _tensor("b", w(3))]),
        "matmul_add": _model(
            [h.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
             h.make_node("Add", ["m", "b"], ["y"], name="add")],
            [_io("x", f, ["n", 3])], [_io("y", f, ["n", 5])],
            [_tensor("w", w(3, 5)), _tensor("b", w(5))]),
        "conv_pool": _model(
            [h.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1],
                         kernel_shape=[3, 3]),
             h.make_node("Relu", ["c"], ["r"], name="relu"),
             h.make_node("MaxPool", ["r"], ["y"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2])],
            [_io("x", f, [1, 2, 6, 6])], [_io("y", f, [1, 3, 3, 3])],
            [_tensor("w", w(3, 2, 3, 3)), _tensor("b", w(3))]),
        "reshape_concat": _model(
            [h.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
             h.make_node("Concat", ["r", "z"], ["c"], name="concat", axis=0),
             h.make_node("Transpose", ["c"], ["y"], name="transpose", perm=[1, 0])],
            [_io("x", f, [2, 3]), _io("z", f, [1, 2])], [_io("y", f, [2, 4])],
            [_tensor("shape", np.array([3, 2], np.int64))]),
        "slice_gather": _model(
            [h.make_node("Slice", ["x", "starts", "ends", "axes"], ["s"], name="slice"),
             h.make_node("Gather", ["s", "idx"], ["g"], name="gather", axis=1),
             h.make_node("Softmax", ["g"], ["y"], name="softmax", axis=-1)],
            [_io("x", f, [4, 5])], [_io("y", f, [3, 2])],
            [_tensor("starts", np.array([1], np.int64)), _tensor("ends", np.array([4], np.int64)),
             _tensor("axes", np.array([0], np.int64)), _tensor("idx", np.array([0, 4], np.int64))]),
        "if_branch": _model(
            [h.make_node("If", ["cond"], ["y"], name="if", then_branch=then, else_branch=other)],
            [_io("cond", T.BOOL, []), _io("x", f, [2, 3])], [_io("y", f, [2, 3])]),
        "loop_count": _model(
            [h.make_node("Loop", ["trips", "keep", "x"], ["y"], name="loop", body=body)],
            [_io("x", f, [2])], [_io("y", f, [2])],
            [_tensor("trips", np.array(3, np.int64)), _tensor("keep", np.array(True))]),
        "cast_reduce": _model(
            [h.make_node("Cast", ["x"], ["c"], name="cast", to=T.FLOAT),
             h.make_node("ReduceSum", ["c", "axes"], ["s"], name="sum", keepdims=1),
             h.make_node("Expand", ["s", "shape"], ["y"], name="expand")],
            [_io("x", T.INT32, [2, 3])], [_io("y", f, [2, 3])],
            [_tensor("axes", np.array([1], np.int64)),
             _tensor("shape", np.array([2, 3], np.int64))]),
    }


# -- structural mutations ------------------------------------------------------------------------
def _nodes(model: Any) -> list:
    """Every node, subgraph bodies included, so mutations reach inside If/Loop too."""
    from onnx import AttributeProto

    found, pending = [], [model.graph]
    while pending:
        graph = pending.pop()
        for node in graph.node:
            found.append(node)
            for attr in node.attribute:
                if attr.type == AttributeProto.GRAPH:
                    pending.append(attr.g)
    return found


def _values(model: Any) -> list:
    g = model.graph
    return [*g.input, *g.output, *g.value_info]


def _names(model: Any) -> list[str]:
    names = [n for node in _nodes(model) for n in [*node.input, *node.output]]
    return names + [v.name for v in _values(model)] + [t.name for t in model.graph.initializer]


def m_node_input(rng: random.Random, model: Any) -> str:
    node = rng.choice(_nodes(model))
    how = rng.choice(["drop", "duplicate", "rename", "empty", "other"])
    if how == "duplicate" or not node.input:
        node.input.append(node.input[0] if node.input else "x")
    elif how == "drop":
        del node.input[rng.randrange(len(node.input))]
    else:
        i = rng.randrange(len(node.input))
        node.input[i] = {"rename": "nowhere", "empty": "",
                         "other": rng.choice(_names(model))}[how]
    return f"input of {node.name or node.op_type}: {how}"


def m_node_output(rng: random.Random, model: Any) -> str:
    node = rng.choice(_nodes(model))
    how = rng.choice(["drop", "duplicate", "rename", "empty", "clash"])
    if how == "duplicate" or not node.output:
        node.output.append(node.output[0] if node.output else "y")
    elif how == "drop":
        del node.output[rng.randrange(len(node.output))]
    else:
        i = rng.randrange(len(node.output))
        node.output[i] = {"rename": "elsewhere", "empty": "",
                          "clash": rng.choice(_names(model))}[how]
    return f"output of {node.name or node.op_type}: {how}"


def m_op_type(rng: random.Random, model: Any) -> str:
    node = rng.choice(_nodes(model))
    node.op_type = rng.choice(OPS)
    return f"op_type of {node.name}: {node.op_type!r}"


def m_attribute(rng: random.Random, model: Any) -> str:
    from onnx import AttributeProto, helper

    node = rng.choice(_nodes(model))
    names = [a.name for a in node.attribute] + ["axis", "perm", "pads", "kernel_shape",
                                                 "strides", "to", "keepdims", "group", "mode"]
    name, value = rng.choice(names), rng.choice(ATTR_VALUES)
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(kept)
    if rng.random() < 0.8:
        kind = AttributeProto.INTS if value == [] else None  # an empty list has no type
        node.attribute.append(helper.make_attribute(name, value, attr_type=kind))
    return f"attribute {name} of {node.name}: {value!r}"


def m_dims(rng: random.Random, model: Any) -> str:
    values = _values(model)
    if not values:
        return "dims: no values"
    value = rng.choice(values)
    dims = value.type.tensor_type.shape.dim
    how = rng.choice(["set", "add", "drop", "param"])
    if how == "add" or not dims:
        dims.add().dim_value = rng.choice(DIMS)
    elif how == "drop":
        del dims[rng.randrange(len(dims))]
    elif how == "param":
        dims[rng.randrange(len(dims))].dim_param = rng.choice(["n", "", "\t", "x" * 100])
    else:
        dims[rng.randrange(len(dims))].dim_value = rng.choice(DIMS)
    return f"dims of {value.name}: {how}"


def m_dtype(rng: random.Random, model: Any) -> str:
    value = rng.choice(_values(model))
    value.type.tensor_type.elem_type = rng.choice(list(range(0, 27)) + [99])
    return f"elem_type of {value.name}: {value.type.tensor_type.elem_type}"


def m_initializer(rng: random.Random, model: Any) -> str:
    from onnx import TensorProto

    inits = list(model.graph.initializer)
    if not inits:
        return "initializer: none"
    t = rng.choice(inits)
    how = rng.choice(["dims", "dtype", "truncate", "grow", "typed", "empty", "drop"])
    if how == "dims":
        t.dims[:] = [rng.choice(DIMS[:5] + [2, 5]) for _ in range(rng.randrange(0, 4))]
    elif how == "dtype":
        t.data_type = rng.choice(list(range(0, 27)))
    elif how == "truncate" and t.raw_data:
        t.raw_data = t.raw_data[: rng.randrange(len(t.raw_data))]
    elif how == "grow":
        t.raw_data = t.raw_data + bytes(rng.randrange(1, 9))
    elif how == "typed":  # the data moved from raw_data to a typed field, maybe of the wrong type
        raw, t.raw_data = t.raw_data, b""
        t.float_data[:] = [1.0] * (len(raw) // 4 + rng.choice([-1, 0, 1]))
    elif how == "empty":
        t.ClearField("raw_data")
    else:
        model.graph.initializer.remove(t)
    if how == "dtype" and t.data_type == TensorProto.STRING:
        t.raw_data = b""
    return f"initializer {t.name}: {how}"


def m_opset(rng: random.Random, model: Any) -> str:
    opset = model.opset_import[0] if model.opset_import else model.opset_import.add()
    opset.version = rng.choice(OPSETS)
    if rng.random() < 0.3:
        opset.domain = rng.choice(DOMAINS)
    if rng.random() < 0.2:
        model.ir_version = rng.choice([0, 1, 3, 7, 10, 99])
    return f"opset {opset.domain!r} {opset.version}, ir {model.ir_version}"


def m_domain(rng: random.Random, model: Any) -> str:
    node = rng.choice(_nodes(model))
    node.domain = rng.choice(DOMAINS)
    return f"domain of {node.name}: {node.domain!r}"


def m_graph_io(rng: random.Random, model: Any) -> str:
    g = model.graph
    field_ = rng.choice([g.input, g.output])
    how = rng.choice(["drop", "duplicate", "clear"])
    if how == "drop" and len(field_):
        del field_[rng.randrange(len(field_))]
    elif how == "duplicate" and len(field_):
        field_.add().CopyFrom(field_[0])
    else:
        del field_[:]
    return f"graph {'inputs' if field_ is g.input else 'outputs'}: {how}"


def m_marker(rng: random.Random, model: Any) -> str:
    """Plant MARKER where a string lives; ``serialize`` turns it into invalid UTF-8."""
    where = rng.choice(["doc", "node", "value", "graph", "producer", "attr"])
    target = MARKER.decode()
    if where == "doc":
        rng.choice([model, model.graph, *_nodes(model)]).doc_string = target
    elif where == "node":
        rng.choice(_nodes(model)).name = target
    elif where == "value" and _values(model):
        rng.choice(_values(model)).name = target
    elif where == "graph":
        model.graph.name = target
    elif where == "producer":
        model.producer_name = target
    else:
        from onnx import helper

        rng.choice(_nodes(model)).attribute.append(helper.make_attribute("mode", target))
    return f"invalid UTF-8 in {where}"


MUTATIONS: list[Callable[[random.Random, Any], str]] = [
    m_node_input, m_node_output, m_op_type, m_attribute, m_dims, m_dtype, m_initializer,
    m_opset, m_domain, m_graph_io, m_marker]


# -- byte mutations ------------------------------------------------------------------------------
def serialize(rng: random.Random, model: Any) -> tuple[bytes, list[str]]:
    """The model's bytes with planted markers made invalid UTF-8 and, sometimes, bit flips or
    a truncation (what a damaged download looks like)."""
    data, done = model.SerializeToString(), []
    if MARKER in data:
        data = data.replace(MARKER, rng.choice(BAD_UTF8))
    roll = rng.random()
    if roll < 0.12 and data:
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        data, done = bytes(buf), ["bit flips"]
    elif roll < 0.18 and data:
        cut = rng.randrange(len(data))
        data, done = data[:cut], [f"truncated at {cut} of {len(data)}"]
    return data, done


# -- feeds ---------------------------------------------------------------------------------------
class Opaque:
    """An object no array conversion understands."""

    def __repr__(self) -> str:
        return "Opaque()"


def valid_feed(rng: random.Random, info: Any) -> Any:
    from onnx import helper

    tensor = info.type.tensor_type
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type))
    except Exception:  # an unknown or mutated elem_type
        dtype = np.dtype(np.float32)
    shape = tuple(min(d.dim_value, 6) if d.dim_value > 0 else 1 for d in tensor.shape.dim)
    data = np.random.default_rng(rng.randrange(2**32)).standard_normal(shape)
    try:
        with np.errstate(all="ignore"):
            return np.asarray(data > 0 if dtype.kind == "b" else data).astype(dtype)
    except (TypeError, ValueError):  # strings, bfloat16 and other types numpy cannot cast to
        return data.astype(np.float32)


def junk_feed(rng: random.Random, good: Any) -> Any:
    arr = np.asarray(good)
    make = rng.choice([
        lambda: "a string", lambda: b"\xff\xfe", lambda: None, lambda: 3, lambda: 2.5,
        lambda: True, lambda: [1, [2, 3]], lambda: [[1.0, 2.0], [3.0]], lambda: [],
        lambda: arr.tolist(), lambda: arr.astype(np.float64), lambda: arr.astype(np.int8),
        lambda: arr.astype(np.complex64), lambda: arr.astype(object),
        lambda: arr.astype(str), lambda: arr.reshape(-1), lambda: arr[None],
        lambda: np.float32(1.0), lambda: np.zeros((0,) * max(arr.ndim, 1), arr.dtype),
        lambda: np.full(arr.shape, np.nan, arr.dtype) if arr.dtype.kind == "f" else arr,
        lambda: np.zeros((7,) * arr.ndim, arr.dtype), lambda: Opaque(), lambda: {"a": 1},
        lambda: np.ma.masked_array(arr), lambda: arr.T if arr.ndim > 1 else arr[::-1],
    ])
    try:
        return make()
    except (TypeError, ValueError, IndexError):  # a cast or index numpy refuses here
        return None


def make_feeds(rng: random.Random, model: Any) -> Any:
    """Feeds for the model's inputs: valid ones mostly, then sometimes junk values, keys or
    containers."""
    inits = {t.name for t in model.graph.initializer}
    feeds: dict[Any, Any] = {i.name: valid_feed(rng, i) for i in model.graph.input
                             if i.name not in inits}
    roll = rng.random()
    if roll < 0.35 and feeds:
        key = rng.choice(list(feeds))
        feeds[key] = junk_feed(rng, feeds[key])
    elif roll < 0.42:
        feeds[rng.choice([0, None, b"x", ("x",), 1.5])] = np.zeros(2, np.float32)
    elif roll < 0.47 and feeds:
        del feeds[rng.choice(list(feeds))]
    elif roll < 0.50:
        feeds["unknown_input"] = np.zeros(2, np.float32)
    elif roll < 0.54:
        return rng.choice([None, [], "x", list(feeds.values()), 5])
    return feeds


# -- cases ---------------------------------------------------------------------------------------
@dataclass
class Case:
    """One fuzzed input: the model's bytes, the feeds and how they were made."""

    seed: int
    index: int
    base: str
    mutations: list[str]
    data: bytes
    feeds: Any = field(repr=False)

    def repro(self) -> str:
        """Python that rebuilds and checks this very case."""
        return (f"from hetero.testing.fuzz import case, check; "
                f"check(case({self.seed}, {self.index}), raise_foreign=True)"
                f"  # {self.base}: {'; '.join(self.mutations)}")


def mutate(rng: random.Random, model: Any) -> str:
    """One mutation picked at random; one with nothing left to act on (an earlier mutation
    cleared the graph's inputs) is a no-op."""
    chosen = MUTATIONS[rng.randrange(len(MUTATIONS))]
    try:
        return chosen(rng, model)
    except IndexError:  # random.choice of an empty list
        return f"{chosen.__name__}: nothing to mutate"


def case(seed: int, index: int) -> Case:
    """Case ``index`` of the run seeded ``seed``: a pure function of the two."""
    import onnx

    rng = random.Random(f"hetero-fuzz:{seed}:{index}")
    base = rng.choice(sorted(seed_models()))
    model = onnx.ModelProto()
    model.CopyFrom(seed_models()[base])
    done = [mutate(rng, model) for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3]))]
    feeds = make_feeds(rng, model)
    data, more = serialize(rng, model)
    return Case(seed, index, base, done + more, data, feeds)


def cases(seed: int, count: int, start: int = 0) -> Iterator[Case]:
    return (case(seed, i) for i in range(start, start + count))


@dataclass
class Outcome:
    """What a case did: "ok", "refused" (a HeteroError: the rule kept) or "foreign"
    (anything else: a defect); ``stage`` is where it ended."""

    kind: str
    stage: str
    error: str = ""
    detail: str = ""  # the traceback of a foreign exception
    ms: float = 0.0


def check(c: Case, devices: Sequence[Any] | None = None, timeout_ms: float = 5000,
          raise_foreign: bool = False) -> Outcome:
    """Run ``c`` through load, compile (on ``devices``; default the cpu) and run."""
    begun, stage = time.perf_counter(), "load"
    try:
        model = hetero.load(c.data)
        stage = "compile"
        plan = hetero.compile(model, devices=list(devices or [hetero.device("cpu")]))
        stage = "run"
        plan.run(c.feeds, timeout_ms=timeout_ms)
        kind, error, detail = "ok", "", ""
    except hetero.HeteroError as exc:
        kind, error, detail = "refused", f"{type(exc).__name__}: {exc}", ""
    except Exception as exc:
        if raise_foreign:
            raise
        kind, error = "foreign", f"{type(exc).__name__}: {exc}"
        detail = traceback.format_exc()
    return Outcome(kind, stage, error[:2000], detail[-6000:],
                   (time.perf_counter() - begun) * 1e3)


# -- plugin hook results ------------------------------------------------------------------------
class Raise:
    """A hook result that is raised rather than returned."""

    def __init__(self, exc: BaseException):
        self.exc = exc

    def __repr__(self) -> str:
        return f"Raise({self.exc!r})"


def hook_results(seed: int, count: int) -> list[Any]:
    """``count`` junk results for a plugin's hooks: wrong types, lists of junk, exceptions
    (SystemExit and GeneratorExit included; never KeyboardInterrupt, which is the user's)."""
    rng = random.Random(f"hetero-fuzz-hooks:{seed}")
    pool: list[Any] = [
        None, "abc", "", 42, -1, 3.5, float("nan"), True, b"\xff", [], [None], ["pcie9"],
        [1, "x", None], {"a": 1}, {}, (), Opaque(), [Opaque()], {Opaque()}, range(3),
        iter([1, 2]), np.zeros(3), [np.float32(1)], Raise(ValueError("hook broke")),
        Raise(SystemExit(3)), Raise(GeneratorExit()), Raise(RecursionError()),
        Raise(MemoryError()), Raise(TypeError("x")), Raise(StopIteration())]
    return [rng.choice(pool) for _ in range(count)]


class JunkPlugin:
    """A plugin whose hooks give ``results[hook name]`` (returned, or raised if a ``Raise``);
    register it with ``PluginSet.register``."""

    HETERO_PLUGIN_API = 1
    HOOKS = ("hetero_backends", "hetero_profiles", "hetero_links", "hetero_device_event",
             "hetero_estimate")

    def __init__(self, results: dict[str, Any]):
        self.results = results

    def give(self, hook: str) -> Any:
        found = self.results.get(hook)
        if isinstance(found, Raise):
            raise found.exc
        return found

    def hetero_backends(self) -> Any:
        return self.give("hetero_backends")

    def hetero_profiles(self) -> Any:
        return self.give("hetero_profiles")

    def hetero_links(self) -> Any:
        return self.give("hetero_links")

    def hetero_device_event(self, event: Any) -> Any:
        return self.give("hetero_device_event")

    def hetero_estimate(self, node: Any, graph: Any, device: Any, work: Any) -> Any:
        return self.give("hetero_estimate")


def _mark_hooks() -> None:
    for name in JunkPlugin.HOOKS:
        setattr(JunkPlugin, name, hetero.hookimpl(getattr(JunkPlugin, name)))


_mark_hooks()


# -- a driver for subprocesses (the test's watchdog, the benchmark) ------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Print a JSON line before each case (so a hang or crash names it) and one after."""
    args = argparse.ArgumentParser(prog="python -m hetero.testing.fuzz")
    args.add_argument("--seed", type=int, default=0)
    args.add_argument("--cases", type=int, default=100)
    args.add_argument("--start", type=int, default=0)
    args.add_argument("--timeout-ms", type=float, default=5000)
    args.add_argument("--sim", action="append", default=[],
                      help="also compile onto a simulated device of this profile")
    opts = args.parse_args(argv)
    devices = [hetero.device("cpu"), *(hetero.sim.attach(p) for p in opts.sim)]
    for c in cases(opts.seed, opts.cases, opts.start):
        print(json.dumps({"start": c.index, "repro": c.repro()}), flush=True)
        outcome = check(c, devices, opts.timeout_ms)
        print(json.dumps({"index": c.index, "repro": c.repro(), **vars(outcome)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

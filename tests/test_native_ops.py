"""The CPU's native ops and the passes around them, at the edges a review found: old-opset
meanings, constant folding of them, zero-size tensors, integer Gemm, duplicate node names,
folding within the memory limit, and feeds checked against the declared inputs."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import hetero
from hetero import ModelError

RNG = np.random.default_rng(3)


def one_node(op: str, opset: int, shape=(2, 3, 4), dtype=TensorProto.FLOAT, inputs=("x",),
             weights=(), out_shape=None, **attrs) -> hetero.Model:
    graph = helper.make_graph(
        [helper.make_node(op, list(inputs), ["y"], **attrs)], "g",
        [helper.make_tensor_value_info("x", dtype, shape)],
        [helper.make_tensor_value_info("y", dtype, out_shape or shape)],
        [numpy_helper.from_array(v, k) for k, v in weights])
    return hetero.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]))


def run(model: hetero.Model, x: np.ndarray, **compile_args) -> tuple[np.ndarray, str]:
    plan = hetero.compile(model, devices=[hetero.device("cpu")], **compile_args)
    return plan.run({"x": x})["y"], plan.decisions[0].tier if plan.decisions else "folded"


def coerced_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    rows = x.reshape(int(np.prod(x.shape[:axis])), -1)
    e = np.exp(rows - rows.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).reshape(x.shape)


@pytest.mark.parametrize("op", ["Softmax", "Hardmax"])
def test_old_opsets_normalise_the_flattened_rows(registry, op):
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    got, tier = run(one_node(op, 11, axis=1), x)
    assert tier == "native"
    want = coerced_softmax(x, 1)
    if op == "Hardmax":
        rows = want.reshape(2, -1)
        want = (rows == rows.max(axis=1, keepdims=True)).astype(np.float32).reshape(x.shape)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_an_old_opset_softmax_on_constants_is_not_folded_wrongly(registry):
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["k"], ["s"], axis=1),
         helper.make_node("Add", ["x", "s"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 4])],
        [numpy_helper.from_array(x, "k")])
    model = hetero.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]))
    plan = hetero.compile(model, devices=[hetero.device("cpu")])
    np.testing.assert_allclose(plan.run({"x": np.zeros_like(x)})["y"], coerced_softmax(x, 1),
                               rtol=1e-6)


def test_pre_opset7_broadcast_aligns_at_the_axis(registry):
    b = np.arange(3, dtype=np.float32)
    model = one_node("Add", 6, inputs=("x", "b"), weights=[("b", b)], broadcast=1, axis=1)
    x = np.ones((2, 3, 4), np.float32)
    got, tier = run(model, x, passes=())
    assert tier == "native"  # onnx.reference ignores the attributes and fails to broadcast
    np.testing.assert_array_equal(got, x + b.reshape(1, 3, 1))


def test_zero_size_tensors_flatten_and_softmax(registry):
    x = np.zeros((0, 3), np.float32)
    assert run(one_node("Flatten", 13, shape=(0, 3), axis=1), x)[0].shape == (0, 3)
    assert run(one_node("Softmax", 11, shape=(0, 3), axis=1), x)[0].shape == (0, 3)


def test_integer_gemm_scales_before_casting(registry):
    b = np.arange(6, dtype=np.int32).reshape(3, 2)
    model = one_node("Gemm", 13, shape=(2, 3), dtype=TensorProto.INT32, inputs=("x", "b"),
                     weights=[("b", b)], out_shape=(2, 2), alpha=0.5)
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    np.testing.assert_array_equal(run(model, x)[0], ((x @ b) * 0.5).astype(np.int32))


def test_duplicate_node_names_are_made_unique(registry):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["a"], name="n"),
         helper.make_node("Neg", ["a"], ["y"], name="n")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    model = hetero.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    plan = hetero.compile(model, devices=[hetero.device("cpu")])
    assert sorted(plan.placement) == ["n", "n__2"]
    np.testing.assert_array_equal(plan.run({"x": np.array([-1, 0, 2], np.float32)})["y"],
                                  [0, 0, -2])


def test_folding_stays_within_the_memory_limit(registry):
    shape = numpy_helper.from_array(np.array([4096, 4096], np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["shape"], ["big"]),
         helper.make_node("ReduceSum", ["big"], ["s"], keepdims=0),
         helper.make_node("Add", ["x", "s"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])], [shape])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    small = hetero.compile(hetero.load(proto, memory_limit=2**20), devices=[hetero.device("cpu")])
    assert "ConstantOfShape" in [n.op_type for n in small.graph.nodes]  # 128 MiB: not folded
    roomy = hetero.compile(hetero.load(proto), devices=[hetero.device("cpu")])
    assert [n.op_type for n in roomy.graph.nodes] == ["Add"]


def test_feeds_must_match_the_declared_inputs(registry):
    model = one_node("Relu", 18, shape=(2, 3))
    plan = hetero.compile(model, devices=[hetero.device("cpu")])
    with pytest.raises(ModelError, match=r"'x' has shape \(4, 5\); the model declares \(2, 3\)"):
        plan.run({"x": np.zeros((4, 5), np.float32)})
    got = plan.run({"x": [[1, -2, 3], [-4, 5, -6]]})["y"]  # a list takes the declared type
    assert got.dtype == np.float32 and got.tolist() == [[1, 0, 3], [0, 5, 0]]
    weighted = one_node("Add", 18, shape=(3,), inputs=("x", "w"), weights=[("w", np.ones(3,
                                                                              np.float32))])
    with pytest.raises(ModelError, match="w are initializers"):
        hetero.compile(weighted, devices=[hetero.device("cpu")]).run(
            {"x": np.zeros(3, np.float32), "w": np.zeros(3, np.float32)})


def by_definition(op: str, attrs: dict, x: np.ndarray) -> np.ndarray:
    """ONNX's formula in float64, element by element with math.erf and math.tanh."""
    import math

    v = x.astype(np.float64)
    erf = np.vectorize(math.erf)
    if op == "Erf":
        return erf(v).astype(x.dtype)
    if attrs.get("approximate") == "tanh":
        inner = np.vectorize(math.tanh)(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))
        return (0.5 * v * (1 + inner)).astype(x.dtype)
    with np.errstate(invalid="ignore"):  # -inf * 0: NaN, as the loop computes it
        return (0.5 * v * (1 + erf(v / math.sqrt(2)))).astype(x.dtype)


ERF_INPUTS = np.array([[-np.inf, -3.0, -0.5, -0.0, 0.0, 1e-8], [0.5, 1.0, 2.5, 6.0, np.inf,
                                                                np.nan]])


@pytest.mark.parametrize("dtype", [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16])
@pytest.mark.parametrize(("op", "opset", "attrs"), [
    ("Erf", 13, {}), ("Gelu", 20, {}), ("Gelu", 20, {"approximate": "tanh"})])
def test_erf_and_gelu_are_native_and_match_onnx_runtime(registry, op, opset, attrs, dtype):
    """Issue 21: Erf ran on the reference tier (0.67 ms for 8192 values); now one compiled
    loop, checked against ONNX Runtime at the edges (infinities, NaN, signed zero, tiny)."""
    ort = pytest.importorskip("onnxruntime")
    from onnx import helper as h

    numpy_type = helper.tensor_dtype_to_np_dtype(dtype)
    x = np.concatenate([ERF_INPUTS, RNG.standard_normal((2, 6)) * 3]).astype(numpy_type)
    model = one_node(op, opset, shape=x.shape, dtype=dtype, **attrs)
    got, tier = run(model, x)
    assert tier == "native" and got.dtype == x.dtype
    proto = h.make_model(model.proto.graph, opset_imports=[h.make_opsetid("", opset)])
    try:
        session = ort.InferenceSession(proto.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        want = session.run(None, {"x": x})[0]
    except ort.capi.onnxruntime_pybind11_state.NotImplemented:  # ORT's CPU lacks this dtype
        want = by_definition(op, attrs, x)
    tolerance = 1e-3 if dtype == TensorProto.FLOAT16 else 1e-6
    np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance, equal_nan=True)


@pytest.mark.parametrize("op", ["Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal", "Floor",
                                "Ceil", "Sin", "Cos", "Not"])
def test_one_ufunc_ops_are_native_and_match_onnx_s_reference(registry, op):
    """Issue 21: on the reference tier each cost ~10 us more a node than a native op."""
    from onnx.reference import ReferenceEvaluator

    dtype = TensorProto.BOOL if op == "Not" else TensorProto.FLOAT
    x = (RNG.standard_normal((3, 5)) > 0) if op == "Not" else np.concatenate(
        [RNG.standard_normal((2, 5)) * 4, [[-1.0, 0.0, -0.0, np.inf, np.nan]]]).astype(np.float32)
    model = one_node(op, 13, shape=x.shape, dtype=dtype)
    got, tier = run(model, x)
    with np.errstate(all="ignore"):
        want = ReferenceEvaluator(model.proto).run(None, {"x": x})[0]
    assert tier == "native" and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)

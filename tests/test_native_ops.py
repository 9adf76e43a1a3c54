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

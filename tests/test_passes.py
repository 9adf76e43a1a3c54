"""Each graph pass rewrites what it should and keeps the outputs: every test runs the model
with no passes and with the one pass, and compares."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import hetero
from hetero import HeteroError, UnsupportedOp

RNG = np.random.default_rng(7)


def model(nodes, inputs, outputs, weights=(), opset=18) -> hetero.Model:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in dict(weights).items()])
    return hetero.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]))


def compare(m: hetero.Model, name: str, feeds: dict) -> list[str]:
    """Outputs without passes == outputs with ``name`` alone; the op types left after it."""
    cpu = [hetero.device("cpu")]
    plain = hetero.compile(m, devices=cpu, passes=())
    once = hetero.compile(m, devices=cpu, passes=[name])
    want, got = plain.run(feeds), once.run(feeds)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6)
    return [n.op_type for n in once.graph.nodes]


def test_identity_and_inference_dropout_are_removed(registry):
    m = model([helper.make_node("Identity", ["x"], ["a"]),
               helper.make_node("Dropout", ["a"], ["b"]),
               helper.make_node("Relu", ["b"], ["y"])], [("x", [2, 3])], [("y", [2, 3])])
    ops = compare(m, "remove_identity", {"x": RNG.standard_normal((2, 3), np.float32)})
    assert ops == ["Relu"]


def test_constant_subgraphs_fold_including_constant_of_shape_chains(registry):
    zeros = helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])
    m = model([helper.make_node("Shape", ["x"], ["s"]),
               helper.make_node("ConstantOfShape", ["s"], ["half"], value=zeros),
               helper.make_node("Constant", [], ["two"], value_float=2.0),
               helper.make_node("Mul", ["half", "two"], ["one"]),
               helper.make_node("Add", ["x", "one"], ["y"])], [("x", [2, 3])], [("y", [2, 3])])
    ops = compare(m, "fold_constants", {"x": RNG.standard_normal((2, 3), np.float32)})
    assert ops == ["Add"]


def bn_weights(channels: int, prefix: str) -> dict:
    return {f"{prefix}_scale": RNG.uniform(0.5, 1.5, channels),
            f"{prefix}_bias": RNG.standard_normal(channels),
            f"{prefix}_mean": RNG.standard_normal(channels),
            f"{prefix}_var": RNG.uniform(0.5, 1.5, channels)}


def bn(source: str, out: str, prefix: str):
    return helper.make_node("BatchNormalization", [source, *(f"{prefix}_{k}" for k in
                                                            ("scale", "bias", "mean", "var"))],
                            [out], epsilon=1e-3)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_batchnorm_folds_into_conv_and_gemm(registry, trans_b):
    weights = {"w": RNG.standard_normal((4, 3, 3, 3)), "b": RNG.standard_normal(4),
               "g": RNG.standard_normal((5, 4) if trans_b else (4, 5)),
               "c": RNG.standard_normal(5), **bn_weights(4, "bn1"), **bn_weights(5, "bn2")}
    m = model([helper.make_node("Conv", ["x", "w", "b"], ["c1"], pads=[1, 1, 1, 1]),
               bn("c1", "n1", "bn1"),
               helper.make_node("GlobalAveragePool", ["n1"], ["p"]),
               helper.make_node("Flatten", ["p"], ["f"]),
               helper.make_node("Gemm", ["f", "g", "c"], ["c2"], transB=trans_b, alpha=0.5,
                                beta=2.0),
               bn("c2", "y", "bn2")],
              [("x", [2, 3, 6, 6])], [("y", [2, 5])], weights)
    ops = compare(m, "fold_batchnorm", {"x": RNG.standard_normal((2, 3, 6, 6), np.float32)})
    assert "BatchNormalization" not in ops and ops.count("Conv") == ops.count("Gemm") == 1


def test_relu_fuses_into_conv_and_gemm(registry):
    weights = {"w": RNG.standard_normal((4, 3, 1, 1)), "g": RNG.standard_normal((4, 2))}
    m = model([helper.make_node("Conv", ["x", "w"], ["c"]),
               helper.make_node("Relu", ["c"], ["r"]),
               helper.make_node("Flatten", ["r"], ["f"]),
               helper.make_node("Gemm", ["f", "g"], ["h"]),
               helper.make_node("Relu", ["h"], ["y"])], [("x", [2, 3, 1, 1])], [("y", [2, 2])],
              weights)
    ops = compare(m, "fuse_activation", {"x": RNG.standard_normal((2, 3, 1, 1), np.float32)})
    assert ops == ["FusedConv", "Flatten", "FusedGemm"]


def test_a_relu_whose_input_is_read_twice_is_not_fused(registry):
    m = model([helper.make_node("Conv", ["x", "w"], ["c"]),
               helper.make_node("Relu", ["c"], ["r"]),
               helper.make_node("Add", ["r", "c"], ["y"])], [("x", [1, 2, 3, 3])],
              [("y", [1, 2, 3, 3])], {"w": RNG.standard_normal((2, 2, 1, 1))})
    ops = compare(m, "fuse_activation", {"x": RNG.standard_normal((1, 2, 3, 3), np.float32)})
    assert ops == ["Conv", "Relu", "Add"]


def test_dead_nodes_and_their_constants_go(registry):
    m = model([helper.make_node("Relu", ["x"], ["y"]),
               helper.make_node("Mul", ["x", "k"], ["unused"])], [("x", [3])], [("y", [3])],
              {"k": np.ones(3)})
    cpu = [hetero.device("cpu")]
    plan = hetero.compile(m, devices=cpu, passes=["eliminate_dead"])
    assert [n.op_type for n in plan.graph.nodes] == ["Relu"] and "k" not in plan.graph.constants
    assert compare(m, "eliminate_dead", {"x": np.array([-1, 0, 2], np.float32)}) == ["Relu"]


def test_unknown_passes_and_pins_on_merged_nodes_are_refused(registry):
    m = model([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
               helper.make_node("Relu", ["c"], ["y"], name="relu")], [("x", [1, 1, 2, 2])],
              [("y", [1, 1, 2, 2])], {"w": np.ones((1, 1, 1, 1))})
    with pytest.raises(HeteroError, match="unknown graph pass.*fold_everything"):
        hetero.compile(m, devices=[hetero.device("cpu")], passes=["fold_everything"])
    with pytest.raises(UnsupportedOp, match="pins relu, which the graph passes removed"):
        hetero.compile(m, devices=[hetero.device("cpu")], placement={"relu": "cpu:0"})
    plan = hetero.compile(m, devices=[hetero.device("cpu")], placement={"relu": "cpu:0"},
                          passes=())
    assert plan.placement == {"conv": "cpu:0", "relu": "cpu:0"}


def test_fused_nodes_also_run_on_the_reference_tier(registry):
    """A device without native fused ops still runs them: the reference tier unfuses."""
    from hetero.graph.reference import ReferenceNode, reference_supports

    weights = {"w": RNG.standard_normal((4, 3, 3, 3))}
    m = model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
               helper.make_node("Relu", ["c"], ["y"])], [("x", [1, 3, 5, 5])],
              [("y", [1, 4, 5, 5])], weights)
    plan = hetero.compile(m, devices=[hetero.device("cpu")])
    (fused,) = plan.graph.nodes
    assert fused.op_type == "FusedConv" and reference_supports(fused, plan.graph)
    x = RNG.standard_normal((1, 3, 5, 5), np.float32)
    (got,) = ReferenceNode(fused, plan.graph)({"x": x, "w": plan.graph.constants["w"]})
    np.testing.assert_allclose(got, plan.run({"x": x})["y"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("chain", [["Mul", "Add"], ["Div", "Sub"], ["Mul"]])
def test_per_channel_constants_fold_into_the_conv_before_them(registry, chain):
    weights = {"w": RNG.standard_normal((4, 3, 3, 3)), "b": RNG.standard_normal(4)}
    nodes, source = [helper.make_node("Conv", ["x", "w", "b"], ["c0"], pads=[1, 1, 1, 1])], "c0"
    for i, op in enumerate(chain):
        weights[f"k{i}"] = RNG.uniform(0.5, 1.5, (4, 1, 1))
        nodes.append(helper.make_node(op, [source, f"k{i}"], [f"c{i + 1}"]))
        source = f"c{i + 1}"
    nodes.append(helper.make_node("Relu", [source], ["y"]))
    m = model(nodes, [("x", [2, 3, 5, 5])], [("y", [2, 4, 5, 5])], weights)
    ops = compare(m, "fold_affine", {"x": RNG.standard_normal((2, 3, 5, 5), np.float32)})
    assert ops == ["Conv", "Relu"]


def test_constants_that_are_not_per_channel_or_a_shared_conv_do_not_fold(registry):
    weights = {"w": RNG.standard_normal((4, 3, 1, 1)), "row": RNG.standard_normal((1, 1, 5)),
               "k": RNG.standard_normal((4, 1, 1))}
    m = model([helper.make_node("Conv", ["x", "w"], ["c"]),
               helper.make_node("Mul", ["c", "row"], ["a"]),  # varies along W: no fold
               helper.make_node("Conv", ["x", "w"], ["d"]),
               helper.make_node("Mul", ["d", "k"], ["e"]),
               helper.make_node("Add", ["e", "d"], ["f"]),  # d read twice: no fold
               helper.make_node("Add", ["a", "f"], ["y"])],
              [("x", [1, 3, 5, 5])], [("y", [1, 4, 5, 5])], weights)
    ops = compare(m, "fold_affine", {"x": RNG.standard_normal((1, 3, 5, 5), np.float32)})
    assert ops == ["Conv", "Mul", "Conv", "Mul", "Add", "Add"]


def test_mul_and_add_after_a_batchnorm_fold_into_its_scale_and_bias(registry):
    weights = {**bn_weights(4, "bn"), "k": RNG.uniform(0.5, 1.5, (4, 1, 1)),
               "d": RNG.standard_normal((1, 4, 1, 1))}
    m = model([bn("x", "n", "bn"), helper.make_node("Mul", ["n", "k"], ["s"]),
               helper.make_node("Add", ["d", "s"], ["y"])],
              [("x", [2, 4, 3, 3])], [("y", [2, 4, 3, 3])], weights)
    ops = compare(m, "fold_affine", {"x": RNG.standard_normal((2, 4, 3, 3), np.float32)})
    assert ops == ["BatchNormalization"]


def residual_block(shortcut_shape=(1, 4, 5, 5), conv_reads: int = 1) -> hetero.Model:
    weights = {"w": RNG.standard_normal((4, 4, 3, 3)), "b": RNG.standard_normal(4)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["s", "c"], ["sum"]),
             helper.make_node("Relu", ["sum"], ["y"])]
    outputs = [("y", [1, 4, 5, 5])]
    if conv_reads == 2:
        outputs.append(("c", [1, 4, 5, 5]))
    return model(nodes, [("x", [1, 4, 5, 5]), ("s", list(shortcut_shape))], outputs, weights)


def test_conv_add_relu_becomes_one_fused_conv_with_a_residual(registry):
    feeds = {"x": RNG.standard_normal((1, 4, 5, 5), np.float32),
             "s": RNG.standard_normal((1, 4, 5, 5), np.float32)}
    ops = compare(residual_block(), "fuse_residual", feeds)
    assert ops == ["FusedConv"]
    plan = hetero.compile(residual_block(), devices=[hetero.device("cpu")],
                          passes=["fuse_residual"])
    assert plan.graph.nodes[0].inputs == ["x", "w", "b", "s"]


@pytest.mark.parametrize("shortcut, reads", [((1, 4, 1, 1), 1), ((1, 4, 5, 5), 2)],
                         ids=["broadcast-shortcut", "conv-output-read-twice"])
def test_a_residual_that_broadcasts_or_a_shared_conv_output_is_not_fused(registry, shortcut,
                                                                         reads):
    feeds = {"x": RNG.standard_normal((1, 4, 5, 5), np.float32),
             "s": RNG.standard_normal(shortcut, np.float32)}
    assert compare(residual_block(shortcut, reads), "fuse_residual", feeds) == \
        ["Conv", "Add", "Relu"]


def test_batchnorm_then_relu_fuses(registry):
    m = model([bn("x", "n", "bn"), helper.make_node("Relu", ["n"], ["y"])],
              [("x", [2, 4, 3, 3])], [("y", [2, 4, 3, 3])], bn_weights(4, "bn"))
    ops = compare(m, "fuse_activation", {"x": RNG.standard_normal((2, 4, 3, 3), np.float32)})
    assert ops == ["FusedBatchNormalization"]


def test_fused_residual_conv_and_batchnorm_run_on_the_reference_tier(registry):
    from hetero.graph.reference import ReferenceNode

    feeds = {"x": RNG.standard_normal((1, 4, 5, 5), np.float32),
             "s": RNG.standard_normal((1, 4, 5, 5), np.float32)}
    plan = hetero.compile(residual_block(), devices=[hetero.device("cpu")])
    (fused,) = plan.graph.nodes
    (got,) = ReferenceNode(fused, plan.graph)({**feeds, **plan.graph.constants})
    np.testing.assert_allclose(got, plan.run(feeds)["y"], rtol=1e-5, atol=1e-5)

    m = model([bn("x", "n", "bn"), helper.make_node("Relu", ["n"], ["y"])],
              [("x", [2, 4, 3, 3])], [("y", [2, 4, 3, 3])], bn_weights(4, "bn"))
    plan = hetero.compile(m, devices=[hetero.device("cpu")])
    x = RNG.standard_normal((2, 4, 3, 3), np.float32)
    (got,) = ReferenceNode(plan.graph.nodes[0], plan.graph)({"x": x, **plan.graph.constants})
    np.testing.assert_allclose(got, plan.run({"x": x})["y"], rtol=1e-5, atol=1e-6)


def test_a_channel_shuffle_becomes_one_node_and_unfuses_on_the_reference_tier(registry):
    from hetero.graph.reference import ReferenceNode

    shapes = {"split": np.array([1, 3, 4, 2, 2]), "back": np.array([1, 12, 2, 2])}
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "split"], ["a"]),
         helper.make_node("Transpose", ["a"], ["b"], perm=[0, 2, 1, 3, 4]),
         helper.make_node("Reshape", ["b", "back"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 12, 2, 2])],
        [numpy_helper.from_array(v, k) for k, v in shapes.items()])
    m = hetero.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    x = RNG.standard_normal((1, 12, 2, 2), np.float32)
    assert compare(m, "fuse_channel_shuffle", {"x": x}) == ["ChannelShuffle"]
    plan = hetero.compile(m, devices=[hetero.device("cpu")], passes=["fuse_channel_shuffle"])
    want = x.reshape(1, 3, 4, 2, 2).transpose(0, 2, 1, 3, 4).reshape(x.shape)
    np.testing.assert_array_equal(plan.run({"x": x})["y"], want)
    (got,) = ReferenceNode(plan.graph.nodes[0], plan.graph)({"x": x, **plan.graph.constants})
    np.testing.assert_array_equal(got, want)

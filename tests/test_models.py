"""The light models that ship with onnx (ResNet-50, DenseNet-121, Inception v1/v2, ShuffleNet,
SqueezeNet, VGG-19, AlexNet, ZFNet), their constant weights replaced by seeded random values:
hetero's outputs match ONNX Runtime's within rtol 1e-3 / atol 1e-4."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import onnx.backend.test
import pytest
from onnx import helper, numpy_helper

import hetero

LIGHT = Path(os.path.dirname(onnx.backend.test.__file__)) / "data" / "light"
MODELS = ["resnet50", "densenet121", "inception_v1", "inception_v2", "shufflenet", "squeezenet",
          "vgg19", "bvlc_alexnet", "zfnet512"]


def randomised(path: Path, seed: int = 0) -> onnx.ModelProto:
    """The model with every weight random: weights ~ N(0, 1/fan_in), biases ~ N(0, 0.1) and
    normalisation statistics ~ U(0.5, 1.5) (positive, like variances), so activations stay
    O(1). The light models build their constant weights with ConstantOfShape nodes; those
    become initializers."""
    model = onnx.load(path)
    rng = np.random.default_rng(seed)
    statistics = {name for node in model.graph.node if node.op_type == "BatchNormalization"
                  for name in node.input[1:]}
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in [n for n in model.graph.node if n.op_type == "ConstantOfShape"
                 and n.input[0] in weights]:
        value = numpy_helper.to_array(node.attribute[0].t) if node.attribute else np.zeros(1)
        weights[node.output[0]] = np.zeros(weights[node.input[0]], value.dtype)
        model.graph.node.remove(node)
        if model.ir_version < 4:  # initializers must also be graph inputs there
            model.graph.input.append(helper.make_tensor_value_info(
                node.output[0], helper.np_dtype_to_tensor_dtype(value.dtype),
                weights[node.output[0]].shape))

    def draw(name: str, value: np.ndarray) -> np.ndarray:
        if value.dtype.kind != "f":
            return value
        if name in statistics:
            new = rng.uniform(0.5, 1.5, value.shape)
        elif value.ndim >= 2:
            new = rng.standard_normal(value.shape) / np.sqrt(np.prod(value.shape[1:]))
        else:
            new = rng.normal(0, 0.1, value.shape)
        return new.astype(value.dtype)

    del model.graph.initializer[:]
    model.graph.initializer.extend(numpy_helper.from_array(draw(name, value), name)
                                   for name, value in weights.items())
    return model


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name, passes", [*((m, None) for m in MODELS),
                                          ("resnet50", ()), ("inception_v2", ())],
                         ids=[*MODELS, "resnet50-no-passes", "inception_v2-no-passes"])
def test_light_model_with_random_weights_matches_onnx_runtime(registry, name, passes):
    """With every graph pass (the default), and with none for two BatchNorm-heavy models."""
    ort = pytest.importorskip("onnxruntime")
    model = randomised(LIGHT / f"light_{name}.onnx")
    plan = hetero.compile(hetero.load(model), devices=[hetero.device("cpu")], passes=passes)
    (data,) = plan.graph.inputs
    x = np.random.default_rng(1).standard_normal(data.shape).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, {data.name: x})
    got = plan.run({data.name: x})
    for out, expected in zip(plan.graph.outputs, want, strict=True):
        np.testing.assert_allclose(got[out.name], expected, rtol=1e-3, atol=1e-4,
                                   err_msg=f"{name}: output {out.name}")

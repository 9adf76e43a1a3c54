"""The light models that ship with onnx (ResNet-50, DenseNet-121, Inception v1/v2, ShuffleNet,
SqueezeNet, VGG-19, AlexNet, ZFNet), their constant weights replaced by seeded random values:
hetero's outputs match ONNX Runtime's within rtol 1e-3 / atol 1e-4."""

from __future__ import annotations

import numpy as np
import pytest

import hetero
from hetero.testing.models import LIGHT, MODELS, randomised

__all__ = ["LIGHT", "MODELS", "randomised"]  # the benchmarks import them from here


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

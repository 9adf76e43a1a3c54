"""Real models to try hetero on without a download: the light models that ship inside the onnx
package (ResNet-50, DenseNet-121, Inception v1/v2, ShuffleNet, SqueezeNet, VGG-19, AlexNet,
ZFNet), their constant weights replaced by seeded random values so that activations stay in
range. The tests, the benchmarks and the README's tour use them.

    python -m hetero.testing.models squeezenet squeezenet.onnx   # write one to a file
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import onnx
import onnx.backend.test
from onnx import helper, numpy_helper

from hetero.errors import ArgumentError

LIGHT = Path(os.path.dirname(onnx.backend.test.__file__)) / "data" / "light"
MODELS = ["resnet50", "densenet121", "inception_v1", "inception_v2", "shufflenet", "squeezenet",
          "vgg19", "bvlc_alexnet", "zfnet512"]


def light_model(name: str, seed: int = 0) -> onnx.ModelProto:
    """One of ``MODELS`` with seeded random weights."""
    if name not in MODELS:
        raise ArgumentError(f"model {name!r}: choose one of {', '.join(MODELS)}")
    return randomised(LIGHT / f"light_{name}.onnx", seed)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hetero.testing.models",
                                     description="write a light model with random weights")
    parser.add_argument("name", choices=MODELS)
    parser.add_argument("path", help="where to write the .onnx file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    onnx.save(light_model(args.name, args.seed), args.path)
    print(f"wrote {args.path}: {args.name} (seeded random weights, seed {args.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

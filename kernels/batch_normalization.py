"""BatchNormalization in inference mode: y = (x - mean) / sqrt(var + epsilon) * scale + B,
per channel (axis 1)."""

from __future__ import annotations

import numpy as np
from hetero.kernels.base import (
    FLOATS,
    Case,
    Cost,
    Op,
    io_bytes,
    launch,
    numel,
    output,
    random,
    register,
)

import hetero


@hetero.kernel
def batch_norm(x, scale, bias, mean, var, y, channels, inner, epsilon):
    i = hetero.global_id(0)
    c = (i // inner) % channels
    y[i] = (x[i] - mean[c]) / hetero.sqrt(var[c] + epsilon) * scale[c] + bias[c]


def run(device, inputs, attrs):
    x, scale, bias, mean, var = inputs[:5]
    if attrs.get("training_mode", 0):
        raise hetero.UnsupportedOp("BatchNormalization: training_mode=1 is not supported; "
                                   "export the model for inference")
    y = output(device, x.shape, x.dtype)
    channels = x.shape[1] if x.ndim > 1 else 1
    launch(batch_norm, device, numel(x.shape), None, x.reshape(-1), scale, bias, mean, var,
           y.reshape(-1), channels, numel(x.shape[2:]), float(attrs.get("epsilon", 1e-5)))
    return [y]


def reference(xs, attrs):
    x, scale, bias, mean, var = (a.astype(np.float64) for a in xs[:5])
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + attrs.get("epsilon", 1e-5))
    return [(y * scale.reshape(shape) + bias.reshape(shape)).astype(xs[0].dtype)]


def cases(dtype, rng):
    def params(c):
        return (random(rng, (c,), dtype), random(rng, (c,), dtype), random(rng, (c,), dtype),
                random(rng, (c,), dtype, 0.5, 2.0))

    return [Case("(2,3,4,5)", (random(rng, (2, 3, 4, 5), dtype), *params(3))),
            Case("(4,6) eps=0.01", (random(rng, (4, 6), dtype), *params(6)), {"epsilon": 0.01})]


register(Op(name="BatchNormalization", since=(9, 14, 15), dtypes=FLOATS,
            infer=lambda xs, attrs: [xs[0]],
            cost=lambda xs, attrs: Cost(numel(xs[0].shape) * 5, io_bytes(xs, xs[:1])),
            reference=reference, run=run, cases=cases, kernels=(batch_norm,)))

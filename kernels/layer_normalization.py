"""LayerNormalization (opset 17): normalise over the trailing axes from ``axis`` on; also the
optional Mean and InvStdDev outputs, kept in float32 (the default stash_type)."""

from __future__ import annotations

import numpy as np
from hetero.kernels.base import (
    FLOATS,
    Case,
    Cost,
    Op,
    TensorInfo,
    io_bytes,
    launch,
    normalise_axis,
    numel,
    output,
    random,
    register,
)

import hetero


@hetero.kernel
def layer_norm(x, scale, bias, y, mean_out, inv_out, n, epsilon, has_bias):
    o = hetero.global_id(0)
    base = o * n
    total = 0.0
    for r in range(n):
        total += x[base + r]
    mean = total / n
    spread = 0.0
    for r in range(n):
        d = x[base + r] - mean
        spread += d * d
    inv = 1.0 / hetero.sqrt(spread / n + epsilon)
    for r in range(n):
        shift = bias[r] if has_bias > 0 else 0.0
        y[base + r] = (x[base + r] - mean) * inv * scale[r] + shift
    mean_out[o] = mean
    inv_out[o] = inv


def split(shape: tuple[int, ...], attrs: dict) -> tuple[int, tuple[int, ...]]:
    axis = normalise_axis(attrs.get("axis", -1), len(shape), "LayerNormalization")
    return axis, tuple(shape[:axis]) + (1,) * (len(shape) - axis)


def infer(inputs, attrs):
    x = inputs[0]
    _, stats = split(x.shape, attrs)
    return [x, TensorInfo(stats, "float32"), TensorInfo(stats, "float32")]


def run(device, inputs, attrs):
    x, scale, *rest = inputs
    bias = rest[0] if rest and rest[0] is not None else None
    axis, stats = split(x.shape, attrs)
    n = numel(x.shape[axis:])
    for name, t in (("Scale", scale), ("B", bias)):
        if t is not None and t.size != n:
            raise hetero.UnsupportedOp(f"LayerNormalization: {name} has {t.size} elements; "
                                       f"the portable kernel needs the normalised size {n}")
    y = output(device, x.shape, x.dtype)
    mean, inv = output(device, stats, "float32"), output(device, stats, "float32")
    launch(layer_norm, device, numel(stats), None, x.reshape(-1), scale.reshape(-1),
           (bias if bias is not None else scale).reshape(-1), y.reshape(-1), mean.reshape(-1),
           inv.reshape(-1), n, float(attrs.get("epsilon", 1e-5)), int(bias is not None))
    return [y, mean, inv]


def reference(xs, attrs):
    x, scale, *rest = xs
    axis, stats = split(x.shape, attrs)
    axes = tuple(range(axis, x.ndim))
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(((x64 - mean) ** 2).mean(axis=axes, keepdims=True)
                      + attrs.get("epsilon", 1e-5))
    y = (x64 - mean) * inv * scale.astype(np.float64)
    if rest and rest[0] is not None:
        y = y + rest[0]
    return [y.astype(x.dtype), mean.astype(np.float32), inv.astype(np.float32)]


def cases(dtype, rng):
    x = random(rng, (2, 3, 8), dtype)
    return [Case("axis=-1", (x, random(rng, (8,), dtype), random(rng, (8,), dtype))),
            Case("axis=1 no bias", (x, random(rng, (3, 8), dtype)), {"axis": 1}),
            Case("epsilon=0.1", (x, random(rng, (8,), dtype), random(rng, (8,), dtype)),
                 {"epsilon": 0.1})]


register(Op(name="LayerNormalization", since=(17,), dtypes=FLOATS, infer=infer,
            cost=lambda xs, attrs: Cost(numel(xs[0].shape) * 8, io_bytes(xs, xs[:1])),
            reference=reference, run=run, cases=cases, kernels=(layer_norm,)))

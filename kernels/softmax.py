"""Softmax and LogSoftmax along one axis (opset 13 semantics), max-subtracted for stability."""

from __future__ import annotations

import numpy as np
from hetero.kernels.base import (
    FLOATS,
    Case,
    Cost,
    Op,
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
def softmax(x, out, n, inner, log_form):
    w = hetero.global_id(0)
    base = (w // inner) * n * inner + w % inner
    top = x[base]
    for r in range(1, n):
        top = hetero.max(top, x[base + r * inner])
    total = 0.0
    for r in range(n):
        total += hetero.exp(x[base + r * inner] - top)
    for r in range(n):
        v = x[base + r * inner] - top
        out[base + r * inner] = v - hetero.log(total) if log_form > 0 else hetero.exp(v) / total


def make_op(name: str) -> Op:
    log_form = 1 if name == "LogSoftmax" else 0

    def run(device, inputs, attrs):
        x = inputs[0]
        axis = normalise_axis(attrs.get("axis", -1), x.ndim, name)
        out = output(device, x.shape, x.dtype)
        rows = numel(x.shape) // max(x.shape[axis], 1) if x.ndim else 1
        launch(softmax, device, rows, None, x.reshape(-1), out.reshape(-1),
               x.shape[axis] if x.ndim else 1, numel(x.shape[axis + 1:]), log_form)
        return [out]

    def reference(xs, attrs):
        x = xs[0].astype(np.float64)
        axis = attrs.get("axis", -1)
        shifted = x - x.max(axis=axis, keepdims=True)
        lse = np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        y = shifted - lse if log_form else np.exp(shifted - lse)
        return [y.astype(xs[0].dtype)]

    def cases(dtype, rng):
        x = random(rng, (3, 4, 5), dtype, -4, 4)
        return [Case("axis=-1", (x,)), Case("axis=1", (x,), {"axis": 1}),
                Case("axis=0", (x,), {"axis": 0}), Case("(1, 1000)", (random(rng, (1, 1000),
                                                                             dtype, -4, 4),))]

    return Op(name=name, since=(13,), dtypes=FLOATS, infer=lambda xs, attrs: [xs[0]],
              cost=lambda xs, attrs: Cost(numel(xs[0].shape) * 14, io_bytes(xs, xs[:1])),
              reference=reference, run=run, cases=cases, kernels=(softmax,))


register(make_op("Softmax"), make_op("LogSoftmax"))

"""Gemm: Y = alpha * A' @ B' + beta * C, with A' and B' optionally transposed; the product
goes through MatMul's tiled kernel, the epilogue through a broadcasting kernel."""

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
    output,
    random,
    register,
)
from hetero.kernels.matmul import matmul
from hetero.kernels.transpose import OPS_TRANSPOSE

import hetero


@hetero.kernel
def epilogue(ab, c, y, n, alpha, beta, c_row, c_col, has_c):
    i = hetero.global_id(0)
    extra = beta * c[(i // n) * c_row + (i % n) * c_col] if has_c > 0 else 0.0
    y[i] = alpha * ab[i] + extra


def c_strides(shape: tuple[int, ...], m: int, n: int) -> tuple[int, int]:
    """Row and column strides of C broadcast to (m, n)."""
    full = (1,) * (2 - len(shape)) + tuple(shape)
    rows, cols = full
    if rows not in (1, m) or cols not in (1, n):
        raise hetero.UnsupportedOp(f"Gemm: C of shape {shape} does not broadcast to {(m, n)}")
    return (cols if rows == m else 0), (1 if cols == n else 0)


def operands(device, inputs, attrs):
    a, b = inputs[:2]
    if attrs.get("transA", 0):
        a = OPS_TRANSPOSE(device, [a], {})[0]
    if attrs.get("transB", 0):
        b = OPS_TRANSPOSE(device, [b], {})[0]
    return a, b


def run(device, inputs, attrs):
    a, b = operands(device, inputs, attrs)
    c = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    ab = matmul(device, a, b)
    m, n = ab.shape
    y = output(device, (m, n), ab.dtype)
    row, col = c_strides(c.shape, m, n) if c is not None else (0, 0)
    launch(epilogue, device, m * n, None, ab.reshape(-1),
           (c if c is not None else ab).reshape(-1), y.reshape(-1), n,
           float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0)), row, col,
           int(c is not None))
    return [y]


def reference(xs, attrs):
    a, b = (x.astype(np.float64) for x in xs[:2])
    a = a.T if attrs.get("transA", 0) else a
    b = b.T if attrs.get("transB", 0) else b
    y = attrs.get("alpha", 1.0) * (a @ b)
    if len(xs) > 2:
        y = y + attrs.get("beta", 1.0) * xs[2].astype(np.float64)
    return [y.astype(xs[0].dtype)]


def infer(inputs, attrs):
    a, b = inputs[:2]
    m = a.shape[1] if attrs.get("transA", 0) else a.shape[0]
    n = b.shape[0] if attrs.get("transB", 0) else b.shape[1]
    return [TensorInfo((m, n), a.dtype)]


def cost(inputs, attrs):
    (out,) = infer(inputs, attrs)
    k = inputs[0].shape[0] if attrs.get("transA", 0) else inputs[0].shape[1]
    return Cost(2.0 * out.shape[0] * out.shape[1] * k, io_bytes(inputs, [out]))


def cases(dtype, rng):
    def r(*shape):
        return random(rng, shape, dtype)

    return [Case("plain", (r(5, 7), r(7, 3), r(5, 3))),
            Case("transA transB alpha beta", (r(7, 5), r(3, 7), r(3)),
                 {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0}),
            Case("C (m,1), no bias scale", (r(20, 18), r(18, 17), r(20, 1))),
            Case("no C", (r(4, 4), r(4, 6)))]


register(Op(name="Gemm", since=(7, 9, 11, 13), dtypes=FLOATS, infer=infer, cost=cost,
            reference=reference, run=run, cases=cases, kernels=(epilogue,)))

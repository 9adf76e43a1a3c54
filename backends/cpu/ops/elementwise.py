"""Elementwise ops whose NumPy ufunc has ONNX's semantics exactly (broadcasting, dtypes)."""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.ops import native


def operands(xs, attrs, opset):
    """Before opset 7, broadcasting was opt-in (``broadcast=1``) and aligned B at ``axis``
    (default: the trailing dimensions); from 7 on, NumPy's rules."""
    a, b = xs
    if opset < 7 and attrs.get("broadcast", 0) and b.ndim < a.ndim:
        axis = attrs.get("axis", a.ndim - b.ndim) % a.ndim
        b = b.reshape(b.shape + (1,) * (a.ndim - axis - b.ndim))
    return a, b


@native("Add")
def add(xs, attrs, opset):
    return [np.add(*operands(xs, attrs, opset))]


@native("Sub")
def sub(xs, attrs, opset):
    return [np.subtract(*operands(xs, attrs, opset))]


@native("Mul")
def mul(xs, attrs, opset):
    return [np.multiply(*operands(xs, attrs, opset))]


@native("Relu", since=6)  # older: consumed_inputs
def relu(xs, attrs, opset):
    return [np.maximum(xs[0], xs[0].dtype.type(0))]


@native("Identity")
def identity(xs, attrs, opset):
    return [xs[0]]


@native("Div")
def div(xs, attrs, opset):
    a, b = operands(xs, attrs, opset)
    if np.result_type(a, b).kind not in "iu":
        return [np.divide(a, b)]
    quotient = np.floor_divide(a, b)  # ONNX truncates integer division toward zero
    return [quotient + ((np.remainder(a, b) != 0) & ((a < 0) != (b < 0)))]


@native("Sigmoid", since=6)  # older: consumed_inputs
def sigmoid(xs, attrs, opset):
    x = xs[0]
    e = np.exp(-np.abs(x))  # never overflows
    return [np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)]


@native("Tanh", since=6)  # older: consumed_inputs
def tanh(xs, attrs, opset):
    return [np.tanh(xs[0])]


@native("Clip")
def clip(xs, attrs, opset):
    x = xs[0]
    if opset < 11:
        low, high = attrs.get("min"), attrs.get("max")
    else:
        low = xs[1] if len(xs) > 1 else None
        high = xs[2] if len(xs) > 2 else None
    if low is not None:
        x = np.maximum(x, np.asarray(low, x.dtype))
    if high is not None:
        x = np.minimum(x, np.asarray(high, x.dtype))
    return [x]


@native("Sum", since=6)  # older: consumed_inputs
def total(xs, attrs, opset):
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return [out]

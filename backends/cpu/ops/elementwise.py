"""Elementwise ops whose NumPy ufunc has ONNX's semantics exactly (broadcasting, dtypes).

Add, Sub, Mul, Div, Sum and Relu keep blocked activations blocked where the other operand
is one too (same shape), a per-channel constant or a scalar; anything else goes plain.
"""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.nchwc.layout import Blocked, channel_vector, plain
from hetero.backends.cpu.ops.table import native


def in_blocks(value, like: Blocked, fill: float) -> np.ndarray | None:
    """``value`` as an operand that broadcasts against ``like.data``, or None."""
    if isinstance(value, Blocked):
        same = value.data.shape == like.data.shape and value.channels == like.channels
        return value.data if same else None
    value = np.asarray(value)
    if value.dtype != np.float32:
        return None
    if value.size == 1:
        return value.reshape(())
    return channel_vector(value, like, fill)


def blocked_binary(ufunc, a, b, fill: float = 0.0) -> Blocked | None:
    """``ufunc(a, b)`` computed block by block, when an operand is blocked and the other
    fits (``fill``: the other's value in padding lanes, harmless for ``ufunc``)."""
    like = a if isinstance(a, Blocked) else b if isinstance(b, Blocked) else None
    if like is None:
        return None
    x, y = in_blocks(a, like, fill), in_blocks(b, like, fill)
    if x is None or y is None:
        return None
    with np.errstate(all="ignore"):  # padding lanes may divide 0 by 0; no lane is reported
        return Blocked(ufunc(x, y), like.channels)


def binary(ufunc, xs, attrs, opset, fill: float = 0.0):
    if opset >= 7:
        done = blocked_binary(ufunc, xs[0], xs[1], fill)
        if done is not None:
            return done
    return ufunc(*operands([plain(x) for x in xs], attrs, opset))


def operands(xs, attrs, opset):
    """Before opset 7, broadcasting was opt-in (``broadcast=1``) and aligned B at ``axis``
    (default: the trailing dimensions); from 7 on, NumPy's rules."""
    a, b = xs
    if opset < 7 and attrs.get("broadcast", 0) and b.ndim < a.ndim:
        axis = attrs.get("axis", a.ndim - b.ndim) % a.ndim
        b = b.reshape(b.shape + (1,) * (a.ndim - axis - b.ndim))
    return a, b


@native("Add", blocked=True)
def add(xs, attrs, opset):
    return [binary(np.add, xs, attrs, opset)]


@native("Sub", blocked=True)
def sub(xs, attrs, opset):
    return [binary(np.subtract, xs, attrs, opset)]


@native("Mul", blocked=True)
def mul(xs, attrs, opset):
    return [binary(np.multiply, xs, attrs, opset)]


@native("Relu", since=6, blocked=True)  # older: consumed_inputs
def relu(xs, attrs, opset):
    x = xs[0]
    if isinstance(x, Blocked):
        return [Blocked(np.maximum(x.data, np.float32(0)), x.channels)]
    return [np.maximum(x, x.dtype.type(0))]


@native("Identity", blocked=True)
def identity(xs, attrs, opset):
    return [xs[0]]


@native("Div", blocked=True)
def div(xs, attrs, opset):
    if any(isinstance(x, Blocked) for x in xs):
        if opset >= 7 and (done := blocked_binary(np.divide, *xs, fill=1.0)) is not None:
            return [done]
        xs = [plain(x) for x in xs]
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


@native("Sum", since=6, blocked=True)  # older: consumed_inputs
def total(xs, attrs, opset):
    out = xs[0]
    for x in xs[1:]:
        out = binary(np.add, [out, x], attrs, opset)
    return [out]


#: ops that are one NumPy ufunc, exactly as ONNX defines them (and as ONNX's reference
#: evaluator computes them): native saves the reference tier's ~10 us a node.
UNARY = {"Neg": (np.negative, 6), "Abs": (np.absolute, 6), "Exp": (np.exp, 6),
         "Log": (np.log, 6), "Sqrt": (np.sqrt, 6), "Reciprocal": (np.reciprocal, 6),
         "Floor": (np.floor, 6), "Ceil": (np.ceil, 6), "Sin": (np.sin, 7), "Cos": (np.cos, 7),
         "Not": (np.logical_not, 1)}  # since: older opsets had consumed_inputs


def ufunc_op(ufunc):
    def run(xs, attrs, opset):
        with np.errstate(all="ignore"):  # log(-1) is NaN, as ONNX says; no warning
            return [ufunc(xs[0])]
    return run


for _op_type, (_ufunc, _since) in UNARY.items():
    native(_op_type, since=_since)(ufunc_op(_ufunc))

"""Softmax, LogSoftmax and Hardmax, with each opset's meaning of ``axis``.

Before opset 13 the input is flattened to 2-D at ``axis`` (default 1) and normalised over the
second dimension; from 13 on, over the one ``axis`` (default -1). (onnx.reference applies the
new rule to old models, which is why these are native.)
"""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.ops.shape import flatten_target
from hetero.backends.cpu.ops.table import native


def rows_of(shape, attrs: dict) -> tuple[int, int]:
    """Before opset 13: the input's 2-D shape, flattened at ``axis`` (default 1). Shared
    with the cuda backend's torch ops."""
    return flatten_target(shape, {"axis": attrs.get("axis", 1) % max(len(shape), 1)})


def normalised(x: np.ndarray, attrs: dict, opset: int, log: bool) -> np.ndarray:
    if opset < 13:
        flat = x.reshape(rows_of(x.shape, attrs))
        return normalised(flat, {"axis": 1}, 13, log).reshape(x.shape)
    axis = attrs.get("axis", -1)
    shifted = x - x.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=axis, keepdims=True)
    return (shifted - np.log(total)) if log else exp / total


@native("Softmax")
def softmax(xs, attrs, opset):
    return [normalised(xs[0], attrs, opset, log=False)]


@native("LogSoftmax")
def log_softmax(xs, attrs, opset):
    return [normalised(xs[0], attrs, opset, log=True)]


@native("Hardmax")
def hardmax(xs, attrs, opset):
    """1 at the first maximum along the axis (old opsets: of the flattened 2-D rows)."""
    x = xs[0]
    if opset < 13:
        rows = x.reshape(rows_of(x.shape, attrs))
        return [hardmax([rows], {"axis": 1}, 13)[0].reshape(x.shape)]
    axis = attrs.get("axis", -1)
    out = np.zeros_like(x)
    np.put_along_axis(out, np.expand_dims(np.argmax(x, axis=axis), axis), 1, axis=axis)
    return [out]

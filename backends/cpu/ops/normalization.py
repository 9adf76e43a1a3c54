"""BatchNormalization (inference) and LRN."""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.nchwc.layout import Blocked, channel_vector, plain
from hetero.backends.cpu.ops.table import native, outputs_used

from hetero.backend import importable


def per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape(1, -1, *([1] * (ndim - 2)))


@native("BatchNormalization", since=9, when=lambda node: outputs_used(node) == 1
        and not node.attrs.get("training_mode", 0), blocked=True)  # older: spatial, is_test
def batch_normalization(xs, attrs, opset):
    return [normalised(xs, attrs, relu=False)]


@native("FusedBatchNormalization", blocked=True)
def fused_batch_normalization(xs, attrs, opset):
    """Inference BatchNormalization then Relu (hetero's fusion pass)."""
    return [normalised(xs, attrs, relu=True)]


def normalised(xs, attrs: dict, relu: bool):
    """x * factor + shift per channel (factor = scale / sqrt(var + epsilon)): one pass of the
    blocked kernel on blocked float32 input, NumPy otherwise."""
    x, scale, bias, mean, var = xs[:5]
    factor = scale / np.sqrt(var + np.asarray(attrs.get("epsilon", 1e-5), var.dtype))
    shift = bias - mean * factor
    if isinstance(x, Blocked) and factor.dtype == shift.dtype == np.float32 and \
            factor.shape == shift.shape == (x.channels,):
        return blocked_affine(x, factor, shift, relu)
    x = plain(x)
    y = (x * per_channel(factor, x.ndim) + per_channel(shift, x.ndim)).astype(x.dtype,
                                                                            copy=False)
    return np.maximum(y, 0, out=y) if relu else y


def blocked_affine(x: Blocked, factor: np.ndarray, shift: np.ndarray, relu: bool) -> Blocked:
    from hetero.backends.cpu.nchwc import codegen

    n, n_blocks, lanes = x.data.shape[0], x.data.shape[1], x.lanes
    f = channel_vector(factor.reshape(1, -1, 1, 1), x, 0.0)
    s = channel_vector(shift.reshape(1, -1, 1, 1), x, 0.0)
    y = np.empty_like(x.data)
    codegen.affine_kernel(lanes)(x.data.reshape(-1), f.reshape(-1), s.reshape(-1),
                                 y.reshape(-1), n * n_blocks, n_blocks,
                                 x.data[0, 0].size // lanes, relu)
    return Blocked(y, x.channels)


@native("LRN")
def lrn(xs, attrs, opset):
    x = xs[0]
    size = attrs["size"]
    alpha, beta, bias = attrs.get("alpha", 1e-4), attrs.get("beta", 0.75), attrs.get("bias", 1.0)
    if x.dtype == np.float32 and x.ndim >= 2 and importable("numba"):
        from hetero.backends.cpu.nchwc.loops import lrn_rows

        y = np.empty_like(x, order="C")
        n, c = x.shape[:2]
        shape = (n, c, int(np.prod(x.shape[2:], dtype=np.int64)))
        lrn_rows(np.ascontiguousarray(x).reshape(shape), y.reshape(shape), (size - 1) // 2,
                 size // 2, np.float32(alpha / size), np.float32(bias), np.float32(beta))
        return [y]
    squares = np.pad(np.square(x), [(0, 0), ((size - 1) // 2, size // 2)]
                     + [(0, 0)] * (x.ndim - 2))
    window = np.cumsum(squares, axis=1, dtype=np.float64)
    window = np.concatenate([window[:, size - 1:size], window[:, size:] - window[:, :-size]],
                            axis=1)
    return [(x / (bias + alpha / size * window) ** beta).astype(x.dtype)]

"""BatchNormalization (inference) and LRN."""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.nchwc.layout import Blocked, channel_vector, plain
from hetero.backends.cpu.ops import native, outputs_used

from hetero.backend import importable


def per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape(1, -1, *([1] * (ndim - 2)))


@native("BatchNormalization", since=9, when=lambda node: outputs_used(node) == 1
        and not node.attrs.get("training_mode", 0), blocked=True)  # older: spatial, is_test
def batch_normalization(xs, attrs, opset):
    x, scale, bias, mean, var = xs[:5]
    factor = scale / np.sqrt(var + np.asarray(attrs.get("epsilon", 1e-5), var.dtype))
    shift = bias - mean * factor
    if isinstance(x, Blocked) and factor.dtype == shift.dtype == np.float32:
        f = channel_vector(factor.reshape(1, -1, 1, 1), x, 0.0)
        s = channel_vector(shift.reshape(1, -1, 1, 1), x, 0.0)
        if f is not None and s is not None:
            y = np.multiply(x.data, f)
            return [Blocked(np.add(y, s, out=y), x.channels)]
    x = plain(x)
    return [(x * per_channel(factor, x.ndim) + per_channel(shift, x.ndim))
            .astype(x.dtype, copy=False)]


@native("FusedBatchNormalization", blocked=True)
def fused_batch_normalization(xs, attrs, opset):
    """Inference BatchNormalization then Relu (hetero's fusion pass), in place."""
    (y,) = batch_normalization(xs, attrs, opset)
    data = y.data if isinstance(y, Blocked) else y
    np.maximum(data, 0, out=data)
    return [y]


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

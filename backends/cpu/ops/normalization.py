"""BatchNormalization (inference) and LRN."""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.ops import native, outputs_used


def per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape(1, -1, *([1] * (ndim - 2)))


@native("BatchNormalization", since=9, when=lambda node: outputs_used(node) == 1
        and not node.attrs.get("training_mode", 0))  # older: spatial, is_test
def batch_normalization(xs, attrs, opset):
    x, scale, bias, mean, var = xs[:5]
    factor = scale / np.sqrt(var + np.asarray(attrs.get("epsilon", 1e-5), var.dtype))
    shift = bias - mean * factor
    return [(x * per_channel(factor, x.ndim) + per_channel(shift, x.ndim))
            .astype(x.dtype, copy=False)]


@native("LRN")
def lrn(xs, attrs, opset):
    x = xs[0]
    size = attrs["size"]
    alpha, beta, bias = attrs.get("alpha", 1e-4), attrs.get("beta", 0.75), attrs.get("bias", 1.0)
    squares = np.pad(np.square(x), [(0, 0), ((size - 1) // 2, size // 2)]
                     + [(0, 0)] * (x.ndim - 2))
    window = np.cumsum(squares, axis=1, dtype=np.float64)
    window = np.concatenate([window[:, size - 1:size], window[:, size:] - window[:, :-size]],
                            axis=1)
    return [(x / (bias + alpha / size * window) ** beta).astype(x.dtype)]

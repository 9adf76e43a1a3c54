"""Conv (N-D, groups, strides, pads, dilations, auto_pad) as im2col and one batched BLAS
product per group."""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.ops import native
from hetero.backends.cpu.ops.windows import geometry, windows


@native("Conv")
def conv(xs, attrs, opset):
    x, w = xs[0], xs[1]
    bias = xs[2] if len(xs) > 2 else None
    kernel = tuple(w.shape[2:])
    strides, dilations, pairs = geometry(attrs, x.shape[2:], kernel)
    group = attrs.get("group", 1)
    if group == 1 and all(k == 1 for k in kernel) and not any(a or b for a, b in pairs):
        return [pointwise(x, w, bias, strides)]
    cols = windows(x, kernel, strides, dilations, pairs, 0.0)  # (N, C, *out, *k)
    n, c = x.shape[:2]
    out_shape = cols.shape[2:2 + len(kernel)]
    m = w.shape[0]
    # (N, G, C/G, *out, *k) -> (N, G, P, C/G * K): one row per output position
    cols = im2col(cols, n, group, c, out_shape, kernel)
    weights = w.reshape(group, m // group, -1).transpose(0, 2, 1)  # (G, C/G * K, M/G)
    y = np.matmul(cols, weights)  # (N, G, P, M/G)
    y = y.transpose(0, 1, 3, 2).reshape(n, m, *out_shape)
    if bias is not None:
        y += bias.reshape(1, m, *([1] * len(kernel)))
    return [y.astype(x.dtype, copy=False)]


def im2col(cols, n, group, c, out_shape, kernel):
    """(N, C, *out, *k) windows -> (N, G, positions, C/G * K), each row one window."""
    rank = len(kernel)
    positions = int(np.prod(out_shape))
    per_group = cols.reshape(n, group, c // group, *out_shape, *kernel)
    order = (0, 1, *range(3, 3 + rank), 2, *range(3 + rank, 3 + 2 * rank))
    return np.ascontiguousarray(per_group.transpose(order)).reshape(
        n, group, positions, -1)


def pointwise(x: np.ndarray, w: np.ndarray, bias, strides) -> np.ndarray:
    """A 1x1 convolution is one matrix product per image: no im2col copy."""
    x = x[(slice(None), slice(None), *(slice(None, None, s) for s in strides))]
    n, c, *spatial = x.shape
    y = np.matmul(w.reshape(w.shape[0], c), x.reshape(n, c, -1))
    if bias is not None:
        y += bias.reshape(1, -1, 1)
    return y.reshape(n, w.shape[0], *spatial).astype(x.dtype, copy=False)


@native("FusedConv")
def fused_conv(xs, attrs, opset):
    """Conv then its activation (hetero's fusion pass), in place on the product."""
    (y,) = conv(xs, attrs, opset)
    return [np.maximum(y, 0, out=y)]

"""Conv (N-D, groups, strides, pads, dilations, auto_pad).

2-D float32 convolutions with constant weights run on the direct NCHWc kernels (``nchwc``),
weights packed when the plan is built; everything else as im2col and one batched BLAS product
per group.
"""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.nchwc.conv import Depthwise, DirectConv
from hetero.backends.cpu.nchwc.layout import Blocked, blockable, plain
from hetero.backends.cpu.ops.table import native
from hetero.backends.cpu.ops.windows import geometry, windows

from hetero.backend import importable
from hetero.errors import ModelError


def specialise(node, graph, opset: int):
    """The direct kernels for a 2-D float32 Conv with constant weights (and bias), else None."""
    if not importable("numba"):  # the kernels are compiled by numba; NumPy paths remain
        return None
    constants = graph.constants
    w = constants.get(node.inputs[1])
    bias_name = node.inputs[2] if len(node.inputs) > 2 else ""
    bias = constants.get(bias_name) if bias_name else None
    if w is None or w.dtype != np.float32 or w.ndim != 4 or (bias_name and bias is None):
        return None
    group = node.attrs.get("group", 1)
    if not isinstance(group, int) or group < 1 or w.shape[0] % group:
        raise ModelError(f"{node.label}: group={group!r} must be a positive divisor of its "
                         f"{w.shape[0]} output channels (weight {node.inputs[1]!r}); fix the "
                         "model's group attribute")
    depthwise = group > 1 and w.shape[1] == 1 and w.shape[0] == group
    kernel = Depthwise(w, bias, node.attrs) if depthwise else \
        DirectConv(w, bias, node.attrs, positions=plane_size(graph, node.outputs[0]))
    relu = node.attrs.get("activation") == "Relu"

    def run(xs, attrs, opset):
        x, z = xs[0], (xs[3] if len(xs) > 3 else None)
        if (isinstance(x, Blocked) or blockable(x)) and kernel.fits(x.shape):
            return [kernel(x, z, relu)]
        return fused_conv([plain(v) for v in xs], attrs, opset)
    return run


def plane_size(graph, name: str) -> int:
    """H x W of a 4-D value where shape inference fixed it, else 0 (unknown)."""
    value = graph.values.get(name)
    shape = value.shape if value is not None else None
    if shape is None or len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]):
        return 0
    return shape[2] * shape[3]


@native("Conv", specialise=specialise, blocked=True)
def conv(xs, attrs, opset):
    x, w = plain(xs[0]), xs[1]
    bias = xs[2] if len(xs) > 2 else None
    kernel = tuple(w.shape[2:])
    strides, dilations, pairs = geometry(attrs, x.shape[2:], kernel)
    group = attrs.get("group", 1)
    if all(k == 1 for k in kernel) and not any(a or b for a, b in pairs):
        return [pointwise(x, w, bias, strides, group)]
    cols = windows(x, kernel, strides, dilations, pairs, 0.0)  # (N, C, *out, *k)
    n, c = x.shape[:2]
    if c == group and x.dtype != np.float16:  # depthwise: a few vector multiply-adds beat
        # thousands of tiny products (float16 keeps the matrix path, and its rounding)
        return [depthwise(cols, w, bias).astype(x.dtype, copy=False)]
    out_shape = cols.shape[2:2 + len(kernel)]
    m = w.shape[0]
    cols = im2col(cols, n, group, c, out_shape, kernel)  # (N, G, C/G * K, P)
    y = np.matmul(w.reshape(group, m // group, -1), cols)  # (N, G, M/G, P): already NCHW
    y = y.reshape(n, m, *out_shape)
    if bias is not None:
        y += bias.reshape(1, m, *([1] * len(kernel)))
    return [y.astype(x.dtype, copy=False)]


def im2col(cols, n, group, c, out_shape, kernel):
    """(N, C, *out, *k) windows -> (N, G, C/G * K, positions): one row per (channel, kernel
    offset), as Caffe lays it out, so the product with W (M, C*K) lands in NCHW order."""
    rank = len(kernel)
    order = (0, 1, *range(2 + rank, 2 + 2 * rank), *range(2, 2 + rank))
    rows = np.ascontiguousarray(cols.transpose(order))  # (N, C, *k, *out)
    return rows.reshape(n, group, -1, int(np.prod(out_shape)))


def pointwise(x: np.ndarray, w: np.ndarray, bias, strides, group: int) -> np.ndarray:
    """A 1x1 convolution is one matrix product per image and group: no im2col copy."""
    x = x[(slice(None), slice(None), *(slice(None, None, s) for s in strides))]
    n, c, *spatial = x.shape
    m = w.shape[0]
    y = np.matmul(w.reshape(group, m // group, c // group), x.reshape(n, group, c // group, -1))
    if bias is not None:
        y += bias.reshape(1, group, m // group, 1)
    return y.reshape(n, m, *spatial).astype(x.dtype, copy=False)


def depthwise(cols: np.ndarray, w: np.ndarray, bias) -> np.ndarray:
    """One input channel per group: y[n, g, j] = sum over kernel offsets of window * weight,
    one whole-output multiply-add per offset (j: the channel multiplier M/G)."""
    n, c = cols.shape[:2]
    rank = w.ndim - 2
    out_shape = cols.shape[2:2 + rank]
    per = w.shape[0] // c
    taps = w.reshape(c, per, -1)  # (G, M/G, K)
    y = np.zeros((n, c, per, *out_shape), dtype=np.result_type(cols, w))
    spread = (1, c, per, *([1] * rank))
    for k, offset in enumerate(np.ndindex(*w.shape[2:])):
        y += cols[(..., *offset)][:, :, None] * taps[:, :, k].reshape(spread)
    y = y.reshape(n, c * per, *out_shape)
    if bias is not None:
        y += bias.reshape(1, -1, *([1] * rank))
    return y


@native("FusedConv", specialise=specialise, blocked=True)
def fused_conv(xs, attrs, opset):
    """Conv, plus a residual Z where fused, then the activation (hetero's fusion passes), in
    place on the product."""
    xs = [plain(v) for v in xs]
    (y,) = conv(xs[:3], attrs, opset)
    if len(xs) > 3 and xs[3] is not None:
        y = y + xs[3]
    return [np.maximum(y, 0, out=y) if attrs.get("activation") == "Relu" else y]

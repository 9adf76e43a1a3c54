"""MaxPool (values only), AveragePool and the global pools: on blocked activations with the
NCHWc pool kernel (2-D), otherwise over strided window views."""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.nchwc import pool as blocked_pool
from hetero.backends.cpu.nchwc.layout import Blocked, plain
from hetero.backends.cpu.ops.table import native, outputs_used
from hetero.backends.cpu.ops.windows import geometry, reduce_windows


def lowest(dtype: np.dtype) -> float | int:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def pooled(x: np.ndarray, attrs: dict, fill: float, combine, overhang: float | None = None,
           dtype=None) -> np.ndarray:
    kernel = tuple(attrs["kernel_shape"])
    strides, dilations, pairs = geometry(attrs, x.shape[2:], kernel)
    ceil = bool(attrs.get("ceil_mode", 0))
    source = x if dtype is None else x.astype(dtype, copy=False)
    return reduce_windows(source, kernel, strides, dilations, pairs, fill, ceil, combine,
                          overhang)


def windowed_blocks(x, attrs: dict) -> bool:
    """Whether the blocked kernel runs this pool: a blocked input and a 2-D window."""
    return isinstance(x, Blocked) and len(attrs["kernel_shape"]) == 2


@native("MaxPool", when=lambda node: outputs_used(node) == 1,  # Indices: reference tier
        blocked=True)
def max_pool(xs, attrs, opset):
    x = xs[0]
    if windowed_blocks(x, attrs):
        return [blocked_pool.pool(x, attrs, maximum=True)]
    x = plain(x)
    return [pooled(x, attrs, lowest(x.dtype), np.maximum)]


@native("AveragePool", blocked=True)
def average_pool(xs, attrs, opset):
    x = xs[0]
    if windowed_blocks(x, attrs):
        return [blocked_pool.pool(x, attrs, maximum=False)]
    x = plain(x)
    wide = np.float64 if x.dtype == np.float64 else np.float32
    total = pooled(x, attrs, 0, np.add, dtype=wide)
    ones = np.ones((1, 1, *x.shape[2:]), wide)
    include = 1 if attrs.get("count_include_pad", 0) else 0  # ceil_mode's overhang never counts
    counts = pooled(ones, attrs, include, np.add, overhang=0)
    return [(total / counts).astype(x.dtype, copy=False)]


@native("GlobalAveragePool", blocked=True)
def global_average_pool(xs, attrs, opset):
    x = xs[0]
    if isinstance(x, Blocked):
        return [blocked_pool.global_average(x)]
    return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True).astype(x.dtype, copy=False)]


@native("GlobalMaxPool", blocked=True)
def global_max_pool(xs, attrs, opset):
    x = xs[0]
    if isinstance(x, Blocked):
        return [blocked_pool.global_max(x)]
    return [x.max(axis=tuple(range(2, x.ndim)), keepdims=True)]

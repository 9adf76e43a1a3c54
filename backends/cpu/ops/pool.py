"""MaxPool (values only), AveragePool and the global pools over strided window views."""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.ops import native, outputs_used
from hetero.backends.cpu.ops.windows import geometry, windows


def lowest(dtype: np.dtype) -> float | int:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def pooled(x: np.ndarray, attrs: dict, fill: float):
    kernel = tuple(attrs["kernel_shape"])
    strides, dilations, pairs = geometry(attrs, x.shape[2:], kernel)
    ceil = bool(attrs.get("ceil_mode", 0))
    view = windows(x, kernel, strides, dilations, pairs, fill, ceil)
    return view, kernel, strides, dilations, pairs, ceil


@native("MaxPool", when=lambda node: outputs_used(node) == 1)  # Indices: reference tier
def max_pool(xs, attrs, opset):
    x = xs[0]
    view, kernel, *_ = pooled(x, attrs, lowest(x.dtype))
    return [view.max(axis=tuple(range(-len(kernel), 0)))]


@native("AveragePool")
def average_pool(xs, attrs, opset):
    x = xs[0]
    view, kernel, strides, dilations, pairs, ceil = pooled(x, attrs, 0)
    axes = tuple(range(-len(kernel), 0))
    total = view.sum(axis=axes, dtype=np.float64 if x.dtype == np.float64 else np.float32)
    ones = np.ones((1, 1, *x.shape[2:]), np.float32)
    include = 1 if attrs.get("count_include_pad", 0) else 0  # ceil_mode's overhang never counts
    counts = windows(ones, kernel, strides, dilations, pairs, include, ceil, overhang=0)
    counts = counts.sum(axis=axes)
    return [(total / counts).astype(x.dtype, copy=False)]


@native("GlobalAveragePool")
def global_average_pool(xs, attrs, opset):
    x = xs[0]
    return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True).astype(x.dtype, copy=False)]


@native("GlobalMaxPool")
def global_max_pool(xs, attrs, opset):
    x = xs[0]
    return [x.max(axis=tuple(range(2, x.ndim)), keepdims=True)]

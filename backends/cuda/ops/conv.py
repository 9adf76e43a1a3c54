"""Conv (cuDNN through torch) and the pools, 1-D to 3-D, with ONNX's padding rules from the
CPU's ``windows.geometry``: asymmetric pads, auto_pad and ceil_mode's last windows become
explicit padding, so torch pools only whole windows."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hetero.backends.cpu.ops.windows import geometry, output_size
from hetero.backends.cuda.ops.table import native, outputs_used, with_activation

CONVS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
MAX_POOLS = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG_POOLS = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def padded(x, pairs, value: float):
    """``x`` with (before, after) padding per spatial axis holding ``value``."""
    if not any(a or b for a, b in pairs):
        return x
    flat = [p for pair in reversed(pairs) for p in pair]  # F.pad: last axis first
    return F.pad(x, flat, value=value)


def remembered(attrs: dict, what: str, spatial: tuple, work):
    """``work()``, once per node and input size: the attributes a prepared node passes are
    its own copy, so they keep the padding arithmetic (Python, ~7 µs) between runs."""
    key = ("hetero:" + what, spatial)
    found = attrs.get(key)
    if found is None:
        found = attrs[key] = work()
    return found


def conv_geometry(attrs: dict, spatial: tuple, kernel: tuple):
    """(strides, dilations, torch's symmetric padding or 0, explicit pairs or None)."""
    strides, dilations, pairs = geometry(attrs, spatial, kernel)
    if all(a == b for a, b in pairs):
        return strides, dilations, [a for a, _ in pairs], None
    return strides, dilations, 0, pairs


def convolve(xs, attrs):
    x, w = xs[0], xs[1]
    bias = xs[2] if len(xs) > 2 else None
    kernel = tuple(attrs.get("kernel_shape") or w.shape[2:])
    spatial = tuple(x.shape[2:])
    strides, dilations, pad, pairs = remembered(attrs, "conv", spatial,
                                                lambda: conv_geometry(attrs, spatial, kernel))
    source = x if pairs is None else padded(x, pairs, 0.0)
    return CONVS[len(kernel)](source, w, bias, strides, pad, dilations, attrs.get("group", 1))


def conv_rank(node) -> bool:
    return 1 <= len(node.attrs.get("kernel_shape") or [0, 0]) <= 3


@native("Conv", floats=True, when=conv_rank)
def conv(xs, attrs, opset):
    return [convolve(xs, attrs)]


@native("FusedConv", when=lambda node: conv_rank(node) and
        node.attrs.get("activation") == "Relu")
def fused_conv(xs, attrs, opset):
    """hetero's Conv [+ residual Z] + Relu (graph passes)."""
    y = convolve([x for x in xs[:3] if x is not None], attrs)
    if len(xs) > 3 and xs[3] is not None:
        y += xs[3]
    return [with_activation(y, attrs)]


def whole_windows(x, attrs, fill: float, overhang: float):
    """(x padded for every window the output has, kernel, strides, dilations): explicit pads
    hold ``fill``; ceil_mode's last windows hang past them into ``overhang``."""
    spatial = tuple(x.shape[2:])
    kernel, strides, dilations, pairs, extra = remembered(
        attrs, "pool", spatial, lambda: window_geometry(attrs, spatial))
    x = padded(padded(x, pairs, fill), extra, overhang)
    return x, kernel, strides, dilations


def window_geometry(attrs: dict, spatial: tuple):
    """(kernel, strides, dilations, explicit pads, ceil_mode's overhang per axis)."""
    kernel = tuple(attrs["kernel_shape"])
    strides, dilations, pairs = geometry(attrs, spatial, kernel)
    ceil = bool(attrs.get("ceil_mode", 0))
    outs = [output_size(size, k, s, d, p, ceil) for size, k, s, d, p
            in zip(spatial, kernel, strides, dilations, pairs, strict=True)]
    extra = [(0, max((o - 1) * s + (k - 1) * d + 1 - (size + p[0] + p[1]), 0))
             for o, s, k, d, size, p
             in zip(outs, strides, kernel, dilations, spatial, pairs, strict=True)]
    return kernel, strides, dilations, pairs, extra


def pool_rank(node) -> bool:
    return 1 <= len(node.attrs.get("kernel_shape", [])) <= 3


@native("MaxPool", since=8, floats=True,  # Indices: left to other devices
        when=lambda node: pool_rank(node) and outputs_used(node) == 1 and
        not node.attrs.get("storage_order", 0))
def max_pool(xs, attrs, opset):
    x, kernel, strides, dilations = whole_windows(xs[0], attrs, -torch.inf, -torch.inf)
    return [MAX_POOLS[len(kernel)](x, kernel, strides, 0, dilations)]


@native("AveragePool", since=7, floats=True, when=lambda node: pool_rank(node) and
        all(d == 1 for d in node.attrs.get("dilations") or [1]))
def average_pool(xs, attrs, opset):
    """Window sums over counts: explicit pads count with count_include_pad, ceil_mode's
    overhang never does."""
    x = xs[0]
    total, kernel, strides, _ = whole_windows(x, attrs, 0.0, 0.0)
    include = float(attrs.get("count_include_pad", 0))
    ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
    counts, _, _, _ = whole_windows(ones, attrs, include, 0.0)
    pool = AVG_POOLS[len(kernel)]
    return [pool(total, kernel, strides) / pool(counts, kernel, strides)]


@native("GlobalAveragePool", floats=True)
def global_average_pool(xs, attrs, opset):
    x = xs[0]
    return [x.mean(dim=tuple(range(2, x.ndim)), keepdim=True)]


@native("GlobalMaxPool", floats=True)
def global_max_pool(xs, attrs, opset):
    x = xs[0]
    return [x.amax(dim=tuple(range(2, x.ndim)), keepdim=True)]

"""Sliding windows over spatial axes, shared by Conv and the pools: ONNX's padding rules
(explicit pads, auto_pad, ceil_mode) and a strided view of every window, no copy."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def geometry(attrs: dict, spatial: tuple[int, ...], kernel: tuple[int, ...]):
    """(strides, dilations, pads as [(before, after)] per axis) after auto_pad."""
    n = len(spatial)
    strides = list(attrs.get("strides") or [1] * n)
    dilations = list(attrs.get("dilations") or [1] * n)
    pads = list(attrs.get("pads") or [0] * (2 * n))
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    pairs = [(pads[i], pads[i + n]) for i in range(n)]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pairs = []
        for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            pairs.append((small, big) if auto == "SAME_UPPER" else (big, small))
    elif auto == "VALID":
        pairs = [(0, 0)] * n
    return strides, dilations, pairs


def output_size(size: int, k: int, s: int, d: int, pad: tuple[int, int], ceil: bool) -> int:
    span = (k - 1) * d + 1
    exact = (size + pad[0] + pad[1] - span) / s + 1
    out = math.ceil(exact) if ceil else math.floor(exact)
    if ceil and (out - 1) * s >= size + pad[0]:  # a last window starting in the padding
        out -= 1
    return max(out, 0)


def windows(x: np.ndarray, kernel: tuple[int, ...], strides, dilations, pairs, fill: float,
            ceil: bool = False, overhang: float | None = None) -> np.ndarray:
    """x (N, C, *spatial) -> a view (N, C, *out, *kernel) of every window: explicit pads hold
    ``fill``; what ceil_mode's last windows hang past them holds ``overhang`` (default fill)."""
    n = len(kernel)
    outs = [output_size(x.shape[2 + i], kernel[i], strides[i], dilations[i], pairs[i], ceil)
            for i in range(n)]
    extra = [max((o - 1) * s + (k - 1) * d + 1 - (size + p[0] + p[1]), 0) for o, s, k, d, size, p
             in zip(outs, strides, kernel, dilations, x.shape[2:], pairs, strict=True)]
    padded = pad(pad(x, pairs, fill), [(0, e) for e in extra],
                 fill if overhang is None else overhang)
    span = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True))
    view = sliding_window_view(padded, span, axis=tuple(range(2, 2 + n)))
    step = (slice(None), slice(None), *(slice(None, o * s, s) for o, s in
                                        zip(outs, strides, strict=True)),
            *(slice(None, None, d) for d in dilations))
    return view[step]


def pad(x: np.ndarray, pairs, value: float) -> np.ndarray:
    if not any(a or b for a, b in pairs):
        return x
    return np.pad(x, [(0, 0), (0, 0), *pairs], constant_values=value)


def reduce_windows(x: np.ndarray, kernel: tuple[int, ...], strides, dilations, pairs,
                   fill: float, ceil: bool, combine, overhang: float | None = None
                   ) -> np.ndarray:
    """``combine`` (np.maximum, np.add) over every window: one strided slice per kernel
    offset, each a whole-output vector operation (a reduction over the window view's last
    axes is several times slower in NumPy)."""
    view = windows(x, kernel, strides, dilations, pairs, fill, ceil, overhang)
    rank = len(kernel)
    out = None
    for offset in np.ndindex(*kernel):
        part = view[(..., *offset)] if rank else view
        out = part.copy() if out is None else combine(out, part, out=out)
    return out

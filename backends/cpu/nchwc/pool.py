"""Max and average pooling of blocked activations: one tile kernel, ONNX's window rules
(explicit pads, auto_pad, dilations, ceil_mode, count_include_pad) from ``ops.windows``."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from hetero.backends.cpu.nchwc.layout import Blocked
from hetero.backends.cpu.ops.windows import geometry, output_size, reduce_windows

CHUNK = 64  # output positions per work item


@dataclass
class Windows:
    """Where each output position's window lies in the unpadded input: its first element
    (``base``, may be before the plane: only in-range taps add to it) and the ranges of
    kernel rows and columns that fall inside (``taps``: [kh0, kh1, kw0, kw1] per position)."""

    out: tuple[int, int]
    base: np.ndarray
    taps: np.ndarray
    row_step: int  # elements between kernel rows (dilation x width x lanes)
    col_step: int
    scale: np.ndarray  # 1 / count per position (averages)


def pool(x: Blocked, attrs: dict, maximum: bool) -> Blocked:
    from hetero.backends.cpu.nchwc import codegen

    win = windows(x.data.shape[2:4], x.lanes, maximum, *sorted(
        (k, tuple(v) if isinstance(v, list) else v) for k, v in attrs.items()))
    planes = x.data.shape[0] * x.data.shape[1]
    positions = win.out[0] * win.out[1]
    y = np.empty((*x.data.shape[:2], *win.out, x.lanes), np.float32)
    codegen.pool_kernel(x.lanes, maximum)(
        np.ascontiguousarray(x.data).reshape(-1), win.base, win.taps, win.scale,
        y.reshape(-1), planes, positions, CHUNK, x.data[0, 0].size, positions * x.lanes,
        win.row_step, win.col_step)
    return Blocked(y, x.channels)


@functools.lru_cache(maxsize=256)
def windows(spatial: tuple[int, int], lanes: int, maximum: bool, *attrs) -> Windows:
    """The window table of a pool over planes of ``spatial`` (cached per shape and attrs)."""
    attrs = dict(attrs)
    kernel = tuple(attrs["kernel_shape"])
    ceil = bool(attrs.get("ceil_mode", 0))
    strides, dilations, pairs = geometry(attrs, spatial, kernel)
    out = tuple(output_size(spatial[i], kernel[i], strides[i], dilations[i], pairs[i], ceil)
                for i in range(2))
    spans = [in_range(out[i], kernel[i], strides[i], dilations[i], pairs[i][0], spatial[i])
             for i in range(2)]
    (rows, r0, r1), (cols, c0, c1) = spans
    base = (rows[:, None] * spatial[1] + cols[None, :]).reshape(-1) * lanes
    taps = np.stack([np.repeat(r0, out[1]), np.repeat(r1, out[1]),
                     np.tile(c0, out[0]), np.tile(c1, out[0])], axis=1)
    scale = np.empty(1, np.float32) if maximum else reciprocal_counts(
        spatial, kernel, tuple(strides), tuple(dilations), tuple(map(tuple, pairs)), ceil,
        int(attrs.get("count_include_pad", 0)), out[0] * out[1])
    return Windows(out, base.astype(np.int64), np.ascontiguousarray(taps, np.int64),
                   dilations[0] * spatial[1] * lanes, dilations[1] * lanes, scale)


def in_range(count: int, k: int, stride: int, dilation: int, before: int, size: int):
    """Per output index along one axis: the window's first input index (may be negative) and
    the kernel taps [first, last) whose input index lies in [0, size)."""
    start = np.arange(count, dtype=np.int64) * stride - before
    first = np.clip(-(start // dilation), 0, k)
    last = np.clip((size - 1 - start) // dilation + 1, first, k)
    return start, first, last


def reciprocal_counts(spatial, kernel, strides, dilations, pairs, ceil: bool, include: int,
                      length: int) -> np.ndarray:
    """1 / (values averaged) per output position, padded to ``length``: explicit padding counts
    only with count_include_pad, ceil_mode's overhang never (as ``ops.pool`` rules)."""
    ones = np.ones((1, 1, *spatial), np.float32)
    counts = reduce_windows(ones, kernel, strides, dilations, pairs, include, ceil, np.add,
                            0).reshape(-1)
    out = np.ones(length, np.float32)
    out[:counts.size] = 1 / counts
    return out


def global_average(x: Blocked) -> Blocked:
    return global_pool(x, maximum=False)


def global_max(x: Blocked) -> Blocked:
    return global_pool(x, maximum=True)


def global_pool(x: Blocked, maximum: bool) -> Blocked:
    from hetero.backends.cpu.nchwc import loops

    n, n_blocks, lanes = x.data.shape[0], x.data.shape[1], x.lanes
    y = np.empty((n, n_blocks, 1, 1, lanes), np.float32)
    loops.reduce_planes(x.data.reshape(n * n_blocks, -1, lanes), y.reshape(-1, lanes), maximum)
    return Blocked(y, x.channels)

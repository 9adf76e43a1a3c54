"""Max and average pooling of blocked activations: one tile kernel, ONNX's window rules
(explicit pads, auto_pad, dilations, ceil_mode, count_include_pad) from ``ops.windows``."""

from __future__ import annotations

import functools

import numpy as np
from hetero.backends.cpu.nchwc.conv import checked, padded, window_geometry
from hetero.backends.cpu.nchwc.layout import Blocked
from hetero.backends.cpu.ops.windows import geometry, reduce_windows

WIDTH = 8  # positions per tile


def pool(x: Blocked, attrs: dict, maximum: bool) -> Blocked:
    geo, scale = tables(x.data.shape[2:4], x.lanes, maximum, *sorted(
        (k, tuple(v) if isinstance(v, list) else v) for k, v in attrs.items()))
    source = padded(x.data, geo.pairs, -np.inf if maximum else 0.0)
    planes = x.data.shape[0] * x.data.shape[1]
    plane = geo.padded[0] * geo.padded[1] * x.lanes
    checked(source.size, (planes - 1) * plane, int(geo.poff.max()),
            int(geo.toff.max()) + x.lanes - 1)
    from hetero.backends.cpu.nchwc import codegen

    y = np.empty((*x.data.shape[:2], *geo.out, x.lanes), np.float32)
    codegen.pool_kernel(x.lanes, WIDTH, maximum)(
        source.reshape(-1), geo.poff, geo.toff, scale, y.reshape(-1), planes, len(geo.toff),
        len(geo.poff) // WIDTH, geo.positions, plane, geo.positions * x.lanes)
    return Blocked(y, x.channels)


@functools.lru_cache(maxsize=256)
def tables(spatial: tuple[int, int], lanes: int, maximum: bool, *attrs) -> tuple:
    """(window geometry, 1 / count per position) of a pool over planes of ``spatial``."""
    attrs = dict(attrs)
    kernel = tuple(attrs["kernel_shape"])
    ceil = bool(attrs.get("ceil_mode", 0))
    strides, dilations, pairs = geometry(attrs, spatial, kernel)
    geo = window_geometry(spatial, kernel, strides, dilations, pairs, WIDTH, lanes, ceil)
    scale = np.empty(1, np.float32) if maximum else reciprocal_counts(
        spatial, kernel, tuple(strides), tuple(dilations), tuple(map(tuple, pairs)), ceil,
        int(attrs.get("count_include_pad", 0)), len(geo.poff))
    return geo, scale


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

"""The fixed numba loops of the CPU path (the tile kernels are generated: ``codegen``):
layout conversions, padding, LRN. Imported only where used, so the CPU backend still loads
(on its NumPy paths) where numba is missing."""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(parallel=True)
def to_blocked(x, out):  # (N, C, S) -> (N, Cb, S, L); padding lanes zeroed
    n_batch, channels, size = x.shape
    n_blocks, lanes = out.shape[1], out.shape[3]
    for item in numba.prange(n_batch * n_blocks):
        n, cb = item // n_blocks, item % n_blocks
        for s in range(size):
            for lane in range(lanes):
                c = cb * lanes + lane
                out[n, cb, s, lane] = x[n, c, s] if c < channels else 0.0


@numba.njit(parallel=True)
def to_plain(data, out):  # (N, Cb, S, L) -> (N, C, S)
    n_batch, channels, size = out.shape
    lanes = data.shape[3]
    for item in numba.prange(n_batch * channels):
        n, c = item // channels, item % channels
        cb, lane = c // lanes, c % lanes
        for s in range(size):
            out[n, c, s] = data[n, cb, s, lane]


@numba.njit(parallel=True)
def pad_planes(src, dst, top, left, fill):
    """dst[p] = src[p] framed by ``fill``: one pass over the output, planes in parallel."""
    planes, rows, cols = src.shape
    width = dst.shape[2]
    for p in numba.prange(planes):
        for r in range(dst.shape[1]):
            if top <= r < top + rows:
                dst[p, r, :left] = fill
                dst[p, r, left:left + cols] = src[p, r - top]
                dst[p, r, left + cols:] = fill
            else:
                dst[p, r, :width] = fill


@numba.njit(parallel=True)
def lrn_rows(x, y, before, after, scale, bias, beta):
    """y = x / (bias + scale * (sum of squares over the channel window)) ** beta, one
    (image, channel) row per work item; beta 0.75, the usual, through square roots."""
    n_batch, channels, size = x.shape
    for item in numba.prange(n_batch * channels):
        n, c = item // channels, item % channels
        total = np.zeros(size, np.float32)
        for i in range(max(0, c - before), min(channels - 1, c + after) + 1):
            for s in range(size):
                total[s] += x[n, i, s] * x[n, i, s]
        for s in range(size):
            t = bias + scale * total[s]
            if beta == 0.75:
                root = np.sqrt(t)
                y[n, c, s] = x[n, c, s] / (root * np.sqrt(root))
            else:
                y[n, c, s] = x[n, c, s] * t ** -beta


@numba.njit(parallel=True)
def gather_channels(src, dst, offsets):
    """dst[n, b, s, l] = src[n].flat[offsets[b * L + l] + s * L]: a channel permutation of
    blocked (N, Cb, S, L) data, ``offsets`` the source channels' first elements (padding
    lanes point at any real channel)."""
    n_batch, n_blocks, size, lanes = dst.shape
    flat = src.reshape(n_batch, -1)
    for item in numba.prange(n_batch * n_blocks):
        n, block = item // n_blocks, item % n_blocks
        first = offsets[block * lanes:(block + 1) * lanes]
        for s in range(size):
            for lane in range(lanes):
                dst[n, block, s, lane] = flat[n, first[lane] + s * lanes]


@numba.njit(parallel=True)
def reduce_planes(x, out, maximum):
    """out[p] = the max (or the mean) of x[p, s] over s, per lane: global pooling of blocked
    planes (P, S, L). The mean sums in float64, as NumPy's float32 mean nearly does."""
    planes, size, lanes = x.shape
    for p in numba.prange(planes):
        if maximum:
            for lane in range(lanes):
                out[p, lane] = x[p, 0, lane]
            for s in range(1, size):
                for lane in range(lanes):
                    v = x[p, s, lane]
                    if v > out[p, lane] or v != v:
                        out[p, lane] = v
        else:
            total = np.zeros(lanes, np.float64)
            for s in range(size):
                for lane in range(lanes):
                    total[lane] += x[p, s, lane]
            for lane in range(lanes):
                out[p, lane] = total[lane] / size


@numba.njit(parallel=True, fastmath=False)
def erf_into(x, out):  # flat arrays; math.erf per element (ONNX Erf)
    for i in numba.prange(x.size):
        out[i] = math.erf(x[i])


@numba.njit(parallel=True, fastmath=False)
def gelu_into(x, out, tanh_approximation):  # flat arrays; ONNX Gelu, either formula
    for i in numba.prange(x.size):
        v = x[i]
        if tanh_approximation:
            out[i] = 0.5 * v * (1.0 + math.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
        else:
            out[i] = 0.5 * v * (1.0 + math.erf(v * 0.7071067811865476))

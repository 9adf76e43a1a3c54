"""Data movement: Reshape, Flatten, Transpose, Concat, Gather, (Un)Squeeze, Shape, Dropout."""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.nchwc.layout import Blocked, permuted, plain
from hetero.backends.cpu.ops import native


@native("Reshape", since=5)  # older: the shape as an attribute
def reshape(xs, attrs, opset):
    x, shape = xs[0], [int(d) for d in xs[1]]
    if not attrs.get("allowzero", 0):  # 0 copies the input's dimension
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [x.reshape(shape)]


@native("Flatten")
def flatten(xs, attrs, opset):
    x = xs[0]
    axis = attrs.get("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    return [x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)),
                      int(np.prod(x.shape[axis:], dtype=np.int64)))]  # size-0 safe


@native("Transpose")
def transpose(xs, attrs, opset):
    perm = attrs.get("perm")
    return [np.transpose(xs[0], perm)]


@native("Concat", since=4, blocked=True)  # older: axis optional
def concat(xs, attrs, opset):
    if attrs["axis"] in (1, -3) and all(isinstance(x, Blocked) for x in xs) and \
            all(x.aligned() for x in xs[:-1]) and len({x.lanes for x in xs}) == 1:
        return [Blocked(np.concatenate([x.data for x in xs], axis=1),
                        sum(x.channels for x in xs))]
    return [np.concatenate([plain(x) for x in xs], axis=attrs["axis"])]


@native("ChannelShuffle", blocked=True)
def channel_shuffle(xs, attrs, opset):
    """hetero's fused channel shuffle (N, C, ...) -> (N, C/g, g, ...) -> (N, C, ...): output
    channel c is input channel (c % g) * (C / g) + c // g."""
    x, groups = xs[0], attrs["group"]
    n, c = x.shape[:2]
    if isinstance(x, Blocked):
        out = np.arange(c)
        return [permuted(x, (out % groups) * (c // groups) + out // groups)]
    return [x.reshape(n, groups, c // groups, *x.shape[2:]).swapaxes(1, 2).reshape(x.shape)]


@native("Gather")
def gather(xs, attrs, opset):
    return [np.take(xs[0], xs[1], axis=attrs.get("axis", 0))]


def axes_of(xs, attrs, opset: int) -> list[int] | None:
    """Axes as an attribute (before opset 13) or an optional second input (from 13)."""
    if opset < 13:
        return attrs.get("axes")
    return None if len(xs) < 2 or xs[1] is None else [int(a) for a in np.ravel(xs[1])]


@native("Unsqueeze")
def unsqueeze(xs, attrs, opset):
    axes = axes_of(xs, attrs, opset) or []
    rank = xs[0].ndim + len(axes)
    return [np.expand_dims(xs[0], tuple(sorted(a % rank for a in axes)))]


@native("Squeeze")
def squeeze(xs, attrs, opset):
    axes = axes_of(xs, attrs, opset)
    return [np.squeeze(xs[0], axis=None if axes is None else tuple(axes))]


@native("Shape")
def shape(xs, attrs, opset):
    dims = np.array(xs[0].shape, dtype=np.int64)
    return [dims[attrs.get("start", 0):attrs.get("end")]]


@native("Dropout", since=7, when=lambda node: len(node.inputs) < 3 or not node.inputs[2],
        blocked=True)
def dropout(xs, attrs, opset):
    """Inference (no training_mode input): the identity, and an all-true mask if asked."""
    return [xs[0], np.ones(xs[0].shape, dtype=bool)]

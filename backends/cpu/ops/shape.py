"""Data movement: Reshape, Flatten, Transpose, Concat, Gather, (Un)Squeeze, Shape, Dropout."""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.nchwc.layout import Blocked, permuted, plain
from hetero.backends.cpu.ops.table import native


def reshape_target(shape, wanted, attrs: dict) -> list[int]:
    """Reshape's target: a 0 copies the input's dimension unless ``allowzero`` (-1 is left
    for the array library to infer). Shared with the cuda backend's torch ops."""
    wanted = [int(d) for d in wanted]
    if attrs.get("allowzero", 0):
        return wanted
    return [shape[i] if d == 0 else d for i, d in enumerate(wanted)]


def flatten_target(shape, attrs: dict) -> tuple[int, int]:
    """Flatten's 2-D shape: the dimensions before ``axis`` and from it on (size-0 safe)."""
    axis = attrs.get("axis", 1)
    axis = axis + len(shape) if axis < 0 else axis
    return (int(np.prod(shape[:axis], dtype=np.int64)),
            int(np.prod(shape[axis:], dtype=np.int64)))


@native("Reshape", since=5)  # older: the shape as an attribute
def reshape(xs, attrs, opset):
    return [xs[0].reshape(reshape_target(xs[0].shape, xs[1], attrs))]


@native("Flatten")
def flatten(xs, attrs, opset):
    return [xs[0].reshape(flatten_target(xs[0].shape, attrs))]


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


def integers(xs, index: int, default=None) -> list[int] | None:
    """Optional input ``index`` as Python ints (a NumPy array or a torch tensor: shared with
    the cuda backend's torch ops), or ``default`` when the node omits it."""
    if len(xs) <= index or xs[index] is None:
        return default
    return [int(v) for v in xs[index].reshape(-1).tolist()]


def axes_of(xs, attrs, opset: int, since: int = 13) -> list[int] | None:
    """Axes as an attribute (before opset ``since``) or an optional second input (from it)."""
    return attrs.get("axes") if opset < since else integers(xs, 1)


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

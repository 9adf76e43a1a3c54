"""The reductions and ArgMax/ArgMin, with each opset's axes: an attribute until the op
moved them to an optional input (ReduceSum at 13, the others at 18)."""

from __future__ import annotations

import torch
from hetero.backends.cpu.ops.shape import axes_of
from hetero.backends.cuda.ops.table import native

AXES_INPUT_SINCE = {"ReduceSum": 13}  # every other reduction: 18


def reduced(x, xs, attrs, op: str, opset: int) -> list[int]:
    """The axes reduced ([] keeps every element with noop_with_empty_axes)."""
    axes = axes_of(xs, attrs, opset, AXES_INPUT_SINCE.get(op, 18))
    if not axes:
        return [] if attrs.get("noop_with_empty_axes", 0) else list(range(x.ndim))
    return sorted({a % x.ndim for a in axes}) if x.ndim else []


def reduction(op: str, fn):
    def run(xs, attrs, opset):
        x = xs[0]
        axes = reduced(x, xs, attrs, op, opset)
        if not axes:
            return [x.clone()]
        return [fn(x, axes, bool(attrs.get("keepdims", 1)))]

    return run


REDUCTIONS = {
    "ReduceSum": (lambda x, a, k: torch.sum(x, a, k, dtype=x.dtype), False),
    "ReduceMean": (lambda x, a, k: torch.mean(x, a, k), True),
    "ReduceMax": (lambda x, a, k: torch.amax(x, a, k), False),
    "ReduceMin": (lambda x, a, k: torch.amin(x, a, k), False),
    "ReduceProd": (lambda x, a, k: product(x, a, k), False),
    "ReduceL1": (lambda x, a, k: torch.sum(torch.abs(x), a, k, dtype=x.dtype), False),
    "ReduceL2": (lambda x, a, k: torch.sqrt(torch.sum(x * x, a, k)), True),
    "ReduceSumSquare": (lambda x, a, k: torch.sum(x * x, a, k, dtype=x.dtype), False),
    "ReduceLogSum": (lambda x, a, k: torch.log(torch.sum(x, a, k)), True),
    "ReduceLogSumExp": (lambda x, a, k: torch.logsumexp(x, a, k), True),
}


def product(x, axes, keepdims):
    for axis in sorted(axes, reverse=True):  # torch.prod takes one axis at a time
        x = torch.prod(x, axis, keepdim=keepdims)
    return x


for _op, (_fn, _floats) in REDUCTIONS.items():
    native(_op, floats=_floats, host=(1,))(reduction(_op, _fn))


def arg(fn):
    def run(xs, attrs, opset):
        x, axis = xs[0], attrs.get("axis", 0) % max(xs[0].ndim, 1)
        keep = bool(attrs.get("keepdims", 1))
        if attrs.get("select_last_index", 0):  # the last of equal extremes: search reversed
            found = fn(torch.flip(x, (axis,)), axis, keep)
            return [x.shape[axis] - 1 - found]
        return [fn(x, axis, keep)]

    return run


native("ArgMax")(arg(torch.argmax))
native("ArgMin")(arg(torch.argmin))

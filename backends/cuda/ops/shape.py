"""Data movement: Reshape, Flatten, Transpose, Concat, ChannelShuffle, Gather, (Un)Squeeze,
Shape, Dropout, Cast and the rest of data movement. Integer arguments (Reshape's shape,
axes from opset 13) arrive as the model's NumPy constants (``host``), or else are read back
from the device: small, and rarely computed at run time."""

from __future__ import annotations

import numpy as np
import torch
from hetero.backends.cpu.ops.shape import axes_of, flatten_target, integers, reshape_target
from hetero.backends.cuda.memory import torch_dtype
from hetero.backends.cuda.ops.table import OUTPUTS, native


@native("Reshape", since=5, host=(1,))  # older: the shape as an attribute
def reshape(xs, attrs, opset):
    return [xs[0].reshape(reshape_target(xs[0].shape, integers(xs, 1), attrs))]


@native("Flatten")
def flatten(xs, attrs, opset):
    return [xs[0].reshape(flatten_target(tuple(xs[0].shape), attrs))]


@native("Transpose")
def transpose(xs, attrs, opset):
    x = xs[0]
    perm = attrs.get("perm") or list(reversed(range(x.ndim)))
    return [x.permute(*perm)]


@native("Concat", since=4)  # older: axis optional
def concat(xs, attrs, opset):
    return [torch.cat(xs, attrs["axis"])]


@native("ChannelShuffle")
def channel_shuffle(xs, attrs, opset):
    """hetero's fused channel shuffle: (N, C, ...) -> (N, g, C/g, ...) -> swap -> back."""
    x, groups = xs[0], attrs["group"]
    n, c = x.shape[:2]
    return [x.reshape(n, groups, c // groups, *x.shape[2:]).transpose(1, 2).reshape(x.shape)]


@native("Gather")
def gather(xs, attrs, opset):
    x, indices = xs
    axis = attrs.get("axis", 0) % x.ndim
    flat = indices.reshape(-1).long()
    flat = torch.where(flat < 0, flat + x.shape[axis], flat)
    picked = torch.index_select(x, axis, flat)
    return [picked.reshape(*x.shape[:axis], *indices.shape, *x.shape[axis + 1:])]


@native("Unsqueeze", host=(1,))
def unsqueeze(xs, attrs, opset):
    x = xs[0]
    axes = axes_of(xs, attrs, opset) or []
    rank = x.ndim + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = x.unsqueeze(axis)
    return [x]


@native("Squeeze", host=(1,))
def squeeze(xs, attrs, opset):
    x = xs[0]
    axes = axes_of(xs, attrs, opset)
    if axes is None:
        return [x.reshape([d for d in x.shape if d != 1])]
    gone = {a % x.ndim for a in axes}
    return [x.reshape([d for i, d in enumerate(x.shape) if i not in gone])]


@native("Shape")
def shape(xs, attrs, opset):
    dims = list(xs[0].shape)[attrs.get("start", 0):attrs.get("end")]
    return [torch.tensor(dims, dtype=torch.int64, device=xs[0].device)]


@native("Dropout", since=7, when=lambda node: len(node.inputs) < 3 or not node.inputs[2])
def dropout(xs, attrs, opset):
    """Inference (no training_mode input): the identity, and an all-ones mask (of the
    input's type before opset 10, bool from 10)."""
    mask = torch.bool if opset >= 10 else xs[0].dtype
    return [xs[0], torch.ones_like(xs[0], dtype=mask)] if attrs[OUTPUTS] > 1 else [xs[0]]


CASTABLE = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64,
            9: np.bool_, 10: np.float16, 11: np.float64}  # ONNX TensorProto data types


@native("Cast", since=6, when=lambda node: node.attrs.get("to") in CASTABLE)
def cast(xs, attrs, opset):
    return [xs[0].to(torch_dtype(np.dtype(CASTABLE[attrs["to"]])))]


@native("CastLike")
def cast_like(xs, attrs, opset):
    return [xs[0].to(xs[1].dtype)]


@native("Expand", since=8, host=(1,))
def expand(xs, attrs, opset):
    """NumPy broadcasting both ways (a 1 in the shape keeps the input's dimension)."""
    x, shape = xs[0], integers(xs, 1)
    target = torch.broadcast_shapes(tuple(x.shape), tuple(shape))
    return [x.expand(target).clone()]


@native("Tile", since=6, host=(1,))
def tile(xs, attrs, opset):
    return [xs[0].repeat(*integers(xs, 1))]


@native("Size")
def size(xs, attrs, opset):
    return [torch.tensor(xs[0].numel(), dtype=torch.int64, device=xs[0].device)]


@native("ConstantOfShape")
def constant_of_shape(xs, attrs, opset):
    from onnx import numpy_helper

    value = attrs.get("value")  # a TensorProto, as onnx.helper reads attributes
    fill = np.zeros(1, np.float32) if value is None else \
        numpy_helper.to_array(value).reshape(-1)
    out = torch.empty(integers(xs, 0), dtype=torch_dtype(fill.dtype), device=xs[0].device)
    return [out.fill_(fill[0].item())]


@native("Split", since=2, host=(1,))
def split(xs, attrs, opset):
    """Sizes from the attribute (before 13) or the input (from 13), else equal parts
    (num_outputs from 18; uneven, the last part smaller)."""
    x, axis = xs[0], attrs.get("axis", 0)
    sizes = attrs.get("split") if opset < 13 else \
        integers(xs, 1)
    if not sizes:
        parts = attrs.get("num_outputs") or attrs[OUTPUTS]
        chunk = -(-x.shape[axis] // parts)
        sizes = [min(chunk, x.shape[axis] - i * chunk) for i in range(parts)]
    return [part.contiguous() for part in torch.split(x, list(sizes), axis)]


@native("Slice", since=10, host=(1, 2, 3, 4))  # older: starts, ends and axes as attributes
def slice_(xs, attrs, opset):
    x = xs[0]
    starts, ends = integers(xs, 1), integers(xs, 2)
    axes = integers(xs, 3, list(range(len(starts))))
    steps = integers(xs, 4, [1] * len(starts))
    index = [slice(None)] * x.ndim
    flips = []
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis %= x.ndim
        first, last, stride = slice(start, end, step).indices(x.shape[axis])
        if step > 0:
            index[axis] = slice(first, max(last, first), stride)
        else:  # torch slices forwards only: take the same elements, then reverse them
            count = len(range(first, last, stride))
            low = first + (count - 1) * stride if count else 0
            index[axis] = slice(low, low + (count - 1) * -stride + 1 if count else 0, -stride)
            flips.append(axis)
    out = x[tuple(index)]
    return [torch.flip(out, flips) if flips else out]


@native("Trilu", host=(1,))
def trilu(xs, attrs, opset):
    (k,) = integers(xs, 1, [0])
    fn = torch.triu if attrs.get("upper", 1) else torch.tril
    return [fn(xs[0], k)]


@native("GatherElements")
def gather_elements(xs, attrs, opset):
    x, indices = xs
    axis = attrs.get("axis", 0) % x.ndim
    indices = indices.long()
    indices = torch.where(indices < 0, indices + x.shape[axis], indices)
    return [torch.gather(x, axis, indices)]


@native("Einsum", floats=True)  # cuBLAS: no integer batched GEMM
def einsum(xs, attrs, opset):
    equation = attrs["equation"]
    equation = equation.decode() if isinstance(equation, bytes) else equation
    return [torch.einsum(equation, *xs)]


@native("Range")
def range_(xs, attrs, opset):
    start, limit, delta = (x.item() for x in xs)
    return [torch.arange(start, limit, delta, dtype=xs[0].dtype, device=xs[0].device)]


@native("CumSum", host=(1,))
def cumsum(xs, attrs, opset):
    x, axis = xs[0], integers(xs, 1)[0] % max(xs[0].ndim, 1)
    if attrs.get("reverse", 0):
        x = torch.flip(x, (axis,))
    out = torch.cumsum(x, axis, dtype=x.dtype)
    if attrs.get("exclusive", 0):  # shift by one: each sums what came strictly before it
        out = out - x
    return [torch.flip(out, (axis,)) if attrs.get("reverse", 0) else out]

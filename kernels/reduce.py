"""ReduceSum, ReduceMean, ReduceMax over any set of axes, and ArgMax along one axis.

Each work-item produces one output element, walking the reduced elements through their shape
and strides (so any axes, contiguous or not, work without a transpose).
"""

from __future__ import annotations

import numpy as np
from hetero.kernels.base import (
    FLOATS,
    NUMBERS,
    Case,
    Cost,
    Op,
    TensorInfo,
    constant,
    io_bytes,
    launch,
    normalise_axis,
    numel,
    offset,
    output,
    random,
    register,
    strides,
)

import hetero


@hetero.func
def add(a, b):
    return a + b


@hetero.func
def larger(a, b):
    return hetero.max(a, b)


def make_kernel(name: str, combine) -> hetero.Kernel:
    @hetero.kernel
    def reduce(x, out, kshape, kstride, krank, rshape, rstride, rrank, count, mean):
        base = offset(hetero.global_id(0), kshape, kstride, krank)
        acc = x[base]
        for r in range(1, count):
            acc = combine(acc, x[base + offset(r, rshape, rstride, rrank)])
        out[hetero.global_id(0)] = acc / count if mean > 0 else acc

    reduce.__name__ = name.lower()
    return reduce


def axes_of(shape: tuple[int, ...], attrs: dict, op: str) -> list[int]:
    axes = attrs.get("axes")
    if axes is None or len(axes) == 0:
        return [] if attrs.get("noop_with_empty_axes", 0) else list(range(len(shape)))
    return sorted({normalise_axis(a, len(shape), op) for a in axes})


def reduced_shape(shape: tuple[int, ...], axes: list[int], keepdims: bool) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def make_op(name: str, combine, numpy_fn, dtypes: tuple[str, ...]) -> Op:
    kern = make_kernel(name, combine)

    def infer(inputs, attrs):
        x = inputs[0]
        axes = axes_of(x.shape, attrs, name)
        return [TensorInfo(reduced_shape(x.shape, axes, attrs.get("keepdims", 1)), x.dtype)]

    def run(device, inputs, attrs):
        x = inputs[0]
        axes = axes_of(x.shape, attrs, name)
        own = strides(x.shape)
        kept = [d for d in range(x.ndim) if d not in axes]
        out = output(device, reduced_shape(x.shape, axes, attrs.get("keepdims", 1)), x.dtype)
        count = numel([x.shape[d] for d in axes])
        if count == 0:
            raise hetero.UnsupportedOp(f"{name}: reducing an empty set of elements")
        launch(kern, device, numel(out.shape), None, x.reshape(-1), out.reshape(-1),
               constant(device, [x.shape[d] for d in kept]),
               constant(device, [own[d] for d in kept]), len(kept),
               constant(device, [x.shape[d] for d in axes]),
               constant(device, [own[d] for d in axes]), len(axes), count,
               1 if name == "ReduceMean" else 0)
        return [out]

    def reference(xs, attrs):
        x = xs[0]
        axes = tuple(axes_of(x.shape, attrs, name))
        wide = x.astype(np.float64) if x.dtype.kind == "f" else x
        return [numpy_fn(wide, axis=axes, keepdims=bool(attrs.get("keepdims", 1)))
                .astype(x.dtype)]

    def cases(dtype, rng):
        x = random(rng, (3, 4, 5), dtype)
        return [Case("all axes", (x,)), Case("axes=[1]", (x,), {"axes": [1]}),
                Case("axes=[0,2] keepdims=0", (x,), {"axes": [0, 2], "keepdims": 0}),
                Case("axes=[-1]", (random(rng, (2, 33), dtype),), {"axes": [-1]})]

    return Op(name=name, since=(1, 11, 13, 18), dtypes=dtypes, infer=infer,
              cost=lambda xs, attrs: Cost(numel(xs[0].shape), io_bytes(xs, infer(xs, attrs))),
              reference=reference, run=run, cases=cases, kernels=(kern,))


@hetero.kernel
def argmax(x, out, n, inner, last):
    o = hetero.global_id(0)
    base = (o // inner) * n * inner + o % inner
    best = x[base]
    found = 0
    for r in range(1, n):
        v = x[base + r * inner]
        if v > best or (last > 0 and v == best):
            best = v
            found = r
    out[o] = found


def argmax_shape(shape, attrs):
    axis = normalise_axis(attrs.get("axis", 0), len(shape), "ArgMax")
    if attrs.get("keepdims", 1):
        return axis, tuple(1 if d == axis else n for d, n in enumerate(shape))
    return axis, tuple(n for d, n in enumerate(shape) if d != axis)


def run_argmax(device, inputs, attrs):
    x = inputs[0]
    axis, shape = argmax_shape(x.shape, attrs)
    out = output(device, shape, "int64")
    launch(argmax, device, numel(shape), None, x.reshape(-1), out.reshape(-1), x.shape[axis],
           numel(x.shape[axis + 1:]), int(attrs.get("select_last_index", 0)))
    return [out]


def reference_argmax(xs, attrs):
    x = xs[0]
    axis, shape = argmax_shape(x.shape, attrs)
    if attrs.get("select_last_index", 0):
        flipped = np.flip(x, axis)
        index = x.shape[axis] - 1 - np.argmax(flipped, axis=axis)
    else:
        index = np.argmax(x, axis=axis)
    return [index.reshape(shape).astype(np.int64)]


def argmax_cases(dtype, rng):
    ties = np.array([[1, 3, 3, 0], [2, 2, 1, 2]], dtype=dtype)
    x = random(rng, (3, 4, 5), dtype)
    return [Case("axis=0", (x,)), Case("axis=2 keepdims=0", (x,), {"axis": 2, "keepdims": 0}),
            Case("ties first", (ties,), {"axis": 1}),
            Case("ties last", (ties,), {"axis": 1, "select_last_index": 1})]


register(
    make_op("ReduceSum", add, np.sum, NUMBERS),
    make_op("ReduceMean", add, np.mean, FLOATS),
    make_op("ReduceMax", larger, np.max, NUMBERS),
    Op(name="ArgMax", since=(1, 11, 12, 13), dtypes=NUMBERS,
       infer=lambda xs, attrs: [TensorInfo(argmax_shape(xs[0].shape, attrs)[1], "int64")],
       cost=lambda xs, attrs: Cost(numel(xs[0].shape), io_bytes(xs, [])),
       reference=reference_argmax, run=run_argmax, cases=argmax_cases, kernels=(argmax,)),
)

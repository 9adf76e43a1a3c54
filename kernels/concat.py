"""Concat along one axis: one copy launch per input into its slab of the output."""

from __future__ import annotations

import numpy as np
from hetero.kernels.base import (
    NUMBERS,
    Case,
    Cost,
    Op,
    TensorInfo,
    io_bytes,
    launch,
    normalise_axis,
    numel,
    output,
    random,
    register,
)

import hetero


@hetero.kernel
def copy_slab(x, out, slab, out_row, offset):
    i = hetero.global_id(0)
    out[(i // slab) * out_row + offset + i % slab] = x[i]


def infer(inputs, attrs):
    first = inputs[0]
    axis = normalise_axis(attrs.get("axis", 0), len(first.shape), "Concat")
    for i, t in enumerate(inputs):
        if len(t.shape) != len(first.shape) or any(
                a != b for d, (a, b) in enumerate(zip(t.shape, first.shape, strict=True))
                if d != axis):
            raise hetero.UnsupportedOp(f"Concat: input {i} has shape {t.shape}, which does "
                                       f"not match {first.shape} off axis {axis}")
    shape = list(first.shape)
    shape[axis] = sum(t.shape[axis] for t in inputs)
    return [TensorInfo(tuple(shape), first.dtype)]


def run(device, inputs, attrs):
    (info,) = infer([TensorInfo(tuple(x.shape), x.dtype.name) for x in inputs], attrs)
    axis = normalise_axis(attrs.get("axis", 0), len(info.shape), "Concat")
    out = output(device, info.shape, inputs[0].dtype)
    after = numel(info.shape[axis + 1:])
    offset = 0
    for x in inputs:
        slab = x.shape[axis] * after
        launch(copy_slab, device, numel(x.shape), None, x.reshape(-1), out.reshape(-1), slab,
               info.shape[axis] * after, offset)
        offset += slab
    return [out]


def cases(dtype, rng):
    return [Case("axis=1, 3 inputs", tuple(random(rng, (2, n, 4), dtype) for n in (1, 3, 2)),
                 {"axis": 1}),
            Case("axis=-1", (random(rng, (3, 2), dtype), random(rng, (3, 5), dtype)),
                 {"axis": -1}),
            Case("axis=0", (random(rng, (1, 4), dtype), random(rng, (2, 4), dtype)))]


register(Op(name="Concat", since=(4, 11, 13), dtypes=NUMBERS, infer=infer,
            cost=lambda xs, attrs: Cost(0, 2 * io_bytes(xs, [])),
            reference=lambda xs, attrs: [np.concatenate(xs, axis=attrs.get("axis", 0))],
            run=run, cases=cases, kernels=(copy_slab,)))

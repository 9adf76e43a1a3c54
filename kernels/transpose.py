"""Transpose: each output element reads the input through permuted strides."""

from __future__ import annotations

import numpy as np
from hetero.kernels.base import (
    NUMBERS,
    Case,
    Cost,
    Op,
    TensorInfo,
    constant,
    io_bytes,
    launch,
    numel,
    offset,
    output,
    random,
    register,
    strides,
)

import hetero


@hetero.kernel
def transpose(x, out, out_shape, in_stride, rank):
    i = hetero.global_id(0)
    out[i] = x[offset(i, out_shape, in_stride, rank)]


def permutation(shape, attrs) -> list[int]:
    perm = attrs.get("perm")
    perm = list(range(len(shape)))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(len(shape))):
        raise hetero.UnsupportedOp(f"Transpose: perm {perm} is not a permutation of "
                                   f"0..{len(shape) - 1}")
    return perm


def run(device, inputs, attrs):
    x = inputs[0]
    perm = permutation(x.shape, attrs)
    shape = tuple(x.shape[p] for p in perm)
    own = strides(x.shape)
    out = output(device, shape, x.dtype)
    launch(transpose, device, numel(shape), None, x.reshape(-1), out.reshape(-1),
           constant(device, shape), constant(device, [own[p] for p in perm]), len(shape))
    return [out]


def cases(dtype, rng):
    x = random(rng, (2, 3, 4, 5), dtype)
    return [Case("default perm", (x,)), Case("perm=[0,2,3,1]", (x,), {"perm": [0, 2, 3, 1]}),
            Case("2-D", (random(rng, (33, 17), dtype),), {"perm": [1, 0]})]


OPS_TRANSPOSE = Op(name="Transpose", since=(1, 13, 21), dtypes=NUMBERS,
            infer=lambda xs, attrs: [TensorInfo(tuple(xs[0].shape[p] for p in permutation(
                xs[0].shape, attrs)), xs[0].dtype)],
            cost=lambda xs, attrs: Cost(0, io_bytes(xs, xs[:1])),
            reference=lambda xs, attrs: [np.transpose(xs[0], permutation(xs[0].shape, attrs))
                                         .copy()],
            run=run, cases=cases, kernels=(transpose,))
register(OPS_TRANSPOSE)

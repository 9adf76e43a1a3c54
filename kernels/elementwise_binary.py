"""Add, Sub, Mul, Div, Pow with NumPy (multidirectional) broadcasting.

Equal shapes take a flat kernel (one load per operand, vectorisable); broadcasting takes a
kernel that unravels each output index against per-operand strides (0 where broadcast).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hetero.kernels.base import (
    FLOATS,
    NUMBERS,
    Case,
    Cost,
    Op,
    broadcast_strides,
    constant,
    io_bytes,
    launch,
    numel,
    offset,
    output,
    random,
    register,
)

import hetero


def make_kernels(name: str, fn: hetero.kernel.DeviceFunction):
    @hetero.kernel
    def flat(a, b, out):
        i = hetero.global_id(0)
        out[i] = fn(a[i], b[i])

    @hetero.kernel
    def broadcast(a, b, out, shape, astride, bstride, rank):
        i = hetero.global_id(0)
        out[i] = fn(a[offset(i, shape, astride, rank)], b[offset(i, shape, bstride, rank)])

    flat.__name__, broadcast.__name__ = f"{name.lower()}_flat", f"{name.lower()}_broadcast"
    return flat, broadcast


@hetero.func
def add(x, y):
    return x + y


@hetero.func
def sub(x, y):
    return x - y


@hetero.func
def mul(x, y):
    return x * y


@hetero.func
def div(x, y):
    return x / y


@hetero.func
def power(x, y):
    return hetero.pow(x, y)


def make_op(name: str, fn, reference: Callable, dtypes: tuple[str, ...],
            since: tuple[int, ...]) -> Op:
    flat, broadcast = make_kernels(name, fn)

    def infer(inputs, attrs):
        shape = np.broadcast_shapes(inputs[0].shape, inputs[1].shape)
        return [type(inputs[0])(tuple(shape), inputs[0].dtype)]

    def cost(inputs, attrs):
        (out,) = infer(inputs, attrs)
        return Cost(flops=numel(out.shape) * (10 if name == "Pow" else 1),
                    bytes=io_bytes(inputs, [out]))

    def run(device, inputs, attrs):
        a, b = inputs
        shape = tuple(np.broadcast_shapes(a.shape, b.shape))
        out = output(device, shape, a.dtype)
        n = numel(shape)
        if a.shape == b.shape:
            launch(flat, device, n, None, a.reshape(-1), b.reshape(-1), out.reshape(-1))
            return [out]
        rank = max(len(shape), 1)
        launch(broadcast, device, n, None, a.reshape(-1), b.reshape(-1), out.reshape(-1),
               constant(device, shape or (1,)), constant(device, broadcast_strides(a.shape, shape)
                                                         or (0,)),
               constant(device, broadcast_strides(b.shape, shape) or (0,)), rank)
        return [out]

    def cases(dtype, rng):
        positive = name in ("Pow", "Div")
        low = 0.5 if positive else -2.0

        def pair(sa, sb):
            return (random(rng, sa, dtype, low, 2.0), random(rng, sb, dtype, low, 2.0))

        shapes = [((3, 5, 7), (3, 5, 7)), ((4, 1, 6), (5, 1)), ((), (2, 3)), ((7,), (1,))]
        return [Case(f"{sa} op {sb}", pair(sa, sb)) for sa, sb in shapes]

    return Op(name=name, since=since, dtypes=dtypes, infer=infer, cost=cost,
              reference=lambda xs, attrs: [reference(xs[0], xs[1]).astype(xs[0].dtype)],
              run=run, cases=cases, kernels=(flat, broadcast))


register(
    make_op("Add", add, np.add, NUMBERS, (7, 13, 14)),
    make_op("Sub", sub, np.subtract, NUMBERS, (7, 13, 14)),
    make_op("Mul", mul, np.multiply, NUMBERS, (7, 13, 14)),
    make_op("Div", div, np.divide, FLOATS, (7, 13, 14)),
    make_op("Pow", power, np.power, FLOATS, (7, 12, 13, 15)),
)

"""Relu, LeakyRelu, Sigmoid, Tanh, Exp, Log, Sqrt, Erf, Clip and Gelu: one flat kernel each.

Each op is a ``@hetero.func`` of the value and up to two attribute parameters (alpha, min,
max), inlined into a one-line kernel; the kernel factory is shared by the whole family.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from hetero.kernels.base import (
    FLOATS,
    Case,
    Cost,
    Op,
    io_bytes,
    launch,
    numel,
    output,
    random,
    register,
)

import hetero

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT2 = 1.0 / math.sqrt(2.0)


def make_kernel(name: str, fn) -> hetero.Kernel:
    @hetero.kernel
    def unary(x, out, p, q):
        i = hetero.global_id(0)
        out[i] = fn(x[i], p, q)

    unary.__name__ = name.lower()
    return unary


@hetero.func
def relu(x, p, q):
    return hetero.max(x, 0.0)


@hetero.func
def leaky_relu(x, alpha, q):
    return x if x >= 0.0 else alpha * x


@hetero.func
def sigmoid(x, p, q):
    return 1.0 / (1.0 + hetero.exp(-x))


@hetero.func
def tanh(x, p, q):
    return hetero.tanh(x)


@hetero.func
def exp(x, p, q):
    return hetero.exp(x)


@hetero.func
def log(x, p, q):
    return hetero.log(x)


@hetero.func
def sqrt(x, p, q):
    return hetero.sqrt(x)


@hetero.func
def erf(x, p, q):
    return hetero.erf(x)


@hetero.func
def clip(x, low, high):
    return hetero.min(hetero.max(x, low), high)


@hetero.func
def gelu(x, p, tanh_form):
    exact = 0.5 * x * (1.0 + hetero.erf(x * INV_SQRT2))
    approx = 0.5 * x * (1.0 + hetero.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    return approx if tanh_form > 0 else exact


def reference_gelu(x: np.ndarray, attrs: dict) -> np.ndarray:
    x64 = x.astype(np.float64)
    if attrs.get("approximate", "none") == "tanh":
        y = 0.5 * x64 * (1 + np.tanh(SQRT_2_OVER_PI * (x64 + 0.044715 * x64 ** 3)))
    else:
        y = 0.5 * x64 * (1 + np.vectorize(math.erf)(x64 * INV_SQRT2))
    return y


REFERENCES: dict[str, Callable[[np.ndarray, dict], np.ndarray]] = {
    "Relu": lambda x, a: np.maximum(x, 0),
    "LeakyRelu": lambda x, a: np.where(x >= 0, x, a.get("alpha", 0.01) * x),
    "Sigmoid": lambda x, a: 1.0 / (1.0 + np.exp(-x.astype(np.float64))),
    "Tanh": lambda x, a: np.tanh(x.astype(np.float64)),
    "Exp": lambda x, a: np.exp(x.astype(np.float64)),
    "Log": lambda x, a: np.log(x.astype(np.float64)),
    "Sqrt": lambda x, a: np.sqrt(x.astype(np.float64)),
    "Erf": lambda x, a: np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64)),
    "Clip": lambda x, a: np.clip(x, a.get("min", -np.inf), a.get("max", np.inf)),
    "Gelu": reference_gelu,
}


def parameters(name: str, attrs: dict) -> tuple[float, float]:
    """The two scalar parameters each kernel takes, from the ONNX attributes (or inputs)."""
    if name == "LeakyRelu":
        return float(attrs.get("alpha", 0.01)), 0.0
    if name == "Clip":
        return float(attrs.get("min", -np.inf)), float(attrs.get("max", np.inf))
    if name == "Gelu":
        return 0.0, 1.0 if attrs.get("approximate", "none") == "tanh" else 0.0
    return 0.0, 0.0


FLOPS_PER_ELEMENT = {"Relu": 1, "LeakyRelu": 2, "Clip": 2, "Sqrt": 4, "Exp": 10, "Log": 10,
                     "Sigmoid": 12, "Tanh": 12, "Erf": 15, "Gelu": 20}
POSITIVE = ("Log", "Sqrt")


def make_op(name: str, fn, since: tuple[int, ...]) -> Op:
    kern = make_kernel(name, fn)

    def run(device, inputs, attrs):
        x = inputs[0]
        out = output(device, x.shape, x.dtype)
        p, q = parameters(name, attrs)
        launch(kern, device, numel(x.shape), None, x.reshape(-1), out.reshape(-1), p, q)
        return [out]

    def cases(dtype, rng):
        low = 0.1 if name in POSITIVE else -3.0
        shapes = [(1000,), (3, 4, 5), ()]
        out = [Case(f"x{shape}", (random(rng, shape, dtype, low, 3.0),)) for shape in shapes]
        if name == "LeakyRelu":
            out.append(Case("alpha=0.2", (random(rng, (64,), dtype),), {"alpha": 0.2}))
        if name == "Clip":
            out.append(Case("min=-1,max=0.5", (random(rng, (64,), dtype),),
                            {"min": -1.0, "max": 0.5}))
        if name == "Gelu":
            out.append(Case("approximate=tanh", (random(rng, (64,), dtype),),
                            {"approximate": "tanh"}))
        return out

    reference = REFERENCES[name]
    return Op(name=name, since=since, dtypes=FLOATS,
              infer=lambda xs, attrs: [xs[0]],
              cost=lambda xs, attrs: Cost(numel(xs[0].shape) * FLOPS_PER_ELEMENT[name],
                                          io_bytes(xs, xs[:1])),
              reference=lambda xs, attrs: [reference(xs[0], attrs).astype(xs[0].dtype)],
              run=run, cases=cases, kernels=(kern,))


register(
    make_op("Relu", relu, (6, 13, 14)), make_op("LeakyRelu", leaky_relu, (6, 16)),
    make_op("Sigmoid", sigmoid, (6, 13)), make_op("Tanh", tanh, (6, 13)),
    make_op("Exp", exp, (6, 13)), make_op("Log", log, (6, 13)), make_op("Sqrt", sqrt, (6, 13)),
    make_op("Erf", erf, (9, 13)), make_op("Clip", clip, (6, 11, 12, 13)),
    make_op("Gelu", gelu, (20,)),
)

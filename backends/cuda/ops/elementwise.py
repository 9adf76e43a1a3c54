"""Elementwise ops whose torch function has ONNX's meaning (NumPy broadcasting; the model's
inputs share one dtype, so torch's type promotion never applies)."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from hetero.backends.cuda.ops.table import native

UNARY = {"Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Exp": torch.exp,
         "Log": torch.log, "Sqrt": torch.sqrt, "Abs": torch.abs, "Neg": torch.neg,
         "Reciprocal": torch.reciprocal, "Floor": torch.floor, "Ceil": torch.ceil,
         "Erf": torch.erf, "Sin": torch.sin, "Cos": torch.cos, "Tan": torch.tan,
         "Asin": torch.asin, "Acos": torch.acos, "Atan": torch.atan, "Sinh": torch.sinh,
         "Cosh": torch.cosh, "Asinh": torch.asinh, "Acosh": torch.acosh,
         "Atanh": torch.atanh, "Softsign": F.softsign, "Round": torch.round,
         "Sign": torch.sign, "IsNaN": torch.isnan}
FLOAT_UNARY = {"Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Erf",
               "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh",
               "Atanh", "Softsign", "Round", "IsNaN"}
BINARY = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div,
          "Equal": torch.eq, "Less": torch.lt, "Greater": torch.gt,
          "LessOrEqual": torch.le, "GreaterOrEqual": torch.ge, "And": torch.logical_and,
          "Or": torch.logical_or, "Xor": torch.logical_xor, "PRelu": None}
FLOAT_BINARY = {"Div"}
VARIADIC = {"Sum": torch.add, "Max": torch.maximum, "Min": torch.minimum}


def unary(fn):
    return lambda xs, attrs, opset: [fn(xs[0])]


def binary(fn):
    return lambda xs, attrs, opset: [fn(xs[0], xs[1])]


for _name, _fn in UNARY.items():  # consumed_inputs before opset 6
    native(_name, since=6, floats=_name in FLOAT_UNARY)(unary(_fn))
for _name, _fn in BINARY.items():  # the broadcast attribute before opset 7
    if _fn is not None:
        native(_name, since=7, floats=_name in FLOAT_BINARY)(binary(_fn))


@native("Pow", since=7, floats=True)
def power(xs, attrs, opset):
    """The base's type, whatever the exponent's (torch would promote float16 ** float32)."""
    return [torch.pow(xs[0], xs[1]).to(xs[0].dtype)]


@native("PRelu", since=7, floats=True)
def prelu(xs, attrs, opset):
    x, slope = xs
    return [torch.where(x < 0, x * slope, x)]


def fold(fn):
    return lambda xs, attrs, opset: [xs[0].clone() if len(xs) == 1
                                     else functools.reduce(fn, xs)]


for _name, _fn in VARIADIC.items():  # consumed_inputs before opset 6; Max/Min broadcast at 8
    native(_name, since=8)(fold(_fn))


@native("Mean", since=8, floats=True)
def mean(xs, attrs, opset):
    return [functools.reduce(torch.add, xs) / len(xs)]


@native("Not")
def logical_not(xs, attrs, opset):
    return [torch.logical_not(xs[0])]


@native("Where", since=9)
def where(xs, attrs, opset):
    return [torch.where(xs[0], xs[1], xs[2])]


@native("LeakyRelu", since=6, floats=True)
def leaky_relu(xs, attrs, opset):
    return [F.leaky_relu(xs[0], attrs.get("alpha", 0.01))]


@native("Elu", since=6, floats=True)
def elu(xs, attrs, opset):
    return [F.elu(xs[0], attrs.get("alpha", 1.0))]


@native("Selu", since=6, floats=True)
def selu(xs, attrs, opset):
    x = xs[0]
    alpha, gamma = attrs.get("alpha", 1.67326319217681884765625), \
        attrs.get("gamma", 1.05070102214813232421875)
    return [gamma * torch.where(x > 0, x, alpha * torch.expm1(x))]


@native("HardSigmoid", since=6, floats=True)
def hard_sigmoid(xs, attrs, opset):
    return [torch.clamp(attrs.get("alpha", 0.2) * xs[0] + attrs.get("beta", 0.5), 0, 1)]


@native("Softplus", floats=True)
def softplus(xs, attrs, opset):
    x = xs[0]  # log(1 + e^x) without overflow (torch's softplus turns linear at x > 20)
    return [torch.clamp_min(x, 0) + torch.log1p(torch.exp(-torch.abs(x)))]


@native("Gelu", floats=True)
def gelu(xs, attrs, opset):
    approximate = attrs.get("approximate", b"none")
    approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
    return [F.gelu(xs[0], approximate=approximate)]


@native("Clip", since=6)
def clip(xs, attrs, opset):
    """Bounds as attributes before opset 11, as optional inputs from 11."""
    x = xs[0]
    if opset < 11:
        low, high = attrs.get("min"), attrs.get("max")
    else:
        low, high = (xs[i] if len(xs) > i else None for i in (1, 2))
    if low is None and high is None:
        return [x.clone()]
    return [torch.clamp(x, low, high)]


@native("Identity")
def identity(xs, attrs, opset):
    return [xs[0]]

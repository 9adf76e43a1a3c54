"""The normalisations: BatchNormalization (inference), LRN, LayerNormalization,
InstanceNormalization, and Softmax and LogSoftmax with each opset's meaning of ``axis``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hetero.backends.cpu.ops.softmax import rows_of
from hetero.backends.cuda.ops.table import native, outputs_used, with_activation


def batch_norm(xs, attrs):
    x, scale, bias, mean, var = xs[:5]
    return F.batch_norm(x, mean, var, scale, bias, False, 0.0, attrs.get("epsilon", 1e-5))


@native("BatchNormalization", since=9, floats=True,  # older: spatial, is_test
        when=lambda node: outputs_used(node) == 1 and not node.attrs.get("training_mode", 0))
def batch_normalization(xs, attrs, opset):
    return [batch_norm(xs, attrs)]


@native("FusedBatchNormalization", when=lambda node: node.attrs.get("activation") == "Relu")
def fused_batch_normalization(xs, attrs, opset):
    return [with_activation(batch_norm(xs, attrs), attrs)]


@native("LRN", floats=True, when=lambda node: node.attrs.get("size", 0) % 2 == 1)
def lrn(xs, attrs, opset):
    """torch centres an even window one channel later than ONNX: odd sizes only."""
    return [F.local_response_norm(xs[0], attrs["size"], attrs.get("alpha", 1e-4),
                                  attrs.get("beta", 0.75), attrs.get("bias", 1.0))]


@native("LayerNormalization", since=17, floats=True,
        when=lambda node: outputs_used(node) == 1)  # Mean and InvStdDev: other devices
def layer_normalization(xs, attrs, opset):
    x, scale = xs[0], xs[1]
    bias = xs[2] if len(xs) > 2 else None
    axis = attrs.get("axis", -1) % x.ndim
    shape = tuple(x.shape[axis:])
    return [F.layer_norm(x, shape, scale.expand(shape), None if bias is None
                         else bias.expand(shape), attrs.get("epsilon", 1e-5))]


@native("InstanceNormalization", since=6, floats=True)
def instance_normalization(xs, attrs, opset):
    x, scale, bias = xs
    return [F.instance_norm(x, weight=scale, bias=bias, eps=attrs.get("epsilon", 1e-5))]


@native("Softmax", floats=True)
def softmax(xs, attrs, opset):
    return [normalised(xs[0], attrs, opset, torch.softmax)]


@native("LogSoftmax", floats=True)
def log_softmax(xs, attrs, opset):
    return [normalised(xs[0], attrs, opset, torch.log_softmax)]


def normalised(x, attrs: dict, opset: int, fn):
    """Before opset 13, over the input flattened to 2-D at ``axis`` (default 1); from 13
    on, over the one ``axis`` (default -1)."""
    if opset >= 13:
        return fn(x, attrs.get("axis", -1))
    return fn(x.reshape(rows_of(tuple(x.shape), attrs)), 1).reshape(x.shape)

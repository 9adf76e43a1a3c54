"""Matrix products: Gemm with a constant float32 right-hand side (a fully connected layer) on
the direct tile kernel, its weights packed once; everything else through NumPy's BLAS."""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.derived import derived
from hetero.backends.cpu.nchwc.conv import DirectConv
from hetero.backends.cpu.ops.table import native

from hetero.backend import importable


def specialise_gemm(node, graph, opset: int):
    if not importable("numba"):  # the kernels are compiled by numba; NumPy paths remain
        return None
    constants = graph.constants
    attrs = node.attrs
    b = constants.get(node.inputs[1])
    c_name = node.inputs[2] if len(node.inputs) > 2 else ""
    c = constants.get(c_name) if c_name else None
    if b is None or b.dtype != np.float32 or b.ndim != 2 or attrs.get("transA", 0) or \
            (c_name and c is None):
        return None
    columns = b if attrs.get("transB", 0) else b.T
    alpha = np.float32(attrs.get("alpha", 1.0))
    n, k = columns.shape
    # B's columns as C-ordered rows, times alpha, in one pass (not a product, then a copy);
    # one array per weight, so the packing below is shared too
    def scaled() -> np.ndarray:
        w = np.empty((n, k, 1, 1), np.float32)
        np.multiply(columns, alpha, out=w[:, :, 0, 0])
        return w

    w = derived(b, ("gemm", bool(attrs.get("transB", 0)), float(alpha)), scaled)
    bias = None
    if c is not None:  # C must be one value per output column to become the bias
        if c.dtype != np.float32 or c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1):
            return None
        bias = np.broadcast_to(c.reshape(-1), (n,)) * np.float32(attrs.get("beta", 1.0))
    kernel = DirectConv(w, bias, {})
    relu = node.op_type == "FusedGemm"

    def run(xs, attrs, opset):
        a = xs[0]
        if a.ndim == 2 and a.dtype == np.float32 and a.shape[1] == k:
            return [kernel.rows(a, relu)]
        return (fused_gemm if relu else gemm)(xs, attrs, opset)
    return run


@native("MatMul")
def matmul(xs, attrs, opset):
    return [np.matmul(xs[0], xs[1])]


@native("Gemm", since=7, specialise=specialise_gemm)  # older: the broadcast attribute
def gemm(xs, attrs, opset):
    a, b = xs[0], xs[1]
    a = a.T if attrs.get("transA", 0) else a
    b = b.T if attrs.get("transB", 0) else b
    y = np.matmul(a, b)
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    if alpha != 1.0:
        y = y * alpha  # a Python float: float tensors keep their type, ints widen then cast
    if len(xs) > 2 and xs[2] is not None:
        y = y + (xs[2] if beta == 1.0 else xs[2] * beta)
    return [y.astype(a.dtype, copy=False)]


@native("FusedGemm", specialise=specialise_gemm)
def fused_gemm(xs, attrs, opset):
    """Gemm then its activation (hetero's fusion pass)."""
    (y,) = gemm(xs, attrs, opset)
    return [np.maximum(y, 0, out=y)]

"""Matrix products through NumPy's BLAS."""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.ops import native


@native("MatMul")
def matmul(xs, attrs, opset):
    return [np.matmul(xs[0], xs[1])]


@native("Gemm", since=7)  # older: the broadcast attribute
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


@native("FusedGemm")
def fused_gemm(xs, attrs, opset):
    """Gemm then its activation (hetero's fusion pass)."""
    (y,) = gemm(xs, attrs, opset)
    return [np.maximum(y, 0, out=y)]

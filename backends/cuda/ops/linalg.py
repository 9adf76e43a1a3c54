"""MatMul and Gemm on cuBLAS through torch."""

from __future__ import annotations

import torch
from hetero.backends.cuda.ops.table import native, with_activation


@native("MatMul", floats=True)
def matmul(xs, attrs, opset):
    return [torch.matmul(xs[0], xs[1])]


def gemm_of(xs, attrs):
    """alpha * A' B' + beta * C, C broadcast (unidirectionally) to the product's shape."""
    a, b = xs[0], xs[1]
    a = a.t() if attrs.get("transA", 0) else a
    b = b.t() if attrs.get("transB", 0) else b
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    c = xs[2] if len(xs) > 2 else None
    if c is None or beta == 0:
        product = a @ b
        return product * alpha if alpha != 1.0 else product
    return torch.addmm(c, a, b, beta=beta, alpha=alpha)


@native("Gemm", since=7, floats=True)  # older: the broadcast attribute
def gemm(xs, attrs, opset):
    return [gemm_of(xs, attrs)]


@native("FusedGemm", when=lambda node: node.attrs.get("activation") == "Relu")
def fused_gemm(xs, attrs, opset):
    return [with_activation(gemm_of([x for x in xs if x is not None], attrs), attrs)]

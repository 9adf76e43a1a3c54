"""The op library: one ONNX op (or family) per module, each with inference, cost, a NumPy
reference and a portable ``@hetero.kernel`` implementation. ``OPS`` maps op names to them."""

from __future__ import annotations

from hetero.kernels import (  # noqa: F401 - importing a module registers its ops
    batch_normalization,
    concat,
    conv,
    elementwise_binary,
    elementwise_unary,
    gemm,
    layer_normalization,
    matmul,
    pool,
    reduce,
    softmax,
    transpose,
)
from hetero.kernels.base import OPS, Case, Cost, Op, TensorInfo

__all__ = ["OPS", "Case", "Cost", "Op", "TensorInfo", "get"]


def get(name: str) -> Op:
    """The op called ``name`` (ONNX op type), or KeyError listing those that exist."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"no op {name!r} in hetero.kernels; have {', '.join(sorted(OPS))}") \
            from None

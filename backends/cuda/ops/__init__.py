"""CUDA's native ONNX ops, in torch: cuDNN convolutions and pools, cuBLAS GEMMs and torch's
elementwise kernels, on whatever device the input tensors are on (a GPU; the host's CPU
under numba's CUDA simulator, which is how CI checks them against ONNX Runtime).

One op family per module registers ``op_type -> fn(inputs, attrs, opset) -> outputs`` in
``TABLE`` (``table.py``: the op modules import it, never this package).
``floats=True`` marks ops placed only where their first input is floating point
(cuBLAS and cuDNN have no integer GEMM or convolution; ONNX's integer Div and Pow round
differently from torch's); ``host`` marks the inputs read as numbers (shapes, axes).
"""

from __future__ import annotations

from hetero.backends.cuda.ops import (  # noqa: F401 - they register
    conv,
    elementwise,
    linalg,
    normalization,
    reduce,
    shape,
)
from hetero.backends.cuda.ops.table import OUTPUTS, TABLE, native  # noqa: F401

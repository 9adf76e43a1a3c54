"""CUDA's native ONNX ops, in torch: cuDNN convolutions and pools, cuBLAS GEMMs and torch's
elementwise kernels, on whatever device the input tensors are on (a GPU; the host's CPU
under numba's CUDA simulator, which is how CI checks them against ONNX Runtime).

One op family per module registers ``op_type -> fn(inputs, attrs, opset) -> outputs`` in
``TABLE``. ``floats=True`` marks ops placed only where their first input is floating point
(cuBLAS and cuDNN have no integer GEMM or convolution; ONNX's integer Div and Pow round
differently from torch's); ``host`` marks the inputs read as numbers (shapes, axes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hetero.optable import OpTable, outputs_used  # noqa: F401 - the op modules import it

TABLE = OpTable()
OUTPUTS = "hetero:outputs"  # in the attributes an op receives: how many outputs the node has


def native(*op_types: str, when: Callable[[Any], bool] | None = None, since: int = 1,
           floats: bool = False, host: tuple[int, ...] = ()) -> Callable:
    """Register a torch op; ``host``: the inputs it reads as numbers (shapes, axes), which
    it receives as NumPy arrays when they are the model's constants, so the host never
    waits for the GPU to read them back."""
    return TABLE.register(*op_types, when=when, since=since, floats=floats, host=host)


def with_activation(y: Any, attrs: dict) -> Any:
    """hetero's fused ops (FusedConv, FusedGemm, FusedBatchNormalization) end in a Relu."""
    import torch

    return torch.relu_(y) if attrs.get("activation") == "Relu" else y


from hetero.backends.cuda.ops import (  # noqa: E402, F401 - they register
    conv,
    elementwise,
    linalg,
    normalization,
    reduce,
    shape,
)

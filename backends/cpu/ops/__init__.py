"""The CPU's native ONNX ops: NumPy/BLAS implementations of the ops models spend time in.

One op family per module; each registers ``op_type -> fn(inputs, attrs, opset) -> outputs``
in ``TABLE`` (``table.py``, which the op modules import: nothing imports this package
from inside it) (``opset``: the model's version of the op's domain, for ops whose meaning
changed between versions). Anything not here runs on the reference tier
(``hetero.graph.reference``).

Two opt-ins: ``blocked=True`` when the op accepts activations in the NCHWc layout
(``nchwc.layout.Blocked``) as they are (others receive plain arrays), and ``specialise`` for
ops that prepare per node once (a Conv packs its constant weights for the tile kernels).
"""

from __future__ import annotations

from hetero.backends.cpu.ops import (  # noqa: F401 - they register
    conv,
    elementwise,
    linalg,
    normalization,
    pool,
    shape,
    softmax,
    special,
)
from hetero.backends.cpu.ops.table import TABLE, native, runs_natively  # noqa: F401

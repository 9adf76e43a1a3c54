"""Erf and Gelu: one parallel numba loop over the elements (math.erf, math.tanh), where the
reference tier called math.erf element by element from Python (0.67 ms for 8192 values)."""

from __future__ import annotations

import numpy as np
from hetero.backends.cpu.ops.table import native

COMPILED = (np.float32, np.float64)  # the loop's types; others compute in float64


def elementwise(loop, x: np.ndarray, *args) -> np.ndarray:
    """``loop`` over ``x``'s elements into a new array of ``x``'s dtype."""
    from hetero.backends.cpu.nchwc import loops  # noqa: F401 - numba only where used

    work = x if x.dtype.type in COMPILED else x.astype(np.float64)
    flat = np.ascontiguousarray(work).reshape(-1)
    out = np.empty_like(flat)
    if flat.size:
        loop(flat, out, *args)
    return out.reshape(x.shape).astype(x.dtype, copy=False)


@native("Erf")
def erf(xs, attrs, opset):
    from hetero.backends.cpu.nchwc.loops import erf_into

    return [elementwise(erf_into, np.asarray(xs[0]))]


@native("Gelu")
def gelu(xs, attrs, opset):
    from hetero.backends.cpu.nchwc.loops import gelu_into

    approximate = attrs.get("approximate", "none")
    approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
    return [elementwise(gelu_into, np.asarray(xs[0]), approximate == "tanh")]

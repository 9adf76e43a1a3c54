"""The names a kernel calls: work-item queries, barrier, scratch arrays, atomics and math.

They exist only to be recognised by the frontend; calling one from ordinary Python raises a
TypeError that says so. ``math``'s functions and the builtins ``min``, ``max``, ``abs``,
``float``, ``int``, ``bool``, ``len`` and ``range`` are recognised too.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

import numpy as np

#: intrinsic name -> (number of arguments, result rule); the rule is read by the frontend.
MATH = {
    "exp": 1, "log": 1, "sqrt": 1, "tanh": 1, "erf": 1, "sin": 1, "cos": 1, "fabs": 1,
    "floor": 1, "ceil": 1, "exp2": 1, "log2": 1, "rsqrt": 1, "pow": 2, "min": 2, "max": 2,
    "fma": 3, "abs": 1,
}
WORK_ITEM = ("global_id", "local_id", "group_id", "global_size", "local_size", "num_groups")
OTHER = ("barrier", "local_array", "private_array", "atomic_add", "cast")
DTYPES = ("float16", "float32", "float64", "int32", "int64", "bool_")


def _stub(name: str) -> Callable[..., Any]:
    def intrinsic(*args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"hetero.{name}() works only inside a @hetero.kernel function, "
                        "where the kernel compiler translates it")

    intrinsic.__name__ = intrinsic.__qualname__ = name
    intrinsic.__doc__ = f"Kernel intrinsic ``{name}`` (valid only inside @hetero.kernel)."
    intrinsic._hetero_intrinsic = name  # type: ignore[attr-defined]
    return intrinsic


global_id, local_id, group_id, global_size, local_size, num_groups = map(_stub, WORK_ITEM)
barrier, local_array, private_array, atomic_add = map(_stub, OTHER[:4])
exp, log, sqrt, tanh, erf, sin, cos, fabs, floor, ceil, exp2, log2, rsqrt = map(
    _stub, ("exp", "log", "sqrt", "tanh", "erf", "sin", "cos", "fabs", "floor", "ceil", "exp2",
            "log2", "rsqrt"))
pow, min, max, fma = map(_stub, ("pow", "min", "max", "fma"))  # noqa: A001

#: Python objects the frontend maps to intrinsics, besides the stubs above.
FOREIGN: dict[int, str] = {
    id(math.exp): "exp", id(math.log): "log", id(math.sqrt): "sqrt", id(math.tanh): "tanh",
    id(math.erf): "erf", id(math.sin): "sin", id(math.cos): "cos", id(math.fabs): "fabs",
    id(math.floor): "floor", id(math.ceil): "ceil", id(math.pow): "pow", id(math.exp2): "exp2",
    id(math.log2): "log2", id(builtins.min): "min",
    id(builtins.max): "max", id(builtins.abs): "abs", id(builtins.len): "len",
    id(builtins.range): "range", id(builtins.float): "float64", id(builtins.int): "int64",
    id(builtins.bool): "bool", id(np.float16): "float16", id(np.float32): "float32",
    id(np.float64): "float64", id(np.int32): "int32", id(np.int64): "int64",
    id(np.bool_): "bool",
}
if hasattr(math, "fma"):  # Python 3.13+
    FOREIGN[id(math.fma)] = "fma"


def intrinsic_name(obj: object) -> str | None:
    """The intrinsic a Python object stands for inside a kernel, or None."""
    return getattr(obj, "_hetero_intrinsic", None) or FOREIGN.get(id(obj))

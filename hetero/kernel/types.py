"""The kernel language's types: scalars (with NumPy 2 promotion) and arrays in three memory spaces.

Literals and Python scalars handed to a launch are *weak* (NEP 50): ``x[i] * 2.0`` stays float32
when ``x`` is float32. float16 is a storage type: loads yield float32 and arithmetic runs in
float32 on every target, as OpenCL's ``vload_half`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCALARS = ("bool", "int32", "int64", "float16", "float32", "float64")
FLOATS = ("float16", "float32", "float64")
INTS = ("int32", "int64")


@dataclass(frozen=True)
class Scalar:
    """A scalar type; ``weak`` marks a literal or Python number that adopts its partner's type."""

    name: str
    weak: bool = False

    def __post_init__(self) -> None:
        if self.name not in SCALARS:
            raise TypeError(f"{self.name} is not a kernel scalar type; use one of {SCALARS}")

    @property
    def is_float(self) -> bool:
        return self.name in FLOATS

    @property
    def is_int(self) -> bool:
        return self.name in INTS

    def strong(self) -> Scalar:
        return Scalar(self.name) if self.weak else self

    def __str__(self) -> str:
        return f"{self.name}{' (literal)' if self.weak else ''}"


@dataclass(frozen=True)
class ArrayType:
    """An array: global arguments (any shape, known at launch) or local/private scratch.

    ``dtype`` is the storage type; ``shape`` is fixed at compile time for local and private
    arrays and ``None`` for global arguments (their extents arrive as hidden arguments).
    """

    dtype: str
    ndim: int
    space: str = "global"
    shape: tuple[int, ...] | None = None

    @property
    def element(self) -> Scalar:
        """What a load yields: float16 storage computes as float32."""
        return Scalar("float32" if self.dtype == "float16" else self.dtype)

    @property
    def size(self) -> int:
        assert self.shape is not None
        return int(np.prod(self.shape, dtype=np.int64))

    def __str__(self) -> str:
        return f"{self.space} {self.dtype}[{self.ndim}-d]"


BOOL, INT32, INT64 = Scalar("bool"), Scalar("int32"), Scalar("int64")
FLOAT32, FLOAT64 = Scalar("float32"), Scalar("float64")
WEAK_INT, WEAK_FLOAT = Scalar("int64", weak=True), Scalar("float64", weak=True)


def compute_type(t: Scalar) -> Scalar:
    """float16 values compute as float32 (weakness kept)."""
    return Scalar("float32", t.weak) if t.name == "float16" else t


def promote(a: Scalar, b: Scalar) -> Scalar:
    """The result type of ``a op b`` under NumPy 2 rules, with weak literals adopting the other."""
    if a.weak and not b.weak:
        return _weak_with(a, b)
    if b.weak and not a.weak:
        return _weak_with(b, a)
    name = np.promote_types(a.name, b.name).name
    if name not in SCALARS:  # e.g. bool + bool stays bool in NumPy; anything exotic widens
        name = "float64" if "float" in name else "int64"
    return compute_type(Scalar(name, a.weak and b.weak))


def _weak_with(weak: Scalar, strong: Scalar) -> Scalar:
    if weak.is_float and not strong.is_float:
        return FLOAT64
    if weak.is_int and strong.name == "bool":
        return INT64
    return compute_type(strong)


def unify(old: Scalar | None, new: Scalar) -> Scalar:
    """A variable's type after one more assignment: the promotion of everything assigned to it."""
    return compute_type(new) if old is None else promote(old, new)


def of_value(value: object) -> Scalar:
    """The type of a launch argument or a constant captured from Python."""
    if isinstance(value, bool | np.bool_):
        return Scalar("bool", weak=isinstance(value, bool))
    if isinstance(value, int):
        return WEAK_INT
    if isinstance(value, float):
        return WEAK_FLOAT
    if isinstance(value, np.generic) and value.dtype.name in SCALARS:
        return Scalar(value.dtype.name)
    raise TypeError(f"{type(value).__name__} is not a kernel scalar "
                    f"(use bool, int, float or a NumPy scalar of {', '.join(SCALARS)})")


#: NumPy type of each scalar parameter as a target receives it (float16 computes as float32).
ARGUMENT_TYPES = {"bool": np.bool_, "int32": np.int32, "int64": np.int64,
                  "float16": np.float32, "float32": np.float32, "float64": np.float64}


def marshal_scalars(params: list, args: list, types: dict = ARGUMENT_TYPES) -> list:
    """Launch values in parameter order: arrays as given, scalars as their NumPy type."""
    return [value if isinstance(p.type, ArrayType) else types[p.type.name](value)
            for p, value in zip(params, args, strict=True)]


def dtype_name(dtype: object) -> str:
    """A NumPy dtype (or its name) as a kernel storage type name, or TypeError."""
    name = np.dtype(dtype).name
    if name not in SCALARS:
        raise TypeError(f"arrays of {name} cannot enter a kernel; use one of {SCALARS}")
    return name

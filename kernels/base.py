"""What one op of the library declares, and the registry the package fills.

An ``Op`` is the ONNX op's name and opset versions, shape/dtype inference, a cost formula (the
cost model's input), a NumPy reference, the portable-kernel implementation and the cases the
conformance suite runs. Families (the unary elementwise ops, say) build several Ops in one file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import hetero
from hetero.array import Array, empty
from hetero.device import Device
from hetero.errors import UnsupportedOp
from hetero.graph.ir import TensorInfo, itemsize, numel
from hetero.kernel.launch import Kernel
from hetero.queue import Work

FLOATS = ("float32", "float64", "float16")
NUMBERS = ("float32", "float64", "float16", "int32", "int64")


@dataclass(frozen=True)
class Cost:
    """Work of one node: floating-point (or integer) operations and bytes moved to and from
    memory, assuming each input is read once and each output written once."""

    flops: float
    bytes: float


@dataclass(frozen=True)
class Case:
    """One conformance case: NumPy inputs, ONNX attributes and a label for reports."""

    label: str
    inputs: tuple[np.ndarray, ...]
    attrs: dict[str, Any] = field(default_factory=dict)


Attrs = dict[str, Any]


@dataclass(frozen=True)
class Op:
    name: str
    since: tuple[int, ...]
    dtypes: tuple[str, ...]
    infer: Callable[[Sequence[TensorInfo], Attrs], list[TensorInfo]]
    cost: Callable[[Sequence[TensorInfo], Attrs], Cost]
    reference: Callable[[Sequence[np.ndarray], Attrs], list[np.ndarray]]
    run: Callable[[Device, Sequence[Array], Attrs], list[Array]]
    cases: Callable[[str, np.random.Generator], list[Case]]
    kernels: tuple[Kernel, ...] = ()

    def __call__(self, device: Device, inputs: Sequence[Array], attrs: Attrs | None = None
                 ) -> list[Array]:
        """Run the op on ``device`` (inputs must live there); returns its output Arrays."""
        attrs = attrs or {}
        for i, x in enumerate(inputs):
            if x is not None and x.dtype.name not in self.dtypes:
                raise UnsupportedOp(f"{self.name}: input {i} is {x.dtype.name}; the portable "
                                    f"kernel supports {', '.join(self.dtypes)}")
        return self.run(device, inputs, attrs)


OPS: dict[str, Op] = {}


def register(*ops: Op) -> None:
    for op in ops:
        if op.name in OPS:
            raise ValueError(f"op {op.name} is registered twice")
        OPS[op.name] = op


def info(x: Array | np.ndarray) -> TensorInfo:
    return TensorInfo(tuple(x.shape), np.dtype(x.dtype).name)


def io_bytes(inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> float:
    return float(sum(numel(t.shape) * itemsize(t.dtype) for t in [*inputs, *outputs]))


@hetero.func
def offset(index, shape, stride, rank):
    """Element offset of flat ``index`` over ``shape``, read through ``stride`` (a device
    function: broadcasting, transposes, batches and reductions all walk indices this way)."""
    rest = index
    at = 0
    for d in range(rank - 1, -1, -1):
        at += (rest % shape[d]) * stride[d]
        rest = rest // shape[d]
    return at


def launch(kern: Kernel, device: Device, global_size: Any, local_size: Any, *args: Any,
           work: Work | None = None) -> None:
    """Launch and wait: ops are synchronous, so their outputs are ready when they return."""
    if all(n > 0 for n in ((global_size,) if isinstance(global_size, int) else global_size)):
        kern.launch(device, global_size, local_size, args, work=work).wait()


def output(device: Device, shape: Sequence[int], dtype: Any) -> Array:
    return empty(tuple(shape), dtype, device)


def constant(device: Device, values: Sequence[int]) -> Array:
    """Small int64 parameter arrays (shapes, strides) for kernels, at least one element."""
    from hetero.array import asarray

    data = np.asarray(list(values) or [0], dtype=np.int64)
    return asarray(data, device)


def strides(shape: Sequence[int]) -> list[int]:
    """C-order element strides."""
    out, step = [], 1
    for n in reversed(shape):
        out.append(step)
        step *= n
    return out[::-1]


def broadcast_strides(shape: Sequence[int], target: Sequence[int]) -> list[int]:
    """Element strides of ``shape`` read as ``target`` (0 along broadcast dimensions)."""
    pad = [1] * (len(target) - len(shape)) + list(shape)
    own = strides(pad)
    return [0 if n == 1 and t != 1 else s for n, t, s in zip(pad, target, own, strict=True)]


def random(rng: np.random.Generator, shape: Sequence[int], dtype: str, low: float = -2.0,
           high: float = 2.0) -> np.ndarray:
    """Test data exactly representable in ``dtype``."""
    if dtype.startswith("int"):
        return rng.integers(int(low) * 5, int(high) * 5 + 1, size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


def normalise_axis(axis: int, rank: int, op: str) -> int:
    if not -rank <= axis < max(rank, 1):
        raise UnsupportedOp(f"{op}: axis {axis} is out of range for rank {rank}")
    return axis % max(rank, 1)

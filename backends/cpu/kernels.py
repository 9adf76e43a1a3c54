"""Kernels on the host through numba: compile the generated Python, launch over host arrays.

Work-groups run in parallel on numba's thread pool; a global atomic add is a real LLVM
``atomicrmw``. float16 arrays enter as float32 copies (numba's CPU target has no float16)
and the kernel's writes are copied back; each store rounds to float16 first, so a value read
back inside the kernel is the one float16 memory would hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hetero.errors import KernelCompileError
from hetero.kernel import ir
from hetero.kernel.codegen import cpu as codegen
from hetero.kernel.codegen.pysource import load_python
from hetero.kernel.launch import LaunchSpec
from hetero.kernel.types import ARGUMENT_TYPES, ArrayType

CHUNK_GROUPS_PER_THREAD = 4


@dataclass
class CPUProgram:
    kernel: ir.KernelIR
    source: str
    function: Any


def atomics() -> dict[str, Any]:
    """numba intrinsics for ``atomic_add``: LLVM atomicrmw on global arrays, plain on scratch."""
    import numba
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def _atomic_add(typingctx, array, index, value):
        def codegen(context, builder, signature, args):
            array_type = signature.args[0]
            view = context.make_array(array_type)(context, builder, args[0])
            pointer = cgutils.get_item_pointer(context, builder, array_type, view, [args[1]],
                                               wraparound=False)
            op = "fadd" if isinstance(array_type.dtype, types.Float) else "add"
            return builder.atomic_rmw(op, pointer, args[2], "monotonic")

        return array.dtype(array, types.intp, array.dtype), codegen

    @numba.njit(inline="always")
    def _plain_add(array, index, value):
        old = array[index]
        array[index] = old + value
        return old

    return {"_atomic_add": _atomic_add, "_plain_add": _plain_add}


def half_rounding() -> Any:
    """float32 -> nearest float16 (ties to even), in float32: adding and removing 2^(e+13)
    leaves 11 significant bits in x's binade (2^-24 steps below it: subnormals)."""
    import math

    import numba

    @numba.njit(inline="always")
    def _round_half(value):
        x = np.float32(value)
        magnitude = abs(x)
        if magnitude != magnitude or magnitude == 0:  # NaN, and zeros keep their sign
            return x
        if magnitude >= np.float32(65520.0):  # rounds past float16's largest, 65504
            return np.float32(math.copysign(math.inf, x))
        binade = max(math.frexp(magnitude)[1] - 1, -14)
        shift = np.float32(math.copysign(2.0 ** (binade + 13), x))
        return np.float32(math.copysign((x + shift) - shift, x))  # -tiny rounds to -0.0

    return _round_half


_HELPERS: dict[str, Any] = {}


def compile_kernel(kernel: ir.KernelIR, entry: str) -> CPUProgram:
    """Compile now, for the kernel's exact signature: errors surface at launch, and the first
    launch's Event measures the kernel, not numba's compiler."""
    import numba

    if not _HELPERS:
        _HELPERS.update(atomics(), _round_half=half_rounding())
    source = codegen.generate(kernel, entry)
    python = load_python(source, entry, {"prange": numba.prange, **_HELPERS})
    try:
        function = numba.njit(signature(kernel), parallel=True, error_model="numpy",
                              fastmath={"contract"}, nogil=True)(python)
    except Exception as exc:
        if not type(exc).__module__.startswith("numba"):
            raise
        raise KernelCompileError(f"kernel {kernel.name}: numba could not compile the "
                                 f"generated code:\n{exc}\n--- generated source ---\n"
                                 f"{source}") from exc
    return CPUProgram(kernel, source, function)


def signature(kernel: ir.KernelIR) -> Any:
    """numba's type signature of the generated function: flat C arrays (float16 as float32),
    typed scalars, then the nine int64 grid values."""
    from numba import from_dtype, types

    def numba_type(param: ir.Param) -> Any:
        kind = param.type
        name = kind.dtype if isinstance(kind, ArrayType) else kind.name
        element = from_dtype(np.dtype(ARGUMENT_TYPES[name]))
        return types.Array(element, 1, "C") if isinstance(kind, ArrayType) else element

    return types.none(*map(numba_type, kernel.params), *[types.int64] * 9)


def run(program: CPUProgram, args: list[Any], spec: LaunchSpec, threads: int) -> None:
    local = spec.local_size or chunk(spec.global_size, threads)
    groups = [-(-g // n) for g, n in zip(spec.global_size, local, strict=True)]
    values, write_back = marshal(program.kernel, args)
    try:
        program.function(*values, *spec.global_size, *local, *groups)
    except SystemError as exc:  # numba's parallel loop wraps what the kernel raised
        if isinstance(exc.__cause__, IndexError):
            raise IndexError(f"kernel {program.kernel.name}: an array index is out of bounds "
                             "(checked because NUMBA_BOUNDSCHECK=1)") from exc.__cause__
        raise
    for target, computed in write_back:
        target[...] = computed.reshape(target.shape)


def marshal(kernel: ir.KernelIR, args: list[Any]) -> tuple[list[Any], list[tuple]]:
    """Flat arrays and typed scalars, in parameter order; float16 goes through float32."""
    values, write_back = [], []
    for param, value in zip(kernel.params, args, strict=True):
        if isinstance(param.type, ArrayType):
            flat = value.reshape(-1)
            if flat.dtype == np.float16:
                widened = flat.astype(np.float32)
                if param.name in kernel.written:
                    write_back.append((value, widened))
                flat = widened
            values.append(flat)
        else:
            values.append(ARGUMENT_TYPES[param.type.name](value))
    return values, write_back


def chunk(global_size: tuple[int, int, int], threads: int) -> tuple[int, int, int]:
    """Work-groups for a launch that left their size open: a few per thread along dim 0."""
    groups = max(threads * CHUNK_GROUPS_PER_THREAD, 1)
    return (max(-(-global_size[0] // groups), 1), global_size[1], global_size[2])


class NumbaKernels:
    """The kernel half of a host-memory backend (cpu, and sim, which computes on the host)."""

    kernel_target = "numba-cpu"

    def kernel_source(self, device: Any, kernel: ir.KernelIR, entry: str) -> str:
        return codegen.generate(kernel, entry)

    def compile_kernel(self, device: Any, kernel: ir.KernelIR, entry: str) -> CPUProgram:
        return compile_kernel(kernel, entry)

    def run_kernel(self, device: Any, program: CPUProgram, args: list[Any],
                   spec: LaunchSpec) -> None:
        import numba

        run(program, args, spec, numba.get_num_threads())

    def max_group_size(self, device: Any) -> int:
        return 1024

"""Portable kernels on the tvm backend: the kernel IR as TVMScript (``hetero.kernel.codegen.tir``),
parsed into a TIR PrimFunc and built by ``tvm.compile`` for the llvm target, through the same
on-disk compile cache as subgraphs. Launches hand TVM the host arrays through DLPack: no copy,
so the kernel writes straight into them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hetero.backends.cpu.kernels import chunk
from hetero.backends.tvm.compiler import HOST_TARGET, cached_library

from hetero.cache import cache_dir, content_key
from hetero.errors import KernelCompileError
from hetero.kernel import ir
from hetero.kernel.codegen import tir
from hetero.kernel.launch import LaunchSpec
from hetero.kernel.types import ARGUMENT_TYPES, ArrayType

#: Shrinks buffers to the region a schedule touches; on plain loops over local cells it
#: rewrote indices into cells it had not declared (TVM 0.27). Kernel buffers are exact-size.
UNSAFE_PASSES = ["s_tir.CompactBufferAllocation"]


@dataclass
class TIRProgram:
    """A built kernel: its TVMScript, the compiled function, and whether it came from the
    cache ("loaded from the compile cache") or was compiled now."""

    kernel: ir.KernelIR
    source: str
    function: Any
    origin: str


def compile_kernel(kernel: ir.KernelIR, entry: str,
                   target: dict[str, Any] = HOST_TARGET) -> TIRProgram:
    import tvm

    source = tir.generate(kernel, entry)
    path = cache_dir() / "tvm" / f"{content_key(source, target, tvm.__version__)}.so"
    function, origin = cached_library(path, lambda: build(kernel, source, target),
                                      lambda library: library[entry])
    return TIRProgram(kernel, source, function, origin)


def build(kernel: ir.KernelIR, source: str, target: dict[str, Any]) -> Any:
    import tvm
    from tvm.script import tirx
    from tvm.script.parser import parse

    try:
        function = parse(source, extra_vars={"T": tirx})
        with tvm.transform.PassContext(disabled_pass=UNSAFE_PASSES):
            return tvm.compile(function, target=tvm.target.Target(target))
    except Exception as exc:  # noqa: BLE001 - TVM's parser and passes raise many types
        raise KernelCompileError(
            f"kernel {kernel.name}: TVM could not compile the generated TIR "
            f"({type(exc).__name__}: {str(exc).strip()[-600:]})\n--- generated TVMScript "
            f"---\n{source}") from exc


def run(program: TIRProgram, args: list[Any], spec: LaunchSpec) -> None:
    local = spec.local_size or chunk(spec.global_size, len(os.sched_getaffinity(0)))
    groups = [-(-g // n) for g, n in zip(spec.global_size, local, strict=True)]
    program.function(*marshal(program.kernel, args), *spec.global_size, *local, *groups)


def marshal(kernel: ir.KernelIR, args: list[Any]) -> list[Any]:
    """Arrays as DLPack views of the host memory (flat, no copy); scalars as Python numbers,
    which TVM converts to each parameter's type."""
    import tvm_ffi

    values = []
    for param, value in zip(kernel.params, args, strict=True):
        if isinstance(param.type, ArrayType):
            values.append(tvm_ffi.from_dlpack(value.reshape(-1)))
        else:
            values.append(ARGUMENT_TYPES[param.type.name](value).item())
    return values


class TIRKernels:
    """The kernel half of the tvm backend."""

    kernel_target = "tvm-tir"

    def kernel_source(self, device: Any, kernel: ir.KernelIR, entry: str) -> str:
        return tir.generate(kernel, entry)

    def compile_kernel(self, device: Any, kernel: ir.KernelIR, entry: str) -> TIRProgram:
        return compile_kernel(kernel, entry, device.info.get("target", HOST_TARGET))

    def run_kernel(self, device: Any, program: TIRProgram, args: list[Any],
                   spec: LaunchSpec) -> None:
        run(program, args, spec)

    def max_group_size(self, device: Any) -> int:
        return 1024

"""Identifiers the code generators own, and the pass that moves kernel variables off them.

Kernel variables are printed verbatim into Python (numba, TVMScript) and OpenCL C, so a
variable called ``half``, ``math``, ``min`` or ``T`` would shadow a type, module or function
the generated code uses.
Before any target sees the IR, such variables are renamed; generators keep their own names
under ``_`` (Python) and ``hk_`` (OpenCL C) so user names never reach that space.
"""

from __future__ import annotations

import builtins
import dataclasses
import keyword
from typing import Any

from hetero.kernel import ir

#: Modules and helpers the Python generators (numba CPU and CUDA, TVMScript) refer to by name.
PYTHON_NAMES = {"np", "math", "numba", "cuda", "prange", "hetero", "T"} | set(dir(builtins)) \
    | set(keyword.kwlist) | set(keyword.softkwlist)

#: OpenCL C (1.2/2.0) keywords, types, qualifiers and the built-ins the OpenCL generator emits.
OPENCL_WORDS = """
auto break case char const continue default do double else enum extern float for goto if inline
int long register restrict return short signed sizeof static struct switch typedef union
unsigned void volatile while bool true false half uchar ushort uint ulong size_t ptrdiff_t
intptr_t uintptr_t constant __constant global __global local __local private __private kernel
__kernel read_only write_only read_write image1d_t image2d_t image3d_t sampler_t event_t
get_global_id get_local_id get_group_id get_global_size get_local_size get_num_groups barrier
CLK_LOCAL_MEM_FENCE CLK_GLOBAL_MEM_FENCE vload_half vstore_half vstore_half_rte atomic_add atom_add
atomic_cmpxchg atom_cmpxchg exp log sqrt tanh erf sin cos fabs floor ceil exp2 log2 rsqrt pow
fma min max fmin fmax abs convert_float convert_double convert_int convert_long select
"""
OPENCL_NAMES = set(OPENCL_WORDS.split())
#: Vector type names (float4, long16, ...), all reserved in OpenCL C.
OPENCL_NAMES |= {f"{base}{n}" for base in ("char", "uchar", "short", "ushort", "int", "uint",
                                           "long", "ulong", "float", "double", "half")
                 for n in (2, 3, 4, 8, 16)}

RESERVED = PYTHON_NAMES | OPENCL_NAMES
GENERATED_PREFIXES = ("_", "hk_")
#: IR fields that hold a kernel identifier (variables, arrays, parameters).
NAME_FIELDS = ("name", "array", "target", "var")


def is_reserved(name: str) -> bool:
    return name in RESERVED or name.startswith(GENERATED_PREFIXES)


def identifiers(kernel: ir.KernelIR) -> set[str]:
    names = {p.name for p in kernel.params} | set(kernel.variables) | set(kernel.scratch)
    for stmt in ir.walk(kernel.body):
        if isinstance(stmt, ir.For):
            names.add(stmt.var)
    return names


def safe_names(kernel: ir.KernelIR) -> dict[str, str]:
    """A new name for each identifier a target reserves, clashing with nothing else."""
    taken = identifiers(kernel)
    renames = {}
    for name in sorted(n for n in taken if is_reserved(n)):
        new = f"v{name}" if name.startswith(GENERATED_PREFIXES) else f"{name}_"
        while is_reserved(new) or new in taken:
            new += "_"
        renames[name] = new
        taken.add(new)
    return renames


def rename(node: Any, renames: dict[str, str]) -> Any:
    """A copy of an IR node (statement, expression, list) with identifiers renamed."""
    if isinstance(node, list | tuple):
        return type(node)(rename(n, renames) for n in node)
    if not dataclasses.is_dataclass(node) or type(node).__module__ != ir.__name__:
        return node
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if f.name in NAME_FIELDS and isinstance(value, str):
            changes[f.name] = renames.get(value, value)
        elif isinstance(value, list | tuple) or dataclasses.is_dataclass(value):
            changes[f.name] = rename(value, renames)
    return dataclasses.replace(node, **changes)


def with_safe_names(kernel: ir.KernelIR) -> ir.KernelIR:
    """``kernel`` with every target-reserved identifier renamed (the same object if none)."""
    renames = safe_names(kernel)
    if not renames:
        return kernel
    return dataclasses.replace(
        kernel, params=rename(kernel.params, renames), body=rename(kernel.body, renames),
        variables={renames.get(k, k): v for k, v in kernel.variables.items()},
        scratch={renames.get(k, k): v for k, v in kernel.scratch.items()},
        written={renames.get(k, k) for k in kernel.written})

"""SIMD vectors inside numba kernels: a float32 vector type and the few intrinsics the direct
convolution and the blocked-layout ops are written in.

numba does not vectorise a register-blocked kernel by itself (its arrays wrap every index and
its loops keep accumulators in memory); with these, a kernel names its vectors and LLVM keeps
them in registers, as MLAS's hand-written kernels do. One width per host, from LLVM's view of
the CPU: 16 lanes with AVX-512F, 8 with AVX/AVX2, 4 otherwise (SSE, NEON).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model


class Vector(types.Type):
    """``width`` float32 lanes held in one SIMD register (or a few, where the host's are
    narrower)."""

    def __init__(self, width: int):
        self.width = width
        super().__init__(name=f"float32x{width}")


@register_model(Vector)
class VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.VectorType(ir.FloatType(), fe_type.width))


@functools.cache
def host_lanes() -> int:
    """float32 lanes in one vector register of this host."""
    features = host_features()
    if "avx512f" in features:
        return 16
    return 8 if "avx" in features else 4


@functools.cache
def host_registers() -> int:
    """Vector registers a kernel may fill with accumulators (32 with AVX-512 and on AArch64)."""
    import platform

    if "avx512f" in host_features() or platform.machine().lower() in ("aarch64", "arm64"):
        return 32
    return 16


def host_features() -> set[str]:
    import llvmlite.binding as llvm

    return {f[1:] for f in llvm.get_host_cpu_features().flatten().split(",") if f[:1] == "+"}


def _float_array(arr) -> bool:
    return isinstance(arr, types.Array) and arr.dtype == types.float32 and arr.layout == "C"


def _element(context, builder, arrty, arr, index, inbounds=True):
    """Pointer to element ``index`` of a C-contiguous array, counted flat from its start
    (masked accesses may form it past the end for lanes they do not touch: not inbounds)."""
    data = context.make_array(arrty)(context, builder, value=arr).data
    return builder.gep(data, [index], inbounds=inbounds)


@functools.cache
def intrinsics(width: int) -> SimpleNamespace:
    """The vector operations for ``width`` lanes; arrays are C-contiguous float32, indexed
    flat (no bounds checks: the kernels' index tables are built and checked in Python)."""
    vector, lanes = Vector(width), ir.VectorType(ir.FloatType(), width)
    i32 = ir.IntType(32)

    def llvm_function(builder, name, arity):
        return cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(lanes, [lanes] * arity), f"{name}.v{width}f32")

    def splat_value(builder, scalar):
        one = builder.insert_element(ir.Constant(lanes, ir.Undefined), scalar, ir.Constant(i32, 0))
        return builder.shuffle_vector(one, ir.Constant(lanes, ir.Undefined),
                                      ir.Constant(ir.VectorType(i32, width), [0] * width))

    @intrinsic
    def load(typingctx, arr, index):
        """The ``width`` floats at ``arr[index:]``."""
        if not _float_array(arr):
            return None

        def codegen(context, builder, sig, args):
            ptr = _element(context, builder, sig.args[0], *args)
            return builder.load(builder.bitcast(ptr, lanes.as_pointer()), align=4)
        return vector(arr, index), codegen

    @intrinsic
    def store(typingctx, arr, index, value):
        """``arr[index:index + width] = value``."""
        if not _float_array(arr) or value != vector:
            return None

        def codegen(context, builder, sig, args):
            ptr = _element(context, builder, sig.args[0], args[0], args[1])
            builder.store(args[2], builder.bitcast(ptr, lanes.as_pointer()), align=4)
            return context.get_dummy_value()
        return types.none(arr, index, value), codegen

    def lane_mask(builder, low, high):
        """<width x i1>: lanes low <= i < high."""
        iota = ir.Constant(ir.VectorType(i32, width), list(range(width)))
        lo, hi = (splat_i32(builder, builder.trunc(v, i32)) for v in (low, high))
        return builder.and_(builder.icmp_signed(">=", iota, lo),
                            builder.icmp_signed("<", iota, hi))

    def splat_i32(builder, scalar):
        ivec = ir.VectorType(i32, width)
        one = builder.insert_element(ir.Constant(ivec, ir.Undefined), scalar, ir.Constant(i32, 0))
        return builder.shuffle_vector(one, ir.Constant(ivec, ir.Undefined),
                                      ir.Constant(ir.VectorType(i32, width), [0] * width))

    def masked(builder, name, returns, arguments):
        fnty = ir.FunctionType(returns, [a.type for a in arguments])
        return builder.call(cgutils.get_or_insert_function(
            builder.module, fnty, f"llvm.masked.{name}.v{width}f32.p0"), arguments)

    @intrinsic
    def store_lanes(typingctx, arr, index, value, low, high):
        """``arr[index + i] = value[i]`` for low <= i < high only: no other address is
        touched (a block's tail, or a vector that straddles two blocks)."""
        if not _float_array(arr) or value != vector:
            return None

        def codegen(context, builder, sig, args):
            ptr = builder.bitcast(_element(context, builder, sig.args[0], args[0], args[1],
                                           inbounds=False), lanes.as_pointer())
            masked(builder, "store", ir.VoidType(),
                   [args[2], ptr, ir.Constant(i32, 4), lane_mask(builder, args[3], args[4])])
            return context.get_dummy_value()
        return types.none(arr, index, value, low, high), codegen

    @intrinsic
    def load_lanes(typingctx, arr, index, low, high):
        """``arr[index + i]`` for low <= i < high, 0 in the other lanes (not read)."""
        if not _float_array(arr):
            return None

        def codegen(context, builder, sig, args):
            ptr = builder.bitcast(_element(context, builder, sig.args[0], args[0], args[1],
                                           inbounds=False), lanes.as_pointer())
            return masked(builder, "load", lanes,
                          [ptr, ir.Constant(i32, 4), lane_mask(builder, args[2], args[3]),
                           ir.Constant(lanes, [0.0] * width)])
        return vector(arr, index, low, high), codegen

    @intrinsic
    def splat(typingctx, arr, index):
        """``arr[index]`` in every lane (one broadcast load)."""
        if not _float_array(arr):
            return None

        def codegen(context, builder, sig, args):
            ptr = _element(context, builder, sig.args[0], *args)
            return splat_value(builder, builder.load(ptr, align=4))
        return vector(arr, index), codegen

    @intrinsic
    def full(typingctx, value):
        """A float32 scalar in every lane."""
        if value != types.float32:
            return None

        def codegen(context, builder, sig, args):
            return splat_value(builder, args[0])
        return vector(value), codegen

    @intrinsic
    def lane(typingctx, value, index):
        """One lane of a vector, as a float32 scalar."""
        if value != vector:
            return None

        def codegen(context, builder, sig, args):
            return builder.extract_element(args[0], builder.trunc(args[1], i32))
        return types.float32(value, index), codegen

    @intrinsic
    def fma(typingctx, a, b, c):
        """a * b + c, fused (one rounding)."""
        if not a == b == c == vector:
            return None

        def codegen(context, builder, sig, args):
            return builder.call(llvm_function(builder, "llvm.fma", 3), args)
        return vector(a, b, c), codegen

    def binary(combine):
        @intrinsic
        def op(typingctx, a, b):
            if not a == b == vector:
                return None

            def codegen(context, builder, sig, args):
                return combine(builder, *args)
            return vector(a, b), codegen
        return op

    def maximum(builder, a, b):
        """max with NumPy's NaN rule (a NaN in either lane wins), unlike LLVM's maxnum."""
        bigger = builder.select(builder.fcmp_ordered(">=", a, b), a, b)
        return builder.select(builder.fcmp_unordered("uno", a, a), a, bigger)

    @intrinsic
    def relu(typingctx, a):
        """max(a, 0), NaN kept (as np.maximum(a, 0) does)."""
        if a != vector:
            return None

        def codegen(context, builder, sig, args):
            zero = ir.Constant(lanes, [0.0] * width)
            return builder.select(builder.fcmp_ordered("<", args[0], zero), zero, args[0])
        return vector(a), codegen

    return SimpleNamespace(
        width=width, type=vector, load=load, store=store, splat=splat, full=full, lane=lane,
        load_lanes=load_lanes, store_lanes=store_lanes,
        fma=fma, relu=relu, max=binary(maximum), add=binary(lambda b, x, y: b.fadd(x, y)),
        mul=binary(lambda b, x, y: b.fmul(x, y)))

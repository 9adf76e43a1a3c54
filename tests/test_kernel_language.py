"""The kernel language: @hetero.kernel on the numba CPU, OpenCL (PoCL) and CUDA (simulator) targets.

Every kernel runs on each target and is compared with NumPy; typing rules are read off the IR;
constructs outside the language must fail with the file, line and construct; launches are
checked and cached; OpenCL programs go through the on-disk binary cache and the prebuilt-binary
(FPGA) manifest. The CUDA target runs in numba's simulator (one Python thread per work-item),
so its launches stay small.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hetero
from hetero.errors import KernelCompileError
from hetero.kernel.frontend import translate
from hetero.kernel.launch import signature_of
from hetero.kernel.types import ArrayType, Scalar

DEVICES = ["cpu", "opencl:cpu:0", "cuda:0", "tvm:cpu:0"]
F32, F64, I32, I64 = Scalar("float32"), Scalar("float64"), Scalar("int32"), Scalar("int64")
RNG = np.random.default_rng(1234)
THIS_FILE = Path(__file__).name
pytestmark = [
    pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaPerformanceWarning"),
    pytest.mark.filterwarnings("ignore:Non-empty compiler output"),
]


def need(name: str) -> str:
    """Skip unless the target exists here; the test's ``registry`` fixture must be active."""
    if name.startswith("opencl"):
        pytest.importorskip("pyopencl")
    if name.startswith("tvm"):
        pytest.importorskip("tvm")
    if name.startswith("cuda"):
        try:
            hetero.device(name)
        except hetero.DeviceNotFound:
            pytest.skip("no CUDA device and no numba CUDA simulator")
    return name


@pytest.fixture(params=DEVICES)
def dev(request, registry) -> str:
    return need(request.param)


def on(device: str, *arrays: np.ndarray) -> list[hetero.Array]:
    return [hetero.asarray(a, device) for a in arrays]


def host(array: hetero.Array) -> np.ndarray:
    return np.array(array.numpy(), copy=True)


# -- kernels ------------------------------------------------------------------------------------

TILE = 4
GROUP = 8
LEVELS = 3  # log2(GROUP)


@hetero.kernel
def saxpy(a, x, y, out):
    i = hetero.global_id(0)
    out[i] = a * x[i] + y[i]


@hetero.kernel
def transpose_plus(a, out):
    i = hetero.global_id(0)
    j = hetero.global_id(1)
    if i < a.shape[0] and j < a.shape[1]:
        out[j, i] = a[i, j] + a.shape[1] * 10


@hetero.kernel
def matmul_tiled(a, b, c):
    row = hetero.global_id(1)
    col = hetero.global_id(0)
    lr = hetero.local_id(1)
    lc = hetero.local_id(0)
    ta = hetero.local_array((TILE, TILE), hetero.float32)
    tb = hetero.local_array((TILE, TILE), hetero.float32)
    acc = 0.0
    for t in range(a.shape[1] // TILE):
        ta[lr, lc] = a[row, t * TILE + lc]
        tb[lr, lc] = b[t * TILE + lr, col]
        hetero.barrier()
        for k in range(TILE):
            acc += ta[lr, k] * tb[k, lc]
        hetero.barrier()
    c[row, col] = acc


@hetero.kernel
def group_sum(x, total):
    i = hetero.global_id(0)
    lid = hetero.local_id(0)
    tile = hetero.local_array(GROUP, hetero.float32)
    if i < x.shape[0]:
        tile[lid] = x[i]
    else:
        tile[lid] = 0.0
    hetero.barrier()
    for level in range(LEVELS):
        width = GROUP >> (level + 1)
        if lid < width:
            tile[lid] += tile[lid + width]
        hetero.barrier()
    if lid == 0:
        hetero.atomic_add(total, 0, tile[0])


@hetero.kernel
def collatz(start, steps, limit):
    i = hetero.global_id(0)
    n = start[i]
    count = 0
    while True:
        if n == 1 or count >= limit:
            break
        if n % 2 == 0:  # noqa: SIM108 - if/else statements are under test
            n = n // 2
        else:
            n = 3 * n + 1
        count += 1
    steps[i] = count


@hetero.kernel
def int_mix(a32, b64, flags, o32, o64, oflags):
    i = hetero.global_id(0)
    o32[i] = a32[i] * 3 - 7 + hetero.int32(hetero.float32(a32[i]) * 1.5)
    o64[i] = b64[i] * 3000000000 + a32[i]
    oflags[i] = (flags[i] and a32[i] > 0) or (not flags[i] and b64[i] < 0)


@hetero.kernel
def half_ops(x, y):
    i = hetero.global_id(0)
    # In float16 arithmetic (x + 1000) - 1000 would lose x; in float32 it keeps it exactly.
    y[i] = (x[i] + 1000.0) - 1000.0 + x[i] * 0.5


@hetero.kernel
def math64(x, y, out, trunc):
    i = hetero.global_id(0)
    v = x[i]
    w = y[i]
    r = hetero.exp(v * 0.1) + hetero.log(w) + hetero.sqrt(w) + hetero.tanh(v) + hetero.erf(v)
    r += hetero.pow(w, 1.5) + hetero.fabs(v) + hetero.floor(v) + hetero.ceil(v)
    r += hetero.min(v, w) + hetero.max(v, w) + hetero.fma(v, w, 1.0)
    r += math.sin(v) + math.exp(-w) + abs(v) + max(v, 0.5) + min(w, 2.0)
    out[i] = r
    trunc[i] = int(v * 3.7)


@hetero.kernel
def reverse_private(x, out):
    i = hetero.global_id(0)
    p = hetero.private_array(4, hetero.float32)
    for k in range(4):
        p[k] = x[i, k]
    for k in range(4):
        out[i, k] = p[3 - k] * (k + 1)


@hetero.func
def lerp(a, b, t):
    d = b - a
    return a + d * t


@hetero.func
def at_clamped(arr, k):
    j = hetero.min(hetero.max(k, 0), arr.shape[0] - 1)
    return arr[j]


@hetero.kernel
def smooth(x, out):
    i = hetero.global_id(0)
    left = at_clamped(x, i - 1)
    right = at_clamped(x, i + 1)
    out[i] = lerp(left, right, 0.25) + lerp(x[i], 0.0, 0.5)


@hetero.kernel
def floor_ops(a, b, q, r, q3, r3):
    i = hetero.global_id(0)
    q[i] = a[i] // b[i]
    r[i] = a[i] % b[i]
    q3[i] = a[i] // -3
    r3[i] = a[i] % -3


@hetero.kernel
def guarded_scale(x, out, n):
    i = hetero.global_id(0)
    if i >= n:
        return
    out[i] = x[i] * 2.0


# -- 1. kernels against NumPy on every target ---------------------------------------------------


def test_saxpy_with_a_python_float(dev):
    x = RNG.standard_normal(64).astype(np.float32)
    y = RNG.standard_normal(64).astype(np.float32)
    xa, ya = on(dev, x, y)
    out = hetero.zeros(64, np.float32, dev)
    event = saxpy[dev, 64](2.5, xa, ya, out)
    assert isinstance(event, hetero.Event)
    event.wait()
    got = host(out)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.float32(2.5) * x + y, rtol=1e-6, atol=1e-6)


def test_two_dimensional_indexing_uses_the_shape(dev):
    a = RNG.standard_normal((5, 6)).astype(np.float32)
    (aa,) = on(dev, a)
    out = hetero.zeros((6, 5), np.float32, dev)
    transpose_plus[dev, (5, 6)](aa, out).wait()
    np.testing.assert_allclose(host(out), a.T + 60.0, rtol=1e-6)


def test_tiled_matmul_with_local_memory_and_barriers(dev):
    n = 8 if dev.startswith("cuda") else 16
    a = RNG.standard_normal((n, n)).astype(np.float32)
    b = RNG.standard_normal((n, n)).astype(np.float32)
    aa, ba = on(dev, a, b)
    c = hetero.zeros((n, n), np.float32, dev)
    matmul_tiled[dev, (n, n), (TILE, TILE)](aa, ba, c).wait()
    np.testing.assert_allclose(host(c), a @ b, rtol=1e-4, atol=1e-4)


def test_group_reduction_then_atomic_add(dev):
    x = (np.arange(29) % 7).astype(np.float32)  # 29 values, 32 work-items: padding stays 0
    (xa,) = on(dev, x)
    total = hetero.zeros(1, np.float32, dev)
    group_sum[dev, 32, GROUP](xa, total).wait()
    assert host(total)[0] == x.sum()


def test_while_loop_with_break_on_int64(dev):
    start = np.arange(1, 33, dtype=np.int64)
    (sa,) = on(dev, start)
    steps = hetero.zeros(32, np.int64, dev)
    collatz[dev, 32](sa, steps, 100).wait()

    def reference(n: int) -> int:
        count = 0
        while n != 1 and count < 100:
            n = n // 2 if n % 2 == 0 else 3 * n + 1
            count += 1
        return count

    got = host(steps)
    assert got.dtype == np.int64
    assert got.tolist() == [reference(int(n)) for n in start]
    assert got[26] == 100  # 27 needs 111 steps: the limit breaks out


def test_int32_int64_and_bool_arrays(dev):
    a32 = np.arange(-16, 16, dtype=np.int32)
    b64 = RNG.integers(-50, 50, 32).astype(np.int64)
    flags = (np.arange(32) % 3 == 0)
    aa, ba, fa = on(dev, a32, b64, flags)
    o32 = hetero.zeros(32, np.int32, dev)
    o64 = hetero.zeros(32, np.int64, dev)
    of = hetero.zeros(32, np.bool_, dev)
    int_mix[dev, 32](aa, ba, fa, o32, o64, of).wait()
    want32 = a32 * 3 - 7 + (a32.astype(np.float32) * np.float32(1.5)).astype(np.int32)
    assert host(o32).dtype == np.int32
    np.testing.assert_array_equal(host(o32), want32)
    np.testing.assert_array_equal(host(o64), b64 * 3000000000 + a32)  # needs 64-bit math
    np.testing.assert_array_equal(host(of), (flags & (a32 > 0)) | (~flags & (b64 < 0)))


def test_float16_loads_compute_in_float32_and_stores_round(dev):
    x = (np.arange(32) * 0.0625 + 0.1).astype(np.float16)
    (xa,) = on(dev, x)
    y = hetero.zeros(32, np.float16, dev)
    half_ops[dev, 32](xa, y).wait()
    xf = x.astype(np.float32)
    want = ((xf + np.float32(1000)) - np.float32(1000) + xf * np.float32(0.5)).astype(np.float16)
    got = host(y)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, want)
    # the same sum done in float16 would differ: the test can tell the two apart
    assert not np.array_equal(((x + np.float16(1000)) - np.float16(1000) + x * np.float16(0.5)),
                              want)


def test_float64_math_intrinsics_and_casts(dev):
    x = np.linspace(-2.3, 2.7, 32)
    y = np.linspace(0.2, 3.1, 32)
    xa, ya = on(dev, x, y)
    out = hetero.zeros(32, np.float64, dev)
    trunc = hetero.zeros(32, np.int64, dev)
    math64[dev, 32](xa, ya, out, trunc).wait()
    erf = np.vectorize(math.erf)
    want = (np.exp(x * 0.1) + np.log(y) + np.sqrt(y) + np.tanh(x) + erf(x)
            + y ** 1.5 + np.abs(x) + np.floor(x) + np.ceil(x)
            + np.minimum(x, y) + np.maximum(x, y) + (x * y + 1.0)
            + np.sin(x) + np.exp(-y) + np.abs(x) + np.maximum(x, 0.5) + np.minimum(y, 2.0))
    got = host(out)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(host(trunc), [int(v * 3.7) for v in x])  # toward zero


def test_private_array(dev):
    x = RNG.standard_normal((16, 4)).astype(np.float32)
    (xa,) = on(dev, x)
    out = hetero.zeros((16, 4), np.float32, dev)
    reverse_private[dev, 16](xa, out).wait()
    np.testing.assert_allclose(host(out), x[:, ::-1] * np.arange(1, 5, dtype=np.float32))


def test_device_functions_are_inlined(dev):
    x = RNG.standard_normal(16).astype(np.float32)
    (xa,) = on(dev, x)
    out = hetero.zeros(16, np.float32, dev)
    smooth[dev, 16](xa, out).wait()
    left = x[np.clip(np.arange(16) - 1, 0, 15)]
    right = x[np.clip(np.arange(16) + 1, 0, 15)]
    want = (left + (right - left) * np.float32(0.25)) + (x + (0 - x) * np.float32(0.5))
    np.testing.assert_allclose(host(out), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64])
def test_floor_division_and_modulo_follow_python(dev, dtype):
    a = np.array([-7, -6, -5, -1, 0, 1, 5, 6, 7, -8, 8, -3, 3, -2, 2, 4], dtype=dtype)
    b = np.array([2, -2, 3, -3, 2, -2, -3, 3, -4, 3, -3, 2, -2, 5, -5, 4], dtype=dtype)
    if dtype is np.float64:
        a = a + 0.5
    aa, ba = on(dev, a, b)
    q, r, q3, r3 = (hetero.zeros(16, dtype, dev) for _ in range(4))
    floor_ops[dev, 16](aa, ba, q, r, q3, r3).wait()
    py = [x.item() for x in a]
    np.testing.assert_array_equal(host(q), [x // y.item() for x, y in zip(py, b, strict=True)])
    np.testing.assert_array_equal(host(r), [x % y.item() for x, y in zip(py, b, strict=True)])
    np.testing.assert_array_equal(host(q3), [x // -3 for x in py])
    np.testing.assert_array_equal(host(r3), [x % -3 for x in py])
    assert host(q).dtype == dtype


def test_float_floor_division_and_modulo_of_inexact_values_follow_python(dev):
    """1 // 0.1 is 9.0 in Python and NumPy (0.1 is a little above a tenth), not floor(1 / 0.1)."""
    a = np.tile([1.0, 1.0, -1.0, 5.0], 4) * np.repeat([1, -1, 1, -1], 4)
    b = np.tile([0.1, 0.2, 0.1, 0.7], 4) * np.repeat([1, 1, -1, -1], 4)
    aa, ba = on(dev, a, b)
    q, r, q3, r3 = (hetero.zeros(16, np.float64, dev) for _ in range(4))
    floor_ops[dev, 16](aa, ba, q, r, q3, r3).wait()
    np.testing.assert_array_equal(host(q), [x // y for x, y in zip(a, b, strict=True)])
    np.testing.assert_array_equal(host(r), [x % y for x, y in zip(a, b, strict=True)])


@hetero.kernel
def bool_compare(a, b, eq, ne, xo):
    i = hetero.global_id(0)
    eq[i] = a[i] == b[i]
    ne[i] = a[i] != b[i]
    xo[i] = a[i] ^ (b[i] == True)  # noqa: E712 - a bool compared with a literal


def test_bools_compare_and_xor(dev):
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    aa, ba = on(dev, a, b)
    eq, ne, xo = (hetero.zeros(4, np.bool_, dev) for _ in range(3))
    bool_compare[dev, 4](aa, ba, eq, ne, xo).wait()
    np.testing.assert_array_equal(host(eq), a == b)
    np.testing.assert_array_equal(host(ne), a != b)
    np.testing.assert_array_equal(host(xo), a ^ b)


@hetero.kernel
def count_positive(x, count, slot):
    i = hetero.global_id(0)
    s = -1
    if x[i] > 0:
        s = hetero.atomic_add(count, 0, 1)
    slot[i] = s


@hetero.kernel
def count_positive_inline(x, count, slot):
    i = hetero.global_id(0)
    slot[i] = hetero.atomic_add(count, 0, 1) if x[i] > 0 else -1


def test_stream_compaction_with_an_atomic_counter(dev):
    x = np.array([3.0, -1.0, 2.0, -5.0, 0.5, -2.0, 7.0, -1.0], np.float32)
    (xa,) = on(dev, x)
    count, slot = hetero.zeros(1, np.int64, dev), hetero.zeros(8, np.int64, dev)
    count_positive[dev, 8](xa, count, slot).wait()
    got = host(slot)
    assert host(count)[0] == 4 and sorted(got[x > 0]) == [0, 1, 2, 3]
    assert (got[x <= 0] == -1).all()


def test_on_tvm_an_atomic_under_a_condition_inside_an_expression_is_refused(registry):
    need("tvm:cpu:0")
    x = hetero.asarray(np.ones(8, np.float32), "tvm")
    count, slot = hetero.zeros(1, np.int64, "tvm"), hetero.zeros(8, np.int64, "tvm")
    with pytest.raises(KernelCompileError, match=rf"{THIS_FILE}:\d+: in kernel "
                       "'count_positive_inline' on tvm: .* under a condition inside"):
        count_positive_inline["tvm", 8](x, count, slot)


def test_early_return_guard_with_a_larger_global_size(dev):
    x = np.arange(40, dtype=np.float32)
    (xa,) = on(dev, x)
    out = hetero.asarray(np.full(40, -1.0, np.float32), dev)
    guarded_scale[dev, 40](xa, out, 37).wait()
    got = host(out)
    np.testing.assert_array_equal(got[:37], x[:37] * 2)
    np.testing.assert_array_equal(got[37:], -1.0)  # work-items past n wrote nothing


@hetero.kernel
def odd_items_only(out):
    i = hetero.global_id(0)
    if i % 2 == 0:
        return
    out[i] = 1.0


def test_early_return_ends_only_its_own_work_item(dev):
    """The CPU target once ran ``return`` as the end of the whole launch: work-items after
    the first to return (in its group, and every later group) did nothing."""
    out = hetero.zeros(16, np.float32, dev)
    odd_items_only[dev, 16, 8](out).wait()
    np.testing.assert_array_equal(host(out), np.arange(16) % 2)


@hetero.kernel
def group_sum_while(x, total):
    i = hetero.global_id(0)
    lid = hetero.local_id(0)
    tile = hetero.local_array(GROUP, hetero.float32)
    tile[lid] = x[i]
    hetero.barrier()
    width = GROUP // 2
    while width > 0:
        if lid < width:
            tile[lid] += tile[lid + width]
        hetero.barrier()
        width //= 2
    if lid == 0:
        hetero.atomic_add(total, 0, tile[0])


def test_tree_reduction_with_a_while_loop(dev):
    # `width //= 2` is uniform and updated from itself after a barrier: once per group
    x = np.arange(32, dtype=np.float32)
    (xa,) = on(dev, x)
    total = hetero.zeros(1, np.float32, dev)
    group_sum_while[dev, 32, GROUP](xa, total).wait()
    assert host(total)[0] == x.sum()


@hetero.kernel
def broadcast_sum(x, out):
    i = hetero.global_id(0)
    s = 0.0
    for k in range(x.shape[0]):
        s += x[k]
    out[i] = s


def test_uniform_accumulator_in_a_uniform_loop(dev):
    # `s += x[k]`: a uniform value updated from itself inside a group-wide loop
    x = np.arange(5, dtype=np.float32)
    (xa,) = on(dev, x)
    out = hetero.zeros(8, np.float32, dev)
    broadcast_sum[dev, 8, 4](xa, out).wait()
    np.testing.assert_array_equal(host(out), np.full(8, x.sum()))


# -- 2. typing rules ----------------------------------------------------------------------------


def typed_float32(x, out):
    i = hetero.global_id(0)
    acc = 0.0
    for k in range(x.shape[0]):
        acc += x[k]
    twice = x[i] * 2.0
    wide = x[i] * 2
    out[i] = acc + twice + wide


def typed_ints(a, b, out):
    i = hetero.global_id(0)
    s = a[i] + 1
    big = a[i] + b[i]
    q = a[i] / 2
    h = a[i] // 2
    f = a[i] * 2.0
    n = 0
    n += a[i]
    out[i] = s + big + q + h + f + n


def typed_half(x, out):
    i = hetero.global_id(0)
    v = x[i]
    out[i] = v


def test_float32_accumulators_and_literals_stay_float32():
    kernel = translate(typed_float32, [ArrayType("float32", 1), ArrayType("float32", 1)])
    assert kernel.variables["acc"] == F32  # 0.0 then += float32
    assert kernel.variables["twice"] == F32  # x[i] * 2.0: the literal is weak
    assert kernel.variables["wide"] == F32
    assert kernel.variables["i"] == I64 and kernel.variables["k"] == I64
    # with float64 data the same code is float64 throughout
    wide = translate(typed_float32, [ArrayType("float64", 1), ArrayType("float64", 1)])
    assert wide.variables["acc"] == F64 and wide.variables["twice"] == F64


def test_integer_typing_rules():
    kernel = translate(typed_ints, [ArrayType("int32", 1), ArrayType("int64", 1),
                                    ArrayType("float64", 1)])
    v = kernel.variables
    assert v["s"] == I32  # int32 + Python int stays int32
    assert v["big"] == I64  # int32 + int64 widens
    assert v["q"] == F64  # true division of integers is float64
    assert v["h"] == I32  # floor division keeps the integer type
    assert v["f"] == F64  # int32 * float literal: float64, as in NumPy 2
    assert v["n"] == I32  # 0 then += int32


def test_float16_loads_are_float32_values():
    kernel = translate(typed_half, [ArrayType("float16", 1), ArrayType("float16", 1)])
    assert kernel.variables["v"] == F32


def test_specialise_caches_the_ir_per_signature():
    kern = hetero.kernel(typed_float32)
    sig = (ArrayType("float32", 1), ArrayType("float32", 1))
    first = kern.specialise(sig)
    assert kern.specialise(sig) is first
    other = kern.specialise((ArrayType("float64", 1), ArrayType("float64", 1)))
    assert other is not first and other.variables["acc"] == F64
    assert len(kern._ir) == 2


# -- 3. constructs outside the language ---------------------------------------------------------


def plain_python_helper(v):
    return v + 1


def uses_with(x, out):
    i = hetero.global_id(0)
    with open("nowhere") as f:  # <- error
        out[i] = f
    out[i] = x[i]


def uses_try(x, out):
    i = hetero.global_id(0)
    try:  # <- error
        out[i] = x[i]
    except ValueError:
        out[i] = 0.0


def uses_list_comprehension(x, out):
    i = hetero.global_id(0)
    v = [k for k in range(3)]  # <- error
    out[i] = v


def calls_python(x, out):
    i = hetero.global_id(0)
    out[i] = plain_python_helper(x[i])  # <- error


def wrong_index_count(x, out):
    i = hetero.global_id(0)
    out[i] = x[i, 0]  # <- error


def uses_slice(x, out):
    i = hetero.global_id(0)
    v = x[1:3]  # <- error
    out[i] = v


def divergent_barrier(x, out):
    i = hetero.global_id(0)
    if hetero.global_id(0) < 4:  # <- error
        hetero.barrier()
    out[i] = x[i]


def return_in_loop(x, out):
    i = hetero.global_id(0)
    for k in range(4):
        if x[k] > 0:
            return  # <- error
    out[i] = x[i]


def returns_value(x, out):
    i = hetero.global_id(0)
    return x[i]  # <- error


def reassigns_array(x, out):
    i = hetero.global_id(0)
    x = out  # <- error
    out[i] = x[i]


def undefined_name(x, out):
    i = hetero.global_id(0)
    out[i] = x[i] + not_defined_anywhere  # noqa: F821  # <- error


def keyword_arguments(x, out):
    i = hetero.global_id(0)
    out[i] = hetero.max(x[i], b=0.0)  # <- error


def return_with_barrier(x, out):
    i = hetero.global_id(0)
    if i >= x.shape[0]:
        return  # <- error
    hetero.barrier()
    out[i] = x[i]


def marked_line(fn) -> int:
    lines, first = inspect.getsourcelines(fn)
    return next(first + k for k, text in enumerate(lines) if "# <- error" in text)


OUTSIDE = [
    (uses_with, "With `with open('nowhere') as f:`"),
    (uses_try, "Try `try:`"),
    (uses_list_comprehension, "ListComp"),
    (calls_python, "call to 'plain_python_helper'"),
    (wrong_index_count, "has 1 dimension(s) but is indexed with 2"),
    (uses_slice, "slices are not supported"),
    (divergent_barrier, "barrier() inside control flow that differs"),
    (return_in_loop, "return inside a loop"),
    (returns_value, "a kernel returns nothing"),
    (reassigns_array, "'x' is an array; it cannot be reassigned"),
    (undefined_name, "'not_defined_anywhere' is not defined"),
    (keyword_arguments, "keyword arguments"),
    (return_with_barrier, "return in a kernel that uses barrier()"),
]


@pytest.mark.parametrize("fn, construct", OUTSIDE, ids=[fn.__name__ for fn, _ in OUTSIDE])
def test_constructs_outside_the_language_name_file_line_and_construct(fn, construct):
    with pytest.raises(KernelCompileError) as info:
        translate(fn, [ArrayType("float32", 1), ArrayType("float32", 1)])
    message = str(info.value)
    assert f"{THIS_FILE}:{marked_line(fn)}:" in message
    assert f"kernel {fn.__name__!r}" in message
    assert construct in message


def test_launch_time_compile_errors_surface_from_the_launch(registry):
    kern = hetero.kernel(uses_slice)
    x = hetero.zeros(4, np.float32, "cpu")
    with pytest.raises(KernelCompileError, match=rf"{THIS_FILE}:{marked_line(uses_slice)}:"):
        kern["cpu", 4](x, x)


# -- 4. launch errors ---------------------------------------------------------------------------


def test_numpy_arrays_are_refused(registry):
    x = np.ones(8, np.float32)
    out = hetero.zeros(8, np.float32, "cpu")
    with pytest.raises(TypeError, match=r"argument 1 is a NumPy array.*hetero\.asarray"):
        saxpy["cpu", 8](2.0, x, out, out)


def test_global_size_must_be_a_multiple_of_the_local_size(registry):
    x = hetero.zeros(10, np.float32, "cpu")
    with pytest.raises(ValueError, match="global size 10 is not a multiple of local size 4"):
        saxpy["cpu", 10, 4](2.0, x, x, x)
    with pytest.raises(ValueError, match="same number of dimensions"):
        saxpy["cpu", (4, 4), 4](2.0, x, x, x)
    with pytest.raises(ValueError, match="positive integers"):
        saxpy["cpu", 0](2.0, x, x, x)


def test_arrays_on_two_devices_are_refused(registry):
    pytest.importorskip("pyopencl")
    kern = hetero.kernel(saxpy.fn)
    x = hetero.zeros(8, np.float32, "opencl:cpu:0")
    y = hetero.zeros(8, np.float32, "cpu")
    with pytest.raises(hetero.DeviceMismatch, match=r"argument 2 lives on cpu:0"):
        kern["opencl:cpu:0", 8](2.0, x, y, x)


def test_wrong_argument_count(registry):
    x = hetero.zeros(8, np.float32, "cpu")
    with pytest.raises(KernelCompileError, match=r"takes 4 arguments \(a, x, y, out\), 2 given"):
        saxpy["cpu", 8](2.0, x)


def test_kernels_are_launched_with_brackets(registry):
    with pytest.raises(TypeError, match=r"saxpy\[device, global_size\]"):
        saxpy(2.0)
    with pytest.raises(TypeError, match="got 1 item"):
        saxpy["cpu"]


def test_unsupported_argument_types(registry):
    with pytest.raises(TypeError, match="argument 0"):
        saxpy["cpu", 8]("2.0", *(hetero.zeros(8, np.float32, "cpu") for _ in range(3)))
    with pytest.raises(TypeError, match="uint8"):
        signature_of([hetero.zeros(8, np.uint8, "cpu")], "here")


# -- 5. caching, generated source and timing ---------------------------------------------------


def test_compiled_once_per_signature_and_device(registry):
    pytest.importorskip("pyopencl")
    kern = hetero.kernel(saxpy.fn)
    cpu = hetero.device("cpu")
    compiles: list[str] = []
    real = type(cpu.impl).compile_kernel

    def counting(self, device, kernel, entry):
        compiles.append(device.id)
        return real(self, device, kernel, entry)

    x = RNG.standard_normal(32).astype(np.float32)
    xa, ya = on("cpu", x, x)
    out = hetero.zeros(32, np.float32, "cpu")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(cpu.impl), "compile_kernel", counting)
        kern["cpu", 32](2.0, xa, ya, out).wait()
        kern["cpu", 32](3.0, xa, ya, out).wait()
    assert compiles == ["cpu:0"]
    assert len(kern._ir) == 1 and len(kern._programs) == 1
    np.testing.assert_allclose(host(out), 4 * x, rtol=1e-6)

    xo, yo = on("opencl:cpu:0", x, x)
    oo = hetero.zeros(32, np.float32, "opencl:cpu:0")
    event = kern["opencl:cpu:0", 32](2.0, xo, yo, oo)
    event.wait()
    kern["opencl:cpu:0", 32](2.0, xo, yo, oo).wait()
    assert len(kern._ir) == 1 and len(kern._programs) == 2
    assert event.timing == "device" and event.duration_ms > 0
    np.testing.assert_allclose(host(oo), 3 * x, rtol=1e-6)

    x64 = hetero.asarray(x.astype(np.float64), "cpu")
    out64 = hetero.zeros(32, np.float64, "cpu")
    cpu_event = kern["cpu", 32](2.0, x64, x64, out64)
    cpu_event.wait()
    assert cpu_event.timing == "host"
    assert len(kern._ir) == 2 and len(kern._programs) == 3
    np.testing.assert_allclose(host(out64), 3 * x.astype(np.float64))


def test_generated_source_per_target(registry):
    pytest.importorskip("pyopencl")
    kern = hetero.kernel(matmul_tiled.fn)
    with pytest.raises(KernelCompileError, match="no signature yet"):
        kern.source("cpu")
    a = hetero.zeros((8, 8), np.float32, "cpu")
    cpu_source = kern.source("cpu", a, a, a)
    assert "prange" in cpu_source and "def hk_matmul_tiled_" in cpu_source
    cl_source = kern.source("opencl:cpu:0", a, a, a)
    assert "__kernel" in cl_source and "__local float ta[16]" in cl_source
    assert "barrier(CLK_LOCAL_MEM_FENCE" in cl_source
    cuda_source = kern.source("cuda:0", a, a, a)
    assert "cuda." in cuda_source and "cuda.syncthreads()" in cuda_source
    assert "cuda.shared.array(16, np.float32)" in cuda_source
    assert kern.source("cpu") == cpu_source  # the last signature is remembered
    assert len(kern._ir) == 1 and not kern._programs  # source() compiles nothing


# -- 6. OpenCL program cache and prebuilt binaries ----------------------------------------------


def saxpy_on_opencl(kern, n: int = 16):
    """Launch ``kern`` (a saxpy) on PoCL; (program, result, expected)."""
    x = np.arange(n, dtype=np.float32)
    xa, ya = on("opencl:cpu:0", x, x)
    out = hetero.zeros(n, np.float32, "opencl:cpu:0")
    kern["opencl:cpu:0", n](2.0, xa, ya, out).wait()
    (program,) = kern._programs.values()
    return program, host(out), 3 * x


def test_opencl_binary_cache_and_prebuilt_manifest(registry, tmp_path, monkeypatch):
    pytest.importorskip("pyopencl")
    from hetero.backends.opencl import programs

    monkeypatch.setenv("HETERO_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(programs.MANIFEST_ENV, raising=False)

    program, got, want = saxpy_on_opencl(hetero.kernel(saxpy.fn))
    assert program.origin == "compiled"
    np.testing.assert_array_equal(got, want)
    cached = tmp_path / "opencl-programs"
    bins, notes = sorted(cached.glob("*.bin")), sorted(cached.glob("*.json"))
    assert len(bins) == 1 and len(notes) == 1 and bins[0].stem == notes[0].stem
    assert bins[0].stat().st_size > 0

    program, got, want = saxpy_on_opencl(hetero.kernel(saxpy.fn))
    assert program.origin == "cache"
    np.testing.assert_array_equal(got, want)

    # The FPGA flow: a binary built offline, listed in a manifest, loaded with no compiler.
    dev = hetero.device("opencl:cpu:0")
    name = programs.identity(dev.native.dev)["device"]
    folder = tmp_path / "prebuilt"
    folder.mkdir()
    (folder / "k.bin").write_bytes(bins[0].read_bytes())
    source = saxpy.source("opencl:cpu:0", 2.0, *on("opencl:cpu:0", *[np.zeros(16, np.float32)]
                                                    * 3))
    manifest = programs.write_manifest(folder, [
        {"entry": program.entry, "device": name, "file": "k.bin", "source": source}])
    monkeypatch.setenv(programs.MANIFEST_ENV, str(manifest))
    program, got, want = saxpy_on_opencl(hetero.kernel(saxpy.fn))
    assert program.origin == "prebuilt"
    np.testing.assert_array_equal(got, want)

    # A manifest may only name files beside it.
    (tmp_path / "x.bin").write_bytes(b"not a program")
    escaping = tmp_path / "escaping"
    escaping.mkdir()
    bad = programs.write_manifest(escaping, [
        {"entry": program.entry, "device": name, "file": "../x.bin", "source": source}])
    monkeypatch.setenv(programs.MANIFEST_ENV, str(bad))
    with pytest.raises(KernelCompileError, match="leaves the manifest's folder"):
        saxpy_on_opencl(hetero.kernel(saxpy.fn))

    # A binary that changed after the manifest was written is refused.
    (folder / "k.bin").write_bytes(bins[0].read_bytes() + b"\0")
    monkeypatch.setenv(programs.MANIFEST_ENV, str(manifest))
    with pytest.raises(KernelCompileError, match="does not match the sha256"):
        saxpy_on_opencl(hetero.kernel(saxpy.fn))

    # A binary built from an older version of the kernel is refused too.
    (folder / "k.bin").write_bytes(bins[0].read_bytes())
    stale = programs.write_manifest(folder, [
        {"entry": program.entry, "device": name, "file": "k.bin", "source": source + "//"}])
    monkeypatch.setenv(programs.MANIFEST_ENV, str(stale))
    with pytest.raises(KernelCompileError, match="another version of kernel"):
        saxpy_on_opencl(hetero.kernel(saxpy.fn))

    # Broken manifests are refused with what is wrong, never a raw KeyError/OSError.
    (folder / "manifest.json").write_text(json.dumps(
        {"format": programs.MANIFEST_FORMAT, "binaries": [{"entry": program.entry}]}))
    with pytest.raises(KernelCompileError, match=r"binaries\[0\] lacks device, file"):
        saxpy_on_opencl(hetero.kernel(saxpy.fn))
    (folder / "k.bin").unlink()  # listed, but gone
    (folder / "manifest.json").write_text(json.dumps({
        "format": programs.MANIFEST_FORMAT,
        "binaries": [{"entry": program.entry, "device": name, "file": "k.bin", "sha256": "0",
                      "source_sha256": "0"}]}))
    with pytest.raises(KernelCompileError, match="cannot read"):
        saxpy_on_opencl(hetero.kernel(saxpy.fn))


# -- bugs found while writing these tests -------------------------------------------------------


@hetero.kernel
def private_value_across_barrier(x, out):
    i = hetero.global_id(0)
    lid = hetero.local_id(0)
    tile = hetero.local_array(4, hetero.float32)
    p = hetero.private_array(1, hetero.float32)
    p[0] = x[i]
    s = p[0]
    tile[lid] = s
    hetero.barrier()
    out[i] = s + tile[(lid + 1) % 4]


@pytest.mark.parametrize("device", DEVICES)
def test_private_load_carried_across_a_barrier(registry, device):
    need(device)
    x = np.arange(8, dtype=np.float32)
    (xa,) = on(device, x)
    out = hetero.zeros(8, np.float32, device)
    private_value_across_barrier[device, 8, 4](xa, out).wait()
    want = x + x.reshape(2, 4)[:, [1, 2, 3, 0]].ravel()
    np.testing.assert_array_equal(host(out), want)


def barrier_under_private_value(x, out):
    i = hetero.global_id(0)
    p = hetero.private_array(1, hetero.int64)
    p[0] = i
    v = p[0]
    if v < 4:
        hetero.barrier()
    out[i] = x[i]


def test_barrier_under_a_private_array_value_is_divergent():
    with pytest.raises(KernelCompileError, match="differs between work-items"):
        translate(barrier_under_private_value, [ArrayType("float32", 1),
                                                ArrayType("float32", 1)])


@hetero.kernel
def half_store_reload(x, y, z):
    i = hetero.global_id(0)
    y[i] = x[i] * 3.0
    z[i] = y[i]


@pytest.mark.parametrize("device", DEVICES)
def test_float16_store_then_load_sees_the_rounded_value(registry, device):
    need(device)
    x = np.linspace(0.1, 1.7, 8).astype(np.float16)
    (xa,) = on(device, x)
    y = hetero.zeros(8, np.float16, device)
    z = hetero.zeros(8, np.float32, device)
    half_store_reload[device, 8](xa, y, z).wait()
    rounded = (x.astype(np.float32) * np.float32(3)).astype(np.float16)
    np.testing.assert_array_equal(host(y), rounded)
    np.testing.assert_array_equal(host(z), rounded.astype(np.float32))


@hetero.kernel
def named_half(x, out):
    i = hetero.global_id(0)
    half = x[i] * 0.5
    out[i] = half + 1.0


@hetero.kernel
def named_math(x, out):
    i = hetero.global_id(0)
    math = x[i] * 4.0
    out[i] = hetero.sqrt(math)


@pytest.mark.parametrize("kern, device", [
    (named_half, "cpu"),
    (named_half, "opencl:cpu:0"),
    (named_half, "cuda:0"),
    (named_math, "cpu"),
    (named_math, "opencl:cpu:0"),
    (named_math, "cuda:0"),
    (named_math, "tvm:cpu:0"),
], ids=["half-cpu", "half-opencl", "half-cuda", "math-cpu", "math-opencl", "math-cuda",
        "math-tvm"])
def test_variable_names_that_are_target_identifiers(registry, kern, device):
    need(device)
    x = np.arange(8, dtype=np.float32)
    (xa,) = on(device, x)
    out = hetero.zeros(8, np.float32, device)
    kern[device, 8](xa, out).wait()
    want = x * 0.5 + 1.0 if kern is named_half else np.sqrt(x * 4.0)
    np.testing.assert_allclose(host(out), want, rtol=1e-6)


@hetero.kernel
def clashing_names(double, constant, min):
    _gr = hetero.global_id(0)
    hk_mod_l = double[_gr] * min
    for local in range(2):
        hk_mod_l += local
    half = hk_mod_l
    half_ = 1.0
    constant[_gr] = half + half_


@pytest.mark.parametrize("device", DEVICES)
def test_parameters_and_generated_names_are_renamed_apart(registry, device):
    """Array and scalar parameters, loop variables and names in the generators' own space
    (``_gr``, ``hk_``) all survive, and a renamed ``half`` does not collide with ``half_``."""
    need(device)
    x = np.arange(8, dtype=np.float32)
    (xa,) = on(device, x)
    out = hetero.zeros(8, np.float32, device)
    clashing_names[device, 8](xa, out, np.float32(3.0)).wait()
    np.testing.assert_array_equal(host(out), x * 3 + 2)
    source = clashing_names.source(device, xa, out, np.float32(3.0))
    assert "half__" in source and "v_gr" in source


@hetero.kernel
def half_round_trip(x, y, z):
    i = hetero.global_id(0)
    y[i] = x[i]
    z[i] = y[i]


@hetero.kernel
def half_through_local_memory(x, z):
    i = hetero.global_id(0)
    lid = hetero.local_id(0)
    tile = hetero.local_array(4, hetero.float16)
    tile[lid] = x[i]
    hetero.barrier()
    z[i] = tile[3 - lid]


def float16_edge_values() -> np.ndarray:
    """Every finite float16, the midpoints between neighbours (ties) and one float32 step
    either side of them, overflow and NaN: where rounding to float16 can go wrong."""
    halves = np.arange(-31743, 31744, dtype=np.int16).astype(np.uint16).view(np.float16)
    exact = np.unique(halves.astype(np.float32))
    mid = (exact[:-1].astype(np.float64) + exact[1:]) / 2
    ties = mid.astype(np.float32)
    near = [np.nextafter(ties, np.float32(np.inf)), np.nextafter(ties, np.float32(-np.inf))]
    extra = np.array([65519.0, 65520.0, 1e6, -65520.0, np.inf, -np.inf, np.nan, 2.0**-25,
                      -2.0**-25, 3 * 2.0**-26, 0.0, -0.0], np.float32)
    return np.concatenate([exact, ties, *near, extra]).astype(np.float32)


@pytest.mark.parametrize("device", DEVICES)
def test_float16_stores_round_like_numpy_on_every_edge(registry, device):
    need(device)
    if device.startswith("cuda") and hetero.device(device).simulated:
        pytest.skip("one Python thread per work-item: too slow for 260k values in the simulator")
    x = float16_edge_values()
    (xa,) = on(device, x)
    y = hetero.zeros(x.size, np.float16, device)
    z = hetero.zeros(x.size, np.float32, device)
    half_round_trip[device, x.size](xa, y, z).wait()
    with np.errstate(over="ignore"):
        want = x.astype(np.float16)
    np.testing.assert_array_equal(host(y), want)
    np.testing.assert_array_equal(host(z), want.astype(np.float32))
    # signed zeros keep their sign; a NaN's sign is unspecified (IEEE 754-2019 6.3), and a
    # GPU's conversion gives its canonical NaN where NumPy keeps the input's sign
    wrong = np.flatnonzero((np.signbit(host(z)) != np.signbit(want)) & ~np.isnan(want))
    assert not wrong.size, (f"{wrong.size} signs differ, e.g. float32 {x[wrong[:6]]!r} "
                            f"stored {host(y)[wrong[:6]]!r}, NumPy {want[wrong[:6]]!r}")


@hetero.kernel
def cast_to_half(x, z):
    i = hetero.global_id(0)
    z[i] = hetero.float16(x[i]) * 1.0


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # the simulator's numpy
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kern", [half_through_local_memory, cast_to_half],
                         ids=["local-array", "cast"])
def test_float16_rounds_in_local_arrays_and_casts(registry, device, kern):
    """float16 computes in float32, but a local float16 array and hetero.float16() round."""
    need(device)
    x = np.array([0.1, 1 / 3, 1000.7, 70000.0, -2.5e-6, 7.0, -0.3, 2049.0], np.float32)
    (xa,) = on(device, x)
    z = hetero.zeros(8, np.float32, device)
    kern[device, 8, 4](xa, z).wait()
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).astype(np.float32)
    if kern is half_through_local_memory:  # each group of 4 reads its tile reversed
        want = want.reshape(2, 4)[:, ::-1].ravel()
    np.testing.assert_array_equal(host(z), want)


@hetero.kernel
def loop_variable_reused(x, out):
    i = hetero.global_id(0)
    lid = hetero.local_id(0)
    tile = hetero.local_array(8, hetero.float32)
    for w in range(2):  # uniform: one group-level loop on the CPU
        tile[lid + 4 * w] = x[i] * (w + 1)
    hetero.barrier()
    total = 0.0
    if i < out.shape[0]:  # per work-item: the same name, now in a work-item's loop
        for w in range(2):
            total += tile[lid + 4 * w]
    out[i] = total


@pytest.mark.parametrize("device", DEVICES)
def test_a_loop_variable_reused_by_group_and_work_item_loops(registry, device):
    """The CPU generator once reloaded a group-level loop's variable from the per-work-item
    context another region kept for the same name: garbage indices, a crash."""
    need(device)
    x = np.arange(8, dtype=np.float32)
    (xa,) = on(device, x)
    out = hetero.zeros(8, np.float32, device)
    loop_variable_reused[device, 8, 4](xa, out).wait()
    np.testing.assert_array_equal(host(out), 3 * x)


def test_a_kernel_with_local_memory_needs_an_explicit_local_size(registry):
    x = hetero.asarray(np.arange(8, dtype=np.float32), "cpu")
    out = hetero.zeros(8, np.float32, "cpu")
    with pytest.raises(ValueError, match=r"barrier\(\) or local memory.*"
                                         r"half_through_local_memory\[device, global_size, "
                                         r"local_size\]"):
        half_through_local_memory["cpu", 8](x, out)


@hetero.func
def clamp_early(v):
    if v < 0.0:
        return 0.0
    return v


def calls_clamp_early(x, out):
    i = hetero.global_id(0)
    out[i] = clamp_early(x[i])


@hetero.func
def forever(v):
    return forever(v)


def calls_forever(x, out):
    i = hetero.global_id(0)
    out[i] = forever(x[i])


@pytest.mark.parametrize("fn, message", [
    (calls_clamp_early, r"return before the end of device function clamp_early.*if/else"),
    (calls_forever, r"device function forever nests 16 calls deep \(recursion\?\)"),
], ids=["early-return", "recursion"])
def test_device_function_misuse_is_named(fn, message):
    with pytest.raises(KernelCompileError, match=message):
        translate(fn, [ArrayType("float32", 1), ArrayType("float32", 1)])


@hetero.kernel
def floor_and_ceil(x, lo, hi):
    i = hetero.global_id(0)
    lo[i] = hetero.floor(x[i])
    hi[i] = math.ceil(x[i])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_floor_and_ceil_keep_the_float_type_and_specials(registry, device, dtype):
    need(device)
    x = np.array([-2.5, -0.5, 0.0, 0.5, 2.5, 1e20, -1e20, np.inf, -np.inf, np.nan, 7.0, -7.25],
                 dtype)
    (xa,) = on(device, x)
    lo, hi = hetero.zeros(x.size, dtype, device), hetero.zeros(x.size, dtype, device)
    floor_and_ceil[device, x.size](xa, lo, hi).wait()
    np.testing.assert_array_equal(host(lo), np.floor(x))
    np.testing.assert_array_equal(host(hi), np.ceil(x))


def test_cpu_kernels_compile_at_launch_not_inside_the_first_event(registry):
    """The first Event on the CPU times the kernel, not numba's compiler."""
    x = np.arange(8, dtype=np.float32)
    xa, ya = on("cpu", x, x)
    out = hetero.zeros(8, np.float32, "cpu")
    kern = hetero.kernel(saxpy.fn)
    event = kern["cpu", 8](2.0, xa, ya, out)
    (program,) = kern._programs.values()
    assert len(program.function.signatures) == 1  # compiled before the launch was queued
    event.wait()
    np.testing.assert_array_equal(host(out), 3 * x)


@hetero.kernel
def reads_past_the_end(x, out):
    i = hetero.global_id(0)
    out[i] = x[i + 100]


def test_bounds_checking_on_request_names_the_kernel(tmp_path):
    """NUMBA_BOUNDSCHECK=1 (set before numba loads, so in a fresh process) turns an
    out-of-bounds index on the CPU into an IndexError naming the kernel."""
    code = ("import numpy as np, hetero, test_kernel_language as t\n"
            "x = hetero.asarray(np.arange(8, dtype=np.float32), 'cpu')\n"
            "out = hetero.zeros(8, np.float32, 'cpu')\n"
            "try:\n    t.reads_past_the_end['cpu', 8](x, out).wait()\n"
            "except IndexError as exc:\n    print('IndexError:', exc)\n")
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tmp_path, check=True)
    assert "IndexError: kernel reads_past_the_end: an array index is out of bounds" in done.stdout


def test_opencl_shared_memory_buffers_are_mapped_not_copied(registry, monkeypatch):
    """On a device in host RAM (PoCL's CPU), data moves by mapping the buffer: no
    clEnqueueCopyBuffer/Read/Write transfer."""
    pytest.importorskip("pyopencl")
    dev = hetero.device("opencl:cpu:0")
    assert dev.native.shared and dev.profile.unified_memory

    def no_transfer(*args, **kwargs):
        raise AssertionError("a shared-memory device copied instead of mapping")

    monkeypatch.setattr(dev.native.cl, "enqueue_copy", no_transfer)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    xa = hetero.asarray(x, dev)
    out = hetero.zeros(x.shape, np.float32, dev)
    saxpy[dev, x.size](2.0, xa.reshape(-1), xa.reshape(-1), out.reshape(-1)).wait()
    np.testing.assert_array_equal(xa.numpy(), x)
    np.testing.assert_array_equal(out.numpy(), 3 * x)

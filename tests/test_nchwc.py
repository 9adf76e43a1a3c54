"""The CPU's blocked (NCHWc) path against the plain NumPy ops: the SIMD intrinsics, the layout
conversions, direct and depthwise convolution, Gemm rows, pooling, the elementwise ops that
keep values blocked, and whole graphs whose values cross between blocked and plain ops.

Every kernel is checked at 4, 8 and 16 lanes (SSE/NEON, AVX2, AVX-512 widths) whatever the
host; each case's id names its arguments, and a failure prints the call that reproduces it.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hetero.backends.cpu.nchwc.conv import Depthwise, DirectConv
from hetero.backends.cpu.nchwc.layout import Blocked, to_blocked, to_plain
from hetero.backends.cpu.ops import conv as conv_ops
from hetero.backends.cpu.ops import elementwise, normalization, pool, shape
from hetero.backends.cpu.simd import host_lanes, intrinsics
from onnx import TensorProto, helper, numpy_helper

import hetero

RNG = np.random.default_rng(11)
LANES = [4, 8, 16]


def at_widths(cases: list, ids, other_widths: int = 2) -> list:
    """Every case at this host's width; the first few at the other widths too (each width
    compiles its own kernels, which is most of these tests' time)."""
    return [pytest.param(lanes, case, id=f"{lanes}lanes-{ids(case)}") for lanes in LANES
            for i, case in enumerate(cases) if lanes == host_lanes() or i < other_widths]


def close(got: np.ndarray, want: np.ndarray, message: str) -> None:
    """float32 sums of many products: relative to the result's scale."""
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * max(np.abs(want).max(), 1),
                               err_msg=message)


def normal(*shape) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# -- the intrinsics -------------------------------------------------------------------------
@pytest.mark.parametrize("lanes", LANES)
def test_vector_intrinsics_match_numpy(lanes):
    v = intrinsics(lanes)
    load, store, fma, relu, vmax, add, splat, mul, full, lane = (
        v.load, v.store, v.fma, v.relu, v.max, v.add, v.splat, v.mul, v.full, v.lane)

    @numba.njit
    def run(a, b, c, out):
        x, y, z = load(a, 0), load(b, 0), load(c, 0)
        store(out, 0, fma(x, y, z))
        store(out, lanes, relu(x))
        store(out, 2 * lanes, vmax(x, y))
        store(out, 3 * lanes, add(x, splat(b, 1)))
        store(out, 4 * lanes, mul(x, full(np.float32(3.0))))
        out[5 * lanes] = lane(z, lanes - 1)

    a, b, c = normal(lanes), normal(lanes), normal(lanes)
    a[0], b[1 % lanes] = np.nan, np.nan
    out = np.zeros(5 * lanes + 1, np.float32)
    run(a, b, c, out)
    want = [a * b + c, np.maximum(a, 0), np.maximum(a, b), a + b[1], a * 3]
    np.testing.assert_allclose(out[:5 * lanes].reshape(5, lanes), np.stack(want), rtol=1e-6)
    assert out[-1] == c[-1]


# -- layout ------------------------------------------------------------------------------------
@pytest.mark.parametrize("lanes", LANES)
@pytest.mark.parametrize("channels", [1, 5, 16, 37])
def test_blocked_round_trip_keeps_every_channel(lanes, channels):
    x = normal(2, channels, 3, 5)
    data = to_blocked(x, lanes)
    assert data.shape == (2, -(-channels // lanes), 3, 5, lanes)
    assert not data[:, -1, ..., channels % lanes or lanes:].any()  # padding lanes zeroed
    np.testing.assert_array_equal(to_plain(data, channels), x)
    blocked = Blocked(data, channels)
    assert blocked.shape == x.shape and blocked.ndim == 4 and blocked.dtype == np.float32
    assert blocked.plain() is blocked.plain()  # converted once


# -- convolution -------------------------------------------------------------------------------
CONVS = [  # (N, C, H, W, M, kernel, stride, dilation, pads, group)
    (1, 3, 17, 19, 24, 3, 1, 1, (1, 1, 1, 1), 1),
    (2, 16, 9, 9, 32, 3, 2, 1, (1, 1, 1, 1), 1),
    (1, 64, 14, 14, 64, 1, 1, 1, (0, 0, 0, 0), 1),
    (1, 48, 13, 11, 40, 5, 1, 2, (2, 2, 2, 2), 1),
    (1, 96, 12, 12, 256, 3, 1, 1, (1, 1, 1, 1), 2),
    (1, 24, 10, 10, 112, 1, 1, 1, (0, 0, 0, 0), 4),
    (1, 136, 7, 7, 136, 1, 1, 1, (0, 0, 0, 0), 4),
    (1, 3, 30, 30, 96, 11, 4, 1, (0, 0, 0, 0), 1),
    (1, 7, 8, 8, 5, 2, 1, 1, (0, 1, 1, 0), 1),
    (3, 600, 3, 4, 20, 3, 1, 1, (1, 0, 2, 1), 1),  # more channels than one chunk
]


def conv_case_id(case) -> str:
    n, c, h, w, m, k, s, d, pads, g = case
    return f"x{n}x{c}x{h}x{w}-m{m}-k{k}-s{s}-d{d}-p{''.join(map(str, pads))}-g{g}"


def plain_conv(x, w, b, attrs, z=None, relu=False) -> np.ndarray:
    (y,) = conv_ops.conv([x, w, b], attrs, 13)
    y = y + z if z is not None else y
    return np.maximum(y, 0) if relu else y


@pytest.mark.parametrize("lanes, case", at_widths(CONVS, conv_case_id))
@pytest.mark.parametrize("blocked_input", [False, True], ids=["nchw-in", "blocked-in"])
def test_direct_conv_matches_im2col(lanes, case, blocked_input):
    n, c, h, w, m, k, s, d, pads, g = case
    x, wt, b = normal(n, c, h, w), normal(m, c // g, k, k), normal(m)
    attrs = {"strides": [s, s], "dilations": [d, d], "pads": list(pads), "group": g}
    want = plain_conv(x, wt, b, attrs)
    z = normal(*want.shape)
    kernel = DirectConv(wt, b, attrs, lanes)
    source = Blocked.from_plain(x, lanes) if blocked_input else x
    assert kernel.fits(x.shape)
    for residual, relu in [(None, False), (z, True)]:
        got = kernel(source, residual, relu)
        assert isinstance(got, Blocked) and got.shape == want.shape
        close(got.plain(), plain_conv(x, wt, b, attrs, residual, relu),
              f"repro: DirectConv(w{wt.shape}, bias, {attrs}, lanes={lanes})"
                    f"(x{x.shape}, residual={residual is not None}, relu={relu})")


@pytest.mark.parametrize("lanes", LANES)
@pytest.mark.parametrize("case", [(1, 112, 56, 56, 3, 2, 1), (2, 20, 9, 11, 3, 1, 1),
                                  (1, 32, 7, 7, 5, 1, 2)],
                         ids=lambda c: "x{}x{}x{}x{}-k{}-s{}-p{}".format(*c))
def test_depthwise_conv_matches_im2col(lanes, case):
    n, c, h, w, k, s, p = case
    x, wt, b = normal(n, c, h, w), normal(c, 1, k, k), normal(c)
    attrs = {"strides": [s, s], "pads": [p] * 4, "group": c}
    want = plain_conv(x, wt, b, attrs)
    z = normal(*want.shape)
    kernel = Depthwise(wt, b, attrs, lanes)
    got = kernel(x, Blocked.from_plain(z, lanes), True)
    np.testing.assert_allclose(got.plain(), np.maximum(want + z, 0), rtol=1e-4, atol=1e-5,
                               err_msg=f"repro: Depthwise(w{wt.shape}, bias, {attrs}, "
                                       f"lanes={lanes})(x{x.shape})")


def test_direct_conv_refuses_inputs_that_do_not_fit():
    kernel = DirectConv(normal(8, 4, 3, 3), None, {})
    assert kernel.fits((1, 4, 5, 5))
    assert not kernel.fits((1, 3, 5, 5))  # channels differ from the weights'
    assert not kernel.fits((1, 4, 2, 5))  # no output row
    assert not kernel.fits((1, 4, 5))


@pytest.mark.parametrize("lanes", LANES)
@pytest.mark.parametrize("rows, k, n", [(1, 9, 5), (7, 33, 40), (16, 256, 1000)])
def test_gemm_rows_match_matmul(lanes, rows, k, n):
    w, b, a = normal(n, k), normal(n), normal(rows, k)
    kernel = DirectConv(w.reshape(n, k, 1, 1), b, {}, lanes)
    for relu in (False, True):
        want = a @ w.T + b
        np.testing.assert_allclose(kernel.rows(a, relu), np.maximum(want, 0) if relu else want,
                                   rtol=1e-4, atol=1e-4)


# -- pooling -----------------------------------------------------------------------------------
POOLS = [
    {"kernel_shape": [3, 3], "strides": [2, 2]},
    {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 0, 1, 1]},
    {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1,
     "count_include_pad": 1},
    {"kernel_shape": [2, 3], "dilations": [2, 1], "auto_pad": "SAME_UPPER"},
    {"kernel_shape": [7, 7], "pads": [0, 0, 1, 1]},
]


def pool_id(attrs: dict) -> str:
    return "-".join(f"{k}{v}" for k, v in attrs.items()).replace(" ", "")


@pytest.mark.parametrize("lanes, attrs", at_widths(POOLS, pool_id, 1))
@pytest.mark.parametrize("op", ["max_pool", "average_pool"])
def test_blocked_pooling_matches_window_views(lanes, attrs, op):
    x = normal(2, 21, 13, 12)
    if op == "max_pool" and "dilations" not in attrs:
        x[0, 0, 0, 0] = np.nan  # a NaN wins its windows, as in NumPy
    fn = getattr(pool, op)
    (want,) = fn([x], attrs, 19)
    (got,) = fn([Blocked.from_plain(x, lanes)], attrs, 19)
    assert isinstance(got, Blocked)
    np.testing.assert_allclose(got.plain(), want, rtol=1e-5, atol=1e-6,
                               err_msg=f"repro: pool.{op}([Blocked x{x.shape}], {attrs}, 19)")


@pytest.mark.parametrize("op", ["global_average_pool", "global_max_pool"])
def test_blocked_global_pools(op):
    x = normal(2, 19, 5, 6)
    fn = getattr(pool, op)
    (want,), (got,) = fn([x], {}, 13), fn([Blocked.from_plain(x, 8)], {}, 13)
    np.testing.assert_allclose(got.plain(), want, rtol=1e-5)


# -- ops that keep values blocked --------------------------------------------------------------
def blocked_and_plain(fn, xs, attrs=None, opset=13):
    """fn on blocked inputs (where 4-D) and on plain ones: (blocked result, plain result)."""
    blocked = [Blocked.from_plain(x, 8) if x.ndim == 4 and x.shape[0] == 2 else x for x in xs]
    return fn(blocked, attrs or {}, opset)[0], fn(xs, attrs or {}, opset)[0]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("other", [(2, 12, 3, 4), (12, 1, 1), (1, 12, 1, 1), (1,), (4,)],
                         ids=lambda s: "other" + "x".join(map(str, s)))
def test_binary_ops_stay_blocked_only_where_exact(op, other):
    x = normal(2, 12, 3, 4)
    y = normal(*other) + (3 if op == "div" else 0)
    got, want = blocked_and_plain(getattr(elementwise, op), [x, y])
    stays = other != (4,)  # a trailing-axis operand broadcasts over W, not channels
    assert isinstance(got, Blocked) == stays
    np.testing.assert_allclose(got.plain() if stays else got, want, rtol=1e-6)
    got, want = blocked_and_plain(getattr(elementwise, op), [y, x])  # the other order too
    np.testing.assert_allclose(got.plain() if stays else got, want, rtol=1e-6)


def test_relu_sum_batchnorm_concat_and_dropout_keep_values_blocked():
    x, y = normal(2, 16, 3, 4), normal(2, 8, 3, 4)
    for fn, xs, attrs in [
            (elementwise.relu, [x], {}), (elementwise.total, [x, x, x], {}),
            (normalization.batch_normalization,
             [x, *(RNG.uniform(0.5, 1.5, 16).astype(np.float32) for _ in range(4))], {}),
            (normalization.fused_batch_normalization,
             [x, *(RNG.uniform(0.5, 1.5, 16).astype(np.float32) for _ in range(4))], {}),
            (shape.concat, [x, y], {"axis": 1}), (shape.dropout, [x], {})]:
        got, want = blocked_and_plain(fn, xs, attrs)
        assert isinstance(got, Blocked), fn.__name__
        np.testing.assert_allclose(got.plain(), want, rtol=1e-5, atol=1e-6, err_msg=fn.__name__)
    got, want = blocked_and_plain(shape.concat, [normal(2, 5, 3, 4), x], {"axis": 1})
    assert not isinstance(got, Blocked)  # 5 channels leave a padded block: no block concat
    np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("beta", [0.75, 0.5])
def test_lrn_matches_the_definition(beta):
    x = normal(2, 9, 5, 4)
    attrs = {"size": 5, "alpha": 2e-3, "beta": beta, "bias": 1.5}
    (got,) = normalization.lrn([x], attrs, 13)
    squares = np.pad(x.astype(np.float64) ** 2, [(0, 0), (2, 2), (0, 0), (0, 0)])
    window = sum(squares[:, i:i + 9] for i in range(5))
    np.testing.assert_allclose(got, x / (1.5 + 2e-3 / 5 * window) ** beta, rtol=1e-5)


# -- whole graphs --------------------------------------------------------------------------------
def conv_graph(outputs: list[str]) -> hetero.Model:
    """Conv -> Relu -> MaxPool -> Conv + residual -> Relu -> Concat -> GlobalAveragePool ->
    Flatten -> Gemm, with intermediate values also returned (they leave the CPU as NCHW)."""
    weights = {"w1": normal(16, 3, 3, 3), "b1": normal(16), "w2": normal(16, 16, 3, 3),
               "w3": normal(10, 32), "b3": normal(10)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "p1"], ["s2"]),
             helper.make_node("Relu", ["s2"], ["r2"]),
             helper.make_node("Concat", ["r2", "p1"], ["cat"], axis=1),
             helper.make_node("GlobalAveragePool", ["cat"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], transB=1)]
    shapes = {"y": [2, 10], "r1": [2, 16, 8, 8], "r2": [2, 16, 4, 4], "cat": [2, 32, 4, 4]}
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, shapes[o]) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in weights.items()])
    return hetero.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))


@pytest.mark.parametrize("passes", [None, ()], ids=["all-passes", "no-passes"])
def test_a_graph_mixing_blocked_and_plain_ops_matches_the_reference(registry, passes):
    from onnx.reference import ReferenceEvaluator

    model = conv_graph(["y", "r1", "r2", "cat"])
    x = normal(2, 3, 8, 8)
    plan = hetero.compile(model, devices=[hetero.device("cpu")], passes=passes)
    got = plan.run({"x": x})
    want = ReferenceEvaluator(model.proto).run(None, {"x": x})
    for name, expected in zip(["y", "r1", "r2", "cat"], want, strict=True):
        assert type(got[name]) is np.ndarray and got[name].shape == expected.shape, name
        np.testing.assert_allclose(got[name], expected, rtol=1e-4, atol=1e-4, err_msg=name)
    if passes is None:
        fused = [n for n in plan.graph.nodes if n.op_type == "FusedConv"]
        assert any(len(n.inputs) == 4 for n in fused)  # the residual Add went into the Conv


@pytest.mark.parametrize("channels, groups", [(12, 3), (136, 4), (40, 8)])
def test_blocked_channel_shuffle_matches_reshape_and_transpose(channels, groups):
    x = normal(2, channels, 3, 5)
    got, want = blocked_and_plain(shape.channel_shuffle, [x], {"group": groups})
    assert isinstance(got, Blocked)
    np.testing.assert_array_equal(got.plain(), want)
    np.testing.assert_array_equal(
        want, x.reshape(2, groups, -1, 3, 5).transpose(0, 2, 1, 3, 4).reshape(x.shape))


def frozen_weights(shape, seed=0):
    w = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    w.flags.writeable = False
    return w


def test_packed_weights_are_shared_between_convolutions_of_one_read_only_weight():
    """Every host-memory device reads one packed copy (a re-plan that moves a Conv packs
    nothing); a weight someone can still write is packed afresh, and the packed copy is
    read-only either way it is shared."""
    w = frozen_weights((32, 16, 3, 3))
    first, second = DirectConv(w, None, {}), DirectConv(w, None, {})
    assert first.w is second.w and not first.w.flags.writeable
    writable = w.copy()
    assert DirectConv(writable, None, {}).w is not DirectConv(writable, None, {}).w
    x = np.random.default_rng(1).standard_normal((1, 16, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(first(x).plain(), DirectConv(writable, None, {})(x).plain())


def test_a_packed_weight_goes_with_its_source_even_when_collected_under_the_lock():
    """An entry is dropped once its weight is collected; collection while the cache holds
    its lock (a cycle freed as an entry is made) must not deadlock."""
    import gc
    import threading

    from hetero.backends.cpu import derived

    class Cycle:
        def __init__(self):
            self.me, self.weight = self, frozen_weights((8,), seed=2)

    cycle = Cycle()
    weight = cycle.weight
    derived.derived(weight, "copy", lambda w=weight: w * 2)
    before = len(derived._made)
    del cycle, weight

    def collect_under_the_lock():
        with derived._lock:
            gc.collect()

    worker = threading.Thread(target=collect_under_the_lock, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "collecting a source under the cache's lock deadlocked"
    assert len(derived._made) == before - 1

"""Conv 2-D (NCHW) with groups, strides, explicit pads and dilations; one output per work-item."""

from __future__ import annotations

import numpy as np
from hetero.kernels.base import (
    FLOATS,
    Case,
    Cost,
    Op,
    TensorInfo,
    io_bytes,
    launch,
    numel,
    output,
    random,
    register,
)

import hetero


@hetero.kernel
def conv2d(x, w, bias, y, C, H, W, M, OH, OW, KH, KW, group_in, group_out, sh, sw, pt, pl, dh,
           dw, has_bias):
    o = hetero.global_id(0)
    ox = o % OW
    rest = o // OW
    oy = rest % OH
    rest = rest // OH
    m = rest % M
    n = rest // M
    g = m // group_out
    acc = bias[m] if has_bias > 0 else 0.0
    for c in range(group_in):
        channel = g * group_in + c
        for ky in range(KH):
            iy = oy * sh - pt + ky * dh
            for kx in range(KW):
                ix = ox * sw - pl + kx * dw
                if iy >= 0 and iy < H and ix >= 0 and ix < W:
                    acc += x[((n * C + channel) * H + iy) * W + ix] * \
                        w[((m * group_in + c) * KH + ky) * KW + kx]
    y[o] = acc


def geometry(xs: tuple[int, ...], ws: tuple[int, ...], attrs: dict):
    if len(xs) != 4:
        raise hetero.UnsupportedOp(f"Conv: the portable kernel is 2-D (NCHW); input is {xs}")
    if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise hetero.UnsupportedOp("Conv: auto_pad SAME_* is not supported yet; give pads")
    sh, sw = attrs.get("strides", (1, 1))
    dh, dw = attrs.get("dilations", (1, 1))
    pt, pl, pb, pr = attrs.get("pads", (0, 0, 0, 0))
    kh, kw = ws[2], ws[3]
    oh = (xs[2] + pt + pb - (dh * (kh - 1) + 1)) // sh + 1
    ow = (xs[3] + pl + pr - (dw * (kw - 1) + 1)) // sw + 1
    return (sh, sw, dh, dw, pt, pl), (xs[0], ws[0], oh, ow)


def run(device, inputs, attrs):
    x, w, *rest = inputs
    bias = rest[0] if rest and rest[0] is not None else None
    (sh, sw, dh, dw, pt, pl), shape = geometry(x.shape, w.shape, attrs)
    group = int(attrs.get("group", 1))
    y = output(device, shape, x.dtype)
    launch(conv2d, device, numel(shape), None, x.reshape(-1), w.reshape(-1),
           (bias if bias is not None else w).reshape(-1), y.reshape(-1), x.shape[1],
           x.shape[2], x.shape[3], w.shape[0], shape[2], shape[3], w.shape[2], w.shape[3],
           w.shape[1], w.shape[0] // group, sh, sw, pt, pl, dh, dw, int(bias is not None))
    return [y]


def reference(xs, attrs):
    x, w, *rest = (a.astype(np.float64) for a in xs)
    (sh, sw, dh, dw, pt, pl), (n, m, oh, ow) = geometry(x.shape, w.shape, attrs)
    pads = attrs.get("pads", (0, 0, 0, 0))
    padded = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    group = attrs.get("group", 1)
    cin, mg = w.shape[1], m // group
    y = np.zeros((n, m, oh, ow))
    for ky in range(w.shape[2]):
        for kx in range(w.shape[3]):
            patch = padded[:, :, ky * dh: ky * dh + sh * (oh - 1) + 1: sh,
                           kx * dw: kx * dw + sw * (ow - 1) + 1: sw]
            for g in range(group):
                y[:, g * mg:(g + 1) * mg] += np.einsum(
                    "nchw,mc->nmhw", patch[:, g * cin:(g + 1) * cin],
                    w[g * mg:(g + 1) * mg, :, ky, kx])
    if rest:
        y += rest[0].reshape(1, -1, 1, 1)
    return [y.astype(xs[0].dtype)]


def cases(dtype, rng):
    def r(*shape):
        return random(rng, shape, dtype, -1.0, 1.0)

    return [
        Case("3x3 pad 1", (r(1, 3, 8, 8), r(4, 3, 3, 3), r(4)), {"pads": [1, 1, 1, 1]}),
        Case("stride 2, dilation 2", (r(2, 2, 9, 7), r(3, 2, 3, 2)),
             {"strides": [2, 2], "dilations": [2, 2], "pads": [1, 0, 2, 1]}),
        Case("groups=2", (r(1, 4, 6, 6), r(6, 2, 3, 3), r(6)), {"group": 2}),
        Case("depthwise", (r(1, 3, 5, 5), r(3, 1, 3, 3)), {"group": 3, "pads": [1, 1, 1, 1]}),
    ]


def infer(inputs, attrs):
    return [TensorInfo(geometry(inputs[0].shape, inputs[1].shape, attrs)[1], inputs[0].dtype)]


def cost(inputs, attrs):
    (out,) = infer(inputs, attrs)
    w = inputs[1].shape
    return Cost(2.0 * numel(out.shape) * w[1] * w[2] * w[3], io_bytes(inputs, [out]))


register(Op(name="Conv", since=(1, 11, 22), dtypes=FLOATS, infer=infer, cost=cost,
            reference=reference, run=run, cases=cases, kernels=(conv2d,)))

"""MaxPool and AveragePool (2-D, NCHW, floor or ceil mode) and GlobalAveragePool."""

from __future__ import annotations

import math

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
def pool2d(x, y, H, W, OH, OW, KH, KW, sh, sw, pt, pl, dh, dw, average, include_pad, ph, pw):
    o = hetero.global_id(0)
    ox = o % OW
    rest = o // OW
    oy = rest % OH
    plane = rest // OH
    total = 0.0
    count = 0
    best = -hetero.float32(3.0e38)
    for ky in range(KH):
        iy = oy * sh - pt + ky * dh
        for kx in range(KW):
            ix = ox * sw - pl + kx * dw
            if iy >= 0 and iy < H and ix >= 0 and ix < W:
                v = x[(plane * H + iy) * W + ix]
                total += v
                best = hetero.max(best, v)
                count += 1
            elif include_pad > 0 and iy < H + ph and ix < W + pw:
                count += 1
    y[o] = total / count if average > 0 else best


def geometry(shape, attrs):
    if len(shape) != 4:
        raise hetero.UnsupportedOp(f"pooling: the portable kernel is 2-D (NCHW); got {shape}")
    kh, kw = attrs["kernel_shape"]
    sh, sw = attrs.get("strides", (1, 1))
    dh, dw = attrs.get("dilations", (1, 1))
    pt, pl, pb, pr = attrs.get("pads", (0, 0, 0, 0))
    rounding = math.ceil if attrs.get("ceil_mode", 0) else math.floor

    def extent(n, k, s, d, before, after):
        size = rounding((n + before + after - (d * (k - 1) + 1)) / s) + 1
        if attrs.get("ceil_mode", 0) and (size - 1) * s >= n + before:
            size -= 1  # the last window must start inside the input or its leading pad
        return size

    oh, ow = extent(shape[2], kh, sh, dh, pt, pb), extent(shape[3], kw, sw, dw, pl, pr)
    return (kh, kw, sh, sw, pt, pl, dh, dw, pb, pr), (shape[0], shape[1], oh, ow)


def make_pool(name: str) -> Op:
    average = name == "AveragePool"

    def run(device, inputs, attrs):
        x = inputs[0]
        (kh, kw, sh, sw, pt, pl, dh, dw, pb, pr), shape = geometry(x.shape, attrs)
        y = output(device, shape, x.dtype)
        launch(pool2d, device, numel(shape), None, x.reshape(-1), y.reshape(-1), x.shape[2],
               x.shape[3], shape[2], shape[3], kh, kw, sh, sw, pt, pl, dh, dw, int(average),
               int(attrs.get("count_include_pad", 0)), pb, pr)
        return [y]

    def reference(xs, attrs):
        x = xs[0].astype(np.float64)
        (kh, kw, sh, sw, pt, pl, dh, dw, pb, pr), (n, c, oh, ow) = geometry(x.shape, attrs)
        y = np.zeros((n, c, oh, ow))
        include = attrs.get("count_include_pad", 0)
        for i in range(oh):
            for j in range(ow):
                ys = [i * sh - pt + k * dh for k in range(kh)]
                xs_ = [j * sw - pl + k * dw for k in range(kw)]
                inside = [(a, b) for a in ys for b in xs_ if 0 <= a < x.shape[2]
                          and 0 <= b < x.shape[3]]
                values = np.stack([x[:, :, a, b] for a, b in inside], axis=-1)
                if not average:
                    y[:, :, i, j] = values.max(axis=-1)
                    continue
                padded = sum(1 for a in ys for b in xs_ if a < x.shape[2] + pb
                             and b < x.shape[3] + pr) if include else len(inside)
                y[:, :, i, j] = values.sum(axis=-1) / padded
        return [y.astype(xs[0].dtype)]

    def cases(dtype, rng):
        x = random(rng, (2, 3, 7, 6), dtype)
        out = [Case("k3 s2", (x,), {"kernel_shape": [3, 3], "strides": [2, 2]}),
               Case("k2 pads ceil", (x,), {"kernel_shape": [2, 2], "strides": [2, 2],
                                           "pads": [1, 1, 1, 1], "ceil_mode": 1})]
        if average:
            out.append(Case("count_include_pad", (x,), {"kernel_shape": [3, 3],
                                                         "pads": [1, 1, 1, 1],
                                                         "count_include_pad": 1}))
        else:
            out.append(Case("dilation 2", (x,), {"kernel_shape": [2, 2],
                                                  "dilations": [2, 2]}))
        return out

    def infer(inputs, attrs):
        return [TensorInfo(geometry(inputs[0].shape, attrs)[1], inputs[0].dtype)]

    def cost(inputs, attrs):
        (out,) = infer(inputs, attrs)
        k = attrs["kernel_shape"]
        return Cost(numel(out.shape) * k[0] * k[1], io_bytes(inputs, [out]))

    return Op(name=name, since=(1, 10, 11, 12, 19, 22), dtypes=FLOATS, infer=infer,
              cost=cost, reference=reference, run=run, cases=cases, kernels=(pool2d,))


@hetero.kernel
def global_average(x, y, n):
    o = hetero.global_id(0)
    total = 0.0
    for r in range(n):
        total += x[o * n + r]
    y[o] = total / n


def run_global(device, inputs, attrs):
    x = inputs[0]
    shape = x.shape[:2] + (1,) * (x.ndim - 2)
    y = output(device, shape, x.dtype)
    launch(global_average, device, numel(shape), None, x.reshape(-1), y.reshape(-1),
           numel(x.shape[2:]))
    return [y]


register(
    make_pool("MaxPool"), make_pool("AveragePool"),
    Op(name="GlobalAveragePool", since=(1, 22), dtypes=FLOATS,
       infer=lambda xs, attrs: [TensorInfo(xs[0].shape[:2] + (1,) * (len(xs[0].shape) - 2),
                                           xs[0].dtype)],
       cost=lambda xs, attrs: Cost(numel(xs[0].shape), io_bytes(xs, [])),
       reference=lambda xs, attrs: [xs[0].astype(np.float64).mean(
           axis=tuple(range(2, xs[0].ndim)), keepdims=True).astype(xs[0].dtype)],
       run=run_global,
       cases=lambda dtype, rng: [Case("(2,3,5,4)", (random(rng, (2, 3, 5, 4), dtype),)),
                                 Case("(1,8,7,7)", (random(rng, (1, 8, 7, 7), dtype),))],
       kernels=(global_average,)),
)

"""MatMul (NumPy semantics: batched, broadcast batch dimensions, 1-D operands promoted).

The portable kernel tiles A and B through work-group local memory: each group stages a TILE x
TILE block of each operand per step, so every element loaded from global memory is reused
TILE times. Sizes that are not multiples of TILE are padded with zeros at the edges.
"""

from __future__ import annotations

import numpy as np
from hetero.kernels.base import (
    FLOATS,
    Case,
    Cost,
    Op,
    TensorInfo,
    constant,
    io_bytes,
    launch,
    numel,
    offset,
    output,
    random,
    register,
)

import hetero

TILE = 16


@hetero.kernel
def matmul_tiled(a, b, c, m, n, k, batch_shape, a_batch, b_batch, batch_rank):
    """c[z] = a[z] @ b[z] for the batch z = global_id(2); a[z] is m x k, b[z] is k x n."""
    col = hetero.global_id(0)
    row = hetero.global_id(1)
    z = hetero.global_id(2)
    lc = hetero.local_id(0)
    lr = hetero.local_id(1)
    tile_a = hetero.local_array((TILE, TILE), a.dtype)
    tile_b = hetero.local_array((TILE, TILE), b.dtype)
    base_a = offset(z, batch_shape, a_batch, batch_rank)
    base_b = offset(z, batch_shape, b_batch, batch_rank)
    acc = 0.0
    for t in range((k + TILE - 1) // TILE):
        ka = t * TILE + lc
        kb = t * TILE + lr
        tile_a[lr, lc] = a[base_a + row * k + ka] if row < m and ka < k else 0.0
        tile_b[lr, lc] = b[base_b + kb * n + col] if kb < k and col < n else 0.0
        hetero.barrier()
        for j in range(TILE):
            acc += tile_a[lr, j] * tile_b[j, lc]
        hetero.barrier()
    if row < m and col < n:
        c[z * m * n + row * n + col] = acc


def shapes(a: tuple[int, ...], b: tuple[int, ...]):
    """(batch shape, m, k, n, output shape) under numpy.matmul's rules."""
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ValueError(f"MatMul: inner dimensions differ: {a} @ {b}")
    batch = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
    out = (*batch, a2[-2], b2[-1])
    if len(a) == 1:
        out = (*out[:-2], out[-1])
    if len(b) == 1:
        out = out[:-1]
    return batch, a2[-2], a2[-1], b2[-1], out


def batch_strides(shape: tuple[int, ...], batch: tuple[int, ...], size: int) -> list[int]:
    """Element offset per batch index of an operand with its own batch ``shape``."""
    pad = (1,) * (len(batch) - len(shape)) + shape
    out, step = [], size
    for n in reversed(pad):
        out.append(0 if n == 1 else step)
        step *= n
    return out[::-1]


def matmul(device, a, b) -> hetero.Array:
    """The tiled portable kernel over batched operands (shared by MatMul and Gemm)."""
    batch, m, k, n, out_shape = shapes(a.shape, b.shape)
    a_own = a.shape[:-2] if a.ndim > 2 else ()
    b_own = b.shape[:-2] if b.ndim > 2 else ()
    out = output(device, out_shape, a.dtype)
    z = numel(batch)
    grid = (-(-n // TILE) * TILE, -(-m // TILE) * TILE, z)
    launch(matmul_tiled, device, grid, (TILE, TILE, 1), a.reshape(-1), b.reshape(-1),
           out.reshape(-1), m, n, k, constant(device, batch or (1,)),
           constant(device, batch_strides(a_own, batch, m * k) or (0,)),
           constant(device, batch_strides(b_own, batch, k * n) or (0,)), len(batch),
           work=hetero.Work(flops=2.0 * m * n * k * z, bytes=(m * k + k * n + m * n) * z * 4))
    return out


def infer(inputs, attrs):
    *_, out = shapes(inputs[0].shape, inputs[1].shape)
    return [TensorInfo(tuple(out), inputs[0].dtype)]


def cost(inputs, attrs):
    batch, m, k, n, out = shapes(inputs[0].shape, inputs[1].shape)
    return Cost(flops=2.0 * numel(batch) * m * n * k,
                bytes=io_bytes(inputs, [TensorInfo(tuple(out), inputs[0].dtype)]))


def cases(dtype, rng):
    pairs = [((16, 16), (16, 16)), ((5, 7), (7, 3)), ((2, 3, 20, 9), (9, 17)),
             ((3, 1, 4, 6), (5, 6, 2)), ((6,), (6, 4)), ((4, 6), (6,))]
    return [Case(f"{sa} @ {sb}", (random(rng, sa, dtype), random(rng, sb, dtype)))
            for sa, sb in pairs]


register(Op(
    name="MatMul", since=(1, 9, 13), dtypes=FLOATS, infer=infer, cost=cost,
    reference=lambda xs, attrs: [np.matmul(xs[0], xs[1]).astype(xs[0].dtype)],
    run=lambda device, xs, attrs: [matmul(device, xs[0], xs[1])], cases=cases,
    kernels=(matmul_tiled,)))

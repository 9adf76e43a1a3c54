"""MatMul (NumPy semantics: batched, broadcast batch dimensions, 1-D operands promoted).

The portable kernel tiles A and B through work-group local memory: each group stages a TILE x
TILE block of each operand per step, so every element loaded from global memory is reused
TILE times. Each work-item computes WPT outputs of one column (rows RTS apart): one load of B
feeds WPT multiply-adds, the classic "more work per thread" step that GPUs and the CPU's
vectorised work-item loops both reward. Edges that are not multiples of TILE read zeros.
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

TILE = 32
WPT = 4  # outputs per work-item: acc0..acc3 below
RTS = TILE // WPT  # work-items along a tile's rows


@hetero.func
def dot4(tile, row, j, b0, b1, b2, b3):
    """tile[row, j:j+4] times four values of B."""
    return (tile[row, j] * b0 + tile[row, j + 1] * b1 + tile[row, j + 2] * b2
            + tile[row, j + 3] * b3)


@hetero.kernel
def matmul_tiled(a, b, c, m, n, k, batch_shape, a_batch, b_batch, batch_rank):
    """c[z] = a[z] @ b[z] for the batch z = global_id(2); a[z] is m x k, b[z] is k x n.
    A (TILE, RTS) group computes a TILE x TILE block of c."""
    col = hetero.global_id(0)
    z = hetero.global_id(2)
    lc = hetero.local_id(0)
    lr = hetero.local_id(1)
    first_row = hetero.group_id(1) * TILE
    tile_a = hetero.local_array((TILE, TILE), a.dtype)
    tile_b = hetero.local_array((TILE, TILE), b.dtype)
    base_a = offset(z, batch_shape, a_batch, batch_rank)
    base_b = offset(z, batch_shape, b_batch, batch_rank)
    acc0 = 0.0
    acc1 = 0.0
    acc2 = 0.0
    acc3 = 0.0
    for t in range((k + TILE - 1) // TILE):
        ka = t * TILE + lc
        for w in range(WPT):
            r = lr + w * RTS
            row = first_row + r
            kb = t * TILE + r
            tile_a[r, lc] = a[base_a + row * k + ka] if row < m and ka < k else 0.0
            tile_b[r, lc] = b[base_b + kb * n + col] if kb < k and col < n else 0.0
        hetero.barrier()
        for j in range(0, TILE, 4):  # four steps per pass: a quarter of the accumulator traffic
            b0 = tile_b[j, lc]
            b1 = tile_b[j + 1, lc]
            b2 = tile_b[j + 2, lc]
            b3 = tile_b[j + 3, lc]
            acc0 += dot4(tile_a, lr, j, b0, b1, b2, b3)
            acc1 += dot4(tile_a, lr + RTS, j, b0, b1, b2, b3)
            acc2 += dot4(tile_a, lr + 2 * RTS, j, b0, b1, b2, b3)
            acc3 += dot4(tile_a, lr + 3 * RTS, j, b0, b1, b2, b3)
        hetero.barrier()
    out = z * m * n + (first_row + lr) * n + col
    if col < n:
        for w in range(WPT):
            if first_row + lr + w * RTS < m:
                c[out + w * RTS * n] = acc0 if w == 0 else (
                    acc1 if w == 1 else (acc2 if w == 2 else acc3))


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
    grid = (-(-n // TILE) * TILE, -(-m // TILE) * RTS, z)
    launch(matmul_tiled, device, grid, (TILE, RTS, 1), a.reshape(-1), b.reshape(-1),
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
    pairs = [((16, 16), (16, 16)), ((5, 7), (7, 3)), ((37, 45), (45, 70)), ((2, 3, 20, 9), (9, 17)),
             ((3, 1, 4, 6), (5, 6, 2)), ((6,), (6, 4)), ((4, 6), (6,))]
    return [Case(f"{sa} @ {sb}", (random(rng, sa, dtype), random(rng, sb, dtype)))
            for sa, sb in pairs]


register(Op(
    name="MatMul", since=(1, 9, 13), dtypes=FLOATS, infer=infer, cost=cost,
    reference=lambda xs, attrs: [np.matmul(xs[0], xs[1]).astype(xs[0].dtype)],
    run=lambda device, xs, attrs: [matmul(device, xs[0], xs[1])], cases=cases,
    kernels=(matmul_tiled,)))

"""Direct 2-D convolution on the CPU, as MLAS's NCHWc kernels do it: no im2col buffer, the
weights packed once per node, each output tile kept in registers over every input channel
and kernel offset. Reads NCHW or blocked input; writes blocked output.

``DirectConv`` covers any groups, strides, dilations and padding; ``Depthwise`` the common
one-channel-per-group case, vectorised over channels instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hetero.backends.cpu.derived import derived
from hetero.backends.cpu.nchwc.layout import Blocked, as_blocked, blocks, plain
from hetero.backends.cpu.ops.windows import geometry, output_size

DEPTHWISE_WIDTH = 8  # positions per depthwise tile
L1_WEIGHTS = 24 * 1024  # bytes of weights a chunk of input channels may hold in L1
P_GROUP = 8  # tiles that share each chunk of weights
ROW_BLOCK = 16  # output channels of a tile ``packed`` gathers at a time (a cache line's)


#: positions per tile at each depth, and the GFLOP/s each reached on AVX-512 (32 registers,
#: 2 cores; ``tests``-sized ResNet and Inception layers): deeper tiles hold more accumulators;
#: more than 8 positions run out of x86's 16 address registers
WIDTHS = {4: 6, 3: 7, 2: 8, 1: 8}
RATES = {(4, 6): 300, (3, 7): 285, (2, 8): 240, (1, 8): 170}


def tile_shape(n_blocks: int, positions: int, registers: int) -> tuple[int, int]:
    """(channel blocks, positions) per tile: the fastest tile that fits the vector registers,
    discounted by the padding channels and positions it computes for nothing."""
    best = (0.0, 0, 0, 0)
    for depth, width in WIDTHS.items():
        width = min(width, (registers - depth - 2) // depth)
        if width < 1:
            continue
        rate = RATES.get((depth, width), 12 * depth * width)
        channels = n_blocks / (-(-n_blocks // depth) * depth)
        spots = positions / (-(-positions // width) * width) if positions else 1.0
        best = max(best, (rate * channels * spots, -depth, depth, width))
    return best[2], best[3]


@dataclass
class Geometry:
    """Where a convolution or pool reads: padded input extent, output extent, and the
    position and tap tables (element offsets in the padded input, scaled by ``step``)."""

    pairs: list[tuple[int, int]]
    padded: tuple[int, int]
    out: tuple[int, int]
    poff: np.ndarray  # per output position, padded to whole tiles (repeats the last)
    toff: np.ndarray  # per kernel offset

    @property
    def positions(self) -> int:
        return self.out[0] * self.out[1]


def window_geometry(spatial, kernel, strides, dilations, pairs, width: int,
                    step: int) -> Geometry:
    out = tuple(output_size(spatial[i], kernel[i], strides[i], dilations[i], pairs[i], False)
                for i in range(2))
    hp, wp = (n + p[0] + p[1] for n, p in zip(spatial, pairs, strict=True))
    count = out[0] * out[1]
    tiles = max(-(-count // width), 1)
    pos = np.minimum(np.arange(tiles * width), max(count - 1, 0))
    oh, ow = np.divmod(pos, max(out[1], 1))
    poff = (oh * strides[0] * wp + ow * strides[1]) * step
    kh, kw = np.divmod(np.arange(kernel[0] * kernel[1]), kernel[1])
    toff = (kh * dilations[0] * wp + kw * dilations[1]) * step
    return Geometry(pairs, (hp, wp), out, poff.astype(np.int64), toff.astype(np.int64))


def fits_windows(attrs: dict, shape: tuple[int, ...], kernel: tuple[int, int]) -> bool:
    """Whether windows of ``kernel`` over the input's planes leave at least one output."""
    strides, dilations, pairs = geometry(attrs, shape[2:4], kernel)
    return all(output_size(shape[2 + i], kernel[i], strides[i], dilations[i], pairs[i], False)
               > 0 for i in range(2))


def padded(x: np.ndarray, pairs) -> np.ndarray:
    """``x`` (N, C, H, W[, L]) with ``pairs`` of rows/columns of zeros around its planes."""
    if not any(a or b for a, b in pairs):
        return np.ascontiguousarray(x)
    (top, bottom), (left, right) = pairs
    n, c, h, w = x.shape[:4]
    step = x.shape[4] if x.ndim == 5 else 1
    out = np.empty((n, c, h + top + bottom, w + left + right, *x.shape[4:]), np.float32)
    from hetero.backends.cpu.nchwc import loops

    loops.pad_planes(np.ascontiguousarray(x, np.float32).reshape(n * c, h, w * step),
               out.reshape(n * c, h + top + bottom, -1), top, left * step, np.float32(0))
    return out


def checked(size: int, *reaches: int) -> None:
    """Refuse a launch whose tables would read past the input (the kernels do not check)."""
    if sum(reaches) >= size:
        raise AssertionError(f"tile tables reach element {sum(reaches)} of {size}")


@dataclass
class Launch:
    """Everything one input shape needs: the tables, the tile width and its kernel."""

    geo: Geometry
    coff: np.ndarray  # per input channel
    x_batch: int  # elements between images
    width: int
    run: object


class DirectConv:
    """A Conv node's weights packed for the tile kernel; called with its input (NCHW array or
    Blocked), an optional residual to add, and whether to apply Relu. ``rows`` runs the same
    weights as a Gemm's constant right-hand side, one row per position."""

    def __init__(self, w: np.ndarray, bias: np.ndarray | None, attrs: dict,
                 lanes: int | None = None, positions: int = 0):
        """``positions``: the output's H x W where the graph knows it (picks the tile)."""
        from hetero.backends.cpu.simd import host_lanes, host_registers

        self.lanes = lanes = lanes or host_lanes()
        self.attrs = attrs
        m, self.cg, kh, kw = w.shape
        self.m, self.kernel = m, (kh, kw)
        self.groups = attrs.get("group", 1)
        self.mg = m // self.groups
        self.depth, self.width = tile_shape(blocks(self.mg, lanes), positions, host_registers())
        row = self.depth * lanes
        self.m_tiles = -(-self.mg // row)
        self.aligned = self.groups == 1 or self.mg % lanes == 0
        self.chunk = chunk_size(self.cg, kh * kw * row * 4, lanes)
        layout = (self.groups, self.m_tiles * row, self.chunk, row)
        self.w = derived(w, ("nchwc", *layout), lambda: packed(w, *layout))
        b = np.zeros((self.groups, self.m_tiles * row), np.float32)
        if bias is not None:
            b[:, :self.mg] = bias.reshape(self.groups, self.mg)
        self.bias = b.reshape(-1)
        self.launches: dict[tuple, Launch] = {}

    def fits(self, shape: tuple[int, ...]) -> bool:
        """Whether an input of this (NCHW) shape matches the weights and leaves an output."""
        return len(shape) == 4 and shape[1] == self.cg * self.groups and \
            fits_windows(self.attrs, shape, self.kernel)

    def launch(self, geo: Geometry, coff: np.ndarray, x_batch: int) -> Launch:
        """Tables padded to the tile width that suits this many positions (fewer positions
        than a tile, as in a Gemm of one row, get a narrower tile)."""
        from hetero.backends.cpu.nchwc import codegen

        width = min(self.width, max(geo.positions, 1))
        if width != self.width or len(geo.poff) % width:
            geo = reshaped_tiles(geo, width)
        return Launch(geo, coff.astype(np.int64), x_batch, width,
                      codegen.conv_kernel(self.lanes, self.depth, width, self.aligned))

    def prepared(self, shape: tuple[int, ...], blocked: bool) -> Launch:
        key = (shape, blocked)
        if key not in self.launches:
            step = self.lanes if blocked else 1
            strides, dilations, pairs = geometry(self.attrs, shape[2:4], self.kernel)
            geo = window_geometry(shape[2:4], self.kernel, strides, dilations, pairs,
                                  self.width, step)
            plane = geo.padded[0] * geo.padded[1]
            c = np.arange(self.cg * self.groups)
            coff = (c // self.lanes * plane * self.lanes + c % self.lanes) if blocked \
                else c * plane
            x_batch = shape[1] * plane * step
            checked(shape[0] * x_batch, (shape[0] - 1) * x_batch, int(coff.max()),
                    int(geo.poff.max()), int(geo.toff.max()))
            self.launches[key] = self.launch(geo, coff, x_batch)
        return self.launches[key]

    def __call__(self, x, z=None, relu: bool = False) -> Blocked:
        blocked = isinstance(x, Blocked)
        data = x.data if blocked else np.ascontiguousarray(x, np.float32)
        plan = self.prepared(data.shape, blocked)
        y = self.output(data.shape[0], plan.geo)
        zd = as_blocked(z, self.lanes).data if z is not None else y
        fuse_z = z is not None and zd.shape == y.shape
        self.run(plan, padded(data, plan.geo.pairs), data.shape[0], y,
                 zd if fuse_z else None, relu and (fuse_z or z is None))
        out = Blocked(y, self.m)
        if z is not None and not fuse_z:  # a residual that broadcasts
            return Blocked.from_plain(residual(out.plain(), z, relu), self.lanes)
        return out

    def rows(self, a: np.ndarray, relu: bool = False) -> np.ndarray:
        """(B, K) @ W.T + bias for a 1x1, one-group DirectConv of K input channels."""
        a = np.ascontiguousarray(a, np.float32)
        count, k = a.shape
        key = ("rows", count)
        if key not in self.launches:
            geo = Geometry([(0, 0), (0, 0)], (count, 1), (count, 1),
                           np.arange(count, dtype=np.int64) * k, np.zeros(1, np.int64))
            self.launches[key] = self.launch(geo, np.arange(k), count * k)
        plan = self.launches[key]
        y = self.output(1, plan.geo)
        self.run(plan, a, 1, y, None, relu)
        n_blocks, lanes = y.shape[1], self.lanes
        return y.reshape(n_blocks, count, lanes).transpose(1, 0, 2).reshape(
            count, n_blocks * lanes)[:, :self.m]

    def output(self, n: int, geo: Geometry) -> np.ndarray:
        """Blocked output; zeroed where lanes are stored one by one (padding stays defined)."""
        return (np.empty if self.aligned else np.zeros)(
            (n, blocks(self.m, self.lanes), *geo.out, self.lanes), np.float32)

    def run(self, plan: Launch, source: np.ndarray, n: int, y: np.ndarray, z, relu: bool):
        geo, y_block = plan.geo, plan.geo.positions * self.lanes
        plan.run(source.reshape(-1), plan.coff, geo.poff, geo.toff, self.w, self.bias,
                 (y if z is None else z).reshape(-1), y.reshape(-1), n, self.groups, self.cg,
                 len(geo.toff), self.m_tiles, len(geo.poff) // plan.width, geo.positions,
                 plan.x_batch, y.shape[1] * y_block, y_block, self.mg, relu, z is not None,
                 self.chunk, balanced_group(len(geo.poff) // plan.width))


def balanced_group(tiles: int) -> int:
    """Tiles per work item: about ``P_GROUP``, the groups as even as the count allows (one
    short group would leave a core idle at the end)."""
    groups = -(-tiles // P_GROUP)
    return -(-tiles // groups)


def chunk_size(channels: int, bytes_per_channel: int, lanes: int) -> int:
    """Input channels whose weights fit ``L1_WEIGHTS`` (whole blocks where more than one)."""
    chunk = max(1, L1_WEIGHTS // bytes_per_channel)
    if chunk > lanes:
        chunk -= chunk % lanes
    return min(chunk, channels)


def packed(w: np.ndarray, groups: int, rows: int, chunk: int, row: int) -> np.ndarray:
    """Weights (M, C/G, KH, KW) as (group, channel tile, chunk, tap, channel, row): output
    channels padded with zeros to ``rows`` per group, ``row`` per tile.

    Each block (whole tiles or the last partial one, whole chunks or the last short one) is
    copied once, straight from ``w`` into its place (packing ResNet-50 moves 100 MB), whole
    tiles ``ROW_BLOCK`` output channels at a time: a tile's rows lie a power of two apart
    in ``w``, and gathering all of them at once thrashes the cache (2x slower)."""
    m, cg = w.shape[:2]
    taps = w.shape[2] * w.shape[3]
    mg, n_tiles = m // groups, rows // row
    src = w.reshape(groups, mg, cg, taps)
    out = (np.empty if mg == rows else np.zeros)((groups, n_tiles, cg * taps * row),
                                                 np.float32)
    whole, full = mg // row, cg - cg % chunk
    for c0, c1, width in ((0, full, chunk), (full, cg, cg - full)):
        if c1 == c0:
            continue
        count = (c1 - c0) // width
        dst = split(out[:, :, c0 * taps * row:c1 * taps * row],
                    (groups, n_tiles, count, taps, width, row))
        part = src[:, :, c0:c1].reshape(groups, mg, count, width, taps)
        if whole:
            tiles = part[:, :whole * row].reshape(groups, whole, row, count, width, taps)
            for r0 in range(0, row, ROW_BLOCK):
                dst[:, :whole, ..., r0:r0 + ROW_BLOCK] = \
                    tiles[:, :, r0:r0 + ROW_BLOCK].transpose(0, 1, 3, 5, 4, 2)
        if mg > whole * row:  # the last tile, short of output channels
            dst[:, whole, ..., :mg - whole * row] = part[:, whole * row:].transpose(
                0, 2, 4, 3, 1)
    return out.reshape(-1)


def split(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A view of ``a`` with its last axis split into ``shape[2:]`` (NumPy reshapes such a
    split without copying; checked, as writes through a copy would be lost)."""
    view = a.reshape(shape)
    if view.size and not np.may_share_memory(view, a):
        raise AssertionError("split copied")
    return view


def reshaped_tiles(geo: Geometry, width: int) -> Geometry:
    """The position table cut to ``geo.positions`` and padded to whole tiles of ``width``."""
    count = max(geo.positions, 1)
    tiles = -(-count // width)
    index = np.minimum(np.arange(tiles * width), count - 1)
    return Geometry(geo.pairs, geo.padded, geo.out, geo.poff[index], geo.toff)


class Depthwise:
    """A depthwise Conv (group = input channels = output channels): blocked in and out."""

    def __init__(self, w: np.ndarray, bias: np.ndarray | None, attrs: dict,
                 lanes: int | None = None):
        from hetero.backends.cpu.nchwc import codegen
        from hetero.backends.cpu.simd import host_lanes

        self.lanes = lanes = lanes or host_lanes()
        self.attrs = attrs
        self.m, self.kernel = w.shape[0], tuple(w.shape[2:4])
        taps = self.kernel[0] * self.kernel[1]
        packed = np.zeros((blocks(self.m, lanes) * lanes, taps), np.float32)
        packed[:self.m] = w.reshape(self.m, taps)
        self.w = np.ascontiguousarray(
            packed.reshape(-1, lanes, taps).transpose(0, 2, 1)).reshape(-1)
        b = np.zeros(blocks(self.m, lanes) * lanes, np.float32)
        if bias is not None:
            b[:self.m] = bias
        self.bias = b
        self.run = codegen.depthwise_kernel(lanes, DEPTHWISE_WIDTH)
        self.tables: dict[tuple, Geometry] = {}

    def fits(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == 4 and shape[1] == self.m and \
            fits_windows(self.attrs, shape, self.kernel)

    def geometry(self, shape: tuple[int, ...]) -> Geometry:
        if shape not in self.tables:
            strides, dilations, pairs = geometry(self.attrs, shape[2:4], self.kernel)
            geo = window_geometry(shape[2:4], self.kernel, strides, dilations, pairs,
                                  DEPTHWISE_WIDTH, self.lanes)
            plane = geo.padded[0] * geo.padded[1] * self.lanes
            checked(int(np.prod(shape[:2])) * plane, (shape[0] * shape[1] - 1) * plane,
                    int(geo.poff.max()), int(geo.toff.max()) + self.lanes - 1)
            self.tables[shape] = geo
        return self.tables[shape]

    def __call__(self, x, z=None, relu: bool = False) -> Blocked:
        data = as_blocked(x, self.lanes).data
        geo = self.geometry(data.shape)
        source = padded(data, geo.pairs)
        n, n_blocks, lanes = data.shape[0], data.shape[1], self.lanes
        y = np.empty((n, n_blocks, *geo.out, lanes), np.float32)
        zd = as_blocked(z, lanes).data if z is not None else y
        if zd.shape != y.shape:
            return Blocked.from_plain(residual(self(x, relu=False).plain(), z, relu), lanes)
        plane = geo.padded[0] * geo.padded[1] * lanes
        y_block = geo.positions * lanes
        self.run(source.reshape(-1), geo.poff, geo.toff, self.w, self.bias, zd.reshape(-1),
                 y.reshape(-1), n, n_blocks, len(geo.toff), len(geo.poff) // DEPTHWISE_WIDTH,
                 geo.positions, n_blocks * plane, plane, n_blocks * y_block, y_block, relu,
                 z is not None)
        return Blocked(y, self.m)


def residual(y: np.ndarray, z, relu: bool) -> np.ndarray:
    """y + z (NumPy broadcasting), then Relu if asked: the unfused form."""
    y = y + plain(z)
    return np.maximum(y, 0, out=y) if relu else y

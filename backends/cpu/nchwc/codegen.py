"""The register-tiled kernels, generated: one tile computes ``width`` output positions of
``depth`` channel blocks, its accumulators named variables that LLVM keeps in registers.

Every kernel walks a flat work list (batch x blocks x position tiles) with ``prange`` and reads
its input through index tables built in Python (``conv.py``, ``pool.py``): a position table
(where each output position's window starts), a tap table (each kernel offset) and, for convs,
a channel table (where each input channel lives: NCHW and blocked inputs alike). Tables are
padded to whole tiles, so the inner loops never test bounds; stores skip the padding.
"""

from __future__ import annotations

import functools
import itertools

import numba
from hetero.backends.cpu.simd import intrinsics

from hetero.kernel.codegen.pysource import load_python


def names(lanes: int) -> dict:
    v = intrinsics(lanes)
    return {"prange": numba.prange, "vload": v.load, "vstore": v.store, "vsplat": v.splat,
            "vfull": v.full, "vlane": v.lane, "vfma": v.fma, "vrelu": v.relu, "vmax": v.max,
            "vadd": v.add, "vmul": v.mul}


def compiled(source: str, entry: str, lanes: int):
    return numba.njit(parallel=True, nogil=True)(load_python(source, entry, names(lanes)))


def unrolled(template: str, indent: int, **ranges: int) -> list[str]:
    """``template`` once per combination of the named ranges (``{p}``, ``{j}``), indented."""
    return [" " * indent + template.format(**dict(zip(ranges, combo, strict=True)))
            for combo in itertools.product(*(range(n) for n in ranges.values()))]


@functools.cache
def conv_kernel(lanes: int, depth: int, width: int, aligned: bool):
    """Direct convolution: ``depth`` blocks of output channels x ``width`` positions per tile.

    Weights are packed (group, channel tile, chunk of input channels, tap, channel, depth *
    lanes); each input value is broadcast once and meets ``depth`` weight vectors. A work item
    is ``p_group`` tiles of one channel tile; it runs the input channels a ``chunk`` at a time
    (that chunk's weights stay in L1 while every tile of the group uses them), keeping partial
    sums in ``y`` between chunks. ``aligned``: every output block starts on a block boundary
    (one group, or whole blocks per group), so a block is one vector store; otherwise lanes are
    stored one by one and the channels run in one chunk.
    """
    row = depth * lanes
    src = [
        "def conv_tiles(x, coff, poff, toff, w, bias, z, y, n_batch, groups, cg, taps,",
        "               m_tiles, p_tiles, positions, x_batch, y_batch, y_block, mg, relu,",
        "               has_z, chunk, p_group):",
        "    p_groups = (p_tiles + p_group - 1) // p_group",
        "    for item in prange(n_batch * groups * m_tiles * p_groups):",
        "        pg = item % p_groups",
        "        rest = item // p_groups",
        "        mt = rest % m_tiles",
        "        rest = rest // m_tiles",
        "        g = rest % groups",
        "        n = rest // groups",
        "        tile = g * m_tiles + mt",
        f"        m0 = mt * {row}",
        "        cbase = g * cg",
        f"        yb = n * y_batch + ((g * mg + m0) // {lanes}) * y_block",
        *unrolled(f"b{{j}} = vload(bias, tile * {row} + {{j}} * {lanes})", 8, j=depth),
        *unrolled(f"ok{{j}} = m0 + {{j}} * {lanes} < mg", 8, j=depth),
        "        for c0 in range(0, cg, chunk):",
        "            c1 = min(c0 + chunk, cg)",
        "            last = c1 == cg",
        f"            wc = (tile * cg + c0) * taps * {row}",
        "            for pt in range(pg * p_group, min(p_tiles, (pg + 1) * p_group)):",
        f"                pos0 = pt * {width}",
        *unrolled("o{p} = n * x_batch + poff[pos0 + {p}]", 16, p=width),
        "                if c0 == 0:",
        *unrolled("a{p}_{j} = b{j}", 20, p=width, j=depth),
        "                else:",
        *([*unrolled(f"q{{p}} = min(pos0 + {{p}}, positions - 1) * {lanes}", 20, p=width),
           *unrolled("a{p}_{j} = vload(y, yb + {j} * y_block + q{p}) if ok{j} "
                     "else b{j}", 20, p=width, j=depth)] if aligned  # one chunk when not aligned
          else unrolled("a{p}_{j} = b{j}", 20, p=width, j=depth)),
        "                wo = wc",
        "                for t in range(taps):",
        "                    tb = toff[t]",
        "                    for c in range(c0, c1):",
        "                        xo = coff[cbase + c] + tb",
        *unrolled(f"w{{j}} = vload(w, wo + {{j}} * {lanes})", 24, j=depth),
    ]
    for p in range(width):
        src.append(f"                        xv = vsplat(x, xo + o{p})")
        src += unrolled(f"a{p}_{{j}} = vfma(xv, w{{j}}, a{p}_{{j}})", 24, j=depth)
    src.append(f"                        wo += {row}")
    for p in range(width):
        src.append(f"                if pos0 + {p} < positions:")
        for j in range(depth):
            src += [f"                    if ok{j}:",
                    f"                        v = a{p}_{j}"]
            src += indented(aligned_store(p, j, lanes) if aligned else lane_store(p, j, lanes),
                            8)
    return compiled("\n".join(src), "conv_tiles", lanes)


def indented(lines: list[str], extra: int) -> list[str]:
    return [" " * extra + line for line in lines]


def aligned_store(p: int, j: int, lanes: int) -> list[str]:
    """Partial sums go back to ``y`` as they are; the last chunk's get Z and Relu first."""
    return [f"                yo = yb + {j} * y_block + (pos0 + {p}) * {lanes}",
            "                if last:",
            "                    if has_z:",
            "                        v = vadd(v, vload(z, yo))",
            "                    if relu:",
            "                        v = vrelu(v)",
            "                vstore(y, yo, v)"]


def lane_store(p: int, j: int, lanes: int) -> list[str]:
    return [f"                for lane in range({lanes}):",
            f"                    ch = m0 + {j * lanes} + lane",
            "                    if ch < mg:",
            "                        gc = g * mg + ch",
            f"                        yo = n * y_batch + (gc // {lanes}) * y_block "
            f"+ (pos0 + {p}) * {lanes} + gc % {lanes}",
            "                        s = vlane(v, lane)",
            "                        if relu and s < 0:",
            "                            s = 0.0",
            "                        y[yo] = s"]


@functools.cache
def depthwise_kernel(lanes: int, width: int):
    """One input channel per group, on blocked input: ``width`` positions x one block per
    tile, each tap one vector multiply-add per position."""
    src = [
        "def depthwise_tiles(x, poff, toff, w, bias, z, y, n_batch, n_blocks, taps, p_tiles,",
        "                    positions, x_batch, x_block, y_batch, y_block, relu, has_z):",
        "    for item in prange(n_batch * n_blocks * p_tiles):",
        "        pt = item % p_tiles",
        "        rest = item // p_tiles",
        "        cb = rest % n_blocks",
        "        n = rest // n_blocks",
        f"        pos0 = pt * {width}",
        "        base = n * x_batch + cb * x_block",
        *unrolled("o{p} = base + poff[pos0 + {p}]", 8, p=width),
        f"        b = vload(bias, cb * {lanes})",
        *unrolled("a{p} = b", 8, p=width),
        "        for t in range(taps):",
        f"            wv = vload(w, (cb * taps + t) * {lanes})",
        "            tb = toff[t]",
        *unrolled("a{p} = vfma(vload(x, o{p} + tb), wv, a{p})", 12, p=width),
    ]
    for p in range(width):
        src += [f"        if pos0 + {p} < positions:",
                f"            yo = n * y_batch + cb * y_block + (pos0 + {p}) * {lanes}",
                f"            v = a{p}",
                "            if has_z:",
                "                v = vadd(v, vload(z, yo))",
                "            if relu:",
                "                v = vrelu(v)",
                "            vstore(y, yo, v)"]
    return compiled("\n".join(src), "depthwise_tiles", lanes)


@functools.cache
def pool_kernel(lanes: int, width: int, maximum: bool):
    """Max or average pooling of blocked planes: ``width`` positions of one block per tile;
    the input is padded with the pool's fill, and averages scale by 1 / count per position."""
    combine = "vmax" if maximum else "vadd"
    src = [
        "def pool_tiles(x, poff, toff, scale, y, planes, taps, p_tiles, positions, x_plane,",
        "               y_plane):",
        "    for item in prange(planes * p_tiles):",
        "        pt = item % p_tiles",
        "        plane = item // p_tiles",
        f"        pos0 = pt * {width}",
        "        base = plane * x_plane",
        *unrolled("o{p} = base + poff[pos0 + {p}]", 8, p=width),
        *unrolled("a{p} = vload(x, o{p} + toff[0])", 8, p=width),
        "        for t in range(1, taps):",
        "            tb = toff[t]",
        *unrolled(f"a{{p}} = {combine}(a{{p}}, vload(x, o{{p}} + tb))", 12, p=width),
    ]
    for p in range(width):
        src += [f"        if pos0 + {p} < positions:",
                f"            yo = plane * y_plane + (pos0 + {p}) * {lanes}"]
        src += [f"            vstore(y, yo, a{p})"] if maximum else \
            [f"            vstore(y, yo, vmul(a{p}, vfull(scale[pos0 + {p}])))"]
    return compiled("\n".join(src), "pool_tiles", lanes)

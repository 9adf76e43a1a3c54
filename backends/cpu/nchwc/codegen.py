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
import numpy as np
from hetero.backends.cpu.simd import intrinsics

from hetero.kernel.codegen.pysource import load_python

LANES_NAME = "LANES"  # the generated code's name for the vector width
CLAIMS_PER_SHARE = 32  # a worker claims its share in about this many atomic steps
CLAIM_STRIDE = 16  # int64s between two workers' claim counters: 128 bytes, so no two share a
#                    cache line (one shared line made every claim a transfer between cores)


def names(lanes: int) -> dict:
    from hetero.backends.cpu.kernels import atomics

    v = intrinsics(lanes)
    vector = {f"v{name}": getattr(v, name) for name in (
        "load", "store", "splat", "full", "fma", "relu", "max", "add", "mul", "load_lanes",
        "store_lanes")}
    return {"prange": numba.prange, "atomic_add": atomics()["_atomic_add"], **vector,
            LANES_NAME: lanes}


def compiled(source: str, entry: str, lanes: int):
    """The kernel as a thin parallel driver around a serial function that runs a range of
    work items: numba's parallel passes then see a few lines instead of the unrolled tile
    code (a conv kernel's first compile: 14 s as one parallel function, about 4 s so).
    Callers pass the kernel's own arguments; the work-sharing ones are added here."""
    items, driver = shared_work(source, entry)
    namespace = names(lanes)
    body = numba.njit(nogil=True)(load_python(items, f"{entry}_items", namespace))
    kernel = numba.njit(parallel=True, nogil=True)(
        load_python(driver, entry, {**namespace, f"{entry}_items": body}))

    def launch(*args):
        workers = numba.get_num_threads()  # fresh counters: concurrent calls share nothing
        return kernel(*args, np.zeros(workers * CLAIM_STRIDE, np.int64), workers)

    return launch


def shared_work(source: str, entry: str) -> tuple[str, str]:
    """A kernel ``def entry(...):`` whose work loop is ``for item in prange(total):``, split
    in two: ``entry_items(first, last, ...)`` runs items first..last-1 serially, and the
    driver ``entry(..., claims, workers)`` shares the work list. Each worker takes items from
    its own share first (static order keeps weights in its cache), then from the others' (a
    core the OS takes away mid-kernel no longer holds up the rest), ``grain`` items per
    atomic claim; ``claims`` are int64 counters, one per worker ``CLAIM_STRIDE`` apart,
    zeroed."""
    lines = source.split("\n")
    close = next(i for i, line in enumerate(lines) if line.endswith("):"))
    signature = " ".join(line.strip() for line in lines[:close + 1])
    params = signature[signature.index("(") + 1:signature.rindex(")")]
    at = next(i for i, line in enumerate(lines) if " in prange(" in line)
    variable = lines[at].split()[1]
    total = lines[at][lines[at].index("prange(") + len("prange("):lines[at].rindex("):")]
    setup = lines[close + 1:at]
    items = [f"def {entry}_items(first, last, {params}):", *setup,
             f"    for {variable} in range(first, last):", *lines[at + 1:]]
    driver = [f"def {entry}({params}, claims, workers):", *setup,
              "    total = " + total,
              "    share = (total + workers - 1) // workers",
              f"    grain = max(1, share // {CLAIMS_PER_SHARE})",
              "    for worker in prange(workers):",
              "        for k in range(workers):",
              "            owner = (worker + k) % workers",
              "            end = min(total, (owner + 1) * share)",
              "            while True:",
              f"                first = owner * share + atomic_add(claims, owner * "
              f"{CLAIM_STRIDE}, grain)",
              "                if first >= end:",
              "                    break",
              f"                {entry}_items(first, min(first + grain, end), {params})"]
    return "\n".join(items), "\n".join(driver)


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
    sums in ``y`` between chunks. ``aligned``: every output vector is one block of ``y`` (one
    group, or whole blocks per group); otherwise a vector straddles two blocks and goes in two
    masked parts (grouped convolutions such as ShuffleNet's).
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
        *unrolled(f"b{{j}} = vload(bias, tile * {row} + {{j}} * {lanes})", 8, j=depth),
        *(output_blocks(depth, lanes) if aligned else straddling_blocks(depth, lanes)),
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
        *unrolled(f"q{{p}} = min(pos0 + {{p}}, positions - 1) * {lanes}", 20, p=width),
        *[f"                    a{p}_{j} = {read('y', p, j, f'q{p}', aligned)} if ok{j} "
          f"else b{j}" for p in range(width) for j in range(depth)],
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
        src.append(f"                    at = (pos0 + {p}) * {lanes}")
        for j in range(depth):
            src += [f"                    if ok{j}:",
                    f"                        v = a{p}_{j}",
                    "                        if last:",
                    "                            if has_z:",
                    f"{' ' * 32}v = vadd(v, {read('z', p, j, 'at', aligned)})",
                    "                            if relu:",
                    "                                v = vrelu(v)",
                    *write(j, aligned)]
    return compiled("\n".join(src), "conv_tiles", lanes)


def output_blocks(depth: int, lanes: int) -> list[str]:
    """Aligned: vector j of a tile is block e_j of y (its start, without the position)."""
    return [*unrolled(f"e{{j}} = n * y_batch + ((g * mg + m0) // {lanes} + {{j}}) * y_block",
                      8, j=depth),
            *unrolled(f"ok{{j}} = m0 + {{j}} * {lanes} < mg", 8, j=depth)]


def straddling_blocks(depth: int, lanes: int) -> list[str]:
    """Not aligned: vector j's first k_j lanes end block e_j (from its lane gc % L), the rest
    up to h_j (the group's last channel) start the next block."""
    lines = []
    for j in range(depth):
        lines += [f"        gc = g * mg + m0 + {j * lanes}",
                  f"        e{j} = n * y_batch + (gc // {lanes}) * y_block + gc % {lanes}",
                  f"        h{j} = min({lanes}, mg - m0 - {j * lanes})",
                  f"        k{j} = min({lanes} - gc % {lanes}, h{j})",
                  f"        ok{j} = h{j} > 0"]
    return lines


def read(array: str, p: int, j: int, at: str, aligned: bool) -> str:
    if aligned:
        return f"vload({array}, e{j} + {at})"
    return (f"vadd(vload_lanes({array}, e{j} + {at}, 0, k{j}), "
            f"vload_lanes({array}, e{j} + y_block - {LANES_NAME} + {at}, k{j}, h{j}))")


def write(j: int, aligned: bool) -> list[str]:
    pad = " " * 24
    if aligned:
        return [f"{pad}vstore(y, e{j} + at, v)"]
    return [f"{pad}vstore_lanes(y, e{j} + at, v, 0, k{j})",
            f"{pad}if h{j} > k{j}:",
            f"{pad}    vstore_lanes(y, e{j} + y_block - {LANES_NAME} + at, v, k{j}, h{j})"]


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
def pool_kernel(lanes: int, maximum: bool):
    """Max or average pooling of blocked planes, read in place (no padded copy): each output
    position visits only the taps inside the input, its row and column ranges from a table;
    averages scale by 1 / count per position (ONNX's count_include_pad and ceil_mode rules
    are in that scale)."""
    start, combine = ("vfull(np.float32(-np.inf))", "vmax") if maximum else \
        ("vfull(np.float32(0))", "vadd")
    src = [
        "def pool_windows(x, base, taps, scale, y, planes, positions, chunk, x_plane, y_plane,",
        "                 row_step, col_step):",
        "    chunks = (positions + chunk - 1) // chunk",
        "    for item in prange(planes * chunks):",
        "        plane = item // chunks",
        "        first = (item % chunks) * chunk",
        "        for pos in range(first, min(first + chunk, positions)):",
        "            at = plane * x_plane + base[pos]",
        f"            acc = {start}",
        "            for kh in range(taps[pos, 0], taps[pos, 1]):",
        "                row = at + kh * row_step",
        "                for kw in range(taps[pos, 2], taps[pos, 3]):",
        f"                    acc = {combine}(acc, vload(x, row + kw * col_step))",
        f"            yo = plane * y_plane + pos * {lanes}",
        "            vstore(y, yo, acc)" if maximum else
        "            vstore(y, yo, vmul(acc, vfull(scale[pos])))",
    ]
    return compiled("\n".join(src), "pool_windows", lanes)


@functools.cache
def affine_kernel(lanes: int):
    """y = x * scale + shift per channel (BatchNormalization in inference), then Relu if
    asked: one pass over blocked planes (P = N x blocks, S positions)."""
    src = [
        "def affine_planes(x, scale, shift, y, planes, n_blocks, size, relu):",
        "    for plane in prange(planes):",
        f"        cb = (plane % n_blocks) * {lanes}",
        "        f = vload(scale, cb)",
        "        s = vload(shift, cb)",
        f"        base = plane * size * {lanes}",
        "        for i in range(size):",
        f"            v = vfma(vload(x, base + i * {lanes}), f, s)",
        f"            vstore(y, base + i * {lanes}, vrelu(v) if relu else v)",
    ]
    return compiled("\n".join(src), "affine_planes", lanes)

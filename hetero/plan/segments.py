"""Exact placement of a chain of small blocks (a ResNet's residual blocks, a transformer
layer's branches): the chain programme of ``hetero.plan.chain`` with blocks for nodes.

Node c *cuts* the graph when every node before it (in graph order) is one of its ancestors,
every node after it one of its descendants, and nothing made before it but its own outputs
(no graph input, no earlier value, no graph output) is needed after it. When c ends, every
device is free and only c's outputs are live, so what follows plays out on the timeline
the same way whenever c ends: it depends on c's device alone. A placement's latency is then
the sum of its segments' (from one cut's end to the next's), and so is its energy (each
segment's busy energy above idle, its copies, and every device's idle power over the
segment's span). A dynamic programme over (cut, device) keeping the Pareto front of
(latency, energy) is therefore exact for energy, latency and their product, with or without
caps, as the chain programme is. Each segment's placements are played on the timeline
itself (``Layout.play``), depth first so that placements sharing a prefix share its play.
"""

from __future__ import annotations

from collections.abc import Iterator

from hetero.plan.chain import Front, pareto
from hetero.plan.score import Scorer
from hetero.plan.timeline import Layout, Run

#: node plays the programme may spend (each segment's prefix tree, per entry device), about
#: 5 µs each: ResNet-50's 22 segments take 9,556 on four devices, 2,892 on three
PLAY_LIMIT = 20_000


def cuts(layout: Layout) -> list[int]:
    """The nodes (indices in graph order) that cut the graph, the last node excepted."""
    count = len(layout.nodes)
    producer = {name: i for i, names in enumerate(layout.writes) for name in names}
    later, earlier = [0] * count, [0] * count  # descendants' and ancestors' bits
    for i in reversed(range(count)):
        for r in layout.readers[i]:
            later[i] |= 1 << r | later[r]
    for i in range(count):
        for name in layout.reads[i]:
            if name in producer:
                earlier[i] |= 1 << producer[name] | earlier[producer[name]]
    # live[i] > 0: a value made before node i (or a graph input) is needed after it; a graph
    # output goes back to the host while what follows runs, so nothing after its maker cuts
    starts = [0] * (count + 1)
    needed = [(producer.get(name, -1) + 1, i) for i, names in enumerate(layout.reads)
              for name in names]
    needed += [(max(producer.get(name, 0), 0), count) for name in layout.outputs]
    for first, last in needed:
        if first < last:
            starts[first] += 1
            starts[last] -= 1
    live, open_ = [], 0
    for i in range(count):
        open_ += starts[i]
        live.append(open_)
    every = (1 << count) - 1
    return [i for i in range(count - 1) if not live[i]
            and earlier[i] == (1 << i) - 1 and later[i] == every & ~((1 << (i + 1)) - 1)]


def segments(layout: Layout) -> list[range]:
    """The graph in segments, each ending at a cut (the last at the graph's end)."""
    bounds = [-1, *cuts(layout), len(layout.nodes) - 1]
    return [range(a + 1, b + 1) for a, b in zip(bounds, bounds[1:], strict=False)]


def plays(parts: list[range], candidates: list[list[str]]) -> int:
    """How many node plays the programme would spend: per segment, its prefix tree's nodes
    for every device its entry cut may be on."""
    total, entries = 0, 1
    for part in parts:
        width = 1
        for i in part:
            width *= len(candidates[i])
            total += entries * width
        entries = len(candidates[part[-1]])
    return total


def best_segments(score: Scorer, candidates: dict[str, list[str]]
                  ) -> tuple[dict[str, str], float, float] | None:
    """(placement, latency ms, energy mJ) minimising the goal's objective within its caps, or
    None when no placement meets them, the graph has no cut, or its segments would take more
    than ``PLAY_LIMIT`` plays. Memory capacities are not counted: check the result."""
    layout, goal = score.layout, score.goal
    allowed = [candidates[node.name] for node in layout.nodes]
    parts = segments(layout)
    if len(parts) < 2 or plays(parts, allowed) > PLAY_LIMIT:
        return None
    caps = goal.max_latency_ms, goal.max_energy_mj
    fronts: dict[str | None, Front] = {None: [(0.0, 0.0, ())]}  # None: before the graph
    for k, part in enumerate(parts):
        final = k == len(parts) - 1
        ahead: dict[str | None, Front] = {}
        for entry, front in fronts.items():
            for exit_, ms, mj, placed in played(layout, part, allowed, entry, final):
                ahead.setdefault(exit_, []).extend(
                    (ms + f_ms, mj + f_mj, path + placed) for f_ms, f_mj, path in front)
        fronts = {d: pareto(options, *caps) for d, options in ahead.items()}
    feasible = [option for front in fronts.values() for option in front]
    if not feasible:
        return None
    key = {"energy": lambda f: (f[1], f[0]), "latency": lambda f: (f[0], f[1]),
           "edp": lambda f: (f[0] * f[1], f[0])}[goal.objective]
    ms, mj, path = min(feasible, key=key)
    return dict(zip(score.names, path, strict=True)), ms, mj


def played(layout: Layout, part: range, allowed: list[list[str]], entry: str | None,
           final: bool) -> Iterator[tuple[str | None, float, float, tuple[str, ...]]]:
    """(device of the segment's last node, ms, mJ, devices) of every placement of the
    segment after a cut on ``entry`` (None: the graph's start, inputs on the host); the
    final segment's figures include the outputs' way back to the host."""
    place = [""] * len(layout.nodes)  # play reads node i's device only
    first = layout.start() if entry is None else \
        Run(dict.fromkeys(layout.devices, 0.0), dict.fromkeys(layout.devices, 0.0),
            {name: {entry: 0.0} for name in layout.writes[part.start - 1]})
    stack: list[tuple[Run, tuple[str, ...]]] = [(first, ())]
    while stack:  # depth first: a prefix is played once for every placement sharing it
        run, path = stack.pop()
        i = part.start + len(path)
        if i == part.stop:
            yield figures(layout, run, path, final)
            continue
        for device in allowed[i]:
            branch = run.copy()
            place[i] = device
            layout.play(branch, place, i, i + 1)
            stack.append((branch, (*path, device)))


def figures(layout: Layout, run: Run, path: tuple[str, ...], final: bool
            ) -> tuple[str | None, float, float, tuple[str, ...]]:
    """One played segment: its last node's device, its span and its energy (every device's
    idle power over the span, busy time above it, copies)."""
    if final:
        estimate = layout.finish(run, {})
        return None, estimate.latency_ms, estimate.energy_mj, path
    span = run.free[path[-1]]
    mj = run.moved_mj + layout.idle_w * span + sum(
        extra * busy for extra, busy in zip(layout.extra_w, run.busy.values(), strict=True))
    return path[-1], span, mj, path


__all__ = ["best_segments", "cuts", "segments"]

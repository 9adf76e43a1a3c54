"""Devices an exact search may leave out: those no placement can use without doing worse than
a placement already known to keep the caps (a cloud GPU behind a 5G link, for an edge box
whose whole job takes less than the round trip).

Any placement that uses device d copies the values its first node there reads onto it (none
if it reads only weights), runs at least one node, and copies the values its last node there
makes off it (to readers elsewhere or, for a graph output, to the host). Its makespan is
therefore at least those copies and that node at their quickest; as energy counts every
device's idle power over the makespan (and busy power is at least idle), its energy is at
least that much idle energy. A device whose bound is above the known placement's figure, or
above a cap, cannot be in any optimum, so an exact search drops it and stays exact.
"""

from __future__ import annotations

from hetero.plan.score import Found, Scorer
from hetero.plan.timeline import Layout

SLACK = 1e-9  # a bound within rounding of the known figure keeps the device


def useful(score: Scorer, candidates: dict[str, list[str]], known: list[Found]
           ) -> dict[str, list[str]]:
    """``candidates`` without the devices that cannot pay off against the best of ``known``
    that keeps the caps (only the caps count where none keeps them); a device some node
    cannot do without stays."""
    goal, layout = score.goal, score.layout
    kept = [f.estimate.score(goal.objective) for f in known if goal.excess(f.estimate) == 0]
    best = min(kept, default=float("inf"))
    frugal = all(d.profile.active_w >= d.profile.idle_w for d in score.devices.values())
    needed = {ds[0] for ds in candidates.values() if len(ds) == 1}
    dropped = set()
    for device in score.devices:
        if device in needed:
            continue
        ms = least_ms(layout, candidates, device)
        mj = layout.idle_w * ms if frugal else 0.0
        bound = {"energy": mj, "latency": ms, "edp": mj * ms}[goal.objective]
        if bound > best * (1 + SLACK) or \
                (goal.max_latency_ms is not None and ms > goal.max_latency_ms * (1 + SLACK)) or \
                (goal.max_energy_mj is not None and mj > goal.max_energy_mj * (1 + SLACK)):
            dropped.add(device)
    return {n: [d for d in ds if d not in dropped] for n, ds in candidates.items()}


def least_ms(layout: Layout, candidates: dict[str, list[str]], device: str) -> float:
    """A lower bound on the makespan of any placement using ``device``: the first node there
    waits for every value it reads to be copied in, the last sends every value it makes that
    is read (all readers being elsewhere) or returned; each node's figures are their quickest
    copies, and the bound the least over the nodes that may run there, plus its quickest
    node."""
    ends: list[str | None] = [None, *(d for d in layout.devices if d != device)]
    outputs = set(layout.outputs)
    read = {name for names in layout.reads for name in names} | outputs
    into = away = run = float("inf")
    for i, node in enumerate(layout.nodes):
        if device not in candidates[node.name]:
            continue
        run = min(run, layout.took(i, device).ms)
        into = min(into, max((cheapest(layout, name, ends, device, True)
                              for name in layout.reads[i]), default=0.0))
        sent = [name for name in layout.writes[i] if name in read]
        away = min(away, max((cheapest(layout, name, ends, device, False) for name in sent),
                             default=0.0))
    return 0.0 if run == float("inf") else into + run + away


def cheapest(layout: Layout, name: str, ends: list[str | None], device: str,
             inward: bool) -> float:
    """The quickest copy of value ``name`` onto ``device`` from anywhere else (``inward``),
    or off it to anywhere else."""
    size = layout.size(name)
    return min(layout.transfer(size, end, device)[0] if inward else
               layout.transfer(size, device, end)[0] for end in ends)


__all__ = ["useful"]

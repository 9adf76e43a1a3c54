"""Exact placement of a chain of nodes (the Neurosurgeon/Edgent split, generalised to any
number of devices and objectives).

On a chain nothing overlaps, so a placement's latency is a sum of steps (nodes and the
transfers between them) and so is its energy: a step of ``t`` ms on device d costs d's active
power plus every other powered device's idle power for ``t``; a transfer step costs all idle
powers plus the link's energy per byte. A dynamic programme over (node, device) keeping the
Pareto front of (latency, energy) is therefore exact for energy, latency and their product,
with or without a latency or energy cap. Same cost model as ``hetero.plan.timeline``.
"""

from __future__ import annotations

from typing import Any

from hetero.cost import CostModel, idle_w, value_bytes
from hetero.device import Device
from hetero.plan.objective import checked_objective

Front = list[tuple[float, float, tuple[str, ...]]]  # (ms, mJ, devices so far)


def chain_order(graph: Any) -> list[Any] | None:
    """The nodes if each reads (apart from weights) exactly the previous node's output, the
    first the one graph input, and the last produces the graph's output; else None."""
    previous = {v.name for v in graph.inputs}
    if len(previous) != 1:
        return None
    for node in graph.nodes:
        reads = {n for n in [*node.inputs, *node.outer] if n and n not in graph.constants}
        if reads != previous or len([o for o in node.outputs if o]) != 1:
            return None
        previous = {node.outputs[0]}
    outputs = {v.name for v in graph.outputs}
    return list(graph.nodes) if graph.nodes and outputs == previous else None


def best_chain(graph: Any, candidates: dict[str, list[str]], devices: dict[str, Device],
               objective: str = "energy", max_latency_ms: float | None = None,
               max_energy_mj: float | None = None, model: CostModel | None = None
               ) -> tuple[dict[str, str], float, float] | None:
    """(placement, latency ms, energy mJ) minimising ``objective`` within the caps, or None
    when no placement meets them. ``candidates``: the devices each node may run on."""
    checked_objective(objective)
    model = model or CostModel()
    nodes = chain_order(graph)
    if nodes is None:
        raise ValueError("best_chain needs a chain: each node reading only the previous "
                         "node's output (weights aside)")
    idle = idle_w(devices)
    fronts: dict[str | None, Front] = {None: [(0.0, 0.0, ())]}  # None: data on the host
    carried = [v.name for v in graph.inputs]
    for node in nodes:
        size = sum(value_bytes(graph, n) for n in carried)
        nxt: dict[str | None, Front] = {}
        for target in candidates[node.name]:
            device = devices[target]
            run = model.node(node, graph, device).ms
            step_mj = run * (device.profile.active_w + idle - device.profile.idle_w)
            options = [(ms + hop + run, mj + hop * idle + radio + step_mj, path + (target,))
                       for source, front in fronts.items()
                       for hop, radio in [moved(model, size, devices, source, target)]
                       for ms, mj, path in front]
            nxt[target] = pareto(options, max_latency_ms, max_energy_mj)
        fronts, carried = nxt, [node.outputs[0]]
    size = sum(value_bytes(graph, n) for n in carried)
    finals = [(ms + hop, mj + hop * idle + radio, path)
              for source, front in fronts.items()
              for hop, radio in [moved(model, size, devices, source, None)]
              for ms, mj, path in front]
    feasible = pareto(finals, max_latency_ms, max_energy_mj)
    if not feasible:
        return None
    score = {"energy": lambda f: (f[1], f[0]), "latency": lambda f: (f[0], f[1]),
             "edp": lambda f: (f[0] * f[1], f[0])}[objective]
    ms, mj, path = min(feasible, key=score)
    return dict(zip((n.name for n in nodes), path, strict=True)), ms, mj


def moved(model: CostModel, size: int, devices: dict[str, Device], source: str | None,
          target: str | None) -> tuple[float, float]:
    """(ms, link mJ) to carry ``size`` bytes from ``source`` to ``target`` (None: host)."""
    if source == target:
        return 0.0, 0.0
    took, mj = model.transfer(size, devices.get(source), devices.get(target))
    return took.ms, mj


def pareto(options: Front, max_ms: float | None, max_mj: float | None) -> Front:
    """The options within the caps that no other beats on both latency and energy."""
    kept: Front = []
    for option in sorted(options, key=lambda o: (o[0], o[1])):
        if (max_ms is not None and option[0] > max_ms) or \
                (max_mj is not None and option[1] > max_mj):
            continue
        if not kept or option[1] < kept[-1][1]:
            kept.append(option)
    return kept

"""Runs of nodes a backend compiles as one unit: after placement, each maximal run of
consecutive nodes (in graph order) on a device whose backend sets ``subgraphs`` becomes one
``com.hetero.Subgraph`` step. A run of consecutive nodes in a topological order is convex (a
path between two of its nodes never leaves it), so the graph stays acyclic; weights stay
inside the unit, the values it reads and the values read after it are its boundary."""

from __future__ import annotations

import dataclasses
from typing import Any

from hetero.device import Device
from hetero.graph.ir import Node
from hetero.plan.place import Decision


@dataclasses.dataclass
class Unit:
    """One step of execution: a node, or a run of nodes compiled together."""

    node: Node  # the node itself, or the Subgraph node standing for the run
    decision: Decision
    members: list[Node] = dataclasses.field(default_factory=list)  # empty for a plain node


def units(graph: Any, decisions: list[Decision], devices: dict[str, Device]) -> list[Unit]:
    """The plan's steps: plain nodes, and a Subgraph per run on a subgraph backend."""
    last_read = {v: i for i, n in enumerate(graph.nodes) for v in (*n.inputs, *n.outer) if v}
    returned = {v.name for v in graph.outputs}
    out: list[Unit] = []
    run: list[int] = []
    for i, decision in enumerate(decisions):
        if devices[decision.device].impl.subgraphs:
            if run and decisions[run[-1]].device != decision.device:
                out.append(merged(graph, decisions, run, last_read, returned))
                run = []
            run.append(i)
            continue
        if run:
            out.append(merged(graph, decisions, run, last_read, returned))
            run = []
        out.append(Unit(graph.nodes[i], decision))
    if run:
        out.append(merged(graph, decisions, run, last_read, returned))
    return out


def merged(graph: Any, decisions: list[Decision], run: list[int], last_read: dict[str, int],
           returned: set[str]) -> Unit:
    members = [graph.nodes[i] for i in run]
    made = {o for n in members for o in n.outputs if o}
    later = {v for v in made if last_read.get(v, -1) > run[-1] or v in returned}
    reads = [v for n in members for v in (*n.inputs, *n.outer) if v]
    inputs = [v for v in dict.fromkeys(reads) if v not in made and v not in graph.constants]
    outputs = [o for n in members for o in n.outputs if o in later]
    first, last = members[0].name, members[-1].name
    name = first if len(members) == 1 else f"{first}..{last}"
    node = Node(f"subgraph[{name}]", "Subgraph", "com.hetero", inputs, outputs,
                {"nodes": len(members)}, None)
    decision = decisions[run[0]]
    unit = Decision(node.name, decision.device, "native",
                    f"{len(members)} consecutive node(s) placed on {decision.device}, "
                    "compiled as one unit")
    return Unit(node, unit, members)

"""Placement: which device runs each node, and why.

For now the simple rule of the graph-runtime issue: a user pin wins; otherwise the first device
in the caller's list that can run the node, on its best tier there. The cost-model scheduler
replaces ``place`` later; every decision carries its reason either way, so nothing falls back
silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hetero.device import Device
from hetero.errors import UnsupportedOp


@dataclass
class Decision:
    node: str
    device: str
    tier: str  # "native" or "reference"
    reason: str
    fallback: bool = False  # the node did not run where it was asked to


def place(graph: Any, devices: list[Device], pins: dict[str, str] | None,
          strict: bool) -> list[Decision]:
    """One decision per node, in graph order (UnsupportedOp where no device can run one)."""
    pins = dict(pins or {})
    names = {n.name for n in graph.nodes}
    unknown = sorted(set(pins) - names)
    if unknown:
        raise UnsupportedOp(f"placement pins unknown node(s) {', '.join(unknown)}; the graph's "
                            f"nodes include {', '.join(sorted(names)[:8])}")
    return [decide(node, graph, devices, pins.get(node.name), strict) for node in graph.nodes]


def decide(node: Any, graph: Any, devices: list[Device], pin: str | None,
           strict: bool) -> Decision:
    tiers = {d.id: d.impl.node_tier(d, node, graph) for d in devices}
    if pin is not None:
        tier = tiers.get(pin)
        if tier is not None:
            return Decision(node.name, pin, tier, "pinned by the caller")
        why = "is not among the devices given" if pin not in tiers else \
            f"cannot run {node.op_type}"
        if strict:
            raise UnsupportedOp(f"{node.label} is pinned to {pin}, which {why} (strict=True)")
        fallback = f"pinned to {pin}, which {why}; "
    else:
        fallback = ""
    for d in devices:
        if tiers[d.id] is not None:
            reason = f"{fallback}first device in the list that runs {node.op_type}"
            return Decision(node.name, d.id, tiers[d.id], reason, fallback=bool(fallback))
    raise UnsupportedOp(f"{node.label}: no device given can run {node.domain or 'ai.onnx'}."
                        f"{node.op_type} at opset {graph.opsets.get(node.domain)} (tried "
                        f"{', '.join(tiers) or 'no devices'}); `hetero ops` lists op support")

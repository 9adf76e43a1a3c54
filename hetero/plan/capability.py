"""Stage 2 of the pipeline: which device can run which node of the optimised graph, on which
tier, and why not where it cannot. The one answer to "can this device run this node":
placement, ``hetero.evaluate``, ``hetero ops`` and the refusals all read it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hetero.backend import Backend
from hetero.cost import node_work
from hetero.device import Device


@dataclass(frozen=True)
class Cell:
    """One (node, device): the tier it runs on ("native", "portable", "reference"), or None
    with the reason it cannot."""

    tier: str | None
    reason: str

    @property
    def runs(self) -> bool:
        return self.tier is not None


def cell(node: Any, graph: Any, device: Device, work: Callable[[Any, Any], Any] = node_work
         ) -> Cell:
    """The backend's tier for the node, if its profile computes in the node's dtype (an
    int8-only accelerator cannot run a float32 conv until the model is quantised); dtypes a
    profile lists no peak for, such as int64 shape arithmetic, count as float32."""
    tier = device.impl.node_tier(device, node, graph)
    op = f"{node.domain or 'ai.onnx'}.{node.op_type}"
    if tier is None and type(device.impl).node_tier is Backend.node_tier:
        return Cell(None, f"backend {device.backend} runs kernels (@hetero.kernel), not ONNX "
                          "nodes")
    if tier is None:
        return Cell(None, f"backend {device.backend} does not implement {op} at opset "
                          f"{graph.opsets.get(node.domain)} for these inputs")
    peaks = device.profile.peak_gflops
    dtype = work(node, graph).dtype
    if dtype not in peaks and "float32" not in peaks:
        return Cell(None, f"profile {device.profile.name!r} computes in "
                          f"{', '.join(peaks)} only, not {dtype}")
    return Cell(tier, f"{tier} on {device.backend}")


Row = dict[str, Cell]  # node name -> its cell on one device


def row(graph: Any, device: Device, work: Callable[[Any, Any], Any] = node_work) -> Row:
    """One device's column of the table: a cell per node of the graph."""
    return {node.name: cell(node, graph, device, work) for node in graph.nodes}


def origin(node: Any) -> str:
    """The user's own nodes a node stands for: those the graph passes merged into it."""
    sources = getattr(node, "sources", ())
    if not sources:
        return f"{node.label}"
    names = " + ".join(f"{name!r}" for name, _ in sources)
    ops = ", ".join(dict.fromkeys(op for _, op in sources))
    return (f"node(s) {names} ({ops}), which the graph passes made one "
            f"{node.domain or 'ai.onnx'}.{node.op_type}")



@dataclass
class Capability:
    """The table for one graph and one set of devices: ``rows[device id][node name]``."""

    graph: Any
    rows: dict[str, Row]

    def tier(self, node: str, device: str) -> str | None:
        return self.rows[device][node].tier

    def able(self, node: str) -> list[str]:
        """The devices, in the order given, that can run the node."""
        return [d for d, cells in self.rows.items() if cells[node].runs]

    def tiers(self, node: str) -> dict[str, str | None]:
        return {d: cells[node].tier for d, cells in self.rows.items()}

    def refusal(self, name: str) -> str:
        """Why no device given can run a node, device by device, and what to do."""
        node = next(n for n in self.graph.nodes if n.name == name)
        why = "; ".join(f"{d}: {cells[name].reason}" for d, cells in self.rows.items())
        return (f"{origin(node)}: no device given can run it ({why or 'no devices given'}). "
                "Add a device that runs it, or compile with passes=() to place the original "
                "nodes; `hetero ops MODEL` shows each node's tier on each device")


def capability(graph: Any, devices: list[Device], known: dict[str, tuple[Device, Row]],
               work: Callable[[Any, Any], Any] = node_work) -> Capability:
    """The table, each device's row taken from ``known`` (device id -> (device, row)) where
    that same device was seen before on this graph, else computed and stored there."""
    rows = {}
    for device in devices:
        seen = known.get(device.id)
        if seen is None or seen[0] is not device:
            seen = known[device.id] = (device, row(graph, device, work))
        rows[device.id] = seen[1]
    return Capability(graph, rows)


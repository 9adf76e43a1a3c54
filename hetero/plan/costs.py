"""Stage 3 of the pipeline: the time of every (node, device) the capability table allows,
under the cost model (measured history where it exists, the roofline elsewhere), and the
transfers between devices. Every search, exact or heuristic, reads its figures from here."""

from __future__ import annotations

from typing import Any

from hetero.cost import CostModel, Estimate
from hetero.device import Device
from hetero.plan.capability import Capability

Row = dict[str, Estimate]  # node name -> its time on one device


class CostTable:
    """``rows[device id][node name]``, asked as a cost model is (``node``, ``transfer``,
    ``work``), so the searches and the timeline take either."""

    def __init__(self, graph: Any, devices: dict[str, Device], model: CostModel,
                 rows: dict[str, Row]):
        self.graph, self.devices, self.model, self.rows = graph, devices, model, rows
        self.history = model.history

    def node(self, node: Any, graph: Any, device: Device) -> Estimate:
        found = self.rows.get(device.id, {}).get(node.name)
        return found if found is not None else self.model.node(node, graph, device)

    def transfer(self, nbytes: float, source: Device | None, target: Device | None
                 ) -> tuple[Estimate, float]:
        return self.model.transfer(nbytes, source, target)

    def work(self, node: Any, graph: Any) -> Any:
        return self.model.work(node, graph)


Known = dict[str, tuple[Device, int, Row]]  # device id -> (device, history version, row)


def cost_table(graph: Any, capability: Capability, devices: list[Device], model: CostModel,
               known: Known) -> CostTable:
    """The table for ``devices`` (as the planner sees them: busy power calibrated), each
    row taken from ``known`` where this device's row was worked out before, on the same
    silicon and history, else estimated for the nodes it can run and stored there."""
    rows = {}
    for device in devices:
        version = model.history.version(device) if model.history is not None else 0
        seen = known.get(device.id)
        if seen is None or seen[1] != version or not same_silicon(seen[0], device):
            able = [n for n in graph.nodes if capability.rows[device.id][n.name].runs]
            # estimate, not node: the model's own cache holds what the history said before
            seen = known[device.id] = (device, version, {
                n.name: model.estimate(n, graph, device) for n in able})
        rows[device.id] = seen[2]
    return CostTable(graph, {d.id: d for d in devices}, model, rows)


def same_silicon(a: Device, b: Device) -> bool:
    """Whether a stored row still holds: the same device with the same profile (calibrating
    busy power makes a new Device object but changes no node's time)."""
    return a.id == b.id and a.impl is b.impl and a.profile.name == b.profile.name and \
        a.profile.peak_gflops == b.profile.peak_gflops and \
        a.profile.mem_bandwidth_gbs == b.profile.mem_bandwidth_gbs and \
        a.profile.launch_overhead_us == b.profile.launch_overhead_us

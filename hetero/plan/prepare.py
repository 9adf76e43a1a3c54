"""Stage 6 of the pipeline: what a plan runs, built. Each step once (a node's evaluator or
kernel, a subgraph's compiled program), the weights its device reads moved there once, and
the ordered list of node runs and transfers. A ``Prepared`` store keeps them across
re-plans: a node that stays on a device that stays is not prepared again."""

from __future__ import annotations

from typing import Any

import numpy as np

from hetero.device import HOST, Device
from hetero.errors import HeteroError, ModelError
from hetero.graph.ir import Graph
from hetero.plan.partition import Unit
from hetero.runtime import Step


class Prepared:
    """Prepared steps and resident weights by device, for the latest plan of one pipeline:
    preparing a plan reuses what the previous one built (a node that stays on a device that
    stays, or moves to a device of the same step family) and then forgets the rest, the
    steps and weights of a device that left included."""

    def __init__(self) -> None:
        self.steps: dict[tuple[str, tuple[str, ...]], tuple[Device, Any]] = {}
        self.weights: dict[tuple[str, str], tuple[Device, Any]] = {}
        self.used: set[tuple[Any, ...]] = set()  # keys the plan being prepared asked for
        self.kin: dict[tuple[str, str], Any] = {}  # (step family, node name) -> its step

    def keep_used(self) -> None:
        """Forget what the plan just prepared did not ask for."""
        self.steps = {k: v for k, v in self.steps.items() if k in self.used}
        self.weights = {k: v for k, v in self.weights.items() if k in self.used}
        kept = {id(built) for _, built in self.steps.values()}
        self.kin = {k: built for k, built in self.kin.items() if id(built) in kept}
        self.used = set()

    def step(self, unit: Unit, graph: Graph, device: Device) -> Any:
        """The unit built on the device, or the one built before for the same nodes there
        or on a device of the same step family (``Backend.step_family``)."""
        key = (device.id, tuple(m.name for m in unit.members) or (unit.node.name,))
        self.used.add(key)
        found = self.steps.get(key)
        if found is None or found[0] is not device:
            node = unit.node
            built = device.impl.prepare_subgraph(device, unit.members, graph, node.inputs,
                                                 node.outputs) if unit.members else \
                self.node_step(node, graph, device)
            found = self.steps[key] = (device, built)
        return found[1]

    def node_step(self, node: Any, graph: Graph, device: Device) -> Any:
        """One node built for the device, or as a device of its step family built it."""
        family = device.impl.step_family()
        built = self.kin.get((family, node.name)) if family is not None else None
        if built is None:
            built = built_node(node, graph, device)
        if family is not None:
            self.kin[family, node.name] = built
        return built

    def weight(self, name: str, graph: Graph, device: Device) -> Any:
        """A constant on the device (a folded sequence stays a host list)."""
        self.used.add((name, device.id))
        found = self.weights.get((name, device.id))
        if found is None or found[0] is not device:
            value = graph.constants[name]
            moved = device.impl.constant(device, value) if isinstance(value, np.ndarray) \
                else value
            found = self.weights[name, device.id] = (device, moved)
        return found[1]

    def devices(self) -> set[str]:
        """The devices something is built on (for tests and reports)."""
        return {k[0] for k in self.steps} | {k[1] for k in self.weights}


def built_node(node: Any, graph: Graph, device: Device) -> Any:
    """The backend's build of one node; a backend that fails on the node's attributes or
    constants with something other than a HeteroError is named with the node and device."""
    try:
        return device.impl.prepare_node(device, node, graph)
    except HeteroError:
        raise
    except Exception as exc:  # a backend's ZeroDivisionError, IndexError, ...
        raise ModelError(f"{node.label} cannot be built for {device.id}: "
                         f"{type(exc).__name__}: {exc}; its attributes or constants are "
                         "likely invalid for the op (`hetero ops MODEL` lists each node)") \
            from exc


def prepare(graph: Graph, units: list[Unit], devices: dict[str, Device], store: Prepared
            ) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    """Each unit's prepared step by its node's name, and the constants on the devices that
    read them (weights of a compiled subgraph travel inside it)."""
    prepared, resident = {}, {}
    for unit in units:
        node, device = unit.node, devices[unit.decision.device]
        prepared[node.name] = store.step(unit, graph, device)
        if unit.members:
            continue
        for name in [*node.inputs, *node.outer]:
            if name in graph.constants and (name, device.id) not in resident:
                resident[name, device.id] = store.weight(name, graph, device)
    for out in graph.outputs:
        if out.name in graph.constants:
            resident[out.name, HOST] = graph.constants[out.name]
    store.keep_used()
    return prepared, resident


def steps(graph: Graph, units: list[Unit]) -> list[Step]:
    """Node runs in graph order, each preceded by the transfers that bring its inputs; then
    the transfers that bring the outputs back to the caller."""
    # where each value is, first holder first: copies come from where it was made, as in
    # the timeline (a dict, so the choice does not depend on hashing)
    where: dict[str, dict[str, None]] = {v.name: {HOST: None} for v in graph.inputs}
    out: list[Step] = []
    for unit in units:
        node, decision = unit.node, unit.decision
        for name in dict.fromkeys(n for n in [*node.inputs, *node.outer] if n):
            if name in graph.constants:
                continue  # resident since compile
            held = where.setdefault(name, {})
            if decision.device not in held:
                out.append(Step("transfer", decision.device, value=name, source=next(iter(held))))
                held[decision.device] = None
        out.append(Step("run", decision.device, node=node, tier=decision.tier))
        for name in node.outputs:
            if name:
                where[name] = {decision.device: None}
    for value in graph.outputs:
        held = where.get(value.name, {})
        if value.name not in graph.constants and HOST not in held:
            out.append(Step("transfer", HOST, value=value.name, source=next(iter(held))))
    return out

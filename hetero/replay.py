"""A plan's run replayed as one recorded launch (a CUDA graph). Where every node of a plan
runs on one device that can record its work (``Backend.capture``), the runs after the first
copy the inputs into the recorded input buffers, replay, and copy the outputs back: no
per-node host work, which on a GPU at batch 1 costs as much as the GPU's own time (ONNX
Runtime's CUDA graphs and torch's CUDAGraph do the same). Runs the history records replay
too, timed as one piece whose time the history shares among the nodes (as a subgraph's);
``plan.profile`` runs node by node, each node timed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetero.device import HOST, Device

log = logging.getLogger("hetero.replay")


@dataclass
class Replay:
    device: Device
    launch: Callable[[], None]
    env: dict  # the recorded run's buffers by (value, device)
    inputs: dict[tuple[str, str], Any]  # (feed, device) -> the recorded input buffer
    outputs: dict[str, tuple[str, str]]  # graph output -> the key its buffer is under
    shapes: dict[str, tuple[tuple[int, ...], np.dtype]]  # the feeds it was recorded at
    read: Callable[[Any, str], np.ndarray]  # (buffer, device id) -> host copy
    nodes: list[str]  # what it runs, in order
    clock: Any = None  # the device's timer (``Backend.node_clock``), where it has one

    @property
    def name(self) -> str:
        """What its time is reported under (``plan.last_run``); the history shares that
        time among ``nodes`` by their modeled times, as a subgraph's."""
        return f"replay:{self.device.id}"

    def matches(self, feeds: dict[str, Any]) -> bool:
        return all((np.shape(feeds[name]), np.asarray(feeds[name]).dtype) == shape
                   for name, shape in self.shapes.items())

    def run(self, feeds: dict[str, Any], timed: bool
            ) -> tuple[dict[str, np.ndarray], float, float, tuple | None]:
        """Inputs written in, the recording replayed (between the device clock's marks when
        ``timed``), outputs read back: (outputs, when the launch began (perf_counter), the
        host's ms to launch it, (clock, start mark, end mark) or None)."""
        impl = self.device.impl
        for (name, _), buffer in self.inputs.items():
            impl.write(self.device, buffer, np.asarray(feeds[name]))
        self.env.update(self.inputs)  # a stand-in replay that re-runs the nodes reads them
        clock = self.clock if timed else None
        first = clock.mark() if clock is not None else None
        start = time.perf_counter()
        self.launch()
        elapsed = (time.perf_counter() - start) * 1e3
        marks = None if clock is None else (clock, first, clock.mark())
        outputs = {name: self.read(self.env[key], self.device.id)
                   for name, key in self.outputs.items()}
        return outputs, start, elapsed, marks


def parts(plan: Any) -> tuple[list[Any], list[Any], list[Any], Device] | None:
    """(copies of feeds in, node calls, copies of outputs out, the device) when a run is
    just that, the nodes all on one device and none a portable kernel (those launch from
    the device's queue thread, which waits for them); else None."""
    pairs = list(zip(plan.steps, plan.calls, strict=True))
    fed = {v.name for v in plan.graph.inputs}
    first = 0
    while first < len(pairs) and pairs[first][1] is None and \
            pairs[first][0].source == HOST and pairs[first][0].value in fed:
        first += 1
    last = len(pairs)
    while last > first and pairs[last - 1][1] is None and pairs[last - 1][0].device == HOST:
        last -= 1
    middle = [call for _, call in pairs[first:last]]
    if not middle or any(c is None or c.step.tier == "portable" for c in middle):
        return None
    device = middle[0].device
    if any(c.device is not device or any(key[1] != device.id for _, key in c.inputs)
           for c in middle):
        return None
    copied_out = {step.value for step, _ in pairs[last:]}
    if any(out.name not in copied_out for out in plan.graph.outputs):
        return None
    return [s for s, _ in pairs[:first]], middle, [s for s, _ in pairs[last:]], device


def record(plan: Any, feeds: dict[str, Any]) -> Replay | None:
    """Record the node calls of a run on ``feeds`` (nothing is computed), or None where the
    plan's run is not one device's, or its device cannot record it."""
    found = parts(plan)
    if found is None:
        return None
    copies_in, calls, copies_out, device = found
    env: dict = dict(plan.resident)
    inputs = {}
    for step in copies_in:
        inputs[step.value, step.device] = plan.transfer(np.asarray(feeds[step.value]), HOST,
                                                        step.device)
    env.update(inputs)

    def work() -> None:
        for call in calls:
            call.run(env, 0.0)

    try:
        launch = device.impl.capture(device, work)
    except Exception as exc:  # noqa: BLE001 - an op that cannot be recorded: node by node
        log.info("%s: the run could not be recorded as one launch (%s); it runs node by "
                 "node", device.id, exc)
        return None
    if launch is None:
        return None
    shapes = {name: (np.shape(feeds[name]), np.asarray(feeds[name]).dtype)
              for name, _ in inputs}
    outputs = {step.value: (step.value, step.source) for step in copies_out}
    return Replay(device, launch, env, inputs, outputs, shapes,
                  lambda buffer, where: plan.transfer(buffer, where, HOST),
                  [call.step.node.name for call in calls], device.impl.node_clock(device))

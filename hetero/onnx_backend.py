"""hetero as an ``onnx.backend.base.Backend``, so ONNX's own backend test suite can run it.

The device is ``HETERO_DEVICE`` (a selector, default ``cpu``); ``prepare`` loads the model
through ``hetero.load`` and compiles it for that one device.
"""

from __future__ import annotations

import os
from typing import Any

from onnx.backend.base import Backend, BackendRep

import hetero

DEVICES = {"CPU": "cpu"}  # ONNX's device names -> the kinds hetero runs them on


class HeteroRep(BackendRep):
    def __init__(self, plan: Any):
        self.plan = plan

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Inputs as a dict, a list in graph-input order, or one array; outputs in order."""
        names = [v.name for v in self.plan.graph.inputs]
        if isinstance(inputs, dict):
            feeds = dict(inputs)
        else:
            values = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
            feeds = dict(zip(names, values, strict=False))
        outputs = self.plan.run(feeds)
        return tuple(outputs[v.name] for v in self.plan.graph.outputs)


class HeteroBackend(Backend):
    @classmethod
    def device(cls) -> hetero.Device:
        return hetero.device(os.environ.get("HETERO_DEVICE", "cpu"))

    @classmethod
    def prepare(cls, model: Any, device: str = "CPU", **kwargs: Any) -> HeteroRep:
        return HeteroRep(hetero.compile(hetero.load(model), devices=[cls.device()],
                                        strict=True))

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device in DEVICES


prepare = HeteroBackend.prepare
run_model = HeteroBackend.run_model
supports_device = HeteroBackend.supports_device

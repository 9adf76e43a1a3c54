"""CUDA's table of torch ops, which each op module registers into (the package imports the
modules; the modules import only this)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hetero.optable import OpTable, outputs_used  # noqa: F401 - the op modules take it here

TABLE = OpTable()
OUTPUTS = "hetero:outputs"  # in the attributes an op receives: how many outputs the node has


def native(*op_types: str, when: Callable[[Any], bool] | None = None, since: int = 1,
           floats: bool = False, host: tuple[int, ...] = ()) -> Callable:
    """Register a torch op; ``host``: the inputs it reads as numbers (shapes, axes), which
    it receives as NumPy arrays when they are the model's constants, so the host never
    waits for the GPU to read them back."""
    return TABLE.register(*op_types, when=when, since=since, floats=floats, host=host)


def with_activation(y: Any, attrs: dict) -> Any:
    """hetero's fused ops (FusedConv, FusedGemm, FusedBatchNormalization) end in a Relu."""
    import torch

    return torch.relu_(y) if attrs.get("activation") == "Relu" else y

"""The CPU's table of native ops, which each op module registers into (the package imports
the modules; the modules import only this)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hetero.optable import OpTable, outputs_used  # noqa: F401 - the op modules take it here

TABLE = OpTable()


def native(*op_types: str, when: Callable[[Any], bool] | None = None, since: int = 1,
           blocked: bool = False, specialise: Callable[[Any, Any, int], Any] | None = None
           ) -> Callable:
    """Register a native op; ``blocked``: it takes NCHWc activations as they are;
    ``specialise``: fn(node, graph, opset) -> an op made for that node, or None."""
    return TABLE.register(*op_types, when=when, since=since, blocked=blocked,
                          specialise=specialise)


def runs_natively(node: Any, opset: int) -> bool:
    """Whether the native version covers this node at the model's ``opset``."""
    return TABLE.covers(node, opset)

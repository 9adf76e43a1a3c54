"""The bounds that keep hostile or careless input from hanging or exhausting hetero.

Each limit has a default sized well above what real models need and an environment variable
to move it. They are checked *before* the work they bound: nesting before any recursive walk,
a folded value's size before it is computed, a ``Loop``'s trip count before its first
iteration, a run's deadline between nodes and between loop iterations.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
from collections.abc import Iterator

from hetero.errors import ArgumentError, DeadlineExceeded, ModelError

#: If/Loop/Scan bodies inside bodies. ONNX's own C++ (checker, shape inference) parses a model
#: with protobuf's default recursion limit of 100 messages, which a chain of 32 ``If`` nodes
#: (node, attribute, graph: 3 messages a level) exceeds; deeper models crashed the process.
MAX_SUBGRAPH_DEPTH = 24


def env_int(name: str, default: int) -> int:
    """An integer limit from the environment; a malformed value is a clear error, not ignored."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise ModelError(f"{name}={raw!r} is not a number; unset it or give an integer") \
            from None
    if value <= 0:
        raise ModelError(f"{name}={raw!r} must be positive")
    return value


def max_nodes() -> int:
    """Nodes in a model, subgraphs and functions included (``HETERO_MAX_NODES``)."""
    return env_int("HETERO_MAX_NODES", 1_000_000)


def fold_max_bytes() -> int:
    """The bytes constant folding may create at compile time (``HETERO_FOLD_MAX_BYTES``);
    values past it are computed at run time, when a run asks for them. ONNX's "light" zoo
    models build their weights with ConstantOfShape (VGG-19: 548 MB), so 1 GiB folds them."""
    return env_int("HETERO_FOLD_MAX_BYTES", 2**30)


def max_loop_trips() -> int:
    """The most iterations one ``Loop`` node may run (``HETERO_MAX_LOOP_TRIPS``)."""
    return env_int("HETERO_MAX_LOOP_TRIPS", 10_000_000)


_deadline: contextvars.ContextVar[tuple[float, float] | None] = \
    contextvars.ContextVar("hetero_deadline", default=None)


@contextlib.contextmanager
def deadline(timeout_ms: float | None) -> Iterator[None]:
    """Within this block, :func:`deadline_passed` is true once ``timeout_ms`` have passed."""
    if timeout_ms is None:
        yield
        return
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int | float) or \
            not timeout_ms > 0:
        raise ArgumentError(f"timeout_ms={timeout_ms!r}: give a positive number of ms, or "
                            "None for no deadline")
    token = _deadline.set((time.perf_counter() + timeout_ms / 1e3, timeout_ms))
    try:
        yield
    finally:
        _deadline.reset(token)


def deadline_passed() -> bool:
    """Whether the current run's deadline has passed: cheap, for every node and iteration
    (the message of :func:`overdue` is built only once it has)."""
    current = _deadline.get()
    return current is not None and time.perf_counter() > current[0]


def overdue(doing: str) -> DeadlineExceeded:
    """The error for a run past its deadline; ``doing`` says where it was."""
    current = _deadline.get()
    limit = f"{current[1]:g} ms" if current is not None else "deadline"
    return DeadlineExceeded(f"the run passed its deadline of {limit} before {doing}; raise "
                            "timeout_ms, or run less work per call")

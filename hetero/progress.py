"""Progress on work a person waits for: conformance runs, compiling a large model, a first run's
kernel compilation, measuring a device, an example's sweep.

Library code marks such work with ``with progress.step("what", total=n) as advance: ...``.
Nothing is drawn unless progress is switched on (the ``hetero`` command and the examples do it;
``HETERO_PROGRESS=1`` does it anywhere, ``HETERO_PROGRESS=0`` silences it), so an application
embedding hetero never gets bars on its stderr uninvited. At a terminal, nested steps share one
rich display that disappears when the outer step ends; anywhere, an outermost step that took a
second or more leaves one line saying what it did and how long (that line is what a log keeps).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Advance", "enable", "enabled", "step"]

#: ``advance(steps=1, description=None)``: move a step's bar on, optionally renaming it.
Advance = Callable[..., None]

#: A step at least this long leaves a line behind.
REPORT_AFTER_S = 1.0

_lock = threading.RLock()
_switched_on: bool | None = None
_display: Any = None  # the rich Progress shared by the steps now open
_open = 0


def enable(on: bool | None = True) -> bool | None:
    """Switch progress display on (or off; None: back to the default) for this process;
    ``HETERO_PROGRESS`` overrides. Returns the previous setting, to restore it."""
    global _switched_on
    previous, _switched_on = _switched_on, on
    return previous


def enabled() -> bool:
    env = os.environ.get("HETERO_PROGRESS", "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    return bool(_switched_on)


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def step(description: str, total: int | None = None) -> Iterator[Advance]:
    """A unit of work a person may wait for; yields ``advance`` to move its bar."""
    if not enabled():
        yield _ignore
        return
    started = time.perf_counter()
    outermost = _open == 0  # a step inside another leaves no line: the outer one's covers it
    display, task = _open_task(description, total)
    outcome = "failed after"
    try:
        yield (lambda steps=1, description=None: _advance(display, task, steps, description))
        outcome = "done in"
    finally:
        _close_task(display, task)
        elapsed = time.perf_counter() - started
        if outermost and elapsed >= REPORT_AFTER_S:
            _console().print(f"hetero: {description}: {outcome} {elapsed:.1f} s", style="dim",
                             highlight=False, soft_wrap=True)


def _ignore(steps: int = 1, description: str | None = None) -> None:
    return None


def _open_task(description: str, total: int | None) -> tuple[Any, Any]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    global _display, _open
    with _lock:
        if _display is None:
            console = _console()
            if not console.is_terminal:
                _open += 1
                return None, None  # a log: only the closing line is written
            _display = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                                transient=True)
            _display.start()
        _open += 1
        return _display, _display.add_task(description, total=total)


def _advance(display: Any, task: Any, steps: int, description: str | None) -> None:
    if display is None:
        return
    with _lock:
        if description is None:
            display.advance(task, steps)
        else:
            display.update(task, advance=steps, description=description)


def _close_task(display: Any, task: Any) -> None:
    global _display, _open
    with _lock:
        _open -= 1
        if display is not None:
            display.remove_task(task)
        if _open == 0 and _display is not None:
            _display.stop()
            _display = None

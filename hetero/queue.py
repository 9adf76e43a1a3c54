"""In-order device queues and the ``Event`` each submission returns."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from hetero.array import Array, common_device

if TYPE_CHECKING:
    from hetero.device import Device


@dataclass(frozen=True)
class Work:
    """The size of a work item, so simulated devices can model its time and energy."""

    flops: float
    bytes: float
    dtype: str = "float32"


@dataclass(frozen=True)
class DeviceTime:
    """What a backend returns from a kernel run when the device timed it itself."""

    nanoseconds: int


class Event:
    """A submitted work item. ``wait()`` returns its result or raises its error.

    ``start_ns``/``end_ns`` are host ``perf_counter_ns`` stamps taken around the work on the
    queue's thread. A backend with device timers (OpenCL profiling) also reports the kernel's
    own time in ``device_ns``; then ``timing == "device"`` and ``duration_ms`` uses it.
    ``modeled`` holds modeled time and energy on simulated devices.
    """

    def __init__(self, device: Device):
        self.device = device
        self.future: Future | None = None
        self.submit_ns = time.perf_counter_ns()
        self.start_ns: int | None = None
        self.end_ns: int | None = None
        self.timing: Literal["host", "device"] = "host"
        self.device_ns: int | None = None
        self.modeled: dict[str, Any] | None = None

    @property
    def status(self) -> Literal["queued", "running", "complete", "error"]:
        if self.future is None or not self.future.done():
            return "queued" if self.start_ns is None else "running"
        return "error" if self.future.exception() is not None else "complete"

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the work finished; return its result or raise what it raised."""
        assert self.future is not None, "wait() on an event that was never submitted"
        return self.future.result(timeout)

    @property
    def duration_ms(self) -> float | None:
        """Measured time in milliseconds once complete: the device's timer where it has one."""
        if self.device_ns is not None:
            return self.device_ns / 1e6
        if self.start_ns is None or self.end_ns is None:
            return None
        return (self.end_ns - self.start_ns) / 1e6

    def __repr__(self) -> str:
        took = "" if self.duration_ms is None else \
            f", {self.duration_ms:.3f} ms measured ({self.timing})"
        return f"<Event on {self.device.id}: {self.status}{took}>"


def native(value: Any) -> Any:
    """Arrays replaced by their backend buffers, inside lists, tuples and dicts too."""
    if isinstance(value, Array):
        return value.buffer
    if isinstance(value, list | tuple):
        return type(value)(native(v) for v in value)
    if isinstance(value, dict):
        return {k: native(v) for k, v in value.items()}
    return value


def arrays_in(value: Any, where: str) -> Iterator[tuple[str, Array]]:
    """Every Array in a (nested) argument, with a path naming where it sits."""
    if isinstance(value, Array):
        yield where, value
    elif isinstance(value, list | tuple | dict):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            yield from arrays_in(item, f"{where}[{key!r}]")


class Queue:
    """An in-order queue: work runs one item at a time, in submission order, off the caller."""

    def __init__(self, device: Device):
        self.device = device
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"hetero-{device.id}")

    def submit(self, fn: Callable[..., Any], args: Sequence[Any] = (),
               kwargs: dict[str, Any] | None = None, *, work: Work | None = None) -> Event:
        """Run ``fn(*args, **kwargs)`` on the device, Arrays replaced by their native buffers.

        Every Array argument must live on this queue's device (DeviceMismatch otherwise).
        """
        impl = self.device.impl
        return self._enqueue(lambda a, k: impl.execute(self.device, fn, a, k), args,
                             kwargs or {}, work)

    def launch(self, program: Any, args: Sequence[Any], spec: Any, *,
               work: Work | None = None) -> Event:
        """Run a compiled kernel; the backend may report the kernel's own device time."""
        impl = self.device.impl
        return self._enqueue(lambda a, k: impl.run_kernel(self.device, program, a, spec),
                             args, {}, work)

    def _enqueue(self, call: Callable[[list[Any], dict[str, Any]], Any], args: Sequence[Any],
                 kwargs: dict[str, Any], work: Work | None) -> Event:
        self.device.check_alive("submit work to it")
        named = [*((f"argument {i}", a) for i, a in enumerate(args)),
                 *((f"argument {k!r}", a) for k, a in kwargs.items())]
        common_device([found for where, a in named for found in arrays_in(a, where)],
                      self.device)
        call_args = [native(a) for a in args]
        call_kwargs = {k: native(v) for k, v in kwargs.items()}
        event = Event(self.device)
        if work is not None:
            event.modeled = self.device.impl.modeled_cost(self.device, work)

        def run() -> Any:
            event.start_ns = time.perf_counter_ns()
            try:
                result = call(call_args, call_kwargs)
            finally:
                event.end_ns = time.perf_counter_ns()
            if isinstance(result, DeviceTime):
                event.device_ns, event.timing = result.nanoseconds, "device"
                return None
            return result

        try:
            event.future = self._executor.submit(run)
        except RuntimeError:  # the device went away since the check: its queue is closed
            self.device.check_alive("submit work to it")
            raise
        return event

    def wait(self) -> None:
        """Block until everything submitted so far has run."""
        self._executor.submit(lambda: None).result()

    def close(self) -> None:
        """Let queued work finish, then end the worker thread; later submits raise DeviceLost."""
        self._executor.shutdown(wait=False)



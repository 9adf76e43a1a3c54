"""The exception tree: every hetero failure is a ``HeteroError`` saying what, where, how to fix."""

from __future__ import annotations


class HeteroError(Exception):
    """Base of every error hetero raises on purpose."""


class ArgumentError(HeteroError, ValueError, TypeError):
    """An argument to a hetero function has the wrong type or value; the message names it
    and what it takes (a ValueError and a TypeError, as Python's own would be)."""


class DeviceNotFound(HeteroError, LookupError):
    """A selector matched no device; the message lists the devices that do exist."""


class DeviceLost(HeteroError):
    """A device went away (unplugged, detached) while data or work still referred to it;
    ``device`` is that device where the raiser knew it (a plan's run always says)."""

    def __init__(self, message: str = "", device: object = None):
        super().__init__(message)
        self.device = device


class DeviceMismatch(HeteroError, ValueError):
    """One launch was handed arrays that live on different devices (compute follows data)."""


class DeviceOutOfMemory(HeteroError, MemoryError):
    """An allocation would exceed a device's memory (simulated devices enforce their profile's)."""


class UnsupportedOp(HeteroError, NotImplementedError):
    """A backend cannot do what was asked of it on this device."""


class ModelError(HeteroError, ValueError):
    """An ONNX model is malformed or unsafe to load."""


class RunError(HeteroError, RuntimeError):
    """A node failed while a plan ran; ``node`` and ``device`` say which, the cause is chained.
    (A model the checker accepts can still fail on the data it is given.)"""

    def __init__(self, message: str, node: str = "", device: str = ""):
        super().__init__(message)
        self.node, self.device = node, device


class DeadlineExceeded(HeteroError, TimeoutError):
    """A run passed the ``timeout_ms`` it was given (``Plan.run``, ``Session``)."""


class KernelCompileError(HeteroError):
    """A ``@hetero.kernel`` function falls outside the kernel language or failed to build."""


class PlanInfeasible(HeteroError):
    """No placement meets the constraints; says which constraint binds.

    ``constraint`` names it ("max_latency_ms", "max_energy_mj" or "memory"), ``limit`` is its
    value, ``best`` the best figure reachable on that constraint alone, and ``closest`` the
    placement found that comes nearest to meeting every constraint (a ``hetero.plan.score.Found``).
    """

    def __init__(self, message: str, constraint: str = "", limit: float | None = None,
                 best: float | None = None, closest: object = None):
        super().__init__(message)
        self.constraint, self.limit, self.best, self.closest = constraint, limit, best, closest


class PluginError(HeteroError):
    """A plugin failed to import, declared the wrong API version, raised (``sys.exit()``
    included) or returned the wrong type in a hook, or failed or hung in discovery.

    ``plugin`` names the plugin, ``stage`` says when it failed ("import", "api-version",
    "register", "discover", "timeout", "unavailable", "not-found", or a hook name) and
    ``detail`` carries the cause. ``count`` is how often the log met this very failure.
    """

    STAGES = {"import": "failed to import", "api-version": "was refused",
              "register": "failed to register", "discover": "raised during discovery",
              "timeout": "timed out during discovery",
              "unavailable": "is unavailable", "not-found": "was not found"}

    def __init__(self, plugin: str, stage: str, detail: str):
        self.plugin, self.stage, self.detail = plugin, stage, detail
        self.count = 1
        what = self.STAGES.get(stage, f"failed in hook {stage}")
        super().__init__(f"plugin {plugin!r} {what}: {detail}")

    def as_dict(self) -> dict[str, str | int]:
        return {"plugin": self.plugin, "stage": self.stage, "detail": self.detail,
                "count": self.count}

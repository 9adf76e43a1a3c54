"""hetero: heterogeneous hardware as one machine.

``import hetero`` is light: it loads no plugin and probes no hardware. Discovery runs on the
first call that needs devices (``hetero.devices()``, ``hetero.device(...)``, ``hetero.asarray``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import hetero.threads  # noqa: F401 - first: thread defaults before numba is imported
from hetero import sim
from hetero.array import Array, asarray, empty, from_dlpack, zeros
from hetero.backend import Backend
from hetero.catalogue import LinkProfile
from hetero.device import Device, DeviceProfile
from hetero.discovery import BackendStatus, DeviceEvent, default_registry
from hetero.errors import (
    ArgumentError,
    DeadlineExceeded,
    DeviceLost,
    DeviceMismatch,
    DeviceNotFound,
    DeviceOutOfMemory,
    HeteroError,
    KernelCompileError,
    ModelError,
    PlanInfeasible,
    PluginError,
    RunError,
    UnsupportedOp,
)
from hetero.graph import Model, load
from hetero.hookspecs import PLUGIN_API_VERSION, hookimpl
from hetero.kernel import Kernel, func, kernel
from hetero.kernel.language import (
    atomic_add,
    barrier,
    ceil,
    cos,
    erf,
    exp,
    exp2,
    fabs,
    floor,
    fma,
    global_id,
    global_size,
    group_id,
    local_array,
    local_id,
    local_size,
    log,
    log2,
    max,
    min,
    num_groups,
    pow,
    private_array,
    rsqrt,
    sin,
    sqrt,
    tanh,
)
from hetero.plan.objective import PlanEstimate
from hetero.plan.pipeline import compile, evaluate  # noqa: A004 - hetero.compile is public
from hetero.queue import Event, Queue, Work
from hetero.runtime import Plan
from hetero.selector import Selector
from hetero.session import Session, SessionEvent, SessionStats
from hetero.watch import Watcher, watch

__version__ = "0.1.0"

#: Scalar types, for casts and scratch arrays inside kernels (NumPy's own types).
float16, float32, float64 = np.float16, np.float32, np.float64
int32, int64, bool_ = np.int32, np.int64, np.bool_


def devices() -> list[Device]:
    """Every device all backends discovered now, plus those attached since."""
    return default_registry().devices()


def device(selector: Selector) -> Device:
    """The device a selector names ("cpu", "gpu:1", "cuda,cpu", a callable), else DeviceNotFound."""
    return default_registry().device(selector)


def rescan() -> list[DeviceEvent]:
    """Ask every backend again what it sees; returns the add/remove events that resulted."""
    return default_registry().rescan()


def on_device_event(callback: Callable[[DeviceEvent], Any]) -> Callable[[], None]:
    """Call ``callback(DeviceEvent)`` whenever a device is added or removed; returns unsubscribe."""
    return default_registry().subscribe(callback)


def plugin_errors() -> list[PluginError]:
    """Every plugin failure so far: import, API version, registration, discovery."""
    return default_registry().errors()


def backend_status() -> list[BackendStatus]:
    """Each loaded backend's state: "ok", "unavailable" (with the pip fix) or "error"."""
    return default_registry().statuses()


def profiles() -> dict[str, DeviceProfile]:
    """The hardware catalogue the simulated backend and the cost model use, by profile name."""
    return dict(default_registry().catalogue()[0])


def links() -> dict[str, LinkProfile]:
    """The catalogued interconnect presets, by name ("pcie4", "usb3", "5g", …)."""
    return dict(default_registry().catalogue()[1])


__all__ = [
    "Model",
    "Plan",
    "Session", "SessionEvent", "SessionStats", "Watcher", "watch",
    "compile",
    "evaluate",
    "PlanEstimate",
    "load",
    "Array", "Backend", "Kernel", "atomic_add", "barrier", "bool_", "ceil", "cos", "erf", "exp",
    "exp2", "fabs", "float16", "float32", "float64", "floor", "fma", "func", "global_id",
    "global_size", "group_id", "int32", "int64", "kernel", "local_array", "local_id",
    "local_size", "log", "log2", "max", "min", "num_groups", "pow", "private_array", "rsqrt",
    "sin", "sqrt", "tanh", "BackendStatus", "Device", "DeviceEvent", "DeviceLost", "DeviceMismatch",
    "ArgumentError", "DeadlineExceeded", "DeviceNotFound", "DeviceOutOfMemory", "DeviceProfile",
    "Event",
    "HeteroError", "KernelCompileError", "LinkProfile", "ModelError", "PLUGIN_API_VERSION",
    "PlanInfeasible", "PluginError", "Queue", "RunError", "Selector", "UnsupportedOp", "Work",
    "asarray", "backend_status",
    "device", "devices", "empty", "from_dlpack", "hookimpl", "links", "on_device_event",
    "plugin_errors", "profiles", "rescan", "sim", "zeros",
]

"""The kernel language: ``@hetero.kernel`` SPMD Python -> typed IR -> one generator per target.

``frontend`` parses and types, ``analysis`` checks barriers, ``codegen`` prints numba-CPU,
numba.cuda and OpenCL C, ``launch`` compiles per signature and device and enqueues launches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hetero.kernel.frontend import DeviceFunction
from hetero.kernel.launch import Kernel


def kernel(fn: Callable[..., Any]) -> Kernel:
    """Make ``fn`` a kernel: launch it with ``fn[device, global_size](args...)``."""
    return Kernel(fn)


def func(fn: Callable[..., Any]) -> DeviceFunction:
    """A device function kernels may call; inlined at each call."""
    return DeviceFunction(fn)


__all__ = ["DeviceFunction", "Kernel", "func", "kernel"]

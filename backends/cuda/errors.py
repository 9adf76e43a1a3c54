"""CUDA's sticky errors as ``DeviceLost``: after one, the device's context refuses every
later call until the process resets it, so for hetero the device is gone (a session marks
it lost and re-plans the request elsewhere).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from hetero.errors import DeviceLost

#: cudaGetErrorString's text for the sticky errors (CUDA Runtime API, "Error Handling":
#: cudaErrorIllegalAddress, LaunchFailure, HardwareStackError, IllegalInstruction,
#: MisalignedAddress, InvalidAddressSpace, InvalidPc, ECCUncorrectable, Assert,
#: LaunchTimeout) and for a device that went away (DevicesUnavailable, NoDevice)
STICKY = ("an illegal memory access was encountered", "unspecified launch failure",
          "hardware stack error", "an illegal instruction was encountered",
          "misaligned address", "operation not supported on global/shared address space",
          "invalid program counter", "uncorrectable ecc error encountered",
          "device-side assert triggered", "the launch timed out and was terminated",
          "cuda-capable device(s) is/are busy or unavailable",
          "no cuda-capable device is detected")


def sticky(exc: BaseException) -> bool:
    """Whether ``exc`` (torch's or numba's) reports a sticky CUDA error."""
    text = str(exc).lower()
    return any(phrase in text for phrase in STICKY)


@contextlib.contextmanager
def lost_on_sticky(device: Any) -> Iterator[None]:
    """Raise ``DeviceLost`` (naming the device, chained to the CUDA error) for a sticky
    error inside the block; other errors pass unchanged (an out-of-memory is not a loss)."""
    try:
        yield
    except DeviceLost:
        raise
    except Exception as exc:
        if not sticky(exc):
            raise
        raise DeviceLost(f"{device.id}: CUDA reported a sticky error ({exc}); the device must "
                         "be reset before it computes again", device) from exc


__all__ = ["STICKY", "lost_on_sticky", "sticky"]

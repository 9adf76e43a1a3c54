"""The cross-device conformance suite: every op x every available backend x every dtype.

Each failure names the op, dtype, case, device and a one-line repro.
"""

from __future__ import annotations

import pytest
from hetero.kernels import OPS

import hetero
from hetero.testing.conformance import cases_for, compare

BACKENDS = ["cpu", "opencl:cpu:0", "cuda:0"]
#: numba's CUDA simulator runs one Python thread per work-item: float32 only there.
SIMULATOR_DTYPES = ("float32", "int64")


def device_or_skip(selector: str) -> hetero.Device:
    try:
        return hetero.device(selector)
    except hetero.DeviceNotFound as exc:
        pytest.skip(f"{selector} is not available here: {exc}")


@pytest.mark.parametrize("op_name", sorted(OPS))
@pytest.mark.parametrize("selector", BACKENDS)
def test_op_matches_numpy_reference(selector, op_name, registry):
    device = device_or_skip(selector)
    op = OPS[op_name]
    dtypes = [d for d in op.dtypes if not device.simulated or d in SIMULATOR_DTYPES]
    failures = []
    for dtype in dtypes:
        for case in cases_for(op, dtype):
            result = compare(op, case, dtype, device)
            if not result.ok:
                failures.append(f"{op_name} {dtype} [{case.label}] on {device.id}: "
                                f"{result.detail}\n  repro: {result.repro}")
    assert not failures, "\n".join(failures)

"""The conformance test: one op, one dtype, one device, every case, against NumPy.

Parametrised by ``hetero.testing.plugin`` (device x op x dtype). Each failure names the op,
dtype, case, arguments and device and gives a one-line repro.
"""

from __future__ import annotations

import hetero
from hetero.testing.conformance import cases_for, compare


def test_op_matches_numpy_reference(conformance_device, op_name, dtype, conformance_results):
    from hetero.kernels import OPS

    device = hetero.device(conformance_device)
    op = OPS[op_name]
    failures = []
    for case in cases_for(op, dtype):
        result = compare(op, case, dtype, device)
        conformance_results.append(result)
        if not result.ok:
            failures.append(f"{op_name} {dtype} [{case.label}] ({result.arguments}) on "
                            f"{device.id}: {result.detail}\n  repro: {result.repro}")
    assert not failures, "\n".join(failures)

"""ONNX's own backend test suite (onnx.backend.test) over hetero.onnx_backend on `cpu`, on
`tvm` (every node of a case compiled by TVM, so it counts what TVM's frontend runs), and on
`cuda` (every node a torch op or a portable kernel; here numba's CUDA simulator, so torch
computes on the host: it counts which ops the cuda backend runs and checks their outputs).

The node cases ship inside the onnx package, so pyproject pins onnx to 1.23.x. CI asserts a
floor of passing CPU cases per device that only ever moves up: raise it when hetero passes
more. Anchors with onnx 1.23.2: ONNX Runtime 1.32 passes 1697 of the 2033 CPU cases, ONNX's
reference evaluator 2005. The cpu floor counts ImageDecoder's nine cases, which need Pillow
(the `images` extra, part of `dev`).
"""

from __future__ import annotations

import collections
import io
import unittest

import onnx.backend.test
import pytest

import hetero.onnx_backend

FLOORS = {"cpu": 2008, "tvm": 800, "cuda": 974}
CPU_CASES = 2033


class NamedResult(unittest.TextTestResult):
    """A result that also keeps the names of the tests that ran (``ran``), passed or not."""

    def startTest(self, test: unittest.TestCase) -> None:
        super().startTest(test)
        self.ran = [*getattr(self, "ran", []), test.id().rsplit(".", 1)[-1]]


def run_backend_suite() -> unittest.TestResult:
    suite_cases = onnx.backend.test.BackendTest(hetero.onnx_backend, __name__).test_cases
    suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(case)
                               for case in suite_cases.values())
    return unittest.TextTestRunner(stream=io.StringIO(), verbosity=0,
                                   resultclass=NamedResult).run(suite)


@pytest.mark.filterwarnings("ignore")  # the reference ops warn on the suite's NaN/inf inputs
@pytest.mark.parametrize("device", ["cpu", pytest.param("tvm", marks=pytest.mark.slow), "cuda"])
def test_onnx_backend_suite_passes_at_least_the_floor(device, registry, monkeypatch):
    if device == "cuda":
        pytest.importorskip("torch")
    if device == "tvm":
        pytest.importorskip("tvm")
        from hetero.backends.tvm import compiler

        # each case's library is built once and never reused: exporting it to the compile
        # cache (linking a shared object, ~70 ms) would be a third of the case's time
        monkeypatch.setattr(compiler, "store", lambda library, path: None)
    monkeypatch.setenv("HETERO_DEVICE", device)
    floor = FLOORS[device]
    result = run_backend_suite()
    ran = result.testsRun - len(result.skipped)  # CUDA variants are skipped: no such device
    broken = result.failures + result.errors
    passed = ran - len(broken)
    reasons = collections.Counter(tb.strip().splitlines()[-1][:120] for _, tb in broken)
    summary = "\n".join(f"  {n} x {why}" for why, n in reasons.most_common(15))
    assert ran == CPU_CASES, f"the suite has {ran} CPU cases, expected {CPU_CASES}"
    assert passed >= floor, (f"{passed}/{ran} ONNX backend cases pass on {device}, under the "
                             f"floor {floor}; most common failures:\n{summary}")
    print(f"ONNX backend suite on {device}: {passed}/{ran} CPU cases pass (floor {floor})")

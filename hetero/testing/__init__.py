"""The cross-device conformance suite: every op of ``hetero.kernels`` on every backend."""

from hetero.testing.conformance import TOLERANCE, Result, check_case, run_suite, table

__all__ = ["TOLERANCE", "Result", "check_case", "run_suite", "table"]

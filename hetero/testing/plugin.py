"""The pytest plugin that runs the conformance suite over backends, ours or a third party's.

Installed with hetero (entry point ``pytest11``), it adds ``--hetero-backend NAME`` and
``--hetero-device SELECTOR`` (both repeatable), parametrises the suite's test over every chosen
device x op x dtype, and prints the results table after the run. A backend package checks
itself with::

    pytest --pyargs hetero.testing.suite --hetero-backend mynpu
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest

#: numba's CUDA simulator runs one Python thread per work-item: only these dtypes there.
SIMULATOR_DTYPES = ("float32", "int64")
RESULTS_PROPERTY = "hetero-conformance"  # the test report's property carrying its cases


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hetero", "hetero conformance suite")
    group.addoption("--hetero-backend", action="append", default=[], metavar="NAME",
                    help="run the conformance suite on every device of this backend "
                         "(repeatable); default: every device hetero finds")
    group.addoption("--hetero-device", action="append", default=[], metavar="SELECTOR",
                    help="run the conformance suite on this device (repeatable)")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(ConformanceTable(), "hetero-conformance-table")


def chosen_devices(config: pytest.Config) -> list[Any]:
    """The devices named by the options, or every device hetero lists here."""
    from hetero.errors import DeviceNotFound
    from hetero.testing.conformance import select_devices

    try:
        return select_devices(config.getoption("--hetero-device"),
                              config.getoption("--hetero-backend"))
    except DeviceNotFound as exc:
        raise pytest.UsageError(f"hetero conformance: {exc}") from exc


def cases(config: pytest.Config) -> list[Any]:
    """(device id, op, dtype) for every op and dtype each chosen device runs."""
    from hetero.kernels import OPS

    params = []
    for dev in chosen_devices(config):
        for name in sorted(OPS):
            for dtype in OPS[name].dtypes:
                if dev.simulated and dev.backend == "cuda" and dtype not in SIMULATOR_DTYPES:
                    continue
                params.append(pytest.param(dev.id, name, dtype, id=f"{dev.id}-{name}-{dtype}"))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if {"conformance_device", "op_name", "dtype"} <= set(metafunc.fixturenames):
        metafunc.parametrize(("conformance_device", "op_name", "dtype"),
                             cases(metafunc.config))


@pytest.fixture
def conformance_results(request: pytest.FixtureRequest) -> Recorder:
    """Where the suite records every case it ran. The cases ride on the test's report, so
    the table at the end has them also when pytest-xdist ran the test in a worker."""
    cases: list[dict] = []
    request.node.user_properties.append((RESULTS_PROPERTY, cases))
    return Recorder(cases)


class Recorder:
    """Keeps each Result as a plain dict: what xdist can send from a worker."""

    def __init__(self, cases: list[dict]):
        self.cases = cases

    def append(self, result: Any) -> None:
        self.cases.append(dataclasses.asdict(result))


class ConformanceTable:
    """Gathers the cases from each test's report (a worker's too, under pytest-xdist) and
    prints the table (op x device, passed/total per dtype) after the test summary."""

    def __init__(self) -> None:
        self.results: list[Any] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" or report.outcome == "rerun":  # pytest-rerunfailures
            return
        from hetero.testing.conformance import Result

        for name, cases in report.user_properties:
            if name == RESULTS_PROPERTY:
                self.results.extend(Result(**case) for case in cases)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results:
            return
        from rich.console import Console

        from hetero.testing.conformance import table

        text = io.StringIO()
        Console(file=text, width=120).print(table(self.results))
        terminalreporter.section("hetero conformance")
        terminalreporter.write(text.getvalue())
        failed = sum(not r.ok for r in self.results)
        terminalreporter.write_line(f"conformance: {len(self.results) - failed}/"
                                    f"{len(self.results)} cases passed")

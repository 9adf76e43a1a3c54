"""The pytest plugin that runs the conformance suite over backends, ours or a third party's.

Installed with hetero (entry point ``pytest11``), it adds ``--hetero-backend NAME`` and
``--hetero-device SELECTOR`` (both repeatable), parametrises the suite's test over every chosen
device x op x dtype, and prints the results table after the run. A backend package checks
itself with::

    pytest --pyargs hetero.testing.suite --hetero-backend mynpu
"""

from __future__ import annotations

import io
from typing import Any

import pytest

#: numba's CUDA simulator runs one Python thread per work-item: only these dtypes there.
SIMULATOR_DTYPES = ("float32", "int64")
RESULTS_KEY = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hetero", "hetero conformance suite")
    group.addoption("--hetero-backend", action="append", default=[], metavar="NAME",
                    help="run the conformance suite on every device of this backend "
                         "(repeatable); default: every device hetero finds")
    group.addoption("--hetero-device", action="append", default=[], metavar="SELECTOR",
                    help="run the conformance suite on this device (repeatable)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RESULTS_KEY] = []


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
def conformance_results(request: pytest.FixtureRequest) -> list:
    """Where the suite records every case it ran, for the table at the end."""
    return request.config.stash[RESULTS_KEY]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The conformance table (op x device, passed/total per dtype) after the test summary."""
    results = config.stash.get(RESULTS_KEY, [])
    if not results:
        return
    from rich.console import Console

    from hetero.testing.conformance import table

    text = io.StringIO()
    Console(file=text, width=120).print(table(results))
    terminalreporter.section("hetero conformance")
    terminalreporter.write(text.getvalue())
    failed = sum(not r.ok for r in results)
    terminalreporter.write_line(f"conformance: {len(results) - failed}/{len(results)} "
                                "cases passed")

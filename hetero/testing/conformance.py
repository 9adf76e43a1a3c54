"""Run an op's portable kernel on a device and compare with its NumPy reference.

Every failure names the op, the case, the dtype, the device and a one-line repro that reruns
exactly that case. ``run_suite`` walks ops x dtypes x cases for one device and ``table``
prints the results with rich (also what ``hetero conformance`` shows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetero.array import asarray
from hetero.device import Device
from hetero.discovery import default_registry
from hetero.errors import DeviceNotFound, UnsupportedOp

#: (rtol, atol) per dtype. float16 computes in float32 and rounds once on store.
TOLERANCE = {"float16": (5e-3, 5e-3), "float32": (1e-4, 1e-5), "float64": (1e-9, 1e-12),
             "int32": (0, 0), "int64": (0, 0), "bool": (0, 0)}


@dataclass
class Result:
    op: str
    dtype: str
    case: str
    device: str
    ok: bool
    detail: str = ""
    simulated: bool = False  # the device is simulated (numba's CUDA simulator, say)
    arguments: str = ""  # input shapes and dtypes, and the attributes

    @property
    def repro(self) -> str:
        env = "NUMBA_ENABLE_CUDASIM=1 " if self.simulated and self.device.startswith("cuda") \
            else ""
        return (f"{env}python -c \"from hetero.testing import check_case; "
                f"check_case({self.op!r}, {self.dtype!r}, {self.case!r}, {self.device!r})\"")


def describe(case) -> str:
    """A case's arguments in a line: ``float32[3, 5], float32[5] attrs axis=1``."""
    shapes = ", ".join(f"{x.dtype}[{', '.join(map(str, x.shape))}]" for x in case.inputs)
    attrs = " ".join(f"{k}={v}" for k, v in case.attrs.items())
    return shapes + (f" attrs {attrs}" if attrs else "")


def wide(x: np.ndarray) -> np.ndarray:
    """Float inputs in float64, so the reference is the exact answer to compare against."""
    return x.astype(np.float64) if x.dtype.kind == "f" else x


def compare(op, case, dtype: str, device: Device) -> Result:
    def result(ok: bool, detail: str = "") -> Result:
        return Result(op.name, dtype, case.label, device.id, ok, detail, device.simulated,
                      describe(case))

    try:
        inputs = [asarray(x, device) for x in case.inputs]
        got = [y.numpy() for y in op(device, inputs, dict(case.attrs))]
        want = op.reference([wide(x) for x in case.inputs], dict(case.attrs))
    except Exception as exc:  # a crash is a failure with its reason, not an abort
        return result(False, f"{type(exc).__name__}: {exc}")
    if len(got) != len(want):
        return result(False, f"{len(got)} outputs, expected {len(want)}")
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        w = np.asarray(w)
        if g.shape != w.shape:
            return result(False, f"output {k}: shape {g.shape}, expected {w.shape}")
        rtol, atol = TOLERANCE.get(g.dtype.name, TOLERANCE[dtype])
        expect = w.astype(g.dtype) if g.dtype.kind != "f" else w.astype(np.float64)
        if not np.allclose(g.astype(np.float64) if g.dtype.kind == "f" else g, expect,
                           rtol=rtol, atol=atol, equal_nan=True):
            diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
            worst = np.unravel_index(int(np.nanargmax(diff)), diff.shape) if diff.size else ()
            return result(False, f"output {k}: max |error| {np.nanmax(diff):.3g} at {worst} "
                                 f"(got {g[worst]}, expected {w[worst]}; rtol {rtol}, "
                                 f"atol {atol})")
    return result(True)


def select_devices(selectors: Sequence[str], backends: Sequence[str], simulated: bool = True
                   ) -> list[Device]:
    """The devices named, else those of the backends named, else every device that runs
    portable kernels (simulated ones only if ``simulated``)."""
    registry = default_registry()
    if selectors:
        return [registry.device(s) for s in selectors]
    devices = registry.devices()
    missing = set(backends) - {d.backend for d in devices}
    if missing:
        raise DeviceNotFound(f"no device of backend {', '.join(sorted(missing))} here; "
                             "`hetero devices` lists every backend and why one is unavailable")
    return [d for d in devices if (d.backend in backends if backends else runs_kernels(d))
            and (simulated or not d.simulated)]


def runs_kernels(device: Device) -> bool:
    """Whether the device compiles portable kernels (a tvm NPU target runs subgraphs only)."""
    return device.impl.runs_kernels(device)


def cases_for(op, dtype: str, seed: int = 0):
    return op.cases(dtype, np.random.default_rng(seed))


def check_case(op_name: str, dtype: str, case_label: str, device: str) -> Result:
    """Rerun one case (the repro line of a failure) and print what happened."""
    from hetero.kernels import get

    op = get(op_name)
    case = next(c for c in cases_for(op, dtype) if c.label == case_label)
    result = compare(op, case, dtype, default_registry().device(device))
    print(("PASS" if result.ok else "FAIL"), op_name, dtype, case_label, device, result.detail)
    return result


def run_suite(device: Device, ops: Sequence[str] | None = None,
              dtypes: Sequence[str] | None = None,
              progress: Callable[[str, str], None] | None = None) -> list[Result]:
    """Every case of every op (or those named) in every dtype the op supports (or those
    named); ``progress(op, dtype)`` is called before each op x dtype starts."""
    results = []
    for op, dtype in suite_pairs(ops, dtypes):
        if progress:
            progress(op.name, dtype)
        for case in cases_for(op, dtype):
            results.append(compare(op, case, dtype, device))
    return results


def suite_pairs(ops: Sequence[str] | None = None,
                dtypes: Sequence[str] | None = None) -> list[tuple[Any, str]]:
    """The (op, dtype) pairs a run covers: what a progress bar counts."""
    from hetero.kernels import OPS

    unknown = sorted(set(ops or ()) - set(OPS))
    if unknown:
        raise UnsupportedOp(f"no portable kernel for {', '.join(unknown)}; known ops: "
                            f"{', '.join(sorted(OPS))}")
    return [(OPS[name], dtype) for name in ops or sorted(OPS)
            for dtype in OPS[name].dtypes if not dtypes or dtype in dtypes]


def table(results: list[Result]):
    """A rich table: one row per op and device, a column per dtype (passed/total)."""
    from rich.table import Table
    from rich.text import Text

    grid: dict[tuple[str, str], dict[str, list[bool]]] = {}
    dtypes: list[str] = []
    for r in results:
        where = f"{r.device} (simulated)" if r.simulated else r.device
        grid.setdefault((r.op, where), {}).setdefault(r.dtype, []).append(r.ok)
        if r.dtype not in dtypes:
            dtypes.append(r.dtype)
    out = Table(title="hetero conformance (portable kernels vs NumPy reference)")
    out.add_column("op")
    out.add_column("device")
    for d in dtypes:
        out.add_column(d, justify="center")
    for (op, device), by_dtype in sorted(grid.items()):
        cells = []
        for d in dtypes:
            oks = by_dtype.get(d)
            if oks is None:
                cells.append(Text("-", style="dim"))
            else:
                cells.append(Text(f"{sum(oks)}/{len(oks)}",
                                  style="green" if all(oks) else "bold red"))
        out.add_row(Text(op), Text(device), *cells)
    return out

"""How fast is this model on my devices, against ONNX Runtime: ``hetero bench``'s library.

Each configuration (every device alone, the planned placement over all of them, ONNX Runtime
on the CPU) is compiled, warmed up and then timed run by run, round-robin, so drifting load
hits every configuration alike. Every time is measured wall clock (``time.perf_counter``);
a simulated device's time is the host computing it, shown beside the plan's modeled latency.

    from hetero.bench import bench
    result = bench("model.onnx", devices=[hetero.device("cpu")], repeats=20)
    print(result.to_json()); result.plot("bench.png")
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import hetero
from hetero import progress
from hetero.device import HOST_CPU, Device
from hetero.discovery import real_devices
from hetero.errors import ArgumentError, HeteroError
from hetero.plan.pipeline import chosen_devices
from hetero.plan.view import figure as new_figure
from hetero.plan.view import provenance
from hetero.runtime import synthetic_feeds

__all__ = ["BenchResult", "Row", "bench", "ort_session"]

#: one configuration's run, timed by ``measure``
Runner = Callable[[], Any]

CLOCK = "measured: wall clock (time.perf_counter) per run"
SIMULATED = "host time computing a simulated device"
NO_ORT = "not installed: pip install onnxruntime"
SETTLE_S = 30.0  # at most this long running a plan until its runs are steady (plan.settled)


@dataclass
class Row:
    """One configuration's measurements; ``error`` says why it has none."""

    label: str
    kind: str  # "device" (one device alone), "planned" or "onnxruntime"
    devices: list[str] = field(default_factory=list)
    simulated: list[str] = field(default_factory=list)  # simulated devices it computes on
    samples_ms: list[float] = field(default_factory=list)  # measured, in run order
    compile_s: float | None = None  # measured: hetero.compile (ORT: creating the session)
    first_run_ms: float | None = None  # measured: warm-up and the first, discarded run
    max_abs_error: float | None = None  # of its outputs against ONNX Runtime's
    estimate_ms: float | None = None  # the plan's latency under the cost model
    estimate_source: str = ""
    placement: dict[str, int] = field(default_factory=dict)  # nodes per device
    error: str = ""

    def stats(self) -> dict[str, float]:
        """Median and spread (min, p10, p25, p75, p90, max) of the samples, in ms."""
        if not self.samples_ms:
            return {}
        q = np.percentile(self.samples_ms, [0, 10, 25, 50, 75, 90, 100])
        return dict(zip(("min_ms", "p10_ms", "p25_ms", "median_ms", "p75_ms", "p90_ms",
                         "max_ms"), map(float, q), strict=True))

    @property
    def median_ms(self) -> float | None:
        return self.stats().get("median_ms")


@dataclass
class BenchResult:
    """Every configuration's row, the machine they ran on and how they were timed."""

    model: str
    repeats: int
    rows: list[Row]
    machine: dict[str, Any]

    @property
    def ort(self) -> Row | None:
        """ONNX Runtime's row, when it was measured."""
        return next((r for r in self.rows if r.kind == "onnxruntime" and r.samples_ms), None)

    def ratio(self, row: Row) -> float | None:
        """``row``'s median over ONNX Runtime's (below 1: faster than ORT)."""
        if self.ort is None or row.median_ms is None:
            return None
        return row.median_ms / self.ort.median_ms

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "repeats": self.repeats, "clock": CLOCK,
                "order": "interleaved round-robin across configurations, after each one's "
                         "warm-up (Plan.warmup where it exists, the first run and the runs "
                         "that record the history)", "machine": self.machine,
                "configurations": [row_dict(self, r) for r in self.rows]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self, width: int | None = None) -> Any:
        """A rich Table: one line per configuration, fitting ``width`` columns if given."""
        return bench_table(self, width)

    def plot(self, path: str | Path) -> Path:
        """A box per configuration (whiskers at min and max), ONNX Runtime included."""
        return plot_result(self, path)


def row_dict(result: BenchResult, row: Row) -> dict[str, Any]:
    """A row as JSON: its figures, each with where it came from."""
    data = {k: v for k, v in vars(row).items() if k not in ("estimate_ms", "estimate_source")}
    data.update(source=CLOCK + (f" ({SIMULATED})" if row.simulated else ""),
                **row.stats(), ratio_to_onnxruntime=result.ratio(row))
    if row.max_abs_error is not None and not np.isfinite(row.max_abs_error):
        data["max_abs_error"] = difference(row.max_abs_error) + " from ONNX Runtime's"
    if row.estimate_ms is not None:
        data["estimate"] = {"latency_ms": row.estimate_ms, "source": row.estimate_source}
    return data


# -- measuring -----------------------------------------------------------------------------------
def bench(model: Any, devices: Sequence[Device | str] | None = None, repeats: int = 20,
          feeds: dict[str, Any] | None = None, seed: int = 0, onnxruntime: bool = True
          ) -> BenchResult:
    """Time ``model`` on each device alone, on the planned placement over all of them and on
    ONNX Runtime's CPU provider: ``repeats`` timed runs each, interleaved, after a warm-up.

    ``devices``: Devices or selectors (default: as ``hetero run``, every real device, one
    per piece of hardware); ``feeds``: {input name: array} (default: seeded random data of
    each input's declared shape); ``onnxruntime=False`` leaves ONNX Runtime out."""
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ArgumentError(f"repeats={repeats!r}: give the number of timed runs per "
                            "configuration, a whole number of at least 1 (e.g. 20)")
    loaded = hetero.load(model)
    chosen = selected(devices)
    if feeds is None:
        feeds = synthetic_feeds(loaded.graph(), seed)
    machine = machine_info(chosen, repeats)
    ort_row, ort_run, reference = prepare_ort(loaded, feeds) if onnxruntime else \
        (Row("onnxruntime", "onnxruntime", error="left out (onnxruntime=False)"), None, None)
    configurations = [[d] for d in chosen] + ([chosen] if len(chosen) > 1 else [])
    runners = [prepare_plan(loaded, c, feeds, reference) for c in configurations]
    runners.append((ort_row, ort_run))
    measure(runners, repeats)
    machine.update(load_average_after=list(os.getloadavg()), numba_threading=threading_layer(),
                   OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY"))
    return BenchResult(loaded.name, repeats, [row for row, _ in runners], machine)


def selected(devices: Sequence[Device | str] | None) -> list[Device]:
    """The devices to time: those given (Devices or selectors), else those of hetero run."""
    if devices is None:
        return real_devices()
    chosen = chosen_devices(devices)
    if not chosen:
        raise ArgumentError("devices=[]: give at least one device or selector, e.g. "
                            "['cpu', 'sim:a100'] (or None for every real device)")
    return chosen


def prepare_plan(model: hetero.Model, devices: list[Device], feeds: dict[str, Any],
                 reference: dict[str, Any] | None) -> tuple[Row, Runner | None]:
    """Compile for ``devices``, warm up and check against ORT; a configuration that cannot
    run the model keeps its row, with the reason, and no runner."""
    planned = len(devices) > 1
    label = "planned" if planned else devices[0].id
    row = Row(label, "planned" if planned else "device", [d.id for d in devices])
    with progress.step(f"bench: compiling and warming up {label}"):
        try:
            started = time.perf_counter()
            plan = hetero.compile(model, devices=devices)
            row.compile_s = time.perf_counter() - started
            outputs, row.first_run_ms = warm_up(plan, feeds)
        except HeteroError as exc:
            row.error = f"cannot run: {type(exc).__name__}: {exc}"
            return row, None
    used = plan.used_devices()
    row.placement = {d: list(plan.placement.values()).count(d) for d in used}
    row.simulated = [d for d in used if plan.devices[d].simulated]
    row.estimate_ms, row.estimate_source = plan.estimate.latency_ms, provenance(plan.estimate)
    row.max_abs_error = max_abs_error(outputs, reference)
    return row, lambda: plan.run(feeds)


def warm_up(plan: hetero.Plan, feeds: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """The first run's outputs and ms (``Plan.warmup`` included), then the runs until the
    plan is settled (those recording node times or busy power time each node apart)."""
    started = time.perf_counter()
    plan.warmup(feeds)
    outputs = plan.run(feeds)
    first_ms = (time.perf_counter() - started) * 1e3
    until = time.monotonic() + SETTLE_S
    while not plan.settled and time.monotonic() < until:
        plan.run(feeds)
    return outputs, first_ms


def prepare_ort(model: hetero.Model, feeds: dict[str, Any]
                ) -> tuple[Row, Runner | None, dict[str, Any] | None]:
    """ONNX Runtime's session and first run, and its outputs: the reference the others are
    checked against (None without onnxruntime or when it cannot run the model)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return Row("onnxruntime", "onnxruntime", error=NO_ORT), None, None
    threads = intra_op_threads()
    row = Row(f"onnxruntime {ort.__version__}", "onnxruntime")
    with progress.step("bench: creating the ONNX Runtime session and its first run"):
        try:
            started = time.perf_counter()
            session = ort_session(model.proto, threads, spinning=False)
            row.compile_s = time.perf_counter() - started
            started = time.perf_counter()
            outputs = session.run(None, feeds)
            row.first_run_ms = (time.perf_counter() - started) * 1e3
        except Exception as exc:  # noqa: BLE001 - ORT's own errors (Fail, InvalidGraph, ...)
            row.error = f"cannot run: {type(exc).__name__}: {exc}"
            return row, None, None
    reference = {o.name: v for o, v in zip(session.get_outputs(), outputs, strict=True)}
    return row, lambda: session.run(None, feeds), reference


def ort_session(model: Any, threads: int, spinning: bool = True) -> Any:
    """An ONNX Runtime CPU session with ``threads`` intra-op threads (as many as hetero's
    CPU kernels use) and one inter-op thread. ``spinning=False`` stops its pool threads
    spinning after a run, where they would take the cores from whatever runs next."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the light models' unused initializers warn otherwise
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    data = model.SerializeToString() if hasattr(model, "SerializeToString") else model
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def intra_op_threads() -> int:
    """The threads hetero's CPU kernels run on (numba's pool): ORT gets as many."""
    import numba

    return numba.get_num_threads()


def threading_layer() -> str | None:
    """numba's threading layer ("omp", "tbb", "workqueue"), once a parallel kernel has run:
    OpenMP's workers spin after a kernel, taking a core from whatever runs next."""
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel ran
        return None


def max_abs_error(outputs: dict[str, Any], reference: dict[str, Any] | None) -> float | None:
    """The largest absolute difference of any output from ONNX Runtime's (tensors only)."""
    if reference is None:
        return None
    worst = 0.0
    for name, want in reference.items():
        got = outputs.get(name)
        if not isinstance(want, np.ndarray) or not hasattr(got, "shape"):
            continue
        if np.shape(got) != want.shape:
            return float("inf")  # shown as "shapes differ"
        if want.size:
            got64, want64 = np.asarray(got, np.float64), want.astype(np.float64)
            if (np.isnan(got64) != np.isnan(want64)).any():
                return float("nan")  # NaN on one side only: shown as "NaN differs"
            same = np.isnan(want64) | (got64 == want64)  # NaN = NaN, inf = inf agree
            with np.errstate(invalid="ignore"):  # inf - inf where both agree: masked
                diff = np.where(same, 0.0, np.abs(got64 - want64))
            worst = max(worst, float(diff.max()))
    return worst


def measure(runners: list[tuple[Row, Runner | None]], repeats: int) -> None:
    """``repeats`` timed runs of each runnable configuration, round-robin; a run that fails
    ends that configuration's measurement, with the reason in its row."""
    live = [(row, run) for row, run in runners if run is not None]
    with progress.step(f"bench: {len(live)} configurations x {repeats} runs, interleaved",
                       total=len(live) * repeats) as advance:
        for _ in range(repeats):
            for row, run in live:
                ms = timed_ms(row, run) if not row.error else None
                if ms is not None:
                    row.samples_ms.append(ms)
                advance()


def timed_ms(row: Row, run: Runner) -> float | None:
    """One run's measured time; None, with the reason in ``row.error``, if it failed."""
    started = time.perf_counter()
    try:
        run()
    except HeteroError as exc:
        row.error = f"failed while measured: {type(exc).__name__}: {exc}"
        return None
    return (time.perf_counter() - started) * 1e3


def machine_info(devices: list[Device], repeats: int) -> dict[str, Any]:
    """What the figures depend on: the CPU, its load, the versions, the date."""
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    cpu = next((d for d in hetero.devices() if d.info.get("silicon") == HOST_CPU
                and not d.simulated), None)
    return {"cpu": cpu.name if cpu else platform.processor() or platform.machine(),
            "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(), "threads": intra_op_threads(),
            "load_average_before": list(os.getloadavg()), "python": platform.python_version(),
            "hetero": hetero.__version__, "onnxruntime": ort_version,
            "numpy": np.__version__, "platform": platform.platform(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "repeats": repeats,
            "devices": [{"id": d.id, "name": d.name, "simulated": d.simulated}
                        for d in devices]}


# -- showing -------------------------------------------------------------------------------------
COLUMNS = ("configuration", "median", "min", "p10-p90", "max", "x ORT", "compile s",
           "first run", "max |diff|", "modeled")


#: what a narrow terminal leaves out first (the JSON always has everything)
DROPPED_FIRST = ("p10-p90", "compile s", "min", "max", "first run", "max |diff|", "modeled")


def bench_table(result: BenchResult, width: int | None = None) -> Any:
    """Measured figures in the columns; what a row needs said (why it has none, a simulated
    device, the placement) in the notes under the table. Within ``width`` columns the ids
    stay whole and the least needed columns are left out (said in the notes)."""
    from rich.table import Table
    from rich.text import Text

    rows = [cells(result, row) for row in result.rows]
    shown = fitting(rows, width)
    left_out = [c for c in COLUMNS if c not in shown]
    caption = notes(result) + ([f"left out at this width: {', '.join(left_out)} (--json has "
                                "every figure)"] if left_out else [])
    table = Table(title=f"hetero bench {result.model}: measured ms per run", header_style="bold",
                  caption="\n".join(caption), caption_justify="left")
    for column in shown:
        first = column == "configuration"
        table.add_column(column, justify="left" if first else "right", no_wrap=True)
    for row, values in zip(result.rows, rows, strict=True):
        table.add_row(*(Text(values[COLUMNS.index(c)]) for c in shown),
                      style="red" if row.error else None)
    return table


def fitting(rows: list[list[str]], width: int | None) -> list[str]:
    """The columns that fit ``width`` on one line each, dropping ``DROPPED_FIRST`` in order."""
    def natural(column: str) -> int:
        k = COLUMNS.index(column)
        return max([len(column)] + [len(line) for row in rows for line in row[k].splitlines()])

    shown = list(COLUMNS)
    for column in DROPPED_FIRST:
        if width is None or sum(natural(c) + 3 for c in shown) + 1 <= width:
            break
        shown.remove(column)
    return shown


def cells(result: BenchResult, row: Row) -> list[str]:
    s, ratio = row.stats(), result.ratio(row)
    label = row.label + ("\n(simulated)" if row.simulated else "")
    if not s:
        return [f"{label}\n({row.error.split(':')[0]})", *"-" * (len(COLUMNS) - 1)]
    return [label, ms(s["median_ms"]), ms(s["min_ms"]), f"{ms(s['p10_ms'])}-{ms(s['p90_ms'])}",
            ms(s["max_ms"]), f"{ratio:.2f}" if ratio is not None else "-",
            f"{row.compile_s:.3g}" if row.compile_s is not None else "-", ms(row.first_run_ms),
            difference(row.max_abs_error),
            ms(row.estimate_ms) if row.simulated else "-"]


def difference(error: float | None) -> str:
    if error is None:
        return "-"
    if np.isnan(error):
        return "NaN differs"  # NaN in one output where the other has a number
    return "shapes differ" if error == float("inf") else f"{error:.1e}"


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def notes(result: BenchResult) -> list[str]:
    """The lines under the table: how it was measured, then what each row needs said."""
    lines = [f"Measured: wall clock (time.perf_counter), ms per run, {result.repeats} runs of "
             "each configuration, interleaved round-robin after its warm-up. x ORT: median "
             "over ONNX Runtime's. compile s: hetero.compile (ORT: the session). first run: "
             "warm-up and first run, ms. max |diff|: largest output difference from ONNX "
             "Runtime's." + ("" if result.ort else " (No ONNX Runtime to compare with.)")]
    for row in result.rows:
        said = [row.error] if row.error else []
        if row.kind == "planned" and row.placement:
            said.append("nodes " + ", ".join(f"{n} on {d}" for d, n in row.placement.items()))
        if row.kind == "onnxruntime" and not row.error:
            said.append(f"CPUExecutionProvider, {result.machine['threads']} intra-op threads "
                        "(as hetero's CPU kernels), pool threads not spinning between runs")
        if row.simulated and row.samples_ms:
            said.append(f"its times are the {SIMULATED} ({', '.join(row.simulated)}); "
                        f"modeled: the plan's latency in ms under the cost model "
                        f"({row.estimate_source})")
        if said:
            lines.append(f"{row.label}: " + "; ".join(said))
    return lines


def plot_result(result: BenchResult, path: str | Path) -> Path:
    rows = [r for r in result.rows if r.samples_ms]
    figure = new_figure("BenchResult.plot", figsize=(10, 1.2 + 0.6 * max(len(rows), 1)))
    axes = figure.subplots()
    if rows:
        draw_boxes(axes, rows)
    axes.invert_yaxis()
    axes.set_xlabel("ms per run (measured, wall clock); box p25-p75, whiskers min-max")
    axes.set_title(f"hetero bench {Path(result.model).name}: {result.repeats} runs each")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return Path(path)


def draw_boxes(axes: Any, rows: list[Row]) -> None:
    """One box per row; a red x at a simulated row's modeled latency."""
    axes.boxplot([r.samples_ms for r in rows], vert=False, whis=(0, 100))
    axes.set_yticks(range(1, len(rows) + 1),
                    [r.label + (" (sim: host time)" if r.simulated else "") for r in rows])
    modeled = [(r.estimate_ms, i) for i, r in enumerate(rows, 1) if r.simulated]
    if modeled:
        axes.plot(*zip(*modeled, strict=True), "x", color="tab:red",
                  label="modeled latency on the simulated device")
        axes.legend(loc="best")
    shown = [t for r in rows for t in r.samples_ms] + [t for t, _ in modeled]
    if max(shown) > 20 * min(shown) > 0:
        axes.set_xscale("log")  # a modeled radio link beside a µs host run

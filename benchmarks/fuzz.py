"""A long fuzzing run of hetero's model path (issue 19): ``hetero.testing.fuzz`` cases through
load → compile → run, in worker subprocesses so a hang or a crash is recorded and skipped,
not the end of the run. ``--atheris`` instead drives ``hetero.load`` + ``hetero.compile``
from raw bytes under atheris's coverage-guided mutator (libFuzzer), seeded with the seed
models.

    python benchmarks/fuzz.py --cases 20000 --seed 1 [--sim jetson-xavier-nx-gpu]
    python benchmarks/fuzz.py --atheris --seconds 120
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]


def worker(args: argparse.Namespace, start: int) -> tuple[subprocess.Popen, queue.Queue]:
    """A fuzz subprocess from case ``start`` on, its stdout lines on a queue (None at EOF)."""
    command = [sys.executable, "-W", "ignore", "-m", "hetero.testing.fuzz", "--seed",
               str(args.seed), "--start", str(start), "--cases", str(args.cases - start),
               "--timeout-ms", str(args.timeout_ms), *(f"--sim={p}" for p in args.sim)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, cwd=ROOT)
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def run_cases(args: argparse.Namespace, console: Console) -> dict:
    """Every case once; a case silent for ``--case-timeout-s`` is hung, a worker that dies
    mid-case crashed it; both are recorded and the run goes on from the next case."""
    counts: Counter = Counter()
    found: list[dict] = []
    index, began = 0, time.perf_counter()
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("fuzzing", total=args.cases)
        while index < args.cases:
            proc, lines = worker(args, index)
            current = index
            while True:
                try:
                    line = lines.get(timeout=args.case_timeout_s)
                except queue.Empty:
                    proc.kill()
                    counts["hung"] += 1
                    found.append({"index": current, "kind": "hung"})
                    break
                if line is None:  # the worker ended: done, or crashed inside ``current``
                    if proc.wait() != 0 and current < args.cases:
                        counts["crashed"] += 1
                        found.append({"index": current, "kind": "crashed",
                                      "code": proc.returncode})
                    break
                row = json.loads(line)
                if "start" in row:
                    current = row["start"]
                    continue
                counts[row["kind"]] += 1
                counts[f"{row['kind']} at {row['stage']}"] += 1
                if row["kind"] == "foreign":
                    found.append(row)
                progress.advance(task)
            index = current + 1
            progress.update(task, completed=index)
    seconds = time.perf_counter() - began
    return {"cases": args.cases, "seconds": seconds, "ms_per_case": seconds * 1e3 / args.cases,
            "counts": dict(counts), "found": found}


def report(summary: dict, console: Console) -> None:
    table = Table(title=f"{summary['cases']:,} cases in {summary['seconds']:.0f} s "
                        f"({summary['ms_per_case']:.1f} ms a case)")
    table.add_column("outcome")
    table.add_column("cases", justify="right")
    for kind, n in sorted(summary["counts"].items()):
        table.add_row(kind, f"{n:,}")
    console.print(table)
    for row in summary["found"][:20]:
        console.print(f"[red]{row['kind']}[/red] {row.get('repro', row['index'])}: "
                      f"{row.get('error', '')[:200]}")


# -- atheris -------------------------------------------------------------------------------------
def run_atheris(args: argparse.Namespace) -> None:
    """libFuzzer over raw model bytes; anything but a HeteroError out of load or compile is a
    finding (atheris stops and writes the input as crash-*)."""
    import atheris

    with atheris.instrument_imports(include=["hetero"]):
        import hetero
    from hetero.testing.fuzz import seed_models

    corpus = Path(tempfile.mkdtemp(prefix="hetero-atheris-"))
    for name, model in seed_models().items():
        (corpus / f"{name}.onnx").write_bytes(model.SerializeToString())
    cpu = hetero.device("cpu")

    def one(data: bytes) -> None:
        with contextlib.suppress(hetero.HeteroError):
            hetero.compile(hetero.load(data), devices=[cpu])

    atheris.Setup([sys.argv[0], str(corpus), f"-max_total_time={args.seconds}",
                   "-rss_limit_mb=4096", f"-timeout={args.case_timeout_s}"], one)
    atheris.Fuzz()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sim", action="append", default=[], help="also a simulated device")
    parser.add_argument("--timeout-ms", type=float, default=5000, help="plan.run's deadline")
    parser.add_argument("--case-timeout-s", type=int, default=60,
                        help="a case silent this long is recorded as hung")
    parser.add_argument("--json", type=Path, help="write the summary here")
    parser.add_argument("--atheris", action="store_true")
    parser.add_argument("--seconds", type=int, default=120, help="atheris: how long")
    args = parser.parse_args()
    os.environ.setdefault("HETERO_DISABLE_PLUGIN_AUTOLOAD", "1")
    if args.atheris:
        run_atheris(args)
        return
    console = Console()
    summary = run_cases(args, console)
    report(summary, console)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

"""``hetero conformance``: every portable kernel against its NumPy reference."""

from __future__ import annotations

import argparse
import json


def cmd_conformance(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from hetero.testing.conformance import run_suite, select_devices, table

    console = Console(stderr=True)
    results = []
    # Simulated devices compute on the host (numba's CUDA simulator takes minutes): run only
    # when named.
    for dev in select_devices(args.device, args.backend, simulated=bool(args.backend)):
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"{dev.id}", total=None)
            results += run_suite(dev, args.op, args.dtype, lambda op, dtype, d=dev, t=task:
                                 bar.update(t, description=f"{d.id}: {op} {dtype}"))
    failed = [r for r in results if not r.ok]
    if args.json:
        print(json.dumps({"results": [{**vars(r), "repro": r.repro} for r in results]},
                         indent=2))
    else:
        Console(width=max(120, Console().width)).print(table(results))
        for r in failed:
            print(f"FAIL {r.op} {r.dtype} [{r.case}] ({r.arguments}) on {r.device}: "
                  f"{r.detail}\n"
                  f"  repro: {r.repro}")
        print(f"{len(results) - len(failed)}/{len(results)} cases passed")
    return 1 if failed or not results else 0

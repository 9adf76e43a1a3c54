"""``hetero conformance``: every portable kernel against its NumPy reference."""

from __future__ import annotations

import argparse
import json

from hetero import progress
from hetero.cli.show import console


def cmd_conformance(args: argparse.Namespace) -> int:
    from hetero.testing.conformance import run_suite, select_devices, suite_pairs, table

    # Simulated devices compute on the host (numba's CUDA simulator takes minutes): run only
    # when named.
    devices = select_devices(args.device, args.backend, simulated=bool(args.backend))
    pairs = len(suite_pairs(args.op, args.dtype))
    results = []
    with progress.step(f"conformance on {len(devices)} device(s)",
                       total=pairs * len(devices)) as advance:
        started = [0]  # (op, dtype) pairs begun: each counts once the next begins or all end

        def begin(op: str, dtype: str, device: str) -> None:
            advance(1 if started[0] else 0, f"{device}: {op} {dtype}")
            started[0] += 1

        for dev in devices:
            results += run_suite(dev, args.op, args.dtype,
                                 lambda op, dtype, d=dev.id: begin(op, dtype, d))
        advance(1 if started[0] else 0)
    failed = [r for r in results if not r.ok]
    if args.json:
        print(json.dumps({"results": [{**vars(r), "repro": r.repro} for r in results]},
                         indent=2))
        return 1 if failed or not results else 0
    console().print(table(results))
    for r in failed:
        print(f"FAIL {r.op} {r.dtype} [{r.case}] ({r.arguments}) on {r.device}: "
              f"{r.detail}\n"
              f"  repro: {r.repro}")
    print(f"{len(results) - len(failed)}/{len(results)} cases passed")
    return 1 if failed or not results else 0

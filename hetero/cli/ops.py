"""``hetero ops``: each ONNX op (or each node of a model) with its tier on each device."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import hetero
from hetero.cli.show import print_table
from hetero.device import Device


def op_support(devices: Sequence[Device]) -> list[dict[str, Any]]:
    """Every ONNX op (latest opset of each domain) with its tier on each device."""
    import onnx
    from onnx import helper

    from hetero.graph.ir import Graph, node_of

    rows = []
    for schema in sorted(onnx.defs.get_all_schemas(), key=lambda s: (s.domain, s.name)):
        if schema.deprecated or schema.domain not in ("", "ai.onnx.ml"):
            continue
        proto = helper.make_node(schema.name, [f"i{k}" for k in range(schema.min_input)],
                                 [f"o{k}" for k in range(max(schema.min_output, 1))],
                                 domain=schema.domain)
        graph = Graph([], [], [], {}, {}, {schema.domain: schema.since_version}, [])
        node = node_of(proto, 0)
        rows.append({"op": schema.name, "domain": schema.domain or "ai.onnx",
                     "tiers": {d.id: d.impl.node_tier(d, node, graph) for d in devices}})
    return rows


def cmd_ops(args: argparse.Namespace) -> int:
    devices = [hetero.device(s) for s in args.device] or hetero.devices()
    if args.model:
        return model_ops(args, devices)
    rows = op_support(devices)
    if args.json:
        print(json.dumps({"ops": rows}, indent=2))
        return 0
    print_table("hetero ops: how each device runs each ONNX op (native, portable, reference "
                "or -); backends that decide from a node's shapes and types (tvm) answer "
                "per node: `hetero ops MODEL`",
                ["op", "domain", *(d.id for d in devices)],
                [[r["op"], r["domain"], *(r["tiers"][d.id] or "-" for d in devices)]
                 for r in rows])
    return 0


def model_ops(args: argparse.Namespace, devices: Sequence[Device]) -> int:
    """Each node of the model as compile sees it (after the passes, unless --passes none),
    with its tier on each device and why not where it cannot run: the capability table
    ``hetero.compile`` places from."""
    from hetero.plan.capability import origin
    from hetero.plan.pipeline import Pipeline

    pipeline = Pipeline(args.model, passes=() if args.passes == "none" else None)
    table = pipeline.capability(list(devices))
    rows = [{"node": n.name, "op": f"{n.domain or 'ai.onnx'}.{n.op_type}", "from": origin(n),
             "tiers": {d: cells[n.name].tier for d, cells in table.rows.items()},
             "reasons": {d: cells[n.name].reason for d, cells in table.rows.items()}}
            for n in pipeline.graph.nodes]
    if args.json:
        print(json.dumps({"model": args.model, "nodes": rows}, indent=2))
        return 0
    print_table(f"hetero ops {args.model}: each node as hetero.compile places it (after the "
                "graph passes) and its tier on each device",
                ["node", "op", *(d.id for d in devices)],
                [[r["node"], r["op"], *(r["tiers"][d.id] or "-" for d in devices)]
                 for r in rows])
    for r in rows:
        if not any(r["tiers"].values()):
            print(f"no device runs {r['from']}: " + "; ".join(
                f"{d}: {why}" for d, why in r["reasons"].items()))
    return 0

"""Per-node overhead of ``Plan.run`` node by node: a chain of 200 Relu on 64 floats on cpu:0,
no replay, no history; prints the median ms of 300 runs. Run it against an older checkout with
``benchmarks/against.py`` (issue 19 added a deadline check and error naming per node)."""

from __future__ import annotations

import time

import numpy as np
from onnx import TensorProto, helper

import hetero

NODES, RUNS = 200, 300


def chain() -> hetero.Model:
    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"v{i - 1}"], [f"v{i}"], name=f"r{i}")
             for i in range(NODES)]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64])],
        [helper.make_tensor_value_info(f"v{NODES - 1}", TensorProto.FLOAT, [64])])
    return hetero.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def main() -> None:
    plan = hetero.compile(chain(), devices=[hetero.device("cpu")], passes=())
    plan.graphs, plan.history = False, None  # node by node, nothing recorded
    x = np.ones(64, np.float32)
    for _ in range(50):
        plan.run({"x": x})
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        plan.run({"x": x})
        times.append(time.perf_counter() - start)
    print(f"{np.median(times) * 1e3:.3f} ms a run of {NODES} nodes (measured, median of {RUNS})")


if __name__ == "__main__":
    main()

"""The founding paper's second scenario: a heterogeneous edge box (an ARM CPU and a GPU sharing
a Jetson Xavier NX's memory, a Coral Edge TPU on USB 3 as the NPU, an Alveo U280 on PCIe 4 as
the FPGA) running an int8 SqueezeNet-style CNN under a latency budget.

The NPU and the FPGA compute only in int8, so the float ends of the network (quantise, pool,
softmax) can only go to the CPU or the GPU; the Coral holds 8 MiB. For each budget hetero
places every node for the least energy, and the two baselines are scored beside it: the best
single device, and priority order (NPU, FPGA, GPU, CPU: each node on the first device that
runs it, what ONNX Runtime's and OpenVINO HETERO's device priorities do). The last plan also
runs, on the host standing in for the simulated devices, and its output is checked against
ONNX Runtime's when onnxruntime is installed.

Every figure is modeled: the four devices are simulated from the catalogue's profiles.

    python examples/edge_box.py [--budgets 2,4,8,16] [--plot edge_box.png] [--json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass

import numpy as np
from onnx import ModelProto, TensorProto, helper, numpy_helper

import hetero
from hetero import progress
from hetero.errors import PlanInfeasible

BOX = (("coral-usb-edgetpu", "usb3"), ("alveo-u280", "pcie4"),
       ("jetson-xavier-nx-gpu", "shared"), ("jetson-xavier-nx-cpu", "shared"))  # priority order
BUDGETS_MS = (0.8, 0.9, 1.0, 1.05, 1.1, 1.15, 1.25, 1.5, 2.0, 4.0)
FIRES = ((16, 64), (16, 64), "pool", (32, 128), (32, 128), "pool", (48, 192), (48, 192),
         (64, 256), (64, 256))  # SqueezeNet 1.0's fire modules (squeeze, expand)


class Builder:
    """An int8 QOperator network: every activation int8 with one scale, weights int8."""

    def __init__(self, seed: int):
        self.rng, self.nodes, self.weights, self.count = np.random.default_rng(seed), [], [], 0
        self.weights += [numpy_helper.from_array(np.array(0.05, np.float32), "s"),
                         numpy_helper.from_array(np.array(0, np.int8), "z"),
                         numpy_helper.from_array(np.array(0.01, np.float32), "ws")]

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def conv(self, x: str, cin: int, cout: int, kernel: int, stride: int = 1) -> str:
        w, b, y = self.name("w"), self.name("b"), self.name("conv")
        self.weights += [
            numpy_helper.from_array(self.rng.integers(-8, 8, (cout, cin, kernel, kernel))
                                    .astype(np.int8), w),
            numpy_helper.from_array(self.rng.integers(-64, 64, cout).astype(np.int32), b)]
        pad = kernel // 2
        self.nodes.append(helper.make_node(
            "QLinearConv", [x, "s", "z", w, "ws", "z", "s", "z", b], [y], name=y,
            strides=[stride, stride], pads=[pad] * 4))
        return y

    def pool(self, x: str) -> str:
        y = self.name("pool")
        self.nodes.append(helper.make_node("MaxPool", [x], [y], name=y, kernel_shape=[3, 3],
                                           strides=[2, 2]))
        return y

    def fire(self, x: str, cin: int, squeeze: int, expand: int) -> str:
        s = self.conv(x, cin, squeeze, 1)
        left, right, y = self.conv(s, squeeze, expand, 1), self.conv(s, squeeze, expand, 3), \
            self.name("fire")
        self.nodes.append(helper.make_node("Concat", [left, right], [y], name=y, axis=1))
        return y


def quantised_cnn(seed: int = 0, size: int = 224, classes: int = 1000, width: int = 4
                  ) -> ModelProto:
    """Quantise, a strided conv, fire modules (squeeze, two expands, concat) with max pools,
    a 1x1 classifier conv, dequantise, global average pool, softmax; ``width`` times
    SqueezeNet's channels (about 13 GOP at 4)."""
    b = Builder(seed)
    b.nodes.append(helper.make_node("QuantizeLinear", ["image", "s", "z"], ["q"], name="quant"))
    x, channels = b.pool(b.conv("q", 3, 24 * width, 3, stride=2)), 24 * width
    for fire in FIRES:
        if fire == "pool":
            x = b.pool(x)
            continue
        squeeze, expand = (width * c for c in fire)
        x, channels = b.fire(x, channels, squeeze, expand), 2 * expand
    logits = b.conv(x, channels, classes, 1)
    b.nodes += [helper.make_node("DequantizeLinear", [logits, "s", "z"], ["f"], name="dequant"),
                helper.make_node("GlobalAveragePool", ["f"], ["g"], name="gap"),
                helper.make_node("Flatten", ["g"], ["flat"], name="flatten"),
                helper.make_node("Softmax", ["flat"], ["probs"], name="softmax")]
    graph = helper.make_graph(
        b.nodes, "edge_cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, classes])], b.weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


@dataclass
class Row:
    budget_ms: float
    role: str  # "hetero", "best single device" or "priority order"
    how: str  # the method, or for a budget no placement meets, why: "unreachable: ..."
    latency_ms: float | None  # None where the budget is unreachable
    energy_mj: float | None
    nodes_per_device: dict[str, int]
    feasible: bool = True


def attach_box() -> list[hetero.Device]:
    return [hetero.sim.attach(profile, link=link) for profile, link in BOX]


def rows_for(model: hetero.Model, devices: list[hetero.Device], budget: float) -> list[Row]:
    """The scheduler's plan for the budget and the two baselines (they ignore it)."""
    try:
        plan = hetero.compile(model, devices=devices, objective="energy",
                              max_latency_ms=budget)
    except PlanInfeasible as exc:  # its message names the binding constraint and its limit
        return [Row(budget, "hetero", str(exc), None, None, {}, feasible=False)]
    found = [("hetero", plan.chosen)] + [(b.how.split(" (")[0], b) for b in plan.baselines]
    return [Row(budget, role, f.how, f.estimate.latency_ms, f.estimate.energy_mj,
                counts(f.placement)) for role, f in found]


def line(r: Row) -> str:
    """A row's figures and devices, or why its budget is unreachable (no figures to show)."""
    if not r.feasible:
        return r.how
    where = ", ".join(f"{d} {n}" for d, n in r.nodes_per_device.items())
    return f"{r.how:48.48}  {r.latency_ms:7.3f} ms  {r.energy_mj:8.2f} mJ  {where}"


def counts(placement: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for device in placement.values():
        out[device] = out.get(device, 0) + 1
    return out


def check_outputs(model: hetero.Model, proto: ModelProto, devices: list[hetero.Device],
                  budget: float) -> str:
    """Run the plan for real (simulated devices compute on the host) and compare with ORT."""
    plan = hetero.compile(model, devices=devices, objective="energy", max_latency_ms=budget)
    image = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    got = plan.run({"image": image})["probs"]
    try:
        import onnxruntime
    except ImportError:
        return "ran (onnxruntime not installed: output not compared)"
    session = onnxruntime.InferenceSession(proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    want = session.run(None, {"image": image})[0]
    gap = float(np.abs(got - want).max())
    return f"ran on {len(set(plan.placement.values()))} devices; max |hetero - ORT| = {gap:.2e}"


def plot(rows: list[Row], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    for role, style in (("hetero", "o-"), ("best single device", "s--"),
                        ("priority order", "^:")):
        mine = [r for r in rows if r.role == role and r.feasible]
        label = "hetero: least energy within the budget" if role == "hetero" else role
        for ax, figure_of in zip(axes, (lambda r: r.energy_mj, lambda r: r.latency_ms),
                                 strict=True):
            ax.plot([r.budget_ms for r in mine], [figure_of(r) for r in mine], style,
                    label=label)
    axes[1].plot([min(r.budget_ms for r in rows), max(r.budget_ms for r in rows)],
                 [min(r.budget_ms for r in rows), max(r.budget_ms for r in rows)], "k:",
                 label="budget")
    for ax, title in zip(axes, ("energy per inference (mJ, modeled)", "latency (ms, modeled)"),
                         strict=True):
        ax.set_xlabel("latency budget (ms)")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.legend(fontsize=8)
    figure.suptitle("int8 CNN on an edge box: ARM CPU + GPU (Jetson NX), Coral NPU (USB 3), "
                    "Alveo FPGA (PCIe 4); simulated devices")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS_MS)),
                        help="latency budgets in ms, comma-separated")
    parser.add_argument("--plot", metavar="PATH.png")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    progress.enable()  # as the hetero command does: the sweep shows its progress on stderr
    proto = quantised_cnn()
    model, devices = hetero.load(proto), attach_box()
    budgets = [float(b) for b in args.budgets.split(",")]
    rows = []
    with progress.step("planning for each latency budget", total=len(budgets)) as advance:
        for budget in budgets:
            rows += rows_for(model, devices, budget)
            advance()
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        print("latency and energy: modeled (simulated devices)")
        for r in rows:
            print(f"budget {r.budget_ms:5g} ms  {r.role:18} {line(r)}")
        feasible = [b for b in budgets if any(r.feasible for r in rows if r.budget_ms == b)]
        if feasible:
            print(check_outputs(model, proto, devices, max(feasible)))
    if args.plot:
        plot(rows, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()

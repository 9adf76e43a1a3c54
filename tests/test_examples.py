"""The founding paper's two scenarios (examples/): the Edgent split of ResNet-50 between a
Jetson and an A100 over a radio link, and an int8 CNN on an edge box under a latency budget."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import edge_box  # noqa: E402
import edgent_split  # noqa: E402

import hetero  # noqa: E402

pytestmark = pytest.mark.usefixtures("registry")


@pytest.fixture(scope="module")
def resnet50():
    return edgent_split.resnet50()


def test_a_slow_uplink_keeps_resnet50_on_the_board(resnet50):
    point = edgent_split.point(resnet50, "5G slice", 10, "latency")
    assert point.on_board == point.nodes and point.transfer_bytes == 0


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_a_fast_6g_uplink_offloads_and_beats_every_edgent_split(resnet50, objective):
    point = edgent_split.point(resnet50, "6G", 10_000, objective)
    assert point.on_board < point.nodes / 2 and point.transfer_bytes > 0
    assert point.value <= point.best_split_value * (1 + 1e-9)
    assert point.latency_ms < edgent_split.point(resnet50, "6G", 10, objective).latency_ms


@pytest.fixture(scope="module")
def box():
    proto = edge_box.quantised_cnn(width=2)
    model, devices = hetero.load(proto), edge_box.attach_box()
    yield proto, model, devices
    for device in devices:
        hetero.sim.detach(device)


def test_the_budget_trades_energy_for_latency_on_the_edge_box(box):
    _, model, devices = box
    loose = edge_box.rows_for(model, devices, 100.0)
    hetero_loose = loose[0]
    fastest = hetero.compile(model, devices=devices, objective="latency").estimate.latency_ms
    assert fastest < hetero_loose.latency_ms  # otherwise no budget could bind
    tight = edge_box.rows_for(model, devices, (fastest + hetero_loose.latency_ms) / 2)[0]
    assert tight.latency_ms <= tight.budget_ms < hetero_loose.latency_ms
    assert tight.energy_mj > hetero_loose.energy_mj
    for row in loose[1:]:  # the baselines ignore the budget: compare on energy alone
        assert hetero_loose.energy_mj <= row.energy_mj * (1 + 1e-9)
    (refused,) = edge_box.rows_for(model, devices, fastest * 0.9)
    assert not refused.feasible and refused.latency_ms is None and refused.energy_mj is None
    assert refused.how.startswith(f"unreachable: max_latency_ms={fastest * 0.9:g} is below "
                                  f"the fastest placement's {fastest:.4g} ms")
    assert edge_box.line(refused) == refused.how  # no figures, so no nan


def test_int8_nodes_reach_the_npu_and_fpga_and_float_ones_do_not(box):
    _, model, devices = box
    plan = hetero.compile(model, devices=devices, strategy="priority")
    ops = {n.name: n.op_type for n in plan.graph.nodes}
    npu = devices[0].id  # first in priority order
    assert all(plan.placement[n] == npu for n, op in ops.items() if op == "QLinearConv")
    floats = [n for n, op in ops.items() if op in ("QuantizeLinear", "GlobalAveragePool",
                                                   "Softmax")]
    assert floats and all(plan.placement[n] != npu for n in floats)


def test_the_edge_box_plan_runs_and_matches_onnx_runtime(box):
    pytest.importorskip("onnxruntime")
    proto, model, devices = box
    text = edge_box.check_outputs(model, proto, devices, 100.0)
    gap = float(text.rsplit("= ", 1)[1])
    assert gap < 1e-5, text

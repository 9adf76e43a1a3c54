"""Selectors in the dpctl/SYCL style, resolved against synthetic devices."""

from __future__ import annotations

import pytest
from helpers import device

from hetero import DeviceNotFound
from hetero.selector import select

DEVICES = [
    device("cpu:0", "cpu"),
    device("opencl:cpu:0", "cpu"),
    device("opencl:fpga:0", "fpga"),
    device("cuda:0", "gpu"),
    device("cuda:1", "gpu"),
    device("sim:jetson-xavier-nx-gpu:0", "gpu", profile_name="jetson-xavier-nx-gpu"),
    device("tvm:cpu:0", "cpu"),
]
IDS = {d.id: d for d in DEVICES}


@pytest.mark.parametrize("selector, expected", [
    ("cpu", "cpu:0"),
    ("gpu", "cuda:0"),
    ("gpu:1", "cuda:1"),
    ("gpu:2", "sim:jetson-xavier-nx-gpu:0"),
    ("opencl:fpga:0", "opencl:fpga:0"),
    ("opencl:cpu", "opencl:cpu:0"),
    ("fpga", "opencl:fpga:0"),
    ("cuda:0", "cuda:0"),
    ("tvm", "tvm:cpu:0"),
    ("sim:jetson-xavier-nx-gpu", "sim:jetson-xavier-nx-gpu:0"),
    ("jetson-xavier-nx-gpu", "sim:jetson-xavier-nx-gpu:0"),
    ("npu,fpga,cpu", "opencl:fpga:0"),
    ("npu, cuda:1 ,cpu", "cuda:1"),
    ("sim:jetson-xavier-nx-gpu:0", "sim:jetson-xavier-nx-gpu:0"),
])
def test_string_selectors(selector, expected):
    assert select(selector, DEVICES).id == expected, f"select({selector!r})"


def test_callable_selector_picks_the_highest_non_negative_score():
    score = {"cuda:1": 5, "cpu:0": 5, "opencl:fpga:0": 3}
    chosen = select(lambda d: score.get(d.id, -1), DEVICES)
    assert chosen.id == "cpu:0"  # ties go to the earlier device, as in discovery order


def test_callable_selector_rejecting_everything_raises():
    with pytest.raises(DeviceNotFound, match="no device matches"):
        select(lambda d: -1, DEVICES)


def test_a_device_object_selects_itself():
    assert select(IDS["cuda:1"], DEVICES) is IDS["cuda:1"]


def test_not_found_lists_existing_devices_and_suggests():
    with pytest.raises(DeviceNotFound) as info:
        select("gpuu:7", DEVICES, hint=" Not available: tvm (pip install 'hetero[tvm]').")
    message = str(info.value)
    for d in DEVICES:
        assert d.id in message
    assert "Did you mean gpu" in message
    assert "pip install 'hetero[tvm]'" in message


def test_ordinal_past_the_end_is_not_found():
    with pytest.raises(DeviceNotFound):
        select("fpga:1", DEVICES)


def test_selector_of_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="string, a Device or a callable"):
        select(3, DEVICES)

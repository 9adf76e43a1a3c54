"""Kernel device events reach the registry: a real uevent (written to a device's uevent file
in sysfs, as root) makes the watcher rescan the backends it concerns, debounced; without
netlink a poller rescans instead."""

from __future__ import annotations

import glob
import os
import time

import pytest
from helpers import device
from test_registry import Plugin

import hetero
from hetero.backend import HostMemoryBackend, Uevent
from hetero.discovery import Registry
from hetero.plugins import PluginSet, new_manager
from hetero.watch import Watcher, matches, vendor_of


class Stick(HostMemoryBackend):
    """Hardware on a subsystem: counts its discoveries; ``present`` is what is plugged in."""

    def __init__(self, name: str, wanted: tuple[Uevent, ...]):
        self.name, self.wanted = name, wanted
        self.present: list[str] = []
        self.scans = 0

    def discover(self):
        self.scans += 1
        return [device(i, "npu", impl=self) for i in self.present]

    def uevents(self):
        return self.wanted


def registry_of(*backends) -> Registry:
    plugins = PluginSet(new_manager())
    for backend in backends:
        plugins.register(backend.name, Plugin(backend))
    reg = Registry(env={}, plugins=plugins)
    reg.devices()
    return reg


def until(condition, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)
    return condition()


def uevent_file() -> str:
    """A virtual misc device's uevent file (writing to it emits an event, changes nothing)."""
    if os.geteuid() != 0:
        pytest.skip("writing a sysfs uevent file needs root")
    found = sorted(glob.glob("/sys/devices/virtual/misc/*/uevent"))
    if not found:
        pytest.skip("no virtual misc device in this sysfs")
    return found[0]


def test_a_real_kernel_uevent_rescans_only_the_backends_it_concerns():
    pytest.importorskip("pyudev")
    path = uevent_file()
    misc, other = Stick("misc", (Uevent("misc"),)), Stick("pcistick", (Uevent("pci", "10de"),))
    reg = registry_of(misc, other)
    added = []
    reg.subscribe(lambda e: added.append(e.device.id) if e.kind == "added" else None)
    watcher = Watcher(reg, debounce_s=0.2)
    try:
        if watcher.mode != "udev":
            pytest.skip(f"no kernel events here: {watcher.why}")
        before = (misc.scans, other.scans)
        misc.present = ["misc:0"]  # plugged in; the kernel says so twice in a burst
        with open(path, "w") as f:
            f.write("change")
        with open(path, "w") as f:
            f.write("add")
        assert until(lambda: watcher.rescans >= 1)
        time.sleep(0.3)
        assert watcher.events >= 2 and watcher.rescans == 1  # one rescan for the burst
        assert misc.scans == before[0] + 1 and other.scans == before[1]  # only its backend
        assert added == ["misc:0"]
    finally:
        watcher.stop()


def test_without_netlink_a_poller_rescans():
    stick = Stick("usb", (Uevent("usb", "03e7"),))
    reg = registry_of(stick)
    watcher = Watcher(reg, poll_s=0.05, udev=False)
    try:
        assert watcher.mode == "polling" and "udev=False" in watcher.why
        stick.present = ["usb:0"]
        assert until(lambda: [d.id for d in reg.devices()] == ["usb:0"])
        stick.present = []
        assert until(lambda: reg.devices() == [])
    finally:
        watcher.stop()


def test_vendors_are_read_from_usb_and_pci_uevents():
    movidius = Uevent("usb", "03e7")
    assert matches(movidius, "usb", vendor_of({"PRODUCT": "3e7/2485/1"}))
    assert not matches(movidius, "usb", vendor_of({"PRODUCT": "1a6e/89a/100"}))
    assert not matches(movidius, "pci", vendor_of({"PRODUCT": "3e7/2485/1"}))
    assert matches(Uevent("pci", "10de"), "pci", vendor_of({"PCI_ID": "10DE:2330"}))
    assert matches(Uevent("drm"), "drm", vendor_of({}))


def test_a_session_holds_the_shared_watcher_while_open(registry):
    sim = hetero.sim.attach("a100")
    with hetero.Session(hetero.load(_tiny()), devices=[sim]) as first, \
            hetero.Session(hetero.load(_tiny()), devices=[sim]) as second:
        assert first.watcher is second.watcher and first.watcher._thread.is_alive()
    assert not first.watcher._thread.is_alive()
    assert hetero.Session(hetero.load(_tiny()), devices=[sim], watch=False).watcher is None


def _tiny():
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

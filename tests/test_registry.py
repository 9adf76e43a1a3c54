"""The live registry: generation counter, add/remove events, rescans, lost devices."""

from __future__ import annotations

import threading

import pytest
from helpers import device

import hetero
from hetero.backend import HostMemoryBackend
from hetero.discovery import Registry
from hetero.plugins import PluginSet, new_manager


class Changing(HostMemoryBackend):
    """A backend whose hardware comes and goes between scans, like a USB stick."""

    name = "usb"

    def __init__(self) -> None:
        self.present = ["usb:0"]

    def discover(self):
        return [device(i, "npu", impl=self) for i in self.present]


class Plugin:
    HETERO_PLUGIN_API = 1

    def __init__(self, backend):
        self.backend = backend

    @hetero.hookimpl
    def hetero_backends(self):
        return [self.backend]


def registry_with(backend) -> Registry:
    plugins = PluginSet(new_manager())
    plugins.register("usb", Plugin(backend))
    return Registry(env={}, plugins=plugins)


def test_rescan_reports_what_came_and_went_and_counts_generations():
    backend = Changing()
    reg = registry_with(backend)
    seen = []
    reg.subscribe(seen.append)
    first = reg.devices()
    assert [d.id for d in first] == ["usb:0"] and reg.generation == 1
    backend.present = ["usb:1"]
    events = reg.rescan()
    assert [(e.kind, e.device.id, e.generation) for e in events] == [
        ("removed", "usb:0", 2), ("added", "usb:1", 3)]
    assert seen[1:] == events
    assert not first[0].alive
    with pytest.raises(hetero.DeviceLost, match="usb:0"):
        first[0].check_alive()


def test_a_device_seen_again_keeps_its_object():
    backend = Changing()
    reg = registry_with(backend)
    before = reg.devices()[0]
    assert reg.rescan() == []
    assert reg.devices()[0] is before and reg.generation == 1


def test_unsubscribe_stops_events():
    reg = registry_with(Changing())
    seen = []
    stop = reg.subscribe(seen.append)
    reg.devices()
    stop()
    reg.add(device("usb:9", "npu"))
    assert [e.device.id for e in seen] == ["usb:0"]


def test_a_failing_subscriber_warns_and_others_still_hear():
    reg = registry_with(Changing())
    heard = []

    def broken(event):
        raise RuntimeError("subscriber bug")

    reg.subscribe(broken)
    reg.subscribe(heard.append)
    with pytest.warns(RuntimeWarning, match="subscriber bug"):
        reg.devices()
    assert [e.device.id for e in heard] == ["usb:0"]


def test_add_refuses_a_duplicate_id_and_remove_an_unknown_device():
    reg = registry_with(Changing())
    reg.devices()
    with pytest.raises(hetero.HeteroError, match="already registered"):
        reg.add(device("usb:0", "npu"))
    with pytest.raises(hetero.HeteroError, match="not registered"):
        reg.remove(device("usb:5", "npu"))


def test_concurrent_attach_gives_distinct_ids_and_generations(registry):
    hetero.devices()
    start = registry.generation
    out: list = []
    threads = [threading.Thread(target=lambda: out.append(hetero.sim.attach("a100")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(d.id for d in out) == sorted(f"sim:a100:{i}" for i in range(8))
    assert registry.generation == start + 8


def test_sim_attach_and_detach_fire_events(registry):
    events = []
    hetero.on_device_event(events.append)
    hetero.devices()
    events.clear()
    dev = hetero.sim.attach("jetson-xavier-nx-gpu", link="5g")
    assert dev.simulated and dev.id == "sim:jetson-xavier-nx-gpu:0" and dev.link.name == "5g"
    assert hetero.device("sim:jetson-xavier-nx-gpu") is dev
    hetero.sim.detach(dev)
    assert [(e.kind, e.device) for e in events] == [("added", dev), ("removed", dev)]
    assert events[1].generation == events[0].generation + 1
    assert dev not in hetero.devices()
    with pytest.raises(hetero.DeviceNotFound):
        hetero.device("sim:jetson-xavier-nx-gpu")


def test_sim_ids_reuse_the_lowest_free_index(registry):
    a, b = hetero.sim.attach("a100"), hetero.sim.attach("a100")
    assert (a.id, b.id) == ("sim:a100:0", "sim:a100:1")
    hetero.sim.detach("sim:a100:0")
    assert hetero.sim.attach("a100").id == "sim:a100:0"


def test_sim_default_link_comes_from_the_profile(registry):
    assert hetero.sim.attach("coral-usb-edgetpu").link.name == "usb3"


def test_sim_attach_unknown_names_are_explained(registry):
    with pytest.raises(hetero.HeteroError, match="Did you mean a100"):
        hetero.sim.attach("a10O")
    with pytest.raises(hetero.HeteroError, match="no link named 'lte'.*5g"):
        hetero.sim.attach("a100", link="lte")


def test_detach_refuses_real_devices(registry):
    with pytest.raises(hetero.HeteroError, match="not a simulated device"):
        hetero.sim.detach(hetero.device("cpu"))


def test_sim_attach_without_the_sim_backend_says_why(make_registry):
    make_registry({"HETERO_BACKENDS": "cpu"})
    with pytest.raises(hetero.HeteroError, match="HETERO_BACKENDS='cpu' leaves it out"):
        hetero.sim.attach("a100")


class Scripted(HostMemoryBackend):
    """A backend whose discovery misbehaves in a chosen way."""

    name = "scripted"

    def __init__(self, behaviour):
        self.behaviour = behaviour

    def unavailable_reason(self):
        if self.behaviour == "reason raises":
            raise ImportError("half-installed SDK")
        return None

    def discover(self):
        if self.behaviour == "not devices":
            return ["scripted:0"]
        if self.behaviour == "generator raises":
            return self.failing_generator()
        return [device("scripted:0", "npu", impl=self)]

    def failing_generator(self):
        yield device("scripted:0", "npu", impl=self)
        raise OSError("bus reset while enumerating")


def scripted_registry(behaviour, hook_result=None):
    plugins = PluginSet(new_manager())
    backend = Scripted(behaviour)

    class P:
        HETERO_PLUGIN_API = 1

        @hetero.hookimpl
        def hetero_backends(self):
            return backend if hook_result == "bare" else [backend]

    plugins.register("scripted", P())
    cpu = Changing()
    plugins.register("usb", Plugin(cpu))
    return Registry(env={}, plugins=plugins), backend


@pytest.mark.parametrize("behaviour, hook_result, words", [
    ("ok", "bare", "not a list of backends"),
    ("reason raises", None, "half-installed SDK"),
    ("not devices", None, "not a hetero.Device"),
    ("generator raises", None, "bus reset"),
])
def test_a_misbehaving_backend_never_breaks_discovery(behaviour, hook_result, words):
    reg, _ = scripted_registry(behaviour, hook_result)
    assert "usb:0" in [d.id for d in reg.devices()]
    assert any(words in str(e) for e in reg.errors()), reg.errors()


def test_a_transient_discovery_error_keeps_the_devices_and_errors_do_not_pile_up():
    reg, backend = scripted_registry("ok")
    before = reg.device("scripted:0")
    backend.behaviour = "generator raises"
    for _ in range(3):
        assert reg.rescan() == []
    assert before.alive and reg.device("scripted:0") is before
    assert len([e for e in reg.errors() if e.plugin == "scripted"]) == 1
    backend.behaviour = "ok"
    reg.rescan()
    assert [e for e in reg.errors() if e.plugin == "scripted"] == []


def test_events_reach_subscribers_in_generation_order_across_threads(registry):
    hetero.devices()
    got = []

    def slow(event):
        if event.generation % 2 == 0:
            threading.Event().wait(0.005)
        got.append(event.generation)

    hetero.on_device_event(slow)
    threads = [threading.Thread(target=hetero.sim.attach, args=("a100",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == sorted(got) and len(got) == 8


def test_attach_racing_a_rescan_reports_the_device_once(registry):
    hetero.devices()
    events = []
    hetero.on_device_event(events.append)
    profiles, links = registry.catalogue()
    dev = registry.backend("sim").attach(profiles["a100"], links["pcie4"])
    hetero.rescan()  # a rescan lands between the backend's attach and the registry's add
    assert registry.add(dev) is None
    assert [(e.kind, e.device) for e in events] == [("added", dev)]
    registry.backend("sim").detach(dev)
    hetero.rescan()
    assert registry.remove(dev) is None and not dev.alive


def test_a_removed_id_never_selects_a_sibling(registry):
    hetero.sim.attach("a100")
    second = hetero.sim.attach("a100")
    hetero.sim.detach("sim:a100:0")
    with pytest.raises(hetero.DeviceNotFound, match="'sim:a100:0'"):
        hetero.device("sim:a100:0")
    with pytest.raises(hetero.DeviceNotFound):
        hetero.sim.detach("sim:a100:0")
    assert second.alive and hetero.device("sim:a100") is second


def test_detaching_twice_is_a_device_lost_error(registry):
    dev = hetero.sim.attach("a100")
    hetero.sim.detach(dev)
    with pytest.raises(hetero.DeviceLost, match="sim:a100:0"):
        hetero.sim.detach(dev)


def test_a_removed_device_stops_its_queue_thread(registry):
    dev = hetero.sim.attach("a100")
    dev.queue.submit(lambda: None).wait()
    name = f"hetero-{dev.id}"
    assert any(t.name.startswith(name) for t in threading.enumerate())
    hetero.sim.detach(dev)
    for t in [t for t in threading.enumerate() if t.name.startswith(name)]:
        t.join(timeout=5)
    assert not any(t.name.startswith(name) for t in threading.enumerate())

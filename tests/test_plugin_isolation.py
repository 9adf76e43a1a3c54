"""Hostile and broken plugins (issue 19): sys.exit, a hung discover(), hook results of the wrong
type and failures on every call end nothing, hang nothing and pile nothing up; each is a
PluginError naming the plugin and the stage or hook."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
from helpers import device
from test_runtime import chain_model

import hetero
from hetero import cli
from hetero.backend import HostMemoryBackend
from hetero.discovery import Registry, set_default_registry
from hetero.errors import PluginError
from hetero.plugins import load_plugins

EXITS_ON_IMPORT = """
import sys
sys.exit("this plugin quits the interpreter at import")
"""

EXITS_IN_DISCOVER = """
import sys
import hetero
from hetero.backend import HostMemoryBackend

HETERO_PLUGIN_API = 1


class Quitter(HostMemoryBackend):
    name = "quitter"

    def discover(self):
        sys.exit(7)


@hetero.hookimpl
def hetero_backends():
    return [Quitter()]


@hetero.hookimpl
def hetero_device_event(event):
    raise GeneratorExit("a listener that throws GeneratorExit")
"""

BAD_RESULTS = """
import hetero
from hetero.device import DeviceProfile

HETERO_PLUGIN_API = 1
GOOD = DeviceProfile(
    name="kept-npu", kind="npu", peak_gflops={"int8": 1000.0}, mem_bandwidth_gbs=1.0,
    active_w=1.0, idle_w=0.1, launch_overhead_us=1.0, unified_memory=False,
    memory_bytes=2**20, source="estimate: test plugin")


@hetero.hookimpl
def hetero_profiles():
    return [GOOD, "not a profile"]


@hetero.hookimpl
def hetero_links():
    return 42
"""

STRING_PROFILES = """
import hetero
HETERO_PLUGIN_API = 1


@hetero.hookimpl
def hetero_profiles():
    return "abc"


@hetero.hookimpl
def hetero_links():
    return ["pcie9"]
"""

NOISY = """
import hetero
HETERO_PLUGIN_API = 1


@hetero.hookimpl
def hetero_device_event(event):
    raise ValueError("listener broke")


@hetero.hookimpl
def hetero_estimate(node, graph, device, work):
    raise ValueError("estimator broke")
"""


def errors_of(plugin: str) -> list[PluginError]:
    return [e for e in hetero.plugin_errors() if e.plugin == plugin]


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = cli.main(list(args))
    return code, capsys.readouterr().out


# -- sys.exit and friends ------------------------------------------------------------------------
def test_sys_exit_at_import_is_an_import_error_and_the_rest_works(install_plugin, make_registry):
    install_plugin("hetero-quitimport", "quitimport", EXITS_ON_IMPORT)
    make_registry({})
    [error] = errors_of("quitimport")
    assert error.stage == "import" and "SystemExit" in error.detail and "quits" in error.detail
    assert hetero.device("cpu").id == "cpu:0"


def test_sys_exit_in_discover_is_a_discovery_error_and_the_rest_works(install_plugin,
                                                                      make_registry):
    install_plugin("hetero-quitter", "quitter", EXITS_IN_DISCOVER)
    make_registry({})
    assert "cpu:0" in [d.id for d in hetero.devices()]
    status = {s.name: s for s in hetero.backend_status()}
    assert status["quitter"].state == "error" and "SystemExit: 7" in status["quitter"].detail
    assert {e.stage for e in errors_of("quitter")} == {"discover", "hetero_device_event"}
    dev = hetero.sim.attach("a100")  # GeneratorExit in the event hook undoes nothing
    assert dev in hetero.devices()
    assert any(e.stage == "hetero_device_event" and "GeneratorExit" in e.detail
               for e in errors_of("quitter"))


def test_hetero_devices_lists_a_quitting_plugin_and_the_other_backends(
        install_plugin, make_registry, capsys):
    install_plugin("hetero-quitimport", "quitimport", EXITS_ON_IMPORT)
    install_plugin("hetero-quitter", "quitter", EXITS_IN_DISCOVER)
    make_registry({})
    code, out = run_cli(capsys, "devices", "--json")
    listing = json.loads(out)
    assert code == 0 and "cpu:0" in [d["id"] for d in listing["devices"]]
    stages = {(e["plugin"], e["stage"]) for e in listing["errors"]}
    assert {("quitimport", "import"), ("quitter", "discover")} <= stages
    code, table = run_cli(capsys, "devices")
    assert code == 0 and "cpu:0" in table and "SystemExit" in table


def test_keyboard_interrupt_in_a_hook_still_reaches_the_user():
    """A person's Ctrl-C is not a plugin failure: it goes on up."""
    from hetero.plugins import PluginSet, new_manager

    class Interrupted:
        HETERO_PLUGIN_API = 1

        @hetero.hookimpl
        def hetero_profiles(self):
            raise KeyboardInterrupt

    plugins = PluginSet(new_manager())
    plugins.register("ctrlc", Interrupted())
    with pytest.raises(KeyboardInterrupt):
        list(plugins.call_each("hetero_profiles"))


# -- a hung discover() ---------------------------------------------------------------------------
class Slow(HostMemoryBackend):
    """discover() waits on ``gate`` (60 s at most), as a hung driver would."""

    name = "slow"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.calls: list[str] = []

    def discover(self):
        self.calls.append(threading.current_thread().name)
        self.gate.wait(60)
        return [device("slow:0", "npu", impl=self)]


class SlowPlugin:
    HETERO_PLUGIN_API = 1

    def __init__(self, backend: Slow):
        self.backend = backend

    @hetero.hookimpl
    def hetero_backends(self):
        return [self.backend]


@pytest.fixture
def slow() -> Iterator[tuple[Registry, Slow]]:
    """The default registry: cpu, sim and a backend whose discover() may hang, with a 0.5 s
    deadline from the environment (the cpu is measured beforehand: only one backend is slow)."""
    plugins = load_plugins({"HETERO_DISABLE_PLUGIN_AUTOLOAD": "1"})
    for name in ("cuda", "opencl", "tvm"):  # their first discovery alone may take seconds
        plugins.manager.unregister(name=name)
    backend = Slow()
    plugins.register("slow", SlowPlugin(backend))
    reg = Registry(env={"HETERO_DISCOVERY_TIMEOUT_S": "0.5"}, plugins=plugins)
    reg.backend("cpu").discover()
    previous = set_default_registry(reg)
    yield reg, backend
    set_default_registry(previous)
    backend.gate.set()  # let the abandoned discovery threads end


def in_thread(work) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_hung_discover_times_out_and_the_others_are_listed(slow):
    reg, backend = slow
    backend.gate.clear()
    start = time.monotonic()
    ids = [d.id for d in hetero.devices()]
    assert time.monotonic() - start < 10  # the hung backend alone took 60 s
    assert "cpu:0" in ids and "slow:0" not in ids
    status = {s.name: s for s in hetero.backend_status()}["slow"]
    assert status.state == "timed out"
    assert "0.5 s" in status.detail and "HETERO_DISCOVERY_TIMEOUT_S" in status.detail
    assert [e.stage for e in errors_of("slow")] == ["timeout"]
    reg.rescan()  # the hung call is not called again while it runs
    assert len(backend.calls) == 1
    assert [e.stage for e in errors_of("slow")] == ["timeout"]
    assert reg.discovery_timeout_s == 0.5  # from HETERO_DISCOVERY_TIMEOUT_S


def test_devices_does_not_wait_for_a_rescan_in_progress(slow):
    reg, backend = slow
    reg.discovery_timeout_s = 60.0
    assert "slow:0" in [d.id for d in hetero.devices()]
    backend.gate.clear()
    rescan = in_thread(reg.rescan)
    while len(backend.calls) < 2:  # the rescan is now inside slow's discover()
        time.sleep(0.01)
    got: list[list[str]] = []
    reader = in_thread(lambda: got.append([d.id for d in hetero.devices()]))
    reader.join(10)  # before: devices() waited for the rescan's lock, i.e. for discover()
    assert got and "slow:0" in got[0] and "cpu:0" in got[0]
    dev = hetero.sim.attach("a100")  # attached while the rescan discovers
    backend.gate.set()
    rescan.join(10)
    assert not rescan.is_alive()
    assert dev in hetero.devices() and dev.alive  # the rescan's diff did not remove it
    assert dev.id in {s.name: s for s in hetero.backend_status()}["sim"].devices


def test_a_bad_discovery_timeout_is_explained(make_registry):
    with pytest.raises(hetero.HeteroError, match="HETERO_DISCOVERY_TIMEOUT_S='soon'"):
        make_registry({"HETERO_DISCOVERY_TIMEOUT_S": "soon"})


def test_hetero_devices_shows_a_timed_out_backend(slow, capsys):
    _, backend = slow
    backend.gate.clear()
    code, table = run_cli(capsys, "devices")
    assert code == 0 and "timed out" in table and "cpu:0" in table


# -- hook results of the wrong type --------------------------------------------------------------
def test_hook_results_of_the_wrong_type_are_plugin_errors_and_skipped(
        install_plugin, make_registry, capsys):
    install_plugin("hetero-badresults", "badresults", BAD_RESULTS)
    install_plugin("hetero-strprofiles", "strprofiles", STRING_PROFILES)
    make_registry({})
    profiles = hetero.profiles()
    assert "a100" in profiles and "kept-npu" in profiles  # the good entry of a bad list stays
    assert "pcie4" in hetero.links()
    found = {(e.plugin, e.stage): str(e) for e in hetero.plugin_errors()}
    for key, words in {("badresults", "hetero_profiles"): "'not a profile'",
                       ("badresults", "hetero_links"): "42",
                       ("strprofiles", "hetero_profiles"): "'abc'",
                       ("strprofiles", "hetero_links"): "'pcie9'"}.items():
        assert key in found, found
        assert all(w in found[key] for w in (key[0], key[1], words)), found[key]
    assert hetero.sim.attach("a100", link="pcie4").simulated
    code, out = run_cli(capsys, "devices", "--sim", "coral-usb-edgetpu", "--json")
    assert code == 0 and any(d["id"].startswith("sim:coral") for d in json.loads(out)["devices"])


# -- the error log -------------------------------------------------------------------------------
def test_the_error_log_stays_bounded_over_attach_detach_and_compiles(install_plugin,
                                                                    make_registry):
    install_plugin("hetero-noisy", "noisy", NOISY)
    make_registry({"HETERO_DISABLE_PLUGIN_AUTOLOAD": "", "HETERO_BACKENDS": "cpu,sim"})
    before = len(hetero.plugin_errors())
    for _ in range(50):
        hetero.sim.detach(hetero.sim.attach("a100"))
    model = chain_model()
    for _ in range(3):
        hetero.compile(model, devices=[hetero.device("cpu")])
    errors = errors_of("noisy")
    assert len(hetero.plugin_errors()) <= before + 2  # was +2 per cycle and +4 per compile
    counts = {e.stage: e.count for e in errors}
    assert counts["hetero_device_event"] >= 100 and counts["hetero_estimate"] >= 3


def test_the_error_log_keeps_the_most_recent_distinct_failures():
    from hetero.plugins import ErrorLog

    log = ErrorLog(limit=100)
    for i in range(250):
        log.append(PluginError("p", "hook", f"failure {i}"))
    log.append(PluginError("p", "hook", "failure 249"))
    assert len(log) == 100
    assert log[0].detail == "failure 150" and log[-1].detail == "failure 249"
    assert log[-1].count == 2


RUNAWAY = """
import itertools
import hetero
from hetero.backend import HostMemoryBackend

HETERO_PLUGIN_API = 1


class Endless(HostMemoryBackend):
    name = "endless"

    def discover(self):
        return (None for _ in itertools.count())  # consumed forever by list() before


class Nameless(HostMemoryBackend):
    @property
    def name(self):
        raise RuntimeError("no name")


@hetero.hookimpl
def hetero_backends():
    return [Endless(), Nameless()]
"""


def test_a_runaway_discover_and_a_raising_name_are_plugin_errors(install_plugin,
                                                                 make_registry, capsys):
    """Found by review: an endless generator from discover() grew memory without bound in
    its abandoned thread; a backend whose name property raised crashed hetero.devices()."""
    install_plugin("hetero-runaway", "runaway", RUNAWAY)
    make_registry({})
    assert "cpu:0" in {d.id for d in hetero.devices()}
    status = {s.name: s for s in hetero.backend_status()}
    assert status["endless"].state == "error" and "endless generator" in status["endless"].detail
    errors = [str(e) for e in hetero.plugin_errors() if e.plugin == "runaway"]
    assert any("its name raised RuntimeError: no name" in e for e in errors), errors
    assert cli.main(["devices"]) == 0
    assert "endless" in capsys.readouterr().out

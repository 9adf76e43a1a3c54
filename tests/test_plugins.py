"""Out-of-tree plugins through real entry points: one that works, one that raises, wrong API."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import hetero
from hetero import PluginError
from hetero.hookspecs import PLUGIN_API_VERSION

GOOD = """
import hetero
from hetero.backend import HostMemoryBackend
from hetero.device import Device, DeviceProfile

HETERO_PLUGIN_API = 1
EVENTS = []
PROFILE = DeviceProfile(
    name="fake-npu", kind="npu", peak_gflops={"int8": 1000.0}, mem_bandwidth_gbs=1.0,
    active_w=1.0, idle_w=0.1, launch_overhead_us=1.0, unified_memory=False,
    memory_bytes=2**20, source="estimate: test plugin")


class FakeNpu(HostMemoryBackend):
    name = "fakenpu"

    def discover(self):
        return [Device(id="fakenpu:0", name="Fake NPU", backend="fakenpu", kind="npu",
                       arch="fake", memory_bytes=2**20, profile=PROFILE)]


@hetero.hookimpl
def hetero_backends():
    return [FakeNpu()]


@hetero.hookimpl
def hetero_profiles():
    return [PROFILE]


@hetero.hookimpl
def hetero_device_event(event):
    EVENTS.append((event.kind, event.device.id, event.generation))
"""

RAISES_ON_IMPORT = """
raise RuntimeError("this plugin is broken on purpose")
"""

WRONG_API = """
import hetero
HETERO_PLUGIN_API = 99

@hetero.hookimpl
def hetero_backends():
    raise AssertionError("a refused plugin must never be called")
"""

NO_API = """
import hetero

@hetero.hookimpl
def hetero_backends():
    return []
"""

RAISES_IN_DISCOVERY = """
import hetero
from hetero.backend import HostMemoryBackend

HETERO_PLUGIN_API = 1


class Flaky(HostMemoryBackend):
    name = "flaky"

    def discover(self):
        raise OSError("the bus fell over")


@hetero.hookimpl
def hetero_backends():
    return [Flaky()]


@hetero.hookimpl
def hetero_device_event(event):
    raise ValueError("listener broke")
"""

BAD_HOOK = """
import hetero
HETERO_PLUGIN_API = 1

@hetero.hookimpl
def hetero_backendz():
    return []
"""


def errors_by_plugin(reg):
    """The first error of each plugin."""
    found = {}
    for error in reg.errors():
        found.setdefault(error.plugin, error)
    return found


def test_working_plugin_adds_its_backend_devices_and_profiles(install_plugin, make_registry):
    install_plugin("hetero-fakenpu", "fakenpu", GOOD)
    reg = make_registry({})
    assert "fakenpu:0" in [d.id for d in reg.devices()]
    assert hetero.device("npu").id == "fakenpu:0"
    assert "fake-npu" in hetero.profiles()
    assert "cpu:0" in [d.id for d in reg.devices()]


def test_plugin_hears_device_events(install_plugin, make_registry):
    install_plugin("hetero-fakenpu", "fakenpu", GOOD)
    make_registry({})
    import hetero_fakenpu_plugin as plugin

    hetero.devices()
    assert ("added", "cpu:0") in [(k, i) for k, i, _ in plugin.EVENTS]  # the first scan
    plugin.EVENTS.clear()
    dev = hetero.sim.attach("a100")
    hetero.sim.detach(dev)
    assert [(k, i) for k, i, _ in plugin.EVENTS] == [("added", dev.id), ("removed", dev.id)]
    assert plugin.EVENTS[1][2] == plugin.EVENTS[0][2] + 1


@pytest.mark.parametrize("source, stage, words", [
    (RAISES_ON_IMPORT, "import", ["RuntimeError", "broken on purpose"]),
    (WRONG_API, "api-version", ["99", str(PLUGIN_API_VERSION)]),
    (NO_API, "api-version", ["does not declare HETERO_PLUGIN_API"]),
    (BAD_HOOK, "register", ["hetero_backendz"]),
])
def test_broken_plugin_is_an_error_row_and_cpu_still_works(
        install_plugin, make_registry, source, stage, words):
    install_plugin("hetero-broken", "broken", source)
    reg = make_registry({})
    errors = errors_by_plugin(reg)
    assert errors["broken"].stage == stage
    for word in words:
        assert word in str(errors["broken"]), str(errors["broken"])
    cpu = hetero.device("cpu")
    assert cpu.id == "cpu:0"
    assert hetero.asarray([1.0, 2.0], device=cpu).numpy().sum() == 3.0


def test_wrong_api_message_names_both_versions(install_plugin, make_registry):
    install_plugin("hetero-wrongapi", "wrongapi", WRONG_API)
    reg = make_registry({})
    message = str(errors_by_plugin(reg)["wrongapi"])
    assert "targets hetero plugin API 99" in message
    assert f"provides plugin API {PLUGIN_API_VERSION}" in message


def test_discovery_failure_is_isolated(install_plugin, make_registry):
    install_plugin("hetero-flaky", "flaky", RAISES_IN_DISCOVERY)
    reg = make_registry({})
    assert "cpu:0" in [d.id for d in reg.devices()]
    status = {s.name: s for s in hetero.backend_status()}
    assert status["flaky"].state == "error" and "bus fell over" in status["flaky"].detail
    assert errors_by_plugin(reg)["flaky"].stage == "discover"


def test_a_raising_event_listener_plugin_does_not_undo_the_change(install_plugin, make_registry):
    install_plugin("hetero-flaky", "flaky", RAISES_IN_DISCOVERY)
    reg = make_registry({})
    dev = hetero.sim.attach("coral-usb-edgetpu")
    assert dev in reg.devices()
    assert any(e.stage == "hetero_device_event" and "listener broke" in e.detail
               for e in reg.errors())


def test_autoload_off_loads_only_builtins(install_plugin, make_registry):
    install_plugin("hetero-fakenpu", "fakenpu", GOOD)
    reg = make_registry({"HETERO_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert "fakenpu:0" not in [d.id for d in reg.devices()]
    assert {s.name for s in hetero.backend_status()} >= {"cpu", "sim"}


def test_hetero_backends_limits_and_orders(install_plugin, make_registry):
    install_plugin("hetero-fakenpu", "fakenpu", GOOD)
    reg = make_registry({"HETERO_BACKENDS": "fakenpu,cpu"})
    assert [d.id for d in reg.devices()] == ["fakenpu:0", "cpu:0"]
    assert list(reg.backends()) == ["fakenpu", "cpu"]


def test_hetero_backends_failure_of_a_named_backend_is_loud(install_plugin, make_registry):
    install_plugin("hetero-flaky", "flaky", RAISES_IN_DISCOVERY)
    make_registry({"HETERO_BACKENDS": "cpu,flaky"})
    with pytest.raises(PluginError, match="bus fell over"):
        hetero.devices()


def test_hetero_backends_naming_a_broken_import_is_loud(install_plugin, make_registry):
    install_plugin("hetero-broken", "broken", RAISES_ON_IMPORT)
    make_registry({"HETERO_BACKENDS": "broken"})
    with pytest.raises(PluginError, match="broken on purpose"):
        hetero.devices()


def test_hetero_backends_naming_an_unknown_backend_is_loud(make_registry):
    make_registry({"HETERO_BACKENDS": "cpu,nosuch"})
    with pytest.raises(PluginError, match="no plugin provides it.*cpu"):
        hetero.device("cpu")


def test_unnamed_failures_stay_quiet_with_hetero_backends(install_plugin, make_registry):
    install_plugin("hetero-flaky", "flaky", RAISES_IN_DISCOVERY)
    reg = make_registry({"HETERO_BACKENDS": "cpu"})
    assert [d.id for d in reg.devices()] == ["cpu:0"]


def test_api_version_of_the_wrong_type_is_explained(install_plugin, make_registry):
    declares_a_string = NO_API.replace("import hetero", "import hetero\nHETERO_PLUGIN_API = '1'")
    install_plugin("hetero-strapi", "strapi", declares_a_string)
    reg = make_registry({})
    assert "must be the integer 1" in str(errors_by_plugin(reg)["strapi"])


def test_an_entry_point_name_clash_is_reported(install_plugin, make_registry):
    install_plugin("hetero-impostor", "cpu", GOOD)
    reg = make_registry({})
    assert any("already used by another plugin" in e.detail for e in reg.errors())
    assert hetero.device("cpu").backend == "cpu"


def test_a_named_backend_filtered_by_autoload_says_so(install_plugin, make_registry):
    install_plugin("hetero-fakenpu", "fakenpu", GOOD)
    make_registry({"HETERO_BACKENDS": "fakenpu", "HETERO_DISABLE_PLUGIN_AUTOLOAD": "1"})
    with pytest.raises(PluginError, match="was not found.*AUTOLOAD is on"):
        hetero.devices()


def test_duplicate_backend_name_is_refused(install_plugin, make_registry):
    install_plugin("hetero-dup", "dup", GOOD.replace('name = "fakenpu"', 'name = "cpu"'))
    reg = make_registry({})
    assert any(e.plugin == "dup" and "'cpu' is taken" in e.detail for e in reg.errors())
    assert hetero.device("cpu").backend == "cpu"


def test_cli_shows_plugin_errors_as_rows(install_plugin):
    site = install_plugin("hetero-broken", "broken", RAISES_ON_IMPORT)
    env = {**os.environ, "COLUMNS": "400",
           "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "hetero.cli", "devices", "--json"], env=env,
                         capture_output=True, text=True, check=True).stdout
    listing = json.loads(out)
    assert "cpu:0" in [d["id"] for d in listing["devices"]]
    broken = [e for e in listing["errors"] if e["plugin"] == "broken"]
    assert broken and broken[0]["stage"] == "import"
    table = subprocess.run([sys.executable, "-m", "hetero.cli", "devices"], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert "broken on purpose" in table and "cpu:0" in table


def test_a_pip_installed_plugin_package_is_loaded(tmp_path):
    """The whole path a third party takes: a package with an entry point, installed by pip."""
    project = tmp_path / "hetero-pipdemo"
    (project / "hetero_pipdemo").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "hetero-pipdemo"\nversion = "1.0"\n'
        '[project.entry-points.hetero]\npipdemo = "hetero_pipdemo"\n'
        '[tool.setuptools]\npackages = ["hetero_pipdemo"]\n')
    source = GOOD.replace('"fakenpu', '"pipdemo').replace("fake-npu", "pipdemo-npu")
    (project / "hetero_pipdemo" / "__init__.py").write_text(source)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(target),
                    str(project)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-m", "hetero.cli", "devices", "--json"], env=env,
                         capture_output=True, text=True, check=True).stdout
    listing = json.loads(out)
    assert "pipdemo:0" in [d["id"] for d in listing["devices"]]
    assert listing["errors"] == []


def test_a_named_backend_that_recovers_is_no_longer_loud(install_plugin, make_registry):
    install_plugin("hetero-flaky", "flaky", RAISES_IN_DISCOVERY)
    reg = make_registry({"HETERO_BACKENDS": "cpu,flaky"})
    with pytest.raises(PluginError, match="bus fell over"):
        hetero.devices()
    flaky = reg.backends()["flaky"]
    flaky.discover = lambda: []  # the bus came back
    reg.rescan()
    assert [d.id for d in hetero.devices()] == ["cpu:0"]

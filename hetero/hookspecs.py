"""The hetero plugin API: every hook a plugin may implement, documented where it is declared.

A plugin is a module (or object) registered under the ``hetero`` entry-point group::

    # pyproject.toml of a third-party package
    [project.entry-points.hetero]
    mynpu = "mynpu_hetero.plugin"

    # mynpu_hetero/plugin.py
    import hetero

    HETERO_PLUGIN_API = 1          # the plugin-API version this plugin targets (required)

    @hetero.hookimpl
    def hetero_backends():
        return [MyNpuBackend()]

hetero refuses a plugin whose ``HETERO_PLUGIN_API`` differs from :data:`PLUGIN_API_VERSION`, naming
both versions. A plugin that raises while importing, registering or discovering is isolated: its
failure becomes a row in ``hetero devices`` and in ``hetero.plugin_errors()``, and the other
backends go on working; ``sys.exit()`` and any other ``BaseException`` count the same (only
``KeyboardInterrupt`` goes on up). A hook returning the wrong type (``hetero_profiles`` returning a
string, say) is a plugin error naming the plugin and hook, and its wrong entries are skipped.
Discovery has a deadline (``HETERO_DISCOVERY_TIMEOUT_S``, default 10 s); see docs/plugins.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from hetero.backend import Backend
    from hetero.catalogue import LinkProfile
    from hetero.cost import Estimate
    from hetero.device import Device, DeviceProfile
    from hetero.discovery import DeviceEvent
    from hetero.graph.ir import Graph, Node
    from hetero.queue import Work

PROJECT = "hetero"
#: The plugin-API version this hetero provides. Bumped only on incompatible hook changes.
PLUGIN_API_VERSION = 1

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def hetero_backends() -> list[Backend]:
    """Return the backends this plugin provides (instances of :class:`hetero.backend.Backend`).

    Called once per registry scan. Keep it cheap and free of hardware access: probing belongs in
    ``Backend.discover``, which hetero calls later inside its own error isolation. Backend names
    must be unique across all plugins; ``HETERO_BACKENDS`` selects and orders them by name.
    """


@hookspec
def hetero_profiles() -> list[DeviceProfile]:
    """Return hardware profiles to add to the catalogue (``hetero.profiles()``).

    The simulated backend can attach any catalogued profile and the cost model reads them. Every
    figure should carry its source in ``DeviceProfile.sources`` ("datasheet: …", "measured: …",
    "estimate: …"). A name already in the catalogue is refused as a plugin error.
    """


@hookspec
def hetero_links() -> list[LinkProfile]:
    """Return interconnect presets (bandwidth, latency, energy per byte) to add to the catalogue.

    ``hetero.sim.attach(profile, link=NAME)`` accepts any catalogued link name.
    """


@hookspec
def hetero_device_event(event: DeviceEvent) -> None:
    """Be told that a device was added or removed (hot-plug, rescan, simulated attach/detach).

    ``event.kind`` is "added" or "removed", ``event.device`` the device and ``event.generation``
    the registry's generation counter after the change. Called synchronously after the registry
    has changed; exceptions are reported as plugin errors and never undo the change.
    """


@hookspec
def hetero_tvm_targets() -> list[Any]:
    """Return the accelerators (NPUs) TVM compiles for that this package adds: a list of
    ``hetero.backends.tvm.targets.TVMTarget`` (name, kind, JSON target, the prefix of the
    TVM pattern table that says which ops it takes, its BYOC codegen, a profile for planning).

    The tvm backend lists a device ``tvm:<name>:0`` for each target this TVM build can
    compile for; one it cannot (codegen or patterns missing) is a plugin error saying why.
    Nodes whose every op the patterns match run there, compiled as subgraphs.
    """


@hookspec(firstresult=True)
def hetero_estimate(node: Node, graph: Graph, device: Device, work: Work) -> Estimate | None:
    """Return a :class:`hetero.cost.Estimate` for running ``node`` on ``device``, or None to
    leave it to hetero's cost model (measured history, else the profile's roofline).

    ``work`` holds the flops and bytes hetero derived for the node. The first plugin (in
    registration order) that returns an estimate wins; its ``source`` must say "measured: …"
    or "modeled: …", and it is shown as given in plans. A plugin that raises or returns
    something else is reported as a plugin error and ignored for that node.
    """

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
backends go on working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from hetero.backend import Backend
    from hetero.catalogue import LinkProfile
    from hetero.device import DeviceProfile
    from hetero.discovery import DeviceEvent

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

"""Loading plugins of the ``hetero`` entry-point group, with version checks and isolation."""

from __future__ import annotations

import os
import reprlib
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from hetero import hookspecs
from hetero.errors import PluginError
from hetero.hookspecs import PLUGIN_API_VERSION, PROJECT

#: The distribution whose entry points count as built-in.
BUILTIN_DISTRIBUTION = "hetero"
#: Built-in backends load (and so list and select) in this order; third-party plugins follow.
BUILTIN_ORDER = ("cpu", "cuda", "opencl", "tvm", "sim")
#: The module attribute in which a plugin states the plugin-API version it targets.
API_ATTRIBUTE = "HETERO_PLUGIN_API"
#: How many distinct plugin failures the error log keeps (the most recent).
ERROR_LOG_LIMIT = 100


def describe_exception(exc: BaseException) -> str:
    """One line naming the exception and the innermost frame that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def contain(call: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    """(result, None), or (None, what plugin code raised): SystemExit, GeneratorExit and any
    exception must not end the program; only KeyboardInterrupt (a person's Ctrl-C) goes on up."""
    try:
        return call(), None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a plugin's sys.exit() is its failure, not ours
        return None, exc


def wrong_result(plugin: str, hook: str, found: Any, expect: type,
                 what: str = "") -> PluginError:
    """The error for a hook result of the wrong type, saying what the hook must return."""
    return PluginError(
        plugin, hook, f"returned {what}{reprlib.repr(found)} ({type(found).__name__}); {hook} must "
        f"return a list of {expect.__module__}.{expect.__name__} (see hetero/hookspecs.py)")


class ErrorLog:
    """The plugin failures met so far, each (plugin, stage, detail) once with a ``count``.

    A hook that fails on every call (each device event, each node of each compile) would
    otherwise grow the log without bound; only the ``limit`` most recent distinct ones stay.
    """

    def __init__(self, limit: int = ERROR_LOG_LIMIT):
        self.limit = limit
        self._entries: OrderedDict[tuple[str, str, str], PluginError] = OrderedDict()
        self._lock = threading.Lock()  # discovery threads and compiles record concurrently

    def append(self, error: PluginError) -> None:
        key = (error.plugin, error.stage, error.detail)
        with self._lock:
            known = self._entries.pop(key, None)
            if known is not None:
                known.count += 1
                error = known
            self._entries[key] = error
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)

    def discard(self, plugin: str, stages: tuple[str, ...]) -> None:
        """Forget a plugin's failures of these stages (a rescan reports them afresh)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == plugin and k[1] in stages]:
                del self._entries[key]

    def __iter__(self) -> Iterator[PluginError]:
        with self._lock:
            return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> PluginError:
        return list(self)[index]

    def __repr__(self) -> str:
        return f"ErrorLog({list(self)!r})"


def autoload_disabled(env: Mapping[str, str]) -> bool:
    return env.get("HETERO_DISABLE_PLUGIN_AUTOLOAD", "").strip().lower() in {"1", "true", "yes"}


def is_builtin(ep: EntryPoint) -> bool:
    dist = getattr(ep, "dist", None)
    return dist is not None and dist.name == BUILTIN_DISTRIBUTION


def load_order(ep: EntryPoint) -> tuple[int, int, str]:
    """Built-ins first in BUILTIN_ORDER, then third-party plugins by name: deterministic."""
    if is_builtin(ep):
        rank = BUILTIN_ORDER.index(ep.name) if ep.name in BUILTIN_ORDER else len(BUILTIN_ORDER)
        return (0, rank, ep.name)
    return (1, 0, ep.name)


def api_version_error(name: str, plugin: Any) -> PluginError | None:
    """The refusal for a plugin that targets another plugin-API version, or None if it fits."""
    declared = getattr(plugin, API_ATTRIBUTE, None)
    if declared is None:
        return PluginError(
            name, "api-version",
            f"it does not declare {API_ATTRIBUTE}; add `{API_ATTRIBUTE} = {PLUGIN_API_VERSION}` "
            f"to the plugin module (this hetero provides plugin API {PLUGIN_API_VERSION})")
    if not isinstance(declared, int) or isinstance(declared, bool):
        return PluginError(
            name, "api-version",
            f"its {API_ATTRIBUTE} is {declared!r} ({type(declared).__name__}); it must be the "
            f"integer {PLUGIN_API_VERSION}")
    if declared != PLUGIN_API_VERSION:
        return PluginError(
            name, "api-version",
            f"it targets hetero plugin API {declared}, but this hetero provides plugin API "
            f"{PLUGIN_API_VERSION}; install a version of the plugin built for API "
            f"{PLUGIN_API_VERSION}, or a hetero that provides API {declared}")
    return None


@dataclass
class PluginSet:
    """The registered plugins and every failure met while loading or calling them."""

    manager: pluggy.PluginManager
    errors: ErrorLog = field(default_factory=ErrorLog)

    def register(self, name: str, plugin: Any) -> None:
        """Register one plugin object after checking its API version; failures become errors."""
        refusal = api_version_error(name, plugin)
        if refusal is not None:
            self.errors.append(refusal)
            return
        if self.manager.has_plugin(name):
            self.errors.append(PluginError(name, "register", "another plugin has this name"))
            return
        # pluggy validation (a signature that does not fit its spec), or the plugin's own code
        _, exc = contain(lambda: self.manager.register(plugin, name=name))
        if exc is not None:
            self.errors.append(PluginError(name, "register", describe_exception(exc)))
            return
        unknown = [c.name for c in self.manager.get_hookcallers(plugin) or [] if c.spec is None]
        if unknown:
            self.manager.unregister(plugin)
            known = ", ".join(n for n in dir(hookspecs) if n.startswith("hetero_"))
            self.errors.append(PluginError(
                name, "register", f"implements unknown hook(s) {', '.join(unknown)}; the "
                f"hooks of plugin API {PLUGIN_API_VERSION} are: {known}"))

    def call_each(self, hook: str, expect: type | None = None,
                  **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """Call one hook on every plugin separately, so one failing plugin spoils nothing else.

        Yields (plugin name, result) in registration order. An implementation that raises
        (SystemExit included), or, given ``expect``, returns anything but a list of ``expect``
        instances, is recorded in ``errors`` with stage = the hook name; its wrong entries
        are skipped, its right ones still yielded.
        """
        caller = getattr(self.manager.hook, hook)
        for impl in caller.get_hookimpls():  # registration order
            args = {a: kwargs[a] for a in impl.argnames}
            result, exc = contain(lambda impl=impl, args=args: impl.function(**args))
            if exc is not None:
                self.errors.append(PluginError(impl.plugin_name, hook, describe_exception(exc)))
                continue
            if result is not None and expect is not None:
                result = self.checked(impl.plugin_name, hook, result, expect)
            if result is not None:
                yield impl.plugin_name, result

    def checked(self, plugin: str, hook: str, found: Any, expect: type) -> list | None:
        """The ``expect`` instances of a list result; anything else is recorded and dropped."""
        if not isinstance(found, list | tuple):
            self.errors.append(wrong_result(plugin, hook, found, expect))
            return None
        for entry in found:
            if not isinstance(entry, expect):
                self.errors.append(wrong_result(plugin, hook, entry, expect, "a list holding "))
        return [entry for entry in found if isinstance(entry, expect)]


def new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def load_plugins(
    env: Mapping[str, str] | None = None,
    discover: Callable[[], Iterator[EntryPoint]] | None = None,
) -> PluginSet:
    """Load every plugin of the ``hetero`` entry-point group (built-ins only when autoload is off).

    An import failure or a wrong API version is recorded, never raised: ``import hetero`` and the
    other backends must keep working whatever a third-party package does.
    """
    env = os.environ if env is None else env
    plugins = PluginSet(new_manager())
    builtin_only = autoload_disabled(env)
    seen: set[str] = set()
    found = (discover or (lambda: iter(entry_points(group=PROJECT))))()
    for ep in sorted(found, key=load_order):
        if builtin_only and not is_builtin(ep):
            continue
        if ep.name in seen:
            dist = getattr(getattr(ep, "dist", None), "name", "?")
            plugins.errors.append(PluginError(
                ep.name, "import", f"entry-point name {ep.name!r} of distribution {dist!r} is "
                "already used by another plugin; rename the entry point"))
            continue
        seen.add(ep.name)
        module, exc = contain(ep.load)  # a plugin's sys.exit() at import ends nothing
        if exc is not None:
            plugins.errors.append(PluginError(ep.name, "import", describe_exception(exc)))
            continue
        plugins.register(ep.name, module)
    if not seen:
        plugins.errors.append(PluginError(
            PROJECT, "import",
            "no entry points in group 'hetero': hetero's own metadata is missing; install it "
            "with `pip install -e .` from the checkout"))
    return plugins

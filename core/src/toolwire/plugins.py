"""Plugin discovery (stevedore, entry-point group `toolwire`) and registration (pluggy).

Each loaded entry point is registered with the `PluginManager` under its entry-point name. A plugin
that fails to import is recorded and skipped. `TOOLWIRE_DISABLE_PLUGIN_AUTOLOAD=1` turns entry-point
discovery off; `TOOLWIRE_PLUGINS=a,b` loads only the named entry points (even when autoload is off).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import pluggy

from toolwire import hookspecs
from toolwire.hookspecs import ExecutorSpec, FormatSpec, LoaderSpec, ServerSpec

__all__ = ["PluginConflictError", "PluginInfo", "Plugins", "UnknownPluginError"]

GROUP = "toolwire"
_TRUE = {"1", "true", "yes", "on"}
_Spec = TypeVar("_Spec", LoaderSpec, ExecutorSpec, FormatSpec, ServerSpec)


class PluginConflictError(RuntimeError):
    """Two plugins offer the same loader, executor, format or server name."""


OUR_DISTRIBUTIONS = {
    ("loader", "native"): "toolwire-native", ("loader", "openapi"): "toolwire-openapi",
    ("loader", "mcp"): "toolwire-mcp", ("executor", "thread"): "toolwire-thread",
    ("executor", "process"): "toolwire-process", ("executor", "dask"): "toolwire-dask",
    ("server", "mcp"): "toolwire-mcp", ("server", "http"): "toolwire-openapi[serve]",
}
"""Which of toolwire's distributions offers each of its own loaders, backends and servers (install hints)."""


class UnknownPluginError(LookupError):
    """No installed plugin offers the loader, executor, format or server asked for."""


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One plugin: its entry-point name, distribution and version, or why it failed to load."""

    name: str
    distribution: str | None = None
    version: str | None = None
    error: str | None = None


class Plugins:
    """The plugins one registry uses: a pluggy `PluginManager` filled from entry points.

    `register(obj)` adds a plugin in-process (tests, applications); `loaders()`, `executors()`,
    `formats()` and `servers()` map names to the specs plugins offer.
    """

    def __init__(self, *, autoload: bool | None = None, builtins: Iterable[tuple[str, object]] = ()) -> None:
        self.manager = pluggy.PluginManager(GROUP)
        self.manager.add_hookspecs(hookspecs.ToolwireSpec)
        self._info: dict[str, PluginInfo] = {}
        self.failures: list[PluginInfo] = []
        self._cache: dict[str, dict[str, Any]] = {}
        for name, plugin in (*_core_plugins(), *builtins):
            self.register(plugin, name=name, distribution="toolwire-core")
        self._discover(autoload)
        self.manager.check_pending()

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (`plugins.hook.toolwire_loaders()`...)."""
        return self.manager.hook

    def register(self, plugin: object, name: str | None = None, *, distribution: str | None = None) -> str:
        """Register a plugin object or module in-process; returns the name it was registered under."""
        registered = self.manager.register(plugin, name=name)
        if registered is None:
            raise ValueError(f"plugin {name or plugin!r} is blocked")
        self._info[registered] = PluginInfo(registered, distribution, _version(distribution))
        self._cache.clear()
        return registered

    def unregister(self, name: str) -> None:
        """Remove the plugin registered under `name`."""
        self.manager.unregister(name=name)
        self._info.pop(name, None)
        self._cache.clear()

    def info(self) -> list[PluginInfo]:
        """Every registered plugin, then every one that failed to load."""
        return [*self._info.values(), *self.failures]

    def loaders(self) -> dict[str, LoaderSpec]:
        """Loader name -> spec, over every plugin."""
        return self._collect("toolwire_loaders", "loader")

    def executors(self) -> dict[str, ExecutorSpec]:
        """Executor name -> spec, over every plugin."""
        return self._collect("toolwire_executors", "executor")

    def formats(self) -> dict[str, FormatSpec]:
        """Format (dialect) name -> spec, over every plugin."""
        return self._collect("toolwire_formats", "format")

    def servers(self) -> dict[str, ServerSpec]:
        """Server (front end) name -> spec, over every plugin."""
        return self._collect("toolwire_servers", "server")

    def offered_by(self, plugin_name: str) -> dict[str, list[str]]:
        """What one plugin offers: {"loaders": [...], "executors": [...], "formats": [...], "servers": [...]}."""
        offered: dict[str, list[str]] = {}
        for kind, hook in (("loaders", "toolwire_loaders"), ("executors", "toolwire_executors"),
                           ("formats", "toolwire_formats"), ("servers", "toolwire_servers")):
            offered[kind] = sorted(
                spec.name for impl_name, spec in self._specs(hook) if impl_name == plugin_name
            )
        return offered

    def get(self, kind: str, name: str) -> Any:
        """The spec of loader/executor/format/server `name`, or `UnknownPluginError` listing what is installed."""
        tables: dict[str, Callable[[], Mapping[str, Any]]] = {
            "loader": self.loaders, "executor": self.executors, "format": self.formats, "server": self.servers}
        table = tables[kind]()
        try:
            return table[name]
        except KeyError:
            installed = ", ".join(sorted(table)) or "none"
            message = f"unknown {kind} '{name}'; installed: {installed}"
            distribution = OUR_DISTRIBUTIONS.get((kind, name))
            if distribution is not None:
                quoted = f"'{distribution}'" if "[" in distribution else distribution
                message += f" ('{name}' comes with {distribution}: pip install {quoted})"
            raise UnknownPluginError(message) from None

    def _specs(self, hook_name: str) -> Iterable[tuple[str, Any]]:
        hook = getattr(self.manager.hook, hook_name)
        for impl in reversed(hook.get_hookimpls()):  # registration order
            for spec in impl.function() or ():
                yield impl.plugin_name, spec

    def _collect(self, hook_name: str, kind: str) -> dict[str, Any]:
        if hook_name in self._cache:
            return self._cache[hook_name]
        found: dict[str, Any] = {}
        owner: dict[str, str] = {}
        for plugin_name, spec in self._specs(hook_name):
            if spec.name in found:
                raise PluginConflictError(
                    f"{kind} '{spec.name}' is offered by two plugins: {self._describe(owner[spec.name])}"
                    f" and {self._describe(plugin_name)}; uninstall one, or select plugins with"
                    " TOOLWIRE_PLUGINS"
                )
            found[spec.name] = spec
            owner[spec.name] = plugin_name
        self._cache[hook_name] = found
        return found

    def _describe(self, plugin_name: str) -> str:
        info = self._info.get(plugin_name)
        dist = info.distribution if info and info.distribution else "registered in-process"
        return f"'{plugin_name}' (distribution {dist})"

    def _discover(self, autoload: bool | None) -> None:
        if autoload is None:
            autoload = os.environ.get("TOOLWIRE_DISABLE_PLUGIN_AUTOLOAD", "").lower() not in _TRUE
        only = [n.strip() for n in os.environ.get("TOOLWIRE_PLUGINS", "").split(",") if n.strip()]
        if not autoload and not only:
            return
        from stevedore import ExtensionManager, NamedExtensionManager

        on_failure: Callable[..., None] = self._record_failure
        if only:
            manager: ExtensionManager = NamedExtensionManager(
                GROUP, names=only, on_load_failure_callback=on_failure, name_order=True
            )
        else:
            manager = ExtensionManager(GROUP, on_load_failure_callback=on_failure)
        for extension in manager:
            if extension.name in self._info:
                continue  # a built-in or in-process plugin already holds this name
            self.register(extension.plugin, name=extension.name)
            name, version = _distribution(extension.entry_point)
            self._info[extension.name] = PluginInfo(extension.name, name, version)

    def _record_failure(self, _manager: object, entry_point: Any, error: BaseException) -> None:
        name, version = _distribution(entry_point)
        self.failures.append(PluginInfo(entry_point.name, name, version, f"{type(error).__name__}: {error}"))


def _core_plugins() -> list[tuple[str, object]]:
    """The core's own plugins, registered in every `Plugins` exactly as third-party ones are."""
    from toolwire import _pipeline
    from toolwire.formats import _builtin as formats
    from toolwire.policies import approval, limits, ordering, questions, retries

    return [("toolwire.formats", formats), ("toolwire.pipeline", _pipeline), ("toolwire.ordering", ordering),
            ("toolwire.limits", limits), ("toolwire.retries", retries), ("toolwire.approval", approval),
            ("toolwire.questions", questions)]


def _version(distribution: str | None) -> str | None:
    try:
        return importlib.metadata.version(distribution) if distribution else None
    except importlib.metadata.PackageNotFoundError:
        return None


def _distribution(entry_point: Any) -> tuple[str | None, str | None]:
    """The distribution that declares `entry_point` (stevedore's cached entry points carry none)."""
    dist = getattr(entry_point, "dist", None)
    if dist is not None:
        return dist.name, dist.version
    return _declared_by(tuple(sys.path)).get((entry_point.name, entry_point.value), (None, None))


@functools.lru_cache(maxsize=8)
def _declared_by(path: tuple[str, ...]) -> dict[tuple[str, str], tuple[str, str]]:
    """(entry-point name, target) -> (distribution, version), for the `toolwire` group on this path."""
    return {
        (ep.name, ep.value): (ep.dist.name, ep.dist.version)
        for ep in importlib.metadata.entry_points(group=GROUP)
        if ep.dist is not None
    }

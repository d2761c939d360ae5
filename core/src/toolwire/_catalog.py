"""The catalog: a registry's tools by name, the sources they were loaded from, and who hears of changes."""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from toolwire._json_ready import valid_text, valid_texts
from toolwire._sources import LoadedSource, ToolChanges, differs
from toolwire._validation import SchemaValidator
from toolwire.names import hashed_name, safe_name
from toolwire.tools import Tool

__all__ = ["Catalog", "selected"]

log = logging.getLogger("toolwire")


class Catalog:
    """Tools by name (namespaced on the way in), their sources, and change callbacks."""

    def __init__(self, separator: str) -> None:
        self.separator = separator
        self.tools: dict[str, Tool] = {}
        self.sources: list[LoadedSource] = []
        self.version = 0
        """Counts changes to the tools, so that what is derived from them can be rebuilt."""
        self._callbacks: list[Callable[[ToolChanges], None]] = []
        self._lock = threading.Lock()

    def add(self, tools: Iterable[Tool], *, namespace: str | None, tags: frozenset[str], replace: bool) -> list[Tool]:
        """Add tools, namespaced and tagged; a name already taken is an error unless `replace`."""
        added = self.named_apart(tools, namespace, tags)
        taken = [] if replace else [tool.name for tool in added if tool.name in self.tools]
        if taken:
            clash = sorted(taken)[0]
            hint = "" if namespace else " (or give these tools a namespace=, which prefixes their names)"
            raise ValueError(f"a tool named '{clash}' is already registered; pass replace=True to replace it{hint}")
        for tool in added:
            self.tools[tool.name] = tool
        self.version += 1
        return added

    def named_apart(self, tools: Iterable[Tool], namespace: str | None, tags: frozenset[str]) -> list[Tool]:
        """`tools` namespaced and tagged, each with a name of its own: two whose names became one when made valid
        for every provider (`a.b`, `a b`) are told apart by a hash of the original; two with the very same name
        are an error."""
        kept: dict[str, str] = {}  # the name given -> the name it was made from
        named: list[Tool] = []
        for tool in tools:
            wanted = self._wanted(tool, namespace)
            made = self.namespaced(tool, namespace, tags)
            first = kept.get(made.name)
            if first == wanted:
                raise ValueError(f"two tools named '{wanted}' were given together (from {tool.source.loader} "
                                 f"{tool.source.detail}); give each its own name")
            if first is not None:
                made = replace(made, name=hashed_name(wanted))
            kept[made.name] = wanted
            named.append(made)
        return named

    def namespaced(self, tool: Tool, namespace: str | None, tags: frozenset[str]) -> Tool:
        name = safe_name(self._wanted(tool, namespace))
        tool = _readable(tool)
        validator = tool.validator or SchemaValidator(tool.parameters)
        return replace(tool, name=name, namespace=namespace or tool.namespace, tags=tool.tags | tags,
                       validator=validator)

    def _wanted(self, tool: Tool, namespace: str | None) -> str:
        """The tool's name in `namespace`, before it is made valid for every provider."""
        return f"{namespace}{self.separator}{tool.name}" if namespace else tool.name

    def remove(self, names: Iterable[str]) -> None:
        for name in names:
            del self.tools[name]
        self.version += 1

    def select(self, name: str | None, namespace: str | None, tag: str | None) -> list[Tool]:
        """The tools with `name`, in `namespace`, with `tag` (at least one given)."""
        if name is None and namespace is None and tag is None:
            raise TypeError("name, namespace or tag is required")
        if name is not None and name not in self.tools:
            raise KeyError(f"no tool named '{name}'")
        return [
            tool for tool in self.tools.values()
            if (name is None or tool.name == name)
            and (namespace is None or tool.namespace == namespace)
            and (tag is None or tag in tool.tags)
        ]

    def set_enabled(self, tools: Iterable[Tool], enabled: bool) -> None:
        for tool in tools:
            tool.enabled = enabled
        self.version += 1

    def get(self, name: str) -> Tool:
        try:
            return self.tools[name]
        except KeyError:
            raise KeyError(f"no tool named '{name}'") from None

    def listed(self, enabled: bool | None) -> list[Tool]:
        return [t for _, t in sorted(self.tools.items()) if enabled is None or t.enabled is enabled]

    # -- sources that list their tools again ---------------------------------------------------------

    def track(self, loaded: LoadedSource) -> None:
        """Remember a loaded source; one that announces changes (MCP's tools/list_changed) is subscribed."""
        self.sources.append(loaded)
        subscribe = getattr(loaded.loader, "subscribe", None)
        if subscribe is not None:
            loaded.unsubscribe = subscribe(lambda listed: self.replace_tools(loaded, listed, announced=True))

    def refresh(self) -> ToolChanges:
        changes = ToolChanges()
        for loaded in list(self.sources):
            refresh = getattr(loaded.loader, "refresh", None)
            if refresh is not None:
                changes += self.replace_tools(loaded, refresh(), announced=False)
        self.announce(changes)
        return changes

    def on_changed(self, callback: Callable[[ToolChanges], None]) -> Callable[[], None]:
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    def replace_tools(self, loaded: LoadedSource, listed: Iterable[Tool], *, announced: bool) -> ToolChanges:
        with self._lock:
            fresh = {tool.name: tool for tool in self.named_apart(
                (t for t in listed if selected(t.name, loaded.include, loaded.exclude)), loaded.namespace, loaded.tags)}
            previous = {name for name in loaded.names if name in self.tools}  # minus any unregistered since
            taken = {name for name in fresh if name not in previous and name in self.tools}
            if taken:
                log.warning("tools %s from %s not added: the names are taken", sorted(taken), loaded.loader)
            changes = ToolChanges(
                added=tuple(sorted(name for name in fresh if name not in previous and name not in taken)),
                removed=tuple(sorted(previous - set(fresh))),
                changed=tuple(sorted(n for n in fresh if n in previous and differs(self.tools[n], fresh[n]))),
            )
            for name in changes.removed:
                self.tools.pop(name, None)
            for name in (*changes.added, *changes.changed):
                if name in previous:
                    fresh[name].enabled = self.tools[name].enabled
                self.tools[name] = fresh[name]
            loaded.names = [name for name in fresh if name not in taken]
            self.version += 1
        if announced:
            self.announce(changes)
        return changes

    def announce(self, changes: ToolChanges) -> None:
        if changes:
            log.info("tools changed: %s", changes)
            for callback in list(self._callbacks):
                try:
                    callback(changes)
                except Exception:  # the change is made; the other callbacks (a server's clients) still hear it
                    log.exception("a callback of on_tools_changed failed; the others go on")

    def close(self) -> None:
        """Unsubscribe from and close every source."""
        sources, self.sources = self.sources, []
        for loaded in sources:
            if loaded.unsubscribe is not None:
                loaded.unsubscribe()
            close = getattr(loaded.loader, "close", None)
            if close is not None:
                close()


def _readable(tool: Tool) -> Tool:
    """`tool` with what would fail every request listing it (with every other tool) mended: lone surrogates in
    its description and schemas (a spec's or a server's broken `\\ud800` escape) become U+FFFD, and numbers
    JSON has not (a parameter defaulting to `math.inf`) are left out of its schemas."""
    try:
        json.dumps((tool.description, tool.parameters, tool.output_schema), ensure_ascii=False, allow_nan=False,
                   default=repr).encode()
    except (ValueError, TypeError, RecursionError):  # UnicodeEncodeError (a lone surrogate), a number JSON has not
        return replace(tool, description=valid_text(tool.description), parameters=_finite(valid_texts(tool.parameters)),
                       output_schema=_finite(valid_texts(tool.output_schema)))
    return tool


def _finite(value: Any) -> Any:
    """JSON data `value` without the infinities and NaNs in it (the keys or items that hold them left out)."""
    if isinstance(value, dict):
        return {key: _finite(inner) for key, inner in value.items() if not _infinite(inner)}
    if isinstance(value, list):
        return [_finite(inner) for inner in value if not _infinite(inner)]
    return value


def _infinite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def selected(name: str, include: str | Iterable[str] | None, exclude: str | Iterable[str] | None) -> bool:
    """Whether `name` passes the `include` and `exclude` glob patterns."""
    def matches(patterns: str | Iterable[str]) -> bool:
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)

    return (include is None or matches(include)) and (exclude is None or not matches(exclude))

"""What the registry remembers of each `load()`, so that it can list a source's tools again."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from toolwire.tools import Tool

__all__ = ["LoadedSource", "ToolChanges"]


@dataclass(frozen=True, slots=True)
class ToolChanges:
    """The tool names a refresh added, removed and changed."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def __add__(self, other: ToolChanges) -> ToolChanges:
        return ToolChanges(self.added + other.added, self.removed + other.removed, self.changed + other.changed)


@dataclass(slots=True)
class LoadedSource:
    """One `load()` call: the loader instance, the options the registry applied, the names it gave."""

    loader: Any
    namespace: str | None
    include: str | Iterable[str] | None
    exclude: str | Iterable[str] | None
    tags: frozenset[str]
    names: list[str]
    unsubscribe: Callable[[], None] | None = field(default=None, repr=False)


def differs(old: Tool, new: Tool) -> bool:
    """Whether the model would see a different tool."""
    return (old.description, old.parameters, old.output_schema, old.annotations) != (
        new.description, new.parameters, new.output_schema, new.annotations
    )

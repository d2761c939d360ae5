"""Which operations become tools: the loader's filters (globs on operationId and path, tags, methods)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, fields

__all__ = ["METHODS", "Selection"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_OPTION_NAMES = {"tags": "only_tags"}


@dataclass(frozen=True, slots=True)
class Selection:
    """Which operations become tools: globs on operationId and path, tags, methods (None = all)."""

    operations: tuple[str, ...] | None = None
    exclude_operations: tuple[str, ...] = ()
    tags: tuple[str, ...] | None = None
    exclude_tags: tuple[str, ...] = ()
    paths: tuple[str, ...] | None = None
    exclude_paths: tuple[str, ...] = ()
    methods: tuple[str, ...] | None = None

    def accepts(self, operation_id: str, tags: Iterable[str], path: str, method: str) -> bool:
        """Whether the operation passes every filter."""
        tags = list(tags)
        return (
            _matches(operation_id, self.operations, True) and not _matches(operation_id, self.exclude_operations)
            and (self.tags is None or any(tag in self.tags for tag in tags))
            and not any(tag in self.exclude_tags for tag in tags)
            and _matches(path, self.paths, True) and not _matches(path, self.exclude_paths)
            and (self.methods is None or method in self.methods)
        )

    def options(self) -> str:
        """The filters given, as the loader's options (`only_tags=['orders'], methods=['get']`); "" for none."""
        given = [(f.name, getattr(self, f.name)) for f in fields(self)]
        return ", ".join(f"{_OPTION_NAMES.get(name, name)}={list(value)!r}" for name, value in given if value)


def _matches(value: str, patterns: tuple[str, ...] | None, default: bool = False) -> bool:
    if patterns is None:
        return default
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)

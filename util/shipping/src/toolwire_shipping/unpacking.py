"""The worker's side: invokers loaded once per content key (pickle, or dill when shipped so).

Kept apart from `packing` so that a worker starts with no import beyond the standard library: dill is
imported only for a tool that was shipped with it.
"""

from __future__ import annotations

import sys
from _pickle import loads  # C pickle: no `pickle.py` (re, functools) in workers

__all__ = ["ToolCache", "ToolLoadError", "load_modules"]

TYPE_CHECKING = False  # the worker imports this module: it starts faster without typing
if TYPE_CHECKING:
    from typing import Any


class ToolLoadError(LookupError):
    """A worker could not load a shipped tool (its message says which and why)."""


class ToolCache:
    """Worker side: invokers by content key, each loaded once; a load failure is kept as that key's error."""

    def __init__(self) -> None:
        self._tools: dict[str, tuple[Any, bool]] = {}
        self._errors: dict[str, str] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._tools or key in self._errors

    def load(self, key: str, name: str, payload: bytes, is_async: bool, modules: tuple[tuple[str, str], ...],
             dilled: bool) -> None:
        """Load a shipped invoker from its fields (`ShippedTool.fields()`: plain values, no class to import)
        and keep it under its key."""
        try:
            load_modules(modules)
            if dilled:
                import dill

                invoker = dill.loads(payload)
            else:
                invoker = loads(payload)
        except Exception as exc:
            self._errors[key] = (f"the tool '{name}' could not be loaded in the worker process: "
                                 f"{type(exc).__name__}: {exc}")
            return
        self._tools[key] = (invoker, is_async)

    def get(self, key: str) -> tuple[Any, bool]:
        """`(invoker, is_async)` for `key`; raises `ToolLoadError` if it failed to load."""
        try:
            return self._tools[key]
        except KeyError:
            raise ToolLoadError(self._errors.get(key, f"no tool with key {key} was sent here")) from None


def load_modules(modules: tuple[tuple[str, str], ...]) -> None:
    """Import each `(name, file path)` not imported yet, from its file."""
    if not modules:
        return
    import importlib.util
    import types

    for name, path in modules:
        if name in sys.modules:
            continue
        parent = name.rpartition(".")[0]
        while parent and parent not in sys.modules:
            package = types.ModuleType(parent)
            package.__path__ = []
            sys.modules[parent] = package
            parent = parent.rpartition(".")[0]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load module {name!r} from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise

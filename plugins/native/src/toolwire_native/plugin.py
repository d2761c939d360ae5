"""The `native` loader plugin: Python functions, classes, instances and modules as tools.

Kept light: the loader (pydantic, docstring-parser) is imported by the factory, on first use.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import os
import types
from collections.abc import Mapping
from typing import Any

from toolwire import LoaderSpec, Tool, hookimpl

_OWN_SOURCES = (types.ModuleType, functools.partial)
_OTHER_SOURCES = (str, bytes, bytearray, memoryview, numbers.Number, os.PathLike, Mapping, list, tuple,
                  set, frozenset, Tool, type(None))


def _native_loader(**options: Any) -> Any:
    from toolwire_native._loader import NativeLoader

    return NativeLoader(**options)


@hookimpl
def toolwire_loaders() -> list[LoaderSpec]:
    """Offer the `native` loader."""
    return [LoaderSpec("native", _native_loader, "Python functions, classes, instances and modules")]


@hookimpl(trylast=True)
def toolwire_detect_loader(source: Any) -> str | None:
    """Claim Python objects (functions, classes, modules, instances); leave strings, paths, data to others."""
    if inspect.isroutine(source) or inspect.isclass(source) or isinstance(source, _OWN_SOURCES):
        return "native"
    return None if isinstance(source, _OTHER_SOURCES) else "native"

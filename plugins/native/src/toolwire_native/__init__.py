"""toolwire-native: Python functions, async functions, classes, instances and modules as toolwire tools.

Installed, it is found through its entry point: `ToolRegistry.register(obj)` uses it. `NativeLoader` is
the loader itself, for building tools without a registry.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: process workers import this package, faster without typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["NativeLoader"]


def __getattr__(name: str) -> Any:  # imported lazily: plugin discovery imports this package
    if name == "NativeLoader":
        from toolwire_native._loader import NativeLoader

        return NativeLoader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""toolwire-dask: the `dask` backend, tool calls on a Dask distributed cluster.

`DaskExecutor` is importable from here; importing this package does not import dask, distributed or dill.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolwire_dask._executor import DaskExecutor

__all__ = ["DaskExecutor"]


def __getattr__(name: str) -> Any:
    if name == "DaskExecutor":
        from toolwire_dask._executor import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module 'toolwire_dask' has no attribute {name!r}")

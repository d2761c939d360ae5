"""toolwire-process: the `process` backend, warm isolated worker processes with tools shipped once.

`ProcessExecutor` is importable from here; importing this package does not import dill.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolwire_process._executor import ProcessExecutor

__all__ = ["ProcessExecutor"]


def __getattr__(name: str) -> Any:
    if name == "ProcessExecutor":
        from toolwire_process._executor import ProcessExecutor

        return ProcessExecutor
    raise AttributeError(f"module 'toolwire_process' has no attribute {name!r}")

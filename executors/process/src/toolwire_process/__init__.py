"""toolwire-process: the `process` backend, warm isolated worker processes with tools shipped once.

`ProcessExecutor` is importable from here; importing this package does not import dill.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: workers import this package and start faster without typing
if TYPE_CHECKING:
    from typing import Any

    from toolwire_process._executor import ProcessExecutor

__all__ = ["ProcessExecutor"]


def __getattr__(name: str) -> Any:
    if name == "ProcessExecutor":
        from toolwire_process._executor import ProcessExecutor

        return ProcessExecutor
    raise AttributeError(f"module 'toolwire_process' has no attribute {name!r}")

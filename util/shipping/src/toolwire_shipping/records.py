"""A call's outcome as workers send it back: plain values, so the parent needs no class to read them."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # workers import this module: it starts faster without typing
if TYPE_CHECKING:
    from typing import Any

Error = tuple[str, str]
"""A failed call's `(error kind, message)`."""

TIMEOUT: Error = ("timeout", "the call passed its deadline")


def error_record(exc: BaseException) -> Error:
    """`(kind, message)` for a tool's exception, as `toolwire.error_from_exception` says once toolwire is
    loaded in the worker (a tool that imported it may raise its `ToolCallError`); without importing it."""
    executing = sys.modules.get("toolwire.executing")
    if executing is not None:
        error = executing.error_from_exception(exc)
        return (str(error.kind), error.message)
    if isinstance(exc, TimeoutError):
        return ("timeout", str(exc) or "the call timed out")
    message = str(exc)
    return ("tool_error", f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def unsendable(value: Any, exc: BaseException, where: str) -> Error:
    """The error of a call whose return value cannot be pickled back to the parent."""
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    return ("tool_error", f"the tool's return value ({kind}) cannot be sent back from {where}: "
                          f"{type(exc).__name__}: {exc}")

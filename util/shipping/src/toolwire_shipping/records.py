"""A call's outcome, and the progress it reports, as workers send them back: plain values, so the parent
needs no class to read them."""

from __future__ import annotations

import sys

__all__ = ["error_record", "forward_progress", "task_cancelled", "unreadable", "unsendable"]

TYPE_CHECKING = False  # workers import this module: it starts faster without typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

Error = tuple[str, str] | tuple[str, str, float | None] | tuple[str, str, float | None, dict]
"""A failed call's `(error kind, message)`, then the seconds to wait before another attempt when the tool said,
then what the tool asks of the user for an `input_required` error (JSON data)."""

TIMEOUT: Error = ("timeout", "the call passed its deadline")


def error_record(exc: BaseException) -> Error:
    """`(kind, message)` for a tool's exception (with its `retry_after`, when set), as
    `toolwire.error_from_exception` says once toolwire is loaded in the worker (a tool that imported it may raise
    its `ToolCallError`); without importing it."""
    executing = sys.modules.get("toolwire.executing")
    if executing is not None:
        error = executing.error_from_exception(exc)
        if error.input_required is not None:
            return (str(error.kind), error.message, error.retry_after, dict(error.input_required))
        if error.retry_after is not None:
            return (str(error.kind), error.message, error.retry_after)
        return (str(error.kind), error.message)
    message = _message(exc)
    said = message.strip()
    if isinstance(exc, TimeoutError):
        return ("timeout", message if said else "the call timed out")
    return ("tool_error", f"{type(exc).__name__}: {message}" if said else type(exc).__name__)


def task_cancelled() -> bool:
    """`toolwire.executing.task_cancelled` for workers, which do not import toolwire: whether the running asyncio
    task is being cancelled (a `CancelledError` caught otherwise is the tool's own error)."""
    import asyncio

    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def unsendable(value: Any, exc: BaseException, where: str) -> Error:
    """The error of a call whose return value cannot be pickled back to the parent: for an iterator (a generator
    does not pickle) or an awaitable nobody awaited, alone or inside the value, where it is and what to return
    instead."""
    lazy, at = value, ""
    if not _is_iterator(value):
        from toolwire.formats import close_coroutines, lazy_within  # this path only: workers do not load toolwire

        found = lazy_within(value)
        if found is not None:
            at, lazy = f" at '{found[0]}' of its value" if found[0] else "", found[1]
            close_coroutines(value)  # the value is dropped: none of its coroutines will run, and none warns so
    kind = f"{type(lazy).__module__}.{type(lazy).__qualname__}"
    if _is_iterator(lazy):
        return ("tool_error", f"the tool returned an iterator ({kind}){at}, which is not read or sent back from "
                              f"{where}: return a list (a native tool written as a generator function has what it "
                              "yields collected as a list, within the deadline)")
    if hasattr(type(lazy), "__await__"):
        return ("tool_error", f"the tool returned an awaitable ({kind}){at} that {where} did not await: declare "
                              "the tool `async def` and await it there, or return its result")
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    return ("tool_error", f"the tool's return value ({kind}) cannot be sent back from {where}: "
                          f"{type(exc).__name__}: {_message(exc)}")


def _is_iterator(value: Any) -> bool:
    return hasattr(type(value), "__next__") or hasattr(type(value), "__anext__")


def unreadable(exc: BaseException) -> Error:
    """The error of a call whose pickled return value the parent cannot load (rebuilding it runs the value's own
    code, or needs a class the parent cannot import)."""
    return ("tool_error", f"the tool's return value cannot be rebuilt here: {type(exc).__name__}: {_message(exc)} "
                          "(return plain data, or objects of classes that load where the results are read)")


def _message(exc: BaseException) -> str:
    """`str(exc)`, or what says it cannot be read (a broken `__str__`)."""
    try:
        return str(exc)
    except Exception as failure:
        return f"(its message cannot be read: str() raised {type(failure).__name__})"


Progress = tuple[str, float, "float | None", "str | None"]
"""A progress report: `(call id, progress, total or None, message or None)`."""


def forward_progress(call_ids: list[str], send: Callable[[Progress], None]) -> list[Callable[[], None]]:
    """Hear, in this worker, the progress these calls report (`toolwire.report_progress`, an upstream MCP
    server's) and hand each report to `send`; returns what stops it. A tool that has not loaded toolwire
    cannot report any; a report whose values are not numbers is dropped (it is not the tool's error)."""
    executing = sys.modules.get("toolwire.executing")
    if executing is None:
        return []

    def heard_for(call_id: str) -> Callable[[float, float | None, str | None], None]:
        def heard(progress: float, total: float | None, message: str | None) -> None:
            try:
                record = (call_id, float(progress), None if total is None else float(total),
                          None if message is None else str(message))
            except (TypeError, ValueError):
                return
            send(record)

        return heard

    return [executing.listen_progress(call_id, heard_for(call_id)) for call_id in call_ids]

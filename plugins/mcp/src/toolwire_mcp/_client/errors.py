"""How a failed exchange with an MCP server reads: the error code of a lost request, an exception as text."""

from __future__ import annotations

__all__ = ["REQUEST_LOST", "describe"]

REQUEST_LOST = -32090
"""The JSON-RPC error code of a request whose HTTP exchange broke while its session stayed usable."""


def describe(exc: BaseException) -> str:
    """An exception as `Type: message` (a group of one: its member)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

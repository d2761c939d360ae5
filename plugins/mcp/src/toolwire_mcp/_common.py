"""What the client and server sides share: the error code of a lost request, how an exception reads, and
how to recognise an `mcp` server object without importing `mcp`."""

from __future__ import annotations

from typing import Any

__all__ = ["REQUEST_LOST", "describe", "is_server_object"]

REQUEST_LOST = -32090
"""The JSON-RPC error code of a request whose HTTP exchange broke while its session stayed usable."""


def describe(exc: BaseException) -> str:
    """An exception as `Type: message` (a group of one: its member)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def is_server_object(source: Any) -> bool:
    """Whether `source` is an `mcp` server object (`MCPServer` or the low-level `Server`), without
    importing `mcp`."""
    return any(
        cls.__module__.startswith("mcp.server") and cls.__name__ in ("MCPServer", "Server")
        for cls in type(source).__mro__
    )

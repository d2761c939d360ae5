"""Answers for messages a client sent that could not be read: JSON-RPC's parse error or invalid request.

Over stdio and SSE, the mcp SDK hands the server an exception for a message that is not JSON, or not a
JSON-RPC message, and the server drops it: a client that sent a request waits for an answer that never
comes (over SSE its POST gets a bare 400, but the session hears nothing). `Answering` stands between the
transport and the server and answers each such message with the error JSON-RPC 2.0 prescribes, with the
request's id when the message has a readable one.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pydantic
from mcp.shared.message import SessionMessage

__all__ = ["Answering", "error_for"]


def error_for(exc: Exception) -> types.JSONRPCError:
    """The JSON-RPC error answering a message that failed to read with `exc`."""
    errors = exc.errors(include_url=False) if isinstance(exc, pydantic.ValidationError) else []
    if any(error["type"] == "json_invalid" for error in errors):
        code, message = types.PARSE_ERROR, "Parse error: the message is not valid JSON"
    else:
        code, message = types.INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 request, notification or response"
    detail = "; ".join(dict.fromkeys(_problem(error) for error in errors)) or f"{type(exc).__name__}: {exc}"
    return types.JSONRPCError(jsonrpc="2.0", id=_request_id(errors), error=types.ErrorData(
        code=code, message=message, data=detail[:1000]))


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"][1:])  # the first part names a branch of the union
    return f"{where}: {error['msg']}" if where else error["msg"]


def _request_id(errors: list[Any]) -> str | int | None:
    """The id of the message, when it is an object with a usable id; else None (JSON-RPC's `"id": null`)."""
    for error in errors:
        value = error.get("input")
        if isinstance(value, dict):
            found = value.get("id")
            return found if isinstance(found, str | int) and not isinstance(found, bool) else None
    return None


class Answering:
    """The transport's read stream, for the server: every message it reads, and for each exception in
    its place (a line that could not be read), its error sent to the client instead."""

    def __init__(self, read: Any, write: Any) -> None:
        self._read, self._write = read, write

    @property
    def last_context(self) -> Any:
        return getattr(self._read, "last_context", None)

    async def receive(self) -> SessionMessage:
        return await self._answered(self._read.receive)

    def __aiter__(self) -> Answering:
        return self

    async def __anext__(self) -> SessionMessage:
        return await self._answered(self._read.__anext__)

    async def _answered(self, read: Any) -> SessionMessage:
        while not isinstance(item := await read(), SessionMessage):
            await self._write.send(SessionMessage(error_for(item)))
        return item

    async def aclose(self) -> None:
        await self._read.aclose()

    async def __aenter__(self) -> Answering:
        await self._read.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return await self._read.__aexit__(*exc_info)


"""HTTP responses from an MCP server held to the size limit: a JSON body or SSE event over it is dropped
as it streams and replaced by the error answering its request (see `_limits`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2

from toolwire_mcp._common import jsonrpc_request_id
from toolwire_mcp._limits import Framer, Oversized, too_large

__all__ = ["MessagesLimited"]


class MessagesLimited:
    """An httpx transport that drops a JSON body or an SSE event over `limit` bytes while it streams.

    What the client reads instead is the JSON-RPC error answering the request concerned (see
    `_limits`): the id in the dropped message, or else the POSTed request's. A compressed body is
    passed as it is (`_http_client` asks for identity).
    """

    def __init__(self, inner: Any, limit: int, source: str) -> None:
        self._inner, self._limit, self._source = inner, limit, source

    async def handle_async_request(self, request: Any) -> Any:
        response = await self._inner.handle_async_request(request)
        media = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media not in ("application/json", "text/event-stream") or "content-encoding" in response.headers:
            return response
        stream = _LimitedBody(response.stream, media == "text/event-stream", self._limit, request, self._source)
        headers = [(name, value) for name, value in response.headers.raw if name.lower() != b"content-length"]
        return httpx2.Response(response.status_code, headers=headers, stream=stream, extensions=response.extensions)

    async def __aenter__(self) -> MessagesLimited:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._inner.__aexit__(*exc_info)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _LimitedBody(httpx2.AsyncByteStream):
    """A response body split into SSE events (or taken whole), each over the limit replaced by an error."""

    _EVENT_END = rb"\r\n\r\n|\n\n|\r\r"
    _NEVER = rb"(?!)"

    def __init__(self, inner: Any, events: bool, limit: int, request: Any, source: str) -> None:
        self._inner, self._events, self._limit, self._request, self._source = inner, events, limit, request, source

    async def __aiter__(self) -> AsyncIterator[bytes]:
        framer = Framer(self._limit, self._EVENT_END if self._events else self._NEVER)
        async for chunk in self._inner:
            for piece in framer.feed(chunk):
                if isinstance(piece, Oversized):
                    yield self._answer(piece)
                    if not self._events:
                        return
                else:
                    yield piece
        rest = framer.rest()
        yield self._answer(rest) if isinstance(rest, Oversized) else rest

    def _answer(self, dropped: Oversized) -> bytes:
        request_id = dropped.request_id()
        if request_id is None and b'"method"' not in dropped.head and self._request.method == "POST":
            request_id = jsonrpc_request_id(self._request)
        error = too_large(self._limit, request_id, self._source)
        if error is None:
            return b""
        body = json.dumps(error).encode()
        return b"event: message\r\ndata: " + body + b"\r\n\r\n" if self._events else body

    async def aclose(self) -> None:
        await self._inner.aclose()

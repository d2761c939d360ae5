"""The httpx transports a session's HTTP client sends through: one answers a request whose exchange broke
with an error for it alone, one holds responses to the size limit (see `limits`) and mends escapes of lone
surrogates the SDK's parser would refuse (see `errors.mend_escapes`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2

from toolwire_mcp._client.errors import LOST_HERE, REQUEST_LOST, describe, mend_escapes
from toolwire_mcp._client.limits import Framer, Oversized, too_large

__all__ = ["FailedRequestsAnswered", "MessagesLimited"]


class _Wrapper(httpx2.AsyncBaseTransport):
    """An httpx transport around another, which it opens and closes."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def __aenter__(self) -> Any:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._inner.__aexit__(*exc_info)

    async def aclose(self) -> None:
        await self._inner.aclose()


class FailedRequestsAnswered(_Wrapper):
    """An httpx transport that answers a JSON-RPC request whose exchange broke with an error for it alone.

    mcp's streamable HTTP client ends the whole session when one POST raises, which fails every call in
    flight (a connection the server dropped under load cost 4,364 of a 10,000-call batch). Here the one
    call gets a `REQUEST_LOST` error (a `transport` error) as the POST's answer, the others their results,
    and the session goes on. A refused connection still ends the session: the server is down, and the
    next call reconnects.
    """

    async def handle_async_request(self, request: Any) -> Any:
        try:
            return await self._inner.handle_async_request(request)
        except (httpx2.ConnectError, httpx2.ConnectTimeout):
            raise
        except httpx2.TransportError as exc:
            request_id = _jsonrpc_request_id(request) if request.method == "POST" else None
            if request_id is None:
                raise
            error = {"code": REQUEST_LOST, "message": describe(exc), "data": LOST_HERE}
            return httpx2.Response(502, json={"jsonrpc": "2.0", "id": request_id, "error": error}, request=request)


class MessagesLimited(_Wrapper):
    """An httpx transport that drops a JSON body or an SSE event over `limit` bytes while it streams.

    What the client reads instead is the JSON-RPC error answering the request concerned (see
    `limits`): the id in the dropped message, or else the POSTed request's. A compressed body is
    passed as it is (`_http_client` asks for identity). Escapes of lone surrogates in the messages it
    passes are mended (`errors.mend_escapes`).
    """

    def __init__(self, inner: Any, limit: int, source: str) -> None:
        super().__init__(inner)
        self._limit, self._source = limit, source

    async def handle_async_request(self, request: Any) -> Any:
        response = await self._inner.handle_async_request(request)
        media = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media not in ("application/json", "text/event-stream") or "content-encoding" in response.headers:
            return response
        stream = _LimitedBody(response.stream, media == "text/event-stream", self._limit, request, self._source)
        headers = [(name, value) for name, value in response.headers.raw if name.lower() != b"content-length"]
        return httpx2.Response(response.status_code, headers=headers, stream=stream, extensions=response.extensions)


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
                else:
                    yield mend_escapes(piece)
            if not self._events and framer.dropping:  # a JSON body is one message: refused, not read on
                yield self._answer(framer.rest())  # type: ignore[arg-type]
                return
        rest = framer.rest()
        yield self._answer(rest) if isinstance(rest, Oversized) else mend_escapes(rest)

    def _answer(self, dropped: Oversized) -> bytes:
        request_id = dropped.request_id()
        if request_id is None and not dropped.from_server and self._request.method == "POST":
            request_id = _jsonrpc_request_id(self._request)
        error = too_large(self._limit, request_id, self._source)
        if error is None:
            return b""
        body = json.dumps(error).encode()
        return b"event: message\r\ndata: " + body + b"\r\n\r\n" if self._events else body

    async def aclose(self) -> None:
        await self._inner.aclose()


def _jsonrpc_request_id(request: Any) -> Any:
    """The id of the JSON-RPC request an HTTP `request` carries, or `None` (a notification, or not JSON-RPC)."""
    try:
        message = json.loads(request.content)
    except (ValueError, TypeError):
        return None
    return message.get("id") if isinstance(message, dict) else None

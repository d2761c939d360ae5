"""Opening a connection: the `mcp` client transports for its parameters, over HTTP clients that keep a
session going when one request's exchange breaks."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from typing import Any

from toolwire_mcp._client.connection import KEEPALIVE_CONNECTIONS, Connection, Transport
from toolwire_mcp._client.stderr import logged_stderr

__all__ = ["client_target"]

_MAX_CONNECTIONS = 64


def client_target(connection: Connection, transport: Transport) -> Any:
    """What `mcp.Client` connects to over `transport`: server parameters, a transport or a server object."""
    if transport == "in-process":
        return connection.server
    if transport == "stdio":
        return _stdio(connection)
    assert connection.url is not None
    headers = connection.resolved_headers()
    if transport == "sse":
        from toolwire_mcp._client.sse import sse_transport

        client = _http_client(headers, connection.timeout, keepalive=connection.keepalive_connections,
                              limit=(connection.max_message_bytes, connection.detail))
        return sse_transport(connection.url, client)
    from mcp.client.streamable_http import streamable_http_client

    client = _http_client(headers, connection.timeout, keepalive=connection.keepalive_connections,
                          limit=(connection.max_message_bytes, connection.detail), answer_failed=True)
    return streamable_http_client(connection.url, http_client=client)


@contextlib.asynccontextmanager
async def _stdio(connection: Connection) -> AsyncIterator[Any]:
    """A session's streams with the stdio server `connection` starts, its stderr logged or inherited."""
    from toolwire_mcp._client.stdio import stdio_transport

    inherited = contextlib.nullcontext(sys.__stderr__ or sys.stderr)  # the process's own stderr
    with inherited if connection.stderr == "inherit" else logged_stderr(connection.detail) as errlog:
        async with stdio_transport(connection, errlog) as streams:
            yield streams


def _http_client(headers: dict[str, str] | None = None, timeout: Any = None, auth: Any = None, *,
                 keepalive: int = KEEPALIVE_CONNECTIONS, limit: tuple[int, str] | None = None,
                 answer_failed: bool = False) -> Any:
    """An `httpx2.AsyncClient` for a shared session: many concurrent requests, queued without a limit.

    Each request still has connect/read/write timeouts; waiting for a free connection has none, so a
    large batch queues instead of failing. At most `keepalive` idle connections stay open: httpcore2
    probes each idle one on every request it queues or finishes (a `poll` and a `getpeername`), which
    took a third of the client's time with 20-60 idle connections to a local server.
    With `limit` (bytes, and the server's name), JSON bodies and SSE events over it are dropped as they
    stream (see `MessagesLimited`); bodies are asked for uncompressed. With `answer_failed`, a request
    whose exchange broke is answered with an error for it alone (see `FailedRequestsAnswered`).
    """
    import httpx2

    from toolwire_mcp._client.http_wrappers import FailedRequestsAnswered, MessagesLimited

    if not isinstance(timeout, httpx2.Timeout):
        timeout = httpx2.Timeout(timeout, read=300.0 if timeout is not None else None)
    limits = httpx2.Limits(max_connections=_MAX_CONNECTIONS, max_keepalive_connections=keepalive)
    transport: httpx2.AsyncBaseTransport = httpx2.AsyncHTTPTransport(limits=limits)
    if limit is not None:
        transport = MessagesLimited(transport, *limit)
        headers = {**(headers or {}), "Accept-Encoding": "identity"}
    return httpx2.AsyncClient(
        headers=headers,
        auth=auth,
        timeout=httpx2.Timeout(
            connect=timeout.connect, read=timeout.read, write=timeout.write, pool=None
        ),
        transport=FailedRequestsAnswered(transport) if answer_failed else transport,
    )

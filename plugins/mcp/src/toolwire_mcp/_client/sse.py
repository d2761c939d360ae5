"""An MCP client transport over SSE that sends requests concurrently and fails a lost POST alone."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urljoin, urlsplit

import anyio
import httpx2
import mcp_types as types
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

from toolwire_mcp._client.errors import LOST_HERE, REQUEST_LOST, describe, unreadable

Streams = tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
"""What a session reads from and writes to."""


@contextlib.asynccontextmanager
async def sse_transport(url: str, client: httpx2.AsyncClient) -> AsyncIterator[Streams]:
    """The read and write streams of an MCP session over SSE at `url`, carried by `client`.

    Like mcp's `sse_client`, with two differences. Requests are POSTed concurrently, each in its own
    task (mcp's client waits for each POST before the next, which capped a session at its round trips);
    notifications and replies keep their order. A request whose POST breaks or is refused gets a
    `REQUEST_LOST` error of its own, and the session goes on (mcp's client ended the session).
    Redirects are not followed: connecting fails with the redirect's status.
    """
    async with client, client.sse(url) as source:
        source.response.raise_for_status()
        events = aiter(source)
        endpoint = await _endpoint(url, events)
        to_session, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_stream, from_session = anyio.create_memory_object_stream[SessionMessage](0)

        async def read() -> None:
            async with to_session:
                try:
                    async for event in events:
                        if event.event == "message" and event.data:
                            try:
                                message = types.jsonrpc_message_adapter.validate_json(event.data, by_name=False)
                            except ValueError as exc:
                                await to_session.send(unreadable(event.data, exc, url))
                                continue
                            await to_session.send(SessionMessage(message))
                except httpx2.TransportError as exc:
                    await to_session.send(exc)

        async def post(message: types.JSONRPCMessage) -> None:
            body = message.model_dump_json(by_alias=True, exclude_unset=True)
            try:
                response = await client.post(endpoint, content=body, headers=_JSON)
                failure = None if response.is_success else f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx2.TransportError as exc:
                failure = describe(exc)
            if failure is not None and isinstance(message, types.JSONRPCRequest):
                error = types.ErrorData(code=REQUEST_LOST, message=failure, data=LOST_HERE)
                with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):  # the stream ended
                    await to_session.send(SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=message.id, error=error)))

        async def write(tasks: TaskGroup) -> None:
            async with from_session:
                async for session_message in from_session:
                    if isinstance(session_message.message, types.JSONRPCRequest):
                        tasks.start_soon(post, session_message.message)
                    else:
                        await post(session_message.message)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(read)
            tasks.start_soon(write, tasks)
            try:
                yield read_stream, write_stream
            finally:
                tasks.cancel_scope.cancel()


_JSON = {"Content-Type": "application/json"}


async def _endpoint(url: str, events: AsyncIterator[httpx2.ServerSentEvent]) -> httpx2.URL:
    """The URL the server's first `endpoint` event gives for POSTing messages (on the stream's origin)."""
    async for event in events:
        if event.event == "endpoint":
            endpoint = urljoin(url, event.data)
            if urlsplit(endpoint)[:2] != urlsplit(url)[:2]:
                raise ValueError(f"the SSE server gave an endpoint on another origin: {endpoint}")
            return httpx2.URL(endpoint)  # parsed once, not on every POST
    raise httpx2.RemoteProtocolError(f"the SSE stream at {url} ended before giving an endpoint")

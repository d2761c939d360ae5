"""toolwire's SSE client transport: requests POSTed at once, a refused POST failing its own call, and so does an
answer that is not JSON-RPC."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from toolwire import ErrorKind, ToolCall, ToolRegistry
from toolwire.serving import Server, serve_asgi
from toolwire.testing import running

CONCURRENT = 20


def test_requests_are_posted_concurrently(sse_url: str, proxy: Callable[..., tuple[str, Any]]) -> None:
    url, watched = proxy(sse_url, post_delay=0.5)
    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", url, transport="sse", namespace="m")
        calls = [ToolCall(f"c{i}", "m_add", {"a": i, "b": 1}) for i in range(CONCURRENT)]
        results = registry.execute_tool_calls(calls, timeout=30)
    assert [r.value for r in results] == [{"total": i + 1} for i in range(CONCURRENT)]
    # Each POST waited 0.5 s for its answer while the others were sent: one connection each, and the stream.
    assert watched.most_open >= CONCURRENT + 1


def test_a_post_the_server_refuses_fails_only_its_call(sse_url: str, proxy: Callable[..., tuple[str, Any]]) -> None:
    refusal = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy"
    url, refusing = proxy(sse_url, drop_marker=b"refuse-this", answer=refusal)
    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", url, transport="sse", namespace="m")
        calls = [ToolCall(f"c{i}", "m_shout", {"text": f"call {i}"}) for i in range(10)]
        calls[4] = ToolCall("c4", "m_shout", {"text": "refuse-this"})
        results = registry.execute_tool_calls(calls, timeout=30)
    assert refusing.dropped == 1
    refused = results[4]
    assert refused.error is not None and refused.error.kind is ErrorKind.TRANSPORT, refused
    assert "HTTP 503: busy" in refused.content, refused.content
    assert [r.value for i, r in enumerate(results) if i != 4] == [f"CALL {i}" for i in range(10) if i != 4]


class AnsweringSSEServer(Server):
    """An SSE MCP server written by hand: `answer` sends back the `result` or `error` its call gives, as it is
    (most of them not what JSON-RPC allows); `echo` echoes."""

    async def arun(self) -> None:
        from starlette.applications import Starlette
        from starlette.responses import Response, StreamingResponse
        from starlette.routing import Route

        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def events(request: Any) -> StreamingResponse:
            async def stream() -> AsyncIterator[bytes]:
                yield b"event: endpoint\ndata: /messages\n\n"
                while True:
                    yield b"event: message\ndata: " + json.dumps(await queue.get()).encode() + b"\n\n"

            return StreamingResponse(stream(), media_type="text/event-stream")

        async def messages(request: Any) -> Response:
            message = json.loads(await request.body())
            ident, method, params = message.get("id"), message.get("method"), message.get("params") or {}
            arguments = params.get("arguments") or {}
            if ident is None:
                pass
            elif method == "initialize":
                queue.put_nowait({"jsonrpc": "2.0", "id": ident, "result": {
                    "protocolVersion": params["protocolVersion"], "capabilities": {"tools": {}},
                    "serverInfo": {"name": "answering", "version": "1"}}})
            elif method == "tools/list":
                queue.put_nowait({"jsonrpc": "2.0", "id": ident, "result": {"tools": [
                    {"name": name, "inputSchema": {"type": "object"}} for name in ("answer", "echo")]}})
            elif params.get("name") == "echo":
                queue.put_nowait({"jsonrpc": "2.0", "id": ident, "result": {
                    "content": [{"type": "text", "text": arguments["text"]}]}})
            else:
                field = "error" if "error" in arguments else "result"
                queue.put_nowait({"jsonrpc": "2.0", "id": ident, field: arguments.get(field)})
            return Response(status_code=202)

        app = Starlette(routes=[Route("/sse", events), Route("/messages", messages, methods=["POST"])])
        await serve_asgi(self, app, "127.0.0.1", 0, "/sse")


def test_an_answer_that_is_not_json_rpc_fails_its_call_at_once_and_alone() -> None:
    with running(AnsweringSSEServer()) as server, ToolRegistry(executor="thread", ordering="parallel") as registry:
        registry.load("mcp", server.url, transport="sse")
        calls = [ToolCall("null", "answer", {"result": None}), ToolCall("number", "answer", {"error": 5}),
                 ToolCall("e", "echo", {"text": "ok"})]
        started = time.monotonic()
        null, number, echoed = registry.execute_tool_calls(calls, timeout=30)
        assert time.monotonic() - started < 20  # neither waited for its deadline
    assert null.error is not None and "its result is not an object: null" in null.error.message
    assert number.error is not None and "its error is not an object with an integer code" in number.error.message
    assert echoed.value == "ok"

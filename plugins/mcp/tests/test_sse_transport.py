"""toolwire's SSE client transport: requests POSTed at once, and a refused POST failing its own call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolwire import ErrorKind, ToolCall, ToolRegistry

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

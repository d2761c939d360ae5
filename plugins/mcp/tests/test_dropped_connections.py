"""A connection dropped under one request of a batch, over streamable HTTP or SSE: that call's error, no one else's."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from toolwire import ErrorKind, ToolCall, ToolRegistry

MARKER = b"drop-this-connection"


@pytest.mark.parametrize("protocol", ["auto", "legacy"])
def test_only_the_call_whose_connection_dropped_fails(
    http_url: str, proxy: Callable[..., tuple[str, Any]], protocol: str
) -> None:
    url, dropping = proxy(http_url, drop_marker=MARKER)
    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", url, transport="streamable-http", protocol=protocol, namespace="m")
        _one_call_dropped(registry, dropping)


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_over_sse_only_the_call_whose_post_dropped_fails(
    sse_url: str, proxy: Callable[..., tuple[str, Any]], executor: str
) -> None:
    url, dropping = proxy(sse_url, drop_marker=MARKER)
    with ToolRegistry(executor=executor) as registry:
        registry.load("mcp", url, transport="sse", namespace="m")
        assert _one_call_dropped(registry, dropping) < 10  # the lost call was told at once, not at its deadline


def _one_call_dropped(registry: ToolRegistry, dropping: Any) -> float:
    """Run 60 calls, the 31st of whose connection `dropping` drops: only that one fails, and the session goes on.

    Returns how long the batch took, in seconds.
    """
    calls = [ToolCall(f"c{i}", "m_shout", {"text": f"call {i}"}) for i in range(60)]
    calls[30] = ToolCall("c30", "m_shout", {"text": MARKER.decode()})
    started = time.monotonic()
    results = registry.execute_tool_calls(calls, timeout=30)
    seconds = time.monotonic() - started
    assert dropping.dropped == 1
    dropped = results[30]
    assert dropped.error is not None and dropped.error.kind is ErrorKind.TRANSPORT, dropped
    assert "failed during 'shout'" in dropped.content, dropped.content
    assert [r.value for i, r in enumerate(results) if i != 30] == [f"CALL {i}" for i in range(60) if i != 30]
    again = registry.execute_tool_calls([ToolCall("next", "m_shout", {"text": "next"})], timeout=30)
    assert again[0].value == "NEXT"
    return seconds

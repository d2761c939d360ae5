"""How many HTTP connections a streamable HTTP session holds: one per request in flight, few when idle."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from toolwire import ToolCall, ToolRegistry
from toolwire_mcp import KEEPALIVE_CONNECTIONS

CONCURRENT = 20


def _settled(count: Callable[[], int], timeout: float = 10.0) -> int:
    """`count()` once it has stayed the same for 0.3 s (connections close asynchronously)."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 0.3:
            break
    return last


@pytest.mark.parametrize("keepalive", [None, 3])
def test_idle_connections_beyond_the_keepalive_limit_are_closed(
    http_url: str, proxy: Callable[..., tuple[str, Any]], keepalive: int | None
) -> None:
    url, watched = proxy(http_url)
    options = {} if keepalive is None else {"keepalive_connections": keepalive}
    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", url, transport="streamable-http", namespace="m", **options)
        # long enough that every call is still running when the last connection opens on a loaded machine
        calls = [ToolCall(f"c{i}", "m_slow", {"seconds": 1.5}) for i in range(CONCURRENT)]
        results = registry.execute_tool_calls(calls, timeout=30)
        assert [r.value for r in results] == [{"result": "slept 1.5"}] * CONCURRENT
        assert watched.most_open >= CONCURRENT  # the calls ran at once, each on its own connection
        idle = KEEPALIVE_CONNECTIONS if keepalive is None else keepalive
        assert _settled(lambda: watched.open) == idle + 1  # and the stream the server's notifications come on
        again = registry.execute_tool_calls([ToolCall("next", "m_add", {"a": 1, "b": 2})], timeout=30)
        assert again[0].value == {"total": 3}

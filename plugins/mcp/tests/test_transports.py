"""Every transport, through a real registry and backend: listing, values, errors, content, progress,
deadlines."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from toolwire import Annotations, ErrorKind, Image, Resource, Text, ToolCall, ToolRegistry
from toolwire_mcp import Progress

TRANSPORTS = ["stdio", "sse", "streamable-http", "in-process"]
BACKENDS = [name for name in ("thread", "process") if name in ToolRegistry().plugins.executors()]


@pytest.fixture(params=TRANSPORTS)
def source(request: pytest.FixtureRequest, arith: ModuleType, events: list[str]) -> tuple[str, Any, dict]:
    """(transport, source, options) for a fresh arithmetic server on each transport."""
    transport = request.param
    if transport == "stdio":
        return transport, request.getfixturevalue("stdio_command"), {}
    if transport == "sse":
        return transport, request.getfixturevalue("sse_url"), {"transport": "sse"}
    if transport == "streamable-http":
        return transport, request.getfixturevalue("http_url"), {"transport": "streamable-http"}
    return transport, arith.build_server(events), {}


def cancelled(transport: str, events: list[str], events_file: Path) -> list[str]:
    if transport == "stdio":
        return [line for line in events_file.read_text().splitlines() if line]
    return list(events)


def call(name: str, call_id: str | None = None, **arguments: Any) -> ToolCall:
    return ToolCall(call_id or name, name, arguments)


def test_tools_keep_the_servers_metadata(source: tuple[str, Any, dict]) -> None:
    transport, target, options = source
    with ToolRegistry(executor="thread") as registry:
        tools = registry.load("mcp", target, namespace="arith", **options)
        by_name = {tool.name: tool for tool in tools}
        add = by_name["arith_add"]
        assert add.description == "Add two integers."
        assert add.parameters["properties"].keys() == {"a", "b"}
        assert add.parameters["required"] == ["a", "b"]
        assert add.output_schema is not None and add.output_schema["properties"]["total"]["type"] == "integer"
        assert add.annotations == Annotations(read_only=True, idempotent=True)
        assert by_name["arith_slow_write"].annotations == Annotations(
            read_only=False, destructive=True, idempotent=False
        )
        assert by_name["arith_shout"].output_schema is None
        assert add.source.loader == "mcp"
        assert add.invoker.connection.transport == transport
        # calls to a server shared over HTTP stay on one connection per batch on the process backend
        assert add.affinity == (target if transport in ("sse", "streamable-http") else None)
        assert registry.schemas("openai-chat")[0]["function"]["name"] == "arith_add"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_gives_values_errors_and_content(
    source: tuple[str, Any, dict], backend: str, arith: ModuleType
) -> None:
    transport, target, options = source
    if transport == "in-process" and backend != "thread":
        pytest.skip("an in-process server runs on the thread backend only")
    with ToolRegistry(executor=backend) as registry:
        registry.load("mcp", target, **options)
        results = registry.execute_tool_calls(
            [
                *(call("add", f"add{i}", a=i, b=1) for i in range(20)),
                call("shout", text="hi"),
                call("fail", message="no such account"),
                call("media"),
                call("add", "bad", a="one", b=2),
                call("nope"),
            ],
            timeout=30,
        )
    assert [r.value for r in results[:20]] == [{"total": i + 1} for i in range(20)]
    assert all(not r.is_error for r in results[:20])
    shout, fail, media, bad, nope = results[20:]
    assert (shout.value, shout.content) == ("HI", "HI")
    assert fail.is_error and fail.error is not None and fail.error.kind is ErrorKind.TOOL_ERROR
    assert "no such account" in fail.error.message
    assert media.content == (
        Text("a pixel"),
        Image(arith.PIXEL, "image/png"),
        Resource("file:///pixel.png", "image/png", data=arith.PIXEL),
    )
    assert bad.error is not None and bad.error.kind is ErrorKind.INVALID_ARGUMENTS
    assert nope.error is not None and nope.error.kind is ErrorKind.UNKNOWN_TOOL


def test_progress_reaches_the_callback(source: tuple[str, Any, dict]) -> None:
    _, target, options = source
    seen: list[Progress] = []
    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", target, on_progress=seen.append, **options)
        results = registry.execute_tool_calls([call("slow", "first", seconds=0), call("slow", "second", seconds=0)],
                                              timeout=30)
    assert [r.value for r in results] == [{"result": "slept 0.0"}] * 2
    for call_id in ("first", "second"):  # each call's own notifications, in order, named by its id
        assert [(p.tool, p.progress, p.total, p.message) for p in seen if p.call_id == call_id] == [
            ("slow", 1, 3, "step 1"), ("slow", 2, 3, "step 2"), ("slow", 3, 3, "step 3"),
        ]
    assert len(seen) == 6 and seen[0].arguments == {"seconds": 0}


def test_a_call_past_its_deadline_is_cancelled_on_the_server(
    source: tuple[str, Any, dict], events: list[str], events_file: Path
) -> None:
    transport, target, options = source
    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", target, **options)
        batch = [call("slow", seconds=30), call("add", a=1, b=2)]
        slow, quick = registry.execute_tool_calls(batch, timeout=1)
        assert slow.error is not None and slow.error.kind is ErrorKind.TIMEOUT
        assert quick.value == {"total": 3}
        _wait_for(lambda: cancelled(transport, events, events_file) == ["cancelled slow"])
        [after] = registry.execute_tool_calls([call("add", a=2, b=2)], timeout=30)
        assert after.value == {"total": 4}


def _wait_for(condition: Callable[[], bool], limit: float = 10.0) -> None:
    give_up = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < give_up, "the condition did not become true"
        time.sleep(0.02)

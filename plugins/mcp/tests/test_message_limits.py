"""A server's answer over `max_message_bytes` costs only its own call, on every transport, and is never
held whole: `Framer` drops it as it streams."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st
from toolwire import ErrorKind, ToolCall, ToolRegistry
from toolwire_mcp._client.limits import Framer, Oversized

LIMIT = 64 * 1024


@pytest.fixture
def json_url(serve: Callable[[object, str], str], arith: ModuleType) -> str:
    """A streamable HTTP server that answers each POST with a JSON body instead of an SSE stream."""
    return serve(arith.build_server([]).streamable_http_app(json_response=True), "/mcp")


@pytest.mark.parametrize("transport", ["stdio", "sse", "streamable-http", "streamable-http-json"])
@pytest.mark.parametrize("backend", ["thread", "process"])
def test_an_answer_over_the_limit_fails_its_call_alone(transport: str, backend: str,
                                                        request: pytest.FixtureRequest) -> None:
    source = request.getfixturevalue({"stdio": "stdio_command", "sse": "sse_url", "streamable-http": "http_url",
                                      "streamable-http-json": "json_url"}[transport])
    with ToolRegistry(executor=backend) as registry:
        registry.load("mcp", source, transport=transport.removesuffix("-json"), max_message_bytes=LIMIT)
        calls = [ToolCall("huge", "big", {"size": 3_000_000}), ToolCall("add", "add", {"a": 1, "b": 2}),
                 ToolCall("fits", "big", {"size": LIMIT // 2})]
        huge, added, fits = registry.execute_tool_calls(calls, timeout=30)
        assert huge.error is not None and huge.error.kind is ErrorKind.TOOL_ERROR, huge
        assert f"exceeds the {LIMIT}-byte limit" in huge.error.message
        assert "max_message_bytes" in huge.error.message and "'big'" in huge.error.message
        assert added.value == {"total": 3}
        assert fits.value == "x" * (LIMIT // 2)
        [again] = registry.execute_tool_calls([ToolCall("again", "big", {"size": 10})], timeout=30)
        assert again.value == "x" * 10


def test_the_limit_is_checked() -> None:
    with ToolRegistry(executor="thread") as registry, pytest.raises(Exception, match="max_message_bytes"):
        registry.load("mcp", "http://127.0.0.1:9/mcp", max_message_bytes=10)


def _answer(request_id: int, size: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": {"text": "x" * size}}).encode()


@given(sizes=st.lists(st.integers(0, 300), max_size=12), cuts=st.lists(st.integers(1, 97), min_size=1),
       tail_first=st.booleans())
def test_framer_splits_any_chunking_and_drops_only_what_is_over(sizes: list[int], cuts: list[int],
                                                                tail_first: bool) -> None:
    limit = 200
    messages = []
    for index, size in enumerate(sizes):
        body = _answer(index, size)
        if tail_first:  # key order as some servers write it: the id last
            body = json.dumps({"result": {"text": "x" * size}, "jsonrpc": "2.0", "id": index}).encode()
        messages.append(body)
    stream = b"".join(message + b"\n" for message in messages)
    framer = Framer(limit, rb"\n")
    pieces, position, turn = [], 0, 0
    while position < len(stream):
        step = cuts[turn % len(cuts)]
        pieces.extend(framer.feed(stream[position:position + step]))
        assert len(framer._buffer) <= limit + step  # never more than the limit and one chunk held
        position, turn = position + step, turn + 1
    assert framer.rest() == b""
    assert len(pieces) == len(messages)
    for index, (piece, message) in enumerate(zip(pieces, messages, strict=True)):
        if len(message) > limit:
            assert isinstance(piece, Oversized) and piece.request_id() == index
        else:
            assert piece == message + b"\n"


def test_a_dropped_request_from_the_server_has_no_id_to_answer() -> None:
    notice = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "sampling/createMessage",
                         "params": {"text": "x" * 500}}).encode()
    [piece] = Framer(100, rb"\n").feed(notice + b"\n")
    assert isinstance(piece, Oversized) and piece.request_id() is None

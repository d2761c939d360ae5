"""Whatever a client sends `toolwire serve mcp` over streamable HTTP, it gets an answer and the server goes
on: hypothesis makes the messages (raw bytes, any JSON, JSON-RPC requests with any method, id and params,
`tools/call` with any name and arguments) inside one initialised session, and after each a real call
still works in that session."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolwire import ToolRegistry
from toolwire.testing import running
from toolwire_mcp._server.server import MCPRegistryServer

PROTOCOL = "2025-06-18"
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def echo(value: Any = None) -> Any:
    """Give the value back."""
    return value


def answers(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages in a response (a JSON body, or the events of an SSE stream)."""
    if not response.content:
        return []
    if response.headers["content-type"].startswith("text/event-stream"):
        lines = re.split(r"\r\n|\r|\n", response.text)  # SSE's line ends only (not str.splitlines' U+0085 and such)
        return [json.loads(line[len("data: "):]) for line in lines if line.startswith("data: ")]
    return [response.json()]


@pytest.fixture(scope="module")
def session() -> Iterator[tuple[str, dict[str, str]]]:
    with ToolRegistry(executor="thread") as registry:
        registry.register(add)
        registry.register(echo)
        with running(MCPRegistryServer(registry, transport="streamable-http", port=0,
                                       max_request_bytes=100_000)) as server:
            hello = httpx.post(server.url, headers=HEADERS, timeout=30, json={
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                           "clientInfo": {"name": "fuzz", "version": "1"}}})
            headers = {**HEADERS, "mcp-session-id": hello.headers["mcp-session-id"], "mcp-protocol-version": PROTOCOL}
            assert httpx.post(server.url, headers=headers, timeout=30,
                              json={"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202
            yield server.url, headers  # type: ignore[misc]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
IDS = st.integers() | st.text(max_size=10) | JSON
METHODS = st.sampled_from(["tools/call", "tools/list", "ping", "initialize", "resources/list",
                           "notifications/cancelled", "notifications/progress"]) | st.text(max_size=20)
CALLS = st.fixed_dictionaries({
    "name": st.sampled_from(["add", "echo"]) | st.text(max_size=20) | JSON,
    "arguments": st.dictionaries(st.sampled_from(["a", "b", "value"]) | st.text(max_size=5), JSON, max_size=4) | JSON,
})
MESSAGES = (
    st.binary(max_size=200)
    | JSON.map(lambda value: json.dumps(value).encode())
    | st.fixed_dictionaries({"jsonrpc": st.just("2.0"), "id": IDS, "method": METHODS},
                            optional={"params": JSON}).map(lambda m: json.dumps(m).encode())
    | st.fixed_dictionaries({"jsonrpc": st.just("2.0"), "id": st.integers(1, 10**6), "method": st.just("tools/call"),
                             "params": CALLS}).map(lambda m: json.dumps(m).encode())
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=MESSAGES)
def test_whatever_a_client_sends_it_gets_an_answer_and_the_session_goes_on(
        session: tuple[str, dict[str, str]], body: bytes) -> None:
    url, headers = session
    response = httpx.post(url, content=body, headers=headers, timeout=30)
    assert response.status_code in (200, 202, 400, 404, 406, 413, 415, 422), (response.status_code, response.text)
    for message in answers(response):
        assert message.get("jsonrpc") == "2.0" and ("result" in message) != ("error" in message), message
        if "error" in message:
            assert isinstance(message["error"]["code"], int) and message["error"]["message"], message
    call = {"name": "add", "arguments": {"a": 40, "b": 2}}
    check = httpx.post(url, headers=headers, timeout=30,
                       json={"jsonrpc": "2.0", "id": "check", "method": "tools/call", "params": call})
    [result] = answers(check)
    assert result["result"]["structuredContent"] == {"result": 42}, result


def asks(question: Any = None) -> None:
    """Ask whatever `question` is, as a tool's `input_required` error."""
    from toolwire import ToolCallError

    raise ToolCallError("asks first", "input_required", input_required=question)


REQUESTS = st.fixed_dictionaries({"method": st.sampled_from(["elicitation/create", "sampling/createMessage",
                                                              "roots/list"]) | st.text(max_size=8)},
                                 optional={"params": JSON | st.fixed_dictionaries(
                                     {}, optional={"message": st.text(max_size=8), "mode": st.text(max_size=5),
                                                   "messages": JSON, "maxTokens": JSON, "tools": JSON})})
QUESTIONS = st.fixed_dictionaries({}, optional={
    "inputRequests": st.dictionaries(st.text(max_size=8), REQUESTS | JSON, max_size=3) | JSON,
    "requestState": JSON})


@pytest.fixture(scope="module")
def asking_server() -> Iterator[str]:
    with ToolRegistry(executor="thread") as registry:
        registry.register(add)
        registry.register(asks)
        with running(MCPRegistryServer(registry, transport="streamable-http", port=0)) as server:
            yield server.url


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=QUESTIONS, mode=st.sampled_from(["auto", "legacy"]))
def test_whatever_a_tool_asks_its_client_gets_an_answer_and_the_server_goes_on(
        asking_server: str, question: dict[str, Any], mode: str) -> None:
    """A tool's question of any shape, put to a client that takes every kind of question (on the 2026 protocol
    returned with the call, before it asked mid-call): the call gets a result and the next call works."""
    import asyncio

    import mcp_types as types
    from mcp import Client

    async def user(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async def model(context: Any, params: Any) -> types.CreateMessageResult:
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="x"), model="m")

    async def roots(context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[])

    async def session() -> tuple[Any, Any]:
        async with Client(asking_server, mode=mode, elicitation_callback=user, sampling_callback=model,
                          list_roots_callback=roots) as client:
            asked = await client.session.call_tool("asks", {"question": question}, allow_input_required=True)
            return asked, await client.call_tool("add", {"a": 40, "b": 2})

    asked, added = asyncio.run(session())
    assert isinstance(asked, types.InputRequiredResult) or asked.is_error, asked
    assert added.structured_content == {"result": 42}

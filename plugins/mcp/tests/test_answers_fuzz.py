"""Whatever a server answers to `tools/call`, the call gets its own result at once and the session goes on:
hypothesis draws results and errors of every shape (most of them not what MCP or JSON-RPC allow) for a stdio
server written by hand to send them as they are (garbage_server.py's `answer`). And a server's own errors are
told from the mcp SDK's, which use the same code: a stream the server cut is a `transport` error. Text a server
cut inside a character (an escaped lone surrogate) is read with U+FFFD in its place."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import toolwire_mcp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from toolwire import ErrorKind, ToolCall, ToolRegistry
from toolwire.serving import Server, serve_asgi
from toolwire.testing import running

GARBAGE_SERVER = [sys.executable, str(Path(__file__).with_name("garbage_server.py"))]

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8))
json_any = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=6)
base64ish = st.one_of(st.sampled_from(["", "QUJD", "abc", "!!", "QUJD\nQUJD"]), json_any)
resource = st.fixed_dictionaries({}, optional={"uri": st.sampled_from(["file:///x", "x", ""]) | json_any,
                                               "text": st.text(max_size=8) | json_any, "blob": base64ish,
                                               "mimeType": st.text(max_size=8) | json_any})
block = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image", "audio", "resource", "resource_link", "weird"]) | json_any},
    optional={"text": st.text(max_size=8) | json_any, "data": base64ish, "mimeType": st.text(max_size=8) | json_any,
              "uri": st.sampled_from(["file:///x", "x"]) | json_any, "name": st.text(max_size=5), "resource": resource},
)
result = st.fixed_dictionaries({}, optional={
    "content": st.lists(block, max_size=3) | json_any, "structuredContent": json_any | st.dictionaries(
        st.text(max_size=5), json_any, max_size=3), "isError": st.booleans() | json_any, "_meta": json_any})
error = st.fixed_dictionaries(
    {"code": st.integers(-32768, 32767) | json_any, "message": st.text(max_size=20) | json_any},
    optional={"data": json_any})
answers = st.one_of(st.builds(lambda value: {"result": value}, result | json_any),
                    st.builds(lambda value: {"error": value}, error | json_any))


@pytest.fixture(scope="module")
def registry() -> Iterator[ToolRegistry]:
    with ToolRegistry(executor="thread", ordering="parallel") as registry:
        registry.load("mcp", GARBAGE_SERVER)
        yield registry
    toolwire_mcp.close_sessions()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sent=st.lists(answers, min_size=1, max_size=4))
@example(sent=[{"result": {"isError": True, "content": [{"type": "text", "text": ""}, {"type": "text", "text": " "}]}},
               {"error": {"code": 5, "message": ""}}, {"error": {"code": -32000, "message": " \n"}}])
def test_any_answer_is_its_calls_result_alone(registry: ToolRegistry, sent: list[dict[str, Any]]) -> None:
    calls = [ToolCall(f"c{i}", "answer", answer) for i, answer in enumerate(sent)]
    *answered, echoed = registry.execute_tool_calls([*calls, ToolCall("e", "echo", {"text": "ok"})], timeout=20)
    assert echoed.value == "ok", echoed
    for result in answered:
        if result.error is not None:  # the server's error, or what was wrong with its answer; never a wait
            assert result.error.kind is ErrorKind.TOOL_ERROR, result.error
            assert result.error.message.strip()


class HandWrittenServer(Server):
    """A streamable HTTP MCP server written by hand: `cut` opens an SSE stream for its answer and ends it with
    none (the mcp SDK's client then fails the request with its own -32000); `answer` answers with its arguments
    as they are (`{"result": ...}` or `{"error": ...}`); `echo` echoes (each `<lone>` in the text sent as the
    escape of a lone surrogate). It lists `echo` twice, then the tools `also` gives as they are; with `instead`,
    only those."""

    def __init__(self, *, also: list[Any] | None = None, instead: list[Any] | None = None) -> None:
        super().__init__()
        self.also, self.instead = also or [], instead

    async def arun(self) -> None:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        async def mcp(request: Any) -> Response:
            message = json.loads(await request.body())
            ident, method, params = message.get("id"), message.get("method"), message.get("params") or {}
            if ident is None:
                return Response(status_code=202)
            if method == "initialize":
                result: dict[str, Any] = {"protocolVersion": params["protocolVersion"], "capabilities": {"tools": {}},
                                          "serverInfo": {"name": "cut", "version": "1"}}
            elif method == "tools/list":
                names = ("cut", "answer", "echo", "echo")  # echo listed twice
                tools = [{"name": name, "inputSchema": {"type": "object"}} for name in names]
                result = {"tools": [*tools, *self.also] if self.instead is None else self.instead}
            elif method == "tools/call" and params.get("name") == "cut":
                return Response(b": nothing follows\n\n", media_type="text/event-stream")
            elif method == "tools/call" and params.get("name") == "answer":
                return JSONResponse({"jsonrpc": "2.0", "id": ident, **params["arguments"]})
            elif method == "tools/call":  # echo, each <lone> sent as the escape of a lone surrogate
                text = params["arguments"]["text"].replace("<lone>", "\ud83d")
                body = {"jsonrpc": "2.0", "id": ident, "result": {"content": [{"type": "text", "text": text}]}}
                return Response(json.dumps(body).encode(), media_type="application/json")
            else:
                error = {"code": -32601, "message": f"no method {method}"}
                return JSONResponse({"jsonrpc": "2.0", "id": ident, "error": error})
            body = {"jsonrpc": "2.0", "id": ident, "result": result}  # as json writes it: inf as Infinity
            return Response(json.dumps(body).encode(), media_type="application/json")

        await serve_asgi(self, Starlette(routes=[Route("/mcp", mcp, methods=["POST"])]), "127.0.0.1", 0, "/mcp")


def test_a_stream_the_server_cut_is_a_transport_error_the_sdks_own_words_not_the_servers() -> None:
    with running(HandWrittenServer()) as server, ToolRegistry(executor="thread", ordering="parallel") as registry:
        registry.load("mcp", server.url, transport="streamable-http")
        cut, echoed = registry.execute_tool_calls([ToolCall("c", "cut", {}), ToolCall("e", "echo", {"text": "ok"})],
                                                  timeout=30)
    assert cut.error is not None and cut.error.kind is ErrorKind.TRANSPORT, cut
    assert "SSE stream" in cut.error.message
    assert echoed.value == "ok"


def test_an_answer_over_streamable_http_the_sdk_cannot_read_is_its_calls_error_in_one_line() -> None:
    sent = [{"result": None}, {"error": {"code": "x", "message": 3}},
            {"result": {"content": [{"type": "image", "data": "!!", "mimeType": "image/png"}]}}]
    with running(HandWrittenServer()) as server, ToolRegistry(executor="thread", ordering="parallel") as registry:
        registry.load("mcp", server.url, transport="streamable-http")
        *answered, echoed = registry.execute_tool_calls(
            [*(ToolCall(str(i), "answer", answer) for i, answer in enumerate(sent)),
             ToolCall("e", "echo", {"text": "ok"})], timeout=30)
    where = f"'answer' on MCP server {server.url}: "
    assert [result.content for result in answered] == [
        where + "the MCP server's answer cannot be read: it is not a JSON-RPC result or error",
        where + "the MCP server's answer cannot be read: it is not a JSON-RPC result or error",
        "the MCP server sent a content block (image) whose data is not base64 (Only base64 data is allowed)"]
    assert echoed.value == "ok"


@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
def test_text_a_server_cut_inside_a_character_is_read_with_a_replacement_character(transport: str) -> None:
    # JavaScript's JSON.stringify writes "\ud83d" for text cut inside an emoji; the mcp SDK refused the message
    with contextlib.ExitStack() as stack:
        source: Any = GARBAGE_SERVER
        if transport != "stdio":
            source = stack.enter_context(running(HandWrittenServer())).url
        registry = stack.enter_context(ToolRegistry(executor="thread", ordering="parallel"))
        registry.load("mcp", source, transport=transport)
        cut, whole = registry.execute_tool_calls([ToolCall("c", "echo", {"text": "smile <lone>"}),
                                                  ToolCall("w", "echo", {"text": "smile \U0001f600"})], timeout=30)
    assert (cut.error, cut.value) == (None, "smile \ufffd")
    assert (whole.error, whole.value) == (None, "smile \U0001f600")


def test_a_tool_a_server_lists_twice_is_loaded_once(caplog: pytest.LogCaptureFixture) -> None:
    with running(HandWrittenServer()) as server, ToolRegistry(executor="thread") as registry:
        registry.load("mcp", server.url, transport="streamable-http")  # it raised "already registered"
        assert sorted(tool.name for tool in registry.list()) == ["answer", "cut", "echo"]
        assert registry.execute_tool_calls([ToolCall("e", "echo", {"text": "ok"})])[0].value == "ok"
    assert f"the MCP server {server.url} lists more than one tool named 'echo'; the first is kept" in caplog.text


UNREADABLE = {"name": "bad", "inputSchema": {"type": "array"}}


@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
def test_a_tool_the_mcp_sdk_cannot_read_is_left_out_and_the_others_load(
        transport: str, caplog: pytest.LogCaptureFixture) -> None:
    with contextlib.ExitStack() as stack:  # the whole server's tools were lost for it
        source: Any = [*GARBAGE_SERVER, "--also-unreadable"]
        if transport != "stdio":
            source = stack.enter_context(running(HandWrittenServer(also=[UNREADABLE, 7]))).url
        registry = stack.enter_context(ToolRegistry(executor="thread"))
        registry.load("mcp", source, transport=transport)
        assert "bad" not in registry and "echo" in registry
        assert registry.execute_tool_calls([ToolCall("e", "echo", {"text": "ok"})])[0].value == "ok"
    detail = source if transport != "stdio" else " ".join(source)
    assert (f"the MCP server {detail} lists the tool 'bad' in a form that does not follow MCP (inputSchema.type: "
            "Input should be 'object'); it is left out") in caplog.text
    if transport != "stdio":
        assert (f"the MCP server {detail} lists a tool (number 6) in a form that does not follow MCP (the value: "
                "Input should be a valid dictionary or instance of Tool); it is left out") in caplog.text


def test_a_listing_the_mcp_sdk_cannot_read_is_an_error_that_says_so_in_a_line() -> None:
    with (running(HandWrittenServer(instead=[UNREADABLE])) as server, ToolRegistry(executor="thread") as registry,
          pytest.raises(ValueError) as raised):  # it was "could not connect" with pydantic's whole report
        registry.load("mcp", server.url)
    assert str(raised.value) == (
        f"MCP server {server.url}: the tools it lists do not follow MCP (tools.0.inputSchema.type: Input should be "
        "'object'); the mcp SDK reads none of them, so no tool of this server can be loaded until it is fixed")


listed_tool = st.one_of(json_any, st.fixed_dictionaries(
    {"name": st.sampled_from(["echo", "x", "y z", ""]) | json_any},
    optional={"inputSchema": st.fixed_dictionaries({"type": st.sampled_from(["object", "array"]) | json_any},
                                                   optional={"properties": json_any}) | json_any,
              "description": st.text(max_size=5) | json_any, "title": json_any, "outputSchema": json_any,
              "annotations": st.fixed_dictionaries({}, optional={"readOnlyHint": st.booleans() | json_any,
                                                                 "title": json_any}) | json_any}))


@pytest.fixture(scope="module")
def listing_server() -> Iterator[HandWrittenServer]:
    with running(HandWrittenServer()) as server:
        yield server


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(also=st.lists(listed_tool, max_size=4))
@example(also=[{"name": "x", "inputSchema": {"type": "object", "properties": {"a": True, "b": False}}}])  # raised
def test_whatever_else_a_server_lists_its_readable_tools_load(
        listing_server: HandWrittenServer, also: list[Any]) -> None:
    listing_server.also = also
    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", listing_server.url, transport="streamable-http")
        assert {"cut", "answer", "echo"} <= {tool.name for tool in registry.list()}
        assert registry.execute_tool_calls([ToolCall("e", "echo", {"text": "ok"})])[0].value == "ok"
    toolwire_mcp.close_sessions()

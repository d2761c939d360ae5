"""Choosing the transport, sending headers, naming the source; and a third-party server."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from toolwire import Annotations, ErrorKind, ToolCall, ToolRegistry
from toolwire_mcp import MCPLoader, connection_for

TOKEN = "Bearer s3cret-token"


def require_token(app: Any) -> Any:
    """The ASGI `app`, answering 401 to HTTP requests without `Authorization: <TOKEN>`."""

    async def guarded(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != TOKEN.encode():
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return
        await app(scope, receive, send)

    return guarded


def test_a_url_alone_tries_streamable_http_then_sse(http_url: str, sse_url: str) -> None:
    with ToolRegistry(executor="thread") as registry:
        [http_add] = registry.load("mcp", http_url, namespace="h", include="add")
        [sse_add] = registry.load("mcp", sse_url, namespace="s", include="add")
        assert http_add.invoker.connection.transport == "streamable-http"
        assert sse_add.invoker.connection.transport == "sse"
        results = registry.execute_tool_calls(
            [ToolCall("1", "h_add", {"a": 1, "b": 1}), ToolCall("2", "s_add", {"a": 2, "b": 2})], timeout=30
        )
    assert [r.value for r in results] == [{"total": 2}, {"total": 4}]


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_headers_from_options_or_environment(
    transport: str, arith: ModuleType, serve: Callable[[object, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = arith.build_server()
    app = server.streamable_http_app() if transport == "streamable-http" else server.sse_app()
    url = serve(require_token(app), "/mcp" if transport == "streamable-http" else "/sse")

    with pytest.raises(ConnectionError, match="could not connect") as refused:
        MCPLoader(transport=transport).load(url)
    assert "s3cret" not in str(refused.value)

    with pytest.raises(ConnectionError, match="MCP_TEST_TOKEN"):
        MCPLoader(transport=transport, header_env={"Authorization": "MCP_TEST_TOKEN"}).load(url)

    monkeypatch.setenv("MCP_TEST_TOKEN", TOKEN)
    with ToolRegistry(executor="thread") as registry:
        [add] = registry.load("mcp", url, transport=transport, header_env={"Authorization": "MCP_TEST_TOKEN"},
                              include="add")
        assert "s3cret" not in repr(add) and "s3cret" not in add.source.detail
        assert registry.execute_tool_calls([ToolCall("1", "add", {"a": 1, "b": 2})])[0].value == {"total": 3}

    loader = MCPLoader(transport=transport, headers={"Authorization": TOKEN})
    [add] = [t for t in loader.load(url) if t.name == "add"]
    assert "s3cret" not in repr(add.invoker.connection)

    with ToolRegistry(executor="thread") as registry:  # toolwire.toml's form works in Python too
        [add] = registry.load("mcp", url, transport=transport, headers={"Authorization": {"env": "MCP_TEST_TOKEN"}},
                              include="add")
        assert registry.execute_tool_calls([ToolCall("1", "add", {"a": 1, "b": 2})])[0].value == {"total": 3}
    with pytest.raises(TypeError, match=r"'Authorization' must be a string or \{'env': 'VARIABLE'\}"):
        MCPLoader(transport=transport, headers={"Authorization": 42}).load(url)


def test_an_unreachable_server_fails_at_load_and_per_call(stdio_command: list[str]) -> None:
    with pytest.raises(ConnectionError, match="could not connect to MCP server"):
        MCPLoader(timeout=5).load([sys.executable, "-c", "import sys; sys.exit(1)"])
    with pytest.raises(ConnectionError, match=r"127\.0\.0\.1:9"):
        MCPLoader(timeout=5).load("http://127.0.0.1:9/mcp")


def test_sources_and_options_make_connections(arith: ModuleType) -> None:
    assert connection_for("python server.py --x 1", transport="stdio").args == ("server.py", "--x", "1")
    stdio = connection_for(None, command=["uvx", "tool"], args=["--flag"], env={"A": "1"}, cwd="/tmp")
    assert (stdio.transport, stdio.command, stdio.args, stdio.env, stdio.cwd) == (
        "stdio", "uvx", ("tool", "--flag"), (("A", "1"),), "/tmp"
    )
    assert connection_for("https://user:pw@example.com/mcp?k=v").detail == "https://example.com/mcp"
    assert connection_for("http://h/mcp", transport="http").transport == "streamable-http"
    assert connection_for(arith.build_server()).transport == "in-process"
    with pytest.raises(ValueError, match="unknown MCP transport"):
        connection_for("http://h/mcp", transport="carrier-pigeon")
    with pytest.raises(ValueError, match="needs a command"):
        connection_for("http://h/mcp", transport="stdio")
    with pytest.raises(ValueError, match="cannot connect to MCP source"):
        connection_for(42)
    assert connection_for("http://h/mcp", keepalive_connections=32).keepalive_connections == 32
    with pytest.raises(ValueError, match="keepalive_connections must be"):
        connection_for("http://h/mcp", keepalive_connections=-1)
    assert connection_for("http://h/mcp", timeout=float("inf")).timeout is None  # no limit
    for seconds in (0, -1, float("nan")):  # "could not connect ... (TimeoutError)" at once
        with pytest.raises(ValueError, match=r"^timeout must be more than 0 seconds"):
            connection_for("http://h/mcp", timeout=seconds)


def test_an_infinite_timeout_connects_and_lists(stdio_command: list[str]) -> None:
    assert MCPLoader(timeout=float("inf")).load(stdio_command)  # the connect timeout raised OverflowError


def test_register_detects_a_server_object(arith: ModuleType) -> None:
    with ToolRegistry(executor="thread") as registry:
        registry.register(arith.build_server(), namespace="local")
        assert "local_add" in registry
        [result] = registry.execute_tool_calls([ToolCall("1", "local_add", {"a": 2, "b": 5})])
        assert result.value == {"total": 7}


def test_mcp_server_time_over_stdio() -> None:
    command = [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]
    with ToolRegistry(executor="thread") as registry:
        tools = {tool.name: tool for tool in registry.load("mcp", command, namespace="time")}
        assert set(tools) == {"time_get_current_time", "time_convert_time"}
        current = tools["time_get_current_time"]
        expected = Annotations(read_only=True, destructive=False, idempotent=True, open_world=False)
        assert current.annotations == tools["time_convert_time"].annotations == expected
        assert "timezone" in current.parameters["required"]
        assert current.output_schema is not None
        utc, bad = registry.execute_tool_calls(
            [
                ToolCall("1", "time_get_current_time", {"timezone": "UTC"}),
                ToolCall("2", "time_get_current_time", {"timezone": "Mars/Olympus_Mons"}),
            ],
            timeout=30,
        )
    assert utc.value["timezone"] == "UTC" and utc.value["datetime"].endswith("+00:00")
    assert bad.error is not None and bad.error.kind is ErrorKind.TOOL_ERROR
    assert "Mars/Olympus_Mons" in bad.error.message


def test_a_tool_whose_input_schema_is_not_json_schema_is_left_out_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    import mcp_types as types
    from mcp.server.lowlevel import Server

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[
            types.Tool(name="good", input_schema={"type": "object", "properties": {"n": {"type": "integer"}}}),
            types.Tool(name="bad", input_schema={"type": "object", "properties": {"n": {"type": "{id}"}}}),
        ])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return types.CallToolResult(content=[types.TextContent(text=f"{params.name} ran")])

    server = Server("schemas", on_list_tools=list_tools, on_call_tool=call_tool)
    with caplog.at_level("WARNING", logger="toolwire.mcp"), ToolRegistry(executor="thread") as registry:
        registry.register(server, namespace="s")
        assert [tool.name for tool in registry.list()] == ["s_good"]
        [result] = registry.execute_tool_calls([ToolCall("1", "s_good", {"n": 1})])
    assert result.content == "good ran"
    [warning] = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert "the tool 'bad' with an input schema that is not valid JSON Schema (at 'properties/n/type': " in warning

"""`toolwire serve mcp` as a gateway: native tools, an OpenAPI service and two MCP servers (one of them
`mcp-server-time`, from the package registry) loaded from one config and served as one MCP server by the
real command, to the mcp SDK's client; upstream credentials never reach what the client sees."""

from __future__ import annotations

import json
import logging
import socket
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from toolwire import ToolRegistry
from toolwire_bench.servers import calculator_service, mcp_server

SECRET = "s3cret-gateway-key-7731"
TOOLS = '''
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()
'''


async def test_one_mcp_server_in_front_of_native_openapi_and_two_mcp_servers(tmp_path: Path) -> None:
    (tmp_path / "gateway_tools.py").write_text(TOOLS)
    with calculator_service() as base_url, mcp_server("streamable-http") as upstream:
        (tmp_path / "toolwire.toml").write_text(f"""
[executor]
backend = "thread"
timeout = 20

[[tools]]
loader = "native"
source = "gateway_tools"
namespace = "py"

[[tools]]
loader = "openapi"
source = "{base_url}/openapi.json"
namespace = "calc"
headers = {{ X-Api-Key = {{ env = "GATEWAY_SECRET" }} }}

[[tools]]
loader = "mcp"
source = "{upstream.url}"
namespace = "arith"
header_env = {{ Authorization = "GATEWAY_SECRET" }}

[[tools]]
loader = "mcp"
source = {json.dumps([sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"])}
transport = "stdio"
namespace = "time"
""")
        toolwire = str(Path(sys.executable).parent / "toolwire")
        parameters = StdioServerParameters(
            command=toolwire, args=["serve", "mcp", "--transport", "stdio"], cwd=str(tmp_path),
            env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(tmp_path), "GATEWAY_SECRET": SECRET})
        async with Client(parameters) as client:
            tools = (await client.list_tools()).tools
            names = {tool.name for tool in tools}
            assert {"py_shout", "calc_add", "arith_multiply", "time_get_current_time"} <= names
            shouted = await client.call_tool("py_shout", {"text": "hi"})
            added = await client.call_tool("calc_add", {"a": 2, "b": 40})
            multiplied = await client.call_tool("arith_multiply", {"a": 6, "b": 7})
            now = await client.call_tool("time_get_current_time", {"timezone": "UTC"})
            refused = await client.call_tool("calc_divide", {"a": 1, "b": 0})
            wrong = await client.call_tool("time_get_current_time", {"timezone": "Nowhere/Atlantis"})
    assert shouted.structured_content == {"result": "HI"}
    assert json.loads(added.content[0].text) in (42, 42.0, {"result": 42})
    assert "42" in multiplied.content[0].text
    assert not now.is_error and "UTC" in now.content[0].text
    assert refused.is_error and wrong.is_error
    seen = json.dumps([tool.model_dump(mode="json") for tool in tools]) + json.dumps(
        [r.model_dump(mode="json") for r in (shouted, added, multiplied, now, refused, wrong)])
    assert SECRET not in seen


ROOT_UNION_SERVER = '''
"""An MCP server over stdio with one tool whose input schema is a root union, as zod-to-json-schema writes."""
import json

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

SHAPES = {"type": "object", "oneOf": [
    {"properties": {"id": {"type": "string"}}, "required": ["id"], "additionalProperties": False},
    {"properties": {"path": {"type": "string"}}, "required": ["path"], "additionalProperties": False}]}


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=[types.Tool(name="fetch", description="Fetch by id or path.",
                                                   input_schema=SHAPES)])


async def call_tool(ctx, params):
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(params.arguments, sort_keys=True))])


async def main():
    server = Server("shapes", on_list_tools=list_tools, on_call_tool=call_tool)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


anyio.run(main)
'''


async def test_with_flat_roots_a_root_union_upstream_reaches_a_host_without_variants_at_the_root(
        tmp_path: Path) -> None:
    """Anthropic refuses every request that lists a tool with `oneOf` at its input schema's root: behind a gateway
    with `[serve] flat_roots = true`, such an upstream tool is listed flattened, and the upstream still gets
    only calls that meet its own schema."""
    (tmp_path / "shapes_server.py").write_text(ROOT_UNION_SERVER)
    (tmp_path / "toolwire.toml").write_text(f"""
[serve]
server = "mcp"
flat_roots = true

[executor]
backend = "thread"
timeout = 20

[[tools]]
loader = "mcp"
source = {json.dumps([sys.executable, str(tmp_path / "shapes_server.py")])}
transport = "stdio"
namespace = "up"
""")
    toolwire = str(Path(sys.executable).parent / "toolwire")
    parameters = StdioServerParameters(command=toolwire, args=["serve", "--transport", "stdio"], cwd=str(tmp_path),
                                       env={"PATH": str(Path(sys.executable).parent)})
    async with Client(parameters) as client:
        [tool] = (await client.list_tools()).tools
        by_path = await client.call_tool("up_fetch", {"path": "src/app.py"})
        both = await client.call_tool("up_fetch", {"id": "7", "path": "src/app.py"})
    assert tool.name == "up_fetch" and not {"allOf", "anyOf", "oneOf"} & tool.input_schema.keys()
    assert set(tool.input_schema["properties"]) == {"id", "path"}
    assert json.loads(by_path.content[0].text) == {"path": "src/app.py"}
    assert both.is_error and "'oneOf'" in both.content[0].text  # refused before it reached the upstream


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_optional_source_that_cannot_be_loaded_is_left_out_and_the_gateway_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "gateway_tools.py").write_text(TOOLS)
    monkeypatch.syspath_prepend(str(tmp_path))
    dead_server = json.dumps([sys.executable, "-c", "raise SystemExit(1)"])
    entries = f"""
[[tools]]
loader = "native"
source = "gateway_tools"

[[tools]]
loader = "mcp"
source = {dead_server}
transport = "stdio"
namespace = "down"
optional = true

[[tools]]
loader = "openapi"
source = "http://127.0.0.1:{_closed_port()}/openapi.json"
namespace = "gone"
optional = true
"""
    config = tmp_path / "toolwire.toml"
    config.write_text('[executor]\nbackend = "thread"\n' + entries)
    with caplog.at_level(logging.WARNING, logger="toolwire"), ToolRegistry.from_config(config) as registry:
        assert [tool.name for tool in registry.list()] == ["shout"]  # a down upstream used to stop the start
    assert "'tools[1]' is left out (optional): could not connect to MCP server" in caplog.text
    assert "'tools[2]' is left out (optional): http://127.0.0.1:" in caplog.text
    config.write_text('[executor]\nbackend = "thread"\n' + entries.replace("optional = true\n", ""))
    with pytest.raises(ConnectionError, match=r"toolwire.toml: 'tools\[1\]': could not connect to MCP server .*\(or "
                                              r"set optional = true on the entry to start without it\)"):
        ToolRegistry.from_config(config)

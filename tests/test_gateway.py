"""`toolwire serve mcp` as a gateway: native tools, an OpenAPI service and two MCP servers (one of them
`mcp-server-time`, from the package registry) loaded from one config and served as one MCP server by the
real command, to the mcp SDK's client; upstream credentials never reach what the client sees."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters
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

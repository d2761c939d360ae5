"""The benchmark's servers, started and stopped by their context managers, answering real clients."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from toolwire_bench import _floors
from toolwire_bench.servers import McpEndpoint, calculator_service, mcp_server


def test_calculator_service_answers_and_refuses_division_by_zero() -> None:
    with calculator_service() as base_url:
        with urllib.request.urlopen(f"{base_url}/multiply?a=6&b=7") as response:
            assert json.load(response) == {"result": 42.0}
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base_url}/divide?a=1&b=0")
        assert refused.value.code == 400
        with urllib.request.urlopen(f"{base_url}/openapi.json") as response:
            paths = json.load(response)["paths"].values()
        operations = {operation["operationId"] for path in paths for operation in path.values()}
        assert operations == {"add", "subtract", "multiply", "divide"}
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{base_url}/add?a=1&b=2", timeout=2)


@pytest.mark.parametrize("floor", ["http.client", _floors.HTTP_CAPACITY])
def test_the_openapi_floors_make_every_call_a_division_by_zero_failing(floor: str) -> None:
    workload = [("add", 1, 2), ("divide", 1, 0), ("multiply", 6, 7)] * 20
    with calculator_service() as base_url, _floors.build({"backend": floor, "endpoints": {"openapi": base_url}},
                                                         workload) as run_batch:
        for _ in range(2):  # the first batch opens the connections, the second reuses them
            outcomes = run_batch()
            assert outcomes[:3] == [(True, {"result": 3.0}), (False, {"detail": "division by zero"}),
                                    (True, {"result": 42.0})]
            assert outcomes == outcomes[:3] * 20


async def _call(endpoint: McpEndpoint) -> tuple[set[str], object, bool, str]:
    if endpoint.transport == "stdio":
        command = endpoint.command
        transport = stdio_client(StdioServerParameters(command=command[0], args=list(command[1:])))
    elif endpoint.transport == "sse":
        transport = sse_client(endpoint.url)
    else:
        transport = streamable_http_client(endpoint.url)
    async with transport as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        names = {tool.name for tool in (await session.list_tools()).tools}
        added = await session.call_tool("add", {"a": 2, "b": 3})
        refused = await session.call_tool("divide", {"a": 1, "b": 0})
        return names, added.structured_content, refused.is_error, refused.content[0].text


@pytest.mark.parametrize("transport", ["stdio", "sse", "streamable-http"])
def test_mcp_server_over_each_transport(transport: str) -> None:
    with mcp_server(transport) as endpoint:  # type: ignore[arg-type]
        names, added, refused, message = asyncio.run(_call(endpoint))
    assert names == {"add", "subtract", "multiply", "divide"}
    assert added == {"result": 5.0}
    assert refused is True
    assert "division by zero" in message

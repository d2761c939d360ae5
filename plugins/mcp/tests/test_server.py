"""`toolwire serve mcp`, tested with clients no one here wrote: the mcp SDK's `Client` and FastMCP's `Client`,
over stdio (the real `toolwire serve mcp` command) and streamable HTTP, plus plain HTTP for the edges."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from pydantic import BaseModel
from toolwire import Annotations, Tool, ToolRegistry, hookimpl, load_config, report_progress
from toolwire.executing import progress_listened
from toolwire.serving import ServeError
from toolwire.testing import running
from toolwire_mcp._server.server import MCPRegistryServer

TOOLS = '''
import time


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def hang(seconds: float = 60) -> str:
    """Sleep."""
    time.sleep(seconds)
    return "late"


def crash() -> None:
    """Kill the worker running it."""
    import os
    os._exit(3)


def whoami() -> int:
    """The process running the call."""
    import os
    return os.getpid()
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "served_tools.py").write_text(TOOLS)
    (tmp_path / "toolwire.toml").write_text(
        '[executor]\nbackend = "process"\nworkers = 2\ntimeout = 2\n\n'
        '[[tools]]\nloader = "native"\nsource = "served_tools"\nnamespace = "t"\n'
    )
    return tmp_path


def stdio_server(project: Path) -> StdioServerParameters:
    toolwire = str(Path(sys.executable).parent / "toolwire")
    return StdioServerParameters(command=toolwire, args=["serve", "mcp", "--transport", "stdio"], cwd=str(project),
                                 env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(project)})


async def test_the_serve_command_over_stdio_with_the_mcp_sdks_client(project: Path) -> None:
    async with Client(stdio_server(project)) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(listed) == {"t_add", "t_hang", "t_crash", "t_whoami"}
        assert listed["t_add"].description == "Add two integers."
        assert listed["t_add"].input_schema["required"] == ["a", "b"]
        assert listed["t_add"].output_schema == {"type": "object", "properties": {"result": {"type": "integer"}},
                                                 "required": ["result"], "x-fastmcp-wrap-result": True}
        added = await client.call_tool("t_add", {"a": 2, "b": "40"})
        assert not added.is_error and added.structured_content == {"result": 42}
        assert [block.text for block in added.content] == ["42"]
        invalid = await client.call_tool("t_add", {"a": "two"})
        assert invalid.is_error and "invalid_arguments" in invalid.content[0].text
        unknown = await client.call_tool("t_nope", {})
        assert unknown.is_error and "no tool named 't_nope'" in unknown.content[0].text
        hung = await client.call_tool("t_hang", {})  # the configured 2 s deadline, on the process backend
        assert hung.is_error and hung.content[0].text.startswith("timeout:")
        crashed = await client.call_tool("t_crash", {})
        assert crashed.is_error and crashed.content[0].text.startswith("crashed:")
        after = await client.call_tool("t_add", {"a": 1, "b": 1})
        assert after.structured_content == {"result": 2}


async def test_the_serve_command_over_stdio_with_fastmcps_client(project: Path) -> None:
    from fastmcp import Client as FastMCPClient
    from fastmcp.client.transports import StdioTransport

    parameters = stdio_server(project)
    transport = StdioTransport(command=parameters.command, args=parameters.args, cwd=parameters.cwd,
                               env=parameters.env)
    async with FastMCPClient(transport) as client:
        assert {tool.name for tool in await client.list_tools()} == {"t_add", "t_hang", "t_crash", "t_whoami"}
        result = await client.call_tool("t_add", {"a": 20, "b": 22})
        assert result.data == 42



def test_over_stdio_an_unreadable_line_gets_its_json_rpc_error_and_the_server_goes_on(project: Path) -> None:
    parameters = stdio_server(project)
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"}}}
    lines = [json.dumps(hello), json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
             "{not json", "[1, 2]", json.dumps({"jsonrpc": "2.0", "id": 7, "method": 42}),
             json.dumps({"jsonrpc": "1.0", "id": "x", "method": "ping"}),
             json.dumps({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
                         "params": {"name": "t_add", "arguments": {"a": 40, "b": 2}}})]
    with subprocess.Popen([parameters.command, *parameters.args], cwd=parameters.cwd, env=parameters.env, text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as server:
        watchdog = threading.Timer(30, server.kill)  # an answer that never comes ends the test, not the suite
        watchdog.start()
        try:
            assert server.stdin is not None and server.stdout is not None
            server.stdin.write("".join(f"{line}\n" for line in lines))
            server.stdin.flush()
            answers = [json.loads(server.stdout.readline() or "null") for _ in range(6)]
        finally:
            watchdog.cancel()
            server.kill()
    initialized, garbage, array, bad_method, bad_version, added = answers
    assert initialized["id"] == 1 and "result" in initialized
    assert garbage["id"] is None and garbage["error"]["code"] == -32700
    assert garbage["error"]["message"] == "Parse error: the message is not valid JSON"
    assert array["id"] is None and array["error"]["code"] == -32600
    assert bad_method["id"] == 7 and bad_method["error"]["code"] == -32600
    assert "method: Input should be a valid string" in bad_method["error"]["data"]
    assert bad_version["id"] == "x" and "jsonrpc: Input should be '2.0'" in bad_version["error"]["data"]
    assert added["id"] == 8 and added["result"]["structuredContent"] == {"result": 42}

class BatchSizes:
    def __init__(self) -> None:
        self.sizes: list[int] = []

    @hookimpl(wrapper=True)
    def toolwire_execute(self, batch):  # type: ignore[no-untyped-def]
        self.sizes.append(len(batch.calls))
        return (yield)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def slow(seconds: float) -> str:
    """Sleep, reporting progress."""
    for step in range(4):
        report_progress(step + 1, 4, f"step {step + 1}")
        time.sleep(seconds / 4)
    return "done"


def hang(seconds: float = 60) -> str:
    time.sleep(seconds)
    return "late"


def heard() -> bool:
    """Whether anyone listens for this call's progress (where the call runs)."""
    return progress_listened()


def Serving(registry: ToolRegistry, **options: Any) -> contextlib.AbstractContextManager[Any]:
    """A registry served over an HTTP transport from a thread of its own, for a test's duration."""
    return running(MCPRegistryServer(registry, port=0, **options))


@pytest.fixture
def registry() -> Iterator[ToolRegistry]:
    with ToolRegistry(config=load_config(environ={"TOOLWIRE_EXECUTOR": "thread", "TOOLWIRE_TIMEOUT": "5"})) as reg:
        reg.register(add, annotations=Annotations(read_only=True))
        reg.register(slow)
        reg.register(hang)
        reg.register(heard)
        yield reg


async def test_streamable_http_serves_many_concurrent_calls_in_batches(registry: ToolRegistry) -> None:
    sizes = BatchSizes()
    registry.plugins.register(sizes, name="sizes")
    with Serving(registry, transport="streamable-http") as server:
        async with Client(server.url) as client:
            [tool] = [t for t in (await client.list_tools()).tools if t.name == "add"]
            assert tool.annotations is not None and tool.annotations.read_only_hint is True
            results = await asyncio.gather(*(client.call_tool("add", {"a": i, "b": 1}) for i in range(40)))
    assert [r.structured_content for r in results] == [{"result": i + 1} for i in range(40)]
    assert sum(sizes.sizes) == 40 and len(sizes.sizes) < 40  # calls that arrived together went out together


async def test_a_value_json_cannot_carry_is_its_calls_error_and_text_arrives_mended(registry: ToolRegistry) -> None:
    registry.load("native", lambda: b"\x89PNG\xff", name="blob")
    registry.load("native", lambda: "name\udcff.txt", name="listing", description="Lists \ud800 names.")
    with Serving(registry, transport="streamable-http") as server:
        async with Client(server.url) as client:
            listed = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert listed["listing"].description == "Lists \ufffd names."  # as it was, no tool could be listed
            blob = await client.call_tool("blob", {})
            assert blob.is_error and "'blob' returned a value that cannot be written as JSON" in blob.content[0].text
            listing = await client.call_tool("listing", {})
            assert listing.content[0].text == "name\ufffd.txt"
            assert (await client.call_tool("add", {"a": 1, "b": 2})).structured_content == {"result": 3}


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # 2026-07-28: InputRequiredResult; before: elicitation/create
async def test_a_call_needing_approval_is_put_to_the_clients_user(registry: ToolRegistry, mode: str) -> None:
    ran: list[int] = []

    def wipe(a: int) -> int:
        """Wipe disk `a`."""
        ran.append(a)
        return a

    registry.register(wipe, requires_approval=True)
    questions: list[str] = []

    async def user(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        questions.append(params.message)
        if '"a": 1' in params.message:
            return types.ElicitResult(action="accept", content={"approve": True})
        if '"a": 2' in params.message:
            return types.ElicitResult(action="accept", content={"approve": False, "reason": "that disk holds backups"})
        return types.ElicitResult(action="decline")

    with Serving(registry, transport="streamable-http") as server:
        async with Client(server.url, mode=mode, elicitation_callback=user) as client:
            approved = await client.call_tool("wipe", {"a": 1})
            refused = await client.call_tool("wipe", {"a": 2})
            declined = await client.call_tool("wipe", {"a": 3})
            free = await client.call_tool("add", {"a": 1, "b": 2})
        async with Client(server.url, mode=mode) as unasked:  # no elicitation: the call waits, as without a server
            pending = await unasked.call_tool("wipe", {"a": 4})
        from fastmcp import Client as FastMCPClient

        async def fast_user(message: str, response_type: Any, params: Any, context: Any) -> dict[str, Any]:
            return {"approve": '"a": 5' in message}

        async with FastMCPClient(server.url, elicitation_handler=fast_user) as fast:
            fast_approved = await fast.call_tool("wipe", {"a": 5})
            fast_refused = await fast.call_tool("wipe", {"a": 6}, raise_on_error=False)
    assert (fast_approved.data, fast_refused.is_error) == (5, True)
    ran.remove(5)
    assert ran == [1]
    assert approved.structured_content == {"result": 1} and not approved.is_error
    assert refused.is_error and refused.content[0].text == (
        "denied: the user did not approve this call of 'wipe', so it did not run: that disk holds backups")
    assert declined.is_error and declined.content[0].text.startswith("denied: the user did not approve this call")
    assert free.structured_content == {"result": 3} and len(questions) == 3  # a tool without approval is not asked
    assert "The model wants to run 'wipe', which needs your approval, with:" in questions[0]
    assert pending.is_error and pending.content[0].text.startswith("approval_pending: 'wipe' needs the user's approval")


async def test_an_approval_given_for_some_arguments_does_not_run_others(registry: ToolRegistry) -> None:
    ran: list[int] = []

    def wipe(a: int) -> int:
        """Wipe disk `a`."""
        ran.append(a)
        return a

    registry.register(wipe, requires_approval=True)
    yes = {"toolwire_approval": types.ElicitResult(action="accept", content={"approve": True})}

    async def user(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    with Serving(registry, transport="streamable-http") as server:
        async with Client(server.url, elicitation_callback=user) as client:  # 2026-07-28: the client retries
            asked = await client.session.call_tool("wipe", {"a": 1}, allow_input_required=True)
            assert isinstance(asked, types.InputRequiredResult) and asked.request_state
            other = await client.session.call_tool("wipe", {"a": 9}, input_responses=yes,
                                                   request_state=asked.request_state, allow_input_required=True)
            forged = await client.session.call_tool("wipe", {"a": 1}, input_responses=yes, request_state="x" * 64,
                                                    allow_input_required=True)
            answered = await client.session.call_tool("wipe", {"a": 1}, input_responses=yes,
                                                      request_state=asked.request_state, allow_input_required=True)
    assert isinstance(other, types.InputRequiredResult)  # the answer was for a = 1: asked again
    assert isinstance(forged, types.InputRequiredResult)
    assert isinstance(answered, types.CallToolResult) and answered.structured_content == {"result": 1}
    assert ran == [1]


async def test_a_call_does_not_list_every_tool(registry: ToolRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    listed: list[int] = []
    list_tools = MCPRegistryServer._list_tools

    async def counted(self: MCPRegistryServer, ctx: Any, params: Any) -> Any:
        listed.append(1)
        return await list_tools(self, ctx, params)

    monkeypatch.setattr(MCPRegistryServer, "_list_tools", counted)
    with Serving(registry, transport="streamable-http") as server:
        async with Client(server.url) as client:
            for i in range(10):
                assert (await client.call_tool("add", {"a": i, "b": 1})).structured_content == {"result": i + 1}
    assert len(listed) <= 1  # the client's own listing (for output schemas), not one per call


async def test_fastmcps_client_over_streamable_http(registry: ToolRegistry) -> None:
    from fastmcp import Client as FastMCPClient

    with Serving(registry, transport="streamable-http") as server:
        async with FastMCPClient(server.url) as client:
            assert (await client.call_tool("add", {"a": 1, "b": 2})).data == 3


class Point(BaseModel):
    x: int
    y: int


def points(count: int) -> list[Point]:
    """Points on the diagonal."""
    return [Point(x=i, y=i) for i in range(count)]


async def test_a_value_wrapped_under_result_keeps_its_definitions_where_its_references_look(
        registry: ToolRegistry) -> None:
    registry.register(points)
    with Serving(registry, transport="streamable-http") as server:
        async with Client(server.url) as client:  # it checks structured content against the output schema
            answered = await client.call_tool("points", {"count": 2})
        from fastmcp import Client as FastMCPClient

        async with FastMCPClient(server.url) as fast:
            data = (await fast.call_tool("points", {"count": 1})).data
    # the definitions stayed under `result` while the references looked at the root: clients refused the answer
    assert not answered.is_error and answered.structured_content == {"result": [{"x": 0, "y": 0}, {"x": 1, "y": 1}]}
    assert [(point.x, point.y) if hasattr(point, "x") else (point["x"], point["y"]) for point in data] == [(0, 0)]


def mean(values: list[float]) -> float:
    """The mean (NaN for no values)."""
    return sum(values) / len(values) if values else float("nan")


def find(name: str) -> int:
    """An index, though the code forgets to return one for unknown names."""
    return 0 if name == "first" else None  # type: ignore[return-value]


def origin() -> Point:
    """A point, or what looks like one."""
    return {"x": 0}  # type: ignore[return-value]


async def test_a_value_that_does_not_fit_its_output_schema_is_its_calls_error(registry: ToolRegistry) -> None:
    for function in (mean, find, origin):
        registry.register(function)
    with Serving(registry, transport="streamable-http") as server:
        async with Client(server.url) as client:  # it refuses structured content that does not fit the schema
            answers = {name: await client.call_tool(name, arguments) for name, arguments in [
                ("mean", {"values": []}), ("find", {"name": "last"}), ("origin", {})]}
            assert (await client.call_tool("mean", {"values": [1, 2]})).structured_content == {"result": 1.5}
            assert (await client.call_tool("find", {"name": "first"})).structured_content == {"result": 0}
        from fastmcp import Client as FastMCPClient

        async with FastMCPClient(server.url) as fast:
            fast_answer = await fast.call_tool("find", {"name": "last"}, raise_on_error=False)
    assert all(answer.is_error for answer in answers.values())
    assert answers["mean"].content[0].text == (
        "tool_error: 'mean' returned a value that does not fit its output schema, which clients check: "
        'null is not of type "number" (NaN and infinite numbers are written as null); return what the tool declares')
    assert 'null is not of type "integer"; return' in answers["find"].content[0].text
    assert '"y" is a required property' in answers["origin"].content[0].text
    assert fast_answer.is_error and "does not fit its output schema" in fast_answer.content[0].text


SHAPES = {"type": "object", "oneOf": [  # zod-to-json-schema's root union: "an id or a path"
    {"properties": {"id": {"type": "string"}}, "required": ["id"], "additionalProperties": False},
    {"properties": {"path": {"type": "string"}}, "required": ["path"], "additionalProperties": False}]}


async def test_flat_roots_serves_root_unions_flattened_and_calls_still_meet_the_tools_own_schema(
        registry: ToolRegistry) -> None:
    """A root `oneOf` makes Anthropic refuse every request that lists the tool, so a Claude host loses all of a
    server's tools; `flat_roots=True` offers the variants' properties at the root, the rule in words."""
    registry.add(Tool("fetch", "Fetch by id or path.", SHAPES, invoker=lambda **kwargs: kwargs))
    with Serving(registry, transport="streamable-http", flat_roots=True) as flat, \
            Serving(registry, transport="streamable-http") as declared:
        async with Client(flat.url) as client:
            [offered] = [tool for tool in (await client.list_tools()).tools if tool.name == "fetch"]
            ok = await client.call_tool("fetch", {"path": "a/b"})
            both = await client.call_tool("fetch", {"id": "7", "path": "a"})
        async with Client(declared.url) as client:
            [as_declared] = [tool for tool in (await client.list_tools()).tools if tool.name == "fetch"]
    assert not {"allOf", "anyOf", "oneOf"} & offered.input_schema.keys()
    assert set(offered.input_schema["properties"]) == {"id", "path"}
    assert "the arguments must match exactly one of these" in offered.input_schema["description"]
    assert ok.structured_content == {"path": "a/b"}
    assert both.is_error and "'oneOf'" in both.content[0].text  # refused against the tool's own schema
    assert as_declared.input_schema["oneOf"] == SHAPES["oneOf"]  # the default: as the tool declares it
    with pytest.raises(ValueError, match="flat_roots must be true or false, got 'yes'"):
        MCPRegistryServer(registry, flat_roots="yes")  # type: ignore[arg-type]


async def test_sse_transport(registry: ToolRegistry) -> None:
    from mcp.client.sse import sse_client

    with Serving(registry, transport="sse") as server:
        async with Client(sse_client(server.url)) as client:
            assert (await client.call_tool("add", {"a": 1, "b": 2})).structured_content == {"result": 3}



async def test_over_sse_an_unreadable_post_is_refused_and_its_json_rpc_error_reaches_the_stream(
        registry: ToolRegistry) -> None:
    async def data(lines: Any) -> str:
        async for line in lines:
            if line.startswith("data: "):
                return str(line[len("data: "):])
        raise AssertionError("the stream ended")

    with Serving(registry, transport="sse") as server:
        origin = server.url.removesuffix("/sse")
        async with httpx.AsyncClient(timeout=30) as http, http.stream("GET", server.url) as events:
            lines = events.aiter_lines()
            endpoint = await data(lines)
            refused = await http.post(origin + endpoint, content=b'{"jsonrpc": "2.0", "id": 9, "method": 42}',
                                      headers={"content-type": "application/json"})
            assert refused.status_code == 400
            error = json.loads(await asyncio.wait_for(data(lines), 30))
    assert error["id"] == 9 and error["error"]["code"] == -32600
    assert "method: Input should be a valid string" in error["error"]["data"]

@pytest.mark.parametrize("backend", ["registry", "process_registry"])  # in the server's process, in a worker's
async def test_progress_a_tool_reports_reaches_the_client(backend: str, request: pytest.FixtureRequest) -> None:
    registry = request.getfixturevalue(backend)
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    with Serving(registry, transport="streamable-http") as server:
        async with Client(server.url) as client:
            result = await client.call_tool("slow", {"seconds": 0.4}, progress_callback=on_progress)
            await asyncio.sleep(0.2)
    assert result.structured_content == {"result": "done"}
    assert seen == [(1, 4, "step 1"), (2, 4, "step 2"), (3, 4, "step 3"), (4, 4, "step 4")]




@pytest.mark.parametrize("backend", ["registry", "process_registry"])
async def test_progress_is_listened_for_only_when_the_client_asks_for_it(
        backend: str, request: pytest.FixtureRequest) -> None:
    registry = request.getfixturevalue(backend)

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        pass

    with Serving(registry, transport="streamable-http") as server:
        async with Client(server.url) as client:
            unasked = await client.call_tool("heard", {})
            asked = await client.call_tool("heard", {}, progress_callback=on_progress)
    assert (unasked.structured_content, asked.structured_content) == ({"result": False}, {"result": True})

async def test_as_a_gateway_on_the_process_backend_an_upstream_servers_progress_reaches_the_client(
        stdio_command: list[str]) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    config = load_config(environ={"TOOLWIRE_EXECUTOR": "process", "TOOLWIRE_WORKERS": "1", "TOOLWIRE_TIMEOUT": "30"})
    with ToolRegistry(config=config) as registry:
        registry.load("mcp", stdio_command, namespace="up")
        with Serving(registry, transport="streamable-http") as server:
            async with Client(server.url) as client:
                result = await client.call_tool("up_slow", {"seconds": 0}, progress_callback=on_progress)
                await asyncio.sleep(0.2)
    assert not result.is_error, result
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]

async def test_clients_hear_when_the_tools_change(registry: ToolRegistry) -> None:
    heard = asyncio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            heard.set()

    with Serving(registry, transport="streamable-http") as server:
        async with Client(server.url, mode="legacy", message_handler=on_message) as legacy, \
                Client(server.url) as modern, modern.listen(tools_list_changed=True) as changes:
            await legacy.list_tools()
            registry.load("native", lambda: "hi", name="greet")
            await asyncio.wait_for(heard.wait(), 10)  # the handshake era: notifications/tools/list_changed
            await asyncio.wait_for(anext(aiter(changes)), 10)  # the 2026 era: an event on subscriptions/listen
            assert "greet" in {tool.name for tool in (await modern.list_tools()).tools}


async def test_a_cancelled_call_stops_and_the_server_goes_on(registry: ToolRegistry) -> None:
    with Serving(registry, transport="streamable-http") as server:
        async with Client(server.url) as client:
            running = asyncio.ensure_future(client.call_tool("hang", {"seconds": 30}))
            await asyncio.sleep(0.5)
            started = time.monotonic()
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            assert time.monotonic() - started < 5
            assert (await client.call_tool("add", {"a": 2, "b": 2})).structured_content == {"result": 4}


def test_a_bad_request_gets_an_error_and_the_server_goes_on(registry: ToolRegistry) -> None:
    with Serving(registry, transport="streamable-http", max_request_bytes=10_000) as server:
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        garbage = httpx.post(server.url, content=b"{not json", headers=headers, timeout=10)
        assert 400 <= garbage.status_code < 500 and "error" in garbage.json()
        huge = httpx.post(server.url, content=b"[" + b"1," * 20_000 + b"1]", headers=headers, timeout=10)
        assert huge.status_code == 413
        fine = httpx.post(server.url, headers=headers, timeout=10, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "test", "version": "1"}}})
        assert fine.status_code == 200


def test_a_token_is_required_off_loopback_and_checked_when_set(
    registry: ToolRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ServeError, match=r"refusing to serve on 0\.0\.0\.0 without a bearer token"):
        MCPRegistryServer(registry, transport="streamable-http", host="0.0.0.0")
    monkeypatch.setenv("MCP_TEST_TOKEN", "s3cret")
    with Serving(registry, transport="streamable-http", token_env="MCP_TEST_TOKEN") as server:
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        refused = httpx.post(server.url, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        wrong = httpx.post(server.url, headers={**headers, "authorization": "Bearer nope"}, json={})
        assert wrong.status_code == 401

        async def call() -> Any:
            from mcp.client.streamable_http import streamable_http_client

            client = httpx2_client({"authorization": "Bearer s3cret"})
            async with Client(streamable_http_client(server.url, http_client=client)) as mcp_client:
                return await mcp_client.call_tool("add", {"a": 3, "b": 4})

        assert asyncio.run(call()).structured_content == {"result": 7}


def httpx2_client(headers: dict[str, str]) -> Any:
    import httpx2

    return httpx2.AsyncClient(headers=headers, timeout=30)


def test_unknown_options_are_refused(registry: ToolRegistry) -> None:
    with pytest.raises(ValueError, match="unknown MCP transport 'pigeon'"):
        registry.serve("mcp", transport="pigeon")
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        registry.serve("mcp", colour="blue")


@pytest.fixture
def process_registry() -> Iterator[ToolRegistry]:
    config = load_config(environ={"TOOLWIRE_EXECUTOR": "process", "TOOLWIRE_WORKERS": "2", "TOOLWIRE_TIMEOUT": "30"})
    with ToolRegistry(config=config) as registry:
        registry.register(add, annotations=Annotations(read_only=True))
        registry.register(hang)
        registry.register(slow)
        registry.register(heard)
        registry.warm()
        yield registry


async def test_on_the_process_backend_a_cancelled_call_kills_its_worker(process_registry: ToolRegistry) -> None:
    workers = set(process_registry.executor().worker_pids())  # type: ignore[attr-defined]
    with Serving(process_registry, transport="streamable-http") as server:
        async with Client(server.url) as client:
            began = asyncio.Event()

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                began.set()

            # `slow` reports progress as it begins, so the cancel finds it running (one second was not enough
            # on a loaded machine: cancelled before it began, the call ran nowhere and no worker was replaced)
            running = asyncio.ensure_future(client.call_tool("slow", {"seconds": 240}, progress_callback=on_progress))
            await asyncio.wait_for(began.wait(), 30)
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            for _ in range(100):
                if len(workers - set(process_registry.executor().worker_pids())) == 1:  # type: ignore[attr-defined]
                    break
                await asyncio.sleep(0.05)
            assert len(workers - set(process_registry.executor().worker_pids())) == 1  # type: ignore[attr-defined]
            assert (await client.call_tool("add", {"a": 1, "b": 1})).structured_content == {"result": 2}


async def test_one_clients_hanging_call_does_not_hold_up_another_client(process_registry: ToolRegistry) -> None:
    with Serving(process_registry, transport="streamable-http") as server:
        async with Client(server.url) as first, Client(server.url) as second:
            hanging = asyncio.ensure_future(first.call_tool("hang", {"seconds": 20}))
            await asyncio.sleep(0.5)
            started = time.monotonic()
            results = await asyncio.gather(*(second.call_tool("add", {"a": i, "b": i}) for i in range(10)))
            assert time.monotonic() - started < 5
            assert [r.structured_content for r in results] == [{"result": 2 * i} for i in range(10)]
            hanging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hanging


async def test_on_the_process_backend_a_clients_cancel_leaves_other_clients_async_calls_running() -> None:
    """Async calls that one worker runs together (a batch of several clients' requests): one client's cancel
    cancels its own call on the worker, which goes on with the others (it used to be killed, failing them)."""
    from toolwire.testing import async_echo

    config = load_config(environ={"TOOLWIRE_EXECUTOR": "process", "TOOLWIRE_WORKERS": "1", "TOOLWIRE_TIMEOUT": "30"})
    with ToolRegistry(config=config) as registry:
        registry.register(async_echo)
        registry.execute_tool_calls([{"id": f"w{i}", "type": "function", "function": {  # known quick: one chunk
            "name": "async_echo", "arguments": json.dumps({"value": i})}} for i in range(50)])
        workers = set(registry.executor().worker_pids())  # type: ignore[attr-defined]
        with Serving(registry, transport="streamable-http") as server:
            async with Client(server.url) as first, Client(server.url) as second, Client(server.url) as third:
                calls = [asyncio.ensure_future(client.call_tool("async_echo", {"value": name, "delay": 1.5}))
                         for client, name in ((first, "first"), (second, "second"), (third, "third"))]
                await asyncio.sleep(0.7)
                calls[0].cancel()
                with pytest.raises(asyncio.CancelledError):
                    await calls[0]
                answers = await asyncio.gather(*calls[1:])
        assert [(answer.is_error, answer.content[0].text) for answer in answers] == [(False, "second"),
                                                                                  (False, "third")]
        assert set(registry.executor().worker_pids()) == workers  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", ["thread", "process"])
@pytest.mark.parametrize("mode", ["auto", "legacy"])  # the served client's protocol: InputRequiredResult, mid-call
async def test_as_a_gateway_an_upstream_tools_question_reaches_the_clients_user(
        stdio_command: list[str], backend: str, mode: str) -> None:
    """An upstream tool that asks its user (on the 2026 protocol, an `InputRequiredResult`) is asked of the served
    client's user, and the answer reaches the upstream; before, the call failed ('elicitation ... not supported')."""
    questions: list[str] = []

    async def user(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        questions.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "alice"})

    config = load_config(environ={"TOOLWIRE_EXECUTOR": backend, "TOOLWIRE_WORKERS": "1", "TOOLWIRE_TIMEOUT": "30"})
    with ToolRegistry(config=config) as registry:
        registry.load("mcp", stdio_command, namespace="up", protocol="auto")
        with Serving(registry, transport="streamable-http") as server:
            async with Client(server.url, mode=mode, elicitation_callback=user) as client:
                greeted = await client.call_tool("up_greet", {})
            async with Client(server.url, mode=mode) as unasked:  # no elicitation: the question is its error
                unanswered = await unasked.call_tool("up_greet", {})
            if (backend, mode) == ("thread", "auto"):  # a client of another make
                from fastmcp import Client as FastMCPClient

                async def fast_user(message: str, response_type: Any, params: Any, context: Any) -> dict[str, Any]:
                    return {"name": "dora"}

                async with FastMCPClient(server.url, elicitation_handler=fast_user) as fast:
                    assert (await fast.call_tool("up_greet", {})).structured_content == {"result": "hello dora"}
    assert greeted.structured_content == {"result": "hello alice"} and not greeted.is_error
    assert questions == ["Your name?"]
    assert unanswered.is_error and unanswered.content[0].text.startswith(
        "input_required: 'greet' needs input before it can finish (a question for the user: 'Your name?')")


@pytest.mark.parametrize("backend", ["thread", "process"])
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_as_a_gateway_an_upstream_tool_samples_the_clients_model_and_reads_its_roots(
        stdio_command: list[str], backend: str, mode: str) -> None:
    """An upstream tool that asks for the host's model (sampling) or the client's roots gets them from the served
    client, on either protocol; a client that declared neither gets the question as the call's error. Before, the
    upstream refused the call ('did not declare the sampling capability')."""
    asked: list[str] = []

    async def model(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked.append(params.messages[0].content.text)  # type: ignore[union-attr]
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="hi"),
                                         model="test-model")

    async def roots(context: Any) -> types.ListRootsResult:
        asked.append("roots")
        return types.ListRootsResult(roots=[types.Root(uri="file:///work/project")])

    config = load_config(environ={"TOOLWIRE_EXECUTOR": backend, "TOOLWIRE_WORKERS": "1", "TOOLWIRE_TIMEOUT": "30"})
    with ToolRegistry(config=config) as registry:
        registry.load("mcp", stdio_command, namespace="up", protocol="auto")
        with Serving(registry, transport="streamable-http") as server:
            async with Client(server.url, mode=mode, sampling_callback=model, list_roots_callback=roots) as client:
                word = await client.call_tool("up_word", {})
                listed = await client.call_tool("up_roots", {})
            async with Client(server.url, mode=mode) as unasked:
                unanswered = await unasked.call_tool("up_word", {})
            if (backend, mode) == ("thread", "auto"):  # a client of another make
                from fastmcp import Client as FastMCPClient

                async def fast_model(messages: Any, params: Any, context: Any) -> str:
                    return "hey"

                async with FastMCPClient(server.url, sampling_handler=fast_model, roots=["file:///srv"]) as fast:
                    assert (await fast.call_tool("up_word", {})).structured_content == {"result": "hey"}
                    assert (await fast.call_tool("up_roots", {})).structured_content == {"result": ["file:///srv"]}
    assert (word.is_error, word.structured_content) == (False, {"result": "hi"}), word.content
    assert (listed.is_error, listed.structured_content) == (False, {"result": ["file:///work/project"]})
    assert asked == ["One word for hello?", "roots"]
    assert unanswered.is_error and unanswered.content[0].text.startswith(
        "input_required: 'word' needs input before it can finish (a reply from the host's model)")
    assert unanswered.content[0].text.endswith("but this client cannot answer it (it did not declare what that "
                                               "needs), so the call will not finish here")


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_as_a_gateway_an_approved_call_whose_tool_asks_is_approved_once(stdio_command: list[str],
                                                                               mode: str) -> None:
    """The gateway asks for approval, then the upstream tool asks its own question: on the 2026 protocol the
    client's answer to the tool comes back in a retry, which carries the approval (signed) instead of asking
    again; the tool's own state reaches it without the gateway's."""
    questions: list[str] = []

    async def user(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        questions.append(params.message.splitlines()[0])
        if params.message == "Your name?":
            return types.ElicitResult(action="accept", content={"name": "bob"})
        return types.ElicitResult(action="accept", content={"approve": True})

    config = load_config(environ={"TOOLWIRE_EXECUTOR": "thread", "TOOLWIRE_TIMEOUT": "30"})
    with ToolRegistry(config=config) as registry:
        registry.load("mcp", stdio_command, namespace="up", protocol="auto")
        registry.add_policy(match="up_greet", requires_approval=True)
        with Serving(registry, transport="streamable-http") as server:
            async with Client(server.url, mode=mode, elicitation_callback=user) as client:
                greeted = await client.call_tool("up_greet", {})

            async def refuses(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
                return types.ElicitResult(action="decline")

            async with Client(server.url, mode=mode, elicitation_callback=refuses) as forger:  # an approval made up
                forged = await forger.call_tool("up_greet", {}, request_state=f"toolwire-approved:{'0' * 64}:")
    assert greeted.structured_content == {"result": "hello bob"} and not greeted.is_error
    assert questions == ["The model wants to run 'up_greet', which needs your approval, with:", "Your name?"]
    assert forged.is_error and forged.content[0].text.startswith("denied: the user did not approve this call")

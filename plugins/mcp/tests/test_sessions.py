"""One session per server per process: shared, reconnected after a failure, usable from any loop."""

from __future__ import annotations

import asyncio
import base64
import pickle
import subprocess
import sys
import time
from collections.abc import Callable

import psutil
import pytest
from toolwire import Config, ErrorKind, ExecutorConfig, ToolCall, ToolOutput, ToolRegistry
from toolwire_mcp import MCPLoader, close_sessions


def server_processes() -> list[psutil.Process]:
    return [
        child for child in psutil.Process().children(recursive=True)
        if child.is_running() and child.status() != psutil.STATUS_ZOMBIE
        and any("arith_server.py" in part for part in child.cmdline())
    ]


def wait_for(condition: Callable[[], bool], limit: float = 10.0) -> None:
    give_up = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < give_up, "the condition did not become true"
        time.sleep(0.02)


def test_loading_and_calling_share_one_session(stdio_command: list[str]) -> None:
    with ToolRegistry(executor="thread") as first, ToolRegistry(executor="thread") as second:
        first.load("mcp", stdio_command)
        assert len(server_processes()) == 1
        second.load("mcp", stdio_command, namespace="again")
        batch = [ToolCall(str(i), "pid", {}) for i in range(50)]
        pids = {r.value["result"] for r in first.execute_tool_calls(batch, timeout=30)}
        pids |= {r.value["result"] for r in second.execute_tool_calls(
            [ToolCall("p", "again_pid", {})], timeout=30)}
        assert pids == {server_processes()[0].pid}
        assert len(server_processes()) == 1


def test_sync_then_asyncio_run(stdio_command: list[str]) -> None:
    registry = ToolRegistry(executor="thread")
    registry.load("mcp", stdio_command)
    add = [ToolCall("a", "add", {"a": 1, "b": 2})]
    assert registry.execute_tool_calls(add, timeout=30)[0].value == {"total": 3}

    async def main() -> list:
        direct = await registry.get("add").invoker(a=20, b=22)
        results = await registry.aexecute_tool_calls(add, timeout=30)
        return [direct.value, results[0].value]

    assert asyncio.run(main()) == [{"total": 42}, {"total": 3}]
    assert asyncio.run(main()) == [{"total": 42}, {"total": 3}]
    assert registry.execute_tool_calls(add, timeout=30)[0].value == {"total": 3}
    registry.close()


def test_a_server_dying_mid_batch(stdio_command: list[str]) -> None:
    with ToolRegistry(executor="thread", ordering="parallel") as registry:  # every call in flight when it dies
        registry.load("mcp", stdio_command)
        [before] = registry.execute_tool_calls([ToolCall("p", "pid", {})], timeout=30)
        add, slow, write, die = registry.execute_tool_calls(
            [
                ToolCall("add", "add", {"a": 1, "b": 2}),
                ToolCall("slow", "slow", {"seconds": 1.5}),  # read-only: retried on a new server
                ToolCall("write", "slow_write", {"seconds": 1.5}),  # not idempotent: not retried
                ToolCall("die", "die", {"delay": 0.5}),
            ],
            timeout=30,
        )
        assert add.value == {"total": 3}
        assert slow.value == {"result": "slept 1.5"}
        for failed in (write, die):
            assert failed.error is not None and failed.error.kind is ErrorKind.TRANSPORT, failed
            assert "connection to MCP server" in failed.error.message
        [after] = registry.execute_tool_calls([ToolCall("p", "pid", {})], timeout=30)
        assert after.value["result"] != before.value["result"]
        assert [p.pid for p in server_processes()] == [after.value["result"]]


def test_close_stops_the_stdio_server(stdio_command: list[str]) -> None:
    loader = MCPLoader()
    loader.load(stdio_command)
    [process] = server_processes()
    loader.close()
    process.wait(10)
    assert server_processes() == []


def test_an_invoker_pickles_and_opens_its_own_session_in_another_process(stdio_command: list[str]) -> None:
    [tool] = [t for t in MCPLoader().load(stdio_command) if t.name == "pid"]
    [parent_server] = server_processes()
    payload = base64.b64encode(pickle.dumps(tool.invoker)).decode()
    script = (
        "import asyncio, base64, pickle, psutil\n"
        f"invoker = pickle.loads(base64.b64decode({payload!r}))\n"
        "server_pid = asyncio.run(invoker()).value['result']\n"
        "print(server_pid, *[c.pid for c in psutil.Process().children()])\n"
    )
    command = [sys.executable, "-c", script]
    output = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    server_pid, *children = map(int, output.stdout.split())
    assert children == [server_pid]
    assert server_pid != parent_server.pid


def test_an_in_process_server_does_not_pickle(arith) -> None:
    [tool] = [t for t in MCPLoader().load(arith.build_server()) if t.name == "add"]
    with pytest.raises(TypeError, match="cannot leave its process"):
        pickle.dumps(tool.invoker)


def test_values_come_back_with_their_content(arith) -> None:
    [tool] = [t for t in MCPLoader().load(arith.build_server()) if t.name == "add"]
    value = asyncio.run(tool.invoker(a=2, b=3))
    assert isinstance(value, ToolOutput) and value.value == {"total": 5}
    close_sessions()


def test_warm_opens_each_process_workers_session_before_any_call(stdio_command: list[str]) -> None:
    config = Config(executor=ExecutorConfig(backend="process", workers=2))
    with ToolRegistry(config=config) as registry:
        registry.load("mcp", stdio_command)  # the parent's own session, to list the tools
        registry.warm()
        workers = registry.executor().worker_pids()  # type: ignore[attr-defined]
        owners = {server.ppid() for server in server_processes()}
        assert set(workers) <= owners, "a worker has no session of its own before its first call"
        started = len(server_processes())
        results = registry.execute_tool_calls([ToolCall(str(i), "pid", {}) for i in range(20)], timeout=30)
        assert all(not r.is_error for r in results) and len(server_processes()) == started

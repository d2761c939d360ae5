"""Users' type checkers see toolwire's types: every distribution ships `py.typed`, and the API's types hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USER_CODE = '''
from agents import Agent

from toolwire import ExecutorConfig, Tool, ToolRegistry, ToolResult
from toolwire_dask import DaskExecutor
from toolwire_mcp import MCPLoader
from toolwire_native import NativeLoader
from toolwire_openai_agents import function_tools
from toolwire_openapi import OpenAPILoader
from toolwire_process import ProcessExecutor
from toolwire_thread import ThreadExecutor

LOADERS = (MCPLoader, OpenAPILoader)
BACKENDS = (DaskExecutor, ProcessExecutor, ThreadExecutor)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def main() -> list[str]:
    with ToolRegistry(executor=ThreadExecutor(ExecutorConfig("thread", workers=2))) as registry:
        registry.register(add)
        tools: list[Tool] = registry.list() + NativeLoader().load(add)
        schemas: list[dict[str, object]] = registry.schemas(format="openai-chat")
        calls = [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]
        results = registry.execute_tool_calls(calls)
        first: ToolResult = results[0]
        messages = registry.tool_messages(calls, results)
        workers: int = ProcessExecutor(ExecutorConfig("process", workers=1)).workers
        loaded: list[Tool] = registry.load("mcp", ["python", "server.py"], transport="stdio", namespace="m")
        loaded += MCPLoader(transport="streamable-http", headers={"Authorization": "Bearer x"}).load("http://h/mcp")
        loaded += OpenAPILoader(base_url="http://h", timeout=5.0).load("http://h/openapi.json")
        changes = registry.refresh()
        unsubscribe = registry.on_tools_changed(lambda changed: print(changed.added, changed.removed))
        unsubscribe()
        registry.warm()
        removed: list[str] = registry.unregister(namespace="m") + list(changes.changed)
        return [str(first.value), *(t.name for t in tools), str(len(schemas) + len(messages) + workers),
                *(r.content for r in results if isinstance(r.content, str)), *removed, registry.get("add").name]


async def in_async_code(registry: ToolRegistry, calls: list[dict[str, object]]) -> list[ToolResult]:
    return await registry.aexecute_tool_calls(calls, timeout=5.0)


def an_agents_sdk_agent(registry: ToolRegistry) -> Agent[None]:
    return Agent(name="tools", tools=function_tools(registry))
'''


def test_user_code_type_checks_strictly_against_the_installed_packages(tmp_path: Path) -> None:
    (tmp_path / "user_code.py").write_text(USER_CODE)
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), "user_code.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("Success: no issues found in 1 source file")

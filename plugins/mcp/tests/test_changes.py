"""A server's tool list changing: `notifications/tools/list_changed` and `refresh()`."""

from __future__ import annotations

import asyncio
import threading
from types import ModuleType
from typing import Any

import pytest
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from toolwire import Tool
from toolwire_mcp import MCPLoader


@pytest.fixture(params=["stdio", "sse", "streamable-http", "in-process", "stdio auto", "streamable-http legacy"])
def target(request: pytest.FixtureRequest, arith: ModuleType, events: list[str]) -> tuple[Any, dict, bool]:
    """A server, loader options, and whether the session speaks the 2026 protocol (changes come by
    subscription there): by default over streamable HTTP and in-process, or as `protocol` asks."""
    transport, _, protocol = request.param.partition(" ")
    options: dict[str, Any] = {"protocol": protocol} if protocol else {}
    modern = protocol == "auto" or (not protocol and transport in ("streamable-http", "in-process"))
    if transport == "stdio":
        return request.getfixturevalue("stdio_command"), options, modern
    if transport == "sse":
        return request.getfixturevalue("sse_url"), {"transport": "sse", **options}, modern
    if transport == "streamable-http":
        return request.getfixturevalue("http_url"), options, modern
    return arith.build_server(events), options, modern


class Watcher:
    """Collects the tool lists a loader reports."""

    def __init__(self) -> None:
        self.lists: list[set[str]] = []
        self.changed = threading.Condition()

    def __call__(self, tools: list[Tool]) -> None:
        with self.changed:
            self.lists.append({tool.name for tool in tools})
            self.changed.notify_all()

    def wait_for(self, predicate: Any) -> set[str]:
        with self.changed:
            assert self.changed.wait_for(lambda: any(predicate(names) for names in self.lists), timeout=10), (
                self.lists
            )
            return next(names for names in self.lists if predicate(names))


def invoke(tools: list[Tool], tool_name: str, /, **arguments: Any) -> Any:
    [tool] = [t for t in tools if t.name == tool_name]
    return asyncio.run(tool.invoker(**arguments))


def test_the_server_announcing_changes_updates_the_tools(target: tuple[Any, dict, bool]) -> None:
    source, options, modern = target
    loader = MCPLoader(**options)
    tools = loader.load(source)
    watcher = Watcher()
    loader.subscribe(watcher)
    assert (invoke(tools, "protocol").value["result"] in MODERN_PROTOCOL_VERSIONS) is modern

    assert invoke(tools, "grow", name="extra").value == {"result": "grown"}
    names = watcher.wait_for(lambda names: "extra" in names)
    assert names == {t.name for t in tools} | {"extra"}
    extra = next(t for t in loader.tools if t.name == "extra")
    assert extra.description == "the tool extra"
    assert invoke(loader.tools, "extra", x=7).value == {"result": 7}

    invoke(tools, "shrink", name="add")
    watcher.wait_for(lambda names: "add" not in names and "extra" in names)
    assert {t.name for t in loader.refresh()} == {t.name for t in tools} - {"add"} | {"extra"}
    loader.close()


def test_refresh_lists_the_tools_again(arith: ModuleType) -> None:
    server = arith.build_server()
    loader = MCPLoader()
    before = loader.load(server)
    unsubscribe = loader.subscribe(lambda tools: None)
    server.remove_tool("media")
    server.add_tool(lambda text: text, name="echo", description="Echo a text.")
    after = loader.refresh()
    assert {t.name for t in after} == {t.name for t in before} - {"media"} | {"echo"}
    assert loader.tools == after
    unsubscribe()
    loader.close()

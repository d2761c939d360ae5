"""The registry follows a server's tool list: on `refresh()` and when the server announces a change."""

from __future__ import annotations

import json
import threading
from types import ModuleType
from typing import Any

from toolwire import ToolChanges, ToolRegistry


def call(tool: str, /, **arguments: Any) -> dict[str, Any]:
    return {"id": tool, "type": "function", "function": {"name": tool, "arguments": json.dumps(arguments)}}


def test_refresh_applies_and_reports_what_changed(arith: ModuleType) -> None:
    server = arith.build_server()
    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", server, namespace="m", exclude="die")
        registry.disable("m_add")
        before = {t.name for t in registry}
        assert {"m_media", "m_add"} <= before and "m_die" not in before
        heard: list[ToolChanges] = []
        registry.on_tools_changed(heard.append)

        server.remove_tool("media")
        server.add_tool(lambda text: text, name="echo", description="Echo a text.")
        server.remove_tool("shout")
        server.add_tool(lambda text: text.upper(), name="shout", description="Now described differently.")
        changes = registry.refresh()

        assert changes == ToolChanges(added=("m_echo",), removed=("m_media",), changed=("m_shout",))
        assert heard == [changes]
        assert {t.name for t in registry} == before - {"m_media"} | {"m_echo"}
        assert registry.get("m_shout").description == "Now described differently."
        assert not registry.get("m_add").enabled  # a refresh keeps what the user disabled
        [echo] = registry.execute_tool_calls([call("m_echo", text="hi")])
        assert echo.value == "hi"
        assert registry.refresh() == ToolChanges()


def test_a_server_announcing_a_change_updates_the_registry(stdio_command: list[str]) -> None:
    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", stdio_command, namespace="m")
        heard: list[ToolChanges] = []
        changed = threading.Event()
        registry.on_tools_changed(lambda changes: (heard.append(changes), changed.set()))

        [grown] = registry.execute_tool_calls([call("m_grow", name="extra")])
        assert grown.value == {"result": "grown"}
        assert changed.wait(10), "the registry heard no change"
        assert heard[0].added == ("m_extra",)
        [extra] = registry.execute_tool_calls([call("m_extra", x=7)])
        assert extra.value == {"result": 7}

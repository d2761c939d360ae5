"""A distribution adds a provider through the `toolwire_formats` hook, without touching the core."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from toolwire import FormatSpec, PluginConflictError, ToolRegistry, hookimpl
from toolwire.formats import Dialect, result_text
from toolwire.tools import ToolCall


class BedrockConverse(Dialect):
    """Amazon Bedrock's Converse API, as a third party would write it."""

    name = "bedrock-converse"

    def tool_schema(self, tool, *, strict=False):
        return {
            "toolSpec": {
                "name": tool.name,
                "description": tool.description,
                "inputSchema": {"json": tool.parameters},
            }
        }

    def parse_calls(self, item: Any) -> list[ToolCall] | None:
        if isinstance(item, Mapping):
            if "toolUse" in item:
                use = item["toolUse"]
                return [ToolCall(use["toolUseId"], use["name"], use["input"])]
            if "output" in item and "stopReason" in item:
                content = item["output"]["message"]["content"]
                return [c for block in content for c in self.parse_calls(block) or ()]
        return None

    def tool_messages(self, calls, results, **options):
        return [
            {
                "role": "user",
                "content": [
                    {
                        "toolResult": {
                            "toolUseId": r.call_id,
                            "content": [{"text": result_text(r)}],
                            "status": "error" if r.is_error else "success",
                        }
                    }
                    for r in results
                ],
            }
        ]


class BedrockPlugin:
    @hookimpl
    def toolwire_formats(self):
        return [FormatSpec("bedrock-converse", BedrockConverse, "Amazon Bedrock Converse")]


def test_a_plugin_dialect_closes_the_loop(registry: ToolRegistry) -> None:
    registry.plugins.register(BedrockPlugin(), name="bedrock")
    (spec,) = [s for s in registry.schemas("bedrock-converse") if s["toolSpec"]["name"] == "plain"]
    assert spec["toolSpec"]["inputSchema"]["json"]["required"] == ["a"]
    response = {
        "stopReason": "tool_use",
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"text": "Adding."},
                    {"toolUse": {"toolUseId": "t1", "name": "plain", "input": {"a": 4}}},
                ],
            }
        },
    }
    results = registry.execute_tool_calls(response)  # found by the plugin's parse_calls, no format named
    assert [(r.call_id, r.value) for r in results] == [("t1", 5.5)]
    (message,) = registry.tool_messages(response, results, format="bedrock-converse")
    assert message["content"] == [
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "5.5"}], "status": "success"}}
    ]


def test_two_plugins_offering_one_format_name_is_an_error(registry: ToolRegistry) -> None:
    class Impostor:
        @hookimpl
        def toolwire_formats(self):
            return [FormatSpec("anthropic", BedrockConverse)]

    registry.plugins.register(Impostor(), name="impostor")
    with pytest.raises(PluginConflictError, match="format 'anthropic' is offered by two plugins"):
        registry.schemas("anthropic")

"""OpenAI Chat Completions: `tools=[{"type": "function", ...}]`, `tool_calls` in, `role: tool` out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toolwire.formats import Dialect, parse_arguments, result_text
from toolwire.tools import Tool, ToolCall, ToolResult


class OpenAIChat(Dialect):
    name = "openai-chat"

    def tool_schema(self, tool: Tool, *, strict: bool = False) -> dict[str, Any]:
        function: dict[str, Any] = {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        }
        return {"type": "function", "function": function}

    def parse_calls(self, item: Any) -> list[ToolCall] | None:
        if isinstance(item, dict):
            function = item.get("function")
            if isinstance(function, dict) and item.get("type", "function") == "function":
                return [_call(item.get("id"), function.get("name"), function.get("arguments"))]
            if "tool_calls" in item and item.get("role", "assistant") == "assistant":
                return [c for call in item["tool_calls"] or () for c in self.parse_calls(call) or ()]
            return None
        function = getattr(item, "function", None)
        if function is not None and hasattr(function, "arguments"):
            return [_call(getattr(item, "id", None), function.name, function.arguments)]
        return None

    def tool_messages(
        self, calls: Sequence[ToolCall], results: Sequence[ToolResult], **options: Any
    ) -> list[dict[str, Any]]:
        return [
            {"role": "tool", "tool_call_id": result.call_id, "content": result_text(result)}
            for result in results
        ]


def _call(call_id: Any, name: Any, arguments: Any) -> ToolCall:
    return ToolCall(id=str(call_id or ""), name=str(name or ""), arguments=parse_arguments(arguments))

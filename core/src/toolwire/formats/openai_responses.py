"""OpenAI Responses: `tools=[{"type": "function", ...}]`, `function_call` items in,
`function_call_output` items out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from toolwire.formats import (
    Dialect,
    _unrecognised,
    block_text,
    content_blocks,
    data_url,
    has_media,
    result_text,
)
from toolwire.formats._content import arguments_text, make_call
from toolwire.formats._strict import json_schema_parameters
from toolwire.tools import Image, Resource, Text, Tool, ToolCall, ToolResult

__all__ = ["OpenAIResponses"]

_NOT_CALLS = frozenset({
    "reasoning", "function_call_output", "web_search_call", "file_search_call", "image_generation_call",
    "code_interpreter_call", "mcp_call", "mcp_list_tools", "mcp_approval_request", "compaction",
})
"""Output items that hold no function call for us: skipped when a whole `output` list is passed."""
_MESSAGE_PARTS = frozenset({"output_text", "refusal"})


class OpenAIResponses(Dialect):
    """The Responses API. `tool_messages(..., include_assistant=True)` also echoes the `function_call` items
    (needed when the conversation is sent in full rather than with `previous_response_id`)."""

    name = "openai-responses"

    def tool_schema(self, tool: Tool, *, strict: bool = False) -> dict[str, Any]:
        declaration: dict[str, Any] = {"type": "function", "name": tool.name}
        if tool.description:
            declaration["description"] = tool.description
        declaration["parameters"] = json_schema_parameters(tool, self.name, strict=strict)
        declaration["strict"] = strict  # the API defaults to strict when this is left out
        return declaration

    def parse_calls(self, item: Any) -> list[ToolCall] | None:
        if isinstance(item, Mapping):
            kind = item.get("type")
            if kind == "function_call":
                return [make_call(item.get("call_id"), item.get("name"), item.get("arguments"))]
            if kind in _NOT_CALLS:
                return []
            if kind == "message":
                content = item.get("content")
                parts = content if isinstance(content, list) else ()
                return [] if all(_get(p, "type") in _MESSAGE_PARTS for p in parts) else None
            output = item.get("output")
            if isinstance(output, list) and item.get("object") == "response":
                return self._calls(output)
            return None
        kind = getattr(item, "type", None)
        if kind == "function_call":
            return [make_call(item.call_id, item.name, item.arguments)]
        if kind in _NOT_CALLS:
            return []
        if kind == "message":
            return [] if all(_get(p, "type") in _MESSAGE_PARTS for p in item.content or ()) else None
        if getattr(item, "object", None) == "response":
            return self._calls(item.output)
        return None

    def _calls(self, output: Any) -> list[ToolCall]:
        calls: list[ToolCall] = []
        for entry in output or ():
            found = self.parse_calls(entry)
            calls.extend(found if found is not None else [_unrecognised(entry)])
        return calls

    def tool_messages(
        self, calls: Sequence[ToolCall], results: Sequence[ToolResult], *, include_assistant: bool = False,
        **options: Any,
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if include_assistant:
            items.extend(
                {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": arguments_text(c)}
                for c in calls
            )
        for result in results:
            output: str | list[dict[str, Any]] = (
                [_part(block) for block in content_blocks(result)] if has_media(result) else result_text(result)
            )
            items.append({"type": "function_call_output", "call_id": result.call_id, "output": output})
        return items


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def _part(block: Any) -> dict[str, Any]:
    if isinstance(block, Image):
        return {"type": "input_image", "image_url": data_url(block)}
    if isinstance(block, Resource) and block.data is not None and block.mime_type == "application/pdf":
        return {"type": "input_file", "file_data": data_url(block), "filename": block.uri.rsplit("/", 1)[-1]}
    return {"type": "input_text", "text": block.text if isinstance(block, Text) else block_text(block)}

"""Anthropic Messages: `tools=[{"name", "input_schema"}]`, `tool_use` blocks in, `tool_result` blocks out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from toolwire.formats import Dialect, block_text, content_blocks, has_media, result_text
from toolwire.formats._content import b64, make_call
from toolwire.formats._strict import json_schema_parameters
from toolwire.tools import Image, Resource, Text, Tool, ToolCall, ToolResult

__all__ = ["Anthropic"]

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_NOT_CALLS = frozenset({"text", "thinking", "redacted_thinking", "server_tool_use", "mcp_tool_use",
                        "container_upload"})


class Anthropic(Dialect):
    """Anthropic Messages. Results go back as one `user` message of `tool_result` blocks, `is_error` set
    on failures; `include_assistant=True` also rebuilds the assistant turn from the calls.

    `strict=True` uses Anthropic's strict subset (OpenAI's, narrower: no list of types, bounds and most string
    formats as hints, `$defs` only, no recursion) and sets the tool's `strict` flag. Either way the input
    schema has no `allOf`, `anyOf` or `oneOf` at its root, which the API refuses (`flat_root`).
    """

    name = "anthropic"

    def tool_schema(self, tool: Tool, *, strict: bool = False) -> dict[str, Any]:
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description:
            declaration["description"] = tool.description
        declaration["input_schema"] = json_schema_parameters(tool, self.name, strict=strict, flat=True)
        if strict:
            declaration["strict"] = True
        return declaration

    def parse_calls(self, item: Any) -> list[ToolCall] | None:
        if isinstance(item, Mapping):
            kind = item.get("type")
            if kind == "tool_use":
                return [make_call(item.get("id"), item.get("name"), item.get("input"))]
            if kind in _NOT_CALLS or (isinstance(kind, str) and kind.endswith("_tool_result")):
                return []
            content = item.get("content")
            is_message = kind == "message" or (kind is None and item.get("role") == "assistant")
            if is_message and isinstance(content, list):
                return self.parse_each(content)
            return None
        kind = getattr(item, "type", None)
        if kind == "tool_use":
            return [make_call(item.id, item.name, item.input)]
        if kind in _NOT_CALLS or (isinstance(kind, str) and kind.endswith("_tool_result")):
            return []
        if kind == "message" and isinstance(getattr(item, "content", None), list):
            return self.parse_each(item.content)
        return None

    def parse_batch(self, items: list[Any]) -> list[ToolCall] | None:
        calls: list[ToolCall] = []
        for item in items:
            if type(item) is dict:
                if item.get("type") != "tool_use":
                    return None
                calls.append(make_call(item.get("id"), item.get("name"), item.get("input")))
            elif getattr(item, "type", None) == "tool_use":
                calls.append(make_call(item.id, item.name, item.input))
            else:
                return None
        return calls

    def tool_messages(
        self, calls: Sequence[ToolCall], results: Sequence[ToolResult], *, include_assistant: bool = False,
        **options: Any,
    ) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if include_assistant:
            messages.append({"role": "assistant", "content": [
                {"type": "tool_use", "id": c.id, "name": c.name,
                 "input": c.arguments if isinstance(c.arguments, dict) else {}}
                for c in calls
            ]})
        tool_results: list[dict[str, Any]] = []
        for result in results:
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": result.call_id}
            if has_media(result):
                block["content"] = [_block(b) for b in content_blocks(result)]
            else:
                block["content"] = result_text(result)
            if result.is_error:
                block["is_error"] = True
            tool_results.append(block)
        messages.append({"role": "user", "content": tool_results})
        return messages


def _block(block: Any) -> dict[str, Any]:
    if isinstance(block, Image) and block.mime_type in _IMAGE_TYPES:
        source = {"type": "base64", "media_type": block.mime_type, "data": b64(block.data)}
        return {"type": "image", "source": source}
    if isinstance(block, Resource) and block.data is not None and block.mime_type == "application/pdf":
        return {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                               "data": b64(block.data)}}
    return {"type": "text", "text": block.text if isinstance(block, Text) else block_text(block)}

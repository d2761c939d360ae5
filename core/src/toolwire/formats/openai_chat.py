"""OpenAI Chat Completions: `tools=[{"type": "function", ...}]`, `tool_calls` in, `role: tool` out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from toolwire.formats import Dialect, _unrecognised, content_blocks, data_url, result_text
from toolwire.formats._content import arguments_text, b64, make_call
from toolwire.formats._strict import json_schema_parameters
from toolwire.tools import Audio, Image, Resource, Tool, ToolCall, ToolResult

__all__ = ["OpenAIChat"]

_MISSING = object()
_AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/mp3": "mp3"}


class OpenAIChat(Dialect):
    """Chat Completions. `tool_messages(..., include_assistant=True)` also rebuilds the assistant turn.

    Tool messages carry text only, so images, audio and PDFs a tool returns follow in one `user` message.
    """

    name = "openai-chat"

    def tool_schema(self, tool: Tool, *, strict: bool = False) -> dict[str, Any]:
        function: dict[str, Any] = {"name": tool.name}
        if tool.description:
            function["description"] = tool.description
        function["parameters"] = json_schema_parameters(tool, self.name, strict=strict)
        if strict:
            function["strict"] = True
        return {"type": "function", "function": function}

    def parse_calls(self, item: Any) -> list[ToolCall] | None:
        if isinstance(item, Mapping):
            function = item.get("function")
            if isinstance(function, Mapping):
                return [make_call(item.get("id"), function.get("name"), function.get("arguments"))]
            if "tool_calls" in item and item.get("role", "assistant") == "assistant":
                return self._calls(item["tool_calls"])
            choices = item.get("choices")
            if isinstance(choices, list) and item.get("object", "chat.completion") == "chat.completion":
                return self._calls(choices[0]["message"].get("tool_calls")) if choices else []
            return None
        function = getattr(item, "function", None)
        if function is not None:
            arguments = getattr(function, "arguments", _MISSING)
            return None if arguments is _MISSING else [make_call(item.id, function.name, arguments)]
        tool_calls = getattr(item, "tool_calls", _MISSING)
        if tool_calls is not _MISSING:
            return self._calls(tool_calls)
        choices = getattr(item, "choices", None)
        if isinstance(choices, list) and getattr(item, "object", None) == "chat.completion":
            return self._calls(choices[0].message.tool_calls) if choices else []
        return None

    def parse_batch(self, items: list[Any]) -> list[ToolCall] | None:
        first = items[0]
        calls: list[ToolCall] = []
        append = calls.append
        if type(first) is dict:
            for item in items:
                function = item.get("function") if type(item) is dict else None
                if type(function) is not dict:
                    return None
                append(_call(item.get("id"), function.get("name"), function.get("arguments")))
            return calls
        kind = type(first)
        if getattr(getattr(first, "function", None), "arguments", _MISSING) is _MISSING:
            return None
        for item in items:
            if type(item) is not kind:
                return None
            function = item.function
            append(_call(item.id, function.name, function.arguments))
        return calls

    def _calls(self, tool_calls: Any) -> list[ToolCall]:
        calls: list[ToolCall] = []
        for tool_call in tool_calls or ():
            found = self.parse_calls(tool_call)
            calls.extend(found if found is not None else [_unrecognised(tool_call)])
        return calls

    def tool_messages(
        self, calls: Sequence[ToolCall], results: Sequence[ToolResult], *, include_assistant: bool = False,
        **options: Any,
    ) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if include_assistant:
            messages.append({
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": c.id, "type": "function",
                     "function": {"name": c.name, "arguments": arguments_text(c)}}
                    for c in calls
                ],
            })
        attachments: list[dict[str, Any]] = []
        for result in results:
            messages.append({"role": "tool", "tool_call_id": result.call_id, "content": result_text(result)})
            parts = [part for block in content_blocks(result) if (part := _media_part(block)) is not None]
            if parts:
                attachments.append({"type": "text", "text": f"Attachments of tool call {result.call_id}:"})
                attachments.extend(parts)
        if attachments:
            messages.append({"role": "user", "content": attachments})
        return messages


def _call(call_id: Any, name: Any, arguments: Any) -> ToolCall:
    """`make_call` for the common case (string id, name and argument text) without its conversions."""
    if type(call_id) is str and type(name) is str and type(arguments) is str:
        return ToolCall(call_id, name, arguments)
    return make_call(call_id, name, arguments)


def _media_part(block: Any) -> dict[str, Any] | None:
    if isinstance(block, Image):
        return {"type": "image_url", "image_url": {"url": data_url(block)}}
    if isinstance(block, Audio) and block.mime_type in _AUDIO_FORMATS:
        return {"type": "input_audio", "input_audio": {"data": b64(block.data),
                                                       "format": _AUDIO_FORMATS[block.mime_type]}}
    if isinstance(block, Resource) and block.data is not None and block.mime_type == "application/pdf":
        filename = block.uri.rsplit("/", 1)[-1]
        return {"type": "file", "file": {"file_data": data_url(block), "filename": filename}}
    return None

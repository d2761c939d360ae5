"""Google Gemini: `tools=[{"function_declarations": [...]}]`, `function_call` parts in,
`function_response` parts out. Field names are the google-genai SDK's (snake_case, which the REST API
also accepts)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from toolwire.formats import (
    GENERATED_ID_PREFIX,
    Dialect,
    SchemaConversionError,
    Strictness,
    block_text,
    content_blocks,
    json_value,
)
from toolwire.formats._content import make_call
from toolwire.formats._gemini_schema import gemini_schema
from toolwire.tools import Audio, Image, Resource, Text, Tool, ToolCall, ToolResult

__all__ = ["Gemini"]

_MISSING = object()
_NOT_CALLS = ("text", "inline_data", "file_data", "thought", "thought_signature", "executable_code",
              "code_execution_result")


class Gemini(Dialect):
    """Gemini (google-genai). `schemas()` is one `Tool` holding every function declaration; results go back
    as one `user` content of `function_response` parts (`{"output": ...}` or `{"error": ...}`), images and
    other media as the response's inline parts (raw bytes, as the SDK takes them).

    Calls without an id get a generated one, which is left out of the responses (Gemini matches by name
    and order). Gemini has no strict mode: `strict=True` is an error, `strict="auto"` strict nowhere.
    """

    name = "gemini"

    def tool_schema(self, tool: Tool, *, strict: bool = False) -> dict[str, Any]:
        """One `FunctionDeclaration`."""
        if strict:
            raise ValueError("gemini has no strict mode; call schemas(format='gemini') without strict")
        parameters, problems = gemini_schema(tool.parameters)
        if problems:
            raise SchemaConversionError(self.name, {tool.name: problems})
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description:
            declaration["description"] = tool.description
        if parameters is not None:
            declaration["parameters"] = parameters
        return declaration

    def schemas(self, tools: Sequence[Tool], *, strict: Strictness = False) -> list[dict[str, Any]]:
        declarations = super().schemas(tools, strict=False if strict == "auto" else strict)
        return [{"function_declarations": declarations}] if declarations else []

    def parse_calls(self, item: Any) -> list[ToolCall] | None:
        if isinstance(item, Mapping):
            if "type" in item:
                return None
            call = item.get("function_call", item.get("functionCall"))
            if isinstance(call, Mapping):
                return [_call(call.get("id"), call.get("name"), call.get("args"))]
            if "args" in item and "name" in item:
                return [_call(item.get("id"), item.get("name"), item.get("args"))]
            if isinstance(item.get("candidates"), list):
                candidates = item["candidates"]
                return self.parse_each((candidates[0].get("content") or {}).get("parts")) if candidates else []
            if isinstance(item.get("parts"), list):
                return self.parse_each(item["parts"])
            return [] if any(key in item for key in _NOT_CALLS) else None
        call = getattr(item, "function_call", _MISSING)
        if call is not _MISSING and hasattr(item, "inline_data"):  # a Part
            return [] if call is None else [_call(call.id, call.name, call.args)]
        args = getattr(item, "args", _MISSING)
        if args is not _MISSING:  # a FunctionCall
            return [_call(getattr(item, "id", None), getattr(item, "name", None), args)]
        candidates = getattr(item, "candidates", None)
        if isinstance(candidates, list):
            content = candidates[0].content if candidates else None
            return self.parse_each(content.parts if content is not None else None)
        parts = getattr(item, "parts", _MISSING)
        if parts is not _MISSING and hasattr(item, "role"):  # a Content
            return self.parse_each(parts)
        return None

    def tool_messages(
        self, calls: Sequence[ToolCall], results: Sequence[ToolResult], *, include_assistant: bool = False,
        **options: Any,
    ) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if include_assistant:
            messages.append({"role": "model", "parts": [
                {"function_call": {**_id(c.id), "name": c.name,
                                   "args": c.arguments if isinstance(c.arguments, dict) else {}}}
                for c in calls
            ]})
        parts = [{"function_response": _response(result)} for result in results]
        messages.append({"role": "user", "parts": parts})
        return messages


def _call(call_id: Any, name: Any, args: Any) -> ToolCall:
    return make_call(call_id or f"{GENERATED_ID_PREFIX}{name or 'call'}", name, args)


def _id(call_id: str) -> dict[str, str]:
    return {} if call_id.startswith(GENERATED_ID_PREFIX) else {"id": call_id}


def _response(result: ToolResult) -> dict[str, Any]:
    response: dict[str, Any] = {**_id(result.call_id), "name": result.name}
    if result.error is not None:
        response["response"] = {"error": str(result.error)}
        return response
    media = [b for b in content_blocks(result)
             if isinstance(b, Image | Audio) or (isinstance(b, Resource) and b.data)]
    if isinstance(result.content, tuple):
        texts = [b for b in result.content if isinstance(b, Text | Resource) and b not in media]
        text = "\n".join(block_text(b) for b in texts)
        output = json_value(result.value) if result.value is not None else text
    else:
        output = json_value(result.value) if result.value is not None else result.content
    response["response"] = {"output": output}
    if media:
        response["parts"] = [
            {"inline_data": {"mime_type": b.mime_type or "application/octet-stream", "data": b.data}}
            for b in media
        ]
    return response

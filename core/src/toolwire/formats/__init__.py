"""Provider dialects: tool schemas out, tool calls in, results back.

A `Dialect` is offered by a plugin through the `toolwire_formats` hook; the built-in ones are too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from toolwire.tools import Tool, ToolCall, ToolResult

__all__ = ["Dialect", "parse_arguments", "parse_calls", "result_text"]


class Dialect:
    """One provider's shapes. Subclasses set `name` and override what their provider needs."""

    name: str = ""

    def tool_schema(self, tool: Tool, *, strict: bool = False) -> dict[str, Any]:
        """The request-side declaration of one tool."""
        raise NotImplementedError

    def schemas(self, tools: Sequence[Tool], *, strict: bool = False) -> list[dict[str, Any]]:
        """The `tools` list of a request (sorted by name upstream, so provider caches hit)."""
        return [self.tool_schema(tool, strict=strict) for tool in tools]

    def parse_calls(self, item: Any) -> list[ToolCall] | None:
        """The calls in `item` (one call, a message or a whole response), or None if not this dialect's."""
        return None

    def tool_messages(
        self, calls: Sequence[ToolCall], results: Sequence[ToolResult], **options: Any
    ) -> list[Any]:
        """What goes back to the model for these results."""
        raise NotImplementedError


def parse_arguments(raw: Any) -> dict[str, Any] | str:
    """Arguments as a dict; the raw string when it is not a JSON object (reported per call later)."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            return raw
        return parsed if isinstance(parsed, dict) else raw
    if hasattr(raw, "items"):
        return dict(raw.items())
    return str(raw)


def parse_calls(calls: Any, dialects: Iterable[Dialect]) -> list[ToolCall]:
    """Turn whatever the provider returned (a list of calls, a message, a response) into `ToolCall`s.

    Anything no dialect recognises becomes a call with no name, reported as `invalid_arguments`.
    """
    dialects = tuple(dialects)
    whole = _parse_one(calls, dialects)
    if whole is not None:
        return whole
    if isinstance(calls, (str, bytes, dict)) or not isinstance(calls, Iterable):
        return [_unrecognised(calls, 0)]
    parsed: list[ToolCall] = []
    for index, item in enumerate(calls):
        found = _parse_one(item, dialects)
        parsed.extend(found if found is not None else [_unrecognised(item, index)])
    return parsed


def _parse_one(item: Any, dialects: tuple[Dialect, ...]) -> list[ToolCall] | None:
    if isinstance(item, ToolCall):
        return [item]
    for dialect in dialects:
        found = dialect.parse_calls(item)
        if found is not None:
            return found
    return None


def _unrecognised(item: Any, index: int) -> ToolCall:
    call_id = item.get("id", "") if isinstance(item, dict) else getattr(item, "id", "")
    return ToolCall(id=str(call_id or f"call_{index}"), name="", arguments=repr(item)[:200])


def result_text(result: ToolResult) -> str:
    """A result as one string for providers that take text: the error, the text, or the value as JSON."""
    if result.error is not None:
        return str(result.error)
    return result.text

"""`function_tools`: `agents.FunctionTool`s calling a registry through one `CallBatcher`."""

from __future__ import annotations

import itertools
from typing import Any

from agents import FunctionTool
from agents.tool_context import ToolContext
from toolwire import CallBatcher, ToolCall, ToolRegistry
from toolwire.formats import json_value

__all__ = ["function_tools"]


def function_tools(registry: ToolRegistry, *, executor: str | None = None, timeout: float | None = None,
                   strict: bool = False) -> list[FunctionTool]:
    """The registry's enabled tools as function tools sharing one batcher (so one turn's calls form one
    batch). `executor` and `timeout` override the registry's backend and per-call deadline; `strict`
    asks for OpenAI's strict schemas (the registry's `strict` conversion of each tool's schema)."""
    batcher = CallBatcher(registry, executor=executor, timeout=timeout)
    ids = itertools.count(1)
    strict_schemas = {} if not strict else {
        schema["name"]: schema["parameters"] for schema in registry.schemas("openai-responses", strict=True)}
    tools = []
    for tool in registry.list(enabled=True):
        async def invoke(context: ToolContext[Any], arguments: str, name: str = tool.name) -> Any:
            call_id = getattr(context, "tool_call_id", None) or f"agents-{next(ids)}"
            result = await batcher.call(ToolCall(call_id, name, arguments or "{}"))
            if result.error is not None:
                return str(result.error)
            return json_value(result.value) if result.value is not None else result.text

        tools.append(FunctionTool(
            name=tool.name,
            description=tool.description,
            params_json_schema=strict_schemas.get(tool.name, dict(tool.parameters)),
            on_invoke_tool=invoke,
            strict_json_schema=strict,
        ))
    return tools

"""`function_tools`: `agents.FunctionTool`s calling a registry through one `CallBatcher`."""

from __future__ import annotations

import itertools
from typing import Any

from agents import FunctionTool, Tool, ToolOutputFileContent, ToolOutputImage, ToolOutputText
from agents.tool_context import ToolContext
from toolwire import CallBatcher, ContentBlock, Image, Resource, ToolCall, ToolRegistry, ToolResult
from toolwire.formats import Strictness, block_text, content_blocks, data_url, has_media, result_data

__all__ = ["function_tools"]


def function_tools(registry: ToolRegistry, *, executor: str | None = None, timeout: float | None = None,
                   strict: Strictness = False, defer_approvals: bool = False) -> list[Tool]:
    """The registry's enabled tools as function tools sharing one batcher (so one turn's calls form one
    batch). `executor` and `timeout` override the registry's backend and per-call deadline; `strict`
    asks for OpenAI's strict schemas (the registry's `strict` conversion of each tool's schema; "auto":
    strict for each tool that can be).

    `defer_approvals=True` gives the tools toolwire's approval policy holds (`registry.policy.needs_approval`)
    the SDK's `needs_approval`: a run stops at their calls with interruptions, and the calls approved on the
    run's state run when it resumes. Without it, a registry's `approve=` callback answers, or the model reads
    that approval is pending."""
    batcher = CallBatcher(registry, executor=executor, timeout=timeout)
    ids = itertools.count(1)
    strict_schemas = {} if not strict else {
        schema["name"]: schema["parameters"] for schema in registry.schemas("openai-responses", strict=strict)
        if schema["strict"]}
    tools: list[Tool] = []
    for tool in registry.list(enabled=True):
        held = defer_approvals and registry.policy.needs_approval(tool)

        async def invoke(context: ToolContext[Any], arguments: str, name: str = tool.name, held: bool = held) -> Any:
            call_id = getattr(context, "tool_call_id", None) or f"agents-{next(ids)}"
            # the SDK calls a held tool only once the call is approved
            result = await batcher.call(ToolCall(call_id, name, arguments or "{}"), approved=held)
            if result.error is not None:
                return str(result.error)
            return _returned(result, registry.policy.max_result_chars)

        tools.append(FunctionTool(
            name=tool.name,
            description=tool.description,
            params_json_schema=strict_schemas.get(tool.name, dict(tool.parameters)),
            on_invoke_tool=invoke,
            strict_json_schema=tool.name in strict_schemas,
            needs_approval=held,
        ))
    return tools


def _returned(result: ToolResult, max_chars: int | None) -> Any:
    """A result as the SDK takes a tool's output: its data (`toolwire.formats.result_data`), or its content as the
    SDK's text, image and file outputs when it holds more than text (audio, which the SDK cannot send, as a note)."""
    if has_media(result):
        return [_output(block) for block in content_blocks(result)]
    return result_data(result, max_chars)


def _output(block: ContentBlock) -> ToolOutputText | ToolOutputImage | ToolOutputFileContent:
    if isinstance(block, Image):
        return ToolOutputImage(image_url=data_url(block))
    if isinstance(block, Resource) and block.data is not None and block.mime_type == "application/pdf":
        return ToolOutputFileContent(file_data=data_url(block), filename=block.uri.rsplit("/", 1)[-1])
    return ToolOutputText(text=block_text(block))

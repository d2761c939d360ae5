"""The server side's shapes: a toolwire `Tool` as an MCP tool, a `ToolResult` as an MCP tool result.

MCP (through 2025-11-25) wants an object at the root of an output schema and of structured content; a
tool whose output is not an object has it wrapped as `{"result": ...}`, with the marker FastMCP uses
(`x-fastmcp-wrap-result`), so that its clients hand the plain value back. Clients check structured content
against the output schema and refuse a call whose content does not fit, so such a value is sent as the call's
error instead (`output_check`, with `toolwire.serving.OutputCheck`).
"""

from __future__ import annotations

import base64
from typing import Any

import mcp_types as types
from toolwire import Audio, ErrorKind, Image, Resource, Text, Tool, ToolError, ToolResult
from toolwire.formats import flat_root, json_value, rebased_references
from toolwire.serving import OutputCheck

__all__ = ["mcp_result", "mcp_tool", "output_check"]

_WRAPPED = "x-fastmcp-wrap-result"
"""Marks an output schema whose value travels under `result` (the tool's output is not an object)."""


def mcp_tool(tool: Tool, *, flat: bool = False) -> types.Tool:
    """`tool` as MCP lists it: name, description, input and output schema, annotations. `flat`: the input
    schema without `allOf`, `anyOf` or `oneOf` at its root (`toolwire.formats.flat_root`)."""
    hints = tool.annotations
    annotations = None
    if any(value is not None for value in (hints.read_only, hints.destructive, hints.idempotent, hints.open_world)):
        annotations = types.ToolAnnotations(read_only_hint=hints.read_only, destructive_hint=hints.destructive,
                                            idempotent_hint=hints.idempotent, open_world_hint=hints.open_world)
    parameters = flat_root(tool.parameters) if flat else dict(tool.parameters)
    parameters.setdefault("type", "object")
    parameters.setdefault("properties", {})
    return types.Tool(name=tool.name, description=tool.description or None, input_schema=parameters,
                      output_schema=output_schema(tool), annotations=annotations)


def output_schema(tool: Tool) -> dict[str, Any] | None:
    """The tool's output schema as MCP wants it: an object at the root (others wrapped under `result`)."""
    schema = tool.output_schema
    if schema is None:
        return None
    if schema.get("type") == "object":
        return dict(schema)
    inner = dict(schema)  # its definitions stay at the root, where its references look for them
    definitions = {key: inner.pop(key) for key in ("$defs", "definitions") if isinstance(inner.get(key), dict)}
    kept = {f"#/{key}": f"#/{key}" for key in definitions}
    return {"type": "object", "properties": {"result": rebased_references(inner, "/properties/result", kept)},
            "required": ["result"], _WRAPPED: True, **rebased_references(definitions, "/properties/result", kept)}


def output_check(tool: types.Tool) -> OutputCheck | None:
    """The check of a listed tool's structured content against the output schema clients were given."""
    schema = tool.output_schema
    return None if schema is None else OutputCheck(schema, wrapper="result" if schema.get(_WRAPPED) else None)


def mcp_result(result: ToolResult, tool: Tool | None, check: OutputCheck | None = None) -> types.CallToolResult:
    """A call's result as MCP sends it: an error as `is_error` with the message the model would read; a
    value as its content blocks plus, for a tool with an output schema or an object value, structured.
    `check` (`output_check`) turns a value that does not fit the output schema into an error."""
    if result.error is not None:
        return _error(result.error)
    content = [_block(block) for block in result.content] if not isinstance(result.content, str) else (
        [types.TextContent(text=result.content)] if result.content else [])
    structured = _structured(result.value, tool)
    if check is not None:
        sent = structured if structured is not None else json_value(result.value)
        misfit = check.misfit(result.name, sent, result.value)
        if misfit is not None:
            return _error(ToolError(ErrorKind.TOOL_ERROR, misfit))
    return types.CallToolResult(content=content, structured_content=structured)


def _error(error: ToolError) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=str(error))], is_error=True)


def _structured(value: Any, tool: Tool | None) -> Any:
    schema = output_schema(tool) if tool is not None else None
    if value is None and schema is None:
        return None
    plain = json_value(value)
    if schema is not None and schema.get(_WRAPPED):
        return {"result": plain}
    return plain if isinstance(plain, dict) else None


def _block(block: Any) -> Any:
    if isinstance(block, Text):
        return types.TextContent(text=block.text)
    if isinstance(block, Image):
        return types.ImageContent(data=base64.b64encode(block.data).decode(), mime_type=block.mime_type)
    if isinstance(block, Audio):
        return types.AudioContent(data=base64.b64encode(block.data).decode(), mime_type=block.mime_type)
    if isinstance(block, Resource):
        if block.text is not None or block.data is None:
            contents: Any = types.TextResourceContents(uri=block.uri, mime_type=block.mime_type, text=block.text or "")
        else:
            contents = types.BlobResourceContents(uri=block.uri, mime_type=block.mime_type,
                                                  blob=base64.b64encode(block.data).decode())
        return types.EmbeddedResource(resource=contents)
    return types.TextContent(text=str(block))

"""An MCP server's tool as a toolwire `Tool`; tools a model provider would refuse are left out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from toolwire import Annotations, Tool, ToolSource
from toolwire.formats import schema_problem

from toolwire_mcp._client.connection import Connection
from toolwire_mcp._client.invoker import MCPInvoker, Progress

if TYPE_CHECKING:
    from mcp.types import Tool as MCPTool

__all__ = ["tool_from_mcp", "usable_tools"]

log = logging.getLogger("toolwire.mcp")


def usable_tools(listed: Iterable[MCPTool], connection: Connection,
                 on_progress: Callable[[Progress], Any] | None = None) -> list[Tool]:
    """The toolwire tools for what a server listed, leaving out (with a warning) each tool whose input
    schema is not valid JSON Schema: a model provider refuses a request holding one, every other tool too;
    and a tool listed again under a name already listed (the server could not tell the two apart either)."""
    tools = []
    names: set[str] = set()
    for listed_tool in listed:
        if listed_tool.name in names:
            log.warning("the MCP server %s lists more than one tool named '%s'; the first is kept", connection.detail,
                        listed_tool.name)
            continue
        names.add(listed_tool.name)
        tool = tool_from_mcp(listed_tool, connection, on_progress)
        problem = schema_problem(tool.parameters)
        if problem is not None:
            log.warning("the MCP server %s lists the tool '%s' with an input schema that is not valid JSON Schema "
                        "(%s); it is left out, since a model provider would refuse every tool of a request "
                        "holding it", connection.detail, tool.name, problem)
            continue
        tools.append(tool)
    return tools


def tool_from_mcp(
    tool: MCPTool, connection: Connection, on_progress: Callable[[Progress], Any] | None = None
) -> Tool:
    """A toolwire `Tool` for one of the server's tools; its invoker holds only `connection` and the name."""
    hints = tool.annotations
    annotations = Annotations(
        read_only=hints.read_only_hint,
        destructive=hints.destructive_hint,
        idempotent=hints.idempotent_hint,
        open_world=hints.open_world_hint,
    ) if hints is not None else Annotations()
    retry = bool(annotations.read_only or annotations.idempotent)
    parameters = dict(tool.input_schema) or {"type": "object", "properties": {}}
    return Tool(
        name=tool.name,
        description=tool.description or (hints.title if hints and hints.title else None) or tool.title or "",
        parameters=parameters,
        invoker=MCPInvoker(connection, tool.name, retry=retry, on_progress=on_progress),
        annotations=annotations,
        source=ToolSource("mcp", f"{connection.detail} {tool.name}"),
        output_schema=dict(tool.output_schema) if tool.output_schema is not None else None,
        affinity=connection.detail if connection.transport in ("sse", "streamable-http") else None,
    )

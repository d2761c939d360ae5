"""An MCP server's tool as a toolwire `Tool`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolwire import Annotations, Tool, ToolSource

from toolwire_mcp._client.connection import Connection
from toolwire_mcp._client.invoker import MCPInvoker, Progress

if TYPE_CHECKING:
    from mcp.types import Tool as MCPTool

__all__ = ["tool_from_mcp"]


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

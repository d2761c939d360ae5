"""The `mcp` loader's entry point: tiny, so that plugin discovery never imports `mcp` itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolwire import LoaderSpec, hookimpl

from toolwire_mcp._common import is_server_object

if TYPE_CHECKING:
    from toolwire_mcp._loader import MCPLoader


def _make(**options: Any) -> MCPLoader:
    from toolwire_mcp._loader import MCPLoader

    return MCPLoader(**options)


@hookimpl
def toolwire_loaders() -> list[LoaderSpec]:
    return [LoaderSpec("mcp", _make, "MCP servers over stdio, SSE, streamable HTTP or in-process")]


@hookimpl
def toolwire_detect_loader(source: Any) -> str | None:
    return "mcp" if is_server_object(source) else None

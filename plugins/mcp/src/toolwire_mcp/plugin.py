"""toolwire-mcp's entry point: the `mcp` loader and the `mcp` server, kept tiny so that plugin discovery
never imports `mcp` itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolwire import LoaderSpec, ServerSpec, hookimpl

from toolwire_mcp._client.connection import is_server_object

if TYPE_CHECKING:
    from toolwire import ToolRegistry

    from toolwire_mcp._client.loader import MCPLoader
    from toolwire_mcp._server.server import MCPRegistryServer


def _make(**options: Any) -> MCPLoader:
    from toolwire_mcp._client.loader import MCPLoader

    return MCPLoader(**options)


@hookimpl
def toolwire_loaders() -> list[LoaderSpec]:
    return [LoaderSpec("mcp", _make, "MCP servers over stdio, SSE, streamable HTTP or in-process")]


def _serve(registry: ToolRegistry, **options: Any) -> MCPRegistryServer:
    from toolwire_mcp._server.server import MCPRegistryServer

    return MCPRegistryServer(registry, **options)


@hookimpl
def toolwire_servers() -> list[ServerSpec]:
    return [ServerSpec("mcp", _serve, "the registry's tools over MCP: stdio, streamable HTTP, SSE")]


@hookimpl
def toolwire_detect_loader(source: Any) -> str | None:
    return "mcp" if is_server_object(source) else None

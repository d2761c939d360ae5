"""An arithmetic MCP server (mcp 2.x `MCPServer`): add, subtract, multiply, divide.

`python -m toolwire_bench.mcp_server stdio`, or `sse` / `streamable-http` with `--port N` (on 127.0.0.1).
Dividing by zero is a tool error (`isError`). `toolwire_bench.servers.mcp_server` starts and stops it.
"""

from __future__ import annotations

import argparse

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

__all__ = ["server"]

server = MCPServer("toolwire-bench arithmetic", log_level="WARNING")


@server.tool()
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


@server.tool()
def subtract(a: float, b: float) -> float:
    """Subtract b from a."""
    return a - b


@server.tool()
def multiply(a: float, b: float) -> float:
    """Multiply two numbers."""
    return a * b


@server.tool()
def divide(a: float, b: float) -> float:
    """Divide a by b; b must not be zero."""
    if b == 0:
        raise ToolError("division by zero")
    return a / b


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("transport", choices=["stdio", "sse", "streamable-http"])
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    if args.transport == "stdio":
        server.run("stdio")
    else:
        server.run(args.transport, host="127.0.0.1", port=args.port)

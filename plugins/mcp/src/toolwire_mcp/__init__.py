"""toolwire-mcp, MCP both ways: the tools of MCP servers (stdio, SSE, streamable HTTP, in-process) as toolwire
tools, and a registry served over MCP.

```python
registry.load("mcp", "http://127.0.0.1:8001/mcp", namespace="m")
registry.load("mcp", ["python", "server.py"], namespace="local")
```

Two sides that never import each other: `_client` (the `mcp` loader, its sessions and invokers) and
`_server` (`toolwire serve mcp`).
"""

from toolwire_mcp._client.connection import KEEPALIVE_CONNECTIONS, Connection, connection_for
from toolwire_mcp._client.invoker import MCPInvoker, Progress
from toolwire_mcp._client.loader import MCPLoader
from toolwire_mcp._client.runtime import close_sessions

__all__ = [
    "KEEPALIVE_CONNECTIONS", "Connection", "MCPInvoker", "MCPLoader", "Progress", "close_sessions", "connection_for",
]

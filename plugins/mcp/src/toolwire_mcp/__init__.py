"""toolwire-mcp: the tools of MCP servers (stdio, SSE, streamable HTTP, in-process) as toolwire tools.

```python
registry.load("mcp", "http://127.0.0.1:8001/mcp", namespace="m")
registry.load("mcp", ["python", "server.py"], namespace="local")
```
"""

from toolwire_mcp._connection import KEEPALIVE_CONNECTIONS, Connection, connection_for
from toolwire_mcp._invoker import MCPInvoker, Progress
from toolwire_mcp._loader import MCPLoader
from toolwire_mcp._runtime import close_sessions

__all__ = [
    "KEEPALIVE_CONNECTIONS", "Connection", "MCPInvoker", "MCPLoader", "Progress", "close_sessions", "connection_for",
]

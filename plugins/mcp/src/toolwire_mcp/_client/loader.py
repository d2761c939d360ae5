"""`MCPLoader`: the tools of MCP servers, listed over the same session that later runs their calls."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from toolwire import Tool

from toolwire_mcp._client import runtime
from toolwire_mcp._client.connection import KEEPALIVE_CONNECTIONS, Connection, connection_for
from toolwire_mcp._client.invoker import Progress
from toolwire_mcp._client.limits import MAX_MESSAGE_BYTES
from toolwire_mcp._client.tools import usable_tools

__all__ = ["MCPLoader"]

ToolsCallback = Callable[[list[Tool]], None]


class MCPLoader:
    """Loads the tools of MCP servers: `load(source)` with a URL, a command or an `MCPServer` object.

    ```python
    loader = MCPLoader(headers={"Authorization": "Bearer ..."})
    tools = loader.load("http://127.0.0.1:8001/mcp")        # streamable HTTP, falling back to SSE
    tools = MCPLoader().load(["python", "server.py"])        # stdio
    ```

    Options: `transport` ("stdio", "sse", "streamable-http", "in-process"; chosen from the source when
    omitted), `command`/`args`/`env`/`cwd` for stdio, `headers` (a value may be `{"env": "VARIABLE"}`)
    and `header_env` (header name -> environment variable, read in the process that connects) for HTTP,
    `timeout` for connecting and listing (`None` or `inf`: no limit), `protocol` (`"legacy"`: the initialize
    handshake every server speaks, the default over stdio and SSE; `"auto"`: the 2026 protocol when the
    server offers it, the default over streamable HTTP and in-process; or a 2026 version to pin),
    `keepalive_connections` (idle HTTP connections kept for later requests, default 8: raise it for a remote
    server over TLS that gets large batches),
    `stderr` (a stdio server's stderr: `"log"`, line by line to the `toolwire.mcp` logger at INFO, the
    default; `"inherit"`, onto this process's stderr), `max_message_bytes` (default 10 MiB: a message
    from the server over it is dropped as it streams and its call fails with an error naming the limit),
    and `on_progress` for the servers' progress notifications.
    """

    def __init__(
        self,
        *,
        transport: str | None = None,
        command: str | Sequence[str] | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        headers: Mapping[str, str] | None = None,
        header_env: Mapping[str, str] | None = None,
        timeout: float | None = 30.0,
        protocol: str | None = None,
        keepalive_connections: int = KEEPALIVE_CONNECTIONS,
        stderr: str = "log",
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        on_progress: Callable[[Progress], Any] | None = None,
    ) -> None:
        self._options: dict[str, Any] = {
            "transport": transport, "command": command, "args": args, "env": env, "cwd": cwd,
            "headers": headers, "header_env": header_env, "timeout": timeout,
            "protocol": protocol, "keepalive_connections": keepalive_connections, "stderr": stderr,
            "max_message_bytes": max_message_bytes,
        }
        self.on_progress = on_progress
        self._connections: list[Connection] = []
        self._tools: dict[Connection, list[Tool]] = {}
        self._callbacks: list[ToolsCallback] = []
        self._lock = threading.Lock()

    def load(self, source: Any = None) -> list[Tool]:
        """Connect to the server `source` names (once per process) and return its tools."""
        connection = connection_for(source, **self._options)
        connection, listed = runtime.run_sync(_open(connection, self._on_listed))
        with self._lock:
            if connection not in self._connections:
                self._connections.append(connection)
            self._tools[connection] = usable_tools(listed, connection, self.on_progress)
            return list(self._tools[connection])

    def refresh(self) -> list[Tool]:
        """List every loaded server's tools again, and return them all."""
        for connection in list(self._connections):
            listed = runtime.run_sync(_relist(connection))
            self._store(connection, listed)
        return self.tools

    @property
    def tools(self) -> list[Tool]:
        """The tools of every server loaded so far, as last listed."""
        with self._lock:
            return [tool for connection in self._connections for tool in self._tools[connection]]

    def subscribe(self, callback: ToolsCallback) -> Callable[[], None]:
        """Call `callback(tools)` with all of this loader's tools whenever a server's tool list changes.

        It runs on a worker thread, after the server sent `notifications/tools/list_changed` and its
        tools were listed again. Returns a function that unsubscribes.
        """
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def close(self) -> None:
        """Close this process's sessions to the servers this loader connected to."""
        connections, self._connections = self._connections, []
        self._callbacks.clear()
        runtime.close_sessions(connections)

    def _on_listed(self, connection: Connection, listed: list[Any]) -> None:
        with self._lock:
            if connection not in self._connections:
                return
        self._store(connection, listed)
        with self._lock:
            callbacks = list(self._callbacks)
        tools = self.tools
        for callback in callbacks:
            callback(tools)

    def _store(self, connection: Connection, listed: list[Any]) -> None:
        tools = usable_tools(listed, connection, self.on_progress)
        with self._lock:
            self._tools[connection] = tools


async def _open(connection: Connection, on_listed: Callable[[Connection, list[Any]], None]
                ) -> tuple[Connection, list[Any]]:
    """Open (or reuse) the session, settle its transport, and return it with the tools it listed."""
    session = runtime.session(connection)
    listed = await session.list_tools()
    if connection.transport is None and session.transport is not None:
        connection = connection.with_transport(session.transport)
        session = runtime.rekey(session, connection)
    session.listeners.append(lambda tools: on_listed(connection, tools))
    return connection, listed


async def _relist(connection: Connection) -> list[Any]:
    return await runtime.session(connection).list_tools(refresh=True)

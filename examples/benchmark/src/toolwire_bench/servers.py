"""The benchmark's servers as context managers: each runs in a subprocess on 127.0.0.1 and is stopped on exit.

```python
from toolwire_bench.servers import calculator_service, mcp_server

with calculator_service() as base_url, mcp_server("streamable-http") as endpoint:
    registry.load("openapi", f"{base_url}/openapi.json", namespace="calc")
    registry.load("mcp", endpoint.url, transport=endpoint.transport, namespace="m")
```
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Literal

__all__ = ["McpEndpoint", "ServerError", "calculator_service", "free_port", "mcp_server", "mcp_stdio_command"]

McpTransport = Literal["stdio", "sse", "streamable-http"]


class ServerError(RuntimeError):
    """A server subprocess that exited or did not listen in time; the message holds its stderr."""


@dataclass(frozen=True, slots=True)
class McpEndpoint:
    """How to reach the MCP server: a URL (SSE, streamable HTTP) or the command a client spawns (stdio)."""

    transport: McpTransport
    url: str | None = None
    command: tuple[str, ...] = ()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mcp_stdio_command() -> tuple[str, ...]:
    """The command that runs the arithmetic MCP server over stdio (with this interpreter)."""
    return (sys.executable, "-m", "toolwire_bench.mcp_server", "stdio")


@contextmanager
def calculator_service(port: int | None = None, *, startup_timeout: float = 30.0) -> Iterator[str]:
    """Run the calculator HTTP service (uvicorn) on 127.0.0.1; yields its base URL."""
    port = port or free_port()
    command = (sys.executable, "-m", "toolwire_bench.calculator_app", "--port", str(port))
    with _serving(command, port, startup_timeout):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def mcp_server(
    transport: McpTransport = "streamable-http", port: int | None = None, *, startup_timeout: float = 30.0
) -> Iterator[McpEndpoint]:
    """Run the arithmetic MCP server over SSE or streamable HTTP on 127.0.0.1, or describe it for stdio.

    For `stdio` nothing starts here: each client spawns its own server from `McpEndpoint.command`.
    """
    if transport == "stdio":
        yield McpEndpoint("stdio", command=mcp_stdio_command())
        return
    if transport not in ("sse", "streamable-http"):
        raise ValueError(f"unknown MCP transport {transport!r}; use stdio, sse or streamable-http")
    port = port or free_port()
    command = (sys.executable, "-m", "toolwire_bench.mcp_server", transport, "--port", str(port))
    path = "/sse" if transport == "sse" else "/mcp"
    with _serving(command, port, startup_timeout):
        yield McpEndpoint(transport, url=f"http://127.0.0.1:{port}{path}")


@contextmanager
def _serving(command: Sequence[str], port: int, startup_timeout: float) -> Iterator[None]:
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=stderr)
        try:
            _wait_until_listening(process, port, startup_timeout, stderr)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_listening(
    process: subprocess.Popen[bytes], port: int, timeout: float, stderr: IO[bytes]
) -> None:
    name = " ".join(map(str, process.args))  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"{name} exited with {process.returncode}: {_tail(stderr)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerError(f"{name} did not listen on port {port} within {timeout}s: {_tail(stderr)}")


def _tail(stderr: IO[bytes]) -> str:
    stderr.seek(0)
    return stderr.read().decode(errors="replace")[-2000:]

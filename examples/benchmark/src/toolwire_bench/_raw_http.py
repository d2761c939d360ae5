"""A lean HTTP/1.1 JSON client for the serving benchmark and the OpenAPI service's capacity: keep-alive
connections over asyncio streams, one request at a time on each, a JSON answer read by its `Content-Length`,
nothing validated.

The mcp SDK's client and httpx each spend more CPU a call (1.5-2 ms here) than the servers measured, and
share the machine's cores with them, so every server ran at about its clients' rate. This client costs a
small part of that, so the rates say what the servers can do; every contender gets the same one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

__all__ = ["MCP_PROTOCOL", "RawClient", "mcp_call_body", "mcp_headers", "mcp_value", "raw_client"]

MCP_PROTOCOL = "2026-07-28"
"""The MCP revision the requests speak (stateless: every request carries the client's `_meta`)."""
_META = {"io.modelcontextprotocol/protocolVersion": MCP_PROTOCOL,
         "io.modelcontextprotocol/clientInfo": {"name": "toolwire-bench", "version": "0"},
         "io.modelcontextprotocol/clientCapabilities": {}}


class RawClient:
    """`size` keep-alive connections to one server; `post` and `get` wait for a free one."""

    def __init__(self, url: str, size: int) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.size = size
        self._free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self._all: list[asyncio.StreamWriter] = []

    async def open(self) -> None:
        for _ in range(self.size):
            await self._free.put(await self._connect())

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self._all.append(writer)
        return reader, writer

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """POST `body` as JSON; the status and the decoded JSON answer (None when there is none)."""
        data = json.dumps(body, separators=(",", ":")).encode()
        head = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        request = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                   f"Accept: application/json, text/event-stream\r\n{head}Content-Length: {len(data)}\r\n\r\n")
        return await self._exchange(request.encode() + data)

    async def get(self, target: str) -> tuple[int, Any]:
        """GET `target` (a path and query); the status and the decoded JSON answer (None when there is none)."""
        return await self._exchange(f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())

    async def _exchange(self, request: bytes) -> tuple[int, Any]:
        reader, writer = await self._free.get()
        try:
            writer.write(request)
            status, fields, payload = await _response(reader)
        except BaseException:
            writer.close()
            await self._free.put(await self._connect())
            raise
        if fields.get("connection") == "close":
            writer.close()
            reader, writer = await self._connect()
        await self._free.put((reader, writer))
        return status, json.loads(payload) if payload else None

    async def close(self) -> None:
        for writer in self._all:
            writer.close()
        for writer in self._all:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def raw_client(url: str, size: int) -> AsyncIterator[RawClient]:
    """An open `RawClient`, closed at the end of the block."""
    client = RawClient(url, size)
    try:
        await client.open()
        yield client
    finally:
        await client.close()


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            fields[name.strip().lower()] = value.strip()
    if "content-length" not in fields:  # every contender answers so; anything else counts as an error
        raise ValueError(f"an answer without Content-Length ({fields.get('content-type')}): not read here")
    return status, fields, await reader.readexactly(int(fields["content-length"]))


def mcp_call_body(request_id: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A `tools/call` request as the mcp SDK's client sends it."""
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments, "_meta": _META}}


def mcp_headers(name: str) -> dict[str, str]:
    """The headers the mcp SDK's client sends with a `tools/call` of `name`."""
    return {"Mcp-Protocol-Version": MCP_PROTOCOL, "Mcp-Method": "tools/call", "Mcp-Name": name}


def mcp_value(answer: Any) -> Any:
    """What a `tools/call` answer carries: its structured content, else its first text; None on an error."""
    result = answer.get("result") if isinstance(answer, dict) else None
    if not isinstance(result, dict) or result.get("isError"):
        return None
    if result.get("structuredContent") is not None:
        return result["structuredContent"]
    content = result.get("content") or []
    return content[0].get("text") if content else None

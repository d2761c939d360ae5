"""The serving benchmark's lean client against a loopback server that answers as the test says."""

from __future__ import annotations

import asyncio
import json

import pytest
from toolwire_bench._raw_http import mcp_call_body, mcp_headers, mcp_value, raw_client


async def test_it_reads_json_answers_and_an_answer_it_cannot_read_fails_that_call_alone() -> None:
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await answer_each(reader, writer)
        except asyncio.IncompleteReadError:
            writer.close()  # the client closed this connection

    async def answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await reader.readuntil(b"\r\n\r\n"):
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            body = await reader.readexactly(length)
            seen.append(head + body)
            if json.loads(body).get("chunked"):
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
            else:
                data = json.dumps({"result": {"structuredContent": {"result": 3}}}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(data), data))
            await writer.drain()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with raw_client(f"http://127.0.0.1:{port}/mcp", 1) as client:
            status, body = await client.post("/mcp", mcp_call_body(1, "add", {"a": 1, "b": 2}), mcp_headers("add"))
            assert (status, mcp_value(body)) == (200, {"result": 3})
            with pytest.raises(ValueError, match="without Content-Length"):
                await client.post("/mcp", {"chunked": True})
            status, body = await client.post("/mcp", {})  # on a fresh connection: the client goes on
            assert status == 200
    finally:
        server.close()
        await server.wait_closed()
    assert b"mcp-method: tools/call" in seen[0].lower() and b'"name":"add"' in seen[0]

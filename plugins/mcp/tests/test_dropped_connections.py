"""A connection dropped under one request of a batch, over streamable HTTP: that call's error, no one else's."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from toolwire import ErrorKind, ToolCall, ToolRegistry

MARKER = b"drop-this-connection"


class DroppingProxy:
    """A TCP proxy on 127.0.0.1 that aborts both sides of a connection once the client sends `MARKER`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.dropped = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        async def start() -> None:
            self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, watch: bool) -> None:
            try:
                while data := await reader.read(65536):
                    if watch and MARKER in data:
                        self.dropped += 1
                        client_writer.transport.abort()
                        server_writer.transport.abort()
                        return
                    writer.write(data)
                    await writer.drain()
                writer.close()
            except ConnectionError:
                writer.transport.abort()

        await asyncio.gather(pipe(client_reader, server_writer, True), pipe(server_reader, client_writer, False))

    def stop(self) -> None:
        async def shutdown() -> None:
            self.server.close()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def proxied_url(http_url: str) -> Iterator[tuple[str, DroppingProxy]]:
    parts = urlsplit(http_url)
    proxy = DroppingProxy(parts.port)
    yield urlunsplit((parts.scheme, f"127.0.0.1:{proxy.port}", parts.path, "", "")), proxy
    proxy.stop()


@pytest.mark.parametrize("protocol", ["auto", "legacy"])
def test_only_the_call_whose_connection_dropped_fails(proxied_url: tuple[str, DroppingProxy], protocol: str) -> None:
    url, proxy = proxied_url
    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", url, transport="streamable-http", protocol=protocol, namespace="m")
        calls = [ToolCall(f"c{i}", "m_shout", {"text": f"call {i}"}) for i in range(60)]
        calls[30] = ToolCall("c30", "m_shout", {"text": MARKER.decode()})
        results = registry.execute_tool_calls(calls, timeout=30)
        assert proxy.dropped == 1
        dropped = results[30]
        assert dropped.error is not None and dropped.error.kind is ErrorKind.TRANSPORT, dropped
        assert "failed during 'shout'" in dropped.content, dropped.content
        assert [r.value for i, r in enumerate(results) if i != 30] == [f"CALL {i}" for i in range(60) if i != 30]
        again = registry.execute_tool_calls([ToolCall("next", "m_shout", {"text": "next"})], timeout=30)
        assert again[0].value == "NEXT"

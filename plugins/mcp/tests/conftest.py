from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import toolwire_mcp
import uvicorn

HERE = Path(__file__).parent
SERVER_SCRIPT = HERE / "arith_server.py"


def _load_server_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("toolwire_mcp_test_arith_server", SERVER_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_arith = _load_server_module()


@pytest.fixture
def arith() -> ModuleType:
    """The test server's module: `build_server(events)`, `PIXEL`."""
    return _arith


@pytest.fixture(autouse=True)
def _close_sessions() -> Iterator[None]:
    yield
    toolwire_mcp.close_sessions()


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.txt"
    path.touch()
    return path


@pytest.fixture
def stdio_command(events_file: Path) -> list[str]:
    return [sys.executable, str(SERVER_SCRIPT), str(events_file)]


class HttpServer:
    """An MCP server app served by uvicorn on 127.0.0.1 in a thread of this process."""

    def __init__(self, app: object, path: str) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        started = threading.Event()
        while not self.server.started and self.thread.is_alive():
            started.wait(0.01)
        assert self.server.started, "uvicorn did not start"
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}{path}"

    def stop(self) -> None:
        toolwire_mcp.close_sessions()
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def events() -> list[str]:
    return []


@pytest.fixture
def serve() -> Iterator[Callable[[object, str], str]]:
    """`serve(app, path)` runs an ASGI app on 127.0.0.1 for this test and returns the URL of `path`."""
    servers: list[HttpServer] = []

    def start(app: object, path: str) -> str:
        servers.append(HttpServer(app, path))
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def http_url(serve: Callable[[object, str], str], events: list[str]) -> str:
    return serve(_arith.build_server(events).streamable_http_app(), "/mcp")


@pytest.fixture
def sse_url(serve: Callable[[object, str], str], events: list[str]) -> str:
    return serve(_arith.build_server(events).sse_app(), "/sse")


class TcpProxy:
    """Forwards every connection to `target_port` and counts the open ones.

    A connection that sends `drop_marker` is aborted, or given `answer` and closed when that is set.
    `post_delay` holds back each reply to a POST by that many seconds.
    """

    def __init__(
        self, target_port: int, drop_marker: bytes | None = None, answer: bytes | None = None, post_delay: float = 0.0
    ) -> None:
        self.target_port = target_port
        self.drop_marker = drop_marker
        self.answer = answer
        self.post_delay = post_delay
        self.dropped = 0
        self.open = 0
        self.most_open = 0
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
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            posted = asyncio.Event()

            async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, watch: bool) -> None:
                try:
                    while data := await reader.read(65536):
                        if watch and data.startswith(b"POST "):
                            posted.set()
                        if watch and self.drop_marker is not None and self.drop_marker in data:
                            self.dropped += 1
                            if self.answer is not None:
                                client_writer.write(self.answer)
                                await client_writer.drain()
                            client_writer.transport.abort()
                            server_writer.transport.abort()
                            return
                        if not watch and posted.is_set() and self.post_delay:
                            await asyncio.sleep(self.post_delay)
                        writer.write(data)
                        await writer.drain()
                    writer.close()
                except ConnectionError:
                    writer.transport.abort()

            await asyncio.gather(pipe(client_reader, server_writer, True), pipe(server_reader, client_writer, False))
        finally:
            self.open -= 1

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
def proxy() -> Iterator[Callable[..., tuple[str, TcpProxy]]]:
    """`proxy(url, **options)`: `url` rewritten to pass through a new `TcpProxy(**options)`, and the proxy."""
    proxies: list[TcpProxy] = []

    def start(url: str, **options: Any) -> tuple[str, TcpProxy]:
        parts = urlsplit(url)
        proxies.append(TcpProxy(parts.port, **options))
        return urlunsplit((parts.scheme, f"127.0.0.1:{proxies[-1].port}", parts.path, "", "")), proxies[-1]

    yield start
    for started in proxies:
        started.stop()

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

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

"""A service that misbehaves on the wire, next to one answer that is fine: a response that stalls after
half its body is that call's `timeout`, a connection reset is that call's `transport` error, every other
call gets its value, the next batch works, and nothing is left behind. The misbehaving server is a raw
socket server on 127.0.0.1 (no HTTP framework would send half a body and stop, or reset on purpose)."""

from __future__ import annotations

import socket
import struct
import sys
from collections.abc import Iterator

import pytest
from toolwire import ErrorKind, ToolCall, ToolRegistry, load_config
from toolwire.testing import no_leaks
from toolwire_openapi import close_clients

RawServer = sys.modules["toolwire_openapi_test_support"].RawServer  # loaded by conftest.py


def spec(url: str) -> dict:
    def get(operation: str) -> dict:
        return {"get": {"operationId": operation, "responses": {"200": {"description": "ok"}}}}

    return {"openapi": "3.0.3", "info": {"title": "faulty", "version": "1"}, "servers": [{"url": url}],
            "paths": {"/ok": get("ok"), "/stall": get("stall"), "/reset": get("reset")}}


class FaultyServer(RawServer):
    """Answers /ok with JSON, /stall with half a body then silence, /reset with a TCP reset."""

    def __init__(self) -> None:
        self.open: list[socket.socket] = []
        super().__init__()

    def answer(self, conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            request += chunk
        path = request.split(b" ", 2)[1]
        if path == b"/ok":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
                         b'Connection: close\r\n\r\n{"ok": true}')
            conn.close()
        elif path == b"/stall":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"half\":")
            self.open.append(conn)  # and nothing more: the client must give up at its deadline
        else:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # with linger 0: a reset

    def close(self) -> None:
        super().close()
        for conn in self.open:
            conn.close()
        self.open.clear()


@pytest.fixture
def faulty() -> Iterator[FaultyServer]:
    server = FaultyServer()
    yield server
    server.close()


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_a_stalled_body_and_a_reset_cost_only_their_own_calls(backend: str, faulty: FaultyServer) -> None:
    with no_leaks():
        config = load_config(environ={"TOOLWIRE_EXECUTOR": backend, "TOOLWIRE_WORKERS": "2"})
        with ToolRegistry(config=config) as registry:
            registry.load("openapi", spec(faulty.url), timeout=1.0)
            calls = [ToolCall("s", "stall", {}), ToolCall("r", "reset", {}),
                     *(ToolCall(f"ok{i}", "ok", {}) for i in range(4))]
            stalled, reset, *fine = registry.execute_tool_calls(calls, timeout=5)
            assert stalled.error is not None and stalled.error.kind is ErrorKind.TIMEOUT, stalled
            assert reset.error is not None and reset.error.kind is ErrorKind.TRANSPORT, reset
            assert [result.value for result in fine] == [{"ok": True}] * 4, [result.error for result in fine]
            [again] = registry.execute_tool_calls([ToolCall("a", "ok", {})], timeout=5)
            assert again.value == {"ok": True}
        faulty.close()
        close_clients()  # this process's pooled HTTP connections live on by design (the thread backend's)

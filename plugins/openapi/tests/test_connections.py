"""The sync client's connections (decision 0062): kept alive and reused, never reused once the server closed them,
a GET sent again on a fresh connection when the server closes a reused one as it arrives (a POST is not), a body
cut short is a `transport` error, a request the server answers before reading it all gets that answer, TLS is
checked unless `verify=False`, and none of it depends on descriptor
numbers staying under `select`'s 1024. The server is a raw socket server on 127.0.0.1 that counts the
connections it accepts (no HTTP framework closes a connection on cue)."""

from __future__ import annotations

import os
import resource
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from toolwire import ErrorKind, ToolCall, ToolRegistry, load_config
from toolwire_openapi import close_clients

RawServer = sys.modules["toolwire_openapi_test_support"].RawServer  # loaded by conftest.py

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"ok": true}'


def spec(url: str) -> dict[str, Any]:
    def operation(name: str) -> dict[str, Any]:
        return {"operationId": name, "responses": {"200": {"description": "ok"}}}

    data = {"type": "object", "properties": {"data": {"type": "string"}}}
    body = {"required": True, "content": {"application/json": {"schema": data}}}
    return {"openapi": "3.0.3", "info": {"title": "keep-alive", "version": "1"}, "servers": [{"url": url}],
            "paths": {"/ok": {"get": operation("ok"), "post": operation("post_ok")},
                      "/once": {"get": operation("once")}, "/close_soon": {"get": operation("close_soon")},
                      "/short": {"get": operation("short")},
                      "/refuse": {"post": {**operation("refuse"), "requestBody": body}}}}


class KeepAliveServer(RawServer):
    """Answers every request of a connection until told otherwise: `/once` closes the connection when its next
    request arrives, unanswered; `/close_soon` closes it 50 ms after answering; `/short` sends 10 of the 100
    bytes its Content-Length says, then closes; `POST /refuse` answers 413 and closes without reading the body.
    With an SSL `context`, over TLS."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.context = context
        self.scheme = "https" if context else "http"
        super().__init__()

    def answer(self, conn: socket.socket) -> None:
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            self._answer(conn)
        except OSError:  # a client that refused the certificate, or went away
            pass
        finally:
            conn.close()

    def _answer(self, conn: socket.socket) -> None:
        pending, close_next = b"", False
        while True:
            while b"\r\n\r\n" not in pending:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                pending += chunk
            head, pending = pending.split(b"\r\n\r\n", 1)
            if head.startswith(b"POST /refuse"):  # answered before the body is read, then closed
                conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
                             b"too large")
                return
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(pending) < length:
                pending += conn.recv(4096)
            pending = pending[length:]
            if close_next:
                return
            path = head.split(b" ", 2)[1].split(b"?")[0]
            if path == b"/short":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                             b'{"cut": 1')
                return
            conn.sendall(OK)
            if path == b"/close_soon":
                time.sleep(0.05)
                return
            close_next = path == b"/once"


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    server = KeepAliveServer()
    yield server
    server.close()


@pytest.fixture
def registry() -> Iterator[ToolRegistry]:
    with ToolRegistry(config=load_config(environ={"TOOLWIRE_EXECUTOR": "thread"})) as registry:
        yield registry
    close_clients()  # the pooled connections of this process: the server's threads end with them


def call(registry: ToolRegistry, name: str) -> Any:
    [result] = registry.execute_tool_calls([ToolCall("c", name, {})], timeout=10)
    return result


def test_one_connection_serves_call_after_call(server: KeepAliveServer, registry: ToolRegistry) -> None:
    registry.load("openapi", spec(server.url), timeout=5.0)
    assert [call(registry, "ok").value for _ in range(20)] == [{"ok": True}] * 20
    assert server.accepted == 1


def test_a_connection_the_server_closed_while_idle_is_not_reused(server: KeepAliveServer,
                                                                  registry: ToolRegistry) -> None:
    registry.load("openapi", spec(server.url), timeout=5.0)
    assert call(registry, "close_soon").value == {"ok": True}
    time.sleep(0.3)
    assert call(registry, "post_ok").value == {"ok": True}  # not sent on the closed connection: no retry needed
    assert server.accepted == 2


def test_a_get_closed_on_arrival_is_sent_again_a_post_is_not(server: KeepAliveServer, registry: ToolRegistry) -> None:
    registry.load("openapi", spec(server.url), timeout=5.0)
    assert call(registry, "once").value == {"ok": True}
    assert call(registry, "ok").value == {"ok": True}
    assert server.accepted == 2
    assert call(registry, "once").value == {"ok": True}
    posted = call(registry, "post_ok")
    assert posted.error is not None and posted.error.kind is ErrorKind.TRANSPORT, posted
    assert "Server disconnected without sending a response" in posted.error.message
    assert call(registry, "post_ok").value == {"ok": True}


def test_a_body_cut_short_is_a_transport_error(server: KeepAliveServer, registry: ToolRegistry) -> None:
    registry.load("openapi", spec(server.url), timeout=5.0)
    cut = call(registry, "short")
    assert cut.error is not None and cut.error.kind is ErrorKind.TRANSPORT, cut
    assert "without sending complete message body" in cut.error.message
    assert call(registry, "ok").value == {"ok": True}


def test_a_request_refused_before_it_is_all_sent_gets_its_answer(server: KeepAliveServer,
                                                                  registry: ToolRegistry) -> None:
    registry.load("openapi", spec(server.url), timeout=5.0)
    [refused] = registry.execute_tool_calls([ToolCall("c", "refuse", {"data": "x" * 8_000_000})], timeout=10)
    assert refused.error is not None and refused.error.kind is ErrorKind.TOOL_ERROR, refused  # not a broken pipe
    assert refused.error.message.startswith("HTTP 413 Payload Too Large")


def test_tls_is_verified_unless_told_not_to(registry: ToolRegistry) -> None:
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    tls = KeepAliveServer(context)
    try:
        registry.load("openapi", spec(tls.url), namespace="checked", timeout=5.0)
        registry.load("openapi", spec(tls.url), namespace="trusting", timeout=5.0, verify=False)
        refused = call(registry, "checked_ok")
        assert refused.error is not None and refused.error.kind is ErrorKind.TRANSPORT, refused
        assert "CERTIFICATE_VERIFY_FAILED" in refused.error.message
        assert [call(registry, "trusting_ok").value for _ in range(3)] == [{"ok": True}] * 3
        assert tls.accepted == 2
    finally:
        tls.close()


def test_connections_are_reused_past_descriptor_1024(server: KeepAliveServer, registry: ToolRegistry) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this machine allows {hard} open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    spare = [os.dup(0) for _ in range(1100)]  # the connection's descriptor comes above 1024: `select` refuses it
    try:
        registry.load("openapi", spec(server.url), timeout=5.0)
        assert [call(registry, "ok").value for _ in range(5)] == [{"ok": True}] * 5
        assert server.accepted == 1
    finally:
        for descriptor in spare:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

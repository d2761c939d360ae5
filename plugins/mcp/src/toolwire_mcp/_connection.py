"""How to reach one MCP server: picklable connection parameters, and the `mcp` client they open."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from toolwire_mcp.plugin import is_server_object

__all__ = [
    "KEEPALIVE_CONNECTIONS", "REQUEST_LOST", "TRANSPORTS", "Connection", "FailedRequestsAnswered",
    "Transport", "connection_for", "describe",
]

Transport = Literal["stdio", "sse", "streamable-http", "in-process"]
TRANSPORTS: tuple[str, ...] = ("stdio", "sse", "streamable-http", "in-process")
_MAX_CONNECTIONS = 64
KEEPALIVE_CONNECTIONS = 8
"""Idle HTTP connections kept open per session by default (see `Connection.keepalive_connections`)."""
_ALIASES = {"http": "streamable-http", "streamable_http": "streamable-http", "inprocess": "in-process"}


@dataclass(frozen=True)
class Connection:
    """The parameters of one MCP server connection; the key of the per-process session cache.

    `transport` is `None` for a URL whose transport is not known yet (streamable HTTP is tried, then
    SSE). `protocol` is the `mcp.Client` connect mode: `"legacy"` (the initialize handshake, the
    default over stdio and SSE), `"auto"` (the 2026 protocol when the server offers it, else the
    handshake; the default over streamable HTTP and in-process) or a 2026 protocol version.
    `keepalive_connections` is how many idle HTTP connections a session keeps for later requests (up to
    64 carry requests at once): the HTTP client checks every idle connection on each request, so a
    local server is fastest with few, while a remote server over TLS with large batches saves
    handshakes with more. Header values never appear in `repr` or in messages; `header_env` names
    environment variables read in whichever process connects. An in-process server (`server`) cannot
    be pickled: it runs where it lives, so use the thread backend or serve it over stdio or HTTP.
    """

    transport: Transport | None
    url: str | None = None
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] | None = field(default=None, repr=False)
    cwd: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    header_env: tuple[tuple[str, str], ...] = ()
    timeout: float = 30.0
    protocol: str | None = None
    keepalive_connections: int = KEEPALIVE_CONNECTIONS
    server: Any = field(default=None, compare=False, repr=False)
    server_id: int | None = None

    def __reduce__(self) -> Any:
        if self.transport == "in-process":
            raise TypeError(
                "an in-process MCP server cannot leave its process; run it on the thread backend, "
                "or serve it over stdio or HTTP for the process and dask backends"
            )
        return (_rebuild, (self._fields(),))

    def _fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def with_transport(self, transport: Transport) -> Connection:
        """This connection with its transport settled."""
        return Connection(**{**self._fields(), "transport": transport})

    @property
    def detail(self) -> str:
        """What to show for this server: its URL without credentials, its command line, or its name."""
        if self.url is not None:
            parts = urlsplit(self.url)
            netloc = parts.netloc.rpartition("@")[2]
            return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        if self.command is not None:
            return shlex.join([self.command, *self.args])
        name = getattr(self.server, "name", None)
        return f"in-process server {name!r}" if name else "in-process server"

    def resolved_headers(self) -> dict[str, str]:
        """The HTTP headers to send: the given ones, plus those read from environment variables now."""
        headers = dict(self.headers)
        for header, variable in self.header_env:
            value = os.environ.get(variable)
            if value is None:
                raise LookupError(f"the environment variable {variable} (for the {header} header) is not set")
            headers[header] = value
        return headers

    def client_mode(self, transport: Transport) -> str:
        """The `mcp.Client` connect mode for `transport` (see the class docstring)."""
        if self.protocol is not None:
            return self.protocol
        return "legacy" if transport in ("stdio", "sse") else "auto"

    def client_target(self, transport: Transport) -> Any:
        """What `mcp.Client` connects to for `transport`: server parameters, a transport or a server."""
        if transport == "in-process":
            return self.server
        if transport == "stdio":
            from mcp import StdioServerParameters

            assert self.command is not None
            env = dict(self.env) if self.env is not None else None
            return StdioServerParameters(command=self.command, args=list(self.args), env=env, cwd=self.cwd)
        assert self.url is not None
        headers = self.resolved_headers()
        if transport == "sse":
            from ._sse import sse_transport

            return sse_transport(self.url, _http_client(headers, self.timeout, keepalive=self.keepalive_connections))
        from mcp.client.streamable_http import streamable_http_client

        client = _http_client(headers, self.timeout, keepalive=self.keepalive_connections, answer_failed=True)
        return streamable_http_client(self.url, http_client=client)


def _http_client(headers: dict[str, str] | None = None, timeout: Any = None, auth: Any = None, *,
                 keepalive: int = KEEPALIVE_CONNECTIONS, answer_failed: bool = False) -> Any:
    """An `httpx2.AsyncClient` for a shared session: many concurrent requests, queued without a limit.

    Each request still has connect/read/write timeouts; waiting for a free connection has none, so a
    large batch queues instead of failing. At most `keepalive` idle connections stay open: httpcore2
    probes each idle one on every request it queues or finishes (a `poll` and a `getpeername`), which
    took a third of the client's time with 20-60 idle connections to a local server.
    With `answer_failed`, a request whose exchange broke is answered with an error for it alone (see
    `FailedRequestsAnswered`).
    """
    import httpx2

    if not isinstance(timeout, httpx2.Timeout):
        timeout = httpx2.Timeout(timeout or 30.0, read=300.0)
    limits = httpx2.Limits(max_connections=_MAX_CONNECTIONS, max_keepalive_connections=keepalive)
    transport = httpx2.AsyncHTTPTransport(limits=limits)
    return httpx2.AsyncClient(
        headers=headers,
        auth=auth,
        timeout=httpx2.Timeout(
            connect=timeout.connect, read=timeout.read, write=timeout.write, pool=None
        ),
        transport=FailedRequestsAnswered(transport) if answer_failed else transport,
    )


REQUEST_LOST = -32090
"""The JSON-RPC error code of a request whose HTTP exchange broke while its session stayed usable."""


class FailedRequestsAnswered:
    """An httpx transport that answers a JSON-RPC request whose exchange broke with an error for it alone.

    mcp's streamable HTTP client ends the whole session when one POST raises, which fails every call in
    flight (a connection the server dropped under load cost 4,364 of a 10,000-call batch). Here the one
    call gets a `REQUEST_LOST` error (a `transport` error) as the POST's answer, the others their results,
    and the session goes on. A refused connection still ends the session: the server is down, and the
    next call reconnects.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def handle_async_request(self, request: Any) -> Any:
        import httpx2

        try:
            return await self._inner.handle_async_request(request)
        except (httpx2.ConnectError, httpx2.ConnectTimeout):
            raise
        except httpx2.TransportError as exc:
            request_id = _jsonrpc_request_id(request) if request.method == "POST" else None
            if request_id is None:
                raise
            error = {"code": REQUEST_LOST, "message": describe(exc)}
            return httpx2.Response(502, json={"jsonrpc": "2.0", "id": request_id, "error": error}, request=request)

    async def __aenter__(self) -> FailedRequestsAnswered:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._inner.__aexit__(*exc_info)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _jsonrpc_request_id(request: Any) -> Any:
    """The id of the JSON-RPC request `request` carries, or `None` (a notification, or not JSON-RPC)."""
    try:
        message = json.loads(request.content)
    except (ValueError, TypeError):
        return None
    return message.get("id") if isinstance(message, dict) else None


def _rebuild(fields: dict[str, Any]) -> Connection:
    return Connection(**fields)


def connection_for(
    source: Any,
    *,
    transport: str | None = None,
    command: str | Sequence[str] | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    headers: Mapping[str, str] | None = None,
    header_env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    protocol: str | None = None,
    keepalive_connections: int = KEEPALIVE_CONNECTIONS,
) -> Connection:
    """The `Connection` for a loader's source and options (see `MCPLoader`)."""
    chosen = _ALIASES.get(transport, transport) if transport else None
    if chosen is not None and chosen not in TRANSPORTS:
        raise ValueError(f"unknown MCP transport {transport!r}; choose one of {', '.join(TRANSPORTS)}")
    if protocol is not None:
        _check_protocol(protocol)
    if not isinstance(keepalive_connections, int) or keepalive_connections < 0:
        raise ValueError(f"keepalive_connections must be a whole number >= 0, not {keepalive_connections!r}")
    common: dict[str, Any] = {
        "headers": _pairs(headers),
        "header_env": _pairs(header_env),
        "timeout": timeout,
        "protocol": protocol,
        "keepalive_connections": keepalive_connections,
    }
    if is_server_object(source):
        if chosen not in (None, "in-process"):
            raise ValueError(f"an in-process server object cannot use transport={transport!r}")
        return Connection("in-process", server=source, server_id=id(source), **common)
    if source is None and command is not None:
        source = command
    if isinstance(source, str) and urlsplit(source).scheme in ("http", "https"):
        if chosen in ("stdio", "in-process"):
            raise ValueError(f"transport={transport!r} needs a command or a server object, not a URL")
        return Connection(chosen, url=source, **common)  # type: ignore[arg-type]
    if isinstance(source, str | Sequence) and source and chosen in (None, "stdio"):
        parts = shlex.split(source) if isinstance(source, str) else [os.fspath(part) for part in source]
        return Connection(
            "stdio",
            command=parts[0],
            args=(*parts[1:], *args),
            env=_pairs(env) if env is not None else None,
            cwd=os.fspath(cwd) if cwd is not None else None,
            **common,
        )
    raise ValueError(
        f"cannot connect to MCP source {source!r}: give a URL, a command (list or string), "
        "or an in-process server object"
    )


def _check_protocol(protocol: str) -> None:
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    if protocol not in ("legacy", "auto", *MODERN_PROTOCOL_VERSIONS):
        choices = ", ".join(repr(p) for p in ("legacy", "auto", *MODERN_PROTOCOL_VERSIONS))
        raise ValueError(f"unknown MCP protocol {protocol!r}; choose one of {choices}")


def _pairs(mapping: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> tuple[tuple[str, str], ...]:
    if mapping is None:
        return ()
    items = mapping.items() if isinstance(mapping, Mapping) else mapping
    return tuple(sorted((str(key), str(value)) for key, value in items))


def describe(exc: BaseException) -> str:
    """An exception as `Type: message` (a group of one: its member)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

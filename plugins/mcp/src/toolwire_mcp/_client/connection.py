"""How to reach one MCP server: picklable connection parameters (opening them is `transports`' job)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from toolwire.executing import check_timeout

from toolwire_mcp._client.limits import MAX_MESSAGE_BYTES

__all__ = ["KEEPALIVE_CONNECTIONS", "TRANSPORTS", "Connection", "Transport", "connection_for", "is_server_object"]

Transport = Literal["stdio", "sse", "streamable-http", "in-process"]
TRANSPORTS: tuple[str, ...] = ("stdio", "sse", "streamable-http", "in-process")
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
    handshakes with more. A stdio server's `stderr` goes to the `toolwire.mcp` logger line by line
    (`"log"`) or to this process's stderr (`"inherit"`). A message from the server over
    `max_message_bytes` (a stdio line, an SSE event, a JSON body) is dropped as it arrives, and the call
    it answers fails with an error naming the limit. Header values never appear in `repr` or in
    messages; `header_env` names
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
    timeout: float | None = 30.0
    protocol: str | None = None
    keepalive_connections: int = KEEPALIVE_CONNECTIONS
    stderr: str = "log"
    max_message_bytes: int = MAX_MESSAGE_BYTES
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
    timeout: float | None = 30.0,
    protocol: str | None = None,
    keepalive_connections: int = KEEPALIVE_CONNECTIONS,
    stderr: str = "log",
    max_message_bytes: int = MAX_MESSAGE_BYTES,
) -> Connection:
    """The `Connection` for a loader's source and options (see `MCPLoader`)."""
    chosen = _ALIASES.get(transport, transport) if transport else None
    if chosen is not None and chosen not in TRANSPORTS:
        raise ValueError(f"unknown MCP transport {transport!r}; choose one of {', '.join(TRANSPORTS)}")
    if protocol is not None:
        _check_protocol(protocol)
    if not isinstance(keepalive_connections, int) or keepalive_connections < 0:
        raise ValueError(f"keepalive_connections must be a whole number >= 0, not {keepalive_connections!r}")
    if stderr not in ("log", "inherit"):
        raise ValueError(f"stderr is 'log' (to the toolwire.mcp logger) or 'inherit', not {stderr!r}")
    if not isinstance(max_message_bytes, int) or max_message_bytes < 1024:
        raise ValueError(f"max_message_bytes must be a whole number >= 1024, not {max_message_bytes!r}")
    given, from_env = _split_headers(headers)
    common: dict[str, Any] = {
        "headers": _pairs(given),
        "header_env": _pairs({**from_env, **(header_env or {})}),
        "timeout": check_timeout(timeout),
        "protocol": protocol,
        "keepalive_connections": keepalive_connections,
        "max_message_bytes": max_message_bytes,
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
            stderr=stderr,
            **common,
        )
    raise ValueError(
        f"cannot connect to MCP source {source!r}: give a URL, a command (list or string), "
        "or an in-process server object"
    )


def _split_headers(headers: Mapping[str, Any] | None) -> tuple[dict[str, str], dict[str, str]]:
    """Header values given as strings, and those given as `{"env": "VARIABLE"}` (as in toolwire.toml)."""
    given: dict[str, str] = {}
    from_env: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if isinstance(value, str):
            given[name] = value
        elif isinstance(value, Mapping) and set(value) == {"env"} and isinstance(value["env"], str):
            from_env[name] = value["env"]
        else:
            raise TypeError(f"the header {name!r} must be a string or {{'env': 'VARIABLE'}} (read from the "
                            f"environment where the server is reached), not {type(value).__name__}")
    return given, from_env


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


def is_server_object(source: Any) -> bool:
    """Whether `source` is an `mcp` server object (`MCPServer` or the low-level `Server`), without
    importing `mcp`."""
    return any(
        cls.__module__.startswith("mcp.server") and cls.__name__ in ("MCPServer", "Server")
        for cls in type(source).__mro__
    )

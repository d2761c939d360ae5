"""`StdlibTransport`: the sync client's httpx transport, over the standard library's `http.client`.

httpx's own transport (httpcore and h11) costs about 1.4x this one's client CPU for a call sent alone, and
twice it with 16 calls in flight, when every request scans the pool's connections under its lock (decision
0062). Here each origin has a stack of idle keep-alive connections, taken and given back with one `deque`
operation. httpx above it still builds the requests, follows redirects, runs the event hooks and decodes the
bodies; failures are raised as the httpx exceptions its own transport raises.
"""

from __future__ import annotations

import http.client
import select
import ssl
import time
from collections import deque
from collections.abc import Iterator

import httpx

__all__ = ["StdlibTransport"]

KEEPALIVE_EXPIRY_S = 5.0
"""How long an idle connection is kept (httpx's default; servers close theirs after about as long)."""
_READ_SIZE = 65536
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]
Connection = http.client.HTTPConnection


class StdlibTransport(httpx.BaseTransport):
    """Sends httpx requests over pooled `http.client` connections (HTTP/1.1), keeping at most `max_idle`
    idle ones per origin; `verify` as httpx's (TLS certificates checked against certifi's bundle)."""

    def __init__(self, *, verify: bool = True, max_idle: int = 16) -> None:
        self._verify = verify
        self._context: ssl.SSLContext | None = None
        self._max_idle = max_idle
        self._idle: dict[Origin, deque[tuple[Connection, float]]] = {}
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or _DEFAULT_PORTS.get(url.scheme)
        if port is None:
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{url.scheme}://'.",
                                            request=request)
        origin = (url.scheme, url.host, port)
        timeouts = request.extensions.get("timeout", {})
        body = request.read()
        while True:
            connection, reused = self._take(origin, timeouts.get("connect"), request)
            try:
                response = _exchange(connection, request, body, timeouts)
            except _Stale as stale:
                connection.close()
                if reused and request.method in _IDEMPOTENT:
                    continue  # the server closed an idle connection as it was reused: again on another one
                raise stale.error from None
            except BaseException:
                connection.close()
                raise
            headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.getheaders()]
            extensions = {"http_version": b"HTTP/1.0" if response.version == 10 else b"HTTP/1.1",
                          "reason_phrase": response.reason.encode("latin-1")}
            stream = _Body(self, origin, connection, response, request)
            return httpx.Response(response.status, headers=headers, stream=stream, extensions=extensions)

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            while connections:
                connections.pop()[0].close()

    def _take(self, origin: Origin, timeout: float | None, request: httpx.Request) -> tuple[Connection, bool]:
        """An idle connection to `origin` still open, or a new one (connected here); whether it was idle."""
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            try:
                connection, since = idle.pop()
            except IndexError:  # another thread took the last one
                break
            if now - since < KEEPALIVE_EXPIRY_S and not _dropped(connection):
                return connection, True
            connection.close()
        scheme, host, port = origin
        if scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._ssl())
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.connect()
        except TimeoutError as exc:
            connection.close()
            raise httpx.ConnectTimeout(str(exc) or "timed out", request=request) from None
        except OSError as exc:  # refused, unreachable, a certificate that does not verify
            connection.close()
            raise httpx.ConnectError(str(exc), request=request) from None
        return connection, False

    def _give_back(self, origin: Origin, connection: Connection) -> None:
        idle = self._idle.setdefault(origin, deque())
        if len(idle) < self._max_idle and not self._closed:
            idle.append((connection, time.monotonic()))
        else:
            connection.close()

    def _ssl(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = httpx.create_ssl_context(verify=self._verify, trust_env=False)
        return self._context


class _Stale(Exception):
    """A connection that failed before the server answered anything: `error` says how."""

    def __init__(self, error: httpx.TransportError) -> None:
        self.error = error


def _exchange(connection: Connection, request: httpx.Request, body: bytes,
              timeouts: dict[str, float | None]) -> http.client.HTTPResponse:
    """Send `request` and read the response's head. A request that could not be sent whole may have been
    answered all the same (a server refusing a large body with 413 closes without reading it), so the answer
    is read first and the failure to send reported only if there is none, as httpcore does."""
    sock = connection.sock
    assert sock is not None
    sock.settimeout(timeouts.get("write"))
    unsent: OSError | None = None
    try:
        connection.putrequest(request.method, request.url.raw_path.decode("ascii"), skip_host=True,
                              skip_accept_encoding=True)
        for name, value in request.headers.raw:
            connection.putheader(name, value)
        chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
        connection.endheaders([body] if chunked else body or None, encode_chunked=chunked)
    except TimeoutError as exc:
        raise httpx.WriteTimeout(str(exc) or "timed out", request=request) from None
    except OSError as exc:
        unsent = exc
    except (ValueError, http.client.HTTPException) as exc:  # a header or a path that cannot be sent as it is
        raise httpx.LocalProtocolError(str(exc), request=request) from None
    sock.settimeout(timeouts.get("read"))
    try:
        return connection.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        if unsent is not None:
            error = httpx.WriteError(str(unsent), request=request)
            raise (_Stale(error) if isinstance(unsent, BrokenPipeError | ConnectionResetError) else error) from None
        if isinstance(exc, TimeoutError):
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from None
        if isinstance(exc, http.client.RemoteDisconnected | ConnectionResetError):
            raise _Stale(httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                                   request=request)) from None
        if isinstance(exc, http.client.HTTPException):  # a status line or headers that are not HTTP/1.1
            raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}", request=request) from None
        raise httpx.ReadError(str(exc), request=request) from None


class _Body(httpx.SyncByteStream):
    """A response's body as it arrives; once read to its end, the connection goes back to the idle ones."""

    def __init__(self, transport: StdlibTransport, origin: Origin, connection: Connection,
                 response: http.client.HTTPResponse, request: httpx.Request) -> None:
        self._transport = transport
        self._origin = origin
        self._connection = connection
        self._response = response
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        response, request = self._response, self._request
        try:
            while chunk := response.read(_READ_SIZE):
                yield chunk
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from None
        except http.client.IncompleteRead as exc:
            raise httpx.RemoteProtocolError(f"peer closed connection without sending complete message body: {exc}",
                                            request=request) from None
        except http.client.HTTPException as exc:
            raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}", request=request) from None
        except OSError as exc:
            raise httpx.ReadError(str(exc), request=request) from None
        if response.length:  # `read` ends early, without a word, when the server closes a body it has not all sent
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body: "
                                            f"{response.length} more bytes expected", request=request)

    def close(self) -> None:
        response, connection = self._response, self._connection
        if response.isclosed() and not response.will_close:
            self._transport._give_back(self._origin, connection)
        else:
            response.close()
            connection.close()


def _dropped(connection: Connection) -> bool:
    """Whether an idle connection was closed by the server (or has bytes nobody asked for): it is readable."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):  # no limit on descriptor numbers, unlike `select`
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True

"""Front ends that serve a registry to clients: the `Server` base class and the rules every server keeps.

A server plugin (`toolwire_servers` hook) builds a `Server` from a registry and its options. Servers bind
127.0.0.1 unless told otherwise; a server reachable from other machines requires a bearer token, read
from the environment variable its config names, and compares it in constant time (`token_matches`).

```python
registry.serve("mcp", transport="stdio")                        # blocks
await registry.aserve("http", host="127.0.0.1", port=8765)      # until cancelled
```
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

__all__ = [
    "DEFAULT_HOST", "TRACE_HEADERS", "BearerOnly", "OutputCheck", "ServeError", "Server", "bearer_token",
    "in_background", "is_loopback", "serve_asgi", "token_matches", "trace_headers",
]

log = logging.getLogger("toolwire")

DEFAULT_HOST = "127.0.0.1"
"""Where servers bind unless told otherwise: loopback only (another address needs a bearer token)."""

TRACE_HEADERS = ("traceparent", "tracestate")
"""The W3C trace context headers a server passes on (`trace_headers`)."""
trace_headers: ContextVar[Mapping[str, str] | None] = ContextVar("toolwire_trace_headers", default=None)
"""The W3C trace context (`TRACE_HEADERS`) of the HTTP request a server is answering, set where it handles the
request: a tracing plugin continues the client's trace from it where no span of the request is current (an
application nobody instrumented). Only these headers: nothing else of a request reaches the plugins."""


class ServeError(ValueError):
    """A server cannot start with the options given; the message says what to change."""


class Server:
    """Serves a registry until stopped: `run()` blocks; `await arun()` serves until cancelled.

    Subclasses implement `arun` and set `started` once they serve (and `url`, for a network server);
    `serve_asgi` does both for an ASGI app. `in_background(server)` serves one from a thread of its own.
    """

    def __init__(self) -> None:
        self.started = threading.Event()
        """Set once the server serves (for HTTP, listens)."""
        self.url: str | None = None
        """Where clients reach the server (for HTTP, with the port bound), once `started`."""

    def run(self) -> None:
        """Serve in this thread until interrupted (on uvloop's event loop when it is installed)."""
        with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(self.arun())

    async def arun(self) -> None:
        """Serve on the running event loop until cancelled."""
        raise NotImplementedError


def _loop_factory() -> Any:
    """The event loop servers run on: uvloop's when it is installed (`toolwire-core[serve]` brings it
    where it exists, as uvicorn's own `standard` extra does), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def _end_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks a server left on its loop (a library's watcher, a stream's pinger) and let them end,
    as `asyncio.run` does, so that none is destroyed pending when the loop closes."""
    leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


@contextlib.contextmanager
def in_background(server: Server, timeout: float = 30.0) -> Iterator[Server]:
    """Serve `server` on an event loop in a thread of its own until the block ends; yields it once it has
    `started` (its `url` set). `RuntimeError` if it does not start within `timeout` seconds (with the
    server's own error when it failed) or does not stop within `timeout` seconds at the end."""
    loop = _loop_factory()()
    task: list[asyncio.Task[None]] = []
    failure: list[BaseException] = []

    def serve() -> None:
        task.append(loop.create_task(server.arun()))
        try:
            loop.run_until_complete(task[0])
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # reported by the thread that waits for the start
            failure.append(exc)
        finally:
            _end_leftovers(loop)
            loop.close()

    thread = threading.Thread(target=serve, name="toolwire-serving", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started.wait(0.05):
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            thread.join(1)
            raise RuntimeError(f"the server did not start: {failure[0]!r}" if failure else "the server did not start")
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(task[0].cancel)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"the server did not stop within {timeout}s")


async def serve_asgi(server: Server, app: Any, host: str, port: int, path: str = "") -> None:
    """Serve the ASGI `app` with uvicorn on `host`:`port` (0: any free port) until cancelled; once it
    listens, set `server.url` (`http://host:port` + `path`) and `server.started`. Needs uvicorn
    (`toolwire-core[serve]`, which the server plugins that use this depend on)."""
    import uvicorn

    served = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    task = asyncio.ensure_future(served.serve())
    try:
        while not served.started and not task.done():
            await asyncio.sleep(0.01)
        if served.started:
            bound = served.servers[0].sockets[0].getsockname()[1]
            server.url = f"http://{f'[{host}]' if ':' in host else host}:{bound}{path}"
            server.started.set()
        await asyncio.shield(task)
    except asyncio.CancelledError:
        served.should_exit = True
        await task
        raise


class OutputCheck:
    """A check of what a server sends for a tool's value against the output schema it declares for the tool:
    clients that read the declaration (MCP's, generated HTTP clients) refuse a value that does not fit, so a
    server answers such a call with an error (`misfit` says what did not fit) instead of the value.

    `wrapper` names the property the value travels under when the declared schema wraps it (MCP's
    `{"result": ...}`); a schema jsonschema-rs cannot read checks nothing.
    """

    def __init__(self, schema: Mapping[str, Any], *, wrapper: str | None = None) -> None:
        import jsonschema_rs

        self.wrapper = wrapper
        try:
            self._validator: Any = jsonschema_rs.validator_for(dict(schema))
        except (jsonschema_rs.ValidationError, ValueError) as exc:
            log.info("serving values unchecked: an output schema cannot be read: %s", exc)
            self._validator = None

    def misfit(self, name: str, sent: Any, value: Any) -> str | None:
        """Why `sent` (the JSON data a server would send for `value`, the tool's own) does not fit, as the call's
        error message; None when it fits."""
        validator = self._validator
        if validator is None or validator.is_valid(sent):
            return None
        error = next(iter(validator.iter_errors(sent)))
        path = list(error.instance_path)
        if self.wrapper is not None and path[:1] == [self.wrapper]:
            path = path[1:]
        where = "".join(f"[{step!r}]" for step in path)
        nulls = " (NaN and infinite numbers are written as null)" if error.instance is None and value is not None \
            else ""
        message = (f"'{name}' returned a value that does not fit its output schema, which clients check: "
                   f"{'value' + where + ': ' if where else ''}{error.message}{nulls}; return what the tool declares")
        log.warning("%s", message)
        return message


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bearer_token(host: str, token_env: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The token clients must send as `Authorization: Bearer ...`, read from `token_env`.

    `None` (no token needed) on a loopback address without `token_env`. Raises `ServeError` when the
    host is reachable from other machines and no token is configured, or the variable is unset or empty.
    """
    environ = os.environ if environ is None else environ
    if token_env is None:
        if is_loopback(host):
            return None
        raise ServeError(
            f"refusing to serve on {host} without a bearer token: set token_env to the name of an environment "
            f"variable holding one (toolwire.toml: [serve] token_env = \"TOOLWIRE_SERVE_TOKEN\"), or bind "
            f"{DEFAULT_HOST}"
        )
    token = environ.get(token_env, "")
    if not token:
        raise ServeError(f"token_env names {token_env}, which is not set or empty; export a token in it")
    return token


def token_matches(header: str | None, token: str) -> bool:
    """Whether an `Authorization` header carries `token` as a bearer token (constant-time comparison)."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


class BearerOnly:
    """ASGI middleware for HTTP servers: a request without `Authorization: Bearer <token>` gets 401 with
    `body` (of `content_type`) and reaches nothing else. Other scopes (lifespan) pass through."""

    def __init__(self, app: Any, token: str, *, body: bytes, content_type: str = "application/json") -> None:
        self.app = app
        self.token = token
        self.body = body
        self.content_type = content_type.encode("latin-1")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            header = dict(scope.get("headers") or ()).get(b"authorization", b"").decode("latin-1")
            if not token_matches(header, self.token):
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", self.content_type), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": self.body})
                return
        await self.app(scope, receive, send)

"""The process's shared background loop (`toolwire.loop`) owns every MCP session this process opens.

Sessions are opened lazily, one per `Connection`, and shared by all concurrent calls. Code already on the
owning loop (async tools run by the thread backend) awaits them directly; callers on any other event loop,
or on none, submit coroutines to the owning loop, so a session opened from sync code keeps working from
`asyncio.run` later, and a caller's cancellation reaches the MCP request (which sends
`notifications/cancelled`). A forked child forgets its parent's sessions and opens its own.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from toolwire import ToolCallError
from toolwire.loop import shared_loop

from toolwire_mcp._client.bridge import Bridge
from toolwire_mcp._client.connection import Connection, Transport
from toolwire_mcp._client.errors import LOST_HERE, MALFORMED_ANSWER, REQUEST_LOST, alone, describe, problems
from toolwire_mcp._client.limits import MESSAGE_TOO_LARGE
from toolwire_mcp._client.listings import readable_listings
from toolwire_mcp._client.transports import client_target

if TYPE_CHECKING:
    from mcp import Client
    from mcp.shared.dispatcher import ProgressFnT
    from mcp.shared.exceptions import MCPError
    from mcp.types import CallToolResult, InputRequiredResult
    from mcp.types import Tool as MCPTool

__all__ = ["ToolsListener", "close_sessions", "rekey", "run", "run_sync", "session"]

log = logging.getLogger("toolwire.mcp")
_T = TypeVar("_T")
ToolsListener = Callable[["list[MCPTool]"], None]
_CLOSE_TIMEOUT = 5.0


class _Runtime:
    """The owning loop, its thread, and the sessions it holds."""

    def __init__(self) -> None:
        owner = shared_loop()
        self.bridge = Bridge(owner)
        self.loop = owner.loop
        self.thread = owner.thread
        self.sessions: dict[Connection, _Session] = {}

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)


_runtime: _Runtime | None = None
_runtime_lock = threading.Lock()


def _get_runtime() -> _Runtime:
    global _runtime
    runtime = _runtime
    if runtime is not None:
        return runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = _Runtime()
        return _runtime


def _forget_in_child() -> None:
    global _runtime, _runtime_lock
    _runtime, _runtime_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


def run(coro: Coroutine[Any, Any, _T]) -> Awaitable[_T]:
    """`coro` to await on the running loop: itself on the owning loop, else run there through the bridge
    (cancelling the caller cancels it there)."""
    runtime = _get_runtime()
    if asyncio.get_running_loop() is runtime.loop:
        return coro
    return runtime.bridge.run(coro)


def run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run `coro` on the owning loop and wait for it from sync code."""
    runtime = _get_runtime()
    if threading.current_thread() is runtime.thread:
        coro.close()
        raise RuntimeError("toolwire_mcp cannot wait for its own event loop from inside it")
    return runtime.submit(coro).result()


def session(connection: Connection) -> _Session:
    """This process's session for `connection`; call only on the owning loop."""
    sessions = _get_runtime().sessions
    found = sessions.get(connection)
    if found is None:
        found = sessions[connection] = _Session(connection)
    return found


def rekey(session: _Session, connection: Connection) -> _Session:
    """File `session` (opened for a URL whose transport was unknown) under its settled `connection`.

    Returns the session kept for `connection`: this one, or one that was already open for it.
    """
    sessions = _get_runtime().sessions
    for key in [k for k, v in sessions.items() if v is session]:
        del sessions[key]
    kept = sessions.setdefault(connection, session)
    if kept is session:
        session.connection = connection
    else:
        session.close_soon()
    return kept


def close_sessions(connections: list[Connection] | None = None) -> None:
    """Close this process's sessions (all of them, or those for `connections`); they reopen on use."""
    runtime = _runtime
    if runtime is None or not runtime.thread.is_alive():
        return

    async def close() -> None:
        chosen = list(runtime.sessions) if connections is None else connections
        sessions = [runtime.sessions.pop(c) for c in chosen if c in runtime.sessions]
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)

    try:
        runtime.submit(close()).result(timeout=_CLOSE_TIMEOUT * 2)
    except (concurrent.futures.TimeoutError, RuntimeError):
        log.warning("some MCP sessions did not close in time")


atexit.register(close_sessions)


class _Session:
    """One connection's live `mcp.Client`, owned by a task of the owning loop; reopened after a failure."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.transport: Transport | None = connection.transport
        self.tools: list[MCPTool] = []
        self.listeners: list[ToolsListener] = []
        self._client: Client | None = None
        self._stop: asyncio.Event | None = None
        self._owner: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._relist_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()

    async def client(self) -> Client:
        """The live client, connecting first if there is none."""
        client = self._client
        if client is not None:
            return client
        async with self._lock:
            if self._client is None:
                await self._open()
            assert self._client is not None
            return self._client

    async def list_tools(self, *, refresh: bool = False) -> list[MCPTool]:
        """The server's tools: as listed when the session opened, or listed again with `refresh`."""
        client = await self.client()
        if refresh:
            await self._relist(client)
        return self.tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], *, retry: bool,
        progress: ProgressFnT | None, answers: Mapping[str, Any] | None = None,
    ) -> CallToolResult | InputRequiredResult:
        """Call a tool; a transport failure reconnects, and is retried once when `retry` is set. A question the
        server asks (2026 protocol) is the answer, for the caller to put to its user; `answers` answer one asked
        before (`call_tool`'s `input_responses` and `request_state`)."""
        attempts = 2 if retry else 1
        for attempt in range(attempts):
            try:
                client = await self.client()
            except ConnectionError as exc:
                raise ToolCallError(str(exc), kind="transport") from exc
            try:
                return await _call(client, name, arguments, progress, answers or {})
            except Exception as exc:
                failure = _transport_failure(exc)
                if failure is None:
                    taken = _untaken(exc, name, self.connection.detail)
                    if taken is None:
                        raise
                    raise taken from exc
                if not _request_lost(exc):  # the session itself failed: the next call reconnects
                    self._discard(client)
                if attempt + 1 == attempts:
                    raise ToolCallError(
                        f"the connection to MCP server {self.connection.detail} failed during "
                        f"'{name}': {failure}", kind="transport",
                    ) from exc
                log.info("retrying '%s' on %s after: %s", name, self.connection.detail, failure)
        raise AssertionError("unreachable")

    def close_soon(self) -> None:
        """Start closing the connection without waiting for it (on the owning loop)."""
        task = asyncio.get_running_loop().create_task(self.close())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Close the connection (a stdio server is stopped); the session may be opened again."""
        owner = self._owner
        if self._stop is not None:
            self._stop.set()
        self._client = None
        if owner is not None:
            await asyncio.wait({owner}, timeout=_CLOSE_TIMEOUT)

    # -- connecting --------------------------------------------------------------------------------

    async def _open(self) -> None:
        choices: list[Transport] = [self.transport] if self.transport else ["streamable-http", "sse"]
        failures = []
        for transport in choices:
            try:
                await self._start(transport)
            except Exception as exc:
                inner = alone(exc)
                if isinstance(inner, UnreadableListing):  # connected: another transport would list the same
                    raise UnreadableListing(f"MCP server {self.connection.detail}: {inner}") from None
                failures.append(f"{transport}: {describe(exc)}")
                continue
            self.transport = transport
            return
        tried = "; ".join(failures)
        raise ConnectionError(f"could not connect to MCP server {self.connection.detail} ({tried})")

    async def _start(self, transport: Transport) -> None:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        owner = asyncio.create_task(self._own(transport, ready, stop), name=f"mcp {self.connection.detail}")
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.connection.timeout)
        except BaseException:
            stop.set()
            owner.cancel()
            raise
        self._stop, self._owner = stop, owner

    async def _own(self, transport: Transport, ready: asyncio.Future[None], stop: asyncio.Event) -> None:
        """Hold the client open until `stop` is set or the connection fails."""
        from mcp import Client

        try:
            target = client_target(self.connection, transport)
            if transport != "in-process":
                target = readable_listings(target, self.connection.detail)
            mode = self.connection.client_mode(transport)
            asks = {} if mode == "legacy" else _questions_taken()  # 2026: questions come back with the call
            async with Client(target, message_handler=self._on_message, cache=None, mode=mode, **asks) as client:
                self.tools = await _list_all(client)
                self._client = client
                ready.set_result(None)
                listen = asyncio.create_task(self._listen(client))
                try:
                    await stop.wait()
                finally:
                    listen.cancel()
                    await asyncio.gather(listen, return_exceptions=True)
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else ConnectionError(describe(exc)))
            elif not isinstance(exc, asyncio.CancelledError):
                log.debug("MCP session for %s ended: %s", self.connection.detail, describe(exc))
        finally:
            if self._stop is stop:
                self._client = None

    def _discard(self, client: Client) -> None:
        """Forget a failed client so that the next call reconnects; its owner closes it."""
        if self._client is client:
            self._client = None
            if self._stop is not None:
                self._stop.set()

    # -- tool list changes -------------------------------------------------------------------------

    async def _listen(self, client: Client) -> None:
        """Subscribe to tool-list changes on servers that speak the 2026 protocol.

        The notifications themselves arrive through `_on_message` on every protocol version.
        """
        capabilities = client.server_capabilities.tools
        if capabilities is None or not capabilities.list_changed:
            return
        from mcp_types.version import MODERN_PROTOCOL_VERSIONS

        if client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            return
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _event in subscription:
                    pass
        except Exception as exc:
            log.debug("cannot listen for tool changes on %s: %s", self.connection.detail, describe(exc))

    async def _on_message(self, message: Any) -> None:
        from mcp.types import ToolListChangedNotification

        if isinstance(message, ToolListChangedNotification) and self._client is not None:
            task = asyncio.create_task(self._relist(self._client, notify=True))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _relist(self, client: Client, *, notify: bool = False) -> None:
        async with self._relist_lock:
            try:
                self.tools = await _list_all(client)
            except Exception as exc:
                if not notify:
                    raise
                log.warning("re-listing the tools of %s failed: %s", self.connection.detail, describe(exc))
                return
        if notify:
            loop = asyncio.get_running_loop()
            for listener in list(self.listeners):
                loop.run_in_executor(None, listener, list(self.tools))


async def _call(
    client: Client, name: str, arguments: dict[str, Any],
    progress: ProgressFnT | None, answers: Mapping[str, Any],
) -> CallToolResult | InputRequiredResult:
    """`client.call_tool`, with the session called directly in the common case of a one-round call.

    A 2026 multi-round call (the server answered `InputRequiredResult`) that asks for input is returned as it is;
    one that asks for nothing resumes from the server's `request_state` through `client.call_tool`, which drives
    it. A call the server rejected for a stale listing (`HEADER_MISMATCH`, nothing ran) is listed again and resent.
    """
    MCPError, CallToolResult, HEADER_MISMATCH = _call_names()
    try:
        result = await client.session.call_tool(name, arguments, progress_callback=progress,
                                                allow_input_required=True, **answers)
    except MCPError as exc:
        if exc.code != HEADER_MISMATCH:
            raise
        return await client.call_tool(name, arguments, progress_callback=progress, **answers)
    if isinstance(result, CallToolResult):
        return result
    resumed = cast("InputRequiredResult", result)  # the other answer `allow_input_required` lets through
    if resumed.input_requests:
        return resumed
    return await client.call_tool(name, arguments, progress_callback=progress, request_state=resumed.request_state)


async def _not_mid_call(context: Any, params: Any = None) -> Any:
    """Declares that this client takes the server's questions (for its user, its host's model, its roots): on the
    2026 protocol they come back with the call (`InputRequiredResult`) for its caller to answer; one asked in the
    middle of a call, the handshake's way, cannot reach the caller and is refused."""
    from mcp_types import INVALID_REQUEST, ErrorData

    return ErrorData(code=INVALID_REQUEST, message="a request in the middle of a call (elicitation, sampling, roots) "
                     "is not supported by this client (toolwire); ask with an input-required result (protocol "
                     "2026-07-28)")


def _questions_taken() -> dict[str, Any]:
    """The `Client` keywords that declare elicitation, sampling (with tools) and roots: on the 2026 protocol a
    question of each kind comes back with the call."""
    from mcp_types import SamplingCapability, SamplingToolsCapability

    return {"elicitation_callback": _not_mid_call, "sampling_callback": _not_mid_call,
            "sampling_capabilities": SamplingCapability(tools=SamplingToolsCapability()),
            "list_roots_callback": _not_mid_call}


@functools.cache
def _call_names() -> tuple[type[MCPError], type[CallToolResult], int]:
    """What `_call` needs from `mcp`, imported on first use rather than with this module."""
    from mcp.shared.exceptions import MCPError
    from mcp.types import CallToolResult
    from mcp_types.jsonrpc import HEADER_MISMATCH

    return MCPError, CallToolResult, HEADER_MISMATCH


class UnreadableListing(ValueError):
    """The server answered `tools/list` with tools the mcp SDK cannot read: connected, but nothing to load."""


async def _list_all(client: Client) -> list[MCPTool]:
    from pydantic import ValidationError

    tools: list[MCPTool] = []
    cursor: str | None = None
    asked: set[str] = set()
    while True:
        try:
            page = await client.list_tools(cursor=cursor)
        except ValidationError as exc:
            raise UnreadableListing(f"the tools it lists do not follow MCP ({problems(exc)}); the mcp SDK reads "
                                    "none of them, so no tool of this server can be loaded until it is fixed") from None
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools
        if cursor in asked:  # a server that hands back a cursor it gave before would be listed without end
            log.warning("an MCP server listed its tools in a loop (cursor %r came back); its tools so far are "
                        "loaded", cursor[:80])
            return tools
        asked.add(cursor)


def _untaken(exc: Exception, name: str, source: str) -> ToolCallError | None:
    """The error of a call whose answer we could not take (over the size limit, not JSON-RPC, not a tool result),
    naming the server and what was wrong; `None` for the server's own error, which stands as it is."""
    from pydantic import ValidationError

    if getattr(exc, "code", None) in (MESSAGE_TOO_LARGE, MALFORMED_ANSWER):
        return ToolCallError(f"'{name}' on MCP server {source}: {exc}")
    if isinstance(exc, ValidationError):
        return ToolCallError(f"'{name}' on MCP server {source}: the answer is not an MCP tool result ({problems(exc)})")
    if _unparsed(exc):
        return ToolCallError(f"'{name}' on MCP server {source}: the MCP server's answer cannot be read: it is not a "
                             "JSON-RPC result or error")
    from jsonschema.exceptions import ValidationError as Misfit  # what the SDK's output schema check raises from

    misfit = exc.__cause__
    if isinstance(exc, RuntimeError) and isinstance(misfit, Misfit):
        where = "".join(f"[{step!r}]" for step in misfit.absolute_path)
        return ToolCallError(f"'{name}' on MCP server {source}: its answer does not fit the output schema the server "
                             f"declared ({'value' + where + ': ' if where else ''}{misfit.message})")
    return None


def _unparsed(exc: Exception) -> bool:
    """Whether `exc` is the mcp SDK's own error for an answer over streamable HTTP it could not validate (it
    carries pydantic's whole report, a dozen lines no model needs)."""
    from mcp.shared.exceptions import MCPError
    from mcp.types import PARSE_ERROR

    return isinstance(exc, MCPError) and exc.code == PARSE_ERROR and exc.data is None and "validation error" in \
        exc.message and exc.message.startswith(("Failed to parse JSON response: ", "Failed to parse SSE message: "))


def _transport_failure(exc: BaseException) -> str | None:
    """Why `exc` means the connection is gone, or `None` when the server answered."""
    import anyio
    import httpx2
    from mcp.shared.exceptions import MCPError
    from mcp.types import CONNECTION_CLOSED

    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return _transport_failure(exc.exceptions[0])
    if isinstance(exc, MCPError):  # -32000 is also the code servers use most for errors of their own
        closed = exc.code == CONNECTION_CLOSED and exc.message == "Connection closed" and exc.data is None
        return exc.message if closed or _request_lost(exc) else None
    lost = (OSError, EOFError, httpx2.TransportError, anyio.ClosedResourceError, anyio.BrokenResourceError,
            anyio.EndOfStream)
    return describe(exc) if isinstance(exc, lost) else None


def _request_lost(exc: BaseException) -> bool:
    """Whether `exc` is one request's broken exchange on a session that is still usable."""
    from mcp.shared.exceptions import MCPError
    from mcp.types import CONNECTION_CLOSED

    if not isinstance(exc, MCPError):
        return False
    if exc.code == REQUEST_LOST:
        return exc.data == LOST_HERE  # ours (a server may send the code too)
    # The SDK's own words for a response stream that broke or ended without an answer (one request's)
    return exc.code == CONNECTION_CLOSED and exc.data is None and exc.message.startswith("SSE stream ")

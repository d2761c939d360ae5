"""`toolwire serve mcp`: a registry's tools served over MCP (stdio, streamable HTTP, SSE).

Every call goes through the registry (validation, policies, the configured backend, its deadline), and
calls that arrive together, from any number of clients, go out as one batch (`toolwire.CallBatcher`). A
client's `notifications/cancelled`, or a client gone mid-call, cancels that call alone; a call the registry's
approval policy holds is put to the client's user (`asking`) when the client takes elicitation; the registry's
tool changes reach the clients as `notifications/tools/list_changed`; progress a tool reports
(`toolwire.report_progress`, or an upstream MCP server's) reaches the client that asked for it, from
this process or from the workers of the process and dask backends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import weakref
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp.server.lowlevel import NotificationOptions
from mcp.server.lowlevel import Server as LowLevelServer
from toolwire import CallBatcher, ToolCall, ToolResult
from toolwire.executing import input_answers, listen_progress
from toolwire.serving import DEFAULT_HOST, BearerOnly, OutputCheck, Server, bearer_token, serve_asgi

from toolwire_mcp._server.asking import APPROVAL_KEY, Asking, asks_by_result, returned_question
from toolwire_mcp._server.shapes import mcp_result, mcp_tool, output_check
from toolwire_mcp._server.unreadable import Answering

if TYPE_CHECKING:
    from toolwire import ToolChanges, ToolRegistry

__all__ = ["MCPRegistryServer"]

TRANSPORTS = ("stdio", "streamable-http", "sse")
DEFAULT_PORT = 8765
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
_UNAUTHORIZED = json.dumps({"jsonrpc": "2.0", "id": None, "error": {
    "code": -32001, "message": "unauthorized: send the server's token as 'Authorization: Bearer ...'"}}).encode()
_ROUNDS = 8
"""How many times a call whose tool asks its user questions runs, mid-call (protocols before 2026-07-28)."""
_ALIASES = {"http": "streamable-http", "streamable_http": "streamable-http"}


class _Announcing(LowLevelServer):
    """The SDK's server, telling clients at initialization that it announces tool changes."""

    def create_initialization_options(self, notification_options: Any = None, *args: Any, **kwargs: Any) -> Any:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True), *args, **kwargs)


class MCPRegistryServer(Server):
    """A registry served over MCP. Options: `transport` ("stdio", the default; "streamable-http", at
    `path` "/mcp"; "sse", at "/sse"), `host` (default 127.0.0.1) and `port` (default 8765; 0 for any free
    one) for HTTP, `token_env` (the environment variable holding the bearer token clients must send;
    required off loopback), `max_request_bytes` (default 4 MiB), `name` (what clients see), `flat_roots`
    (default False: input schemas as the tools declare them; True: without `allOf`, `anyOf` or `oneOf` at
    their root, for hosts whose model refuses such roots, as Anthropic's does).

    `started` is set once the server listens (`url` then says where, for HTTP transports).
    """

    def __init__(self, registry: ToolRegistry, *, transport: str = "stdio", host: str = DEFAULT_HOST,
                 port: int = DEFAULT_PORT, path: str = "/mcp", token_env: str | None = None,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, name: str = "toolwire",
                 flat_roots: bool = False) -> None:
        transport = _ALIASES.get(transport, transport)
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown MCP transport {transport!r}; choose one of {', '.join(TRANSPORTS)}")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port < 65536:
            raise ValueError(f"port must be a number from 0 to 65535, got {port!r}")
        if not isinstance(max_request_bytes, int) or max_request_bytes < 1:
            raise ValueError(f"max_request_bytes must be a positive number of bytes, got {max_request_bytes!r}")
        if not isinstance(flat_roots, bool):
            raise ValueError(f"flat_roots must be true or false, got {flat_roots!r}")
        self.registry = registry
        self.transport = transport
        self.host, self.port, self.path = host, port, path
        self.max_request_bytes = max_request_bytes
        self.name = name
        self.flat_roots = flat_roots
        self.token = None if transport == "stdio" else bearer_token(host, token_env)
        super().__init__()
        self._batcher = CallBatcher(registry)
        self._ids = itertools.count(1)
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._listed: tuple[int, dict[str, types.Tool]] | None = None
        self._checks: dict[str, OutputCheck | None] = {}
        """Each listed tool's output check, made on its first call (emptied with the listing)."""
        self._asking = Asking()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bus: Any = None

    async def arun(self) -> None:
        from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler

        self._loop = asyncio.get_running_loop()
        self._bus = InMemorySubscriptionBus()  # tool changes for clients on the 2026 protocol (they listen)
        server = _Announcing(self.name, version=_version(), on_list_tools=self._list_tools,
                             on_call_tool=self._call_tool, on_subscriptions_listen=ListenHandler(self._bus),
                             get_tool_input_schema=self._input_schema)
        unsubscribe = self.registry.on_tools_changed(self._changed)
        try:
            if self.transport == "stdio":
                await self._serve_stdio(server)
            else:
                await self._serve_http(server)
        finally:
            unsubscribe()

    # -- the handlers ----------------------------------------------------------------------------------

    async def _list_tools(self, ctx: Any, params: Any) -> types.ListToolsResult:
        self._remember(ctx)
        return types.ListToolsResult(tools=list(self._listing().values()))

    def _input_schema(self, name: str) -> dict[str, Any] | None:
        """The input schema `tools/list` gives `name` (the SDK checks a call's `Mcp-Param-*` headers
        against it; without this it would list every tool for every call to find it)."""
        tool = self._listing().get(name)
        return None if tool is None else tool.input_schema

    def _listing(self) -> dict[str, types.Tool]:
        """The enabled tools as MCP lists them, by name (made again when the registry's tools change)."""
        version = self.registry.version
        if self._listed is None or self._listed[0] != version:
            self._listed = (version, {tool.name: mcp_tool(tool, flat=self.flat_roots)
                                      for tool in self.registry.list(enabled=True)})
            self._checks = {}
        return self._listed[1]

    async def _call_tool(self, ctx: Any, params: types.CallToolRequestParams
                         ) -> types.CallToolResult | types.InputRequiredResult:
        self._remember(ctx)
        call = ToolCall(f"mcp-{next(self._ids)}", params.name, dict(params.arguments or {}))
        tool = self.registry.get(params.name) if params.name in self.registry else None
        approved = False
        if tool is not None and self.registry.approve is None and self.registry.policy.needs_approval(tool) \
                and self._asking.can_ask(ctx):
            answer = await self._asking.ask(ctx, params, tool)
            if isinstance(answer, types.InputRequiredResult):
                return answer
            if answer is not True:  # denied, or the question failed: the registry says so in its own words
                answers = {} if answer is None else {call.id: answer}
                [result] = await self.registry.aexecute_tool_calls([call], approvals=answers)
                return mcp_result(result, tool)
            approved = True
        given = _given(params, self._asking.tool_state(params, approved))
        progress = (params.meta or {}).get("progress_token") is not None  # the client wants this call's progress
        stop = listen_progress(call.id, self._progress_to(ctx.session)) if progress else None
        try:
            for _ in range(_ROUNDS):
                result = await self._batcher.call(call, approved=approved, inputs=given)
                asked = result.error.input_required if result.error is not None else None
                if asked is None:
                    break
                if not self._asking.can_take(ctx, asked):  # a question the client cannot take stays the call's error
                    result = _unanswerable(result)
                    break
                if asks_by_result(ctx):  # 2026 protocol: the question goes back with the call
                    state = asked.get("requestState")
                    if approved:
                        state = self._asking.approved_state(params, params.name, state)
                    returned = returned_question(asked.get("inputRequests"), state)
                    if returned is None:
                        break  # not a question MCP can carry: the call's error
                    return returned
                given = await self._asking.answers(ctx, asked)  # earlier protocols: asked mid-call
                if given is None:
                    break
        finally:
            if stop is not None:
                stop()
        return mcp_result(result, tool, self._output_check(params.name))

    def _output_check(self, name: str) -> OutputCheck | None:
        """The check of `name`'s structured content against the output schema clients were given."""
        listed = self._listing().get(name)  # first: a new listing empties the checks
        if name not in self._checks:
            self._checks[name] = output_check(listed) if listed is not None else None
        return self._checks[name]

    def _remember(self, ctx: Any) -> None:
        """Keep the client's connection (while it lives) to tell it of tool changes later. The SDK hands
        handlers a session scoped to one request; its connection, which outlives the request, is what
        carries notifications of the handshake era (no public accessor in mcp 2.3)."""
        connection = getattr(ctx.session, "_connection", None)
        if connection is not None:
            self._connections.add(connection)

    def _progress_to(self, session: Any) -> Any:
        """Progress for the request `session` serves (sent only if its client asked for progress)."""
        loop = asyncio.get_running_loop()

        def forward(progress: float, total: float | None, message: str | None) -> None:  # from any thread
            loop.call_soon_threadsafe(lambda: loop.create_task(session.report_progress(progress, total, message)))

        return forward

    def _changed(self, changes: ToolChanges) -> None:
        """Tell every client the tools changed (called from whichever thread changed them)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: loop.create_task(self._announce()))

    async def _announce(self) -> None:
        from mcp.shared.subscriptions import ToolsListChanged

        await self._bus.publish(ToolsListChanged())
        for connection in list(self._connections):  # clients of the handshake era: on their standing stream
            await connection.send_tool_list_changed()  # best effort: a client gone is skipped

    # -- transports ------------------------------------------------------------------------------------

    async def _serve_stdio(self, server: LowLevelServer) -> None:
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read, write):
            self.started.set()
            await server.run(Answering(read, write), write, server.create_initialization_options())

    async def _serve_http(self, server: LowLevelServer) -> None:
        app: Any
        if self.transport == "streamable-http":
            app = server.streamable_http_app(streamable_http_path=self.path, host=self.host,
                                             max_request_body_size=self.max_request_bytes)
            endpoint = self.path
        else:
            app, endpoint = _sse_app(server, self.host, self.max_request_bytes), "/sse"
        if self.token is not None:
            app = BearerOnly(app, self.token, body=_UNAUTHORIZED)
        await serve_asgi(self, app, self.host, self.port, endpoint)


def _unanswerable(result: ToolResult) -> ToolResult:
    """The result of a call whose question this client cannot answer, saying so (the model need not wait for it)."""
    error = result.error
    if error is None:
        return result
    message = f"{error.message}; but this client cannot answer it (it did not declare what that needs), so the call " \
              "will not finish here"
    return dataclasses.replace(result, content=message, error=dataclasses.replace(error, message=message))


def _given(params: types.CallToolRequestParams, state: str | None) -> dict[str, Any] | None:
    """The answers a client's retry of a call carries for its tool (`ToolCall` `inputs`): its input responses but
    this server's own, and the tool's `state`."""
    responses = {key: response.model_dump(by_alias=True, mode="json", exclude_none=True)
                 for key, response in (params.input_responses or {}).items() if key != APPROVAL_KEY}
    return input_answers(responses, state) if responses or state is not None else None


def _sse_app(server: LowLevelServer, host: str, max_request_bytes: int) -> Any:
    from mcp.server.sse import SseServerTransport
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Mount, Route

    security = None
    if host in ("127.0.0.1", "localhost", "::1"):
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"])
    sse = SseServerTransport("/messages/", security_settings=security, max_request_body_size=max_request_bytes)

    async def connect(request: Any) -> Response:
        async with sse.connect_sse(request.scope, request.receive, request._send) as (read, write):
            await server.run(Answering(read, write), write, server.create_initialization_options())
        return Response()

    return Starlette(routes=[Route("/sse", endpoint=connect, methods=["GET"]),
                             Mount("/messages/", app=sse.handle_post_message)])


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("toolwire-mcp")
    except PackageNotFoundError:
        return "0"

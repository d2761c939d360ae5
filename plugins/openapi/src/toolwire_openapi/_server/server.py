"""`toolwire serve http`: a registry's tools as an HTTP API with its OpenAPI document (starlette, uvicorn).

`GET /openapi.json` describes it (OpenAPI 3.1: what the `openapi` loader, or any client generator,
reads); `POST /tools/{name}` runs one call with the JSON body as its arguments and answers its value (or
the image, sound or file it returned); `POST /calls` runs a batch in any provider's shape and answers every
result; `GET /healthz`. Calls that arrive together, from any number of clients, go out as one batch
(`toolwire.CallBatcher`); a client gone mid-call cancels its call. Failures are problems (RFC 9457) with the
status their kind maps to.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import itertools
import json
import math
import re
from typing import TYPE_CHECKING, Any

import pydantic_core
from toolwire import Audio, CallBatcher, ContentBlock, ErrorKind, Image, Resource, Text, ToolCall, ToolError
from toolwire.formats import content_blocks, has_media, json_value
from toolwire.serving import (
    DEFAULT_HOST,
    TRACE_HEADERS,
    BearerOnly,
    OutputCheck,
    Server,
    bearer_token,
    serve_asgi,
    trace_headers,
)

from toolwire_openapi._server.shapes import STATUS, openapi_document, problem

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from toolwire import ToolRegistry, ToolResult

__all__ = ["HTTPRegistryServer"]

DEFAULT_PORT = 8766
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
_JSON_TYPES = ("application/json", "text/json")
_TOKEN = r"[\w!#$&^.+-]+"
_MEDIA_TYPE = re.compile(rf'{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|"[\t !#-\[\]-~]*"))*', re.ASCII)
"""A media type as a `Content-Type` header may carry it (RFC 9110); a tool's other ones are sent as octets."""


class _Refused(Exception):
    """A request the server answers with a problem before any call runs."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class HTTPRegistryServer(Server):
    """A registry served as an HTTP API. Options: `host` (default 127.0.0.1), `port` (default 8766; 0 for
    any free one), `token_env` (the environment variable holding the bearer token clients must send;
    required off loopback), `max_request_bytes` (default 4 MiB), `title` (the document's title).

    `started` is set once the server listens; `url` then says where (no trailing slash).
    """

    def __init__(self, registry: ToolRegistry, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 token_env: str | None = None, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 title: str = "toolwire") -> None:
        try:
            import starlette  # noqa: F401
            import uvicorn  # noqa: F401
        except ImportError as exc:
            raise ImportError(f"serving over HTTP needs {exc.name}: pip install 'toolwire-openapi[serve]'") from None
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port < 65536:
            raise ValueError(f"port must be a number from 0 to 65535, got {port!r}")
        if not isinstance(max_request_bytes, int) or isinstance(max_request_bytes, bool) or max_request_bytes < 1:
            raise ValueError(f"max_request_bytes must be a positive number of bytes, got {max_request_bytes!r}")
        super().__init__()
        self.registry = registry
        self.host, self.port = host, port
        self.max_request_bytes = max_request_bytes
        self.title = title
        self.token = bearer_token(host, token_env)
        self._batcher = CallBatcher(registry)
        self._ids = itertools.count(1)
        self._document: tuple[int, bytes] | None = None
        self._checks: tuple[int, dict[str, OutputCheck | None]] = (-1, {})

    async def arun(self) -> None:
        app: Any = self.app()
        if self.token is not None:
            unauthorized = problem(401, "bad_request", "send the server's token as 'Authorization: Bearer ...'")
            app = BearerOnly(app, self.token, body=json.dumps(unauthorized).encode(),
                             content_type="application/problem+json")
        await serve_asgi(self, app, self.host, self.port)

    def app(self) -> Any:
        """The ASGI application (without the token check, which `arun` adds when a token is set)."""
        from starlette.applications import Starlette
        from starlette.exceptions import HTTPException
        from starlette.routing import Route

        return Starlette(routes=[
            Route("/openapi.json", self._openapi, methods=["GET"]),
            Route("/healthz", self._health, methods=["GET"]),
            Route("/calls", self._calls, methods=["POST"]),
            Route("/tools/{name}", self._tool, methods=["POST"]),
        ], exception_handlers={HTTPException: self._http_error, _Refused: self._refused})

    # -- the endpoints ---------------------------------------------------------------------------------

    async def _openapi(self, request: Request) -> Response:
        from starlette.responses import Response

        version = self.registry.version
        if self._document is None or self._document[0] != version:
            document = openapi_document(self.registry.list(enabled=True), title=self.title, version=_version(),
                                        secured=self.token is not None)
            self._document = (version, json.dumps(document).encode())
        return Response(self._document[1], media_type="application/json")

    async def _health(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        return JSONResponse({"status": "ok", "tools": len(self.registry.list(enabled=True))})

    async def _tool(self, request: Request) -> Response:
        name = request.path_params["name"]
        text = _text(await self._body(request)).strip() or "{}"
        call = ToolCall(f"http-{next(self._ids)}", name, text)
        _carry_trace(request)
        result = await _unless_gone(request, self._batcher.call(call))
        if result.error is not None:
            return _failed(result)
        if result.value is None and not isinstance(result.content, str):
            return _content_answer(result)  # the document does not type content blocks: nothing to check
        from starlette.responses import Response

        data = json_value(result.value)  # the answer: its value as JSON
        check = self._output_check(result.name)
        misfit = check.misfit(result.name, data, result.value) if check is not None else None
        if misfit is not None:
            return _failed(dataclasses.replace(result, value=None, content=misfit, is_error=True,
                                               error=ToolError(ErrorKind.TOOL_ERROR, misfit)))
        return Response(_json(data), media_type="application/json")

    def _output_check(self, name: str) -> OutputCheck | None:
        """The check of `name`'s answers against the 200 response the document declares for it."""
        version = self.registry.version
        if self._checks[0] != version:
            self._checks = (version, {})
        checks = self._checks[1]
        if name not in checks:
            tool = self.registry.get(name) if name in self.registry else None
            checks[name] = OutputCheck(tool.output_schema) if tool is not None and tool.output_schema else None
        return checks[name]

    async def _calls(self, request: Request) -> Response:
        from starlette.responses import Response

        text = _text(await self._body(request))
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise _Refused(400, f"the body is not valid JSON: {exc}") from None
        approvals = inputs = None
        if type(payload) is dict and "calls" in payload and set(payload) <= {"calls", "approvals", "inputs"}:
            payload, approvals, inputs = payload["calls"], payload.get("approvals"), payload.get("inputs")  # resuming
            if approvals is not None and not (type(approvals) is dict and all(
                    type(answer) in (bool, str, dict) for answer in approvals.values())):
                raise _Refused(422, "'approvals' must map call ids to true, false, a reason, or edited arguments")
            if inputs is not None and not (type(inputs) is dict and all(type(answers) is dict
                                                                        for answers in inputs.values())):
                raise _Refused(422, "'inputs' must map call ids to the answers to what they asked (an object each)")
        try:
            calls = self.registry.parse_calls(payload)
        except (TypeError, ValueError) as exc:
            raise _Refused(422, str(exc)) from None
        _carry_trace(request)
        results = await _unless_gone(request, self.registry.aexecute_tool_calls(calls, approvals=approvals,
                                                                              inputs=inputs))
        return Response(_json({"results": [_with_blocks(result) for result in results]}), media_type="application/json")

    # -- requests and refusals -------------------------------------------------------------------------

    async def _body(self, request: Request) -> bytes:
        """The request's body, refused when it is not JSON or larger than `max_request_bytes`."""
        media = request.headers.get("content-type", "application/json").split(";", 1)[0].strip().lower()
        if media not in _JSON_TYPES and not media.endswith("+json"):
            raise _Refused(415, f"send the arguments as JSON (Content-Type: application/json), not {media}")
        limit = self.max_request_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _Refused(413, f"the body is larger than the server's limit of {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _Refused(413, f"the body is larger than the server's limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _refused(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Refused)
        return _problem(problem(exc.status, "bad_request", exc.detail))

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        detail = {404: f"no such endpoint: {request.url.path}; see /openapi.json",
                  405: f"{request.method} is not allowed on {request.url.path}; see /openapi.json"}.get(
                      status, str(getattr(exc, "detail", "")))
        return _problem(problem(status, "bad_request", detail), headers=getattr(exc, "headers", None))


async def _unless_gone(request: Request, work: Any) -> Any:
    """Await `work`, cancelling it if the client disconnects first (its calls are then cancelled)."""
    task = asyncio.ensure_future(work)

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watch = asyncio.ensure_future(gone())
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not task.done():
            task.cancel()
    return await task


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Refused(400, f"the body is not UTF-8 text: {exc}") from None


def _content_answer(result: ToolResult) -> Response:
    """The answer of a call with no value, only content blocks: text as a JSON string, one image, sound or file
    as itself (its bytes and media type, which the `openapi` loader reads back as that block), anything else as
    MCP's content blocks (base64 `data`)."""
    from starlette.responses import Response

    content = content_blocks(result)
    if all(isinstance(block, Text) for block in content):
        return Response(_json(result.text), media_type="application/json")
    if len(content) == 1 and isinstance(content[0], Image | Audio | Resource) and content[0].data is not None:
        media_type = content[0].mime_type
        return Response(content[0].data, media_type=media_type if _MEDIA_TYPE.fullmatch(media_type or "") else
                        "application/octet-stream")
    return Response(_json([_block(block) for block in content]), media_type="application/json")


def _with_blocks(result: ToolResult) -> dict[str, Any]:
    """`result.as_dict()`, with its content as MCP's content blocks (`blocks`) when it holds more than text."""
    answer = result.as_dict()
    if has_media(result):
        answer["blocks"] = [_block(block) for block in content_blocks(result)]
    return answer


def _block(block: ContentBlock) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"type": "text", "text": block.text}
    if isinstance(block, Image | Audio):
        return {"type": type(block).__name__.lower(), "data": _b64(block.data), "mimeType": block.mime_type}
    resource: dict[str, Any] = {"uri": block.uri, "mimeType": block.mime_type}
    if block.data is not None:
        resource["blob"] = _b64(block.data)
    else:
        resource["text"] = block.text or ""
    return {"type": "resource", "resource": resource}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _failed(result: ToolResult) -> Response:
    error = result.error
    assert error is not None
    wait = {"retry-after": str(math.ceil(error.retry_after))} if error.retry_after is not None else None
    return _problem(problem(STATUS.get(error.kind, 500), error.kind.value, error.message, tool=result.name,
                            call_id=result.call_id), headers=wait)


def _problem(body: dict[str, Any], headers: Any = None) -> Response:
    from starlette.responses import Response

    return Response(_json(body), status_code=body["status"], media_type="application/problem+json", headers=headers)


def _json(value: Any) -> bytes:
    return pydantic_core.to_json(value, fallback=repr, inf_nan_mode="null")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("toolwire-openapi")
    except PackageNotFoundError:
        return "0"


def _carry_trace(request: Request) -> None:
    """Pass the request's W3C trace context on to the batch its call joins (`toolwire.serving.trace_headers`), in
    the request's own context (each request is handled in a task of its own)."""
    headers = {name: value for name in TRACE_HEADERS if (value := request.headers.get(name)) is not None}
    if headers:
        trace_headers.set(headers)

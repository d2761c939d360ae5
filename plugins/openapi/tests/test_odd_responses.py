"""Responses that are odd but arrive whole, from a hand-written upstream on 127.0.0.1: each is its call's value
or a precise error, and the other calls of the batch get theirs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from toolwire import ErrorKind, Resource, ToolCall, ToolRegistry
from toolwire.serving import Server, serve_asgi
from toolwire.testing import running

ANSWERS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "ok": (200, {"content-type": "application/json"}, b'{"n": 1}'),
    "charset_not_text": (500, {"content-type": "text/plain; charset=rot13"}, b"it broke"),
    "too_deep": (200, {"content-type": "application/json"}, b"[" * 100_000 + b"]" * 100_000),
    "broken_escape": (200, {"content-type": "application/json"}, b'{"name": "caf\\udce9"}'),
    "redirect_loop": (302, {"location": "/answer?case=redirect_loop"}, b""),
}


class Upstream(Server):
    """`GET /answer?case=...` answers `ANSWERS[case]` as it is."""

    async def arun(self) -> None:
        from starlette.applications import Starlette
        from starlette.responses import Response
        from starlette.routing import Route

        async def answer(request: Any) -> Response:
            status, headers, body = ANSWERS[request.query_params["case"]]
            return Response(body, status_code=status, headers=headers)

        await serve_asgi(self, Starlette(routes=[Route("/answer", answer)]), "127.0.0.1", 0)


def spec(url: str) -> dict[str, Any]:
    case = {"name": "case", "in": "query", "required": True, "schema": {"type": "string"}}
    return {"openapi": "3.0.3", "info": {"title": "odd", "version": "1"}, "servers": [{"url": url}],
            "paths": {"/answer": {"get": {"operationId": "answer", "parameters": [case],
                                          "responses": {"200": {"description": "ok"}}}}}}


@pytest.fixture(scope="module")
def upstream() -> Iterator[Server]:
    with running(Upstream()) as server:
        yield server


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_odd_responses_are_their_calls_values_or_precise_errors(backend: str, upstream: Any) -> None:
    base = upstream.url.rstrip("/")
    with ToolRegistry(executor=backend) as registry:
        registry.load("openapi", spec(base))
        results = {r.call_id: r for r in registry.execute_tool_calls(
            [ToolCall(case, "answer", {"case": case}) for case in ANSWERS], timeout=30)}
    assert results["ok"].value == {"n": 1}
    failed = results["charset_not_text"]
    assert failed.error is not None and failed.error.kind is ErrorKind.TOOL_ERROR
    assert failed.error.message == "HTTP 500 Internal Server Error from GET /answer: it broke"
    deep = results["too_deep"]
    assert deep.error is None and deep.content == (Resource(f"{base}/answer", "application/json",
                                                            data=ANSWERS["too_deep"][2]),)
    escaped = results["broken_escape"]
    assert escaped.value == {"name": "caf\udce9"} and escaped.content == '{"name":"caf\ufffd"}'
    loop = results["redirect_loop"]
    assert loop.error is not None and loop.error.kind is ErrorKind.TRANSPORT
    assert loop.error.message == "GET /answer: TooManyRedirects: Exceeded maximum allowed redirects."

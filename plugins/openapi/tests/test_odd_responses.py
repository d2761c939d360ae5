"""Responses that are odd but arrive whole, from a hand-written upstream on 127.0.0.1: each is its call's value
or a precise error, and the other calls of the batch get theirs. A few chosen ones, then whatever hypothesis
draws (status, media type, charset, encoding, body)."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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
    """`GET /answer?case=...` answers `ANSWERS[case]` as it is; `POST /any` answers the status, headers and
    base64 body its JSON body names."""

    async def arun(self) -> None:
        from starlette.applications import Starlette
        from starlette.responses import Response
        from starlette.routing import Route

        async def answer(request: Any) -> Response:
            status, headers, body = ANSWERS[request.query_params["case"]]
            return Response(body, status_code=status, headers=headers)

        async def any_answer(request: Any) -> Response:
            wanted = json.loads(await request.body())
            return Response(base64.b64decode(wanted["body"]), status_code=wanted["status"], headers=wanted["headers"])

        routes = [Route("/answer", answer), Route("/any", any_answer, methods=["POST"])]
        await serve_asgi(self, Starlette(routes=routes), "127.0.0.1", 0)


def spec(url: str) -> dict[str, Any]:
    case = {"name": "case", "in": "query", "required": True, "schema": {"type": "string"}}
    wanted = {"type": "object", "properties": {"status": {"type": "integer"}, "body": {"type": "string"},
                                               "headers": {"type": "object"}}}
    ok = {"200": {"description": "ok"}}
    return {"openapi": "3.0.3", "info": {"title": "odd", "version": "1"}, "servers": [{"url": url}],
            "paths": {"/answer": {"get": {"operationId": "answer", "parameters": [case], "responses": ok}},
                      "/any": {"post": {"operationId": "any", "responses": ok, "requestBody": {
                          "required": True, "content": {"application/json": {"schema": wanted}}}}}}}


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


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
media = st.sampled_from(["application/json", "text/plain", "text/html", "application/problem+json", "image/png",
                         "audio/wav", "application/xml", "application/octet-stream", "application/x-yaml", "",
                         "text/event-stream", "multipart/form-data"]) | header_text
json_data = st.recursive(st.none() | st.integers() | st.text(max_size=6), lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.text(max_size=4), inner, max_size=3))
bodies = st.one_of(st.binary(max_size=40), st.sampled_from([b"", b"{", b'{"a": NaN}', b'"\\ud800"', b"[" * 5000,
                                                             b"\xff\xfe{}", '{"a": "caf\u00e9"}'.encode("latin-1")]),
                   json_data.map(lambda value: json.dumps(value).encode()))


@st.composite
def answers(draw: st.DrawFn) -> dict[str, Any]:
    body = draw(bodies)
    headers = {"content-type": draw(media) + draw(st.sampled_from(["", "; charset=utf-8", "; charset=latin-1",
                                                                   "; charset=rot13", "; charset=nope"]) | header_text)}
    encoding = draw(st.sampled_from([None, "gzip", "gzip-broken", "identity", "br", "nope"]))
    if encoding == "gzip":
        headers["content-encoding"], body = "gzip", gzip.compress(body)
    elif encoding is not None:
        headers["content-encoding"] = "gzip" if encoding == "gzip-broken" else encoding
    status = draw(st.sampled_from([200, 201, 204, 299, 300, 302, 304, 400, 401, 404, 418, 500, 502, 599]))
    if status in (204, 304):
        body = b""
    return {"status": status, "headers": headers, "body": base64.b64encode(body).decode()}


@settings(max_examples=100, deadline=None)
@given(sent=st.lists(answers(), min_size=1, max_size=4))
def test_any_response_is_its_calls_value_or_error_alone(upstream: Any, sent: list[dict[str, Any]]) -> None:
    with ToolRegistry(executor="thread") as registry:
        registry.load("openapi", spec(upstream.url.rstrip("/")))
        *answered, ok = registry.execute_tool_calls(
            [*(ToolCall(str(i), "any", answer) for i, answer in enumerate(sent)),
             ToolCall("ok", "answer", {"case": "ok"})], timeout=30)
    assert ok.value == {"n": 1}
    for answer, result in zip(sent, answered, strict=True):
        if result.error is not None:
            assert result.error.kind in (ErrorKind.TOOL_ERROR, ErrorKind.TRANSPORT), (answer, result.error)
            assert result.error.message.strip()
        else:
            assert 200 <= answer["status"] < 400, (answer, result)
        json.dumps(result.as_dict(), ensure_ascii=False).encode()

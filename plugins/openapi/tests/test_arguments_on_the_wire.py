"""Whatever text the model gives a parameter arrives at the service as that text, in its place (a path segment,
a query parameter, a header, a cookie, the JSON body), or the call is `invalid_arguments` saying why it cannot
be sent; it never reaches another path. Checked against the echo server on 127.0.0.1 with whatever hypothesis
draws, lone surrogates and control characters included."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, unquote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from toolwire import ErrorKind, ToolCall, ToolRegistry

OPERATION = {
    "operationId": "put_item",
    "parameters": [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "q", "in": "query", "schema": {"type": "string"}},
        {"name": "X-Note", "in": "header", "schema": {"type": "string"}},
        {"name": "c", "in": "cookie", "schema": {"type": "string"}},
    ],
    "requestBody": {"content": {"application/json": {
        "schema": {"type": "object", "properties": {"text": {"type": "string"}}}}}},
    "responses": {"200": {"description": "the request as the echo server saw it"}},
}
SPEC = {"openapi": "3.1.0", "info": {"title": "wire", "version": "1"},
        "paths": {"/items/{id}/parts": {"post": OPERATION}}}

texts = st.text(st.characters(codec=None), max_size=12)  # codec=None: lone surrogates too
arguments = st.fixed_dictionaries({"path_id": texts}, optional={"q": texts, "X-Note": texts, "c": texts,
                                                                "text": texts})


@pytest.fixture(scope="module")
def wired(echo: Any) -> Any:
    """A registry with the one operation, aimed at the echo server, and its tool."""
    with ToolRegistry(executor="thread") as registry:
        registry.load("openapi", SPEC, base_url=echo.url)
        (tool,) = registry.list()
        yield registry, tool


@given(arguments)
@example({"path_id": ""})
@example({"path_id": ".."})
@example({"path_id": "a/b?c#d", "q": "x&y=z+ %", "c": 'a;b=c d"e', "X-Note": " padded\t"})
def test_every_argument_arrives_as_given_or_the_call_says_why_not(wired: Any, arguments: dict[str, str]) -> None:
    registry, tool = wired
    keys = {param.location: param.key for param in tool.invoker.operation.params}
    call = {keys.get(place, place): value for place, value in (
        ("path", arguments["path_id"]), ("query", arguments.get("q")), ("header", arguments.get("X-Note")),
        ("cookie", arguments.get("c")), ("text", arguments.get("text"))) if value is not None}
    (result,) = registry.execute_tool_calls([ToolCall("1", tool.name, call)])
    if result.is_error:
        assert result.error is not None and result.error.kind is ErrorKind.INVALID_ARGUMENTS, result.content
        assert _unsendable(arguments), (arguments, result.content)
        return
    assert not _unsendable(arguments), (arguments, result.value)
    received = result.value
    prefix, segment, suffix = received["raw_path"].split("/", 3)[1:]
    assert (prefix, suffix) == ("items", "parts"), received["raw_path"]  # the template's path, no other
    assert unquote(segment, errors="strict") == arguments["path_id"]
    query = parse_qs(received["query"], keep_blank_values=True, errors="strict")
    assert query == ({"q": [arguments["q"]]} if "q" in arguments else {})
    if "X-Note" in arguments:
        assert received["headers"]["x-note"] == arguments["X-Note"].strip(" \t")
    if "c" in arguments:
        cookie = SimpleCookie(received["headers"]["cookie"])
        assert unquote(cookie["c"].value, errors="strict") == arguments["c"]
    assert json.loads(received["body"] or "{}") == ({"text": arguments["text"]} if "text" in arguments else {})


def _unsendable(arguments: dict[str, str]) -> bool:
    """Whether no request can carry these arguments as they are: a lone surrogate anywhere, an empty path
    segment (the request would address the collection, `/items//parts`), or a header that HTTP cannot carry."""
    surrogate = any(0xD800 <= ord(char) <= 0xDFFF for value in arguments.values() for char in value)
    note = arguments.get("X-Note", "").strip(" \t")
    header = not note.isascii() or any((ord(char) < 0x20 and char != "\t") or char == "\x7f" for char in note)
    return surrogate or arguments["path_id"] == "" or header


def test_a_label_value_that_leaves_its_segment_a_dot_is_refused(echo: Any) -> None:
    label = {"name": "id", "in": "path", "required": True, "style": "label", "schema": {"type": "string"}}
    spec = {"openapi": "3.1.0", "info": {"title": "wire", "version": "1"}, "paths": {"/items/{id}/parts": {"get": {
        "operationId": "parts", "parameters": [label], "responses": {"200": {"description": "ok"}}}}}}
    with ToolRegistry(executor="thread") as registry:
        registry.load("openapi", spec, base_url=echo.url)
        calls = [ToolCall("1", "parts", {"id": ""}), ToolCall("2", "parts", {"id": "x"})]
        empty, given = registry.execute_tool_calls(calls)
    assert empty.error is not None and empty.error.kind is ErrorKind.INVALID_ARGUMENTS
    assert empty.content == ("the path parameter 'id' leaves its part of the path '.', so the request would go to "
                             "another path; give it a value")  # `/items/./parts` is `/items/parts` once normalised
    assert given.value["raw_path"] == "/items/.x/parts"

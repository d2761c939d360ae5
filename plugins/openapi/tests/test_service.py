"""Calling a real FastAPI service (uvicorn on 127.0.0.1) through its generated spec, on every backend."""

from __future__ import annotations

import json
import socket
import sys
import time
import uuid
from typing import Any

import pytest
from toolwire import ErrorKind, Image, Resource, ToolCall, ToolRegistry

apps = sys.modules["toolwire_openapi_test_support"]  # loaded by conftest.py


def call(registry: ToolRegistry, tool: str, /, **arguments: Any):
    [result] = registry.execute_tool_calls([ToolCall("c1", tool, arguments)])
    return result


def test_calculator_batch(registry: ToolRegistry, service, client: str) -> None:
    registry.load("openapi", service.url + "/openapi.json", client=client, only_tags=["calculator"])
    assert sorted(t.name for t in registry) == ["add", "divide", "multiply"]
    calls = [ToolCall(f"c{i}", "add", {"a": i, "b": 0.5}) for i in range(50)]
    calls.append(ToolCall("bad", "divide", {"a": 1, "b": 0}))
    results = registry.execute_tool_calls(calls)
    assert [r.value for r in results[:50]] == [{"result": i + 0.5} for i in range(50)]
    failed = results[50]
    assert failed.is_error and failed.error.kind == ErrorKind.TOOL_ERROR
    assert "HTTP 400" in failed.error.message and "division by zero" in failed.error.message


def test_every_place_of_an_argument(loop_registry: ToolRegistry, service, client: str) -> None:
    loop_registry.load("openapi", service.url + "/openapi.json", client=client)
    tool = loop_registry.get("items_create")
    properties = tool.parameters["properties"]
    assert {"path_item_id", "body_item_id", "tag", "x-request-id", "session", "name", "price"} <= set(properties)
    assert "path parameter 'item_id'" in properties["path_item_id"]["description"]
    result = call(loop_registry, "items_create", path_item_id="a b?&#%", body_item_id="in-body", name="pen",
                  price=2.5, tag=["red", "blue,green"], **{"x-request-id": "r-1", "session": "s=1"})
    assert not result.is_error, result.content
    assert result.value == {
        "path": "a b?&#%", "body": {"item_id": "in-body", "name": "pen", "price": 2.5, "tags": []},
        "tag": ["red", "blue,green"], "header": "r-1", "cookie": "s=1",
    }


def test_text_http_cannot_carry_is_invalid_arguments_for_its_call_alone(loop_registry: ToolRegistry, service,
                                                                         client: str) -> None:
    loop_registry.load("openapi", service.url + "/openapi.json", client=client)
    results = loop_registry.execute_tool_calls([
        ToolCall("path", "items_get", {"item_id": "a\udcffb"}),
        ToolCall("query", "items_get", {"item_id": "ok", "fields": ["f\ud800"]}),
        ToolCall("body", "notes_create", {"body": ["line\udcff"]}),
        ToolCall("fine", "add", {"a": 1, "b": 2}),
    ])
    for result, where in zip(results[:3], ["GET /items/{item_id}", "GET /items/{item_id}", "POST /notes"], strict=True):
        assert result.error is not None and result.error.kind is ErrorKind.INVALID_ARGUMENTS, result
        assert result.error.message.startswith(f"{where}: the arguments cannot be sent (")
        assert result.error.message.endswith("surrogates not allowed); send valid Unicode text")
    assert results[3].value == {"result": 3.0}


def test_what_a_header_cannot_carry_is_invalid_arguments_and_spaces_around_it_are_dropped(
        loop_registry: ToolRegistry, service, client: str) -> None:
    loop_registry.load("openapi", service.url + "/openapi.json", client=client)
    fields = {"path_item_id": "a", "body_item_id": "b", "name": "pen", "price": 1.0}
    results = loop_registry.execute_tool_calls([
        ToolCall(case, "items_create", {**fields, "x-request-id": value})
        for case, value in [("nul", "a\x00b"), ("snow", "\u2603"), ("break", "a\r\nX-Evil: 1"), ("spaced", " r-1\t")]])
    where = "the value of header 'x-request-id'"
    assert [(r.error.kind, r.error.message) for r in results[:3]] == [  # type: ignore[union-attr]
        (ErrorKind.INVALID_ARGUMENTS, f"{where} holds a control character, which an HTTP header cannot carry"),
        (ErrorKind.INVALID_ARGUMENTS, f"{where} is not ASCII text, which is all an HTTP header carries; send it in "
                                      "ASCII"),  # it said "send valid Unicode text"
        (ErrorKind.INVALID_ARGUMENTS, f"{where} contains a line break")]
    assert results[3].value["header"] == "r-1", results[3]  # the first and the last were `transport` errors


def test_an_infinite_timeout_is_no_limit_and_one_of_0_is_refused(loop_registry: ToolRegistry, service,
                                                                  client: str) -> None:
    # inf raised OverflowError on every request (the spec's fetch too); 0 failed the fetch as "cannot fetch"
    loop_registry.load("openapi", service.url + "/openapi.json", client=client, timeout=float("inf"))
    [result] = loop_registry.execute_tool_calls([ToolCall("fine", "add", {"a": 1, "b": 2})])
    assert result.value == {"result": 3.0}, result
    with pytest.raises(ValueError, match=r"^timeout must be more than 0 seconds"):
        loop_registry.load("openapi", service.url + "/openapi.json", client=client, timeout=0)


def test_patch_delete_form_multipart_and_plain_body(loop_registry: ToolRegistry, service, client: str) -> None:
    loop_registry.load("openapi", service.url + "/openapi.json", client=client)
    patched = call(loop_registry, "items_patch", item_id="7", price=3)
    assert patched.value == {"item_id": "7", "changed": {"price": 3.0}}
    deleted = call(loop_registry, "items_delete", item_id="7")
    assert not deleted.is_error and deleted.value is None and "204" in deleted.text
    form = call(loop_registry, "items_form", item_id="7", name="box & co", quantity=3)
    assert form.value == {"item_id": "7", "name": "box & co", "quantity": 3}
    upload = call(loop_registry, "items_upload", item_id="7", file="file content", note="n")
    assert upload.value == {"item_id": "7", "filename": "file", "content": "file content", "note": "n"}
    notes = call(loop_registry, "notes_create", body=["a", "b", "c"])
    assert notes.value == {"lines": 3}
    head = call(loop_registry, "ping")
    assert head.value["status"] == 200 and head.value["headers"]["x-pong"] == "yes"
    assert call(loop_registry, "ping_options").value is None


def test_arrays_in_the_query(loop_registry: ToolRegistry, service, client: str) -> None:
    loop_registry.load("openapi", service.url + "/openapi.json", client=client)
    assert call(loop_registry, "items_get", item_id="1", fields=["a", "b"]).value == {
        "item_id": "1", "fields": ["a", "b"]}


def test_responses_of_every_kind(loop_registry: ToolRegistry, service, client: str) -> None:
    loop_registry.load("openapi", service.url + "/openapi.json", client=client, max_response_bytes=1000)
    assert call(loop_registry, "text").value == "plain words"
    image = call(loop_registry, "image")
    assert image.content == (Image(apps.PNG, "image/png"),)
    blob = call(loop_registry, "blob", size=300)
    [block] = blob.content
    assert isinstance(block, Resource) and block.data == bytes(range(256)) + bytes(44)
    assert block.uri == service.url + "/blob"
    too_big = call(loop_registry, "blob", size=5000)
    assert too_big.error.kind == ErrorKind.TOOL_ERROR and "1000-byte limit" in too_big.error.message
    missing = call(loop_registry, "status", code=404)
    assert missing.error.kind == ErrorKind.TOOL_ERROR
    assert missing.error.message == 'HTTP 404 Not Found from GET /status/{code}: {"detail": "status 404 as asked"}'
    assert call(loop_registry, "status", code=503).error.message.startswith("HTTP 503")
    kinds = {code: call(loop_registry, "status", code=code).error.kind for code in (400, 408, 429, 500, 502, 503, 504)}
    assert kinds == {400: ErrorKind.TOOL_ERROR, 408: ErrorKind.TIMEOUT, 429: ErrorKind.TOOL_ERROR,
                     500: ErrorKind.TOOL_ERROR, 502: ErrorKind.TRANSPORT, 503: ErrorKind.TRANSPORT,
                     504: ErrorKind.TIMEOUT}  # decision 0053: what a retry policy may run again


def test_a_read_only_operation_the_service_could_not_answer_is_retried(service, client: str) -> None:
    """A GET answered 503 Service Unavailable is a `transport` failure, which `retries` runs again; it was a
    `tool_error`, so the policy never retried an HTTP service that was briefly unavailable."""
    with ToolRegistry(executor="thread") as registry:
        registry.load("openapi", service.url + "/openapi.json", client=client, operations=["flaky"])
        registry.add_policy(match="flaky", retries=2)
        key = f"{client}-{uuid.uuid4().hex}"
        (result,) = registry.execute_tool_calls([ToolCall("1", "flaky", {"key": key, "failures": 2})])
    assert (result.error, result.value, result.attempts) == (None, {"key": key, "attempt": 3}, 3)


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_a_retry_waits_as_long_as_the_service_asks(service, client: str, backend: str) -> None:
    """A 503's `Retry-After` is how long the retry waits (the backoff alone is 0.05-0.15 s), on every backend; one
    asking for more than a minute is not retried, and the model reads how long the service asked for."""
    with ToolRegistry(executor=backend) as registry:
        registry.load("openapi", service.url + "/openapi.json", client=client, operations=["flaky"])
        registry.add_policy(match="flaky", retries=2)
        key = f"{client}-{backend}-{uuid.uuid4().hex}"
        started = time.monotonic()
        waited, later = registry.execute_tool_calls([
            ToolCall("1", "flaky", {"key": key, "failures": 1, "retry_after": "1"}),
            ToolCall("2", "flaky", {"key": key + "-later", "failures": 1, "retry_after": "120"})], timeout=30)
        elapsed = time.monotonic() - started
    assert (waited.error, waited.value, waited.attempts) == (None, {"key": key, "attempt": 2}, 2)
    assert elapsed >= 1.0
    assert later.attempts == 1 and later.error is not None and later.error.kind == ErrorKind.TRANSPORT
    assert later.error.retry_after == 120.0
    assert later.error.message == ('HTTP 503 Service Unavailable from GET /flaky/{key}: {"detail": "busy"} (the '
                                   'service asks to wait 120 s before trying again)')


def test_timeout_and_transport_errors(loop_registry: ToolRegistry, service, client: str) -> None:
    spec = service.url + "/openapi.json"
    loop_registry.load("openapi", spec, client=client, timeout=0.2, operations=["slow"])
    slow = call(loop_registry, "slow", seconds=3)
    assert slow.error.kind == ErrorKind.TIMEOUT
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    loop_registry.load("openapi", spec, client=client, base_url=closed, operations=["add"])
    refused = call(loop_registry, "add", a=1, b=2)
    assert refused.error.kind == ErrorKind.TRANSPORT and "ConnectError" in refused.error.message


@pytest.mark.parametrize(
    ("operation", "auth"),
    [
        ("secure_bearer", {"HTTPBearer": apps.TOKEN}),
        ("secure_basic", {"HTTPBasic": apps.BASIC}),
        ("secure_key_header", {"APIKeyHeader": apps.API_KEY}),
        ("secure_key_query", {"APIKeyQuery": apps.API_KEY}),
        ("secure_key_cookie", {"APIKeyCookie": apps.API_KEY}),
        ("secure_oauth", {"oauth": apps.CLIENT}),
    ],
)
def test_auth_schemes(loop_registry: ToolRegistry, service, client: str, operation: str,
                      auth: dict[str, Any]) -> None:
    spec = service.url + "/openapi.json"
    loop_registry.load("openapi", spec, client=client, operations=[operation], auth=auth, namespace="ok")
    loop_registry.load("openapi", spec, client=client, operations=[operation], namespace="no",
                       env_prefix="TOOLWIRE_TEST_UNSET_")
    assert call(loop_registry, f"ok_{operation}").value == {"ok": True}
    assert call(loop_registry, f"ok_{operation}").value == {"ok": True}  # a cached OAuth2 token is reused
    refused = call(loop_registry, f"no_{operation}")
    assert refused.error.kind == ErrorKind.TOOL_ERROR and "HTTP 401" in refused.error.message
    secret = apps.TOKEN if operation == "secure_bearer" else apps.API_KEY
    assert secret not in json.dumps(loop_registry.schemas())
    assert secret not in repr(loop_registry.get(f"ok_{operation}"))


def test_credentials_from_the_environment(registry: ToolRegistry, service, client: str, monkeypatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", apps.TOKEN)
    monkeypatch.setenv("TOOLWIRE_OPENAPI_APIKEYHEADER", apps.API_KEY)
    registry.load("openapi", service.url + "/openapi.json", client=client, operations=["secure_*"],
                  auth={"HTTPBearer": {"env": "MY_SERVICE_TOKEN"}})
    calls = [ToolCall("1", "secure_bearer", {}), ToolCall("2", "secure_key_header", {})]
    results = registry.execute_tool_calls(calls)
    assert [r.value for r in results] == [{"ok": True}, {"ok": True}]


def test_a_header_from_the_environment_as_in_toolwire_toml(loop_registry: ToolRegistry, service, client: str,
                                                          monkeypatch) -> None:
    with pytest.raises(LookupError, match=r"OPENAPI_TEST_KEY \(for the 'X-API-Key' header\) is not set"):
        loop_registry.load("openapi", service.url + "/openapi.json",
                           headers={"X-API-Key": {"env": "OPENAPI_TEST_KEY"}})
    with pytest.raises(TypeError, match=r"'X-API-Key' must be a string or \{'env': 'VARIABLE'\}, not int"):
        loop_registry.load("openapi", service.url + "/openapi.json", headers={"X-API-Key": 7})
    monkeypatch.setenv("OPENAPI_TEST_KEY", apps.API_KEY)
    loop_registry.load("openapi", service.url + "/openapi.json", client=client, operations=["secure_key_header"],
                       headers={"X-API-Key": {"env": "OPENAPI_TEST_KEY"}})
    [result] = loop_registry.execute_tool_calls([ToolCall("1", "secure_key_header", {})])
    assert result.value == {"ok": True}, result


def test_a_wrong_secret_never_shows_in_errors(loop_registry: ToolRegistry, service, client: str) -> None:
    wrong = "wrong-but-secret-value"
    loop_registry.load("openapi", service.url + "/openapi.json", client=client, operations=["secure_key_query"],
                       auth=wrong, base_url=service.url + "/status/401?echo=")
    result = call(loop_registry, "secure_key_query")
    assert result.is_error and wrong not in result.error.message


def test_a_large_batch_has_no_errors(registry: ToolRegistry, service, client: str) -> None:
    registry.load("openapi", service.url + "/openapi.json", client=client, operations=["multiply"], max_in_flight=4)
    results = registry.execute_tool_calls([ToolCall(str(i), "multiply", {"a": i, "b": 2}) for i in range(600)])
    assert [r.error for r in results if r.is_error] == []
    assert [r.value["result"] for r in results] == [2.0 * i for i in range(600)]


def test_a_cookie_a_service_sets_is_not_sent_with_later_calls(registry: ToolRegistry, echo, client: str) -> None:
    """Calls are independent, and a served registry's calls come from different clients: a shared HTTP client
    must not carry one call's cookies (a session, say) into the next."""
    spec = {"openapi": "3.1.0", "info": {"title": "jar", "version": "1"}, "paths": {"/visit": {"get": {
        "operationId": "visit", "parameters": [{"name": "X-Set-Cookie", "in": "header", "schema": {"type": "string"}}],
        "responses": {"200": {"description": "the request as the echo server saw it"}}}}}}
    registry.load("openapi", spec, base_url=echo.url, client=client)
    first = call(registry, "visit", **{"X-Set-Cookie": "session=alice; Path=/"})
    assert not first.is_error, first.content
    later = [call(registry, "visit") for _ in range(3)]  # a process backend's other worker too
    assert [r.value["headers"].get("cookie") for r in later] == [None] * 3, [r.value for r in later]

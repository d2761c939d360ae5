"""Credentials stay with their origin and out of logs (issue 22): two real servers on two 127.0.0.1 ports,
`home` (where the spec is loaded from) and `elsewhere` (another origin), each recording what it receives."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from toolwire import ErrorKind, ToolCall, ToolRegistry
from toolwire_openapi import SpecError

support = sys.modules["toolwire_openapi_test_support"]  # loaded by conftest.py

SECRET = "s3cr3t-header-value"
KEY = "k3y-in-the-query"
COOKIE_KEY = "k3y-in-a-cookie"
TOKEN = "b3arer-t0ken"
HEADERS_OF_SECRETS = ("x-custom-secret", "x-api-key", "authorization", "cookie")


class Origin:
    """A server on its own port that records each request's path, query and headers."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.other = ""  # the other origin's URL, for redirects and specs that name it
        app = Starlette(routes=[Route("/{path:path}", self._answer, methods=["GET", "POST"])])
        self.served = support.Served(app)
        self.url = self.served.url

    async def _answer(self, request: Request) -> Response:
        path = request.url.path
        self.seen.append({"path": path, "query": request.url.query, "headers": dict(request.headers)})
        if path == "/moved.json":
            return RedirectResponse(f"{self.other}/spec.json", status_code=302)
        if path == "/spec.json":
            return JSONResponse(spec(request.query_params.get("servers"), request.query_params.get("token", "/token")))
        if path == "/spec-with-ref.json":
            document = spec(self.url)
            body = {"content": {"application/json": {"schema": {"$ref": f"{self.other}/schemas.json#/Thing"}}}}
            document["paths"]["/things"] = {"post": {"operationId": "things", "requestBody": body}}
            return JSONResponse(document)
        if path == "/schemas.json":
            return JSONResponse({"Thing": {"type": "object", "properties": {"size": {"type": "integer"}}}})
        if path == "/away":
            return RedirectResponse(f"{self.other}/landed", status_code=307)
        if path == "/token":
            return JSONResponse({"access_token": TOKEN, "expires_in": 600})
        if path == "/secured" and request.headers.get("x-api-key") != SECRET:
            return JSONResponse({"detail": "not authenticated"}, status_code=401)
        return JSONResponse({"at": path})

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        return [seen for seen in self.seen if seen["path"] == path]


def spec(servers: str | None, token_url: str = "/token") -> dict[str, Any]:
    """A spec whose operations need an API key in a header, the query and a cookie (all at once)."""
    security = [{"header": [], "query": [], "cookie": []}]
    document: dict[str, Any] = {
        "openapi": "3.1.0", "info": {"title": "origins", "version": "1"},
        "paths": {
            "/away": {"get": {"operationId": "away", "security": security}},
            "/items": {"get": {"operationId": "items", "security": security,
                               "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}]}},
            "/secured": {"get": {"operationId": "secured", "security": [{"header": []}]}},
            "/oauth": {"get": {"operationId": "oauth", "security": [{"oauth": []}]}},
        },
        "components": {"securitySchemes": {
            "header": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "query": {"type": "apiKey", "in": "query", "name": "api_key"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "key"},
            "oauth": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": token_url, "scopes": {}}}},
        }},
    }
    if servers:
        document["servers"] = [{"url": servers}]
    return document


AUTH = {"header": SECRET, "query": KEY, "cookie": COOKIE_KEY, "oauth": ("client", "client-s3cret")}


@pytest.fixture(scope="module")
def origins() -> Iterator[tuple[Origin, Origin]]:
    home, elsewhere = Origin(), Origin()
    home.other, elsewhere.other = elsewhere.url, home.url
    yield home, elsewhere
    home.served.stop()
    elsewhere.served.stop()


@pytest.fixture
def home(origins: tuple[Origin, Origin]) -> Origin:
    origins[0].seen.clear()
    return origins[0]


@pytest.fixture
def elsewhere(origins: tuple[Origin, Origin]) -> Origin:
    origins[1].seen.clear()
    return origins[1]


def secrets_in(seen: dict[str, Any]) -> list[str]:
    text = str(seen)
    return [secret for secret in (SECRET, KEY, COOKIE_KEY, "client-s3cret", TOKEN) if secret in text]


def call(registry: ToolRegistry, name: str, **arguments: Any):
    [result] = registry.execute_tool_calls([ToolCall("c", name, arguments)])
    return result


def test_headers_do_not_follow_the_spec_fetch_to_another_origin(home: Origin, elsewhere: Origin) -> None:
    with ToolRegistry(executor=support.LoopExecutor()) as registry:
        registry.load("openapi", f"{home.url}/moved.json", headers={"X-Custom-Secret": SECRET})
    [asked] = home.requests_to("/moved.json")
    assert asked["headers"]["x-custom-secret"] == SECRET
    [redirected] = elsewhere.requests_to("/spec.json")
    assert "x-custom-secret" not in redirected["headers"]


def test_headers_do_not_go_with_a_ref_to_another_origin(home: Origin, elsewhere: Origin) -> None:
    with ToolRegistry(executor=support.LoopExecutor()) as registry:
        registry.load("openapi", f"{home.url}/spec-with-ref.json", headers={"X-Custom-Secret": SECRET})
    assert home.requests_to("/spec-with-ref.json")[0]["headers"]["x-custom-secret"] == SECRET
    [fetched] = elsewhere.requests_to("/schemas.json")
    assert "x-custom-secret" not in fetched["headers"]


def test_a_calls_secrets_do_not_follow_a_redirect_to_another_origin(
    loop_registry: ToolRegistry, home: Origin, elsewhere: Origin, client: str
) -> None:
    loop_registry.load("openapi", f"{home.url}/spec.json?servers={home.url}", client=client, auth=AUTH,
                       headers={"X-Custom-Secret": SECRET}, operations=["away"])
    result = call(loop_registry, "away")
    assert result.value == {"at": "/landed"}, result
    [sent] = home.requests_to("/away")
    assert sorted(secrets_in(sent)) == sorted([SECRET, KEY, COOKIE_KEY])  # they were sent where they belong
    [landed] = elsewhere.requests_to("/landed")
    assert secrets_in(landed) == [] and not set(HEADERS_OF_SECRETS) & set(landed["headers"])


def test_servers_on_another_origin_get_no_credentials_unless_trusted(
    loop_registry: ToolRegistry, home: Origin, elsewhere: Origin, client: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = f"{home.url}/spec.json?servers={elsewhere.url}"
    with caplog.at_level(logging.WARNING, logger="toolwire.openapi"):
        loop_registry.load("openapi", source, client=client, auth=AUTH, headers={"X-Custom-Secret": SECRET},
                           namespace="far")
    assert f"trusted_origins=['{elsewhere.url}']" in caplog.text
    assert call(loop_registry, "far_items", q="x").value == {"at": "/items"}
    refused = call(loop_registry, "far_secured")
    assert refused.error.kind == ErrorKind.TOOL_ERROR and "HTTP 401" in refused.error.message
    assert "load with base_url= or trusted_origins= to send them" in refused.error.message
    assert all(secrets_in(seen) == [] for seen in elsewhere.seen)

    loop_registry.load("openapi", source, client=client, auth=AUTH, headers={"X-Custom-Secret": SECRET},
                       namespace="trusted", trusted_origins=[elsewhere.url])
    assert call(loop_registry, "trusted_secured").value == {"at": "/secured"}
    assert elsewhere.requests_to("/secured")[-1]["headers"]["x-custom-secret"] == SECRET
    loop_registry.load("openapi", source, client=client, auth=AUTH, namespace="based", base_url=elsewhere.url)
    assert call(loop_registry, "based_secured").value == {"at": "/secured"}


def test_client_credentials_go_to_a_token_url_on_another_origin_only_when_trusted(
    loop_registry: ToolRegistry, home: Origin, elsewhere: Origin, client: str
) -> None:
    source = f"{home.url}/spec.json?servers={home.url}&token={elsewhere.url}/token"
    loop_registry.load("openapi", source, client=client, auth=AUTH, namespace="fetched", operations=["oauth"])
    refused = call(loop_registry, "fetched_oauth")
    assert refused.is_error and f"trusted_origins=['{elsewhere.url}/token']" in refused.error.message
    assert elsewhere.requests_to("/token") == [] and home.requests_to("/oauth") == []

    loop_registry.load("openapi", source, client=client, auth=AUTH, namespace="trusted", operations=["oauth"],
                       trusted_origins=[elsewhere.url])
    assert call(loop_registry, "trusted_oauth").value == {"at": "/oauth"}
    assert elsewhere.requests_to("/token") and home.requests_to("/oauth")[-1]["headers"]["authorization"] == (
        f"Bearer {TOKEN}")

    document = spec(home.url, token_url=f"{elsewhere.url}/token")  # a dict is the user's own: trusted as it is
    loop_registry.load("openapi", document, client=client, auth=AUTH, namespace="mine", operations=["oauth"])
    assert call(loop_registry, "mine_oauth").value == {"at": "/oauth"}


def test_credentials_never_reach_the_logs(
    loop_registry: ToolRegistry, home: Origin, client: str, caplog: pytest.LogCaptureFixture
) -> None:
    loop_registry.load("openapi", f"{home.url}/spec.json?servers={home.url}", client=client, auth=AUTH,
                       headers={"X-Custom-Secret": SECRET})
    with caplog.at_level(logging.DEBUG):
        assert call(loop_registry, "items", q="x").value == {"at": "/items"}
        assert call(loop_registry, "away").value == {"at": "/landed"}
    assert home.requests_to("/items")[-1]["query"] == f"q=x&api_key={KEY}"  # the key did go in the query
    requests = [r.getMessage() for r in caplog.records if r.getMessage().startswith("HTTP Request:")]
    assert any("/items?q=x&api_key=***" in line for line in requests), requests
    leaked = [r.getMessage() for r in caplog.records if secrets_in({"message": r.getMessage()})]
    assert leaked == []


def test_a_relative_server_url_is_resolved_against_the_spec_url_or_refused(home: Origin) -> None:
    with ToolRegistry(executor=support.LoopExecutor()) as registry:
        [tool] = registry.load("openapi", f"{home.url}/spec.json?servers=/api/v2", operations=["items"])
        assert tool.invoker.service.base_url == f"{home.url}/api/v2"
        document = spec("/api/v2")
        with pytest.raises(SpecError, match=r"the server URL '/api/v2' is relative, .* pass base_url="):
            registry.load("openapi", document)
        with pytest.raises(SpecError, match=r"the server URL '/' is relative \(OpenAPI's default"):
            registry.load("openapi", spec(None))
        swagger = {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "basePath": "/v1",
                   "paths": {"/x": {"get": {"operationId": "x"}}}}
        with pytest.raises(SpecError, match=r"the server URL '/v1' is relative"):
            registry.load("openapi", swagger)
        registry.load("openapi", document, base_url=home.url, operations=["items"], replace=True)
        assert call(registry, "items", q="y").value == {"at": "/items"}


def test_filters_that_leave_no_operation_are_refused(home: Origin) -> None:
    with ToolRegistry(executor=support.LoopExecutor()) as registry:
        with pytest.raises(ValueError, match=r"no operation of the spec passes the filters \(only_tags=\['orders'\], "
                                             r"methods=\['get'\]\); its operations: away, items, oauth, secured; "
                                             r"it names no tags"):
            registry.load("openapi", spec(home.url), only_tags=["orders"], methods=["GET"])
        assert len(registry.load("openapi", spec(home.url), methods=["GET"])) == 4

"""`toolwire serve http`: a registry served as an HTTP API on uvicorn, tested with httpx and with the
`openapi` loader reading the server's own document (the round trip), the real `toolwire serve http`
command, and hypothesis sending what no client should."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from pydantic import BaseModel
from toolwire import (
    Annotations,
    Audio,
    ErrorKind,
    Image,
    Resource,
    Text,
    Tool,
    ToolCall,
    ToolCallError,
    ToolOutput,
    ToolRegistry,
    hookimpl,
    load_config,
)
from toolwire.executing import call_inputs
from toolwire.serving import ServeError
from toolwire.testing import PIXEL, media, running
from toolwire_openapi._server.server import HTTPRegistryServer


class Point(BaseModel):
    x: int
    y: int


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def norm(p: Point, scale: float = 1.0) -> float:
    """The length of a point's vector, scaled."""
    return scale * (p.x**2 + p.y**2) ** 0.5


def boom(message: str) -> None:
    """Fail with a message."""
    raise RuntimeError(message)


def hang(seconds: float = 60) -> str:
    """Sleep."""
    time.sleep(seconds)
    return "late"


def whoami() -> int:
    """The process running the call."""
    return os.getpid()


class BatchSizes:
    def __init__(self) -> None:
        self.sizes: list[int] = []

    @hookimpl(wrapper=True)
    def toolwire_execute(self, batch):  # type: ignore[no-untyped-def]
        self.sizes.append(len(batch.calls))
        return (yield)


def served(registry: ToolRegistry, **options: Any) -> Any:
    return running(HTTPRegistryServer(registry, port=0, **options))


@pytest.fixture
def registry() -> Iterator[ToolRegistry]:
    with ToolRegistry(config=load_config(environ={"TOOLWIRE_EXECUTOR": "thread", "TOOLWIRE_TIMEOUT": "5"})) as reg:
        reg.register(add, annotations=Annotations(read_only=True))
        for tool in (norm, boom, hang):
            reg.register(tool)
        yield reg


def test_each_call_answers_its_value_or_a_problem_with_the_status_of_its_kind(registry: ToolRegistry) -> None:
    with served(registry) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post("/tools/add", json={"a": 2, "b": 3}).json() == 5
        assert client.post("/tools/norm", json={"p": {"x": 3, "y": 4}, "scale": 2}).json() == 10.0
        cases = {
            ("add", '{"a": "x", "b": 1}'): (422, "invalid_arguments", "argument 'a' should be a valid integer"),
            ("add", '{"a": 1'): (422, "invalid_arguments", "not valid JSON"),
            ("norm", '{"p": {"x": "north", "y": 4}}'): (422, "invalid_arguments", "p.x"),
            ("ad", "{}"): (404, "unknown_tool", "no tool named 'ad'; available: add, boom"),
            ("boom", '{"message": "out of paper"}'): (500, "tool_error", "RuntimeError: out of paper"),
        }
        for (name, body), (status, kind, detail) in cases.items():
            response = client.post(f"/tools/{name}", content=body, headers={"content-type": "application/json"})
            assert response.status_code == status, response.text
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert (problem["status"], problem["kind"], problem["tool"]) == (status, kind, name)
            assert detail in problem["detail"]
        timed_out = client.post("/tools/hang", json={"seconds": 30}, timeout=60)
        assert (timed_out.status_code, timed_out.json()["kind"]) == (504, "timeout")


def busy() -> None:
    """Fail as a service that asks to be called again later."""
    raise ToolCallError("the queue is full", "transport", retry_after=7.2)


def test_how_long_a_failed_call_asks_to_wait_is_its_problems_retry_after_and_loads_back(
        registry: ToolRegistry) -> None:
    registry.register(busy, annotations=Annotations(read_only=True))
    with served(registry) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        answer = client.post("/tools/busy", json={})
        assert (answer.status_code, answer.headers["retry-after"], answer.json()["kind"]) == (502, "8", "transport")
        batch = [{"type": "tool_use", "id": "b", "name": "busy", "input": {}}]
        [result] = client.post("/calls", json=batch).json()["results"]
        assert result["error"] == {"kind": "transport", "message": "the queue is full", "retry_after": 7.2}
        with ToolRegistry(executor="thread") as again:
            again.load("openapi", server.url + "/openapi.json", operations=["busy"])
            [back] = again.execute_tool_calls([ToolCall("b", "busy", {})])
    assert back.error is not None and (back.error.kind, back.error.retry_after) == (ErrorKind.TRANSPORT, 8.0)
    assert back.error.message.endswith("(the service asks to wait 8 s before trying again)")


def test_a_value_json_cannot_carry_is_its_calls_problem_and_text_arrives_mended(registry: ToolRegistry) -> None:
    registry.load("native", lambda: b"\x89PNG\xff", name="blob")
    registry.load("native", lambda: "name\udcff.txt", name="listing")
    with served(registry) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        blob = client.post("/tools/blob", json={})
        assert (blob.status_code, blob.json()["kind"]) == (500, "tool_error")
        assert "'blob' returned a value that cannot be written as JSON" in blob.json()["detail"]
        assert client.post("/tools/listing", json={}).json() == "name\ufffd.txt"
        batch = client.post("/calls", json=[{"id": "1", "type": "function", "function": {"name": "listing"}},
                                            {"id": "2", "type": "function", "function": {"name": "blob"}}])
        assert [r["value"] for r in batch.json()["results"]] == ["name\ufffd.txt", None]
        odd = client.post("/calls", content='[{"id": "x\\ud800", "type": "function", "function": {"name": "add", '
                                            '"arguments": "{\\"a\\": 1, \\"b\\": 2}"}}]')
        assert odd.status_code == 200 and odd.json()["results"][0] | {"duration_s": 0} == {
            "call_id": "x\ufffd", "name": "add", "is_error": False, "value": 3, "content": "3", "error": None,
            "duration_s": 0, "attempts": 1}
        assert client.post("/tools/add", json={"a": 2, "b": 3}).json() == 5


def test_requests_that_are_not_calls_are_refused_and_the_server_goes_on(registry: ToolRegistry) -> None:
    with served(registry, max_request_bytes=10_000) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        refused = [
            client.get("/tools/add"),
            client.post("/nowhere", json={}),
            client.post("/tools/add", content=b"a=1", headers={"content-type": "application/x-www-form-urlencoded"}),
            client.post("/tools/add", content=b'{"a": "' + b"x" * 20_000 + b'"}'),
            client.post("/tools/add", content=b'{"a": "\xff"}', headers={"content-type": "application/json"}),
            client.post("/calls", content=b"[{", headers={"content-type": "application/json"}),
            client.post("/calls", json={"role": "assistant", "tool_calls": 5}),
        ]
        assert [r.status_code for r in refused] == [405, 404, 415, 413, 400, 400, 422]
        for response in refused:
            problem = response.json()
            assert problem["kind"] == "bad_request" and problem["detail"], problem
        assert "POST" in refused[0].headers["allow"]
        assert client.post("/tools/add", json={"a": 1, "b": 1}).json() == 2
        assert client.get("/healthz").json() == {"status": "ok", "tools": 4}


def test_a_batch_in_any_providers_shape_gets_every_result_in_order(registry: ToolRegistry) -> None:
    openai_calls = [
        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}},
        {"id": "c2", "type": "function", "function": {"name": "boom", "arguments": '{"message": "no"}'}},
        {"id": "c3", "type": "function", "function": {"name": "nope", "arguments": "{}"}},
    ]
    anthropic_message = {"role": "assistant", "content": [
        {"type": "text", "text": "adding"},
        {"type": "tool_use", "id": "t1", "name": "add", "input": {"a": 5, "b": 5}},
    ]}
    with served(registry) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        results = client.post("/calls", json=openai_calls).json()["results"]
        assert [(r["call_id"], r["value"], r["error"] and r["error"]["kind"]) for r in results] == [
            ("c1", 3, None), ("c2", None, "tool_error"), ("c3", None, "unknown_tool")]
        [result] = client.post("/calls", json=anthropic_message).json()["results"]
        assert (result["call_id"], result["value"], result["content"]) == ("t1", 10, "10")


def find(name: str) -> int:
    """An index, though the code forgets to return one for unknown names."""
    return 0 if name == "first" else None  # type: ignore[return-value]


def mean(values: list[float]) -> float:
    """The mean (NaN for no values)."""
    return sum(values) / len(values) if values else float("nan")


def test_a_value_that_does_not_fit_the_documents_response_schema_is_its_calls_problem(registry: ToolRegistry) -> None:
    registry.register(find)
    registry.register(mean)
    with served(registry) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        document = client.get("/openapi.json").json()
        assert document["paths"]["/tools/find"]["post"]["responses"]["200"]["content"]["application/json"][
            "schema"] == {"type": "integer"}  # what a generated client parses the answer as
        found = client.post("/tools/find", json={"name": "first"})
        missing = client.post("/tools/find", json={"name": "last"})  # it was a 200 with `null`
        empty = client.post("/tools/mean", json={"values": []})
        assert (found.status_code, found.json()) == (200, 0)
    assert (missing.status_code, missing.json()["kind"]) == (500, "tool_error")
    assert missing.json()["detail"] == ("'find' returned a value that does not fit its output schema, which clients "
                                        'check: null is not of type "integer"; return what the tool declares')
    assert empty.status_code == 500 and "(NaN and infinite numbers are written as null)" in empty.json()["detail"]


def test_calls_that_need_approval_are_resumed_with_approvals(registry: ToolRegistry) -> None:
    ran: list[int] = []

    def wipe(a: int) -> int:
        """Wipe disk `a`."""
        ran.append(a)
        return a

    registry.register(wipe, requires_approval=True)
    calls = [{"type": "tool_use", "id": f"w{a}", "name": "wipe", "input": {"a": a}} for a in (1, 2)]
    with served(registry) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        held = client.post("/calls", json=calls).json()["results"]
        answers = {"w1": True, "w2": "that disk holds backups"}
        resumed = client.post("/calls", json={"calls": calls, "approvals": answers}).json()["results"]
        wrong = client.post("/calls", json={"calls": calls, "approvals": ["w1"]})
    assert [r["error"]["kind"] for r in held] == ["approval_pending", "approval_pending"]
    assert resumed[0]["value"] == 1 and ran == [1]  # there was no way to resume them over HTTP
    assert resumed[1]["error"] == {"kind": "denied", "message": "the user did not approve this call of 'wipe', so it "
                                                               "did not run: that disk holds backups"}
    assert wrong.status_code == 422 and "'approvals' must map call ids" in wrong.json()["detail"]


def confirm(path: str) -> str:
    """Delete `path` once the user says so (a tool that asks its user, as an MCP server's can)."""
    answers = call_inputs()
    if answers is None:
        question = {"method": "elicitation/create", "params": {"message": f"Delete {path}?", "requestedSchema": {
            "type": "object", "properties": {}}}}
        raise ToolCallError(f"asks whether to delete {path}", ErrorKind.INPUT_REQUIRED,
                            input_required={"inputRequests": {"ok": question}})
    return f"deleted {path}" if answers["inputResponses"]["ok"]["action"] == "accept" else f"kept {path}"


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_calls_whose_tools_ask_are_resumed_with_inputs(backend: str) -> None:
    """What a tool asks reaches the HTTP client, which answers it in the call's next round (as with approvals);
    `/tools/{name}` cannot resume, and says so with its status."""
    calls = [{"type": "tool_use", "id": f"c{n}", "name": "confirm", "input": {"path": f"/tmp/{n}"}} for n in (1, 2)]
    config = load_config(environ={"TOOLWIRE_EXECUTOR": backend, "TOOLWIRE_WORKERS": "1", "TOOLWIRE_TIMEOUT": "30"})
    with ToolRegistry(config=config) as registry:
        registry.register(confirm)
        with served(registry) as server, httpx.Client(base_url=server.url, timeout=30) as client:
            single = client.post("/tools/confirm", json={"path": "/tmp/0"})
            asked = client.post("/calls", json=calls).json()["results"]
            inputs = {"c1": {"inputResponses": {"ok": {"action": "accept"}}},
                      "c2": {"inputResponses": {"ok": {"action": "decline"}}}}
            answered = client.post("/calls", json={"calls": calls, "inputs": inputs}).json()["results"]
            wrong = client.post("/calls", json={"calls": calls, "inputs": {"c1": True}})
    assert single.status_code == 403 and single.json()["kind"] == "input_required"
    assert [r["error"]["kind"] for r in asked] == ["input_required", "input_required"]
    assert asked[0]["error"]["input_required"]["inputRequests"]["ok"]["params"]["message"] == "Delete /tmp/1?"
    assert [r["value"] for r in answered] == ["deleted /tmp/1", "kept /tmp/2"]
    assert wrong.status_code == 422 and "'inputs' must map call ids" in wrong.json()["detail"]


def test_the_document_is_valid_openapi_and_the_openapi_loader_calls_the_tools_back(registry: ToolRegistry) -> None:
    with served(registry) as server:
        document = httpx.get(f"{server.url}/openapi.json").json()
        validate(document)
        assert document["openapi"].startswith("3.1")
        operation = document["paths"]["/tools/norm"]["post"]
        assert operation["description"] == "The length of a point's vector, scaled."
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {"type": "number"}
        with ToolRegistry(executor="thread") as remote:
            remote.load("openapi", f"{server.url}/openapi.json", namespace="far")
            assert sorted(tool.name for tool in remote.list()) == ["far_add", "far_boom", "far_hang", "far_norm"]
            assert remote.get("far_add").description.startswith("Add two integers.")
            results = remote.execute_tool_calls([
                {"id": "1", "type": "function", "function": {"name": "far_add", "arguments": '{"a": 20, "b": 22}'}},
                {"id": "2", "type": "function", "function": {"name": "far_norm",
                                                             "arguments": '{"p": {"x": 6, "y": 8}}'}},
                {"id": "3", "type": "function", "function": {"name": "far_norm",
                                                             "arguments": '{"p": {"x": 6, "y": "eight"}}'}},
                {"id": "4", "type": "function", "function": {"name": "far_boom", "arguments": '{"message": "jam"}'}},
            ])
        assert [r.value for r in results[:2]] == [42, 10.0]
        assert results[2].error is not None and results[2].error.kind.value == "invalid_arguments"  # checked here now
        assert "argument 'p.y': \"eight\" is not of type \"integer\"" in results[2].error.message
        assert results[3].error is not None and "HTTP 500" in results[3].error.message
        assert "RuntimeError: jam" in results[3].error.message


ROUTE = {  # as zod-to-json-schema writes a schema reused in an MCP server's tool: a pointer from the root
    "type": "object",
    "properties": {
        "start": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "end": {"$ref": "#/properties/start"},
        "stops": {"type": "array", "items": {"$ref": "#/$defs/Stop/properties/place"}},
        "next": {"$ref": "#"},
    },
    "required": ["start", "end"],
    "$defs": {"Stop": {"type": "object", "properties": {"place": {"$ref": "#/properties/start"}}}},
}
ROUTE_RESULT = {"type": "object", "properties": {"stop": {"$ref": "#/$defs/Stop"}},
                "$defs": {"Stop": {"type": "string"}}}  # a definition named as one of the input's, another shape


def _pointed(document: Any, ref: str) -> Any:
    """What `ref` points at in `document`, references on the way followed."""
    node = document
    for token in ref.removeprefix("#").split("/")[1:]:
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return _pointed(document, node["$ref"]) if isinstance(node, dict) and "$ref" in node else node


def test_every_reference_in_a_tools_schemas_resolves_in_the_document_and_the_tool_loads_back(
        registry: ToolRegistry) -> None:
    registry.add(Tool("route", "Plan a route.", ROUTE, lambda **kwargs: {"stop": kwargs["end"]["city"]},
                      output_schema=ROUTE_RESULT))
    with served(registry) as server:
        document = httpx.get(f"{server.url}/openapi.json").json()
        validate(document)
        operation = document["paths"]["/tools/route"]["post"]
        properties = operation["requestBody"]["content"]["application/json"]["schema"]["properties"]
        assert _pointed(document, properties["end"]["$ref"])["required"] == ["city"]  # it pointed at the root's
        assert _pointed(document, properties["next"]["$ref"])["properties"] == properties
        assert _pointed(document, properties["stops"]["items"]["$ref"])["required"] == ["city"]
        stop = operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["stop"]
        assert _pointed(document, stop["$ref"]) == {"type": "string"}  # not the input's Stop
        with ToolRegistry(executor="thread") as remote:
            remote.load("openapi", f"{server.url}/openapi.json", namespace="far")
            (result,) = remote.execute_tool_calls([ToolCall("1", "far_route", {
                "start": {"city": "Lyon"}, "end": {"city": "Nice"}, "stops": [{"city": "Aix"}]})])
            (refused,) = remote.execute_tool_calls([ToolCall("2", "far_route", {
                "start": {"city": "Lyon"}, "end": {"town": "Nice"}})])
        assert (result.error, result.value) == (None, {"stop": "Nice"})
        assert refused.error is not None and refused.error.kind == "invalid_arguments"


def picture() -> ToolOutput:
    """Draw a picture."""
    return ToolOutput(None, Image(PIXEL, "image/png"))


def lines() -> ToolOutput:
    """Two lines of text."""
    return ToolOutput(None, (Text("one"), Text("two")))


def test_content_without_a_value_is_answered_as_itself_and_loads_back_as_that_block(registry: ToolRegistry) -> None:
    for tool in (picture, lines, media):
        registry.register(tool)
    with served(registry) as server, httpx.Client(base_url=server.url) as client:
        image = client.post("/tools/picture", json={})  # each of these answered null
        assert (image.headers["content-type"], image.content) == ("image/png", PIXEL)
        assert client.post("/tools/lines", json={}).json() == "one\ntwo"
        [pictured, lined] = client.post("/calls", json=[
            {"id": "p", "type": "function", "function": {"name": "picture", "arguments": "{}"}},
            {"id": "l", "type": "function", "function": {"name": "lines", "arguments": "{}"}}]).json()["results"]
        assert pictured["content"] == "[image: image/png]"  # as ToolResult.as_dict() has it, and the blocks beside it
        pixel = base64.b64encode(PIXEL).decode()
        assert pictured["blocks"] == [{"type": "image", "data": pixel, "mimeType": "image/png"}]
        assert "blocks" not in lined and lined["content"] == "one\ntwo"
        assert client.post("/tools/media", json={"title": "x"}).json() == [
            {"type": "text", "text": "the chart x"},
            {"type": "image", "data": base64.b64encode(PIXEL).decode(), "mimeType": "image/png"},
            {"type": "audio", "data": base64.b64encode(b"RIFF0000WAVE").decode(), "mimeType": "audio/wav"},
            {"type": "resource", "resource": {"uri": "file:///report.pdf", "mimeType": "application/pdf",
                                              "blob": base64.b64encode(b"%PDF-1.4 report").decode()}}]
        with ToolRegistry(executor="thread") as remote:
            remote.load("openapi", f"{server.url}/openapi.json")
            [back] = remote.execute_tool_calls([{"id": "p", "type": "function",
                                                 "function": {"name": "picture", "arguments": "{}"}}])
    assert back.content == (Image(PIXEL, "image/png"),)


def test_the_document_follows_the_registry(registry: ToolRegistry) -> None:
    with served(registry) as server:
        before = httpx.get(f"{server.url}/openapi.json").json()
        registry.register(whoami)
        after = httpx.get(f"{server.url}/openapi.json").json()
        assert "/tools/whoami" not in before["paths"] and "/tools/whoami" in after["paths"]
        assert httpx.post(f"{server.url}/tools/whoami").json() == os.getpid()


async def test_concurrent_requests_from_many_clients_go_out_in_batches(registry: ToolRegistry) -> None:
    sizes = BatchSizes()
    registry.plugins.register(sizes, name="sizes")
    with served(registry) as server:
        async def client_calls(offset: int) -> list[Any]:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                responses = await asyncio.gather(*(client.post("/tools/add", json={"a": offset, "b": i})
                                                   for i in range(10)))
                return [r.json() for r in responses]

        values = await asyncio.gather(*(client_calls(100 * c) for c in range(4)))
    assert values == [[100 * c + i for i in range(10)] for c in range(4)]
    assert sum(sizes.sizes) == 40 and len(sizes.sizes) < 40


def test_a_token_is_required_off_loopback_and_checked_when_set(
    registry: ToolRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ServeError, match=r"refusing to serve on 0\.0\.0\.0 without a bearer token"):
        HTTPRegistryServer(registry, host="0.0.0.0")
    monkeypatch.setenv("HTTP_TEST_TOKEN", "s3cret")
    with served(registry, token_env="HTTP_TEST_TOKEN") as server:
        refused = httpx.post(f"{server.url}/tools/add", json={"a": 1, "b": 2})
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["status"] == 401
        wrong = httpx.get(f"{server.url}/openapi.json", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        good = {"authorization": "Bearer s3cret"}
        document = httpx.get(f"{server.url}/openapi.json", headers=good).json()
        assert document["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
        with ToolRegistry(executor="thread") as remote:
            remote.load("openapi", document, base_url=server.url, auth={"bearer": "s3cret"})
            call = {"type": "tool_use", "id": "t", "name": "add", "input": {"a": 3, "b": 4}}
            [result] = remote.execute_tool_calls([call])
        assert result.value == 7


def test_unknown_options_are_refused(registry: ToolRegistry) -> None:
    with pytest.raises(ValueError, match="port must be a number from 0 to 65535"):
        registry.serve("http", port=70000)
    with pytest.raises(TypeError, match="unexpected keyword argument 'transport'"):
        registry.serve("http", transport="stdio")


@pytest.fixture
def process_registry() -> Iterator[ToolRegistry]:
    config = load_config(environ={"TOOLWIRE_EXECUTOR": "process", "TOOLWIRE_WORKERS": "2", "TOOLWIRE_TIMEOUT": "30"})
    with ToolRegistry(config=config) as registry:
        registry.register(add, annotations=Annotations(read_only=True))
        registry.register(hang)
        registry.register(whoami)
        registry.warm()
        yield registry


async def test_a_client_gone_mid_call_cancels_it_and_a_hanging_call_holds_up_no_one(
    process_registry: ToolRegistry,
) -> None:
    workers = set(process_registry.executor().worker_pids())  # type: ignore[attr-defined]
    with served(process_registry) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as first:
            hanging = asyncio.ensure_future(first.post("/tools/hang", json={"seconds": 25}))
            await asyncio.sleep(0.5)
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as second:
                started = time.monotonic()
                responses = await asyncio.gather(*(second.post("/tools/add", json={"a": i, "b": i}) for i in range(10)))
                assert time.monotonic() - started < 5
                assert [r.json() for r in responses] == [2 * i for i in range(10)]
            hanging.cancel()  # the client goes away: its connection closes
            with pytest.raises(asyncio.CancelledError):
                await hanging
        deadline = time.monotonic() + 10
        while set(process_registry.executor().worker_pids()) >= workers:  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "the hanging call's worker was not killed"
            await asyncio.sleep(0.05)
        assert httpx.post(f"{server.url}/tools/add", json={"a": 1, "b": 1}).json() == 2


def test_the_serve_command(tmp_path: Path) -> None:
    (tmp_path / "served_tools.py").write_text('def add(a: int, b: int) -> int:\n    """Add."""\n    return a + b\n')
    (tmp_path / "toolwire.toml").write_text('[executor]\nbackend = "thread"\n\n'
                                            '[[tools]]\nloader = "native"\nsource = "served_tools"\n')
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    toolwire = str(Path(sys.executable).parent / "toolwire")
    process = subprocess.Popen([toolwire, "serve", "http", "--port", str(port)], cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": str(tmp_path)}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/tools/add", json={"a": 40, "b": 2})
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert response.json() == 42
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


@pytest.fixture(scope="module")
def steady() -> Iterator[str]:
    with ToolRegistry(executor="thread") as reg:
        reg.register(add)
        reg.register(norm)
        with served(reg, max_request_bytes=100_000) as server:
            yield server.url  # type: ignore[misc]


_NAMES = st.sampled_from(["add", "norm", "toolwire_calls"]) | st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#%"), min_size=1, max_size=30)
_BODIES = st.binary(max_size=300) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20).map(lambda value: json.dumps(value).encode())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/tools/{}", "/calls"]), name=_NAMES, body=_BODIES,
       media=st.sampled_from(["application/json", "text/plain", "application/merge-patch+json", ""]))
def test_whatever_is_sent_gets_a_json_answer_and_the_server_goes_on(
    steady: str, path: str, name: str, body: bytes, media: str,
) -> None:
    headers = {"content-type": media} if media else {}
    response = httpx.post(steady + path.format(quote(name, safe="")), content=body, headers=headers, timeout=30)
    assert response.status_code in (200, 400, 404, 405, 413, 415, 422, 500), response.text
    answer = response.json()
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json"
        assert answer["status"] == response.status_code and answer["detail"]
    assert httpx.post(f"{steady}/tools/add", json={"a": 1, "b": 2}, timeout=30).json() == 3


def lone(kind: str, mime_type: str) -> ToolOutput:
    """One image, sound or file of this media type (`PIXEL`, whatever the type says)."""
    blocks = {"image": Image(PIXEL, mime_type), "audio": Audio(PIXEL, mime_type)}
    return ToolOutput(None, blocks.get(kind, Resource("file:///x", mime_type, data=PIXEL)))


@pytest.fixture(scope="module")
def media_server() -> Iterator[str]:
    with ToolRegistry(executor="thread") as reg:
        reg.register(lone)
        with served(reg) as server:
            yield server.url  # type: ignore[misc]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["image", "audio", "resource"]),
       mime_type=st.sampled_from(["image/png", "text/plain; charset=utf-8", "image/png\r\nX-Evil: 1", "image/\u2603",
                                  "\ud800", "", 'a/b; c="\x00"']) | st.text(max_size=30))
def test_a_lone_image_sound_or_file_is_answered_as_itself_whatever_its_media_type(
        media_server: str, kind: str, mime_type: str) -> None:
    # a media type that a header cannot carry was a 500, or a connection closed without an answer
    body = json.dumps({"kind": kind, "mime_type": mime_type}).encode()  # lone surrogates as JSON escapes
    answer = httpx.post(f"{media_server}/tools/lone", content=body, headers={"content-type": "application/json"},
                        timeout=10)
    assert (answer.status_code, answer.content) == (200, PIXEL)
    sent = answer.headers["content-type"]
    assert sent.startswith(mime_type) if mime_type in ("image/png", "text/plain; charset=utf-8") else \
        sent == "application/octet-stream" or sent.startswith(mime_type)

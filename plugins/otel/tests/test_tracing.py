"""toolwire-otel with the OpenTelemetry SDK's in-memory exporter: the spans of a batch and of each call,
their attributes, their errors, the metric, and the call's span current where the call runs (thread,
process and Dask workers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from toolwire import Annotations, ToolRegistry, hookimpl, load_config
from toolwire_otel import CAPTURE_CONTENT


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def boom(message: str) -> None:
    """Fail."""
    raise RuntimeError(message)


def where_am_i() -> dict[str, str]:
    """The trace and span current where the call runs, as hex."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return {"trace": format(context.trace_id, "032x"), "span": format(context.span_id, "016x")}


def with_a_span_of_its_own() -> str:
    """Start a span inside the tool."""
    from opentelemetry import trace

    with trace.get_tracer("a tool").start_as_current_span("inside the tool"):
        return "done"


def registry(backend: str, **settings: Any) -> ToolRegistry:
    environ = {"TOOLWIRE_EXECUTOR": backend, "TOOLWIRE_WORKERS": "2", "TOOLWIRE_TIMEOUT": "60"}
    reg = ToolRegistry(config=load_config(environ=environ), **settings)
    for tool in (add, boom, where_am_i, with_a_span_of_its_own):
        reg.register(tool)
    return reg


@pytest.fixture
def threads() -> Iterator[ToolRegistry]:
    with registry("thread") as reg:
        yield reg


def call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def by_name(spans: InMemorySpanExporter) -> dict[str, Any]:
    return {span.name: span for span in spans.get_finished_spans()}


def test_a_batch_has_a_span_and_each_call_an_execute_tool_span_following_the_genai_conventions(
    threads: ToolRegistry, spans: InMemorySpanExporter,
) -> None:
    results = threads.execute_tool_calls([call("c1", "add", a=1, b=2), call("c2", "boom", message="jammed"),
                                          call("c3", "nope"), call("c4", "add", a="x", b=1)])
    assert [r.error and r.error.kind for r in results] == [None, "tool_error", "unknown_tool", "invalid_arguments"]
    finished = spans.get_finished_spans()
    [batch] = [span for span in finished if span.name == "execute_tools"]
    calls = {span.attributes["gen_ai.tool.call.id"]: span for span in finished if span.name.startswith("execute_tool ")}
    assert sorted(calls) == ["c1", "c2", "c3", "c4"]
    assert all(span.parent is not None and span.parent.span_id == batch.context.span_id for span in calls.values())
    assert batch.attributes["toolwire.batch.size"] == 4 and batch.attributes["toolwire.batch.errors"] == 3
    assert batch.attributes["toolwire.executor"] == "thread"
    ok = calls["c1"]
    assert ok.name == "execute_tool add"
    assert dict(ok.attributes) == {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "add", "gen_ai.tool.call.id": "c1",
        "gen_ai.tool.type": "function", "gen_ai.tool.description": "Add two integers.",
        "toolwire.executor": "thread", "toolwire.tool.source": "native"}
    assert ok.status.status_code is StatusCode.UNSET
    for call_id, kind in (("c2", "tool_error"), ("c3", "unknown_tool"), ("c4", "invalid_arguments")):
        assert calls[call_id].attributes["error.type"] == kind
        assert calls[call_id].status.status_code is StatusCode.ERROR
    assert "jammed" in calls["c2"].status.description
    assert "gen_ai.tool.call.arguments" not in ok.attributes and "gen_ai.tool.call.result" not in ok.attributes


def test_arguments_and_results_only_when_opted_in(
    threads: ToolRegistry, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT, "true")
    threads.execute_tool_calls([call("c1", "add", a=1, b=2)])
    span = by_name(spans)["execute_tool add"]
    assert span.attributes["gen_ai.tool.call.arguments"] == '{"a": 1, "b": 2}'
    assert span.attributes["gen_ai.tool.call.result"] == "3"


def test_a_result_json_cannot_carry_is_recorded_as_a_short_repr(
    threads: ToolRegistry, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch,
) -> None:
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    threads.load("native", lambda: deep, name="deep")
    monkeypatch.setenv(CAPTURE_CONTENT, "true")
    [result] = threads.execute_tool_calls([call("c1", "deep")])
    assert result.error is not None and "cannot be written as JSON" in result.error.message
    assert by_name(spans)["execute_tool deep"].attributes["gen_ai.tool.call.result"] == '"[[[[[[[...]]]]]]]"'


def test_a_span_a_tool_starts_is_a_child_of_its_calls_span(threads: ToolRegistry, spans: InMemorySpanExporter) -> None:
    threads.execute_tool_calls([call("c1", "with_a_span_of_its_own"), call("c2", "add", a=1, b=1)])
    named = by_name(spans)
    assert named["inside the tool"].parent.span_id == named["execute_tool with_a_span_of_its_own"].context.span_id


@pytest.mark.parametrize("backend", ["thread", "process", "dask"])
def test_the_calls_span_is_current_where_the_call_runs(backend: str, spans: InMemorySpanExporter) -> None:
    if backend == "dask":
        pytest.importorskip("toolwire_dask")
    with registry(backend) as reg:
        results = reg.execute_tool_calls([call(f"c{i}", "where_am_i") for i in range(4)])
    assert all(r.error is None for r in results), results
    calls = {span.attributes["gen_ai.tool.call.id"]: span for span in spans.get_finished_spans()
             if span.name == "execute_tool where_am_i"}
    for index, result in enumerate(results):
        context = calls[f"c{index}"].context
        assert result.value == {"trace": format(context.trace_id, "032x"), "span": format(context.span_id, "016x")}


def test_the_batch_is_a_child_of_the_callers_span_also_from_async_code(
    threads: ToolRegistry, spans: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("an agent")

    async def turn() -> None:
        with tracer.start_as_current_span("agent turn"):
            await threads.aexecute_tool_calls([call("c1", "add", a=1, b=2)])

    asyncio.run(turn())
    named = by_name(spans)
    assert named["execute_tools"].parent.span_id == named["agent turn"].context.span_id
    assert named["execute_tool add"].parent.span_id == named["execute_tools"].context.span_id


def test_policies_outcomes_are_on_the_spans(spans: InMemorySpanExporter) -> None:
    with registry("thread") as reg:
        reg.add_policy(match="boom", requires_approval=True)
        reg.execute_tool_calls([call("c1", "boom", message="no")])
        reg.execute_tool_calls([call("c2", "boom", message="no")], approvals={"c2": "not today"})
    calls = {span.attributes["gen_ai.tool.call.id"]: span for span in spans.get_finished_spans()
             if span.name == "execute_tool boom"}
    assert calls["c1"].attributes["error.type"] == "approval_pending"
    assert calls["c2"].attributes["error.type"] == "denied" and "not today" in calls["c2"].status.description


def test_each_calls_span_ends_when_its_call_does_not_with_its_batch(spans: InMemorySpanExporter) -> None:
    def slow(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    with ToolRegistry(executor="thread") as reg:
        reg.register(slow, annotations=Annotations(read_only=True))
        reg.execute_tool_calls([call("fast", "slow", seconds=0.0), call("late", "slow", seconds=0.5)])
    calls = {span.attributes["gen_ai.tool.call.id"]: span for span in spans.get_finished_spans()
             if span.name == "execute_tool slow"}
    assert calls["late"].end_time - calls["fast"].end_time > 0.3e9


def test_every_calls_span_has_ended_when_the_batch_returns(spans: InMemorySpanExporter,
                                                          slow_to_end: Any) -> None:
    """A span ends on the backend's thread that ran its call; the batch waits for it, so that a span
    processor has every call's span once `execute_tool_calls` returns (and none ends twice)."""
    with registry("thread") as reg:
        reg.execute_tool_calls([call("slow-end", "add", a=1, b=2), call("quick", "add", a=2, b=2)])
        assert sorted(slow_to_end.ended) == ["quick", "slow-end"]


def test_the_duration_metric_counts_calls_by_tool_and_error(
    threads: ToolRegistry, spans: InMemorySpanExporter, metric_reader: InMemoryMetricReader,
) -> None:
    threads.execute_tool_calls([call("c1", "add", a=1, b=2), call("c2", "add", a=2, b=2),
                                call("c3", "boom", message="x")])
    points = {}
    for resource in metric_reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "toolwire.call.duration":
                    for point in metric.data.data_points:
                        points[(point.attributes["gen_ai.tool.name"], point.attributes.get("error.type"))] = point.count
    assert points[("add", None)] >= 2 and points[("boom", "tool_error")] >= 1


class Scopes:
    """Sees the jobs' scopes as the executor will get them (inside toolwire-otel's dispatch wrapper)."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    @hookimpl(wrapper=True)
    def toolwire_dispatch(self, dispatch):  # type: ignore[no-untyped-def]
        self.seen.extend(job.scopes for job in dispatch.jobs)
        return (yield)


def test_without_a_recording_provider_nothing_is_traced(
    threads: ToolRegistry, spans: InMemorySpanExporter, sampling: Any,
) -> None:
    scopes = Scopes()
    threads.plugins.register(scopes, name="scopes")
    threads.execute_tool_calls([call("c1", "add", a=1, b=2)])
    assert [type(scope).__name__ for scope in scopes.seen[0]] == ["TraceScope"]
    sampling.on = False  # as with the API's no-op provider: the batch span does not record
    results = threads.execute_tool_calls([call("c2", "add", a=1, b=2)])
    assert results[0].value == 3 and scopes.seen[1] == ()
    assert {span.attributes.get("gen_ai.tool.call.id") for span in spans.get_finished_spans()} == {"c1", None}


def ancestors(span: Any, finished: Any) -> list[str]:
    """The names of the spans above `span`, nearest first."""
    by_id = {s.context.span_id: s for s in finished}
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def batch_ended(spans: InMemorySpanExporter) -> None:
    """Wait until the span of every call's batch has ended: a `CallBatcher` hands each caller its result before
    its batch returns."""
    deadline = time.monotonic() + 10
    while True:
        finished = spans.get_finished_spans()
        ended = {s.context.span_id for s in finished if s.name == "execute_tools"}
        calls = [s for s in finished if s.name.startswith("execute_tool ")]
        if calls and all((s.links[0].context.span_id if s.links else s.parent.span_id) in ended for s in calls):
            return
        assert time.monotonic() < deadline, "the batch's span did not end"
        await asyncio.sleep(0.01)


async def test_calls_gathered_from_callers_in_different_spans_are_each_in_their_callers_trace(
    threads: ToolRegistry, spans: InMemorySpanExporter,
) -> None:
    """A `CallBatcher` batch holds the calls of callers in different traces (a server's clients): each call's span
    is its caller's child, linked to the batch's span, which starts a trace of its own. They all went into the
    trace of the caller whose call came first."""
    from toolwire import CallBatcher

    batcher = CallBatcher(threads)
    tracer = trace.get_tracer("a host")

    async def ask(host: str, a: int) -> None:
        with tracer.start_as_current_span(host):
            await batcher.call(call(host, "add", a=a, b=1))

    await asyncio.gather(ask("first", 1), ask("second", 2), ask("third", 3))
    await batch_ended(spans)
    named = by_name(spans)
    [batch] = [s for s in spans.get_finished_spans() if s.name == "execute_tools"]  # one batch of three
    assert batch.parent is None and batch.attributes["toolwire.batch.size"] == 3
    for host in ("first", "second", "third"):
        [span] = [s for s in spans.get_finished_spans() if s.attributes.get("gen_ai.tool.call.id") == host]
        assert span.parent.span_id == named[host].context.span_id
        assert [link.context.span_id for link in span.links] == [batch.context.span_id]


async def test_calls_gathered_from_one_span_have_their_batch_under_it(
    threads: ToolRegistry, spans: InMemorySpanExporter,
) -> None:
    """An agent's turn: its calls, made in one span, go out as one batch under that span, as from
    `aexecute_tool_calls`."""
    from toolwire import CallBatcher

    batcher = CallBatcher(threads)
    with trace.get_tracer("an agent").start_as_current_span("turn"):
        await asyncio.gather(*(batcher.call(call(f"c{i}", "add", a=i, b=1)) for i in range(3)))
    await batch_ended(spans)
    named = by_name(spans)
    assert named["execute_tools"].parent.span_id == named["turn"].context.span_id
    calls = [s for s in spans.get_finished_spans() if s.name == "execute_tool add"]
    assert len(calls) == 3 and all(s.parent.span_id == named["execute_tools"].context.span_id and not s.links
                                   for s in calls)


async def test_each_served_call_is_traced_in_its_own_clients_trace(spans: InMemorySpanExporter) -> None:
    """Served, each call's span is in the trace of the client that asked, under the mcp SDK's span for the request
    (which carries the client's trace context), whether its batch held other clients' calls or not."""
    pytest.importorskip("toolwire_mcp")
    from mcp import Client
    from toolwire.testing import running

    tracer = trace.get_tracer("a host")

    async def ask(client: Any, host: str, a: int) -> int:
        with tracer.start_as_current_span(host) as span:
            await client.call_tool("add", {"a": a, "b": 1})
            return span.get_span_context().trace_id

    with registry("thread") as reg, running(reg.plugins.get("server", "mcp").factory(
            reg, transport="streamable-http", port=0)) as server:
        async with Client(server.url) as first, Client(server.url) as second:
            hosts = await asyncio.gather(*(ask(client, f"host {i}", i) for i, client in enumerate([first, second] * 3)))
            await batch_ended(spans)
    finished = spans.get_finished_spans()
    calls = [s for s in finished if s.name == "execute_tool add"]
    assert len(calls) == 6 and len(set(hosts)) == 6
    assert sorted(s.context.trace_id for s in calls) == sorted(hosts)  # one call in each client's trace
    for span in calls:
        above = ancestors(span, finished)
        alone = above[:2] == ["execute_tools", "tools/call add"]  # a batch of this client's calls only
        gathered = above[:1] == ["tools/call add"] and len(span.links) == 1
        assert alone or gathered, above


async def test_through_a_gateway_the_upstream_servers_span_continues_the_clients_trace(
    spans: InMemorySpanExporter,
) -> None:
    """Host -> `toolwire serve mcp` -> an upstream MCP server: one trace, the upstream's span for the call a child
    of toolwire's `execute_tool` span (the mcp SDK's client sends the trace context current where the call runs)."""
    pytest.importorskip("toolwire_mcp")
    from mcp import Client
    from mcp.server import MCPServer
    from toolwire.testing import running

    upstream = MCPServer("upstream")

    @upstream.tool()
    def multiply(a: int, b: int) -> int:
        return a * b

    with registry("thread") as reg, running(reg.plugins.get("server", "mcp").factory(
            reg, transport="streamable-http", port=0)) as server:
        reg.load("mcp", upstream, namespace="up")
        async with Client(server.url) as client:
            with trace.get_tracer("a host").start_as_current_span("host") as host:
                result = await client.call_tool("up_multiply", {"a": 6, "b": 7})
            await batch_ended(spans)
    assert result.structured_content == {"result": 42}
    finished = spans.get_finished_spans()
    [upstreams] = [s for s in finished if s.name == "tools/call multiply"]
    assert upstreams.context.trace_id == host.get_span_context().trace_id
    assert ancestors(upstreams, finished) == ["execute_tool up_multiply", "execute_tools", "tools/call up_multiply",
                                              "MCP send tools/call up_multiply", "host"]


async def test_a_served_http_request_continues_the_trace_its_client_sent(spans: InMemorySpanExporter) -> None:
    """`toolwire serve http` reads a request's `traceparent`: its calls' spans are in the client's trace, under the
    client's span, on `POST /tools/{name}` (calls gathered from several requests) and `POST /calls` alike."""
    pytest.importorskip("toolwire_openapi")
    import httpx
    from opentelemetry import propagate
    from toolwire.testing import running

    tracer = trace.get_tracer("a host")

    async def ask(client: httpx.AsyncClient, host: str, a: int) -> None:
        with tracer.start_as_current_span(host):
            headers: dict[str, str] = {}
            propagate.inject(headers)
            if host == "whole batch":
                answer = await client.post("/calls", json=[call("w", "add", a=a, b=1)], headers=headers)
            else:
                answer = await client.post("/tools/add", json={"a": a, "b": 1}, headers=headers)
            assert answer.status_code == 200, answer.text

    hosts = ["host 0", "host 1", "host 2", "whole batch"]
    with registry("thread") as reg, running(reg.plugins.get("server", "http").factory(reg, port=0)) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            await asyncio.gather(*(ask(client, host, a) for a, host in enumerate(hosts)))
            await batch_ended(spans)
    finished = spans.get_finished_spans()
    calls = [s for s in finished if s.name == "execute_tool add"]
    assert len(calls) == len(hosts)
    under = sorted(tuple(name for name in ancestors(s, finished) if name in hosts) for s in calls)
    assert under == sorted((host,) for host in hosts)  # each call under its own client's span


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_an_openapi_service_a_call_reaches_continues_the_calls_trace(backend: str,
                                                                    spans: InMemorySpanExporter) -> None:
    """The `openapi` loader's requests carry the call's W3C trace context (`traceparent`), from any backend: the
    service's spans are the call's children (the mcp SDK's client does the same for MCP servers)."""
    pytest.importorskip("toolwire_openapi")
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from toolwire.serving import Server, serve_asgi
    from toolwire.testing import running

    document = {"openapi": "3.1.0", "info": {"title": "heard", "version": "1"}, "paths": {"/heard": {"get": {
        "operationId": "heard", "responses": {"200": {"description": "the traceparent the service heard"}}}}}}

    async def heard(request: Any) -> JSONResponse:
        return JSONResponse({"traceparent": request.headers.get("traceparent")})

    async def spec(request: Any) -> JSONResponse:
        return JSONResponse(document)

    class Service(Server):
        async def arun(self) -> None:
            app = Starlette(routes=[Route("/heard", heard), Route("/openapi.json", spec)])
            await serve_asgi(self, app, "127.0.0.1", 0)

    with running(Service()) as service, registry(backend) as reg:
        reg.load("openapi", f"{service.url}/openapi.json")
        [result] = reg.execute_tool_calls([call("h", "heard")])
    [span] = [s for s in spans.get_finished_spans() if s.name == "execute_tool heard"]
    ids = span.get_span_context()
    assert result.value == {"traceparent": f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{ids.trace_flags:02x}"}

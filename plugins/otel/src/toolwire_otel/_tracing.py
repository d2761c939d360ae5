"""The tracing wrappers: a span per batch (`toolwire_execute`) and an `execute_tool {name}` span per call
(`toolwire_dispatch`), following the OpenTelemetry GenAI semantic conventions, and a duration histogram.

Everything goes through the global tracer and meter providers: until an SDK is configured the batch
span does not record, and nothing else is done.
"""

from __future__ import annotations

import contextvars
import json
import os
import time
from collections.abc import Generator, Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import context, metrics, propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from toolwire import Tool, ToolCall, ToolResult, hookimpl
from toolwire.batches import Batch, Dispatch
from toolwire.executing import Outcome
from toolwire.formats import json_value
from toolwire.serving import trace_headers

from toolwire_otel._scope import TraceScope

__all__ = ["CAPTURE_CONTENT", "toolwire_dispatch", "toolwire_execute"]

CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""Set to `true` to record each call's arguments and result on its span (off by default: they may hold
personal data or secrets)."""

_tracer = trace.get_tracer("toolwire")
_duration = metrics.get_meter("toolwire").create_histogram(
    "toolwire.call.duration", unit="s",
    description="How long each tool call ran, by tool and error type; its count is the number of calls")
_dispatched: ContextVar[set[int] | None] = ContextVar("toolwire_otel_dispatched", default=None)
_UNSET = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
"""The API's providers until an SDK is set: they record nothing."""
_parents: ContextVar[Mapping[int, context.Context] | None] = ContextVar("toolwire_otel_parents", default=None)
"""A gathered batch's calls' parents in their callers' traces (`_gathered`), for the calls' spans."""


@hookimpl(wrapper=True, tryfirst=True)
def toolwire_execute(batch: Batch) -> Generator[None, list[ToolResult], list[ToolResult]]:
    """The batch's span, current while it runs; spans for the calls that never ran (not valid).

    A batch gathered from callers in different spans (`Batch.contexts`: a server's requests) belongs to none of
    their traces: its span starts a trace of its own, and each call's span is a child of its own caller's span
    (the request's, in the client's trace), linked to the batch's. Callers all in one span (an agent's turn)
    have the batch under that span, as a batch made in one place does."""
    attributes: dict[str, AttributeValue] = {"toolwire.executor": batch.executor,
                                             "toolwire.batch.size": len(batch.calls)}
    parents, own = _gathered(batch.contexts)
    with _tracer.start_as_current_span("execute_tools", context=own, kind=SpanKind.INTERNAL,
                                       attributes=attributes) as span:
        if not span.is_recording():
            return (yield)
        dispatched: set[int] = set()
        tokens = _dispatched.set(dispatched), _parents.set(parents)
        try:
            results = yield
        finally:
            _dispatched.reset(tokens[0])
            _parents.reset(tokens[1])
        errors = 0
        batch_context = context.get_current()
        for call, result in zip(batch.calls, results, strict=False):
            errors += result.is_error
            if id(call) not in dispatched:
                _never_ran(call, result, batch.executor, *_parent(call, parents, batch_context, span))
        span.set_attribute("toolwire.batch.errors", errors)
        return results


@hookimpl(wrapper=True, tryfirst=True)
def toolwire_dispatch(dispatch: Dispatch) -> Generator[None, list[Outcome], list[Outcome]]:
    """An `execute_tool` span per job, started as it is dispatched, ended as soon as its outcome is known,
    carried into the worker as a job scope."""
    dispatched = _dispatched.get()
    if dispatched is None:
        return (yield)
    capture = _capturing()
    batch_context = context.get_current()
    parents = _parents.get()
    batch_span = trace.get_current_span(batch_context) if parents is not None else None
    executor = dispatch.executor.name
    spans: list[Any] = []
    for call, job in zip(dispatch.calls, dispatch.jobs, strict=True):
        dispatched.add(id(call))
        parent, links = _parent(call, parents, batch_context, batch_span)
        span = _tracer.start_span(f"execute_tool {job.tool.name}", context=parent, kind=SpanKind.INTERNAL,
                                  attributes=_attributes(job.tool, call.id, executor), links=links)
        if capture:
            span.set_attribute("gen_ai.tool.call.arguments", _json(job.arguments))
        job.scopes = (*job.scopes, TraceScope(trace.set_span_in_context(span, parent)))  # a job is the batch's own
        spans.append(span)
    tools = [job.tool.name for job in dispatch.jobs]
    told = dispatch.on_outcome

    def on_outcome(index: int, outcome: Outcome) -> None:
        _end(spans[index], tools[index], outcome, executor, capture, dispatch.attempts[index])
        if told is not None:
            told(index, outcome)

    dispatch.on_outcome = on_outcome
    try:
        outcomes = yield
    finally:
        for index, span in enumerate(spans):  # jobs settled without a report (or the batch failed)
            if span.is_recording():
                outcome = dispatch.outcomes[index] if index < len(dispatch.outcomes) else None
                _end(span, tools[index], outcome, executor, capture, dispatch.attempts[index])
    return outcomes


def _attributes(tool: Tool, call_id: str, executor: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool.name,
        "gen_ai.tool.call.id": call_id,
        "gen_ai.tool.type": "function" if tool.source.loader == "native" else "extension",
        "toolwire.executor": executor,
        "toolwire.tool.source": tool.source.loader,
    }
    if tool.description:
        attributes["gen_ai.tool.description"] = tool.description
    return attributes


def _end(span: Any, tool: str, outcome: Outcome | None, executor: str, capture: bool, attempts: int) -> None:
    if not span.is_recording():
        return
    metric = {"gen_ai.tool.name": tool, "toolwire.executor": executor}
    if outcome is None:
        error_type = "cancelled"
        span.set_status(Status(StatusCode.ERROR, "the call has no outcome"))
    elif outcome.error is not None:
        error_type = outcome.error.kind.value
        span.set_status(Status(StatusCode.ERROR, outcome.error.message))
    else:
        error_type = None
        if capture:
            span.set_attribute("gen_ai.tool.call.result", _json(outcome.value))
    if error_type is not None:
        span.set_attribute("error.type", error_type)
        metric["error.type"] = error_type
    if attempts > 1:
        span.set_attribute("toolwire.attempts", attempts)
    span.end()
    _duration.record(outcome.duration_s if outcome is not None else 0.0, metric)


def _gathered(contexts: Mapping[int, contextvars.Context] | None
              ) -> tuple[dict[int, context.Context] | None, context.Context | None]:
    """For a batch's span: each call's parent in its caller's trace (by `id()` of its call) when the callers are in
    different spans, and where the batch's span goes (`None`: the current context; an empty one: a trace of its
    own; else the one span they share)."""
    if isinstance(trace.get_tracer_provider(), _UNSET):
        return None, None  # nothing records: no need to look
    if not contexts:
        return None, _continued() if trace_headers.get() is not None else None
    parents = {call: caller.run(_continued) for call, caller in contexts.items()}
    spans = {(span.trace_id, span.span_id) for span in
             (trace.get_current_span(parent).get_span_context() for parent in parents.values())}
    if len(spans) == 1:
        return None, next(iter(parents.values()))
    return parents, context.Context()


def _continued() -> context.Context:
    """The current context; where no span is current in it but a served request carried a trace in
    (`toolwire.serving.trace_headers`), that trace's remote span as the parent."""
    current = context.get_current()
    headers = trace_headers.get()
    if headers is None or trace.get_current_span(current).get_span_context().is_valid:
        return current
    return propagate.extract(headers, context=current)


def _parent(call: ToolCall, parents: Mapping[int, context.Context] | None, batch_context: context.Context,
            batch_span: Any) -> tuple[context.Context, list[Link] | None]:
    """Where the span of `call` goes: in its caller's trace, linked to the batch's span, when the batch gathered
    calls from callers in different spans and this one's caller had a span; else under the batch's span."""
    parent = parents.get(id(call)) if parents is not None else None
    if parent is not None and trace.get_current_span(parent).get_span_context().is_valid:
        return parent, [Link(batch_span.get_span_context())]
    return batch_context, None


def _never_ran(call: ToolCall, result: ToolResult, executor: str, parent: context.Context | None = None,
               links: list[Link] | None = None) -> None:
    """A span for a call that never reached a backend (an unknown tool, invalid arguments)."""
    now = time.time_ns()
    span = _tracer.start_span(f"execute_tool {call.name}", context=parent, kind=SpanKind.INTERNAL, start_time=now,
                              links=links, attributes={
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call.name, "gen_ai.tool.call.id": call.id,
        "toolwire.executor": executor})
    error = result.error
    if error is not None:
        span.set_attribute("error.type", error.kind.value)
        span.set_status(Status(StatusCode.ERROR, error.message))
    span.end(end_time=now)
    _duration.record(0.0, {"gen_ai.tool.name": call.name, "toolwire.executor": executor,
                           **({"error.type": error.kind.value} if error is not None else {})})


def _capturing() -> bool:
    return os.environ.get(CAPTURE_CONTENT, "").strip().lower() in ("1", "true", "yes")


def _json(value: Any) -> str:
    return json.dumps(json_value(value), ensure_ascii=False)

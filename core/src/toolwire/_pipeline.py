"""The stages of a batch: parse -> resolve -> validate -> dispatch -> results.

This module is the built-in plugin `toolwire.pipeline`, registered once per `Plugins` like any other:
its `toolwire_execute` (innermost) runs the stages for the batch it is given, and its `toolwire_dispatch`
(innermost) runs the jobs on the executor with `run_jobs`, the scheduler that honours what policies asked
for (waiting for other jobs, gates, retries). With nothing asked for, a dispatch is one `executor.run`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pydantic_core

from toolwire import _arguments
from toolwire.batches import Batch, Dispatch
from toolwire.executing import Job, Outcome
from toolwire.hookspecs import hookimpl
from toolwire.tools import ContentBlock, ErrorKind, Text, Tool, ToolCall, ToolError, ToolOutput, ToolResult

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["make_result", "prepare"]

# -- toolwire_execute: the whole batch ------------------------------------------------------------------


@hookimpl(trylast=True)
def toolwire_execute(batch: Batch) -> list[ToolResult]:
    registry = batch.registry
    assert registry is not None, "a Batch reaches the pipeline through a registry"
    calls = batch.calls
    results: list[ToolResult | None] = [None] * len(calls)
    seconds = batch.timeout if batch.timeout is not None else registry.config.executor.timeout
    deadline = None if seconds is None else time.monotonic() + seconds
    tools = registry._catalog.tools
    on_result = batch.on_result
    jobs: list[Job] = []
    job_calls: list[ToolCall] = []
    positions: list[int] = []
    cancelled = batch.cancelled if batch._cancelled else None
    for index, call in enumerate(calls):
        job = prepare(tools, call, deadline)
        if cancelled is not None and (reason := cancelled(index)) is not None:
            job = ToolError(ErrorKind.CANCELLED, reason)
        if type(job) is Job:
            jobs.append(job)
            job_calls.append(call)
            positions.append(index)
        else:
            result = results[index] = _error_result(call, job)  # type: ignore[arg-type]
            if on_result is not None:
                on_result(index, result)
    if jobs:
        batch.attach(dict(zip(positions, jobs, strict=True)))
        cap = registry.policy.max_result_chars
        dispatch = Dispatch(registry, registry.executor(batch.executor), job_calls, jobs, seconds, batch.approvals)
        if on_result is not None:
            dispatch.on_outcome = _early_results(dispatch, positions, results, on_result, cap)
        outcomes = registry.plugins.hook.toolwire_dispatch(dispatch=dispatch)
        attempts = dispatch.attempts
        for j, index in enumerate(positions):
            if results[index] is None:
                results[index] = make_result(job_calls[j], outcomes[j], attempts[j], cap)
    batch.results = results  # type: ignore[assignment]
    return batch.results


def _early_results(dispatch: Dispatch, positions: list[int], results: list[ToolResult | None],
                   on_result: Any, cap: int | None) -> Any:
    def deliver(j: int, outcome: Outcome) -> None:
        index = positions[j]
        result = results[index] = make_result(dispatch.calls[j], outcome, dispatch.attempts[j], cap)
        on_result(index, result)

    return deliver


# -- resolve and validate: one call into a job, or the error that stops it ------------------------------------


def prepare(tools: Mapping[str, Tool], call: ToolCall, deadline: float | None) -> Job | ToolError:
    """The job for `call` (its tool resolved, its arguments validated), or why it cannot run."""
    name = call.name
    if not name:
        return ToolError(ErrorKind.INVALID_ARGUMENTS, f"the call has no tool name: {call.arguments!s}")
    tool = tools.get(name)
    if tool is None:
        known = ", ".join(sorted(tools)[:20]) or "none"
        return ToolError(ErrorKind.UNKNOWN_TOOL, f"no tool named '{name}'; available: {known}")
    if not tool.enabled:
        return ToolError(ErrorKind.DISABLED, f"the tool '{name}' is disabled")
    try:
        arguments = _arguments.check(tool, call.arguments)
    except ValueError as exc:
        return ToolError(ErrorKind.INVALID_ARGUMENTS, f"invalid arguments for '{name}': {exc}")
    return Job(call.id, tool, arguments, deadline)


# -- toolwire_dispatch: the jobs on the executor ---------------------------------------------------------


@hookimpl(trylast=True)
def toolwire_dispatch(dispatch: Dispatch) -> list[Outcome]:
    dispatch.run()
    return dispatch.outcomes  # type: ignore[return-value]


# -- results -----------------------------------------------------------------------------------------------


def make_result(call: ToolCall, outcome: Outcome, attempts: int, cap: int | None) -> ToolResult:
    """The `ToolResult` for a job's outcome; content for the model is cut to `cap` characters."""
    error = outcome.error
    if error is not None:
        return ToolResult(call.id, call.name, None, _capped(error.message, cap), True, error, outcome.duration_s,
                          attempts)
    value = outcome.value
    if isinstance(value, ToolOutput):
        content: str | tuple[ContentBlock, ...] = value.content or _text(value.value)
        value = value.value
    else:
        content = _text(value)
    return ToolResult(call.id, call.name, value, _capped(content, cap), False, None, outcome.duration_s, attempts)


def _error_result(call: ToolCall, error: ToolError) -> ToolResult:
    return ToolResult(call.id, call.name, None, error.message, True, error, 0.0, 0)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return pydantic_core.to_json(value, fallback=repr).decode()


def _capped(content: str | tuple[ContentBlock, ...], cap: int | None) -> str | tuple[ContentBlock, ...]:
    if cap is None:
        return content
    if isinstance(content, str):
        return content if len(content) <= cap else content[:cap] + _cut_note(len(content), cap)
    total = sum(len(block.text) for block in content if isinstance(block, Text))
    if total <= cap:
        return content
    kept: list[ContentBlock] = []
    room = cap
    for block in content:
        if isinstance(block, Text):
            if room <= 0:
                continue
            block = Text(block.text[:room]) if len(block.text) > room else block
            room -= len(block.text)
        kept.append(block)
    kept.append(Text(_cut_note(total, cap).lstrip()))
    return tuple(kept)


def _cut_note(total: int, cap: int) -> str:
    return (f"\n\n[cut: the result has {total:,} characters; the first {cap:,} are shown. Ask for less at once "
            f"(a narrower query, fewer fields, a smaller page) to see the rest.]")

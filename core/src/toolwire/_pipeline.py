"""The stages of a batch: parse -> resolve -> validate -> dispatch -> results.

This module is the built-in plugin `toolwire.pipeline`, registered once per `Plugins` like any other:
its `toolwire_execute` (innermost) runs the stages for the batch it is given, and its `toolwire_dispatch`
(innermost) runs the jobs on the executor with `run_jobs`, the scheduler that honours what policies asked
for (waiting for other jobs, gates, retries). With nothing asked for, a dispatch is one `executor.run`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from toolwire import _arguments
from toolwire._blocks import valid_blocks
from toolwire._json_ready import UNWRITABLE, close_coroutines, json_text, lazy_within, valid_text
from toolwire.batches import Batch, Dispatch
from toolwire.executing import CallInputs, Job, Outcome, _deadline_in
from toolwire.hookspecs import hookimpl
from toolwire.tools import (
    _FLOAT_TEXT,
    ContentBlock,
    ErrorKind,
    Text,
    Tool,
    ToolCall,
    ToolError,
    ToolOutput,
    ToolResult,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["make_result", "prepare"]

log = logging.getLogger("toolwire")

# -- toolwire_execute: the whole batch ------------------------------------------------------------------


@hookimpl(trylast=True)
def toolwire_execute(batch: Batch) -> list[ToolResult]:
    registry: Any = batch.registry  # a ToolRegistry: its own pipeline reads its catalog and plugins too
    assert registry is not None, "a Batch reaches the pipeline through a registry"
    calls = batch.calls
    results: list[ToolResult | None] = [None] * len(calls)
    seconds = batch.timeout if batch.timeout is not None else registry.config.executor.timeout
    deadline = _deadline_in(seconds)
    tools = registry._catalog.tools
    on_result = batch.on_result
    prepared, failed = prepare_all(tools, calls, deadline)
    if batch._cancelled:
        for index, reason in enumerate(map(batch.cancelled, range(len(calls)))):
            if reason is not None:
                prepared[index] = ToolError(ErrorKind.CANCELLED, reason)
        failed = [index for index, job in enumerate(prepared) if type(job) is not Job]
    for index in failed:
        result = results[index] = _error_result(calls[index], prepared[index])  # type: ignore[arg-type]
        if on_result is not None:
            _tell(on_result, index, result)
    if len(failed) == len(calls):
        batch.results = results  # type: ignore[assignment]
        return batch.results
    if failed:
        positions = [index for index, job in enumerate(prepared) if type(job) is Job]
        jobs: list[Job] = [prepared[index] for index in positions]  # type: ignore[misc]
        job_calls = [calls[index] for index in positions]
    else:
        positions, jobs, job_calls = list(range(len(calls))), prepared, calls  # type: ignore[assignment]
    executor = registry.executor(batch.executor)
    if batch.contexts is not None:  # calls of several callers: each job runs where its caller was
        for job, call in zip(jobs, job_calls, strict=True):
            job.context = batch.contexts.get(id(call))
    if batch.inputs:  # answers to what calls asked before: each call gets its own where it runs
        for job in jobs:
            answers = batch.inputs.get(job.call_id)
            if answers is not None:
                job.scopes = (*job.scopes, CallInputs(answers))
    batch.attach(positions, jobs, executor)
    cap = registry.policy.max_result_chars
    dispatch = Dispatch(registry, executor, job_calls, jobs, seconds, batch.approvals)
    if on_result is not None:
        dispatch.on_outcome = _early_results(dispatch, positions, results, on_result, cap)
    outcomes = registry.plugins.hook.toolwire_dispatch(dispatch=dispatch)
    if not failed and on_result is None:
        batch.results = make_results(calls, outcomes, dispatch.attempts, cap)
    else:
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
        _tell(on_result, index, result)

    return deliver


def _tell(on_result: Any, index: int, result: ToolResult) -> None:
    """Hand `result` to the batch's listener; a listener that fails is logged (as `concurrent.futures` does
    with done callbacks), for it may run on a backend's thread, and the batch goes on."""
    try:
        on_result(index, result)
    except Exception:
        log.exception("on_result failed for call %s (result %d); the batch goes on", result.call_id, index)


# -- resolve and validate: one call into a job, or the error that stops it ------------------------------------


def prepare_all(tools: Mapping[str, Tool], calls: list[ToolCall], deadline: float | None
                ) -> tuple[list[Job | ToolError], list[int]]:
    """`prepare` for each call, and the indices of those that cannot run; the common case is inline: a known,
    enabled tool whose validator takes the argument text as it came."""
    prepared: list[Job | ToolError] = []
    failed: list[int] = []
    append = prepared.append
    fast: dict[str, tuple[Tool, Any] | None] = {}  # per tool name: the tool and its text validator
    limit = _arguments.MAX_DEPTH
    for call in calls:
        name, text = call.name, call.text
        found = fast.get(name, _UNKNOWN)
        if found is _UNKNOWN:
            tool = tools.get(name)
            validate_json = getattr(tool.validator, "validate_json", None) if tool is not None else None
            found = fast[name] = (tool, validate_json) if tool is not None and tool.enabled \
                and validate_json is not None else None
        if found is not None and text is not None and "null" not in text \
                and (len(text) <= limit or text.count("{") + text.count("[") <= limit):  # too short to nest deeper
            try:
                append(Job(call.id, found[0], found[1](text), deadline))
                continue
            except ValueError:
                pass  # `prepare` says what is wrong, in the words it always has
        job = prepare(tools, call, deadline)
        if type(job) is not Job:
            failed.append(len(prepared))
        append(job)
    return prepared, failed


_UNKNOWN: Any = object()


def prepare(tools: Mapping[str, Tool], call: ToolCall, deadline: float | None) -> Job | ToolError:
    """The job for `call` (its tool resolved, its arguments validated), or why it cannot run."""
    name = call.name
    if not name:
        return ToolError(ErrorKind.INVALID_ARGUMENTS, "the call has no tool name, or is not a call in a provider's "
                         f"shape (OpenAI chat or Responses, Anthropic, Gemini): {call.arguments!s}")
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
    if dispatch.on_outcome is not None:
        dispatch._all_told()  # a backend's thread may still be telling one: wrappers resume once it is done
    return dispatch.outcomes  # type: ignore[return-value]


# -- results -----------------------------------------------------------------------------------------------


def make_result(call: ToolCall, outcome: Outcome, attempts: int, cap: int | None) -> ToolResult:
    """The `ToolResult` for a job's outcome; content for the model is cut to `cap` characters.

    A value that cannot be written as JSON makes the call a `tool_error` that says why (decision 0046).
    """
    error = outcome.error
    if error is not None:
        message = valid_text(error.message)
        if message is not error.message:
            error = replace(error, message=message)  # its retry_after and question kept
        return ToolResult(call.id, call.name, None, _capped(error.message, cap), True, error, outcome.duration_s,
                          attempts)
    value = outcome.value
    kind = type(value)
    content: str | tuple[ContentBlock, ...]
    if kind is str or kind is int or (kind is float and (value == 0.0 or 1e-4 <= abs(value) < 1e16)):
        try:
            content = valid_text(value) if kind is str else repr(value)  # JSON's own text: no serializer needed
        except ValueError:  # an int of more digits than Python writes (sys.get_int_max_str_digits)
            content = json_text(value)
        if cap is not None and len(content) > cap:
            content = _capped(content, cap)
        return ToolResult(call.id, call.name, value, content, False, None, outcome.duration_s, attempts)
    inner = value.value if isinstance(value, ToolOutput) else value
    if not isinstance(inner, str | int | float | None) and (found := lazy_within(inner)) is not None:
        where, lazy = found
        unsent = _unawaited(call.name, lazy, where) if hasattr(type(lazy), "__await__") else \
            _unread(call.name, lazy, where)
        close_coroutines(inner)  # the value is dropped: none of its coroutines will run, and none warns so
        return _refused(call, outcome, attempts, cap, unsent)
    try:
        if isinstance(value, ToolOutput):
            output, value = value, value.value
            if output.content:
                content = valid_blocks(output.content)
                if value is not None and not isinstance(value, str):  # text is mended where it is sent
                    json_text(value)  # unused here, but clients get it as structured content
            else:
                content = _text(value)
        else:
            content = _text(value)
    except UNWRITABLE as exc:
        return _refused(call, outcome, attempts, cap, _unwritable(call.name, exc))
    return ToolResult(call.id, call.name, value, _capped(content, cap), False, None, outcome.duration_s, attempts)


def _refused(call: ToolCall, outcome: Outcome, attempts: int, cap: int | None, message: str) -> ToolResult:
    """The `tool_error` result of a call whose value is not sent (`message` says why, mended with `valid_text`: it
    may quote the value's text, such as the key an iterator is under)."""
    message = valid_text(message)
    error = ToolError(ErrorKind.TOOL_ERROR, message)
    return ToolResult(call.id, call.name, None, _capped(message, cap), True, error, outcome.duration_s, attempts)


def make_results(calls: list[ToolCall], outcomes: list[Outcome], attempts: list[int],
                 cap: int | None) -> list[ToolResult]:
    """`make_result` for a whole batch, with its common case inline: a short str, int or plain float."""
    results: list[ToolResult] = []
    append = results.append
    cap_ = cap if cap is not None else sys.maxsize
    float_text = _FLOAT_TEXT if cap_ >= _FLOAT_CHARS else None  # written when read: never longer than the cap
    for call, outcome, tries in zip(calls, outcomes, attempts, strict=True):
        value = outcome.value
        kind = type(value)
        if kind is str:
            content = value if value.isascii() else None
        elif kind is float:
            content = float_text if value == 0.0 or 1e-4 <= abs(value) < 1e16 else None
        elif kind is int:
            try:
                content = repr(value)
            except ValueError:  # too many digits for repr: make_result writes it
                content = None
        else:
            content = None
        if content is None or outcome.error is not None or (content is not _FLOAT_TEXT and len(content) > cap_):
            append(make_result(call, outcome, tries, cap))
        else:
            append(ToolResult(call.id, call.name, value, content, False, None, outcome.duration_s, tries))
    return results


_FLOAT_CHARS = 32
"""More than the text of any float `make_results` leaves to be written when read (at most 23 characters: no
exponent between 1e-4 and 1e16)."""


def _error_result(call: ToolCall, error: ToolError) -> ToolResult:
    return ToolResult(call.id, call.name, None, error.message, True, error, 0.0, 0)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return valid_text(value)
    if value is None:
        return ""
    return json_text(value)


def _unwritable(name: str, exc: BaseException) -> str:
    return (f"'{name}' returned a value that cannot be written as JSON ({exc}); return JSON-ready data: text "
            "rather than undecodable bytes, no reference cycles, less than 255 levels of nesting (binary data as "
            "Image, Audio or Resource blocks of a ToolOutput)")


def _unread(name: str, iterator: Iterator[Any] | AsyncIterator[Any], where: str) -> str:
    kind = f"{type(iterator).__module__}.{type(iterator).__qualname__}"
    at = f" at '{where}' of its value" if where else ""
    return (f"'{name}' returned an iterator ({kind}){at}, which is not read: it may never end, and reading it here "
            "would run past the call's deadline; return a list (a native tool written as a generator function "
            "has what it yields collected as a list, within the deadline)")


def _unawaited(name: str, awaitable: Any, where: str) -> str:
    """The message for an awaitable that reached the results, alone or inside the value (a coroutine returned by a
    plain `def` is awaited by the built-in backends, within the deadline)."""
    kind = f"{type(awaitable).__module__}.{type(awaitable).__qualname__}"
    at = f" at '{where}' of its value" if where else ""
    return (f"'{name}' returned an awaitable ({kind}){at} that this backend did not await; declare the tool `async "
            "def` and await it there, or return its result")


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

"""The `questions` policy: what tools ask their user is answered by `ToolRegistry(answer=...)`, in the same batch.

The calls of a dispatch whose tools ask for input before they can finish (`input_required`: an MCP server's
question, a tool's own `ToolCallError(..., "input_required", input_required=...)`) go together to the callback, as
their results; each call it answers runs again with its answers (`toolwire.executing.call_inputs()` where it runs),
with a fresh deadline, through every policy but approval (it ran, so it was approved), at most `ROUNDS` times. A
call it leaves out keeps its `input_required` result, for the caller to resume with `inputs=`. A question's result
reaches a listener for early results (a server's client) only once it is answered, or left. Without a callback
nothing changes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from toolwire._pipeline import make_result
from toolwire.batches import Dispatch
from toolwire.executing import CallInputs, Job, Outcome
from toolwire.hookspecs import hookimpl
from toolwire.policies._callbacks import called

__all__ = ["ROUNDS", "toolwire_dispatch"]

log = logging.getLogger("toolwire")

ROUNDS = 8
"""How many times a call whose tool keeps asking runs in one batch."""
_ROUND = object()
"""The `Dispatch.stash` key of the round a dispatch is (a call's run again is a dispatch of its own)."""


@hookimpl(wrapper=True, tryfirst=True)
def toolwire_dispatch(dispatch: Dispatch) -> Any:
    answer = dispatch.registry.answer
    if answer is None:
        return (yield)
    told = dispatch.on_outcome
    if told is not None:
        dispatch.on_outcome = functools.partial(_unless_asking, told)
    outcomes: list[Outcome] = yield
    asked = [index for index, outcome in enumerate(outcomes) if _asks(outcome)]
    round_ = dispatch.stash.get(_ROUND, 1)
    if asked and round_ <= ROUNDS:
        _answer(dispatch, outcomes, answer, asked, round_)
    if told is not None:
        for index in asked:
            told(index, outcomes[index])
    return outcomes


def _asks(outcome: Outcome | None) -> bool:
    return outcome is not None and outcome.error is not None and outcome.error.input_required is not None


def _unless_asking(told: Callable[[int, Outcome], None], index: int, outcome: Outcome) -> None:
    if not _asks(outcome):
        told(index, outcome)


def _answer(dispatch: Dispatch, outcomes: list[Outcome], answer: Any, asked: Sequence[int], round_: int) -> None:
    """Put the questions of the jobs at `asked` to `answer`, and run those it answers again (their `outcomes` and
    attempts updated)."""
    registry: Any = dispatch.registry  # a ToolRegistry: its plugins run the calls again
    cap = registry.policy.max_result_chars
    calls, jobs = dispatch.calls, dispatch.jobs
    results = [make_result(calls[i], outcomes[i], dispatch.attempts[i], cap) for i in asked]
    try:
        answers = called(answer, results)
    except Exception:
        log.exception("the answer callback failed; its calls keep their questions")
        return
    if not isinstance(answers, Mapping):
        log.warning("the answer callback returned %s, not a mapping of call ids to answers; its calls keep their "
                    "questions", type(answers).__name__)
        return
    again = [i for i in asked if calls[i].id in answers and jobs[i].cancelled is None]
    if not again:
        return
    rerun = Dispatch(registry, dispatch.executor, [calls[i] for i in again],
                     [replace(jobs[i], scopes=(CallInputs(answers[calls[i].id]),), deadline=dispatch.fresh_deadline(i),
                              _signals=None) for i in again],
                     dispatch.timeout, approvals={calls[i].id: True for i in again})
    for i, job in zip(again, rerun.jobs, strict=True):  # cancelling the call (its batch) cancels it run again
        jobs[i].on_cancel(functools.partial(_cancel_with, dispatch.executor, job))
    rerun.stash[_ROUND] = round_ + 1
    for k, outcome in enumerate(registry.plugins.hook.toolwire_dispatch(dispatch=rerun)):
        outcomes[again[k]] = outcome
        dispatch.attempts[again[k]] += rerun.attempts[k]


def _cancel_with(executor: Any, job: Job, reason: str) -> None:
    job.cancel(reason)
    executor.cancel([job])

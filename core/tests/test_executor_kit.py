"""The executor kit: outcome bookkeeping and option checking every backend shares."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
from toolwire import (
    ErrorKind,
    Job,
    Outcome,
    Outcomes,
    Tool,
    await_returned,
    cancelled_outcome,
    check_options,
    earliest_deadline,
    enter_scopes,
)


def tool() -> Tool:
    return Tool("t", "", {"type": "object"}, lambda: None)


def test_each_slot_is_filled_once_reported_at_once_and_done_when_full() -> None:
    jobs = [Job(str(i), tool(), {}) for i in range(3)]
    reported: list[object] = []
    jobs[1].on_report(reported.append)
    done = threading.Event()
    outcomes = Outcomes(jobs, done.set)
    assert outcomes.resolve(1, Outcome(1)) and reported == [Outcome(1)]
    assert not outcomes.resolve(1, Outcome("late")) and outcomes.get(1) == Outcome(1)
    assert outcomes.missing() == [0, 2] and outcomes.remaining == 2 and not done.is_set()
    outcomes.resolve(0, Outcome(0))
    outcomes.resolve(2, Outcome(2))
    assert done.is_set() and [o.value for o in outcomes.result()] == [0, 1, 2]


def test_cancel_listeners_hear_the_first_reason_once_and_late_ones_at_once() -> None:
    job = Job("c", tool(), {})
    heard: list[str] = []
    job.on_cancel(heard.append)
    job.cancel("stopped")
    job.cancel("again")
    job.on_cancel(lambda reason: heard.append(f"late: {reason}"))
    assert (job.cancelled, heard) == ("stopped", ["stopped", "late: stopped"])


def test_slots_filled_in_bulk_keep_earlier_outcomes_and_report_and_finish_like_one_by_one() -> None:
    jobs = [Job(str(i), tool(), {}) for i in range(4)]
    reported: list[object] = []
    jobs[1].on_report(reported.append)
    jobs[2].on_report(reported.append)
    done = threading.Event()
    outcomes = Outcomes(jobs, done.set)
    outcomes.resolve_all([0, 1], [Outcome(0), Outcome(1)])
    assert outcomes.missing() == [2, 3] and reported == [Outcome(1)] and not done.is_set()
    outcomes.resolve(3, Outcome("first"))
    outcomes.resolve_all([2, 3], [Outcome(2), Outcome("late")])
    assert reported == [Outcome(1), Outcome(2)] and done.is_set()
    assert [o.value for o in outcomes.result()] == [0, 1, 2, "first"]
    outcomes.resolve_all([0], [Outcome("late")])
    assert outcomes.get(0) == Outcome(0)


def test_many_threads_filling_slots_each_slot_gets_one_outcome() -> None:
    jobs = [Job(str(i), tool(), {}) for i in range(2000)]
    outcomes = Outcomes(jobs)
    winners: list[tuple[int, str]] = []

    def fill(name: str) -> None:
        for index in range(len(jobs)):
            if outcomes.resolve(index, Outcome(name)):
                winners.append((index, name))

    threads = [threading.Thread(target=fill, args=(name,)) for name in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(index for index, _ in winners) == list(range(len(jobs)))
    assert all(outcomes.get(index).value == name for index, name in winners)


def test_a_cancelled_outcome_says_why() -> None:
    job = Job("1", tool(), {})
    job.cancel("the client went away")
    outcome = cancelled_outcome(job)
    assert outcome.error is not None and outcome.error.kind == ErrorKind.CANCELLED
    assert outcome.error.message == "the client went away"


def test_scopes_are_entered_outermost_first_and_left_even_when_the_call_fails() -> None:
    entered: list[str] = []

    @contextlib.contextmanager
    def scope(name: str) -> Iterator[None]:
        entered.append(f"+{name}")
        try:
            yield
        finally:
            entered.append(f"-{name}")

    with enter_scopes(()):
        entered.append("none")
    with pytest.raises(ValueError), enter_scopes((scope("only"),)):
        raise ValueError
    with enter_scopes((scope("outer"), scope("inner"))):
        entered.append("call")
    assert entered == ["none", "+only", "-only", "+outer", "+inner", "call", "-inner", "-outer"]


def test_options_are_checked_with_the_likely_one_named() -> None:
    accepted = {"max_calls_per_worker": int, "preload": (str, list)}
    check_options("process", {"max_calls_per_worker": 3, "preload": ["json"]}, accepted)
    with pytest.raises(ValueError, match=r"unknown option 'max_call_per_worker' for the process executor "
                                         r"\(did you mean 'max_calls_per_worker'\?\); accepted: "):
        check_options("process", {"max_call_per_worker": 3}, accepted)
    with pytest.raises(ValueError, match="option 'max_calls_per_worker' of the process executor must be int"):
        check_options("process", {"max_calls_per_worker": True}, accepted)


def test_the_earliest_deadline_ignores_jobs_without_one() -> None:
    shared = 12.5
    assert earliest_deadline([shared] * 4) == 12.5
    assert earliest_deadline([None, 3.0, None, 2.0, 2.5]) == 2.0
    assert earliest_deadline([3.0, None]) == 3.0
    assert earliest_deadline([None, None]) is None
    assert earliest_deadline([]) is None


async def _twice(x: int) -> int:
    return 2 * x


def test_a_returned_coroutine_is_awaited_on_the_given_loop_but_not_on_its_own_thread() -> None:
    job = Job("c", Tool("twice", "", {"type": "object"}, _twice), {"x": 3})
    with contextlib.closing(asyncio.new_event_loop()) as loop:
        runner = threading.Thread(target=loop.run_forever)
        runner.start()
        try:
            assert await_returned(job, _twice(3), time.monotonic(), loop).value == 6
            on_its_thread = asyncio.run_coroutine_threadsafe(_from_the_loop(job, loop), loop).result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            runner.join(10)
    assert asyncio.iscoroutine(on_its_thread.value)  # left as the value, to be refused where results are written
    on_its_thread.value.close()


async def _from_the_loop(job: Job, loop: asyncio.AbstractEventLoop) -> Outcome:
    return await_returned(job, _twice(3), time.monotonic(), loop)

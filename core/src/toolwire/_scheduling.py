"""Running a dispatch's jobs on its executor: in one go, or in waves when policies asked jobs to wait for
other jobs, hold gates (concurrency slots, rate tokens) or run again after a failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Protocol, cast

from toolwire.executing import Executor, Job, Outcome, cancelled_outcome, earliest_deadline
from toolwire.tools import ErrorKind, ToolError

__all__ = ["Schedulable", "caller_loop", "gates_released", "run_jobs"]


class Schedulable(Protocol):
    """What the scheduler needs of a dispatch (`toolwire.batches.Dispatch` is one)."""

    executor: Executor
    jobs: list[Job]
    outcomes: list[Outcome | None]
    attempts: list[int]
    waits_for: dict[int, list[int]]
    gates: list[tuple[Any, ...]]
    retries: list[tuple[int, frozenset[ErrorKind], Callable[[int], float]] | None]
    on_outcome: Callable[[int, Outcome], None] | None

    def settle(self, index: int, outcome: Outcome) -> None: ...

    def refuse(self, index: int, kind: ErrorKind, message: str) -> None: ...

    def fresh_deadline(self, index: int | None = None) -> float | None: ...

caller_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "toolwire_caller_loop", default=None
)
"""The event loop of an `aexecute_tool_calls` caller: executors' `arun` runs there."""

_LOOP_CHECK_S = 0.25
"""How often a dispatch waiting on its caller's event loop checks that the loop still runs."""

gates_released = threading.Condition()
"""Notified when a gate is released, so that dispatches waiting for one look again."""
_sleepers = 0
"""How many dispatches wait on `gates_released`. Read without its lock: a release that sees none waiting
while one is about to wait is the wake-up a wait's timeout covers, as a release just before that wait is."""

_POLL_S = 0.05
"""How often a dispatch waiting for a gate that does not say when it frees up looks again."""
MAX_RETRY_AFTER_S = 60.0
"""The longest wait a failed call's `retry_after` may ask of a retry; a call asking for more is not retried (its
error, which says how long, goes back to the model)."""

Held = tuple[tuple[Any, ...], list[int]]
"""Gates taken for a wave, and the jobs (indices) they were taken for, one of each gate per job."""


def run_jobs(dispatch: Schedulable, indices: Iterable[int]) -> None:
    """Run the jobs at `indices` that have no outcome yet, in waves: each wave is every job free to
    start (the jobs it waits for are done, its gates are taken, its backoff is over); returns once each
    has an outcome."""
    outcomes = dispatch.outcomes
    fresh = indices == range(len(outcomes)) and outcomes.count(None) == len(outcomes)
    todo = list(indices) if fresh else [i for i in indices if outcomes[i] is None]  # fresh: every job, none settled
    if not todo:
        return
    if not (dispatch.waits_for or dispatch.gates or dispatch.retries):
        if fresh and dispatch.on_outcome is None and not _signalled(dispatch.jobs):
            dispatch.outcomes = cast("list[Outcome | None]", _run(dispatch.executor, dispatch.jobs))  # all at once
            dispatch.attempts = [1] * len(todo)
            return
        _wave(dispatch, todo, [])
        return
    _Schedule(dispatch).run(todo)


class _Schedule:
    """One `run_jobs` with constraints: which jobs may start now, and how long to wait when none may."""

    def __init__(self, dispatch: Schedulable) -> None:
        self.dispatch = dispatch
        self.not_before: dict[int, float] = {}
        self.restart: set[int] = set()

    def run(self, todo: list[int]) -> None:
        dispatch = self.dispatch
        pending = todo
        while pending:  # jobs without an outcome
            now = time.monotonic()
            waiting: list[int] = []
            if dispatch.waits_for or self.not_before:
                ready: list[int] = []
                for index in pending:
                    (ready if self.ready(index, now) else waiting).append(index)
            else:
                ready = pending
            if self.restart:
                for index in self.restart.intersection(ready):
                    self.restart.discard(index)
                    dispatch.jobs[index] = replace(dispatch.jobs[index], deadline=dispatch.fresh_deadline(index))
            ready = self.in_time(ready, now)
            wave, held = self.take_gates(ready, waiting)
            if wave:
                retried = _wave(dispatch, wave, held, self.retry)
                waiting.extend(retried)
            elif waiting:
                if self.stuck(waiting):
                    for index in waiting:
                        dispatch.refuse(index, ErrorKind.CANCELLED, "the call waits for calls that wait for it")
                    return
                self.wait(waiting, now)
            pending = waiting

    def in_time(self, ready: list[int], now: float) -> list[int]:
        """The jobs of `ready` whose deadline has not passed; the others are settled as `timeout`."""
        jobs = self.dispatch.jobs
        earliest = earliest_deadline(
            [job.deadline for job in (jobs if len(ready) == len(jobs) else map(jobs.__getitem__, ready))])
        if earliest is None or earliest > now:
            return ready
        late = [index for index in ready if (deadline := jobs[index].deadline) is not None and now >= deadline]
        for index in late:
            self.dispatch.settle(index, _waited_too_long(jobs[index]))
        return [index for index in ready if self.dispatch.outcomes[index] is None]

    def take_gates(self, ready: list[int], waiting: list[int]) -> tuple[list[int], list[Held]]:
        """The jobs of `ready` that may start now (those with gates got them: `held`); the others are
        added to `waiting`. Each gate is taken once for all the jobs that need it."""
        gates = self.dispatch.gates
        if not gates:
            return ready, []
        if len(ready) == len(gates) and gates.count(gates[0]) == len(gates):  # one setting for every job
            needed = gates[0]
            if not needed:
                return ready, []
            taken = _take(needed, len(ready))
            if taken == len(ready):
                return ready, [(needed, ready)]
            waiting.extend(ready[taken:])
            return ready[:taken], [(needed, ready[:taken])] if taken else []
        wave: list[int] = []
        held: list[Held] = []
        gated: dict[tuple[Any, ...], list[int]] = {}
        for needed, run in itertools.groupby(ready, gates.__getitem__):
            if needed:
                gated.setdefault(needed, []).extend(run)
            else:
                wave.extend(run)
        for needed, indices in gated.items():
            taken = _take(needed, len(indices))
            if taken:
                held.append((needed, indices[:taken]))
            wave.extend(indices[:taken])
            waiting.extend(indices[taken:])
        if len(held) > 1 or (held and len(wave) > len(held[0][1])):
            wave.sort()  # a wave put together from several parts starts its jobs in the model's order
        return wave, held

    def ready(self, index: int, now: float) -> bool:
        outcomes = self.dispatch.outcomes
        waits_for = self.dispatch.waits_for.get(index)
        if waits_for and any(outcomes[other] is None for other in waits_for):
            return False
        return self.not_before.get(index, 0.0) <= now

    def retry(self, index: int, outcome: Outcome) -> bool:
        """Whether the failed job `index` runs again (then scheduled after its backoff)."""
        retries = self.dispatch.retries
        spec = retries[index] if retries else None
        error = outcome.error
        if spec is None or error is None:
            return False
        attempts, kinds, backoff = spec
        done = self.dispatch.attempts[index]
        asked = error.retry_after
        if done >= attempts or error.kind not in kinds or (asked is not None and asked > MAX_RETRY_AFTER_S):
            return False
        self.not_before[index] = time.monotonic() + max(0.0, backoff(done), asked or 0.0)
        self.restart.add(index)
        return True

    def stuck(self, waiting: list[int]) -> bool:
        """Whether every waiting job waits only for other waiting jobs (a cycle of `after`)."""
        dispatch = self.dispatch
        return all(
            not (dispatch.gates and dispatch.gates[index]) and index not in self.not_before
            and any(other in waiting for other in dispatch.waits_for.get(index, ()))
            for index in waiting
        )

    def wait(self, waiting: list[int], now: float) -> None:
        """Sleep until a gate may be free, a backoff ends or a deadline passes (whichever is first)."""
        global _sleepers
        dispatch = self.dispatch
        wake: list[float] = []
        for index in waiting:
            if index in self.not_before:
                wake.append(self.not_before[index])
            deadline = dispatch.jobs[index].deadline
            if deadline is not None and index not in self.restart:
                wake.append(deadline)
            for gate in dispatch.gates[index] if dispatch.gates else ():
                ready = gate.ready_at()
                wake.append(ready if ready is not None else now + _POLL_S)
        timeout = max(0.0, min(wake) - now) if wake else _POLL_S
        with gates_released:
            _sleepers += 1
            try:
                gates_released.wait(timeout)
            finally:
                _sleepers -= 1


def _signalled(jobs: list[Job]) -> bool:
    """Whether any job was cancelled or has listeners (those need `_wave`'s care)."""
    return any([job._signals for job in jobs])


def _take(gates: tuple[Any, ...], count: int) -> int:
    """Take every gate for up to `count` jobs at once, each job all of them or none; how many jobs got them."""
    taken: list[Any] = []
    for gate in gates:
        many = getattr(gate, "acquire_many", None)
        got = int(many(count)) if many is not None else _acquire(gate, count)
        if got < count:
            for other in taken:
                _release(other, count - got)
            count = got
        if not count:
            return 0
        taken.append(gate)
    return count


def _acquire(gate: Any, count: int) -> int:
    """Take `gate` up to `count` times, one at a time (a gate without `acquire_many`)."""
    got = 0
    while got < count and gate.acquire():
        got += 1
    return got


def _release(gate: Any, count: int) -> None:
    many = getattr(gate, "release_many", None)
    if many is not None:
        many(count)
        return
    for _ in range(count):
        gate.release()


def _waited_too_long(job: Job) -> Outcome:
    message = f"'{job.tool.name}' could not start before its deadline (it waited for other calls or a limit)"
    return Outcome(error=ToolError(ErrorKind.TIMEOUT, message))


def _wave(dispatch: Schedulable, wave: list[int], held: list[Held],
          retry: Any = None) -> list[int]:
    """Run the jobs at `wave` together; returns the ones to run again."""
    whole = _whole(dispatch, wave)
    jobs = list(dispatch.jobs) if whole else list(map(dispatch.jobs.__getitem__, wave))
    if _signalled(jobs):
        cancelled = {index for index, job in zip(wave, jobs, strict=True) if job.cancelled}
        if cancelled:
            for index in cancelled:
                dispatch.refuse(index, ErrorKind.CANCELLED, dispatch.jobs[index].cancelled or "cancelled")
            wave = [index for index in wave if index not in cancelled]
            held = _release_held(held, cancelled)
            if not wave:
                return []
            jobs = [dispatch.jobs[index] for index in wave]
            whole = False
    if whole:
        dispatch.attempts = [1] * len(wave)
    else:
        attempts = dispatch.attempts
        for index in wave:
            attempts[index] += 1
    if dispatch.on_outcome is not None:
        for index, job in zip(wave, jobs, strict=True):
            job.on_report(_reporter(dispatch, index, retry))
    try:
        outcomes = _run(dispatch.executor, jobs)
    finally:
        if held:
            _release_held(held)
    if dispatch.on_outcome is None and (retry is None or not any([outcome.error for outcome in outcomes])):
        if whole:
            dispatch.outcomes = list(outcomes)
            return []
        settled = dispatch.outcomes  # the common case: every outcome final, nobody to tell
        for index, outcome in zip(wave, outcomes, strict=True):
            if settled[index] is None:
                settled[index] = outcome
        return []
    again = []
    for index, outcome in zip(wave, outcomes, strict=True):
        if retry is not None and retry(index, outcome):
            again.append(index)
        else:
            dispatch.settle(index, outcome)
    return again


def _whole(dispatch: Schedulable, wave: list[int]) -> bool:
    """Whether `wave` is every job of the dispatch, in order, none run or settled yet."""
    outcomes = dispatch.outcomes
    return (len(wave) == len(outcomes) and outcomes.count(None) == len(outcomes)
            and not any(dispatch.attempts) and wave == list(range(len(wave))))


def _release_held(held: list[Held], only: set[int] | None = None) -> list[Held]:
    """Give back the gates `held` for the jobs at `only` (default: all of them); what is still held."""
    kept: list[Held] = []
    for gates, indices in held:
        freed = len(indices) if only is None else sum(index in only for index in indices)
        if freed:
            for gate in gates:
                _release(gate, freed)
        if freed < len(indices):
            kept.append((gates, [index for index in indices if index not in only]))  # type: ignore[operator]
    if _sleepers:
        with gates_released:
            gates_released.notify_all()
    return kept


def _reporter(dispatch: Schedulable, index: int, retry: Any) -> Any:
    def reported(outcome: Outcome) -> None:
        spec = dispatch.retries[index] if dispatch.retries else None
        error = outcome.error
        if spec is not None and error is not None and error.kind in spec[1] and dispatch.attempts[index] < spec[0]:
            return  # it may run again: not final
        dispatch.settle(index, outcome)

    return reported


def _run(executor: Executor, jobs: list[Job]) -> list[Outcome]:
    loop = caller_loop.get()
    if loop is None or type(executor).arun is Executor.arun:  # no async path of its own: run it here
        return executor.run(jobs)
    running = asyncio.run_coroutine_threadsafe(executor.arun(jobs), loop)
    while True:
        try:
            return running.result(timeout=_LOOP_CHECK_S)
        except concurrent.futures.TimeoutError:
            if loop.is_running():
                continue
        # The caller's loop stopped (a framework's `run_sync` returned once every caller had its result,
        # reported early): nothing will run `arun` on it again. Stop what is left, so no thread waits forever.
        running.cancel()
        for job in jobs:
            job.cancel("the event loop that started the call stopped before the call finished")
        executor.cancel(jobs)
        return [cancelled_outcome(job) for job in jobs]

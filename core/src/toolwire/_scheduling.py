"""Running a dispatch's jobs on its executor: in one go, or in waves when policies asked jobs to wait for
other jobs, hold gates (concurrency slots, rate tokens) or run again after a failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import operator
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from toolwire.executing import Executor, Job, Outcome, cancelled_outcome
from toolwire.tools import ErrorKind, ToolError

__all__ = ["Schedulable", "caller_loop", "gates_released", "run_jobs"]


class Schedulable(Protocol):
    """What the scheduler needs of a dispatch (`toolwire.batches.Dispatch` is one)."""

    executor: Executor
    jobs: list[Job]
    outcomes: list[Outcome | None]
    attempts: list[int]
    waits_for: dict[int, list[int]]
    gates: dict[int, list[Any]]
    retries: dict[int, tuple[int, frozenset[ErrorKind], Callable[[int], float]]]
    on_outcome: Callable[[int, Outcome], None] | None

    def settle(self, index: int, outcome: Outcome) -> None: ...

    def refuse(self, index: int, kind: ErrorKind, message: str) -> None: ...

    def fresh_deadline(self) -> float | None: ...

caller_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "toolwire_caller_loop", default=None
)
"""The event loop of an `aexecute_tool_calls` caller: executors' `arun` runs there."""

_LOOP_CHECK_S = 0.25
"""How often a dispatch waiting on its caller's event loop checks that the loop still runs."""

gates_released = threading.Condition()
"""Notified when a gate is released, so that dispatches waiting for one look again."""

_POLL_S = 0.05
"""How often a dispatch waiting for a gate that does not say when it frees up looks again."""


def run_jobs(dispatch: Schedulable, indices: Iterable[int]) -> None:
    """Run the jobs at `indices` that have no outcome yet, in waves: each wave is every job free to
    start (the jobs it waits for are done, its gates are taken, its backoff is over); returns once each
    has an outcome."""
    outcomes = dispatch.outcomes
    todo = [i for i in indices if outcomes[i] is None]
    if not todo:
        return
    if not (dispatch.waits_for or dispatch.gates or dispatch.retries):
        if len(todo) == len(outcomes) and dispatch.on_outcome is None and not _signalled(dispatch.jobs):
            dispatch.outcomes = _run(dispatch.executor, dispatch.jobs)  # the common case: all at once
            dispatch.attempts = [1] * len(todo)
            return
        _wave(dispatch, todo, {})
        return
    _Schedule(dispatch).run(todo)


class _Schedule:
    """One `run_jobs` with constraints: which jobs may start now, and how long to wait when none may."""

    def __init__(self, dispatch: Schedulable) -> None:
        self.dispatch = dispatch
        self.not_before: dict[int, float] = {}
        self.restart: set[int] = set()

    def run(self, todo: list[int]) -> None:
        dispatch, outcomes = self.dispatch, self.dispatch.outcomes
        pending = todo
        while pending:
            now = time.monotonic()
            wave: list[int] = []
            waiting: list[int] = []
            held: dict[int, Sequence[Any]] = {}
            gated: dict[tuple[Any, ...], list[int]] = {}  # the jobs free to start, by the gates they need
            for index in pending:
                if outcomes[index] is not None:
                    continue
                if not self.ready(index, now):
                    waiting.append(index)
                    continue
                job = dispatch.jobs[index]
                if index in self.restart:
                    self.restart.discard(index)
                    job = dispatch.jobs[index] = replace(job, deadline=dispatch.fresh_deadline())
                elif job.deadline is not None and now >= job.deadline:
                    dispatch.settle(index, _waited_too_long(job))
                    continue
                gates = dispatch.gates.get(index)
                if gates:
                    gated.setdefault(tuple(gates), []).append(index)
                    continue
                wave.append(index)
            for gates, indices in gated.items():  # each gate taken once for all the jobs that need it
                taken = _take(gates, len(indices))
                for index in indices[:taken]:
                    held[index] = gates
                wave.extend(indices[:taken])
                waiting.extend(indices[taken:])
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

    def ready(self, index: int, now: float) -> bool:
        outcomes = self.dispatch.outcomes
        waits_for = self.dispatch.waits_for.get(index)
        if waits_for and any(outcomes[other] is None for other in waits_for):
            return False
        return self.not_before.get(index, 0.0) <= now

    def retry(self, index: int, outcome: Outcome) -> bool:
        """Whether the failed job `index` runs again (then scheduled after its backoff)."""
        spec = self.dispatch.retries.get(index)
        error = outcome.error
        if spec is None or error is None:
            return False
        attempts, kinds, backoff = spec
        done = self.dispatch.attempts[index]
        if done >= attempts or error.kind not in kinds:
            return False
        self.not_before[index] = time.monotonic() + max(0.0, backoff(done))
        self.restart.add(index)
        return True

    def stuck(self, waiting: list[int]) -> bool:
        """Whether every waiting job waits only for other waiting jobs (a cycle of `after`)."""
        dispatch = self.dispatch
        return all(
            index not in dispatch.gates and index not in self.not_before
            and any(other in waiting for other in dispatch.waits_for.get(index, ()))
            for index in waiting
        )

    def wait(self, waiting: list[int], now: float) -> None:
        """Sleep until a gate may be free, a backoff ends or a deadline passes (whichever is first)."""
        dispatch = self.dispatch
        wake: list[float] = []
        for index in waiting:
            if index in self.not_before:
                wake.append(self.not_before[index])
            deadline = dispatch.jobs[index].deadline
            if deadline is not None and index not in self.restart:
                wake.append(deadline)
            for gate in dispatch.gates.get(index, ()):
                ready = gate.ready_at()
                wake.append(ready if ready is not None else now + _POLL_S)
        timeout = max(0.0, min(wake) - now) if wake else _POLL_S
        with gates_released:
            gates_released.wait(timeout)


def _signalled(jobs: list[Job]) -> bool:
    """Whether any job was cancelled or has listeners (those need `_wave`'s care)."""
    return any(map(_signals_of, jobs))


_signals_of = operator.attrgetter("_signals")


def _take(gates: tuple[Any, ...], count: int) -> int:
    """Take every gate for up to `count` jobs at once, each job all of them or none; how many jobs got them."""
    taken: list[Any] = []
    for gate in gates:
        got = _acquire(gate, count)
        if got < count:
            for other in taken:
                _release(other, count - got)
            count = got
        if not count:
            return 0
        taken.append(gate)
    return count


def _acquire(gate: Any, count: int) -> int:
    many = getattr(gate, "acquire_many", None)
    if many is not None:
        return int(many(count))
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


def _wave(dispatch: Schedulable, wave: list[int], held: dict[int, Sequence[Any]],
          retry: Any = None) -> list[int]:
    """Run the jobs at `wave` together; returns the ones to run again."""
    for index in [i for i in wave if dispatch.jobs[i].cancelled]:
        dispatch.refuse(index, ErrorKind.CANCELLED, dispatch.jobs[index].cancelled or "cancelled")
        wave = [i for i in wave if i != index]
        for gate in held.pop(index, ()):
            gate.release()
    if not wave:
        return []
    jobs = [dispatch.jobs[index] for index in wave]
    for index in wave:
        dispatch.attempts[index] += 1
    if dispatch.on_outcome is not None:
        for index, job in zip(wave, jobs, strict=True):
            job.on_report(_reporter(dispatch, index, retry))
    try:
        outcomes = _run(dispatch.executor, jobs)
    finally:
        if held:
            counts: dict[Any, int] = {}
            for gates in held.values():
                for gate in gates:
                    counts[gate] = counts.get(gate, 0) + 1
            for gate, count in counts.items():
                _release(gate, count)
            with gates_released:
                gates_released.notify_all()
    again = []
    for index, outcome in zip(wave, outcomes, strict=True):
        if retry is not None and retry(index, outcome):
            again.append(index)
        else:
            dispatch.settle(index, outcome)
    return again


def _reporter(dispatch: Schedulable, index: int, retry: Any) -> Any:
    def reported(outcome: Outcome) -> None:
        spec = dispatch.retries.get(index)
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

"""One `run` in flight: its jobs, their outcomes so far (`toolwire.Outcomes`), and the threads running them.

Each job gets exactly one outcome: from the thread or task that ran it, or from the caller when its deadline
passed first (`timeout`), the caller gave up or the job was cancelled (`cancelled`). Whoever comes second
is ignored, so a late finish is never reported.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import CoroutineType

from toolwire import (
    ErrorKind,
    Job,
    Outcome,
    Outcomes,
    ToolError,
    abandon_thread,
    await_returned,
    cancelled_outcome,
    earliest_deadline,
    enter_scopes,
    error_from_exception,
    set_current_call_id,
    timeout_outcome,
)

_CANCELLED = ToolError(ErrorKind.CANCELLED, "the batch was cancelled before this call finished")


def _invoke(job: Job) -> object:
    """Run `job`'s invoker inside its scopes, with its call id set (in the context this is called in)."""
    set_current_call_id(job.call_id)
    with enter_scopes(job.scopes):
        return job.tool.invoker(**job.arguments)


class Run:
    """The shared state of one `run`/`arun` call."""

    __slots__ = ("abandoned", "context", "jobs", "outcomes", "running", "started", "sync_indices", "tasks", "timers")

    def __init__(self, jobs: Sequence[Job], notify: Callable[[], None]) -> None:
        self.jobs = jobs
        self.context = contextvars.copy_context()  # the caller's: each thread drains in a copy (decision 0074)
        self.outcomes = Outcomes(jobs, notify)
        self.running: list[threading.Thread | None] = [None] * len(jobs)
        self.abandoned: dict[int, threading.Thread] = {}
        self.started = time.monotonic()
        self.sync_indices: Iterator[int] = iter(())
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.timers: list[asyncio.TimerHandle] = []

    @property
    def done(self) -> bool:
        return self.outcomes.done

    def drain(self, thread: threading.Thread) -> bool:
        """Run sync jobs on `thread` until none are left; False when `thread` was abandoned and must exit.

        Several threads drain one run at once: each takes the next index from the shared iterator. Call it in a
        copy of `context`, so that the tools see their caller's context variables; a job of a gathered batch runs
        in a copy of its own caller's (`Job.context`).
        """
        jobs, outcomes, running, started = self.jobs, self.outcomes, self.running, self.started
        filled, monotonic, set_call_id, coroutine = outcomes.filled, time.monotonic, set_current_call_id, CoroutineType
        claim, last = filled.setdefault, len(jobs) - 1  # `outcomes.resolve`, with its rest called only when needed
        for index in self.sync_indices:
            running[index] = thread
            if index in filled:  # already timed out or cancelled: do not start it
                if index in self.abandoned:
                    return False
                continue
            job = jobs[index]
            deadline = job.deadline
            begun = monotonic()
            if deadline is not None and begun >= deadline:
                outcome = timeout_outcome(job, started, ran=False)
            else:
                set_call_id(job.call_id)
                context = job.context
                try:
                    if context is not None:  # a gathered batch's call: in its own caller's context
                        context = context.copy()
                        value = context.run(_invoke, job)
                    elif job.scopes:
                        with enter_scopes(job.scopes):
                            value = job.tool.invoker(**job.arguments)
                    else:
                        value = job.tool.invoker(**job.arguments)
                    finished = monotonic()
                    if type(value) is coroutine:  # from a plain `def` (a sync decorator on an async function)
                        outcome = await_returned(job, value, begun) if context is None else \
                            context.run(await_returned, job, value, begun)
                    elif deadline is not None and finished > deadline:  # a late finish is a timeout
                        outcome = timeout_outcome(job, started)
                    else:
                        outcome = Outcome(value, None, finished - begun)
                except BaseException as exc:  # SystemExit and such: the call's error, not the thread's end
                    outcome = Outcome(None, error_from_exception(exc), monotonic() - begun)
            if claim(index, outcome) is outcome:
                if job._signals is not None or len(filled) > last:
                    outcomes.settled(index, outcome)
            elif index in self.abandoned:
                return False
        return True

    def finish(self, index: int, outcome: Outcome) -> None:
        """Record an async job's outcome (a late finish becomes its timeout)."""
        job = self.jobs[index]
        if outcome.error is None and job.deadline is not None and time.monotonic() > job.deadline:
            outcome = timeout_outcome(job, self.started)
        self.outcomes.resolve(index, outcome)

    def wait_time(self) -> float | None:
        """Seconds until the earliest deadline of an unfinished job, or None when none has one."""
        jobs = self.jobs
        earliest = earliest_deadline([job.deadline for job in jobs] if not self.outcomes.filled else
                                     [jobs[index].deadline for index in self.outcomes.missing()])
        return None if earliest is None else max(0.0, earliest - time.monotonic())

    def expire(self) -> list[threading.Thread]:
        """Time out every unfinished job past its deadline; returns the threads left running them."""
        now = time.monotonic()
        jobs = self.jobs
        running = self.running
        return [thread for index in self.outcomes.missing()
                if (deadline := jobs[index].deadline) is not None and deadline <= now
                for thread in self._claim(index, timeout_outcome(
                    jobs[index], self.started, ran=running[index] is not None or jobs[index].tool.is_async))]

    def cancel(self, indices: Sequence[int] | None = None) -> list[threading.Thread]:
        """Give unfinished jobs (`indices`, default all) a `cancelled` outcome; returns the threads left
        running them."""
        cancelled = Outcome(error=_CANCELLED, duration_s=time.monotonic() - self.started)
        chosen = self.outcomes.missing() if indices is None else indices
        return [thread for index in chosen
                for thread in self._claim(index, cancelled if indices is None else
                                          cancelled_outcome(self.jobs[index], self.started))]

    def _claim(self, index: int, outcome: Outcome) -> list[threading.Thread]:
        """Fill an empty slot for the caller; the thread running its job, if any, is abandoned (and told so: a
        generator function's invoker stops reading)."""
        if not self.outcomes.resolve(index, outcome):
            return []
        thread = self.running[index]
        if thread is None or self.jobs[index].tool.is_async:
            return []
        self.abandoned[index] = thread
        abandon_thread(thread)
        return [thread]

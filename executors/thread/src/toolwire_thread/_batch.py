"""One batch in flight: its jobs, the outcomes so far, and the threads running them.

Each slot of `outcomes` is filled exactly once, under the batch's lock: by the thread or task that ran
the job, or by the caller when the job's deadline passed first (`timeout`) or the caller gave up
(`cancelled`). Whoever comes second is ignored, so a late finish is never reported.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from toolwire import ErrorKind, Job, Outcome, ToolError, call_invoker, error_from_exception, timeout_outcome

_CANCELLED = ToolError(ErrorKind.CANCELLED, "the batch was cancelled before this call finished")


class Batch:
    """The shared state of one `run`/`arun` call."""

    __slots__ = ("_lock", "_notify", "abandoned", "jobs", "outcomes", "pending", "running", "started",
                 "sync_indices", "tasks", "timers")

    def __init__(self, jobs: Sequence[Job], notify: Callable[[], None]) -> None:
        self.jobs = jobs
        self.outcomes: list[Outcome | None] = [None] * len(jobs)
        self.running: list[threading.Thread | None] = [None] * len(jobs)
        self.abandoned: dict[int, threading.Thread] = {}
        self.pending = len(jobs)
        self.started = time.monotonic()
        self.sync_indices: Iterator[int] = iter(())
        self.tasks: list[asyncio.Task[None]] = []
        self.timers: list[asyncio.TimerHandle] = []
        self._lock = threading.Lock()
        self._notify = notify

    @property
    def done(self) -> bool:
        return self.pending == 0

    def drain(self, thread: threading.Thread) -> bool:
        """Run sync jobs on `thread` until none are left; False when `thread` was abandoned and must exit.

        Several threads drain one batch at once: each takes the next index from the shared iterator.
        """
        jobs, outcomes, running = self.jobs, self.outcomes, self.running
        for index in self.sync_indices:
            running[index] = thread
            if outcomes[index] is not None:  # already timed out or cancelled: do not start it
                if not self.finish(index, None):
                    return False
                continue
            job = jobs[index]
            if job.deadline is not None and time.monotonic() >= job.deadline:
                outcome = timeout_outcome(job, self.started)
            else:
                try:
                    outcome = call_invoker(job)
                except BaseException as exc:  # SystemExit and such: the call's error, not the thread's end
                    outcome = Outcome(error=error_from_exception(exc))
            if not self.finish(index, outcome):
                return False
        return True

    def finish(self, index: int, outcome: Outcome | None) -> bool:
        """Record a job's outcome unless its slot is taken; False when the slot's thread was abandoned."""
        job = self.jobs[index]
        if outcome is not None and job.deadline is not None and time.monotonic() > job.deadline:
            outcome = timeout_outcome(job, self.started)  # a late finish is a timeout, never a success
        with self._lock:
            if self.outcomes[index] is not None:
                return index not in self.abandoned
            self.outcomes[index] = outcome
            self.pending -= 1
            last = self.pending == 0
        if last:
            self._notify()
        return True

    def wait_time(self) -> float | None:
        """Seconds until the earliest deadline of an unfinished job, or None when none has one."""
        deadlines = [job.deadline for job, outcome in zip(self.jobs, self.outcomes, strict=True)
                     if outcome is None and job.deadline is not None]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def expire(self) -> list[threading.Thread]:
        """Time out every unfinished job past its deadline; returns the threads left running them."""
        now = time.monotonic()
        with self._lock:
            return [thread for index, job in enumerate(self.jobs)
                    if self.outcomes[index] is None and job.deadline is not None and job.deadline <= now
                    for thread in self._claim(index, timeout_outcome(job, self.started))]

    def cancel(self) -> list[threading.Thread]:
        """Give every unfinished job a `cancelled` outcome; returns the threads left running them."""
        cancelled = Outcome(error=_CANCELLED, duration_s=time.monotonic() - self.started)
        with self._lock:
            return [thread for index, outcome in enumerate(self.outcomes) if outcome is None
                    for thread in self._claim(index, cancelled)]

    def _claim(self, index: int, outcome: Outcome) -> list[threading.Thread]:
        """Fill an empty slot for the caller (lock held); the thread running its job, if any, is abandoned."""
        self.outcomes[index] = outcome
        self.pending -= 1
        thread = self.running[index]
        if thread is None:
            return []
        self.abandoned[index] = thread
        return [thread]

"""Where the executor's async tools run: the process's shared background event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from toolwire import (
    ErrorKind,
    Outcome,
    ToolError,
    cancelled_outcome,
    enter_scopes,
    error_from_exception,
    set_current_call_id,
    timeout_outcome,
)
from toolwire.executing import task_cancelled
from toolwire.loop import shared_loop

from toolwire_thread._run import Run

_STOPPED = ToolError(ErrorKind.CANCELLED, "the executor was closed before this call finished")


class LoopTasks:
    """One executor's tasks on the shared loop; `close` cancels them and leaves the loop running.

    The loop is `toolwire.loop.shared_loop()`, shared with other executors and with the live resources
    loaders keep there, so a tool awaits its session on the loop it already runs on. A job still running
    at its deadline is cancelled by one
    timer per run and deadline (a run's jobs share one), not by a timeout per call.
    """

    def __init__(self) -> None:
        self.loop = shared_loop().loop
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, run: Run, indices: Sequence[int]) -> None:
        """Start the async jobs at `indices` of `run` as tasks on the loop (callable from any thread)."""
        self.loop.call_soon_threadsafe(self._start, run, indices)

    def cancel(self, run: Run, indices: Sequence[int] | None = None) -> None:
        """Cancel the tasks of `run` still running (`indices`, default all; callable from any thread)."""
        self.loop.call_soon_threadsafe(_cancel_run, run, indices)

    def close(self, wait: float) -> int:
        """Cancel every task of this executor and wait up to `wait` seconds for them to end.

        Call from a thread other than the loop's. Returns how many tasks ignored the cancellation and were
        left running on the loop.
        """
        ended = asyncio.run_coroutine_threadsafe(self._cancel_left(), self.loop)
        try:
            ended.result(wait)
        except TimeoutError:
            ended.cancel()
            return len(self._tasks)
        return 0

    def refuse_own_thread(self) -> None:
        """Raise if called from the loop's own thread, where waiting for the loop would never end."""
        if _running_loop() is self.loop:
            raise RuntimeError("a thread executor cannot be closed from a tool running on its own event loop")

    async def _cancel_left(self) -> None:
        left = list(self._tasks)
        _cancel_all(left)
        await asyncio.gather(*left, return_exceptions=True)

    def _start(self, run: Run, indices: Sequence[int]) -> None:
        loop, jobs = self.loop, run.jobs
        by_deadline: dict[float, list[asyncio.Task[None]]] = {}
        for index in indices:
            caller = jobs[index].context  # a gathered batch's: the call's own caller, not the batch's first
            task = run.tasks[index] = loop.create_task(_run(run, index),
                                                       context=caller.copy() if caller is not None else None)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            deadline = jobs[index].deadline
            if deadline is not None:
                by_deadline.setdefault(deadline, []).append(task)
        now = time.monotonic()
        for deadline, tasks in by_deadline.items():
            run.timers.append(loop.call_at(loop.time() + max(0.0, deadline - now), _cancel_all, tasks))


async def _run(run: Run, index: int) -> None:
    job = run.jobs[index]
    set_current_call_id(job.call_id)  # this task's own context
    started = time.monotonic()
    try:
        with enter_scopes(job.scopes):
            value = await job.tool.invoker(**job.arguments)
    except asyncio.CancelledError as exc:
        if not task_cancelled():  # the tool's own
            outcome = Outcome(error=error_from_exception(exc), duration_s=time.monotonic() - started)
        elif job.deadline is None or time.monotonic() < job.deadline:
            run.finish(index, cancelled_outcome(job, started) if job.cancelled else Outcome(error=_STOPPED))
            raise
        else:
            outcome = timeout_outcome(job, started)  # cancelled by its deadline's timer
    except BaseException as exc:  # SystemExit and the like: this call's error, not the loop's end
        outcome = Outcome(error=error_from_exception(exc), duration_s=time.monotonic() - started)
    else:
        outcome = Outcome(value=value, duration_s=time.monotonic() - started)
    run.finish(index, outcome)
    if run.done:
        for timer in run.timers:
            timer.cancel()


def _cancel_run(run: Run, indices: Sequence[int] | None) -> None:
    if indices is not None:
        _cancel_all([task for index in indices if (task := run.tasks.get(index)) is not None])
        return
    _cancel_all(list(run.tasks.values()))
    for timer in run.timers:
        timer.cancel()


def _cancel_all(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None

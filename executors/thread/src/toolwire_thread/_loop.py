"""Where the executor's async tools run: the process's shared background event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from toolwire import ErrorKind, Outcome, ToolError, error_from_exception, set_current_call_id, timeout_outcome
from toolwire.loop import shared_loop

from toolwire_thread._batch import Batch

_STOPPED = ToolError(ErrorKind.CANCELLED, "the executor was closed before this call finished")


class LoopTasks:
    """One executor's tasks on the shared loop; `close` cancels them and leaves the loop running.

    The loop is shared with other executors and with the MCP loader's sessions, so an MCP tool awaits
    its session on the loop it already runs on. A job still running at its deadline is cancelled by one
    timer per batch and deadline (a batch's jobs share one), not by a timeout per call.
    """

    def __init__(self) -> None:
        self.loop = shared_loop().loop
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, batch: Batch, indices: Sequence[int]) -> None:
        """Start the async jobs at `indices` of `batch` as tasks on the loop (callable from any thread)."""
        self.loop.call_soon_threadsafe(self._start, batch, indices)

    def cancel(self, batch: Batch) -> None:
        """Cancel the tasks of `batch` still running (callable from any thread)."""
        self.loop.call_soon_threadsafe(_cancel_batch, batch)

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

    def _start(self, batch: Batch, indices: Sequence[int]) -> None:
        loop, jobs = self.loop, batch.jobs
        by_deadline: dict[float, list[asyncio.Task[None]]] = {}
        for index in indices:
            task = loop.create_task(_run(batch, index))
            batch.tasks.append(task)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            deadline = jobs[index].deadline
            if deadline is not None:
                by_deadline.setdefault(deadline, []).append(task)
        now = time.monotonic()
        for deadline, tasks in by_deadline.items():
            batch.timers.append(loop.call_at(loop.time() + max(0.0, deadline - now), _cancel_all, tasks))


async def _run(batch: Batch, index: int) -> None:
    job = batch.jobs[index]
    set_current_call_id(job.call_id)  # this task's own context
    started = time.monotonic()
    try:
        value = await job.tool.invoker(**job.arguments)
    except asyncio.CancelledError:
        if job.deadline is None or time.monotonic() < job.deadline:
            batch.finish(index, Outcome(error=_STOPPED))
            raise
        outcome = timeout_outcome(job, started)  # cancelled by its deadline's timer
    except BaseException as exc:  # SystemExit and the like: this call's error, not the loop's end
        outcome = Outcome(error=error_from_exception(exc), duration_s=time.monotonic() - started)
    else:
        outcome = Outcome(value=value, duration_s=time.monotonic() - started)
    batch.finish(index, outcome)
    if batch.done:
        for timer in batch.timers:
            timer.cancel()


def _cancel_batch(batch: Batch) -> None:
    _cancel_all(batch.tasks)
    for timer in batch.timers:
        timer.cancel()


def _cancel_all(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None

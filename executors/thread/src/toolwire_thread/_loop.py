"""Where the executor's async tools run: the process's shared background event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from toolwire import ErrorKind, Outcome, ToolError, call_invoker_async, error_from_exception
from toolwire._background import shared_loop

from toolwire_thread._batch import Batch

_STOPPED = ToolError(ErrorKind.CANCELLED, "the executor was closed before this call finished")


class LoopTasks:
    """One executor's tasks on the shared loop; `close` cancels them and leaves the loop running.

    The loop is shared with other executors and with the MCP loader's sessions, so an MCP tool awaits
    its session on the loop it already runs on.
    """

    def __init__(self) -> None:
        self.loop = shared_loop().loop
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, batch: Batch, indices: Sequence[int]) -> None:
        """Start the async jobs at `indices` of `batch` as tasks on the loop (callable from any thread)."""
        self.loop.call_soon_threadsafe(self._start, batch, indices)

    def cancel(self, batch: Batch) -> None:
        """Cancel the tasks of `batch` still running (callable from any thread)."""
        self.loop.call_soon_threadsafe(_cancel_all, batch.tasks)

    def close(self) -> None:
        """Cancel every task of this executor and wait for them to end (from a thread other than the loop's)."""
        asyncio.run_coroutine_threadsafe(self._cancel_left(), self.loop).result()

    def refuse_own_thread(self) -> None:
        """Raise if called from the loop's own thread, where waiting for the loop would never end."""
        if _running_loop() is self.loop:
            raise RuntimeError("a thread executor cannot be closed from a tool running on its own event loop")

    async def _cancel_left(self) -> None:
        left = list(self._tasks)
        _cancel_all(left)
        await asyncio.gather(*left, return_exceptions=True)

    def _start(self, batch: Batch, indices: Sequence[int]) -> None:
        for index in indices:
            task = self.loop.create_task(_run(batch, index))
            batch.tasks.append(task)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _run(batch: Batch, index: int) -> None:
    try:
        outcome = await call_invoker_async(batch.jobs[index])
    except asyncio.CancelledError:
        batch.finish(index, Outcome(error=_STOPPED))
        raise
    except BaseException as exc:  # SystemExit and the like: this call's error, not the loop's end
        outcome = Outcome(error=error_from_exception(exc))
    batch.finish(index, outcome)


def _cancel_all(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None

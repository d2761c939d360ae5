"""The executor's one event loop, in a thread of its own, where every async tool runs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from toolwire import ErrorKind, Outcome, ToolError, call_invoker_async, error_from_exception

from toolwire_thread._batch import Batch

_STOPPED = ToolError(ErrorKind.CANCELLED, "the executor was closed before this call finished")


class LoopThread:
    """An event loop running forever in a daemon thread; `close` cancels what is left and stops it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def start(self, batch: Batch, indices: Sequence[int]) -> None:
        """Start the async jobs at `indices` of `batch` as tasks on the loop (callable from any thread)."""
        self.loop.call_soon_threadsafe(self._start, batch, indices)

    def cancel(self, batch: Batch) -> None:
        """Cancel the tasks of `batch` still running (callable from any thread)."""
        self.loop.call_soon_threadsafe(_cancel_all, batch.tasks)

    def close(self) -> None:
        """Cancel every task, stop the loop and wait for its thread to end."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()

    def _start(self, batch: Batch, indices: Sequence[int]) -> None:
        for index in indices:
            task = self.loop.create_task(_run(batch, index))
            batch.tasks.append(task)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            left = list(self._tasks)
            _cancel_all(left)
            self.loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
        finally:
            self.loop.close()


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

"""Run coroutines on another thread's event loop, and hand their outcomes back, in bursts.

`asyncio.run_coroutine_threadsafe` wakes the owning loop for every call and the caller's loop for every
result; under a batch of concurrent calls those wake-ups (and the GIL hand-offs they cause) cost more
than the calls. A `Bridge` wakes each loop once per burst: submissions queue until the owning loop
drains them, results queue per caller loop until that loop drains them. Cancelling the caller cancels
the coroutine on the owning loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["Bridge"]

_T = TypeVar("_T")


class _Call:
    __slots__ = ("caller", "cancelled", "coro", "future", "task")

    def __init__(self, coro: Coroutine[Any, Any, Any], caller: asyncio.AbstractEventLoop) -> None:
        self.coro = coro
        self.caller = caller
        self.future: asyncio.Future[Any] = caller.create_future()
        self.task: asyncio.Task[Any] | None = None
        self.cancelled = False


class Bridge:
    """Awaits coroutines on `loop` (running in another thread) from any other event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._inbox: list[_Call] = []
        self._outboxes: dict[asyncio.AbstractEventLoop, list[_Call]] = {}

    async def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run `coro` on the bridge's loop and return its result (or raise its exception) here."""
        call = _Call(coro, asyncio.get_running_loop())
        with self._lock:
            self._inbox.append(call)
            wake = len(self._inbox) == 1
        if wake:
            self.loop.call_soon_threadsafe(self._start)
        try:
            return await call.future
        except asyncio.CancelledError:
            call.cancelled = True
            self.loop.call_soon_threadsafe(self._cancel, call)
            raise

    def _start(self) -> None:
        with self._lock:
            calls, self._inbox = self._inbox, []
        for call in calls:
            if call.cancelled:
                call.coro.close()
                continue
            call.task = self.loop.create_task(call.coro)
            call.task.add_done_callback(lambda _task, call=call: self._finished(call))

    @staticmethod
    def _cancel(call: _Call) -> None:
        if call.task is not None:
            call.task.cancel()

    def _finished(self, call: _Call) -> None:
        with self._lock:
            outbox = self._outboxes.setdefault(call.caller, [])
            outbox.append(call)
            wake = len(outbox) == 1
        if wake:
            try:
                call.caller.call_soon_threadsafe(self._deliver, call.caller)
            except RuntimeError:  # the caller's loop has closed: nobody waits for these outcomes
                with self._lock:
                    self._outboxes.pop(call.caller, None)

    def _deliver(self, caller: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            calls = self._outboxes.pop(caller, [])
        for call in calls:
            task = call.task
            assert task is not None
            if task.cancelled():
                call.future.cancel()
                continue
            error = task.exception()
            if call.future.done():
                continue
            if error is not None:
                call.future.set_exception(error)
            else:
                call.future.set_result(task.result())

"""Runs coroutines for other event loops on a background loop, handing outcomes back in bursts.

`asyncio.run_coroutine_threadsafe` wakes the owning loop for every call and the caller's loop for every
result; under a batch of concurrent calls those wake-ups (and the GIL hand-offs they cause) cost more
than the calls. A `Bridge` wakes its loop once per burst of submissions, and holds finished outcomes
until its loop is about to wait for I/O (or for at most `_HOLD` seconds while it stays busy), then wakes
each caller's loop once for all of them. Cancelling the caller cancels the coroutine on the owning loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from toolwire.loop import BackgroundLoop

__all__ = ["Bridge"]

_T = TypeVar("_T")
_HOLD = 0.002
"""How long a busy owning loop may hold finished outcomes before handing them back anyway."""


class _Call:
    __slots__ = ("caller", "cancelled", "coro", "future", "task")

    def __init__(self, coro: Coroutine[Any, Any, Any], caller: asyncio.AbstractEventLoop) -> None:
        self.coro = coro
        self.caller = caller
        self.future: asyncio.Future[Any] = caller.create_future()
        self.task: asyncio.Task[Any] | None = None
        self.cancelled = False


class Bridge:
    """Awaits coroutines on the loop of `owner` from any other event loop."""

    def __init__(self, owner: BackgroundLoop) -> None:
        self._lock = threading.Lock()
        self._inbox: list[_Call] = []
        self._outboxes: dict[asyncio.AbstractEventLoop, list[_Call]] = {}  # touched on the owning loop only
        self._hold_until = 0.0
        self.loop = owner.loop
        owner.on_poll(self._before_poll)

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
            self.loop.call_soon_threadsafe(_cancel, call)
            raise

    def _start(self) -> None:
        with self._lock:
            calls, self._inbox = self._inbox, []
        for call in calls:
            if call.cancelled:
                call.coro.close()
                continue
            call.task = self.loop.create_task(call.coro)
            call.task.add_done_callback(functools.partial(self._finished, call))

    def _finished(self, call: _Call, _task: asyncio.Task[Any]) -> None:
        if not self._outboxes:
            self._hold_until = time.monotonic() + _HOLD
        self._outboxes.setdefault(call.caller, []).append(call)

    def _before_poll(self, timeout: float | None) -> None:
        """Hand the outcomes back when the loop is about to wait, or has held them long enough."""
        if self._outboxes and (timeout != 0 or time.monotonic() >= self._hold_until):
            outboxes, self._outboxes = self._outboxes, {}
            for caller, calls in outboxes.items():
                with contextlib.suppress(RuntimeError):  # the caller's loop has closed: nobody waits
                    caller.call_soon_threadsafe(_deliver, calls)


def _cancel(call: _Call) -> None:
    if call.task is not None:
        call.task.cancel()


def _deliver(calls: list[_Call]) -> None:
    """Settle each call's future on its caller's loop."""
    for call in calls:
        task = call.task
        assert task is not None
        if call.future.done():
            continue
        if task.cancelled():
            call.future.cancel()
        elif (error := task.exception()) is not None:
            call.future.set_exception(error)
        else:
            call.future.set_result(task.result())

"""The cyclic garbage collector held off while a large batch runs, for half a second at most.

Building 10,000 calls' records allocates ~50,000 container objects that all stay alive until the batch
ends: the collector ran dozens of times over them, and a full collection (the whole heap) every batch
or two, which nearly doubled a large batch's cost. toolwire's records make no reference cycles, so
holding the collector off loses nothing of ours; a tool's cyclic garbage waits at most `HOLD_LIMIT`
seconds, after which the collector runs again even if the batch goes on. The remedy Mercurial's
`util.nogc` applies, with a time limit.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["BULK", "HOLD_LIMIT", "collector_held"]

BULK = 1000
"""The batch size from which the collector is held off."""
HOLD_LIMIT = 0.5
"""Seconds after which a hold ends though batches still run."""

_changed = threading.Condition()
"""Guards the hold's state; notified when a hold begins, so that the watchdog times it."""
_holders = 0
_until: float | None = None
"""When our hold ends at the latest (`time.monotonic()`); None while we (not the user) hold nothing."""
_watchdog: threading.Thread | None = None


@contextmanager
def collector_held(size: int) -> Iterator[None]:
    """Hold the collector off for the block when `size` is at least `BULK` (reentrant, any thread).

    A collector the user disabled stays disabled; one we disabled is enabled when the last holder
    leaves, or `HOLD_LIMIT` seconds after the hold began, whichever is first.
    """
    global _holders, _until
    if size < BULK:
        yield
        return
    with _changed:
        _holders += 1
        if _holders == 1 and _until is None and gc.isenabled():
            gc.disable()
            _until = time.monotonic() + HOLD_LIMIT
            _watch_locked()
    try:
        yield
    finally:
        with _changed:
            _holders -= 1
            if _holders == 0 and _until is not None:
                _release_locked()


def _watch_locked() -> None:
    """Wake the watchdog for the new hold, starting it in this process if it is not running yet."""
    global _watchdog
    if _watchdog is None:
        _watchdog = threading.Thread(target=_watch, name="toolwire-collector-hold", daemon=True)
        _watchdog.start()
    _changed.notify()


def _watch() -> None:
    """Enable the collector when a hold outlives its limit; one thread for every hold of the process."""
    with _changed:
        while True:
            if _until is None:
                _changed.wait()
            elif (left := _until - time.monotonic()) > 0:
                _changed.wait(left)
            else:
                _release_locked()


def _release_locked() -> None:
    global _until
    _until = None
    gc.enable()


def _forget_watchdog() -> None:
    """In a forked child: the parent's watchdog thread did not come along, nor did its hold."""
    global _changed, _watchdog, _holders, _until
    _changed, _watchdog, _holders, _until = threading.Condition(), None, 0, None


os.register_at_fork(after_in_child=_forget_watchdog)

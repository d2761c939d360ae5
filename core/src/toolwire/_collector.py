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
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["BULK", "HOLD_LIMIT", "collector_held"]

BULK = 1000
"""The batch size from which the collector is held off."""
HOLD_LIMIT = 0.5
"""Seconds after which a hold ends though batches still run."""

_lock = threading.Lock()
_holders = 0
_hold: threading.Timer | None = None  # set while we (not the user) have the collector disabled


@contextmanager
def collector_held(size: int) -> Iterator[None]:
    """Hold the collector off for the block when `size` is at least `BULK` (reentrant, any thread).

    A collector the user disabled stays disabled; one we disabled is enabled when the last holder
    leaves, or `HOLD_LIMIT` seconds after the hold began, whichever is first.
    """
    global _holders, _hold
    if size < BULK:
        yield
        return
    with _lock:
        _holders += 1
        if _holders == 1 and _hold is None and gc.isenabled():
            gc.disable()
            _hold = threading.Timer(HOLD_LIMIT, _release)
            _hold.daemon = True
            _hold.start()
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _hold is not None:
                _hold.cancel()
                _release_locked()


def _release() -> None:
    with _lock:
        _release_locked()


def _release_locked() -> None:
    global _hold
    if _hold is not None:
        _hold = None
        gc.enable()

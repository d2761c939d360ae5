"""The event loop each process shares between backends and loaders, and the class behind it.

The rule every plugin follows: async code that toolwire runs outside the caller's own loop runs on
`shared_loop()`, one loop in a daemon thread per process. Backends run async tools there (the thread
backend directly, each process worker on its own copy), and loaders keep their live resources there
(connections, sessions), so a tool awaits its session on the loop it already runs on instead of hopping
between loops. Never block this loop: run blocking work in a thread. The loop starts on first use and is
never stopped; a forked child starts a loop of its own.

```python
from toolwire.loop import shared_loop

future = asyncio.run_coroutine_threadsafe(fetch(), shared_loop().loop)
```
"""

from __future__ import annotations

import asyncio
import os
import selectors
import threading
from collections.abc import Callable

__all__ = ["BackgroundLoop", "shared_loop"]


class _Selector(selectors.DefaultSelector):
    """Calls each hook with the poll's timeout every time the loop is about to poll for I/O."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[Callable[[float | None], None]] = []

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        for hook in self.hooks:
            hook(timeout)
        return super().select(timeout)


class BackgroundLoop:
    """An event loop running forever in a daemon thread named `name`."""

    def __init__(self, name: str) -> None:
        self._selector = _Selector()
        self.loop = asyncio.SelectorEventLoop(self._selector)
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def on_poll(self, hook: Callable[[float | None], None]) -> None:
        """Call `hook(timeout)` on the loop's thread each time the loop is about to poll for I/O."""
        self.loop.call_soon_threadsafe(self._selector.hooks.append, hook)


_shared: BackgroundLoop | None = None
_shared_lock = threading.Lock()


def shared_loop() -> BackgroundLoop:
    """This process's shared background loop, started on first use."""
    global _shared
    shared = _shared
    if shared is not None:
        return shared
    with _shared_lock:
        if _shared is None:
            _shared = BackgroundLoop("toolwire-loop")
        return _shared


def _forget_in_child() -> None:
    global _shared, _shared_lock
    _shared, _shared_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)

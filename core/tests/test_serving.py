"""The `Server` base: which event loop a server runs on, and that it leaves no task or generator behind."""

from __future__ import annotations

import asyncio

import pytest
from toolwire.serving import Server
from toolwire.testing import running


class LoopRecorder(Server):
    """Records the event loop it runs on, then stops (or, in the background, waits to be stopped)."""

    def __init__(self, *, wait: bool) -> None:
        super().__init__()
        self.wait = wait
        self.loop: asyncio.AbstractEventLoop | None = None

    async def arun(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.started.set()
        if self.wait:
            await asyncio.Event().wait()


def test_servers_run_on_uvloop_when_it_is_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    blocking = LoopRecorder(wait=False)
    blocking.run()
    assert isinstance(blocking.loop, uvloop.Loop)
    with running(LoopRecorder(wait=True)) as background:
        assert isinstance(background.loop, uvloop.Loop)


class Leaving(Server):
    """Starts a task of its own that never ends (as a library's watcher does) and a generator it never
    closes, then serves until stopped."""

    def __init__(self) -> None:
        super().__init__()
        self.task: asyncio.Task[None] | None = None
        self.closed: list[str] = []

    async def arun(self) -> None:
        self.task = asyncio.get_running_loop().create_task(asyncio.sleep(3600))
        ticks = self.ticks()
        await ticks.__anext__()
        self.started.set()
        await asyncio.Event().wait()

    async def ticks(self):  # type: ignore[no-untyped-def]
        try:
            while True:
                yield
        finally:
            self.closed.append("ticks")


def test_tasks_and_generators_a_server_leaves_are_ended_when_it_stops_in_the_background() -> None:
    with running(Leaving()) as server:  # `run()` ends them too: asyncio.Runner does
        pass
    assert server.task is not None and server.task.cancelled()
    assert server.closed == ["ticks"]

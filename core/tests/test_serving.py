"""The `Server` base: which event loop a server runs on."""

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

"""The `Server` base: which event loop a server runs on, that it leaves no task or generator behind, and that a
registry starts its backend before it serves."""

from __future__ import annotations

import asyncio

import pytest
from toolwire import Config, ExecutorConfig, ToolRegistry
from toolwire.hookspecs import ServerSpec, hookimpl
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


class Probe(Server):
    """Records the backend's worker processes when it starts serving, then stops."""

    def __init__(self, registry: ToolRegistry) -> None:
        super().__init__()
        self.registry = registry

    async def arun(self) -> None:
        SEEN.append(self.registry.executor().worker_pids())  # type: ignore[attr-defined]


SEEN: list[list[int]] = []


class ProbePlugin:
    @hookimpl
    def toolwire_servers(self) -> list[ServerSpec]:
        return [ServerSpec("probe", Probe, "records the backend's workers when it starts")]


@pytest.mark.parametrize("blocking", [True, False])
def test_a_registry_starts_its_backend_before_it_serves(blocking: bool) -> None:
    """The first client does not wait for the workers (~35 ms on the process backend, seconds for a cluster)."""
    SEEN.clear()
    with ToolRegistry(config=Config(executor=ExecutorConfig("process", workers=2))) as registry:
        registry.plugins.register(ProbePlugin(), name="probe")
        if blocking:
            registry.serve("probe")
        else:
            asyncio.run(registry.aserve("probe"))
    assert len(SEEN) == 1 and len(SEEN[0]) == 2, SEEN

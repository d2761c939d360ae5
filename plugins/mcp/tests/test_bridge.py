"""The bridge between a caller's event loop and the loop that owns the MCP sessions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from toolwire.loop import BackgroundLoop
from toolwire_mcp._client.bridge import Bridge


@pytest.fixture
def bridge() -> Iterator[Bridge]:
    owner = BackgroundLoop("owner")
    yield Bridge(owner)
    owner.loop.call_soon_threadsafe(owner.loop.stop)
    owner.thread.join(5)
    owner.loop.close()


async def owner_thread_name(value: int) -> tuple[int, str]:
    await asyncio.sleep(0)
    return value, threading.current_thread().name


def test_results_and_errors_come_back_to_each_caller(bridge: Bridge) -> None:
    async def fails() -> None:
        raise LookupError("no such thing")

    async def main() -> list:
        return await asyncio.gather(*(bridge.run(owner_thread_name(i)) for i in range(500)), bridge.run(fails()),
                                    return_exceptions=True)

    for _ in range(2):  # a second asyncio.run: a new caller loop
        *values, error = asyncio.run(main())
        assert [value for value, _ in values] == list(range(500))
        assert {name for _, name in values} == {"owner"}
        assert isinstance(error, LookupError) and str(error) == "no such thing"


def test_cancelling_the_caller_cancels_the_coroutine(bridge: Bridge) -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def waits() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def main() -> None:
        task = asyncio.ensure_future(bridge.run(waits()))
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert cancelled.wait(10)


def test_outcomes_come_back_while_the_owning_loop_stays_busy(bridge: Bridge) -> None:
    stop = threading.Event()

    async def spin() -> None:  # keeps a callback ready on every iteration, so the loop never waits for I/O
        while not stop.is_set():
            await asyncio.sleep(0)

    spinner = asyncio.run_coroutine_threadsafe(spin(), bridge.loop)
    try:
        async def main() -> list:
            return await asyncio.wait_for(asyncio.gather(*(bridge.run(owner_thread_name(i)) for i in range(50))), 30)

        assert [value for value, _ in asyncio.run(main())] == list(range(50))
    finally:
        stop.set()
        spinner.result(10)

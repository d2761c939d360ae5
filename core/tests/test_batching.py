"""CallBatcher: concurrent single calls go out as one batch; a lone call waits for nothing."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import time
from collections.abc import Sequence

import pytest
from toolwire import CallBatcher, ErrorKind, ToolCall, ToolRegistry
from toolwire.executing import Executor, Job, Outcome, call_invoker
from toolwire.testing import BatchSizes


@pytest.fixture
def registry() -> ToolRegistry:
    with ToolRegistry(executor="thread") as registry:
        registry.load("native", lambda a, b: a + b, name="add")
        yield registry


async def test_calls_made_together_run_as_one_batch(registry: ToolRegistry) -> None:
    sizes = BatchSizes()
    registry.plugins.register(sizes, name="sizes")
    batcher = CallBatcher(registry)

    async def one(i: int) -> object:
        await asyncio.sleep(0)  # as a framework's task does before it calls the tool
        return await batcher.call(ToolCall(f"c{i}", "add", {"a": i, "b": 1}))

    results = await asyncio.gather(*(one(i) for i in range(20)))
    assert [r.value for r in results] == [i + 1 for i in range(20)]
    assert [r.call_id for r in results] == [f"c{i}" for i in range(20)]
    assert sizes.sizes == [20]

    openai_call = {"id": "x", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}
    lone = await batcher.call(openai_call)
    assert lone.value == 5 and sizes.sizes == [20, 1]


_user: contextvars.ContextVar[str | None] = contextvars.ContextVar("user", default=None)


async def _whose() -> str | None:
    """The `user` context variable where the call runs."""
    return _user.get()


def _whose_sync() -> str | None:
    return _user.get()


def _whose_awaited() -> object:
    return _whose()  # a coroutine, which the backend awaits


@pytest.mark.parametrize("whose", [_whose, _whose_sync, _whose_awaited], ids=["async", "sync", "returned coroutine"])
async def test_a_tool_sees_its_own_callers_context_variables_never_another_callers(
    registry: ToolRegistry, whose: object
) -> None:
    """The calls of a gathered batch come from different callers (a server's clients, concurrent agent runs);
    each async tool ran in the context of the caller whose call came first: Bob's tool saw Alice. A sync tool saw
    none (its pool thread's own context)."""
    registry.load("native", whose, name="whose")
    sizes = BatchSizes()
    registry.plugins.register(sizes, name="sizes")
    batcher = CallBatcher(registry)

    async def ask(user: str) -> object:
        _user.set(user)
        return (await batcher.call(ToolCall(user, "whose", {}))).value

    users = ["alice", "bob", "carol"]
    assert await asyncio.gather(*(ask(user) for user in users)) == users
    assert sizes.sizes == [3]  # one batch, three callers
    _user.set("dave")
    [alone] = await registry.aexecute_tool_calls([ToolCall("d", "whose", {})])
    assert alone.value == "dave"  # a batch of one caller: its context, as before


async def test_one_bad_call_is_its_callers_error_only(registry: ToolRegistry) -> None:
    batcher = CallBatcher(registry)
    good, bad = await asyncio.gather(batcher.call(ToolCall("1", "add", {"a": 1, "b": 2})),
                                     batcher.call(ToolCall("2", "nope", {})))
    assert good.value == 3 and bad.error is not None and bad.error.kind == "unknown_tool"


async def test_a_call_approved_elsewhere_runs_in_the_batch_and_the_others_stay_held(registry: ToolRegistry) -> None:
    """`approved=True` (an agent framework's own approval flow said yes) runs a call the approval policy holds,
    in the same batch as the calls made with it, which stay held."""
    sizes = BatchSizes()
    registry.plugins.register(sizes, name="sizes")
    registry.add_policy(match="add", requires_approval=True)
    batcher = CallBatcher(registry)
    approved, held = await asyncio.gather(batcher.call(ToolCall("1", "add", {"a": 1, "b": 2}), approved=True),
                                          batcher.call(ToolCall("2", "add", {"a": 3, "b": 4})))
    assert approved.value == 3
    assert held.error is not None and held.error.kind == ErrorKind.APPROVAL_PENDING
    assert sizes.sizes == [2]


async def test_more_than_one_call_is_refused(registry: ToolRegistry) -> None:
    with pytest.raises(ValueError, match="exactly one call"):
        await CallBatcher(registry).call([ToolCall("1", "add", {}), ToolCall("2", "add", {})])


def test_a_batch_whose_callers_loop_stopped_ends_instead_of_waiting_forever() -> None:
    """As a framework's `run_sync` does: the loop runs until the caller has its own call's result (reported
    early), then stops while another call of the batch still runs. That call is cancelled, not waited on
    by a thread that would hold the interpreter's exit."""
    results: dict[int, object] = {}
    first = threading.Event()

    def heard(index: int, result: object) -> None:
        results[index] = result
        if index == 0:
            first.set()

    with ToolRegistry(executor="thread") as registry:
        registry.load("native", lambda seconds: time.sleep(seconds) or seconds, name="nap")
        batch = registry.batch([ToolCall("quick", "nap", {"seconds": 0}), ToolCall("slow", "nap", {"seconds": 5})],
                               on_result=heard)

        async def caller() -> asyncio.Future[object]:
            running = asyncio.ensure_future(registry.aexecute_batch(batch))
            while not first.is_set():
                await asyncio.sleep(0.01)
            return running

        loop = asyncio.new_event_loop()
        started = time.monotonic()
        running = loop.run_until_complete(caller())  # returns with the slow call still running; the loop stops
        deadline = time.monotonic() + 3
        while 1 not in results and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 1 in results and time.monotonic() - started < 3
        slow = results[1]
        assert slow.error is not None and slow.error.kind is ErrorKind.CANCELLED  # type: ignore[attr-defined]
        assert "event loop that started the call stopped" in slow.error.message  # type: ignore[attr-defined]
        assert len(loop.run_until_complete(running)) == 2  # the batch itself ends when its loop runs again
        loop.close()


class Inline(Executor):
    """A backend with no async path of its own (`Executor.arun`'s default)."""

    name = "inline"

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        return [call_invoker(job) for job in jobs]


async def test_call_invoker_runs_a_gathered_call_in_its_own_callers_context() -> None:
    """A third-party backend that runs sync invokers here with `call_invoker`: each gathered call in its own
    caller's context, not the batch's (the first caller's)."""
    with ToolRegistry(executor=Inline()) as registry:
        registry.load("native", _whose_sync, name="whose")
        batcher = CallBatcher(registry)

        async def ask(user: str) -> object:
            _user.set(user)
            return (await batcher.call(ToolCall(user, "whose", {}))).value

        assert await asyncio.gather(*(ask(user) for user in ("alice", "bob", "carol"))) == ["alice", "bob", "carol"]


def test_batches_awaited_from_a_loop_with_a_one_thread_default_pool_do_not_starve() -> None:
    """The loop's default pool (a framework may keep it small) is not where batches wait, and a backend
    without an async path runs in the batch's own thread instead of a second one from that pool."""
    with ToolRegistry(executor=Inline()) as registry:
        registry.load("native", lambda a, b: a + b, name="add")

        async def main() -> list[object]:
            asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(1))
            batches = [registry.aexecute_tool_calls([ToolCall(f"c{i}", "add", {"a": i, "b": 1})]) for i in range(4)]
            return await asyncio.wait_for(asyncio.gather(*batches), 10)

        results = asyncio.run(main())
    assert [[r.value for r in batch] for batch in results] == [[1], [2], [3], [4]]


def test_a_timeout_no_batch_could_use_is_refused_when_the_batcher_is_made(registry: ToolRegistry) -> None:
    with pytest.raises(ValueError, match=r"^timeout must be more than 0 seconds"):  # each of its batches raised it
        CallBatcher(registry, timeout=0)

"""What the thread backend does beyond the conformance suite: one loop, a bounded pool, hung threads."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import itertools
import threading
import time
import weakref
from typing import Any

import pytest
import toolwire_thread.plugin
from toolwire import ErrorKind, ExecutorConfig, Job, Plugins, Tool, ToolCall, ToolRegistry, call_abandoned
from toolwire.config import Config
from toolwire.loop import shared_loop
from toolwire_thread import ThreadExecutor

ANY = {"type": "object"}
_prefixes = itertools.count()


def make(workers: int | None = 4, **options: Any) -> ThreadExecutor:
    options.setdefault("thread_name_prefix", f"tw-test-{next(_prefixes)}")
    return ThreadExecutor(ExecutorConfig("thread", workers=workers, options=options))


def job(function: Any, deadline_s: float | None = 30.0, **arguments: Any) -> Job:
    deadline = None if deadline_s is None else time.monotonic() + deadline_s
    return Job(function.__name__, Tool(function.__name__, "", ANY, function), arguments, deadline)


def threads_named(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


async def where_am_i() -> tuple[int, int]:
    await asyncio.sleep(0)
    return id(asyncio.get_running_loop()), threading.get_ident()


def plus(a: int, b: int) -> int:
    return a + b


def wait_at(barrier: threading.Barrier) -> int:
    return barrier.wait()


def wait_for(event: threading.Event, seconds: float) -> str:
    event.wait(seconds)
    return "done"


def test_async_tools_share_one_loop_across_batches_and_callers() -> None:
    with make() as executor:
        seen = [outcome.value for outcome in executor.run([job(where_am_i) for _ in range(5)])]
        seen += [outcome.value for outcome in executor.run([job(where_am_i)])]

        async def from_a_loop() -> tuple[int, list[Any]]:
            outcomes = await executor.arun([job(where_am_i) for _ in range(3)])
            return id(asyncio.get_running_loop()), [o.value for o in outcomes]

        caller_loop, values = asyncio.run(from_a_loop())
        seen += values
    assert len(set(seen)) == 1, seen  # one loop, one thread
    assert seen[0][0] != caller_loop and seen[0][1] != threading.get_ident()


def test_async_tools_run_on_the_shared_loop_which_close_leaves_running() -> None:
    shared = shared_loop()
    with make() as second:
        with make() as first:
            [outcome] = first.run([job(where_am_i)])
        assert outcome.value == (id(shared.loop), shared.thread.ident)
        assert second.run([job(where_am_i)])[0].value == outcome.value  # the first close left the loop running
    assert shared.thread.is_alive()


def test_pool_runs_as_many_calls_at_once_as_workers() -> None:
    barrier = threading.Barrier(3, timeout=5)
    with make(workers=3) as executor:
        outcomes = executor.run([job(wait_at, barrier=barrier) for _ in range(3)])
    assert all(o.error is None for o in outcomes), outcomes


def test_pool_never_runs_more_calls_at_once_than_workers() -> None:
    barrier = threading.Barrier(4, timeout=0.3)  # four parties can never meet on three threads
    with make(workers=3) as executor:
        outcomes = executor.run([job(wait_at, barrier=barrier) for _ in range(4)])
        assert executor._pool is not None and executor._pool.threads == 3
    assert [o.error.kind if o.error else None for o in outcomes] == [ErrorKind.TOOL_ERROR] * 4
    assert all("BrokenBarrierError" in o.error.message for o in outcomes if o.error)


def test_late_finish_is_dropped_and_hung_thread_is_replaced() -> None:
    release, finished = threading.Event(), threading.Event()

    def hung() -> str:
        release.wait(30)
        finished.set()
        return "late"

    executor = make(workers=1)
    prefix = executor._prefix
    try:
        outcomes = executor.run([job(hung, deadline_s=0.2), job(hung, deadline_s=0.2)])
        assert [o.error.kind if o.error else None for o in outcomes] == [ErrorKind.TIMEOUT] * 2
        assert "'hung' did not finish within" in outcomes[0].error.message  # type: ignore[union-attr]
        assert "'hung' did not start within" in outcomes[1].error.message  # type: ignore[union-attr]
        # the only worker is stuck: a fresh one runs the next batch
        assert [o.value for o in executor.run([job(plus, a=1, b=2)] * 3)] == [3, 3, 3]
        assert executor._pool is not None and executor._pool.abandoned == 1
        stuck = [t for t in threads_named(prefix) if t.name != f"{prefix}-1"]
        release.set()
        assert finished.wait(10)
        for thread in stuck:
            thread.join(10)
        assert outcomes[0].error is not None and outcomes[0].value is None  # the late "late" was dropped
        assert [t.name for t in threads_named(prefix)] == [f"{prefix}-1"]  # the abandoned thread exited
    finally:
        release.set()
        executor.close()


def test_async_tool_blocking_the_loop_is_still_reported_at_its_deadline() -> None:
    release, finished = threading.Event(), threading.Event()

    async def blocks_the_loop() -> str:
        release.wait(10)  # a badly written async tool: it blocks the executor's loop
        finished.set()
        return "late"

    with make() as executor:
        try:
            [outcome] = executor.run([job(blocks_the_loop, deadline_s=0.2)])
            assert not finished.is_set()  # the batch returned while the tool was still blocked
        finally:
            release.set()
    assert outcome.error is not None and outcome.error.kind == ErrorKind.TIMEOUT


def test_arun_does_not_block_the_callers_loop() -> None:
    ticked = threading.Event()

    def needs_the_caller_loop() -> bool:
        return ticked.wait(5)  # set by a task on the caller's loop while arun awaits

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, ticked.set)
        with make() as executor:
            outcomes = await executor.arun([job(needs_the_caller_loop), job(where_am_i)])
        return [o.value for o in outcomes]

    flag, (loop_id, _) = asyncio.run(main())
    assert flag is True
    assert isinstance(loop_id, int)


def test_cancelling_arun_cancels_its_async_tools() -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def waits_forever() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def main(executor: ThreadExecutor) -> None:
        task = asyncio.ensure_future(executor.arun([job(waits_forever)]))
        await asyncio.to_thread(started.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with make() as executor:
        asyncio.run(main(executor))
        assert cancelled.wait(5)
        assert executor.run([job(where_am_i)])[0].error is None


def test_system_exit_in_a_tool_is_that_calls_error() -> None:
    def exits() -> None:
        raise SystemExit(2)

    async def async_exits() -> None:
        raise SystemExit(2)

    with make(workers=1) as executor:
        outcomes = executor.run([job(exits), job(async_exits), job(plus, a=4, b=0)])
        assert [o.error.kind if o.error else o.value for o in outcomes] == [ErrorKind.TOOL_ERROR] * 2 + [4]
        assert executor.run([job(plus, a=5, b=0)])[0].value == 5


def test_jobs_without_deadline_run_to_completion() -> None:
    with make() as executor:
        outcomes = executor.run([job(wait_for, None, event=threading.Event(), seconds=0.05)] * 2)
    assert [o.value for o in outcomes] == ["done", "done"]


def test_close_stops_every_thread_and_is_idempotent() -> None:
    executor = make(workers=3)
    prefix = executor._prefix
    executor.warm()
    assert len(threads_named(prefix)) == 3  # three workers; async tools run on the shared loop
    assert executor.run([job(where_am_i), job(plus, a=1, b=0)])[1].value == 1
    executor.close()
    executor.close()
    assert threads_named(prefix) == []
    with pytest.raises(RuntimeError, match="closed"):
        executor.run([job(plus, a=1, b=0)])


def test_configuration() -> None:
    with make(workers=None) as executor:
        assert 5 <= executor.workers <= 32
    rejected = r"unknown option 'max_calls_per_worker'.*accepted: thread_name_prefix"
    with pytest.raises(ValueError, match=rejected):
        make(max_calls_per_worker=10)
    with pytest.raises(ValueError, match="must be str"):
        make(thread_name_prefix=3)
    with pytest.raises(ValueError, match="at least one worker"):
        make(workers=0)


def test_plugin_offers_the_thread_backend_to_a_registry() -> None:
    plugins = Plugins(autoload=False)
    plugins.register(toolwire_thread.plugin, name="thread")
    config = Config(executor=ExecutorConfig("thread", workers=2, timeout=5.0))
    with ToolRegistry(config=config, plugins=plugins) as registry:
        registry.add(Tool("where", "", ANY, where_am_i))
        results = registry.execute_tool_calls([ToolCall("1", "where"), ToolCall("2", "where")])
        assert isinstance(registry.executor(), ThreadExecutor)
        assert registry.executor().workers == 2
    assert results[0].value == results[1].value


def test_entry_point_is_discovered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLWIRE_PLUGINS", "thread")
    spec = Plugins().executors()["thread"]
    with spec.factory(ExecutorConfig("thread", workers=1)) as executor:
        assert executor.run([job(plus, a=2, b=3)])[0].value == 5


def test_closing_from_a_tool_on_the_loop_is_an_error_not_a_hang() -> None:
    executor = ThreadExecutor(ExecutorConfig("thread", workers=2))

    async def close_me() -> str:
        executor.close()
        return "closed"

    tool = Tool("close_me", "Closes the executor running it.", {"type": "object", "properties": {}}, close_me)
    [outcome] = executor.run([Job("1", tool, {}, time.monotonic() + 10)])
    assert outcome.error is not None
    assert "cannot be closed from a tool running on its own event loop" in outcome.error.message
    executor.close()


def test_an_async_tool_that_ignores_cancellation_times_out_and_does_not_hold_up_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()

    async def stubborn() -> str:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.01)
        return "finally"

    executor = make()
    try:
        started = time.monotonic()
        [outcome] = executor.run([job(stubborn, 0.2)])
        assert outcome.error is not None and outcome.error.kind is ErrorKind.TIMEOUT
        assert time.monotonic() - started < 2.0
        started = time.monotonic()
        with caplog.at_level("WARNING", logger="toolwire.thread"):
            executor.close()
        assert time.monotonic() - started < 3.0
        assert "1 async call(s) ignored their cancellation" in caplog.text
        assert shared_loop().thread.is_alive()
    finally:
        release.set()


def test_a_thread_left_running_past_its_deadline_is_told_so() -> None:
    """Python cannot stop a sync call: its thread is marked abandoned, so that code able to stop early
    (`call_abandoned()`, which a generator function's invoker checks between items) does."""
    told: list[bool] = []

    def runs_on() -> str:
        ends = time.monotonic() + 10
        while not call_abandoned() and time.monotonic() < ends:
            time.sleep(0.01)
        told.append(call_abandoned())
        return "late"

    with make(workers=1) as executor:
        [outcome] = executor.run([job(runs_on, deadline_s=0.3)])
        assert outcome.error is not None and outcome.error.kind == ErrorKind.TIMEOUT
        ends = time.monotonic() + 10
        while not told and time.monotonic() < ends:
            time.sleep(0.01)
        assert told == [True]
        assert [o.value for o in executor.run([job(plus, a=1, b=2)])] == [3]  # its replacement is not abandoned
    assert not call_abandoned()


def test_cancel_stops_a_running_async_call_and_gives_a_sync_one_its_outcome_at_once() -> None:
    started = threading.Event()
    release = threading.Event()

    def blocks() -> str:
        started.set()
        release.wait(10)
        return "late"

    async def waits() -> str:
        await asyncio.sleep(30)
        return "never"

    with ThreadExecutor(ExecutorConfig("thread", workers=2)) as executor:
        jobs = [job(blocks), job(waits), job(lambda: "quick")]
        outcomes: list[Any] = []
        runner = threading.Thread(target=lambda: outcomes.extend(executor.run(jobs)))
        runner.start()
        assert started.wait(10)
        time_before = time.monotonic()
        for cancelled in jobs[:2]:
            cancelled.cancel("the client went away")
        executor.cancel(jobs[:2])
        runner.join(10)
        release.set()
    assert time.monotonic() - time_before < 5
    assert [o.error.kind if o.error else o.value for o in outcomes] == ["cancelled", "cancelled", "quick"]
    assert outcomes[0].error.message == "the client went away"


def test_a_finished_run_is_not_kept_alive_by_the_waiting_threads() -> None:
    class Token:
        pass

    def keep(token: Any) -> int:
        return 1

    token = Token()
    alive = weakref.ref(token)
    executor = make(workers=4)
    try:
        assert [o.value for o in executor.run([job(keep, token=token) for _ in range(50)])] == [1] * 50
        del token
        deadline = time.monotonic() + 5
        while alive() is not None and time.monotonic() < deadline:  # idle threads loop back to the queue
            gc.collect()
            time.sleep(0.01)
        assert alive() is None, "a pool thread holds the finished run's jobs"
    finally:
        executor.close()


def test_cancelling_a_call_whose_plain_function_returned_a_coroutine_cancels_the_coroutine() -> None:
    started, stopped = threading.Event(), threading.Event()

    async def waits() -> str:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopped.set()
            raise
        return "never"

    with ThreadExecutor(ExecutorConfig("thread", workers=2)) as executor:
        jobs = [job(lambda: waits()), job(lambda: "quick")]  # a plain function returning a coroutine
        outcomes: list[Any] = []
        runner = threading.Thread(target=lambda: outcomes.extend(executor.run(jobs)))
        runner.start()
        assert started.wait(10)
        jobs[0].cancel("the client went away")
        executor.cancel(jobs[:1])
        runner.join(10)
        assert stopped.wait(2), "the coroutine ran on after its call was cancelled"
    assert [o.error.kind if o.error else o.value for o in outcomes] == ["cancelled", "quick"]


_request: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")


def read_and_set_request(value: str) -> str:
    seen = _request.get()
    _request.set(value)
    return seen


def test_a_sync_tool_sees_its_callers_context_variables_and_its_own_changes_stay_in_the_batch() -> None:
    """As `asyncio.to_thread`, pydantic-ai and LangChain run sync tools: in a copy of the caller's context (a
    request's id, structlog's bound values). A sync tool ran in its pool thread's own context: it saw nothing the
    caller set, and what one call set was seen by every later call on that thread, in any batch."""
    with ThreadExecutor(ExecutorConfig("thread", workers=1)) as executor:
        _request.set("r1")
        first = executor.run([job(read_and_set_request, value="tool")])
        assert first[0].value == "r1" and _request.get() == "r1"  # the tool's change did not reach the caller
        _request.set("r2")
        second = executor.run([job(read_and_set_request, value="tool")])
        assert second[0].value == "r2"  # nor the next batch on the same thread

        async def from_a_task() -> list[Any]:
            _request.set("r3")
            return await executor.arun([job(read_and_set_request, value="tool")])

        assert asyncio.run(from_a_task())[0].value == "r3"

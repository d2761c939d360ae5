"""The batch pipeline: stages registered once per Plugins, the dispatch scheduler, early results,
cancellation, and how the default backend is chosen and created."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

import pytest
import toolwire_thread.plugin
from toolwire import (
    ConfigError,
    ErrorKind,
    Executor,
    Job,
    Outcome,
    Plugins,
    Tool,
    ToolCall,
    ToolRegistry,
    ToolResult,
    UnknownPluginError,
    call_invoker,
    hookimpl,
    load_config,
)
from toolwire._backends import Backends
from toolwire.batches import Dispatch


def test_two_registries_share_one_plugins(make_tool) -> None:
    plugins = Plugins()
    first = ToolRegistry(executor="thread", plugins=plugins)
    second = ToolRegistry(executor="thread", plugins=plugins)
    first.add(make_tool("add"))
    second.add(make_tool("plus"))
    assert first.execute_tool_calls([ToolCall("1", "add", {"a": 1, "b": 2})])[0].value == 3
    assert second.execute_tool_calls([ToolCall("1", "plus", {"a": 2, "b": 2})])[0].value == 4
    assert first.execute_tool_calls([ToolCall("1", "plus", {"a": 2, "b": 2})])[0].error.kind == "unknown_tool"
    first.close()
    second.close()


def only_thread_plugins() -> Plugins:
    plugins = Plugins(autoload=False)
    plugins.register(toolwire_thread.plugin, name="thread")
    return plugins


def test_with_no_backend_named_the_best_installed_one_is_used_and_said_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, make_tool
) -> None:
    monkeypatch.setattr("toolwire._backends._told", False)
    config = load_config(environ={})
    assert not config.backend_named
    with caplog.at_level(logging.WARNING, logger="toolwire"):
        registry = ToolRegistry(config=config, plugins=only_thread_plugins())
        ToolRegistry(config=config, plugins=only_thread_plugins()).close()
    assert registry.executor().name == "thread"
    registry.add(make_tool())
    assert registry.execute_tool_calls([ToolCall("1", "add", {"a": 1, "b": 2})])[0].value == 3
    told = [r.getMessage() for r in caplog.records if "no backend named" in r.getMessage()]
    assert told == ["no backend named; using 'thread' (the default, 'process', is not installed: pip install "
                    "toolwire-process, or name a backend to silence this)"]
    registry.close()


def test_a_named_backend_that_is_missing_fails_when_the_registry_is_made() -> None:
    with pytest.raises(UnknownPluginError, match="unknown executor 'process'; installed: thread"):
        ToolRegistry(executor="process", plugins=only_thread_plugins())
    config = load_config(environ={"TOOLWIRE_EXECUTOR": "process"})
    with pytest.raises(ConfigError, match=r"environment: 'executor\.backend': unknown executor 'process'"):
        ToolRegistry(config=config, plugins=only_thread_plugins())


def test_an_option_the_backend_refuses_from_the_environment_fails_at_once() -> None:
    config = load_config(environ={"TOOLWIRE_EXECUTOR": "thread", "TOOLWIRE_EXECUTOR_MAX_X": "1"})
    with pytest.raises(ConfigError, match="environment: 'executor': unknown option 'max_x' for the thread"):
        ToolRegistry(config=config)


class Recording(Executor):
    """Runs jobs in the calling thread and records each `run`'s call ids."""

    name = "recording"

    def __init__(self) -> None:
        self.runs: list[list[str]] = []

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        self.runs.append([job.call_id for job in jobs])
        return [call_invoker(job) for job in jobs]


class Shape:
    """A dispatch wrapper that applies whatever a test asks of each dispatch."""

    def __init__(self, shape) -> None:  # type: ignore[no-untyped-def]
        self.shape = shape

    @hookimpl(wrapper=True)
    def toolwire_dispatch(self, dispatch: Dispatch):  # type: ignore[no-untyped-def]
        self.shape(dispatch)
        return (yield)


def registry_with(shape, make_tool) -> tuple[ToolRegistry, Recording]:  # type: ignore[no-untyped-def]
    executor = Recording()
    registry = ToolRegistry(executor=executor)
    registry.plugins.register(Shape(shape), name="shape")
    registry.add(make_tool())
    return registry, executor


def adds(count: int) -> list[ToolCall]:
    return [ToolCall(f"c{i}", "add", {"a": i, "b": 0}) for i in range(count)]


def test_without_constraints_a_dispatch_is_one_executor_run(make_tool) -> None:
    registry, executor = registry_with(lambda dispatch: None, make_tool)
    assert [r.value for r in registry.execute_tool_calls(adds(4))] == [0, 1, 2, 3]
    assert executor.runs == [["c0", "c1", "c2", "c3"]]


def test_jobs_wait_for_the_jobs_they_are_after(make_tool) -> None:
    def shape(dispatch: Dispatch) -> None:
        dispatch.after(0, 2)
        dispatch.after(1, 0)

    registry, executor = registry_with(shape, make_tool)
    assert [r.value for r in registry.execute_tool_calls(adds(4))] == [0, 1, 2, 3]
    assert executor.runs == [["c2", "c3"], ["c0"], ["c1"]]


def test_a_cycle_of_waiting_jobs_fails_those_jobs_only(make_tool) -> None:
    def shape(dispatch: Dispatch) -> None:
        dispatch.after(0, 1)
        dispatch.after(1, 0)

    registry, _ = registry_with(shape, make_tool)
    results = registry.execute_tool_calls(adds(3))
    assert [r.error.kind if r.error else r.value for r in results] == ["cancelled", "cancelled", 2]
    assert "waits for calls that wait for it" in results[0].content


class Slots:
    """A concurrency gate of `size` slots, counting how many were ever held at once."""

    def __init__(self, size: int) -> None:
        self.free = size
        self.lock = threading.Lock()

    def acquire(self) -> bool:
        with self.lock:
            if self.free == 0:
                return False
            self.free -= 1
            return True

    def release(self) -> None:
        with self.lock:
            self.free += 1

    def ready_at(self) -> float | None:
        return None


def test_gated_jobs_run_as_slots_free_up(make_tool) -> None:
    slots = Slots(2)

    def shape(dispatch: Dispatch) -> None:
        for index in range(len(dispatch.jobs)):
            dispatch.gate(index, slots)

    registry, executor = registry_with(shape, make_tool)
    assert [r.value for r in registry.execute_tool_calls(adds(5))] == [0, 1, 2, 3, 4]
    assert executor.runs == [["c0", "c1"], ["c2", "c3"], ["c4"]]
    assert slots.free == 2


def test_gate_and_retry_take_a_sequence_of_indices(make_tool) -> None:
    first, second = Slots(10), Slots(10)
    backoff = lambda n: 0.0  # noqa: E731
    kinds = frozenset({ErrorKind.TRANSPORT})
    shaped: list[Dispatch] = []

    def shape(dispatch: Dispatch) -> None:
        dispatch.gate(range(3), first)  # in one step: none of them has a gate yet
        dispatch.gate([1, 4], second)  # one by one: job 1 has one already
        dispatch.retry(range(2), 3, kinds, backoff)
        dispatch.retry(4, 2, kinds, backoff)
        shaped.append(dispatch)

    registry, executor = registry_with(shape, make_tool)
    assert [r.value for r in registry.execute_tool_calls(adds(5))] == [0, 1, 2, 3, 4]
    [dispatch] = shaped
    assert dispatch.gates == [(first,), (first, second), (first,), (), (second,)]
    assert [spec and spec[0] for spec in dispatch.retries] == [3, 3, None, None, 2]
    assert executor.runs == [["c0", "c1", "c2", "c3", "c4"]] and first.free == second.free == 10


def test_a_job_cancelled_in_a_gated_wave_gives_its_gates_back(make_tool) -> None:
    slots = Slots(3)

    def shape(dispatch: Dispatch) -> None:
        dispatch.gate(range(len(dispatch.jobs)), slots)
        dispatch.jobs[1].cancel("not needed any more")

    registry, executor = registry_with(shape, make_tool)
    results = registry.execute_tool_calls(adds(4))
    assert [r.error.kind if r.error else r.value for r in results] == [0, "cancelled", 2, 3]
    assert executor.runs == [["c0", "c2"], ["c3"]]  # job 1's slot went back at once, not after the wave
    assert slots.free == 3


def test_a_job_that_cannot_get_its_gate_before_its_deadline_times_out(make_tool) -> None:
    never = Slots(0)

    def shape(dispatch: Dispatch) -> None:
        dispatch.gate(0, never)

    registry, _ = registry_with(shape, make_tool)
    started = time.monotonic()
    results = registry.execute_tool_calls(adds(2), timeout=0.3)
    assert time.monotonic() - started < 2.0
    assert results[1].value == 1
    assert results[0].error.kind == "timeout" and "could not start before its deadline" in results[0].content


class Flaky:
    """Fails with a transport error the first `failures` times."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, a: int, b: int) -> int:
        from toolwire import ToolCallError

        self.calls += 1
        if self.calls <= self.failures:
            raise ToolCallError("connection reset", kind=ErrorKind.TRANSPORT)
        return a + b


@pytest.mark.parametrize(("failures", "expected"), [(2, (3, 3)), (5, ("transport", 3))])
def test_retries_run_a_job_again_and_count_the_attempts(failures: int, expected: tuple, make_tool) -> None:
    flaky = Flaky(failures)
    backoffs: list[int] = []

    def shape(dispatch: Dispatch) -> None:
        dispatch.retry(0, 3, frozenset({ErrorKind.TRANSPORT}), lambda n: backoffs.append(n) or 0.01)

    registry, _ = registry_with(shape, make_tool)
    registry.add(make_tool("flaky"), replace=True)
    registry._catalog.tools["flaky"].invoker = flaky
    [result] = registry.execute_tool_calls([ToolCall("1", "flaky", {"a": 1, "b": 2})])
    assert (result.error.kind if result.error else result.value, result.attempts) == expected
    assert backoffs == [1, 2]


class Waiting(Executor):
    """Finishes each job when the test says so, reporting it at once."""

    name = "waiting"

    def __init__(self) -> None:
        self.release: dict[str, threading.Event] = {}

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        outcomes = []
        for job in jobs:
            event = self.release.setdefault(job.call_id, threading.Event())
            while not event.wait(0.01):
                if job.cancelled:
                    break
            outcome = Outcome(error=None, value=job.call_id) if not job.cancelled else Outcome(value="stopped")
            job.report(outcome)
            outcomes.append(outcome)
        return outcomes


async def test_results_are_handed_out_as_each_call_finishes(make_tool) -> None:
    executor = Waiting()
    registry = ToolRegistry(executor=executor)
    registry.add(make_tool("echo"))
    seen: list[str] = []
    batch = registry.batch([ToolCall("a", "echo", {}), ToolCall("b", "echo", {})],
                           on_result=lambda index, result: seen.append(result.call_id))
    running = asyncio.ensure_future(registry.aexecute_batch(batch))
    executor.release.setdefault("a", threading.Event()).set()
    for _ in range(200):
        if seen:
            break
        await asyncio.sleep(0.01)
    assert seen == ["a"] and not running.done()
    executor.release.setdefault("b", threading.Event()).set()
    results = await running
    assert seen == ["a", "b"] and [r.value for r in results] == ["a", "b"]


class SlowListener:
    """A dispatch wrapper whose `on_outcome` listener takes its time over the first job."""

    def __init__(self) -> None:
        self.told: set[int] = set()
        self.told_by_the_end: set[int] = set()

    @hookimpl(wrapper=True, tryfirst=True)
    def toolwire_dispatch(self, dispatch: Dispatch):  # type: ignore[no-untyped-def]
        def listen(index: int, outcome: Outcome) -> None:
            if index == 0:
                time.sleep(0.3)
            self.told.add(index)

        dispatch.on_outcome = listen
        outcomes = yield
        self.told_by_the_end = set(self.told)
        return outcomes


def test_a_dispatch_ends_once_its_listener_has_heard_every_outcome(make_tool) -> None:
    """A backend reports each job from its own thread; wrappers after `yield` see every report heard, so a
    listener and the code after it never both handle one outcome (toolwire-otel ends each span once)."""
    listener = SlowListener()
    with ToolRegistry(executor="thread") as registry:
        registry.plugins.register(listener, "slow-listener")
        registry.add(make_tool())
        results = registry.execute_tool_calls(adds(2))
    assert [r.value for r in results] == [0, 1]
    assert listener.told_by_the_end == {0, 1}


async def test_cancelling_the_awaiting_task_cancels_the_batchs_jobs(make_tool) -> None:
    executor = Waiting()
    registry = ToolRegistry(executor=executor)
    registry.add(make_tool("echo"))
    batch = registry.batch([ToolCall("a", "echo", {})])
    running = asyncio.ensure_future(registry.aexecute_batch(batch))
    await asyncio.sleep(0.05)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert batch.job(0).cancelled == "the call was cancelled"


def test_a_call_cancelled_before_it_starts_does_not_run(make_tool) -> None:
    executor = Recording()
    registry = ToolRegistry(executor=executor)
    registry.add(make_tool())
    batch = registry.batch(adds(2))
    batch.cancel([1], reason="the client went away")
    results = registry.execute_batch(batch)
    assert results[0].value == 0
    assert (results[1].error.kind, results[1].content) == ("cancelled", "the client went away")
    assert executor.runs == [["c0"]]


def test_backends_close_what_they_created(make_tool) -> None:
    backends = Backends(Plugins(), load_config(environ={"TOOLWIRE_EXECUTOR": "thread"}), None)
    backends.create_default()
    executor = backends.get()
    backends.close()
    with pytest.raises(RuntimeError, match="closed"):
        executor.run([Job("1", make_tool(), {"a": 1, "b": 1})])


def test_a_wave_takes_each_gate_once_for_all_its_jobs_and_gives_back_what_it_cannot_use() -> None:
    from toolwire._scheduling import _take
    from toolwire.policies._book import Bucket
    from toolwire.policies._book import Slots as PolicySlots

    slots, tokens = PolicySlots(3), Bucket(2, 1000.0)  # 3 slots free, 2 tokens (a 1000 s refill: no more soon)
    assert _take((slots, tokens), 5) == 2  # two jobs get both; the third slot goes back
    assert slots.held == 2 and tokens.tokens < 1
    assert _take((slots, tokens), 5) == 0 and slots.held == 2  # no token: the slots taken go back too
    legacy = Slots(1)  # acquire/release only: taken one at a time
    assert _take((legacy,), 3) == 1 and legacy.free == 0


class _Later:
    """An awaitable that is not a coroutine: no backend awaits what a plain function returns but coroutines."""

    def __await__(self) -> Any:
        yield from asyncio.sleep(0).__await__()
        return 1


async def _doubled(x: int) -> int:
    return 2 * x


def test_an_awaitable_that_reaches_the_results_is_refused_saying_what_to_do() -> None:
    class Inline(Executor):
        """Calls each invoker directly, as an executor that does not await a returned coroutine."""

        def run(self, jobs: Sequence[Job]) -> list[Outcome]:
            return [Outcome(job.tool.invoker(**job.arguments)) for job in jobs]

    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    registry = ToolRegistry(executor=Inline())
    registry.add(Tool("later", "An awaitable.", schema, lambda x: _Later()))
    registry.add(Tool("doubled", "A coroutine.", schema, lambda x: _doubled(x)))
    registry.add(Tool("inside", "A coroutine in a value.", schema, lambda x: {"then": [x, _doubled(x)]}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a coroutine left unawaited would warn when collected
        later, doubled, inside = registry.execute_tool_calls([
            ToolCall("l", "later", {"x": 1}), ToolCall("d", "doubled", {"x": 2}), ToolCall("i", "inside", {"x": 3})])
        gc.collect()
    for result, kind in ((later, "._Later)"), (doubled, "(builtins.coroutine)"), (inside, "(builtins.coroutine)")):
        assert result.error is not None and result.error.kind == ErrorKind.TOOL_ERROR
        message = result.error.message
        assert "returned an awaitable (" in message and kind in message, message
        assert "did not await" in message and "async def" in message
    assert "at 'then[1]' of its value" in inside.error.message, inside  # not its repr as a successful value
    assert call_invoker(Job("d", registry.get("doubled"), {"x": 2}, None)).value == 4  # the helper awaits it


def test_every_coroutine_of_a_refused_value_is_closed_so_none_warns() -> None:
    """A value is refused for its first lazy part; the coroutines elsewhere in it were left to warn "never awaited"
    when collected."""
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    registry = ToolRegistry(executor="thread")
    registry.add(Tool("two", "Two coroutines.", schema, lambda x: {"a": _doubled(x), "b": [_doubled(x + 1)]}))
    registry.add(Tool("rows", "An iterator, then a coroutine.", schema, lambda x: [iter([x]), {"c": _doubled(x)}]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        two, rows = registry.execute_tool_calls([ToolCall("t", "two", {"x": 1}), ToolCall("r", "rows", {"x": 2})])
        gc.collect()
    assert "awaitable (builtins.coroutine) at 'a' of its value" in two.error.message, two
    assert "iterator (builtins.list_iterator) at '[0]' of its value" in rows.error.message, rows
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []


@pytest.mark.parametrize("cap", [None, 5])
def test_a_float_values_text_is_its_content_however_the_result_is_read(cap: int | None) -> None:
    """A float's text is written when the content is first read (decision 0078): the result compares, copies,
    pickles and prints as one made with its text, and a cap shorter than the text cuts it as before."""
    import dataclasses
    import pickle

    def half(x: float) -> float:
        return x / 2

    with ToolRegistry(executor="thread", max_result_chars=cap) as registry:
        registry.register(half)
        calls = [ToolCall(str(i), "half", {"x": x}) for i, x in enumerate([1.0, 0.0, -7.5, 246.912, 2e-4])]
        results = registry.execute_tool_calls(calls)
    texts = ["0.5", "0.0", "-3.75", "123.456", "0.0001"]
    copies = [pickle.loads(pickle.dumps(results)), [dataclasses.replace(r) for r in results]]
    made = [ToolResult(r.call_id, r.name, r.value, text, False, None, r.duration_s, r.attempts)
            for r, text in zip(results, texts, strict=True)]
    if cap is None:
        assert [r.content for r in results] == texts and results == made
        assert copies == [made, made] and repr(results[0]) == repr(made[0])
    else:
        cut = [text if len(text) <= cap else f"{text[:cap]}\n\n[cut: the result has {len(text)} characters; "
               for text in texts]
        assert [r.content[:len(c)] for r, c in zip(results, cut, strict=True)] == cut
        assert copies == [results, results]

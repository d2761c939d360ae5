"""Worker side: runs one chunk of calls inside a Dask worker and returns the pickled outcomes.

Loaded invokers are kept per worker process (`TOOLS`), keyed by the content key the process backend
uses, so each tool is loaded once per worker. Sync calls run one after another on a runner thread that
the task's thread watches: a call past its deadline is reported `timeout` and left behind (Python cannot
stop a thread; it is marked abandoned, which stops a generator function's reading), and a fresh runner
goes on with the rest; a call that waits (hangs, sleeps, does I/O) gets another runner for the calls after
it, so they do not wait with it. Async calls run on the worker's event loop; a chunk of only async calls
leaves the worker's thread pool (`secede`) while it waits, holding no thread. A chunk that waits on some of its
calls sends the client the records of those that finish as events, before it returns. A chunk whose task the
client cancelled stops: its async calls are cancelled, its runners left behind, marked abandoned.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import pickle
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import ExitStack
from types import CoroutineType
from typing import Any

from toolwire import abandon_thread, set_current_call_id
from toolwire_shipping.records import TIMEOUT, Error, error_record, forward_progress, task_cancelled, unsendable
from toolwire_shipping.unloadable import tolerant_loads
from toolwire_shipping.unpacking import ToolCache

TOOLS = ToolCache()
_LOADING = threading.Lock()

Record = tuple[Any, Error | int | None, float]
"""One call's outcome as it travels back: (value, (kind, message), `PICKLED` or None, duration in seconds)."""


def run_chunk(tools: dict[str, tuple[Any, ...]], calls: bytes) -> bytes:
    """Run a chunk of calls and return their pickled records, in order.

    `calls` is the pickled `(keys, arguments, deadlines, call ids, scopes or None, listened or None)`;
    deadlines are wall-clock (`time.time()`) instants; `listened` names the calls whose progress the client
    listens to, sent back as events on the `PROGRESS_TOPIC`.
    """
    try:
        keys, arguments, deadlines, call_ids, scopes, listened = pickle.loads(calls)
    except Exception as exc:  # arguments naming a class missing here (one of the client's main script)
        keys, arguments, deadlines, call_ids, scopes, listened = tolerant_loads(calls, exc, 1)
    stops = _forward_progress(listened) if listened else ()
    try:
        return _run(tools, keys, arguments, deadlines, call_ids, scopes)
    finally:
        for stop in stops:
            stop()


async def prepare(tools: list[tuple[Any, ...]]) -> None:
    """Load `tools` (their `ShippedTool.fields()`) here and call each invoker's `prepare()`, awaited when async (an
    MCP tool's opens this worker's session), as their first calls would: `DaskExecutor.prepare`, run by
    `Client.run` on the worker's loop. A tool that fails to load or prepare is left for its first call to report."""
    await asyncio.to_thread(_load, tools)
    for fields in tools:
        try:
            prepare = getattr(TOOLS.get(fields[0])[0], "prepare", None)
            if prepare is not None:
                returned = await asyncio.to_thread(prepare)  # an `async def` one only makes its coroutine there
                if type(returned) is CoroutineType:
                    await returned
        except Exception:  # reported by the first call, which meets it again
            continue


def _given(awaitable: Awaitable[Any]) -> Callable[[], Awaitable[Any]]:
    """What makes `awaitable`, as `_awaited` takes it: `awaitable` itself."""
    return lambda: awaitable


def _load(tools: Iterable[tuple[Any, ...]]) -> None:
    for shipped in tools:
        if shipped[0] not in TOOLS:
            with _LOADING:
                if shipped[0] not in TOOLS:
                    TOOLS.load(*shipped)


def hold(fields: tuple[Any, ...]) -> tuple[Any, ...]:
    """A shipped tool's fields, as the result of the task that keeps them on the cluster."""
    return fields


PROGRESS_TOPIC = "toolwire-progress"
"""The Dask event topic progress travels on, as `[call id, progress, total, message]`."""


def _forward_progress(call_ids: list[str]) -> list[Any]:
    """Send the client, as events through the scheduler, the progress these calls report; what stops it."""
    from distributed import get_worker

    worker = get_worker()  # here, in the task's thread: the runner threads are not the worker's
    return forward_progress(call_ids, lambda record: worker.log_event(PROGRESS_TOPIC, list(record)))


def _run(tools: dict[str, tuple[Any, ...]], keys: list[str], arguments: list[Any], deadlines: list[float | None],
         call_ids: list[str], scopes: list[Any] | None) -> bytes:
    _load(tools.values())
    offset = time.monotonic() - time.time()
    local = [None if d is None else d + offset for d in deadlines]
    records: list[Record | None] = [None] * len(keys)
    sync_calls: list[tuple[int, Any]] = []
    async_calls: list[tuple[int, Any]] = []
    for position, key in enumerate(keys):
        if type(arguments[position]) is str:  # the reason its arguments could not be loaded here
            records[position] = (None, ("tool_error", arguments[position]), 0.0)
            continue
        try:
            invoker, is_async = TOOLS.get(key)
        except Exception as exc:
            records[position] = (None, error_record(exc), 0.0)
            continue
        if scopes is not None and scopes[position]:
            invoker = _within(invoker, scopes[position], is_async)
        (async_calls if is_async else sync_calls).append((position, invoker))
    cancelled, early = _this_task(records)
    pending_async = None
    if async_calls:
        coroutine = _run_async(async_calls, arguments, local, call_ids, records)
        pending_async = asyncio.run_coroutine_threadsafe(coroutine, _worker_loop())
    if sync_calls:
        _SyncRunner(sync_calls, arguments, local, call_ids, records, cancelled, early, _worker_loop()).run()
    if pending_async is not None:
        if not sync_calls:
            from distributed import secede

            secede()  # awaiting the event loop needs no thread: let the worker run another task meanwhile
        while not _finished(pending_async, STALL_S):
            if cancelled():
                pending_async.cancel()  # the client dropped this chunk: its async calls are cancelled
                break
            early.send()  # the chunk has waited STALL_S: what finished goes to the client now
    return _dump(records)


def _finished(future: concurrent.futures.Future[Any], timeout: float) -> bool:
    """Whether `future` finished within `timeout` seconds (raising what it raised)."""
    try:
        future.result(timeout)
    except concurrent.futures.TimeoutError:
        return False
    return True


RESULTS_TOPIC = "toolwire-results"
"""The Dask event topic that brings the client, as `[chunk key, [[position, pickled record], ...]]`, the records
of a chunk that waits on some of its calls, before the chunk returns."""
EARLY_MAX_BYTES = 16_384
"""A record larger than this, pickled, waits for its chunk's return (the scheduler keeps recent events)."""


def _this_task(records: list[Record | None]) -> tuple[Callable[[], bool], _Early]:
    """For the task this thread runs: whether the client has cancelled it (Dask does not stop a running task:
    it marks it cancelled and drops its result), and the sender of its `records` that finish early."""
    from distributed import get_worker

    worker = get_worker()
    key = worker.get_current_task()

    def cancelled() -> bool:
        task = worker.state.tasks.get(key)
        return task is None or task.state == "cancelled"

    return cancelled, _Early(records, lambda items: worker.log_event(RESULTS_TOPIC, [key, items]))


class _Early:
    """Sends the records of a chunk that has waited `STALL_S` on some of its calls, each once, as they come:
    the calls that finished do not wait for the chunk's slowest to reach the client."""

    def __init__(self, records: list[Record | None], send: Callable[[list[list[Any]]], None]) -> None:
        self.records = records
        self._send = send
        self.sent: set[int] = set()

    def send(self) -> None:
        """Send the records that finished since the last time (one too large waits for the chunk's return)."""
        items = []
        for position, record in enumerate(self.records):
            if record is not None and position not in self.sent:
                self.sent.add(position)
                blob = pickle.dumps(_sendable(record), pickle.HIGHEST_PROTOCOL)
                if len(blob) <= EARLY_MAX_BYTES:
                    items.append([position, blob])
        if items:
            self._send(items)


def _within(invoker: Any, scopes: Sequence[Any], is_async: bool) -> Any:
    """`invoker`, called inside the call's scopes."""
    if is_async:
        async def scoped_async(**arguments: Any) -> Any:
            with ExitStack() as stack:
                for scope in scopes:
                    stack.enter_context(scope)
                return await invoker(**arguments)

        return scoped_async

    def scoped(**arguments: Any) -> Any:
        with ExitStack() as stack:
            for scope in scopes:
                stack.enter_context(scope)
            return invoker(**arguments)

    return scoped


def _worker_loop() -> asyncio.AbstractEventLoop:
    from distributed import get_worker

    return get_worker().loop.asyncio_loop  # type: ignore[attr-defined]  # tornado's AsyncIOLoop


async def _run_async(calls: list[tuple[int, Any]], arguments: Sequence[dict[str, Any]],
                     deadlines: list[float | None], call_ids: Sequence[str], records: list[Record | None]) -> None:
    async def one(position: int, invoker: Any) -> None:
        records[position] = await _awaited(lambda: invoker(**arguments[position]), deadlines[position],
                                           call_ids[position])

    await asyncio.gather(*(one(position, invoker) for position, invoker in calls))


async def _awaited(call: Callable[[], Awaitable[Any]], deadline: float | None, call_id: str) -> Record:
    """The record of awaiting what `call` returns, cancelled at `deadline`."""
    set_current_call_id(call_id)  # this task's own context
    started = time.monotonic()
    when = None if deadline is None else asyncio.get_running_loop().time() + (deadline - started)
    try:
        async with asyncio.timeout_at(when):
            value = await call()
    except TimeoutError as exc:
        past = deadline is not None and time.monotonic() >= deadline
        return (None, TIMEOUT if past else error_record(exc), time.monotonic() - started)
    except asyncio.CancelledError as exc:
        if task_cancelled():
            raise
        return (None, error_record(exc), time.monotonic() - started)
    except BaseException as exc:  # SystemExit, KeyboardInterrupt and the like: this call's error alone
        return (None, error_record(exc), time.monotonic() - started)
    return (value, None, time.monotonic() - started)


STALL_S = 0.1
"""How long a chunk's sync calls may go without one starting before the watcher considers another runner;
also how often it looks whether the client cancelled the chunk."""
MAX_RUNNERS = 32
"""At most this many runner threads work on one chunk at a time (a timed-out call's thread not counted)."""


class _Runner:
    """One runner thread and the call it runs (`position`, None between calls)."""

    __slots__ = ("abandoned", "position", "started", "thread")

    def __init__(self) -> None:
        self.position: int | None = None
        self.started = 0.0
        self.abandoned = False
        self.thread: threading.Thread


class _SyncRunner:
    """Sync calls in order on runner threads, watched by the calling thread for deadlines.

    One runner takes the calls one after another. When no call has started for `STALL_S` while the worker's
    process used less than half a CPU (the runners wait: a call that hangs, sleeps or does I/O), another runner
    takes the calls after theirs, up to `MAX_RUNNERS`: a call's chunk-mates do not wait for it, as on the
    process backend's free workers (decision 0061). A call that spins the CPU still holds up the calls after it.
    From the first such stall on, `early` sends what finished to the client every `STALL_S`. Once `cancelled()`,
    the runners are left behind, told so, and start no other call.
    """

    def __init__(self, calls: list[tuple[int, Any]], arguments: Sequence[dict[str, Any]],
                 deadlines: list[float | None], call_ids: Sequence[str], records: list[Record | None],
                 cancelled: Callable[[], bool], early: _Early, loop: asyncio.AbstractEventLoop) -> None:
        self.cancelled = cancelled
        self.loop = loop
        """The worker's loop, where a coroutine a sync call returns is awaited (runner threads cannot look it up)."""
        self.early = early
        self.calls = calls
        self.arguments = arguments
        self.deadlines = deadlines
        self.call_ids = call_ids
        self.records = records
        self.lock = threading.Lock()
        self.next = 0  # the next call to start
        self.finished = 0
        self.runners: list[_Runner] = []
        self.done = threading.Event()

    def run(self) -> None:
        count = len(self.calls)
        with self.lock:
            self._start()
        seen, since, cpu = 0, time.monotonic(), time.process_time()
        stalled = False
        while True:
            with self.lock:
                now = time.monotonic()
                for runner in [r for r in self.runners if r.position is not None]:
                    deadline = self.deadlines[runner.position]  # type: ignore[index]
                    if deadline is not None and now >= deadline:
                        self._time_out(runner, now)
                if self.finished == count:
                    return
                if self.cancelled():
                    self._leave()
                    return
                if self.next != seen:
                    seen, since, cpu = self.next, now, time.process_time()
                elif now - since >= STALL_S:
                    stalled = True
                    if self.next < count and time.process_time() - cpu < (now - since) / 2 \
                            and len(self.runners) < MAX_RUNNERS:
                        self._start()
                    since, cpu = now, time.process_time()
                running = [d for r in self.runners if r.position is not None
                           and (d := self.deadlines[r.position]) is not None]
            if stalled:
                self.early.send()  # what finished before the stall, and since, goes to the client now
            self.done.wait(max(0.0, min([*running, now + STALL_S]) - now))

    def _time_out(self, runner: _Runner, now: float) -> None:
        """Report `runner`'s call as timed out and leave its thread behind, told so (it may stop); another
        runner takes its place if calls remain."""
        self._finish(runner.position, (None, TIMEOUT, now - runner.started))  # type: ignore[arg-type]
        runner.abandoned = True
        self.runners.remove(runner)
        abandon_thread(runner.thread)
        if self.next < len(self.calls):
            self._start()

    def _leave(self) -> None:
        """Leave every runner behind, told so: the client no longer wants this chunk's results."""
        self.next = len(self.calls)
        for runner in self.runners:
            runner.abandoned = True
            abandon_thread(runner.thread)

    def _finish(self, position: int, record: Record) -> None:
        self.records[position] = record
        self.finished += 1
        if self.finished == len(self.calls):
            self.done.set()

    def _start(self) -> None:
        runner = _Runner()
        runner.thread = threading.Thread(target=self._serve, args=(runner,), daemon=True, name="toolwire-dask-call")
        self.runners.append(runner)
        runner.thread.start()

    def _serve(self, runner: _Runner) -> None:
        calls, arguments, deadlines, call_ids = self.calls, self.arguments, self.deadlines, self.call_ids
        lock, count, monotonic = self.lock, len(calls), time.monotonic
        while True:
            with lock:
                index = self.next
                if index >= count:
                    runner.position = None
                    return
                self.next = index + 1
                position, invoker = calls[index]
                runner.position = position
                runner.started = started = monotonic()
            deadline = deadlines[position]
            if deadline is not None and started >= deadline:
                record: Record = (None, TIMEOUT, 0.0)
            else:
                set_current_call_id(call_ids[position])
                try:
                    record = (invoker(**arguments[position]), None, monotonic() - started)
                except BaseException as exc:  # SystemExit, KeyboardInterrupt and the like: this call's error alone
                    record = (None, error_record(exc), monotonic() - started)
                if type(record[0]) is CoroutineType:  # from a plain `def` (a sync decorator on an async function)
                    record = asyncio.run_coroutine_threadsafe(
                        _awaited(_given(record[0]), deadline, call_ids[position]),
                        self.loop).result()
            with lock:
                if runner.abandoned:
                    return  # this call was reported as timed out and left behind
                runner.position = None
                self.records[position] = record  # `_finish`, inlined: this runs once a call
                self.finished += 1
                if self.finished == count:
                    self.done.set()


PICKLED = 0
"""A record's error when its value is pickled on its own (bytes), to be loaded alone where the results are read."""
_PLAIN = (type(None), bool, int, float, str)


def _dump(records: list[Record | None]) -> bytes:
    """The records, pickled; each value that is not a plain scalar pickled on its own first, so that one the
    client cannot rebuild fails its own call there, and one that cannot be pickled here fails its own call now."""
    return pickle.dumps([record if record is None else _sendable(record) for record in records],
                        pickle.HIGHEST_PROTOCOL)


def _sendable(record: Record) -> Record:
    """`record` as it travels: a value that is not a plain scalar pickled on its own (`_pickled`)."""
    return record if type(record[0]) in _PLAIN else _pickled(record)


def _pickled(record: Record) -> Record:
    value, _, duration = record
    try:
        return (pickle.dumps(value, pickle.HIGHEST_PROTOCOL), PICKLED, duration)
    except BaseException as exc:  # a value's __reduce__ may raise anything, SystemExit too: this call's error alone
        return (None, unsendable(value, exc, "the Dask worker"), duration)

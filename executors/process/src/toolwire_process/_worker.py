"""The worker process: reads chunks of calls from its parent, runs them, logs each result.

Started as `python -c <bootstrap>` (see `_process.py`), never through `multiprocessing`, so the
parent's `__main__` is never imported here. Sync tools run in the main thread; async tools run on
toolwire's shared background loop, where MCP sessions live so MCP calls await them directly (without
toolwire, on an event loop kept for the worker's life). To start fast it imports only a few standard
modules: toolwire, dill, asyncio and the tools' own modules load when a tool needs them. Messages to the
parent are marshalled.
"""

from __future__ import annotations

import marshal
import mmap
import os
import sys
import time
from _pickle import loads  # C pickle: no `pickle.py` (re, functools) in workers
from _thread import allocate_lock, start_new_thread  # not `threading` (functools...): workers start sooner

from toolwire_shipping.records import TIMEOUT, Progress, error_record, forward_progress, task_cancelled
from toolwire_shipping.unpacking import ToolCache

from toolwire_process import _log
from toolwire_process._wire import Pipe

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from collections.abc import Coroutine
    from typing import Any

    Call = tuple[Any, ...]
    """An async call as `run_async` takes it after the chunk: position, key, arguments, deadline, call id, scopes,
    and the coroutine a sync call returned, if any."""


MEMORY_EXIT = 75
"""The exit status of a worker that stopped after a call passed its memory limit."""
READY = marshal.dumps(("ready",))
"""The worker's first message, once started (and its `preload` modules imported)."""


async def _probe() -> None:
    return None


_probed = _probe()
_COROUTINE = type(_probed)
"""`types.CoroutineType`, made as `types` makes it (importing `types` costs a worker's start ~0.4 ms)."""
_probed.close()


class Worker:
    """One worker's state: its pipe, its log, its tools and its event loop."""

    def __init__(self, conn: Pipe, memory: mmap.mmap, memory_bytes: int | None = None,
                 cpu_seconds: float | None = None) -> None:
        self.conn = conn
        self.cpu_seconds = cpu_seconds
        self.memory_bytes = memory_bytes
        self.log = _log.WorkerLog(memory)
        self.tools = ToolCache()
        self._sending = allocate_lock()  # progress may come from any thread a tool runs or starts
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shared: asyncio.AbstractEventLoop | None = None

    def wait(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` on the shared background loop, or on the worker's own loop when toolwire is missing."""
        import asyncio

        if self._shared is None and self._loop is None:
            try:
                from toolwire.loop import shared_loop
            except ImportError:
                self._loop = asyncio.new_event_loop()
                asyncio.set_event_loop(self._loop)
            else:
                self._shared = shared_loop().loop
        if self._shared is not None:
            asyncio.run_coroutine_threadsafe(coro, self._shared).result()
        else:
            assert self._loop is not None
            self._loop.run_until_complete(coro)

    def serve(self) -> None:
        """Run chunks until the parent closes the pipe."""
        try:
            while True:
                try:
                    message = self.conn.recv()
                except (EOFError, OSError):
                    return
                try:
                    chunk, shipped, keys, arguments, deadlines, call_ids, scopes, listened, mark = loads(message)
                except Exception as exc:  # arguments naming a class missing here: those calls fail alone
                    from toolwire_shipping.unloadable import tolerant_loads

                    chunk, shipped, keys, arguments, deadlines, call_ids, scopes, listened, mark = tolerant_loads(
                        message, exc, 3)
                for fields in shipped:
                    self.tools.load(*fields)
                if not keys:  # tools alone (`ProcessExecutor.prepare`): made ready as their first calls would
                    self.prepare([fields[0] for fields in shipped])
                stops = forward_progress(listened, self.send_progress) if listened else ()
                started = time.monotonic()
                try:
                    self.run_chunk(chunk, keys, arguments, deadlines, call_ids, scopes, mark)
                finally:
                    for stop in stops:
                        stop()
                busy = time.monotonic() - started
                self.send(marshal.dumps(("done", chunk, _resident_bytes(), busy, self.log.count)))
        finally:
            if self._loop is not None:
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
                self._loop.close()

    def prepare(self, keys: list[str]) -> None:
        """Call `prepare()` on the invokers of `keys` that have one (an MCP tool's opens its session); a tool that
        fails to load or prepare is left for its first call to report."""
        for key in keys:
            try:
                prepare = getattr(self.tools.get(key)[0], "prepare", None)
                if prepare is not None:
                    returned = prepare()
                    if type(returned) is _COROUTINE:
                        self.wait(returned)
            except Exception:  # reported by the first call, which meets it again
                continue

    def run_chunk(self, chunk: int, keys: list[str], arguments: list[dict[str, Any] | str],
                  deadlines: list[float | None], call_ids: list[str], scopes: list[tuple[Any, ...]] | None = None,
                  mark: int | None = None) -> None:
        """Run a chunk's calls in order, writing each one's record; `mark` is the parent's `ParentLog.mark()` when
        it sent the chunk (default: read now)."""
        log = self.log
        log.begin(chunk)
        lookup = self.tools.get
        monotonic = time.monotonic
        encode = _log.encode
        count = len(keys)
        position = 0
        memory, flags = log.memory, _log.CANCELS
        seen = memory[flags] if mark is None else mark  # the low byte of the parent's count of cancels
        while position < count:
            log.started(position + 1)  # before the flag is read (see `ParentLog.running`)
            if memory[flags] != seen and (skipped := log.skipped(chunk, position)) is not None:  # cancelled, taken
                self.record(chunk, encode(position, 0.0, None, skipped))
                position += 1
                continue
            given = arguments[position]
            if isinstance(given, str):  # arguments it could not load (toolwire_shipping.unloadable): the message
                self.record(chunk, encode(position, 0.0, None, ("tool_error", given)))
                position += 1
                continue
            try:
                invoker, is_async = lookup(keys[position])
            except Exception as exc:
                self.record(chunk, encode(position, 0.0, None, ("tool_error", str(exc))))
                position += 1
                continue
            if is_async:
                group = [position]
                while (group[-1] + 1 < count and type(arguments[group[-1] + 1]) is dict
                       and self._is_async(keys[group[-1] + 1])):
                    log.started(group[-1] + 2)  # before its flag is read, as for the first
                    if memory[flags] != seen and log.skipped(chunk, group[-1] + 1) is not None:
                        break  # skipped as the next position
                    group.append(group[-1] + 1)
                self.wait(self.run_group(
                    [(p, keys[p], arguments[p], deadlines[p], call_ids[p], scopes[p] if scopes else ())
                     for p in group], chunk))
                position = group[-1] + 1
                continue
            started = monotonic()
            _set_call_id(call_ids[position])
            error: tuple[Any, ...] | None = None
            try:
                if self.cpu_seconds is not None or (scopes is not None and scopes[position]):
                    value = self.guarded(invoker, given, scopes[position] if scopes else ())
                else:
                    value = invoker(**given)
            except MemoryError:  # past the memory limit: this call's error, then a fresh worker takes over
                self.record(chunk, encode(position, monotonic() - started, None, self.out_of_memory()))
                os._exit(MEMORY_EXIT)
            except _CpuTimeExceeded:
                value, error = None, ("resource_exhausted", f"the call used more than its {self.cpu_seconds:g} s "
                                      "of CPU time (cpu_time_limit) and was stopped; make it do less work, or "
                                      "raise the process backend's cpu_time_limit")
            except BaseException as exc:  # SystemExit, KeyboardInterrupt and the like: this call's error alone
                value, error = None, error_record(exc)
            if type(value) is _COROUTINE:  # from a plain `def` (a sync decorator on an async function): awaited
                self.wait(self.run_group([(position, keys[position], arguments[position], deadlines[position],
                                           call_ids[position], scopes[position] if scopes else (), value)], chunk))
            else:
                self.record(chunk, encode(position, monotonic() - started, value, error))
            position += 1

    def guarded(self, invoker: Any, arguments: dict[str, Any], scopes: tuple[Any, ...]) -> Any:
        """Call `invoker` inside the call's scopes and under the CPU-time limit."""
        if self.cpu_seconds is not None:
            import math
            import resource

            hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
            soft = math.ceil(time.process_time() + self.cpu_seconds)
            resource.setrlimit(resource.RLIMIT_CPU, (soft if hard < 0 else min(soft, hard), hard))
        if not scopes:
            return invoker(**arguments)
        from contextlib import ExitStack

        with ExitStack() as stack:
            for scope in scopes:
                stack.enter_context(scope)
            return invoker(**arguments)

    def out_of_memory(self) -> tuple[str, str]:
        if self.memory_bytes is None:
            return ("resource_exhausted", "the call ran out of memory; the worker was replaced")
        limit = _size(self.memory_bytes)
        return ("resource_exhausted", f"the call needed more memory than its worker may use ({limit}, memory_limit); "
                                      "the worker was replaced. Make the call need less memory, or raise the process "
                                      "backend's memory_limit")

    def _is_async(self, key: str) -> bool:
        try:
            return self.tools.get(key)[1]
        except Exception:
            return False

    async def run_group(self, calls: list[Call], chunk: int) -> None:
        """Run async calls together; one timer per deadline cancels those still running then."""
        import asyncio

        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(self.run_async(chunk, *call)) for call in calls]
        watch = loop.call_later(_CANCEL_POLL_S, self._watch_cancels, chunk, calls, tasks, self.log.cancels())
        by_deadline: dict[float, list[asyncio.Task[None]]] = {}
        for call, task in zip(calls, tasks, strict=True):
            if call[3] is not None:
                by_deadline.setdefault(call[3], []).append(task)
        now = time.monotonic()
        timers = [loop.call_at(loop.time() + max(0.0, deadline - now), _cancel_all, group)
                  for deadline, group in by_deadline.items()]
        try:
            await asyncio.gather(*tasks)
        finally:
            watch.cancel()
            for timer in timers:
                timer.cancel()

    def _watch_cancels(self, chunk: int, calls: list[Any], tasks: list[asyncio.Task[None]], seen: int) -> None:
        """Every `_CANCEL_POLL_S` while a group runs: cancel the tasks of the calls the parent cancelled."""
        import asyncio

        cancels = self.log.cancels()
        if cancels != seen:
            for call, task in zip(calls, tasks, strict=True):
                if not task.done() and self.log.cancelled(chunk, call[0]):
                    task.cancel()
        if not all(task.done() for task in tasks):
            asyncio.get_running_loop().call_later(_CANCEL_POLL_S, self._watch_cancels, chunk, calls, tasks, cancels)

    async def run_async(self, chunk: int, position: int, key: str, arguments: dict[str, Any],
                        deadline: float | None, call_id: str, scopes: tuple[Any, ...],
                        returned: Coroutine[Any, Any, Any] | None = None) -> None:
        """Run an async call (or await the coroutine a sync one `returned`) and write its record."""
        import asyncio
        from contextlib import ExitStack

        invoker, _ = self.tools.get(key)
        _set_call_id(call_id)  # this task's own context
        started = time.monotonic()
        try:
            with ExitStack() as stack:
                for scope in scopes:
                    stack.enter_context(scope)
                value = await (invoker(**arguments) if returned is None else returned)
            error = None
        except asyncio.CancelledError as exc:
            if not task_cancelled():  # the tool's own
                value, error = None, error_record(exc)
            elif self.log.cancelled(chunk, position):  # by the parent, for this call alone
                value, error = None, _log.CANCELLED
            elif deadline is None or time.monotonic() < deadline:
                raise
            else:
                value, error = None, TIMEOUT
        except BaseException as exc:  # SystemExit, KeyboardInterrupt and the like: this call's error alone
            value, error = None, error_record(exc)
        self.record(chunk, _log.encode(position, time.monotonic() - started, value, error))

    def record(self, chunk: int, record: bytes) -> None:
        if not self.log.append(record):
            self.send(marshal.dumps(("result", chunk, record)))

    def send(self, message: bytes) -> None:
        with self._sending:
            self.conn.send(message)

    def send_progress(self, record: Progress) -> None:
        """Send the parent a call's progress report (from whichever thread the tool reports it)."""
        try:
            self.send(marshal.dumps(("progress", *record)))
        except OSError:  # the parent is gone: not the tool's error (no `contextlib` in workers: they start faster)
            return


_CANCEL_POLL_S = 0.01
"""How often a worker running async calls looks for calls the parent cancelled."""


def _set_call_id(call_id: str) -> None:
    """Tell `toolwire.current_call_id()` which call runs, once a tool has loaded toolwire."""
    executing = sys.modules.get("toolwire.executing")
    if executing is not None:
        executing.set_current_call_id(call_id)


def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class _CpuTimeExceeded(BaseException):
    """Raised in the worker's main thread when a sync call passes its CPU-time limit (not an `Exception`, so
    a tool's `except Exception` does not swallow it)."""


def _cpu_time_exceeded(signum: int, frame: Any) -> None:
    raise _CpuTimeExceeded


def _apply_limits(memory_bytes: int | None, cpu_seconds: float | None) -> None:
    import resource
    import signal

    if memory_bytes is not None:
        kind = resource.RLIMIT_DATA if sys.platform.startswith("linux") else resource.RLIMIT_AS
        hard = resource.getrlimit(kind)[1]
        limit = memory_bytes if hard < 0 else min(memory_bytes, hard)
        resource.setrlimit(kind, (limit, limit))
    if cpu_seconds is not None:
        signal.signal(signal.SIGXCPU, _cpu_time_exceeded)


def _size(count: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count} bytes"


def _exit_with_parent(parent: int) -> None:
    """Leave when the parent is gone, even while a tool hangs (the pipe's EOF is not read then), with the
    processes the tools started, as when the parent stops a worker."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            from _signal import SIGKILL  # type: ignore[import-not-found]  # not `signal` (enum...), no stubs

            from toolwire_process._process import descendants, stop_all

            stop_all(descendants(os.getpid()))  # those in a session of their own are not in the group
            os.killpg(0, SIGKILL)


def main(conn_fd: int, log_fd: int, parent: int, preload: list[str], memory_bytes: int | None = None,
         cpu_seconds: float | None = None) -> None:
    """The worker's entry point (called by the bootstrap with inherited file descriptors and its limits)."""
    start_new_thread(_exit_with_parent, (parent,))  # never joined: like a daemon thread
    if memory_bytes is not None or cpu_seconds is not None:
        _apply_limits(memory_bytes, cpu_seconds)
    memory = mmap.mmap(log_fd, _log.SIZE)
    os.close(log_fd)
    conn = Pipe(conn_fd)
    for module in preload:
        try:
            __import__(module)
        except Exception as exc:
            print(f"toolwire-process: cannot preload {module!r}: {type(exc).__name__}: {exc}", file=sys.stderr)
    try:
        conn.send(READY)
        Worker(conn, memory, memory_bytes, cpu_seconds).serve()
    except ConnectionError:  # the parent closed the pipe first (closed early, or gone): nobody waits for this
        pass

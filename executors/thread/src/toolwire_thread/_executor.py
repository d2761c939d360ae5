"""`ThreadExecutor`: sync tools on a bounded thread pool, async tools on the process's shared event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence

from toolwire import Executor, ExecutorConfig, Job, Outcome, check_options

from toolwire_thread._loop import LoopTasks
from toolwire_thread._pool import ThreadPool
from toolwire_thread._run import Run

__all__ = ["ThreadExecutor"]

log = logging.getLogger("toolwire.thread")

OPTIONS = {"thread_name_prefix": str}
"""The backend-specific options `ExecutorConfig.options` may hold, and their types."""
CLOSE_WAIT_S = 1.0
"""How long `close` waits for its cancelled async calls to end before leaving them running."""


DEFAULT_WORKERS = 32
"""Threads for sync tools when `workers` is not set (decision 0037)."""


class ThreadExecutor(Executor):
    """Runs jobs on threads of this process; runs from several threads at once share them.

    Sync tools run on a pool of at most `config.workers` threads (default 32, started as batches need
    them); async tools run as tasks on the process's shared event loop (`toolwire.loop`). Every
    job is reported at its deadline at the latest: a job still running then is a `timeout`, and its late
    result is dropped. A sync call cannot be killed: its thread is replaced in the pool and finishes in
    the background.

    Option (`ExecutorConfig.options`): `thread_name_prefix` (default `"toolwire-thread"`).
    """

    name = "thread"

    def __init__(self, config: ExecutorConfig | None = None) -> None:
        config = config if config is not None else ExecutorConfig(backend="thread")
        check_options("thread", config.options, OPTIONS)
        workers = config.workers if config.workers is not None else DEFAULT_WORKERS
        if workers < 1:
            raise ValueError(f"the thread executor needs at least one worker, got workers={workers}")
        self.config = config
        self.workers = workers
        self._prefix: str = config.options.get("thread_name_prefix", "toolwire-thread")
        self._lock = threading.Lock()
        self._pool: ThreadPool | None = None
        self._loop: LoopTasks | None = None
        self._runs: set[Run] = set()
        self._closed = False

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Run `jobs`; one outcome per job, in order, returned by the latest deadline."""
        if not jobs:
            return []
        finished = threading.Event()
        run = Run(jobs, finished.set)
        self._dispatch(run)
        try:
            while not run.done and not finished.wait(run.wait_time()):
                self._expire(run)
        except BaseException:
            self._cancel(run)
            raise
        finally:
            self._runs.discard(run)
        return run.outcomes.result()

    async def arun(self, jobs: Sequence[Job]) -> list[Outcome]:
        """`run` for async callers: waits on the caller's loop without blocking it."""
        if not jobs:
            return []
        caller = asyncio.get_running_loop()
        finished = caller.create_future()

        def notify() -> None:
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits any more
                caller.call_soon_threadsafe(_resolve, finished)

        run = Run(jobs, notify)
        self._dispatch(run)
        try:
            while not run.done:
                await asyncio.wait((finished,), timeout=run.wait_time())
                if not run.done:
                    self._expire(run)
        except BaseException:
            self._cancel(run)
            raise
        finally:
            self._runs.discard(run)
        return run.outcomes.result()

    def cancel(self, jobs: Sequence[Job]) -> None:
        """Give these jobs a `cancelled` outcome now: an async one's task is cancelled; a sync one's thread
        cannot be stopped, so it is replaced in the pool and its late finish dropped."""
        wanted = {id(job) for job in jobs}
        for run in list(self._runs):
            indices = [index for index, job in enumerate(run.jobs) if id(job) in wanted]
            if indices:
                stuck = run.cancel(indices)
                if self._loop is not None:
                    self._loop.cancel(run, indices)
                if stuck and self._pool is not None:
                    self._pool.replace(run, stuck)

    def warm(self) -> None:
        """Start every pool thread and the shared event loop now."""
        self._get_pool().start(self.workers)
        self._get_loop()

    def close(self) -> None:
        """Cancel this executor's async tasks and stop the pool; abandoned threads finish on their own.

        A task that ignores its cancellation for `CLOSE_WAIT_S` seconds is left running on the loop.

        The shared event loop keeps running for other executors and for MCP sessions.
        """
        with self._lock:
            if self._closed:
                return
            if self._loop is not None:
                self._loop.refuse_own_thread()
            self._closed = True
            pool, loop = self._pool, self._loop
        if loop is not None:
            left = loop.close(CLOSE_WAIT_S)
            if left:
                log.warning("%d async call(s) ignored their cancellation for %gs; they were left running on the "
                            "shared event loop", left, CLOSE_WAIT_S)
        if pool is not None:
            pool.close()

    def _dispatch(self, run: Run) -> None:
        self._runs.add(run)
        jobs = run.jobs
        if any([tool.is_async for tool in {job.tool for job in jobs}]):
            sync: Sequence[int] = [index for index, job in enumerate(jobs) if not job.tool.is_async]
            sync_set = set(sync)
            self._get_loop().start(run, [i for i in range(len(jobs)) if i not in sync_set])
        else:
            sync = range(len(jobs))  # the common case: no async tool (by tool, not by job)
        if sync:
            run.sync_indices = iter(sync)
            self._get_pool().submit(run, len(sync))

    def _expire(self, run: Run) -> None:
        stuck = run.expire()
        if stuck and self._pool is not None:
            log.warning("%d sync call(s) ran past their deadline; their threads were replaced and left to "
                        "finish in the background", len(stuck))
            self._pool.replace(run, stuck)

    def _cancel(self, run: Run) -> None:
        stuck = run.cancel()
        if self._loop is not None:  # queued after the run's start, so its tasks exist by then
            self._loop.cancel(run)
        if stuck and self._pool is not None:
            self._pool.replace(run, stuck)

    def _get_pool(self) -> ThreadPool:
        with self._lock:
            self._check_open()
            if self._pool is None:
                self._pool = ThreadPool(self.workers, self._prefix)
            return self._pool

    def _get_loop(self) -> LoopTasks:
        with self._lock:
            self._check_open()
            if self._loop is None:
                self._loop = LoopTasks()
            return self._loop

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the thread executor is closed")


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)

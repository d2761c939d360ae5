"""`ProcessExecutor`: warm worker processes, tools shipped once, calls sent in chunks.

Runs from several threads share the workers (`_pool`): a run (`_run`) claims an idle worker when it has calls to
send and keeps it only while it does, so a call that hangs ties up its own worker, not the pool.
"""

from __future__ import annotations

import atexit
import marshal
import os
import select
import sys
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from toolwire.executing import Executor, ExecutorConfig, Job, Outcome, check_options
from toolwire.tools import Tool
from toolwire_shipping.packing import ShippedTool

from toolwire_process._limits import Limits
from toolwire_process._pool import Pool
from toolwire_process._process import Chunk, WorkerProcess
from toolwire_process._run import Run

__all__ = ["ProcessExecutor"]

OPTIONS: Mapping[str, type | tuple[type, ...]] = {
    "max_calls_per_worker": int, "max_memory_mb": int, "preload": (str, list, tuple),
    "memory_limit": (str, int), "cpu_time_limit": (int, float), "prepare": bool,
}
READY_TIMEOUT_S = 60.0
PREPARE_TIMEOUT_S = 30.0
"""How long `prepare` waits for the workers to load and prepare the tools (an MCP session's own connect timeout)."""
MAX_WORKERS = 1024
"""The most worker processes one executor starts (all of them at its first batch); more is a typo, or a cluster."""

_live: weakref.WeakSet[ProcessExecutor] = weakref.WeakSet()


class ProcessExecutor(Executor):
    """Runs jobs on warm worker processes (default: one per CPU), shared by every run in flight.

    Options: `max_calls_per_worker` and `max_memory_mb` recycle a worker after that many calls or once
    its resident memory passes the limit; `preload` names modules every worker imports when it starts
    (heavy tool modules), so `warm()` leaves workers ready to run them; `memory_limit` ("1GiB", "512MiB",
    bytes, or "none"; default: 80% of the machine's memory shared out over the workers) is a hard limit
    on each worker's memory, past which the call is `resource_exhausted` and the worker replaced;
    `cpu_time_limit` (seconds, default none) limits the CPU time of each sync call the same way; `prepare`
    (default true): false leaves `prepare` undone, each worker loading a tool (and opening its MCP session) at
    its first call.
    """

    name = "process"

    def __init__(self, config: ExecutorConfig | None = None) -> None:
        if sys.platform == "win32":
            raise RuntimeError("the process executor needs a POSIX system (workers inherit file descriptors); "
                               "use the thread backend on Windows")
        config = config or ExecutorConfig()
        options = dict(config.options)
        check_options("process", options, OPTIONS)
        self.workers = _positive("workers", config.workers if config.workers is not None else os.cpu_count() or 1)
        if self.workers > MAX_WORKERS:
            raise ValueError(f"the process executor's 'workers' is at most {MAX_WORKERS} (each is a process, all "
                             f"started at the first batch), got {self.workers}; for more, the dask backend")
        self.max_calls_per_worker = _optional_positive(options, "max_calls_per_worker")
        self.max_memory_mb = _optional_positive(options, "max_memory_mb")
        preload = options.get("preload", ())
        preload = [preload] if isinstance(preload, str) else list(preload)
        if not all(isinstance(name, str) for name in preload):
            raise ValueError(f"the process executor's 'preload' must be module names, got {preload!r}")
        self.preload = tuple(preload)
        self.prepares: bool = options.get("prepare", True)
        """Whether `prepare` loads the tools in the workers (option `prepare`)."""
        self.limits = Limits.from_options(options.get("memory_limit"), options.get("cpu_time_limit"), self.workers)
        self._pool = Pool(self.workers, self.preload, self.limits, self.max_calls_per_worker, self.max_memory_mb)
        _live.add(self)

    def warm(self) -> None:
        """Start every worker and wait until each has started and imported its `preload` modules."""
        workers = self._pool.hold_idle()
        try:
            for worker in workers:
                worker.wait_ready(READY_TIMEOUT_S)
        finally:
            self._pool.release(workers)

    def prepare(self, tools: Sequence[Tool]) -> None:
        """Ship `tools` to every idle worker, which loads them and calls each invoker's `prepare()`, and wait until
        each is done (up to `PREPARE_TIMEOUT_S`; a worker that takes longer is replaced). A worker busy with a run
        loads them with its next chunk that needs them, as before. Nothing, with the option `prepare = false`."""
        if not self.prepares:
            return
        pool = self._pool
        forms = [form for form in pool.ship(set(tools)).values() if isinstance(form, ShippedTool)]
        workers = pool.hold_idle()
        try:
            sent = [worker for worker in workers if self._send_tools(worker, forms)]
            deadline = time.monotonic() + PREPARE_TIMEOUT_S
            for worker in sent:
                if not _wait_done(worker, deadline):
                    pool.replace(worker)
        finally:
            pool.release(workers)

    def _send_tools(self, worker: WorkerProcess, forms: list[ShippedTool]) -> bool:
        """Send `worker` the tools it lacks, in a chunk of no calls; whether it was sent one."""
        new = [form for form in forms if form.key not in worker.known]
        if not new or not worker.wait_ready(READY_TIMEOUT_S):
            return False
        chunk = Chunk(next(self._pool.chunk_ids), [], None)
        try:
            worker.send(chunk, [form.fields() for form in new])
        except OSError:
            return False
        worker.known.update(form.key for form in new)
        return True

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        if not jobs:
            return []
        run = Run(self._pool, jobs)
        try:
            self._pool.start(run)
            return run.run()
        finally:
            self._pool.done(run)
            run.close()

    def cancel(self, jobs: Sequence[Job]) -> None:
        """Give these jobs a `cancelled` outcome at once; a worker running one is killed and replaced (its
        other calls that had not started run on another worker)."""
        wanted = {id(job) for job in jobs}
        for run in self._pool.in_flight():
            run.cancel([index for index, job in enumerate(run.jobs) if id(job) in wanted])

    def close(self) -> None:
        self._pool.close()

    def worker_pids(self) -> list[int]:
        """The process ids of the running workers."""
        return self._pool.pids()


def _wait_done(worker: WorkerProcess, deadline: float) -> bool:
    """Wait until `worker` says its chunk of no calls is done; False if it died or `deadline` passed."""
    while True:
        try:
            if not select.select([worker.conn], [], [], max(0.0, deadline - time.monotonic()))[0]:
                return False
            message = marshal.loads(worker.conn.recv())
        except (EOFError, OSError, ValueError):
            return False
        if message[0] == "done":
            worker.chunk = None
            return True


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"the process executor's '{name}' must be a positive integer, got {value!r}")
    return value


def _optional_positive(options: Mapping[str, Any], name: str) -> int | None:
    value = options.get(name)
    return None if value is None else _positive(name, value)


@atexit.register
def _close_all() -> None:
    for executor in list(_live):
        executor.close()

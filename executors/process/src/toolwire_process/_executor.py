"""`ProcessExecutor`: warm worker processes, tools shipped once, calls sent in chunks."""

from __future__ import annotations

import atexit
import itertools
import marshal
import math
import os
import pickle
import select
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from toolwire.executing import Executor, ExecutorConfig, Job, Outcome, timeout_outcome
from toolwire.tools import ErrorKind, ToolError
from toolwire_shipping.packing import ShippedTool, Shipper, UnshippableToolError

from toolwire_process import _log
from toolwire_process._process import Chunk, WorkerProcess

__all__ = ["ProcessExecutor"]

OPTIONS = ("max_calls_per_worker", "max_memory_mb", "preload")
READY_TIMEOUT_S = 60.0
ASYNC_GRACE_S = 0.05
"""How long past an async call's deadline the parent waits for the worker's own timeout before killing it."""
CHUNKS_PER_WORKER = 4
"""Chunks per worker for calls of unknown or long duration, so that one slow chunk does not hold up a batch."""
SHORT_CHUNK_S = 0.002
"""Calls expected to take less than this per chunk are sent in fewer, larger chunks (down to one per worker)."""
MAX_STARTS = 3
"""How many workers a call may be sent to without starting before it is reported `crashed`."""

_live: weakref.WeakSet[ProcessExecutor] = weakref.WeakSet()


class ProcessExecutor(Executor):
    """Runs each batch on warm worker processes (default: one per CPU).

    Options: `max_calls_per_worker` and `max_memory_mb` recycle a worker after that many calls or once
    its resident memory passes the limit; `preload` names modules every worker imports when it starts
    (heavy tool modules), so `warm()` leaves workers ready to run them.
    """

    name = "process"

    def __init__(self, config: ExecutorConfig | None = None) -> None:
        if sys.platform == "win32":
            raise RuntimeError("the process executor needs a POSIX system (workers inherit file descriptors); "
                               "use the thread backend on Windows")
        config = config or ExecutorConfig()
        options = dict(config.options)
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ValueError(f"unknown option(s) for the process executor: {', '.join(unknown)}; "
                             f"accepted: {', '.join(OPTIONS)}")
        self.workers = _positive("workers", config.workers if config.workers is not None else os.cpu_count() or 1)
        self.max_calls_per_worker = _optional_positive(options, "max_calls_per_worker")
        self.max_memory_mb = _optional_positive(options, "max_memory_mb")
        preload = options.get("preload", ())
        preload = [preload] if isinstance(preload, str) else list(preload)
        if not all(isinstance(name, str) for name in preload):
            raise ValueError(f"the process executor's 'preload' must be module names, got {preload!r}")
        self.preload = tuple(preload)
        self._slots: list[WorkerProcess | None] = [None] * self.workers
        self._shipper = Shipper()
        self._lock = threading.Lock()
        self._chunk_ids = itertools.count(1)
        self._call_s: float | None = None
        """Seconds a call runs in a worker, on average over recent chunks; `None` before the first chunk."""
        self._closed = False
        _live.add(self)

    def warm(self) -> None:
        """Start every worker and wait until each has started and imported its `preload` modules."""
        with self._lock:
            self._check_open()
            self._start_workers()
            for worker in self._slots:
                if worker is not None:
                    worker.wait_ready(READY_TIMEOUT_S)

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        if not jobs:
            return []
        with self._lock:
            self._check_open()
            self._start_workers()
            return _BatchRun(self, jobs).run()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            slots, self._slots = self._slots, [None] * self.workers
        for worker in slots:
            if worker is not None and not worker.conn.closed:
                worker.conn.close()  # every worker starts leaving at once
        for worker in slots:
            if worker is not None:
                worker.close()

    def worker_pids(self) -> list[int]:
        """The process ids of the running workers."""
        return [w.pid for w in self._slots if w is not None]

    # -- used by one batch, under the lock -----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the process executor is closed")

    def _start_workers(self) -> None:
        for index, worker in enumerate(self._slots):
            if worker is None or worker.process.poll() is not None:
                if worker is not None:
                    worker.close(wait=0)
                self._slots[index] = WorkerProcess(self.preload)

    def _replace(self, worker: WorkerProcess, *, kill: bool) -> None:
        if kill:
            worker.kill()
        worker.close(wait=0 if kill else 1.0)
        index = self._slots.index(worker)
        self._slots[index] = WorkerProcess(self.preload)

    def _chunk_size(self, count: int, *, concurrent: bool = False) -> int:
        if concurrent:  # the async calls of one chunk run together on the worker's loop: one chunk per worker
            return max(1, math.ceil(count / self.workers))
        size = math.ceil(count / (self.workers * CHUNKS_PER_WORKER))
        if self._call_s is not None:
            size = max(size, min(math.ceil(count / self.workers), int(SHORT_CHUNK_S / max(self._call_s, 1e-9))))
        return max(1, size)

    def _measured(self, calls: int, busy: float) -> None:
        per_call = busy / calls
        self._call_s = per_call if self._call_s is None else (self._call_s + per_call) / 2

    def _spent(self, worker: WorkerProcess) -> bool:
        calls = self.max_calls_per_worker
        memory = self.max_memory_mb
        return (calls is not None and worker.calls >= calls) or (
            memory is not None and worker.resident > memory * 1024 * 1024)


class _BatchRun:
    """One batch: chunks out to idle workers, results in from their logs, deadlines and deaths handled."""

    def __init__(self, executor: ProcessExecutor, jobs: Sequence[Job]) -> None:
        self.executor = executor
        self.jobs = jobs
        self.started = time.monotonic()
        self.outcomes: list[Outcome | None] = [None] * len(jobs)
        self.sends = [0] * len(jobs)
        self.shipped: list[ShippedTool | None] = [None] * len(jobs)
        self.pending: deque[int] = deque()
        self.remaining = len(jobs)
        self.by_key: dict[str, ShippedTool] = {}
        shipped_by_tool: dict[int, ShippedTool | UnshippableToolError] = {}
        for index, job in enumerate(jobs):
            found = shipped_by_tool.get(id(job.tool))
            if found is None:
                try:
                    found = executor._shipper.ship(job.tool)
                    self.by_key[found.key] = found
                except UnshippableToolError as exc:
                    found = exc
                shipped_by_tool[id(job.tool)] = found
            if isinstance(found, UnshippableToolError):
                self.resolve(index, Outcome(error=ToolError(ErrorKind.TOOL_ERROR, str(found))))
            else:
                self.shipped[index] = found
                self.pending.append(index)
        self.pending_deadline = min((job.deadline for job in jobs if job.deadline is not None), default=None)
        """No pending job's deadline is earlier than this (recomputed once it has passed)."""
        concurrent = all(jobs[i].tool.is_async for i in self.pending)
        affinities = {jobs[i].tool.affinity for i in self.pending}
        if concurrent and len(affinities) == 1 and None not in affinities:
            self.chunk_size = len(self.pending)  # calls sharing one remote connection stay on one worker's
        else:
            self.chunk_size = executor._chunk_size(len(self.pending), concurrent=concurrent)

    def resolve(self, index: int, outcome: Outcome) -> None:
        if self.outcomes[index] is None:
            self.outcomes[index] = outcome
            self.remaining -= 1

    def run(self) -> list[Outcome]:
        executor = self.executor
        while self.remaining:
            self.dispatch()
            busy = [w for w in executor._slots if w is not None and w.chunk is not None]
            timeout = self.next_deadline()
            if timeout is not None:
                timeout = max(0.0, timeout - time.monotonic())
            for worker in _readable(busy, timeout):
                self.receive(worker)
            self.expire()
        for worker in list(executor._slots):
            if worker is not None and worker.chunk is not None:  # still running calls already timed out
                worker.chunk = None
                executor._replace(worker, kill=True)
        return self.outcomes  # type: ignore[return-value]

    # -- sending -------------------------------------------------------------------------------------

    def dispatch(self) -> None:
        for worker in list(self.executor._slots):
            if not self.pending:
                return
            if worker is None or worker.chunk is not None:
                continue
            self.send(worker)

    def send(self, worker: WorkerProcess) -> None:
        size = self.chunk_size
        if self.executor.max_calls_per_worker is not None:
            size = max(1, min(size, self.executor.max_calls_per_worker - worker.calls))
        pending, shipped, sends, jobs = self.pending, self.shipped, self.sends, self.jobs
        indices = [pending.popleft() for _ in range(min(size, len(pending)))]
        keys = [shipped[i].key for i in indices]  # type: ignore[union-attr]
        new = set(keys) - worker.known
        for index in indices:
            sends[index] += 1
        chunk = Chunk(next(self.executor._chunk_ids), indices, _earliest(jobs, indices))
        tools = [self.by_key[key].fields() for key in new]
        message = pickle.dumps((chunk.id, tools, keys, [jobs[i].arguments for i in indices],
                                [jobs[i].deadline for i in indices], [jobs[i].call_id for i in indices]),
                               pickle.HIGHEST_PROTOCOL)
        try:
            worker.send(chunk, message)
        except OSError:
            self.died(worker)
            return
        worker.known.update(new)

    # -- receiving -----------------------------------------------------------------------------------

    def receive(self, worker: WorkerProcess) -> None:
        chunk = worker.chunk
        assert chunk is not None
        try:
            message = marshal.loads(worker.conn.recv())
        except (EOFError, OSError, ValueError):
            self.died(worker)
            return
        if message[0] == "ready":
            worker.ready = True
            return
        if message[0] == "result":
            self.take(chunk, [_log.decode(message[2])])
            return
        _, _, worker.resident, busy = message
        data = worker.log.read(chunk.id)
        worker.calls += len(chunk.indices)
        self.executor._measured(len(chunk.indices), busy)
        worker.chunk = None
        if self.executor._spent(worker):
            self.executor._replace(worker, kill=False)
        elif self.pending:
            self.send(worker)  # the worker runs its next chunk while this one's results are parsed
        self.take(chunk, _log.parse(data))

    def take(self, chunk: Chunk, records: list[Any]) -> None:
        indices, jobs, outcomes = chunk.indices, self.jobs, self.outcomes
        resolved = 0
        for position, duration, value, error in records:
            index = indices[position]
            if outcomes[index] is not None:
                continue
            if error is None:
                outcomes[index] = Outcome(value, None, duration)
            elif error[0] == ErrorKind.TIMEOUT and _past(jobs[index], time.monotonic()):
                outcomes[index] = timeout_outcome(jobs[index], self.started)
            else:
                outcomes[index] = Outcome(None, ToolError(ErrorKind(error[0]), error[1]), duration)
            resolved += 1
        self.remaining -= resolved

    # -- deaths and deadlines ------------------------------------------------------------------------

    def died(self, worker: WorkerProcess, reason: str | None = None) -> None:
        """Settle a dead (or killed) worker's chunk and put a fresh worker in its place."""
        chunk = worker.chunk
        status = worker.exit_status()
        if chunk is not None:
            self.take(chunk, worker.log.records(chunk.id))
            current, started, _ = worker.log.header()
            started = started if current == chunk.id else 0
            now = time.monotonic()
            for position, index in enumerate(chunk.indices):
                if self.outcomes[index] is not None:
                    continue
                job = self.jobs[index]
                if position >= started:
                    self.retry(index, status)
                elif reason is None:
                    message = f"the worker process running '{job.tool.name}' {status}"
                    self.resolve(index, Outcome(error=ToolError(ErrorKind.CRASHED, message)))
                elif job.deadline is not None and now >= job.deadline:
                    self.resolve(index, timeout_outcome(job, self.started))
                else:
                    self.resolve(index, Outcome(error=ToolError(ErrorKind.CANCELLED, reason)))
            worker.chunk = None
        self.executor._replace(worker, kill=True)

    def retry(self, index: int, status: str) -> None:
        if self.sends[index] >= MAX_STARTS:
            message = (f"'{self.jobs[index].tool.name}' could not start: "
                       f"{self.sends[index]} worker processes {status} before running it")
            self.resolve(index, Outcome(error=ToolError(ErrorKind.CRASHED, message)))
        else:
            self.pending.appendleft(index)
            deadline = self.jobs[index].deadline
            if deadline is not None and (self.pending_deadline is None or deadline < self.pending_deadline):
                self.pending_deadline = deadline

    def expire(self) -> None:
        now = time.monotonic()
        for worker in list(self.executor._slots):
            chunk = worker.chunk if worker is not None else None
            if chunk is None or chunk.deadline is None or now < chunk.deadline:
                continue
            self.take(chunk, worker.log.records(chunk.id))
            current, started, _ = worker.log.header()
            if current != chunk.id:
                continue
            kill = False
            for position, index in enumerate(chunk.indices):
                job = self.jobs[index]
                if self.outcomes[index] is not None:
                    continue
                if position < started:
                    kill = kill or _overdue(job, now)
                elif job.deadline is not None and now >= job.deadline:
                    self.resolve(index, timeout_outcome(job, self.started))
            if kill:
                worker.kill()
                self.died(worker, reason="the worker process was stopped because another call on it "
                                         "passed its deadline")
            else:
                unresolved = [i for i in chunk.indices if self.outcomes[i] is None]
                chunk.deadline = _earliest(self.jobs, unresolved)
        if self.pending and self.pending_deadline is not None and now >= self.pending_deadline:
            jobs = self.jobs
            for index in [i for i in self.pending if _past(jobs[i], now)]:
                self.pending.remove(index)
                self.resolve(index, timeout_outcome(jobs[index], self.started))
            self.pending_deadline = min((d for i in self.pending if (d := jobs[i].deadline) is not None),
                                        default=None)

    def next_deadline(self) -> float | None:
        candidates = [w.chunk.deadline for w in self.executor._slots
                      if w is not None and w.chunk is not None and w.chunk.deadline is not None]
        if self.pending and self.pending_deadline is not None:
            candidates.append(self.pending_deadline)
        return min(candidates, default=None)


def _readable(workers: list[WorkerProcess], timeout: float | None) -> list[WorkerProcess]:
    """The workers with a message (or end of file) to read, waiting up to `timeout` seconds for one."""
    poller = select.poll()
    by_fd = {}
    for worker in workers:
        by_fd[worker.conn.fileno()] = worker
        poller.register(worker.conn.fileno(), select.POLLIN)
    return [by_fd[fd] for fd, _ in poller.poll(None if timeout is None else math.ceil(timeout * 1000))]


def _earliest(jobs: Sequence[Job], indices: list[int]) -> float | None:
    deadlines = [jobs[i].deadline + (ASYNC_GRACE_S if jobs[i].tool.is_async else 0.0)
                 for i in indices if jobs[i].deadline is not None]
    return min(deadlines, default=None)


def _overdue(job: Job, now: float) -> bool:
    return job.deadline is not None and now >= job.deadline + (ASYNC_GRACE_S if job.tool.is_async else 0.0)


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


def _past(job: Job, now: float) -> bool:
    return job.deadline is not None and now >= job.deadline

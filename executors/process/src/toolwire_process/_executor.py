"""`ProcessExecutor`: warm worker processes, tools shipped once, calls sent in chunks.

Runs from several threads share the workers: a run claims an idle worker when it has calls to send and
keeps it only while it does, so a call that hangs ties up its own worker, not the pool.
"""

from __future__ import annotations

import atexit
import contextlib
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
from itertools import repeat
from typing import Any

from toolwire.executing import (
    Executor,
    ExecutorConfig,
    Job,
    Outcome,
    Outcomes,
    cancelled_outcome,
    check_options,
    earliest_deadline,
    progress_listened_among,
    report_progress,
    timeout_outcome,
)
from toolwire.tools import ErrorKind, Tool, ToolError
from toolwire_shipping.packing import ShippedTool, Shipper, UnshippableToolError

from toolwire_process import _log
from toolwire_process._limits import Limits
from toolwire_process._process import Chunk, WorkerProcess

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
ASYNC_GRACE_S = 0.05
"""How long past an async call's deadline the parent waits for the worker's own timeout before killing it."""
CANCEL_GRACE_S = 0.5
"""How long a run that is otherwise over waits for a worker winding down the calls it was asked to cancel."""
CHUNKS_PER_WORKER = 4
"""Chunks per worker for calls of unknown or long duration, so that one slow chunk does not hold up a run."""
SHORT_CHUNK_S = 0.002
"""Calls expected to take less than this per chunk are sent in fewer, larger chunks (down to one per worker)."""
MAX_STARTS = 3
"""How many workers that end before starting any call of its chunk a call may be sent to before it is reported
`crashed` (deaths a chunk-mate caused do not count)."""

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
        self._slots: list[WorkerProcess | None] = [None] * self.workers
        self._shipper = Shipper()
        self._lock = threading.Lock()
        self._runs: set[_Run] = set()
        self._chunk_ids = itertools.count(1)
        self._call_s: float | None = None
        """Seconds a call runs in a worker, on average over recent chunks; `None` before the first chunk."""
        self._closed = False
        _live.add(self)

    def warm(self) -> None:
        """Start every worker and wait until each has started and imported its `preload` modules."""
        workers = self._hold_idle()
        try:
            for worker in workers:
                worker.wait_ready(READY_TIMEOUT_S)
        finally:
            self._release(workers)

    def prepare(self, tools: Sequence[Tool]) -> None:
        """Ship `tools` to every idle worker, which loads them and calls each invoker's `prepare()`, and wait until
        each is done (up to `PREPARE_TIMEOUT_S`; a worker that takes longer is replaced). A worker busy with a run
        loads them with its next chunk that needs them, as before. Nothing, with the option `prepare = false`."""
        if not self.prepares:
            return
        forms = [form for form in self._ship(set(tools)).values() if isinstance(form, ShippedTool)]
        workers = self._hold_idle()
        try:
            sent = [worker for worker in workers if self._send_tools(worker, forms)]
            deadline = time.monotonic() + PREPARE_TIMEOUT_S
            for worker in sent:
                if not _wait_done(worker, deadline):
                    self._replace(worker)
        finally:
            self._release(workers)

    def _send_tools(self, worker: WorkerProcess, forms: list[ShippedTool]) -> bool:
        """Send `worker` the tools it lacks, in a chunk of no calls; whether it was sent one."""
        new = [form for form in forms if form.key not in worker.known]
        if not new or not worker.wait_ready(READY_TIMEOUT_S):
            return False
        chunk = Chunk(next(self._chunk_ids), [], None)
        message = _chunk_message(chunk, worker, [form.fields() for form in new])
        try:
            worker.send(chunk, message)
        except OSError:
            return False
        worker.known.update(form.key for form in new)
        return True

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        if not jobs:
            return []
        run = _Run(self, jobs)
        with self._lock:
            self._check_open()
            self._start_workers()
            self._runs.add(run)
        try:
            return run.run()
        finally:
            with self._lock:
                self._runs.discard(run)
            run.close()

    def cancel(self, jobs: Sequence[Job]) -> None:
        """Give these jobs a `cancelled` outcome at once; a worker running one is killed and replaced (its
        other calls that had not started run on another worker)."""
        wanted = {id(job) for job in jobs}
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            run.cancel([index for index, job in enumerate(run.jobs) if id(job) in wanted])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            slots, self._slots = self._slots, [None] * self.workers
            runs = list(self._runs)
        for run in runs:  # a run in flight in another thread ends its calls as cancelled
            run.wake()
        for worker in slots:
            if worker is not None and not worker.conn.closed:
                worker.conn.close()  # every worker starts leaving at once
        for worker in slots:
            if worker is not None:
                worker.close()

    def worker_pids(self) -> list[int]:
        """The process ids of the running workers."""
        return [w.pid for w in self._slots if w is not None]

    # -- the pool, shared by the runs in flight (the lock held) --------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the process executor is closed")

    def _start_workers(self) -> None:
        for index, worker in enumerate(self._slots):
            if worker is None or (worker.owner is None and worker.process.poll() is not None):
                if worker is not None:
                    worker.close(wait=0)
                self._slots[index] = WorkerProcess(self.preload, self.limits)

    def _hold_idle(self) -> list[WorkerProcess]:
        """Every worker (started now if need be) that is idle, held by the executor itself: nobody sends it a chunk
        until `_release`."""
        with self._lock:
            self._check_open()
            self._start_workers()
            workers = [w for w in self._slots if w is not None and w.owner is None]
            for worker in workers:
                worker.owner = self
        return workers

    def _claim(self, run: _Run, wanted: int) -> list[WorkerProcess]:
        """Up to `wanted` idle workers, now `run`'s."""
        with self._lock:
            if self._closed:
                return []
            idle = [w for w in self._slots if w is not None and w.owner is None][:wanted]
            for worker in idle:
                worker.owner = run
            return idle

    def _release(self, workers: Sequence[WorkerProcess]) -> None:
        """Give workers back to the pool (recycling spent ones); the runs waiting for one look again."""
        with self._lock:
            for worker in workers:
                worker.owner = None
                if worker in self._slots and self._spent(worker):
                    self._renew(worker, kill=False)
            runs = list(self._runs)
        for run in runs:
            run.wake()

    def _replace(self, worker: WorkerProcess) -> None:
        """A fresh worker in place of a dead (or killed) one, owned by nobody."""
        with self._lock:
            if worker in self._slots and not self._closed:
                self._renew(worker, kill=True)
            runs = list(self._runs)
        for run in runs:
            run.wake()

    def _renew(self, worker: WorkerProcess, *, kill: bool) -> WorkerProcess:
        if kill:
            worker.kill()
        worker.close(wait=0 if kill else 1.0)
        fresh = self._slots[self._slots.index(worker)] = WorkerProcess(self.preload, self.limits)
        return fresh

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

    def _ship(self, tools: set[Tool]) -> dict[Tool, ShippedTool | UnshippableToolError]:
        shipped: dict[Tool, ShippedTool | UnshippableToolError] = {}
        with self._lock:  # the shipper's cache is shared by the runs in flight
            for tool in tools:
                try:
                    shipped[tool] = self._shipper.ship(tool)
                except UnshippableToolError as exc:
                    shipped[tool] = exc
        return shipped


class _Run:
    """One `run`: chunks out to the workers it holds, results in from their logs, deadlines, deaths and
    cancellations handled."""

    def __init__(self, executor: ProcessExecutor, jobs: Sequence[Job]) -> None:
        self.executor = executor
        self.jobs = jobs
        self.started = time.monotonic()
        self.outcomes = Outcomes(jobs)
        self.resent: dict[int, int] = {}
        """How many times each call sent again (its worker died before it started) was sent before."""
        self.held: list[WorkerProcess] = []
        self.flagged: set[WorkerProcess] = set()
        """Workers asked (through their log) to cancel calls of their chunk rather than stopped."""
        self._cancelled: deque[int] = deque()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        forms = executor._ship({job.tool for job in jobs})
        shipped = {tool: form for tool, form in forms.items() if isinstance(form, ShippedTool)}
        self.by_key = {form.key: form for form in shipped.values()}
        key_of = {tool: form.key for tool, form in shipped.items()}
        deadlines = [job.deadline for job in jobs]
        self.columns = ([key_of.get(job.tool, "") for job in jobs], [job.arguments for job in jobs], deadlines,
                        [job.call_id for job in jobs], [job.scopes for job in jobs])
        """Per call, what a worker is sent: the shipped tool's key, arguments, deadline, call id, scopes."""
        self.listened = progress_listened_among(self.columns[3])
        """The calls whose progress someone here listens to: their workers send it back."""
        if len(shipped) == len(forms):
            self.pending: deque[int] = deque(range(len(jobs)))
        else:
            self.pending = deque()
            for index, job in enumerate(jobs):
                form = forms[job.tool]
                if isinstance(form, UnshippableToolError):
                    self.resolve(index, Outcome(error=ToolError(ErrorKind.TOOL_ERROR, str(form))))
                else:
                    self.pending.append(index)
        self.sync = not any(tool.is_async for tool in shipped)
        self.pending_deadline = earliest_deadline(deadlines)
        """No pending job's deadline is earlier than this (recomputed once it has passed)."""
        self.concurrent = concurrent = all(tool.is_async for tool in shipped)
        """Only async calls: each chunk's run together, so none waits behind another (no stealing)."""
        affinities = {tool.affinity for tool in shipped}
        if concurrent and len(affinities) == 1 and None not in affinities:
            self.chunk_size = len(self.pending)  # calls sharing one remote connection stay on one worker's
        else:
            self.chunk_size = executor._chunk_size(len(self.pending), concurrent=concurrent)

    @property
    def remaining(self) -> int:
        return self.outcomes.remaining

    def resolve(self, index: int, outcome: Outcome) -> None:
        self.outcomes.resolve(index, outcome)

    def wake(self) -> None:
        """Make the run look again (a worker was freed, a call cancelled); callable from any thread."""
        with contextlib.suppress(BlockingIOError, OSError):  # already woken, or over
            os.write(self._wake_write, b"!")

    def cancel(self, indices: list[int]) -> None:
        """Cancel calls of this run (from any thread): the run settles them at once."""
        if indices:
            self._cancelled.extend(indices)
            self.wake()

    def close(self) -> None:
        os.close(self._wake_read)
        os.close(self._wake_write)

    def run(self) -> list[Outcome]:
        executor = self.executor
        try:
            while self.remaining:
                if executor._closed:
                    self.abandon("the process executor was closed before the call finished")
                    break
                try:
                    self.step()
                except (OSError, ValueError):  # a worker's pipe or log closed under us: only `close` does that
                    if not executor._closed:
                        raise
            self.let_cancelled_end()
        finally:
            for worker in [w for w in self.held if w.chunk is not None]:  # still running calls already settled
                worker.chunk = None
                self.held.remove(worker)
                executor._replace(worker)
            executor._release(self.held)
            self.held = []
        return self.outcomes.result()

    def let_cancelled_end(self) -> None:
        """Give workers that were asked to cancel calls (`_must_stop`) up to `CANCEL_GRACE_S` to end their chunk,
        so that they stay in the pool instead of being replaced."""
        lingering = [w for w in self.held if w.chunk is not None and w in self.flagged]
        deadline = time.monotonic() + CANCEL_GRACE_S
        while lingering and (left := deadline - time.monotonic()) > 0 and not self.executor._closed:
            readable, _ = _readable(lingering, self._wake_read, left)
            for worker in readable:
                self.receive(worker)
            lingering = [w for w in lingering if w.chunk is not None and w in self.held]

    def step(self) -> None:
        """Send what can be sent, then wait for a worker's message, a wake-up or the next deadline."""
        if self.pending:
            self.claim(math.ceil(len(self.pending) / self.chunk_size))
        self.dispatch()
        if not self.pending and not self.concurrent:
            self.steal()
            self.dispatch()
        self.release_idle()
        busy = [w for w in self.held if w.chunk is not None]
        timeout = self.next_deadline()
        if timeout is not None:
            timeout = max(0.0, timeout - time.monotonic())
        readable, woken = _readable(busy, self._wake_read, timeout)
        for worker in readable:
            self.receive(worker)
        if woken:
            self.settle_cancelled()
        self.expire()

    def claim(self, wanted: int) -> bool:
        """Hold up to `wanted` more of the pool's idle workers; whether there was one."""
        workers = self.executor._claim(self, wanted)
        self.held += workers
        return bool(workers)

    def release_idle(self) -> None:
        """Give back the workers this run no longer needs (nothing left to send)."""
        if not self.pending:
            idle = [w for w in self.held if w.chunk is None]
            if idle:
                self.held = [w for w in self.held if w.chunk is not None]
                self.executor._release(idle)

    # -- sending -------------------------------------------------------------------------------------

    def dispatch(self) -> None:
        for worker in list(self.held):
            if not self.pending:
                return
            if worker.chunk is None:
                self.send(worker)

    def send(self, worker: WorkerProcess) -> None:
        size = self.chunk_size
        if self.executor.max_calls_per_worker is not None:
            size = max(1, min(size, self.executor.max_calls_per_worker - worker.calls))
        popleft = self.pending.popleft
        indices = [popleft() for _ in range(min(size, len(self.pending)))]
        keys, arguments, deadlines, call_ids, scopes = _picked(self.columns, indices)
        new = set(keys) - worker.known
        earliest = earliest_deadline(deadlines) if self.sync else _earliest(self.jobs, indices)
        chunk = Chunk(next(self.executor._chunk_ids), indices, earliest)
        tools = [self.by_key[key].fields() for key in new]
        listened = [call_id for call_id in call_ids if call_id in self.listened] if self.listened else None
        message = _chunk_message(chunk, worker, tools, keys, arguments, deadlines, call_ids,
                                 scopes if any(scopes) else None, listened)
        try:
            worker.send(chunk, message)
        except OSError:
            self.died(worker)
            return
        worker.known.update(new)

    def steal(self) -> None:
        """Take the back half of the calls not started yet from the busy worker that has most of them, for an
        idle worker (this run's, or the pool's): no call waits behind a slow or hung one while a worker is free.
        The busy worker keeps the calls it runs (or, before it begins its chunk, its first)."""
        victim, most = None, 0
        for worker in self.held:
            chunk = worker.chunk
            if chunk is not None:
                waiting = len(chunk.indices) - max(worker.log.running(chunk.id) + 1, 1)
                if waiting > most:
                    victim, most = worker, waiting
        if victim is None or (all(w.chunk is not None for w in self.held) and not self.claim(1)):
            return
        chunk = victim.chunk
        assert chunk is not None
        cut = len(chunk.indices) - (most + 1) // 2
        if not victim.log.take(chunk.id, cut, len(chunk.indices)):
            return
        kept = max(cut, victim.log.running(chunk.id) + 1)  # read after flagging: see `ParentLog.running`
        taken, chunk.indices = chunk.indices[kept:], chunk.indices[:kept]
        for index in taken:
            self.requeue(index)

    def requeue(self, index: int) -> None:
        """Send a call that has not run again, to the next free worker."""
        self.pending.append(index)
        deadline = self.jobs[index].deadline
        if deadline is not None and (self.pending_deadline is None or deadline < self.pending_deadline):
            self.pending_deadline = deadline

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
        if message[0] == "progress":
            _, call_id, progress, total, text = message
            report_progress(progress, total, text, call_id=call_id)
            return
        _, _, worker.resident, busy, written = message
        data, count = worker.log.rest(chunk.id, written)
        worker.calls += len(chunk.indices)
        self.executor._measured(len(chunk.indices), busy)
        worker.chunk = None
        if self.executor._spent(worker):
            self.held.remove(worker)
            self.executor._release([worker])
        elif self.pending:
            self.send(worker)  # the worker runs its next chunk while this one's results are parsed
        self.take(chunk, _log.parse(data, count))

    def take(self, chunk: Chunk, records: list[Any]) -> None:
        indices, jobs, outcomes = chunk.indices, self.jobs, self.outcomes
        if not records:
            return
        positions, durations, values, errors = zip(*records, strict=True)
        if errors.count(None) == len(errors):  # all went well: their outcomes in bulk
            outcomes.resolve_all([indices[p] for p in positions], map(Outcome, values, repeat(None), durations))
            return
        for position, duration, value, error in records:
            if position >= len(indices):  # taken for another worker
                continue
            index = indices[position]
            if index in outcomes.filled:
                continue
            if error == _log.TAKEN:  # taken as it began: kept here, skipped all the same
                self.requeue(index)
            elif error is None:
                outcomes.resolve(index, Outcome(value, None, duration))
            elif error[0] == ErrorKind.TIMEOUT and _past(jobs[index], time.monotonic()):
                outcomes.resolve(index, timeout_outcome(jobs[index], self.started))
            else:
                outcomes.resolve(index, Outcome(None, ToolError(ErrorKind(error[0]), error[1], *error[2:]), duration))

    # -- deaths, deadlines and cancellations ---------------------------------------------------------

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
                if index in self.outcomes.filled:
                    continue
                job = self.jobs[index]
                if position >= started:
                    self.retry(index, status, counted=started == 0)
                elif reason is None:
                    message = f"the worker process running '{job.tool.name}' {status}"
                    self.resolve(index, Outcome(error=ToolError(ErrorKind.CRASHED, message)))
                elif job.deadline is not None and now >= job.deadline:
                    self.resolve(index, timeout_outcome(job, self.started))
                else:
                    self.resolve(index, Outcome(error=ToolError(ErrorKind.CANCELLED, reason)))
            worker.chunk = None
        if worker in self.held:
            self.held.remove(worker)
        self.executor._replace(worker)

    def retry(self, index: int, status: str, *, counted: bool) -> None:
        """Send a call its worker did not start again: `counted` when the worker ended before starting any call of
        the chunk (no chunk-mate caused it), which a call survives `MAX_STARTS - 1` times."""
        if not counted:
            self.requeue(index)
            return
        sends = self.resent.get(index, 0) + 1
        if sends >= MAX_STARTS:
            message = (f"'{self.jobs[index].tool.name}' could not start: "
                       f"{sends} worker processes {status} before running it")
            self.resolve(index, Outcome(error=ToolError(ErrorKind.CRASHED, message)))
        else:
            self.resent[index] = sends
            self.requeue(index)

    def abandon(self, reason: str) -> None:
        """Give every call without an outcome a `cancelled` one saying `reason`."""
        for index in self.outcomes.missing():
            self.resolve(index, Outcome(error=ToolError(ErrorKind.CANCELLED, reason)))

    def settle_cancelled(self) -> None:
        """Give cancelled calls their outcome; a worker holding one that has not finished is stopped."""
        _drain(self._wake_read)
        cancelled = set()
        while self._cancelled:
            cancelled.add(self._cancelled.popleft())
        if not cancelled:
            return
        running = [(w, chunk) for w in self.held if (chunk := w.chunk) is not None and cancelled & set(chunk.indices)]
        for worker, chunk in running:  # what finished before the cancellation keeps its own outcome
            self.take(chunk, worker.log.records(chunk.id))
        unfinished = {index for index in cancelled if index not in self.outcomes.filled}
        for index in unfinished:
            self.resolve(index, cancelled_outcome(self.jobs[index], self.started))
        self.pending = deque(i for i in self.pending if i not in cancelled)
        for worker, _ in running:
            if self._must_stop(worker, unfinished):
                worker.kill()
                self.died(worker, reason="the worker process was stopped because another call on it was "
                                         "cancelled")

    def _must_stop(self, worker: WorkerProcess, cancelled: set[int]) -> bool:
        """Flag `worker`'s cancelled calls in its log, so that it skips those it has not started and cancels the
        async ones running; whether it must be stopped all the same (it runs a cancelled sync call, which nothing
        can interrupt, or one past the log's cancel slots)."""
        chunk = worker.chunk
        assert chunk is not None
        positions = [position for position, index in enumerate(chunk.indices) if index in cancelled]
        if not positions:
            return False
        flagged = [worker.log.cancel(chunk.id, position) for position in positions]
        running = worker.log.running(chunk.id)  # read after flagging: a call started since then is seen
        if not all(flagged):
            return True
        if running in positions and not self.jobs[chunk.indices[running]].tool.is_async:
            return True
        self.flagged.add(worker)
        return False

    def expire(self) -> None:
        now = time.monotonic()
        for worker in list(self.held):
            chunk = worker.chunk
            if chunk is None or chunk.deadline is None or now < chunk.deadline:
                continue
            self.take(chunk, worker.log.records(chunk.id))
            current, started, _ = worker.log.header()
            if current != chunk.id:
                continue
            kill = False
            for position, index in enumerate(chunk.indices):
                job = self.jobs[index]
                if index in self.outcomes.filled:
                    continue
                if position < started:
                    kill = kill or _overdue(job, now)
                elif job.deadline is not None and now >= job.deadline:
                    self.resolve(index, timeout_outcome(job, self.started, ran=False))
            if kill:
                worker.kill()
                self.died(worker, reason="the worker process was stopped because another call on it "
                                         "passed its deadline")
            else:
                unresolved = [i for i in chunk.indices if i not in self.outcomes.filled]
                chunk.deadline = _earliest(self.jobs, unresolved)
        if self.pending and self.pending_deadline is not None and now >= self.pending_deadline:
            jobs = self.jobs
            for index in [i for i in self.pending if _past(jobs[i], now)]:
                self.pending.remove(index)
                self.resolve(index, timeout_outcome(jobs[index], self.started, ran=False))
            self.pending_deadline = earliest_deadline([jobs[i].deadline for i in self.pending])

    def next_deadline(self) -> float | None:
        candidates = [w.chunk.deadline for w in self.held if w.chunk is not None and w.chunk.deadline is not None]
        if self.pending and self.pending_deadline is not None:
            candidates.append(self.pending_deadline)
        return min(candidates, default=None)


def _chunk_message(chunk: Chunk, worker: WorkerProcess, tools: list[tuple[Any, ...]], keys: Sequence[str] = (),
                   arguments: Sequence[Any] = (), deadlines: Sequence[float | None] = (), call_ids: Sequence[str] = (),
                   scopes: Sequence[Any] | None = None, listened: list[str] | None = None) -> bytes:
    """What `worker` is sent for `chunk`, as `Worker.serve` reads it: the tools it lacks, then per call its tool's
    key, arguments, deadline, call id and scopes; the calls whose progress is listened to; the log's mark."""
    return pickle.dumps((chunk.id, tools, keys, arguments, deadlines, call_ids, scopes, listened, worker.log.mark()),
                        pickle.HIGHEST_PROTOCOL)


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


def _readable(workers: list[WorkerProcess], wake: int, timeout: float | None) -> tuple[list[WorkerProcess], bool]:
    """The workers with a message (or end of file) to read, and whether the run was woken, waiting up to
    `timeout` seconds for either."""
    poller = select.poll()
    by_fd = {}
    for worker in workers:
        by_fd[worker.conn.fileno()] = worker
        poller.register(worker.conn.fileno(), select.POLLIN)
    poller.register(wake, select.POLLIN)
    ready = poller.poll(None if timeout is None else math.ceil(timeout * 1000))
    return [by_fd[fd] for fd, _ in ready if fd != wake], any(fd == wake for fd, _ in ready)


def _drain(fd: int) -> None:
    os.set_blocking(fd, False)
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _picked(columns: tuple[list[Any], ...], indices: list[int]) -> list[list[Any]]:
    """The values at `indices` of each column (slices when the indices follow one another, as they mostly do)."""
    first = indices[0]
    stop = first + len(indices)
    if indices == list(range(first, stop)):
        return [column[first:stop] for column in columns]
    return [[column[index] for index in indices] for column in columns]


def _earliest(jobs: Sequence[Job], indices: list[int]) -> float | None:
    deadlines = [deadline + (ASYNC_GRACE_S if jobs[i].tool.is_async else 0.0)
                 for i in indices if (deadline := jobs[i].deadline) is not None]
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

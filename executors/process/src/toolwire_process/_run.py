"""One `run` on the process backend: chunks out to the workers it holds, results in from their logs, deadlines,
deaths and cancellations handled; a free worker takes the calls another has not started (decision 0061)."""

from __future__ import annotations

import contextlib
import marshal
import math
import os
import select
import time
from collections import deque
from collections.abc import Sequence
from itertools import repeat
from typing import Any

from toolwire.executing import (
    Job,
    Outcome,
    Outcomes,
    cancelled_outcome,
    earliest_deadline,
    progress_listened_among,
    report_progress,
    timeout_outcome,
)
from toolwire.tools import ErrorKind, ToolError
from toolwire_shipping.packing import ShippedTool, UnshippableToolError

from toolwire_process import _log
from toolwire_process._pool import Pool
from toolwire_process._process import Chunk, WorkerProcess

ASYNC_GRACE_S = 0.05
"""How long past an async call's deadline the parent waits for the worker's own timeout before killing it."""
CANCEL_GRACE_S = 0.5
"""How long a run that is otherwise over waits for a worker winding down the calls it was asked to cancel."""
MAX_STARTS = 3
"""How many workers that end before starting any call of its chunk a call may be sent to before it is reported
`crashed` (deaths a chunk-mate caused do not count)."""


class Run:
    """One `run`: chunks out to the workers it holds, results in from their logs, deadlines, deaths and
    cancellations handled."""

    def __init__(self, pool: Pool, jobs: Sequence[Job]) -> None:
        self.pool = pool
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
        forms = pool.ship({job.tool for job in jobs})
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
            self.chunk_size = pool.chunk_size(len(self.pending), concurrent=concurrent)

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
        pool = self.pool
        try:
            while self.remaining:
                if pool.closed:
                    self.abandon("the process executor was closed before the call finished")
                    break
                try:
                    self.step()
                except (OSError, ValueError):  # a worker's pipe or log closed under us: only `close` does that
                    if not pool.closed:
                        raise
            self.let_cancelled_end()
        finally:
            for worker in [w for w in self.held if w.chunk is not None]:  # still running calls already settled
                worker.chunk = None
                self.held.remove(worker)
                pool.replace(worker)
            pool.release(self.held)
            self.held = []
        return self.outcomes.result()

    def let_cancelled_end(self) -> None:
        """Give workers that were asked to cancel calls (`_must_stop`) up to `CANCEL_GRACE_S` to end their chunk,
        so that they stay in the pool instead of being replaced."""
        lingering = [w for w in self.held if w.chunk is not None and w in self.flagged]
        deadline = time.monotonic() + CANCEL_GRACE_S
        while lingering and (left := deadline - time.monotonic()) > 0 and not self.pool.closed:
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
        workers = self.pool.claim(self, wanted)
        self.held += workers
        return bool(workers)

    def release_idle(self) -> None:
        """Give back the workers this run no longer needs (nothing left to send)."""
        if not self.pending:
            idle = [w for w in self.held if w.chunk is None]
            if idle:
                self.held = [w for w in self.held if w.chunk is not None]
                self.pool.release(idle)

    # -- sending -------------------------------------------------------------------------------------

    def dispatch(self) -> None:
        for worker in list(self.held):
            if not self.pending:
                return
            if worker.chunk is None:
                self.send(worker)

    def send(self, worker: WorkerProcess) -> None:
        size = self.chunk_size
        if self.pool.max_calls_per_worker is not None:
            size = max(1, min(size, self.pool.max_calls_per_worker - worker.calls))
        popleft = self.pending.popleft
        indices = [popleft() for _ in range(min(size, len(self.pending)))]
        keys, arguments, deadlines, call_ids, scopes = _picked(self.columns, indices)
        new = set(keys) - worker.known
        earliest = earliest_deadline(deadlines) if self.sync else _earliest(self.jobs, indices)
        chunk = Chunk(next(self.pool.chunk_ids), indices, earliest)
        tools = [self.by_key[key].fields() for key in new]
        listened = [call_id for call_id in call_ids if call_id in self.listened] if self.listened else None
        try:
            worker.send(chunk, tools, keys, arguments, deadlines, call_ids, scopes if any(scopes) else None, listened)
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
        self.pool.measured(len(chunk.indices), busy)
        worker.chunk = None
        if self.pool.spent(worker):
            self.held.remove(worker)
            self.pool.release([worker])
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
        self.pool.replace(worker)

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


def _past(job: Job, now: float) -> bool:
    return job.deadline is not None and now >= job.deadline

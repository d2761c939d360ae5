"""One `run` on the cluster: chunks placed on workers with a free thread, outcomes and deadlines kept here.

Sync and async calls go in separate chunks. Each worker gets at most as many sync chunks as it has
threads, so a worker holds only what it is running: when it dies, exactly those calls are reported
`crashed` (once the scheduler gives up on the task), and the rest of the batch goes on on the other
workers. Async chunks wait on the worker's event loop without holding a thread, so they are all sent at
once, spread over the workers (each still needs a free thread to start on, before it leaves it); async calls
that all share one `Tool.affinity` (one remote server) go in a single chunk, to share one worker's connection.
A chunk that waits on some of its calls sends the records of the others as events (`hear_early`), settled here
before the chunk returns.
"""

from __future__ import annotations

import math
import pickle
import queue
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from toolwire import ErrorKind, Job, Outcome, Outcomes, ToolError, cancelled_outcome, timeout_outcome
from toolwire.executing import progress_listened_among
from toolwire_shipping.packing import ShippedTool, UnshippableToolError
from toolwire_shipping.records import unreadable

from toolwire_dask import _worker

if TYPE_CHECKING:
    from distributed import Client, Future

CHUNKS_PER_THREAD = 4
"""A batch is cut into about this many chunks per worker thread, so fast workers take more of them."""
POLL_S = 0.25
"""How often a batch looks for workers while the cluster has none."""
REFRESH_S = 1.0
"""How often a running batch asks the scheduler which workers it has (workers come and go)."""
DEADLINE_GRACE_S = 0.5
"""How long after a call's deadline the run waits for its worker's report before reporting it timed out
itself. The worker reports a call past its deadline at the deadline, in the results of its whole chunk: the
grace lets the results of its chunk-mates arrive with it (when the worker cannot answer, they are late by this)."""


WAITING: dict[object, Run] = {}
"""The run each chunk in flight belongs to, by task key: where the records its worker sends early go."""


def hear_early(event: tuple[float, list[Any]]) -> None:
    """The handler of the `RESULTS_TOPIC` events (on the client's event loop): hand them to their run."""
    _, (key, items) = event
    run = WAITING.get(key)
    if run is not None:
        run.finished.put(Early(key, items))


class Early(NamedTuple):
    """Records of a chunk in flight that its worker sent before the chunk returned."""

    key: str
    items: list[list[Any]]


class Busy:
    """How many sync chunks each worker is running, over every run of one executor (a worker gets no more
    than it has threads, so runs from several threads share the cluster)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def take(self, address: str, threads: int) -> bool:
        """Count one more chunk on `address` if it has a free thread."""
        with self._lock:
            if self._counts[address] >= threads:
                return False
            self._counts[address] += 1
            return True

    def give(self, address: str) -> None:
        with self._lock:
            self._counts[address] -= 1


class Run:
    """Runs `jobs` on `client`'s cluster; `run()` returns one outcome per job, in order.

    `forms` holds each job's tool as shipped (or why it cannot be), by `id(tool)`; `tool_futures` their
    cluster-side copies by content key; `chunk_size` a fixed number of calls per task, or None to adapt.
    """

    def __init__(self, client: Client, jobs: Sequence[Job], forms: dict[int, ShippedTool | UnshippableToolError],
                 tool_futures: dict[str, Future], chunk_size: int | None, busy: Busy) -> None:
        self.client = client
        self.jobs = jobs
        self.started = time.monotonic()
        self.outcomes = Outcomes(jobs)
        self.filled = self.outcomes.filled
        self._cancelled: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.shipped: list[ShippedTool | None] = [None] * len(jobs)
        self.pending: deque[int] = deque()
        self.pending_async: deque[int] = deque()
        for index, job in enumerate(jobs):
            form = forms[id(job.tool)]
            if isinstance(form, ShippedTool):
                self.shipped[index] = form
                (self.pending_async if job.tool.is_async else self.pending).append(index)
            else:
                self.resolve(index, Outcome(error=ToolError(ErrorKind.TOOL_ERROR, str(form))))
        self.tool_futures = tool_futures
        self.listened = progress_listened_among(job.call_id for job in jobs)
        """The calls whose progress someone here listens to: their workers send it back as events."""
        self.slots: dict[str, int] = client.nthreads()
        self.slots_at = time.monotonic()
        threads = sum(self.slots.values()) or 1
        self.chunk_size = chunk_size or max(
            1, math.ceil((len(self.pending) + len(self.pending_async)) / (threads * CHUNKS_PER_THREAD)))
        affinities = {jobs[i].tool.affinity for i in self.pending_async}
        shared = len(affinities) == 1 and None not in affinities
        self.async_chunk_size = len(self.pending_async) if shared and not chunk_size else self.chunk_size
        self.in_flight: dict[Future, tuple[str | None, list[int]]] = {}
        self.busy = busy
        self.finished: queue.SimpleQueue[Future | Early | None] = queue.SimpleQueue()
        self.by_expiry = sorted((job.deadline + DEADLINE_GRACE_S, index) for index, job in enumerate(jobs)
                                if job.deadline is not None)
        self.next_expiring = 0

    @property
    def remaining(self) -> int:
        return self.outcomes.remaining

    def resolve(self, index: int, outcome: Outcome) -> None:
        self.outcomes.resolve(index, outcome)

    def cancel(self, indices: list[int]) -> None:
        """Cancel calls of this run (from any thread): settled at once; a chunk left with nothing to do is
        cancelled on the cluster (a sync call already running there cannot be stopped)."""
        for index in indices:
            self._cancelled.put(index)
        self.finished.put(None)  # wake the run

    def run(self) -> list[Outcome]:
        try:
            while self.remaining:
                self.dispatch()
                future = self.next_finished()
                while future is not None:
                    self.take(future)
                    future = self.next_finished(block=False)
                self.settle_cancelled()
                self.expire()
        finally:
            for future in self.in_flight:
                WAITING.pop(future.key, None)
            if self.in_flight:
                self.client.cancel(list(self.in_flight), reason="toolwire: the batch no longer needs it")
                for address, _ in self.in_flight.values():  # the cluster has them back (a hung thread aside)
                    if address is not None:
                        self.busy.give(address)
        return self.outcomes.result()

    # -- sending -------------------------------------------------------------------------------------

    def dispatch(self) -> None:
        waiting = self.pending or self.pending_async
        if waiting and (not self.slots or time.monotonic() - self.slots_at >= REFRESH_S):
            self.refresh()
        addresses = list(self.slots)
        while self.pending_async and addresses:
            self.submit(self.pending_async, addresses[len(self.in_flight) % len(addresses)], counted=False,
                        size=self.async_chunk_size)
        for address, threads in self.slots.items():
            while self.pending and self.busy.take(address, threads):
                self.submit(self.pending, address, counted=True, size=self.chunk_size)

    def refresh(self) -> None:
        self.slots, self.slots_at = self.client.nthreads(), time.monotonic()

    def submit(self, pending: deque[int], address: str, *, counted: bool, size: int) -> None:
        indices = [pending.popleft() for _ in range(min(size, len(pending)))]
        keys = [self.shipped[i].key for i in indices]  # type: ignore[union-attr]
        now, wall = time.monotonic(), time.time()
        deadlines = [None if (d := self.jobs[i].deadline) is None else wall + (d - now) for i in indices]
        scopes = [self.jobs[i].scopes for i in indices]
        call_ids = [self.jobs[i].call_id for i in indices]
        listened = [call_id for call_id in call_ids if call_id in self.listened] if self.listened else None
        calls = pickle.dumps((keys, [self.jobs[i].arguments for i in indices], deadlines, call_ids,
                              scopes if any(scopes) else None, listened), pickle.HIGHEST_PROTOCOL)
        future = self.client.submit(
            _worker.run_chunk, {key: self.tool_futures[key] for key in set(keys)}, calls,
            key=f"toolwire-chunk-{uuid.uuid4().hex}", workers=[address], allow_other_workers=True, pure=False)
        self.in_flight[future] = (address if counted else None, indices)
        WAITING[future.key] = self
        future.add_done_callback(self.finished.put)

    # -- receiving -----------------------------------------------------------------------------------

    def next_finished(self, block: bool = True) -> Future | Early | None:
        timeout = None
        expiry = self.next_expiry()
        if expiry is not None:
            timeout = max(0.0, expiry - time.monotonic())
        if not self.in_flight and (self.pending or self.pending_async):
            timeout = POLL_S if timeout is None else min(timeout, POLL_S)
        try:
            return self.finished.get(block=block, timeout=timeout if block else None)
        except queue.Empty:
            return None

    def take(self, future: Future | Early) -> None:
        if isinstance(future, Early):
            self.take_early(future)
            return
        placed = self.in_flight.pop(future, None)
        if placed is None:
            return
        WAITING.pop(future.key, None)
        address, indices = placed
        if address is not None:
            self.busy.give(address)
        if future.status == "finished":
            try:
                records = pickle.loads(future.result())
            except Exception as exc:
                self.fail(indices, ErrorKind.TOOL_ERROR, f"its chunk's results could not be read here: "
                                                         f"{type(exc).__name__}: {exc}")
                return
            self.take_records(indices, records)
        elif future.status == "error":
            failure = future.exception()
            if type(failure).__name__ == "KilledWorker":
                worker = getattr(getattr(failure, "last_worker", None), "address", "a worker")
                self.fail(indices, ErrorKind.CRASHED, f"the Dask worker running it ({worker}) died")
                self.refresh()
            else:
                self.fail(indices, ErrorKind.TOOL_ERROR,
                          f"the Dask task running it failed: {type(failure).__name__}: {failure}")
        else:
            self.fail(indices, ErrorKind.CANCELLED, f"the Dask task running it was {future.status}")

    def take_early(self, early: Early) -> None:
        """Settle the calls whose records their worker sent before their chunk returned."""
        indices = next((indices for future, (_, indices) in self.in_flight.items() if future.key == early.key), None)
        if indices is None:
            return
        self.take_records([indices[position] for position, _ in early.items],
                          [pickle.loads(blob) for _, blob in early.items])

    def take_records(self, indices: list[int], records: list[_worker.Record]) -> None:
        now = time.monotonic()
        for index, (value, error, duration) in zip(indices, records, strict=True):
            job = self.jobs[index]
            if isinstance(error, int):  # `_worker.PICKLED`: the value was pickled on its own
                try:
                    value, error = pickle.loads(value), None
                except (Exception, SystemExit) as exc:  # rebuilding a value runs its own code: this call's error
                    error = unreadable(exc)
            if error is None:
                self.resolve(index, Outcome(value, None, duration))
            elif error[0] == ErrorKind.TIMEOUT and job.deadline is not None and now >= job.deadline:
                self.resolve(index, timeout_outcome(job, self.started))
            else:
                self.resolve(index, Outcome(None, ToolError(ErrorKind(error[0]), error[1], *error[2:]), duration))

    def fail(self, indices: list[int], kind: ErrorKind, reason: str) -> None:
        for index in indices:
            message = f"'{self.jobs[index].tool.name}' did not return: {reason}"
            self.resolve(index, Outcome(error=ToolError(kind, message)))

    # -- cancellations and deadlines -----------------------------------------------------------------

    def settle_cancelled(self) -> None:
        cancelled = False
        while True:
            try:
                index = self._cancelled.get_nowait()
            except queue.Empty:
                break
            self.resolve(index, cancelled_outcome(self.jobs[index], self.started))
            cancelled = True
        if cancelled:
            self.drop_settled()

    def drop_settled(self) -> None:
        """Forget pending calls that have their outcome, and cancel chunks whose calls all have theirs."""
        self.pending = deque(i for i in self.pending if i not in self.filled)
        self.pending_async = deque(i for i in self.pending_async if i not in self.filled)
        spent = [f for f, (_, indices) in self.in_flight.items() if all(i in self.filled for i in indices)]
        if spent:
            self.client.cancel(spent, reason="toolwire: every call in the chunk has its outcome")

    def expire(self) -> None:
        """Report the calls whose deadline passed `DEADLINE_GRACE_S` ago timed out here."""
        now = time.monotonic()
        expired = False
        while (expiry := self.next_expiry()) is not None and now >= expiry:
            index = self.by_expiry[self.next_expiring][1]
            self.resolve(index, timeout_outcome(self.jobs[index], self.started))
            expired = True
        if expired:
            self.drop_settled()

    def next_expiry(self) -> float | None:
        """When the next call without an outcome yet is reported timed out here."""
        by_expiry, filled = self.by_expiry, self.filled
        while self.next_expiring < len(by_expiry) and by_expiry[self.next_expiring][1] in filled:
            self.next_expiring += 1
        return by_expiry[self.next_expiring][0] if self.next_expiring < len(by_expiry) else None

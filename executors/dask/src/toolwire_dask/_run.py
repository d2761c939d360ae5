"""One `run` on the cluster: chunks placed on workers with a free thread, outcomes and deadlines kept here.

Sync and async calls go in separate chunks. Each worker gets at most as many sync chunks as it has
threads, so a worker holds only what it is running: when it dies, exactly those calls are reported
`crashed` (once the scheduler gives up on the task), and the rest of the batch goes on on the other
workers. Async chunks wait on the worker's event loop without holding a thread, so they are all sent at
once, spread over the workers; async calls that all share one `Tool.affinity` (one remote server) go in a
single chunk, to share one worker's connection.
"""

from __future__ import annotations

import math
import pickle
import queue
import time
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from toolwire import ErrorKind, Job, Outcome, ToolError, timeout_outcome
from toolwire_shipping.packing import ShippedTool, UnshippableToolError

from toolwire_dask import _worker

if TYPE_CHECKING:
    from distributed import Client, Future

CHUNKS_PER_THREAD = 4
"""A batch is cut into about this many chunks per worker thread, so fast workers take more of them."""
POLL_S = 0.25
"""How often a batch looks for workers while the cluster has none."""
REFRESH_S = 1.0
"""How often a running batch asks the scheduler which workers it has (workers come and go)."""


class Run:
    """Runs `jobs` on `client`'s cluster; `run()` returns one outcome per job, in order.

    `forms` holds each job's tool as shipped (or why it cannot be), by `id(tool)`; `tool_futures` their
    cluster-side copies by content key; `chunk_size` a fixed number of calls per task, or None to adapt.
    """

    def __init__(self, client: Client, jobs: Sequence[Job], forms: dict[int, ShippedTool | UnshippableToolError],
                 tool_futures: dict[str, Future], chunk_size: int | None) -> None:
        self.client = client
        self.jobs = jobs
        self.started = time.monotonic()
        self.outcomes: list[Outcome | None] = [None] * len(jobs)
        self.remaining = len(jobs)
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
        self.slots: dict[str, int] = client.nthreads()
        self.slots_at = time.monotonic()
        threads = sum(self.slots.values()) or 1
        self.chunk_size = chunk_size or max(
            1, math.ceil((len(self.pending) + len(self.pending_async)) / (threads * CHUNKS_PER_THREAD)))
        affinities = {jobs[i].tool.affinity for i in self.pending_async}
        shared = len(affinities) == 1 and None not in affinities
        self.async_chunk_size = len(self.pending_async) if shared and not chunk_size else self.chunk_size
        self.in_flight: dict[Future, tuple[str | None, list[int]]] = {}
        self.busy: Counter[str] = Counter()
        self.finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
        self.by_deadline = sorted((job.deadline, index) for index, job in enumerate(jobs)
                                  if job.deadline is not None)
        self.next_expiring = 0

    def resolve(self, index: int, outcome: Outcome) -> None:
        if self.outcomes[index] is None:
            self.outcomes[index] = outcome
            self.remaining -= 1

    def run(self) -> list[Outcome]:
        try:
            while self.remaining:
                self.dispatch()
                future = self.next_finished()
                while future is not None:
                    self.take(future)
                    future = self.next_finished(block=False)
                self.expire()
        finally:
            if self.in_flight:
                self.client.cancel(list(self.in_flight), reason="toolwire: the batch no longer needs it")
        return self.outcomes  # type: ignore[return-value]

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
            while self.pending and self.busy[address] < threads:
                self.submit(self.pending, address, counted=True, size=self.chunk_size)

    def refresh(self) -> None:
        self.slots, self.slots_at = self.client.nthreads(), time.monotonic()

    def submit(self, pending: deque[int], address: str, *, counted: bool, size: int) -> None:
        indices = [pending.popleft() for _ in range(min(size, len(pending)))]
        keys = [self.shipped[i].key for i in indices]  # type: ignore[union-attr]
        now, wall = time.monotonic(), time.time()
        deadlines = [None if (d := self.jobs[i].deadline) is None else wall + (d - now) for i in indices]
        calls = pickle.dumps((keys, [self.jobs[i].arguments for i in indices], deadlines,
                              [self.jobs[i].call_id for i in indices]), pickle.HIGHEST_PROTOCOL)
        future = self.client.submit(
            _worker.run_chunk, {key: self.tool_futures[key] for key in set(keys)}, calls,
            key=f"toolwire-chunk-{uuid.uuid4().hex}", workers=[address], allow_other_workers=True, pure=False)
        self.in_flight[future] = (address if counted else None, indices)
        if counted:
            self.busy[address] += 1
        future.add_done_callback(self.finished.put)

    # -- receiving -----------------------------------------------------------------------------------

    def next_finished(self, block: bool = True) -> Future | None:
        timeout = None
        deadline = self.next_deadline()
        if deadline is not None:
            timeout = max(0.0, deadline - time.monotonic())
        if not self.in_flight and (self.pending or self.pending_async):
            timeout = POLL_S if timeout is None else min(timeout, POLL_S)
        try:
            return self.finished.get(block=block, timeout=timeout if block else None)
        except queue.Empty:
            return None

    def take(self, future: Future) -> None:
        placed = self.in_flight.pop(future, None)
        if placed is None:
            return
        address, indices = placed
        if address is not None:
            self.busy[address] -= 1
        if future.status == "finished":
            try:
                records = pickle.loads(future.result())
            except Exception as exc:
                self.fail(indices, ErrorKind.TOOL_ERROR, f"its chunk's results could not be read here: "
                                                         f"{type(exc).__name__}: {exc}")
                return
            self.take_records(indices, records)
        elif future.status == "error":
            exc = future.exception()
            if type(exc).__name__ == "KilledWorker":
                worker = getattr(getattr(exc, "last_worker", None), "address", "a worker")
                self.fail(indices, ErrorKind.CRASHED, f"the Dask worker running it ({worker}) died")
                self.refresh()
            else:
                self.fail(indices, ErrorKind.TOOL_ERROR,
                          f"the Dask task running it failed: {type(exc).__name__}: {exc}")
        else:
            self.fail(indices, ErrorKind.CANCELLED, f"the Dask task running it was {future.status}")

    def take_records(self, indices: list[int], records: list[_worker.Record]) -> None:
        now = time.monotonic()
        for index, (value, error, duration) in zip(indices, records, strict=True):
            job = self.jobs[index]
            if error is None:
                self.resolve(index, Outcome(value, None, duration))
            elif error[0] == ErrorKind.TIMEOUT and job.deadline is not None and now >= job.deadline:
                self.resolve(index, timeout_outcome(job, self.started))
            else:
                self.resolve(index, Outcome(None, ToolError(ErrorKind(error[0]), error[1]), duration))

    def fail(self, indices: list[int], kind: ErrorKind, reason: str) -> None:
        for index in indices:
            message = f"'{self.jobs[index].tool.name}' did not return: {reason}"
            self.resolve(index, Outcome(error=ToolError(kind, message)))

    # -- deadlines -----------------------------------------------------------------------------------

    def expire(self) -> None:
        now = time.monotonic()
        expired = False
        while self.next_deadline() is not None and now >= self.by_deadline[self.next_expiring][0]:
            index = self.by_deadline[self.next_expiring][1]
            self.resolve(index, timeout_outcome(self.jobs[index], self.started))
            expired = True
        if not expired:
            return
        self.pending = deque(i for i in self.pending if self.outcomes[i] is None)
        self.pending_async = deque(i for i in self.pending_async if self.outcomes[i] is None)
        spent = [f for f, (_, indices) in self.in_flight.items()
                 if all(self.outcomes[i] is not None for i in indices)]
        if spent:
            self.client.cancel(spent, reason="toolwire: every call in the chunk passed its deadline")

    def next_deadline(self) -> float | None:
        """The earliest deadline of a call without an outcome yet."""
        by_deadline, outcomes = self.by_deadline, self.outcomes
        while self.next_expiring < len(by_deadline) and outcomes[by_deadline[self.next_expiring][1]] is not None:
            self.next_expiring += 1
        return by_deadline[self.next_expiring][0] if self.next_expiring < len(by_deadline) else None

"""The worker processes of one executor, shared by every run in flight: started, claimed, given back, recycled
and replaced under one lock, with the tools shipped to them and the call time measured to size chunks."""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterable, Sequence
from typing import Protocol

from toolwire.executing import Job
from toolwire.tools import Tool
from toolwire_shipping.packing import ShippedTool, Shipper, UnshippableToolError

from toolwire_process._limits import Limits
from toolwire_process._process import WorkerProcess

CHUNKS_PER_WORKER = 4
"""Chunks per worker for calls of unknown or long duration, so that one slow chunk does not hold up a run."""
SHORT_CHUNK_S = 0.002
"""Calls expected to take less than this per chunk are sent in fewer, larger chunks (down to one per worker)."""


class Waiting(Protocol):
    """A run in flight: woken when a worker is freed or replaced (it may be waiting for one), and told which of its
    jobs are cancelled."""

    jobs: Sequence[Job]

    def wake(self) -> None: ...

    def cancel(self, indices: list[int]) -> None: ...


class Pool:
    """`size` worker slots, each started at first use; a worker is idle (`owner` None), held by a run, or held
    by the pool itself (warming and preparing)."""

    def __init__(self, size: int, preload: tuple[str, ...], limits: Limits, max_calls_per_worker: int | None,
                 max_memory_mb: int | None) -> None:
        self.size = size
        self.preload = preload
        self.limits = limits
        self.max_calls_per_worker = max_calls_per_worker
        self.max_memory_mb = max_memory_mb
        self.slots: list[WorkerProcess | None] = [None] * size
        self.lock = threading.Lock()
        self.runs: set[Waiting] = set()
        self.chunk_ids = itertools.count(1)
        self.closed = False
        self._shipper = Shipper()
        self._call_s: float | None = None
        """Seconds a call runs in a worker, on average over recent chunks; `None` before the first chunk."""

    def check_open(self) -> None:
        if self.closed:
            raise RuntimeError("the process executor is closed")

    def start(self, run: Waiting) -> None:
        """Count `run` in flight, starting the workers not running yet."""
        with self.lock:
            self.check_open()
            self._start_workers()
            self.runs.add(run)

    def done(self, run: Waiting) -> None:
        with self.lock:
            self.runs.discard(run)

    def in_flight(self) -> list[Waiting]:
        with self.lock:
            return list(self.runs)

    def close(self) -> None:
        """Stop every worker (all at once); a run in flight ends its calls as cancelled."""
        with self.lock:
            self.closed = True
            slots, self.slots = self.slots, [None] * self.size
            runs = list(self.runs)
        for run in runs:
            run.wake()
        for worker in slots:
            if worker is not None and not worker.conn.closed:
                worker.conn.close()  # every worker starts leaving at once
        for worker in slots:
            if worker is not None:
                worker.close()

    def pids(self) -> list[int]:
        return [w.pid for w in self.slots if w is not None]

    def _start_workers(self) -> None:
        for index, worker in enumerate(self.slots):
            if worker is None or (worker.owner is None and worker.process.poll() is not None):
                if worker is not None:
                    worker.close(wait=0)
                self.slots[index] = WorkerProcess(self.preload, self.limits)

    def hold_idle(self) -> list[WorkerProcess]:
        """Every worker (started now if need be) that is idle, held by the pool itself: nobody sends it a chunk
        until `release`."""
        with self.lock:
            self.check_open()
            self._start_workers()
            workers = [w for w in self.slots if w is not None and w.owner is None]
            for worker in workers:
                worker.owner = self
        return workers

    def claim(self, run: Waiting, wanted: int) -> list[WorkerProcess]:
        """Up to `wanted` idle workers, now `run`'s."""
        with self.lock:
            if self.closed:
                return []
            idle = [w for w in self.slots if w is not None and w.owner is None][:wanted]
            for worker in idle:
                worker.owner = run
            return idle

    def release(self, workers: Sequence[WorkerProcess]) -> None:
        """Give workers back to the pool (recycling spent ones); the runs waiting for one look again."""
        with self.lock:
            for worker in workers:
                worker.owner = None
                if worker in self.slots and self.spent(worker):
                    self._renew(worker, kill=False)
            runs = list(self.runs)
        for run in runs:
            run.wake()

    def replace(self, worker: WorkerProcess) -> None:
        """A fresh worker in place of a dead (or killed) one, owned by nobody."""
        with self.lock:
            if worker in self.slots and not self.closed:
                self._renew(worker, kill=True)
            runs = list(self.runs)
        for run in runs:
            run.wake()

    def _renew(self, worker: WorkerProcess, *, kill: bool) -> None:
        if kill:
            worker.kill()
        worker.close(wait=0 if kill else 1.0)
        self.slots[self.slots.index(worker)] = WorkerProcess(self.preload, self.limits)

    def chunk_size(self, count: int, *, concurrent: bool = False) -> int:
        if concurrent:  # the async calls of one chunk run together on the worker's loop: one chunk per worker
            return max(1, math.ceil(count / self.size))
        size = math.ceil(count / (self.size * CHUNKS_PER_WORKER))
        if self._call_s is not None:
            size = max(size, min(math.ceil(count / self.size), int(SHORT_CHUNK_S / max(self._call_s, 1e-9))))
        return max(1, size)

    def measured(self, calls: int, busy: float) -> None:
        per_call = busy / calls
        self._call_s = per_call if self._call_s is None else (self._call_s + per_call) / 2

    def spent(self, worker: WorkerProcess) -> bool:
        calls = self.max_calls_per_worker
        memory = self.max_memory_mb
        return (calls is not None and worker.calls >= calls) or (
            memory is not None and worker.resident > memory * 1024 * 1024)

    def ship(self, tools: Iterable[Tool]) -> dict[Tool, ShippedTool | UnshippableToolError]:
        shipped: dict[Tool, ShippedTool | UnshippableToolError] = {}
        with self.lock:  # the shipper's cache is shared by the runs in flight
            for tool in tools:
                try:
                    shipped[tool] = self._shipper.ship(tool)
                except UnshippableToolError as exc:
                    shipped[tool] = exc
        return shipped

"""A bounded pool of worker threads that drain runs of sync jobs.

A run is offered to up to `size` threads at once; each takes jobs one at a time from the run's
shared iterator, so there is no future or queue item per job. A thread stuck in a call past its
deadline is abandoned: it is replaced at once, finishes its call in the background (its result is
dropped) and then exits. Threads are daemons, so a call that never returns cannot block interpreter exit.
"""

from __future__ import annotations

import itertools
import queue
import threading

from toolwire_thread._run import Run


class ThreadPool:
    """`size` healthy worker threads, started on demand, plus any abandoned ones still finishing."""

    def __init__(self, size: int, name_prefix: str) -> None:
        self.size = size
        self._name_prefix = name_prefix
        self._queue: queue.SimpleQueue[Run | None] = queue.SimpleQueue()
        self._threads: set[threading.Thread] = set()
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._closed = False
        self.abandoned = 0

    @property
    def threads(self) -> int:
        """How many healthy threads are running."""
        return len(self._threads)

    def start(self, count: int) -> None:
        """Have at least `count` (at most `size`) healthy threads."""
        with self._lock:
            self._check_open()
            while len(self._threads) < min(count, self.size):
                self._spawn()

    def submit(self, run: Run, jobs: int) -> None:
        """Offer `run` (holding `jobs` sync jobs) to as many threads as can work on it."""
        helpers = min(jobs, self.size)
        self.start(helpers)
        for _ in range(helpers):
            self._queue.put(run)

    def replace(self, run: Run, stuck: list[threading.Thread]) -> None:
        """Swap threads stuck in calls past their deadline for fresh ones, which resume `run`."""
        with self._lock:
            if self._closed:
                return
            for thread in stuck:
                if thread in self._threads:
                    self._threads.discard(thread)
                    self.abandoned += 1
                    self._spawn()
                    self._queue.put(run)

    def close(self) -> None:
        """Stop the healthy threads once they finish their current work; abandoned ones are left alone."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the thread executor is closed")

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._work, name=f"{self._name_prefix}-{next(self._numbers)}",
                                  daemon=True)
        self._threads.add(thread)
        thread.start()

    def _work(self) -> None:
        thread = threading.current_thread()
        while (run := self._queue.get()) is not None:
            if not run.context.copy().run(run.drain, thread) or thread not in self._threads:
                return  # abandoned while stuck in a call; a replacement already took its place
            del run  # a finished run's jobs and outcomes are not kept alive while this thread waits

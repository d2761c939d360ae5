"""`FuturesExecutor`: one future per call on a thread pool, each awaited until its own deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from toolwire import Executor, ExecutorConfig, Job, Outcome, call_invoker, call_invoker_async, timeout_outcome


class FuturesExecutor(Executor):
    """Runs each call on a thread pool of `config.workers` threads (default 8)."""

    name = "futures"

    def __init__(self, config: ExecutorConfig) -> None:
        if config.options:
            raise ValueError(f"the futures backend takes no options, got: {', '.join(config.options)}")
        self._pool = ThreadPoolExecutor(max_workers=config.workers or 8, thread_name_prefix="toolwire-futures")

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        started = time.monotonic()
        futures = [self._pool.submit(_run_one, job) for job in jobs]
        outcomes = []
        for job, future in zip(jobs, futures, strict=True):
            try:
                outcomes.append(future.result(timeout=job.remaining()))
            except FutureTimeout:
                # A call still running finishes in the background; its result is dropped. Its thread is not
                # marked (`toolwire.abandon_thread`): the pool would reuse it for other calls.
                future.cancel()
                outcomes.append(timeout_outcome(job, started))
        return outcomes

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _run_one(job: Job) -> Outcome:
    if job.tool.is_async:
        return asyncio.run(call_invoker_async(job))
    return call_invoker(job)

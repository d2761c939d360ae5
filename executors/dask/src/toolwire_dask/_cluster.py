"""Connecting to a Dask cluster: an existing scheduler by address, or a `LocalCluster` started here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dask

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

LOCAL_SETTINGS = {"distributed.scheduler.allowed-failures": 0}
"""A worker's death reports `crashed` for what it ran, instead of trying the chunk on other workers."""


def connect(address: str, timeout: float) -> Client:
    """A client of the scheduler at `address`; raises `ConnectionError` naming the address."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(f"cannot reach the Dask scheduler at {address} "
                              f"(waited {timeout:g}s): {type(exc).__name__}: {exc}") from exc


def start_local_cluster(workers: int | None, threads_per_worker: int | None = None,
                        memory_limit: str | int | None = None) -> LocalCluster:
    """A `LocalCluster` of worker processes on 127.0.0.1, without dashboards.

    Raises `RuntimeError` saying what failed and the most common cause: an unguarded script.
    """
    from distributed import LocalCluster

    try:
        with dask.config.set(LOCAL_SETTINGS):
            extra = {} if memory_limit is None else {"memory_limit": memory_limit}
            return LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True, **extra,
                                host="127.0.0.1", scheduler_port=0, dashboard_address=None,
                                # the scheduler's HTTP endpoints (health, metrics) on a free port, not 8787
                                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})
    except Exception as exc:
        reason = f"{type(exc).__name__}: {str(exc).rstrip('.')}"
        raise RuntimeError(
            f"could not start a local Dask cluster: {reason}. Dask starts its workers with multiprocessing, "
            "which runs the main script again in each of them: a script that uses the dask backend without a "
            "scheduler address must guard its entry point with `if __name__ == \"__main__\":`"
        ) from exc

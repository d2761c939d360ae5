"""A 10,000-call native batch on a LocalCluster of 2 worker processes: DaskExecutor vs one task per call.

Run: `uv run python executors/dask/bench_quick.py [calls]`. Both run on the same cluster, in the same run.
"""

from __future__ import annotations

import sys
import time

from distributed import Client
from toolwire import Job, Tool
from toolwire_dask import DaskExecutor
from toolwire_dask._cluster import start_local_cluster


def add(a: int, b: int) -> int:
    return a + b


def main(calls: int) -> None:
    tool = Tool("add", "Add two integers.", {"type": "object", "properties": {}}, add)
    jobs = [Job(str(i), tool, {"a": i, "b": 1}, time.monotonic() + 600) for i in range(calls)]
    expected = [i + 1 for i in range(calls)]
    with start_local_cluster(2) as cluster, Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2)
        executor = DaskExecutor(client=client)
        executor.run(jobs[:10])  # connect and ship the tool, as any first batch does
        started = time.perf_counter()
        outcomes = executor.run(jobs)
        chunked = time.perf_counter() - started
        assert [o.value for o in outcomes] == expected

        started = time.perf_counter()
        futures = [client.submit(add, i, 1, pure=False) for i in range(calls)]
        values = client.gather(futures)
        per_call = time.perf_counter() - started
        assert values == expected
        executor.close()
    print(f"{calls} calls on a LocalCluster of 2 worker processes")
    print(f"  DaskExecutor (chunked):  {chunked:8.3f} s")
    print(f"  one Dask task per call:  {per_call:8.3f} s")
    print(f"  speed-up:                {per_call / chunked:8.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)

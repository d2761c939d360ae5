"""Quick throughput check: ProcessExecutor.run vs. a bare multiprocessing pool (one chunk per worker)."""

import multiprocessing
import operator
import time

from toolwire import ExecutorConfig, Job, Tool
from toolwire_process import ProcessExecutor

WORKERS = 2
OPS = [operator.add, operator.sub, operator.mul, operator.truediv]


def call(op, a, b):
    return OPS[op](a, b)


def jobs(tools, n):
    return [Job(str(i), tools[i % 4], {"a": i, "b": i + 1}) for i in range(n)]


def main() -> None:
    schema = {"type": "object"}
    tools = [Tool(f.__name__, "", schema, f) for f in (lambda a, b: a + b, lambda a, b: a - b,
                                                       lambda a, b: a * b, lambda a, b: a / b)]
    started = time.perf_counter()
    executor = ProcessExecutor(ExecutorConfig(workers=WORKERS))
    executor.run(jobs(tools, 100))
    print(f"toolwire cold (start + 100 calls): {time.perf_counter() - started:.3f}s")
    for n in (100, 10_000):
        batch = jobs(tools, n)
        best = min(_time(executor.run, batch) for _ in range(5))
        print(f"toolwire warm {n:>6}: {best * 1000:8.2f} ms  {n / best:10.0f} calls/s")
    executor.close()
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        pool.starmap(call, [(i % 4, i, i + 1) for i in range(100)], chunksize=50)
        print(f"pool cold (start + 100 calls):     {time.perf_counter() - started:.3f}s")
        for n in (100, 10_000):
            args = [(i % 4, i, i + 1) for i in range(n)]
            best = min(_time(pool.starmap, call, args, n // WORKERS) for _ in range(5))
            print(f"floor    warm {n:>6}: {best * 1000:8.2f} ms  {n / best:10.0f} calls/s")


def _time(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()

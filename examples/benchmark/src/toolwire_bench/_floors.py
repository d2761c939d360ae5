"""The floors: the same calls made with no tool library at all. `python -m toolwire_bench._floors SPEC.json`.

- `multiprocessing`: a bare `multiprocessing.Pool`, the calls sent in one chunk per worker;
- `bare-loop`: the same OpenAI chat tool-call dicts, each one `json.loads(arguments)` then the function
  called directly, in one thread: the least any Python tool layer can do per call (the registry's own
  per-call cost is measured against it);
- `http.client`: one keep-alive stdlib connection making the calls one after another;
- `http-capacity`: the OpenAPI service's capacity, the calls made concurrently over `CAPACITY_CONNECTIONS`
  keep-alive connections by the lean asyncio client (`_raw_http`, ~50 µs of CPU a call): about the most any
  client can get from the service on this machine;
- `mcp-session`: one bare `mcp` client session making the calls concurrently;
- `dask-task-per-call`: one Dask task per call (`client.submit(fn, a, b)`, then `gather`) on a LocalCluster
  started by the dask backend's own code, so of the same kind as its: the naive use of Dask that the
  backend's chunking is measured against.

As with the contenders, the first batch is cold: the pool, connection or session starts inside it.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any
from urllib.parse import urlsplit

from toolwire_bench import arith
from toolwire_bench._measure import BatchRunner, Outcome, Workload, openai_calls, run_spec
from toolwire_bench._raw_http import RawClient

BARE_LOOP = "bare-loop"
"""The native scenarios' second floor: the calls parsed with `json.loads` and made directly, one thread."""
HTTP_CAPACITY = "http-capacity"
"""The OpenAPI scenario's second floor: the most the calculator service answers, to a lean concurrent client."""
CAPACITY_CONNECTIONS = 16

_Transport = Callable[[], AbstractAsyncContextManager[Any]]
"""Opens an MCP client transport: its read and write streams."""


@contextmanager
def build(spec: dict[str, Any], workload: Workload) -> Iterator[BatchRunner]:
    """The spec's floor for the spec's scenario."""
    floor, endpoints = spec["backend"], spec["endpoints"]
    if floor == "multiprocessing":
        with _pool_floor(workload, spec.get("workers") or os.cpu_count() or 1) as run_batch:
            yield run_batch
    elif floor == BARE_LOOP:
        yield _bare_loop(workload)
    elif floor == "http.client":
        with _http_floor(workload, endpoints["openapi"]) as run_batch:
            yield run_batch
    elif floor == HTTP_CAPACITY:
        with _http_capacity(workload, endpoints["openapi"]) as run_batch:
            yield run_batch
    elif floor == "mcp-session":
        with _mcp_floor(workload, spec["scenario"], endpoints) as run_batch:
            yield run_batch
    elif floor == "dask-task-per-call":
        with _dask_per_call_floor(workload, spec["workers"]) as run_batch:
            yield run_batch
    else:
        raise ValueError(f"unknown floor {floor!r}")


def run_chunk(chunk: Sequence[tuple[str, int, int]]) -> list[Outcome]:
    """Run calls in a pool worker: the same functions the native scenarios register."""
    outcomes: list[Outcome] = []
    for op, a, b in chunk:
        try:
            outcomes.append((True, getattr(arith, op)(a, b)))
        except Exception as exc:
            outcomes.append((False, f"{type(exc).__name__}: {exc}"))
    return outcomes


def _bare_loop(workload: Workload) -> BatchRunner:
    calls = openai_calls(workload, {op: op for op in arith.OPS})
    functions = {op: getattr(arith, op) for op in arith.OPS}

    def run_batch() -> list[Outcome]:
        outcomes: list[Outcome] = []
        for call in calls:
            function = call["function"]
            try:
                outcomes.append((True, functions[function["name"]](**json.loads(function["arguments"]))))
            except Exception as exc:
                outcomes.append((False, f"{type(exc).__name__}: {exc}"))
        return outcomes

    return run_batch


@contextmanager
def _pool_floor(workload: Workload, workers: int) -> Iterator[BatchRunner]:
    size = -(-len(workload) // workers)
    chunks = [workload[i:i + size] for i in range(0, len(workload), size)]
    pools: list[Any] = []

    def run_batch() -> list[Outcome]:
        if not pools:
            pools.append(multiprocessing.Pool(workers))
        return [outcome for part in pools[0].map(run_chunk, chunks, chunksize=1) for outcome in part]

    try:
        yield run_batch
    finally:
        for pool in pools:
            pool.terminate()
            pool.join()


@contextmanager
def _dask_per_call_floor(workload: Workload, workers: int | None) -> Iterator[BatchRunner]:
    from toolwire import ExecutorConfig
    from toolwire_dask import DaskExecutor

    # Used only for the LocalCluster and Client it starts at first use (in the cold batch); never to run calls.
    executor = DaskExecutor(ExecutorConfig("dask", workers=workers))
    functions = {op: getattr(arith, op) for op in arith.OPS}

    def run_batch() -> list[Outcome]:
        client = executor.client
        futures = [client.submit(functions[op], a, b, pure=False) for op, a, b in workload]
        values = iter(client.gather(futures, errors="skip"))  # waits for all; a failed call's value is left out
        return [(True, next(values)) if f.status == "finished" else (False, repr(f.exception())) for f in futures]

    try:
        yield run_batch
    finally:
        executor.close()


@contextmanager
def _http_floor(workload: Workload, base_url: str) -> Iterator[BatchRunner]:
    address = urlsplit(base_url)
    paths = [f"/{op}?a={a}&b={b}" for op, a, b in workload]
    connections: list[http.client.HTTPConnection] = []

    def run_batch() -> list[Outcome]:
        if not connections:
            connections.append(http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port))
        connection = connections[0]
        outcomes: list[Outcome] = []
        for path in paths:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            outcomes.append((response.status == 200, json.loads(body)))
        return outcomes

    try:
        yield run_batch
    finally:
        for connection in connections:
            connection.close()


@contextmanager
def _http_capacity(workload: Workload, base_url: str) -> Iterator[BatchRunner]:
    targets = [f"/{op}?a={a}&b={b}" for op, a, b in workload]
    loop = asyncio.new_event_loop()
    clients: list[RawClient] = []

    async def call_all() -> list[Outcome]:
        if not clients:
            clients.append(RawClient(base_url, CAPACITY_CONNECTIONS))
            await clients[0].open()
        answers = await asyncio.gather(*(clients[0].get(target) for target in targets))
        return [(status == 200, body) for status, body in answers]

    try:
        yield lambda: loop.run_until_complete(call_all())
    finally:
        for client in clients:
            loop.run_until_complete(client.close())
        loop.close()


@contextmanager
def _mcp_floor(workload: Workload, scenario: str, endpoints: dict[str, Any]) -> Iterator[BatchRunner]:
    open_streams = _mcp_transport(scenario, endpoints)  # imports mcp now, outside the timed batches
    loop = asyncio.new_event_loop()
    done = asyncio.Event()
    held: list[tuple[Any, asyncio.Task[None]]] = []

    async def call_all() -> list[Outcome]:
        if not held:
            ready: asyncio.Future[Any] = loop.create_future()
            holder = loop.create_task(_hold_session(open_streams, ready, done))
            held.append((await ready, holder))
        session = held[0][0]
        results = await asyncio.gather(*(session.call_tool(op, {"a": a, "b": b}) for op, a, b in workload))
        return [_mcp_outcome(result) for result in results]

    try:
        yield lambda: loop.run_until_complete(call_all())
    finally:
        done.set()
        for _, holder in held:
            loop.run_until_complete(holder)
        loop.close()


async def _hold_session(open_streams: _Transport, ready: asyncio.Future[Any], done: asyncio.Event) -> None:
    """Open the session and keep it open until `done`, in one task (as anyio's cancel scopes require)."""
    from mcp import ClientSession

    try:
        async with open_streams() as streams, ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            ready.set_result(session)
            await done.wait()
    except Exception as exc:
        if ready.done():
            raise
        ready.set_exception(exc)


def _mcp_transport(scenario: str, endpoints: dict[str, Any]) -> _Transport:
    """A factory of the scenario's client transport (its read and write streams)."""
    import mcp  # noqa: F401 - the whole SDK is imported here, before any timing

    if scenario == "mcp-stdio":
        from mcp.client.stdio import StdioServerParameters, stdio_client

        command = endpoints["mcp-stdio"]
        parameters = StdioServerParameters(command=command[0], args=list(command[1:]))
        return lambda: stdio_client(parameters)
    if scenario == "mcp-sse":
        from mcp.client.sse import sse_client

        return lambda: sse_client(endpoints["mcp-sse"])
    from mcp.client.streamable_http import streamable_http_client

    return lambda: streamable_http_client(endpoints["mcp-http"])


def _mcp_outcome(result: Any) -> Outcome:
    text = "".join(getattr(block, "text", "") for block in result.content)
    if result.is_error:
        return (False, text)
    return (True, result.structured_content if result.structured_content is not None else text)


if __name__ == "__main__":
    run_spec(build)

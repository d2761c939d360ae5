"""A quick measure of toolwire-openapi's call rate against the test calculator (not a test).

Starts the FastAPI service of tests/_support.py in a uvicorn subprocess on 127.0.0.1 and reports calls/s:

- floor: a bare `http.client` keep-alive loop making the same GETs;
- httpx: a bare `httpx.AsyncClient`, the same GETs gathered on one loop (bounded like the invoker);
- invoker (async): the `add` tool's async invoker, calls gathered on one loop (its own semaphore bounds them);
- registry/<backend>/<client>: `ToolRegistry.execute_tool_calls` on each installed backend, for each client.

    uv run python plugins/openapi/bench_quick.py [--calls 100 10000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import http.client
import json
import pstats
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from toolwire import ToolCall, ToolRegistry
from toolwire_openapi import OpenAPILoader

HERE = Path(__file__).parent


def serve() -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    support = str(HERE / "tests" / "_support.py")
    code = (
        "import uvicorn, importlib.util;"
        f"spec = importlib.util.spec_from_file_location('support', {support!r});"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
        f"uvicorn.run(m.service, host='127.0.0.1', port={port}, log_level='warning', access_log=False)"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the calculator service did not start")


def floor(port: int, calls: int) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    started = time.perf_counter()
    for i in range(calls):
        connection.request("GET", f"/calculator/add?a={i}&b=2")
        response = connection.getresponse()
        assert json.loads(response.read())["result"] == i + 2
    elapsed = time.perf_counter() - started
    connection.close()
    return calls / elapsed


async def bare_httpx(port: int, calls: int, in_flight: int = 4) -> float:
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(limits=limits) as client:
        gate = asyncio.Semaphore(in_flight)

        async def one(i: int) -> None:
            async with gate:
                response = await client.get(f"http://127.0.0.1:{port}/calculator/add", params={"a": i, "b": 2})
                assert response.json()["result"] == i + 2

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(calls)))
        return calls / (time.perf_counter() - started)


async def invoker(tool, calls: int) -> float:
    started = time.perf_counter()
    results = await asyncio.gather(*(tool.invoker(a=i, b=2) for i in range(calls)))
    elapsed = time.perf_counter() - started
    assert [r["result"] for r in results] == [i + 2 for i in range(calls)]
    return calls / elapsed


def registry_rate(url: str, backend: str, client: str, calls: int) -> tuple[float, int]:
    with ToolRegistry(executor=backend) as registry:
        registry.load("openapi", url, operations=["add"], client=client)
        registry.execute_tool_calls([ToolCall("warm", "add", {"a": 0, "b": 0})])
        batch = [ToolCall(str(i), "add", {"a": i, "b": 2}) for i in range(calls)]
        started = time.perf_counter()
        results = registry.execute_tool_calls(batch, timeout=600)
        elapsed = time.perf_counter() - started
    return calls / elapsed, sum(r.is_error for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--profile", action="store_true", help="profile the invoker on the largest batch")
    args = parser.parse_args()
    process, port = serve()
    url = f"http://127.0.0.1:{port}/openapi.json"
    try:
        [tool] = OpenAPILoader(operations=["add"], client="async").load(url)
        backends = [b for b in ("thread", "process") if b in ToolRegistry().plugins.executors()]
        for calls in args.calls:
            floor(port, 20)
            rates = {"floor (http.client)": floor(port, calls)}
            rates["httpx.AsyncClient"] = asyncio.run(bare_httpx(port, calls))
            rates["invoker (async)"] = asyncio.run(invoker(tool, calls))
            errors = {}
            for backend in backends:
                for client in ("sync", "async"):
                    name = f"registry/{backend}/{client}"
                    rates[name], errors[name] = registry_rate(url, backend, client, calls)
            print(f"{calls} calls")
            for name, rate in rates.items():
                share = rate / rates["floor (http.client)"]
                extra = f"  errors={errors[name]}" if name in errors else ""
                print(f"  {name:<24} {rate:8.0f} calls/s  ({share:4.0%} of floor){extra}")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            asyncio.run(invoker(tool, max(args.calls)))
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()

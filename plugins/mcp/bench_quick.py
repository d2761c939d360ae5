"""A quick measure of MCP tool-call throughput: toolwire's invokers against one bare `mcp` session.

For each transport (stdio, SSE, streamable HTTP) it starts the test arithmetic server, measures the
floor (one bare `mcp.Client` making BATCH `add` calls concurrently), then the same calls through a
`ToolRegistry` on the thread and process backends, and prints calls/s (best of ROUNDS batches); then one
batch of BIG calls on the thread backend, with its error count.

    uv run python plugins/mcp/bench_quick.py [--batch 100] [--rounds 5] [--big 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from toolwire import ToolCall, ToolRegistry

SERVER = Path(__file__).parent / "tests" / "arith_server.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def http_server(transport: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, str(SERVER), "--transport", transport, "--port", str(port)]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        give_up = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > give_up or process.poll() is not None:
                    raise RuntimeError(f"the {transport} server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}{'/sse' if transport == 'sse' else '/mcp'}"
    finally:
        process.terminate()
        process.wait(10)


def best_rate(run_batch: Callable[[], Any], batch: int, rounds: int) -> float:
    run_batch()  # warm up: connect, spawn, ship tools
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run_batch()
        best = min(best, time.perf_counter() - started)
    return batch / best


def floor(target_of: Callable[[], Any], batch: int, rounds: int) -> float:
    """One bare `mcp` client session making the calls concurrently."""
    from mcp import Client

    async def measure() -> float:
        async with Client(target_of()) as client:
            await client.list_tools()

            async def run_batch() -> None:
                results = await asyncio.gather(*(client.call_tool("add", {"a": i, "b": 1}) for i in range(batch)))
                assert all(not r.is_error for r in results)

            await run_batch()
            best = float("inf")
            for _ in range(rounds):
                started = time.perf_counter()
                await run_batch()
                best = min(best, time.perf_counter() - started)
            return batch / best

    return asyncio.run(measure())


def toolwire_rate(source: Any, options: dict[str, Any], backend: str, batch: int, rounds: int) -> float:
    with ToolRegistry(executor=backend) as registry:
        registry.load("mcp", source, include="add", **options)
        calls = [ToolCall(str(i), "add", {"a": i, "b": 1}) for i in range(batch)]

        def run_batch() -> None:
            results = registry.execute_tool_calls(calls, timeout=600)
            errors = [r.error for r in results if r.is_error]
            assert not errors, errors[:3]

        return best_rate(run_batch, batch, rounds)


def big_batch(source: Any, options: dict[str, Any], size: int) -> str:
    """One batch of `size` calls on the thread backend: its rate and how many calls failed."""
    with ToolRegistry(executor="thread") as registry:
        registry.load("mcp", source, include="add", **options)
        calls = [ToolCall(str(i), "add", {"a": i, "b": 1}) for i in range(size)]
        started = time.perf_counter()
        results = registry.execute_tool_calls(calls, timeout=600)
        elapsed = time.perf_counter() - started
    wrong = sum(r.is_error or r.value != {"total": i + 1} for i, r in enumerate(results))
    return f"{size} calls: {size / elapsed:.0f}/s, {wrong} errors"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--big", type=int, default=10_000, help="size of one large batch per transport (0: skip)")
    options = parser.parse_args()
    backends = [name for name in ("thread", "process") if name in ToolRegistry().plugins.executors()]
    command = [sys.executable, str(SERVER)]

    print(f"{'transport':<16}{'floor':>10}" + "".join(f"{name:>18}" for name in backends))
    for transport in ("stdio", "sse", "streamable-http"):
        with http_server(transport) if transport != "stdio" else _nothing() as url:
            if transport == "stdio":
                from mcp import StdioServerParameters

                def target_of() -> Any:
                    return StdioServerParameters(command=command[0], args=command[1:])

                source: Any = command
            elif transport == "sse":
                from mcp.client.sse import sse_client

                def target_of() -> Any:
                    return sse_client(url)

                source = url
            else:
                source = url

                def target_of() -> Any:
                    return url

            base = floor(target_of, options.batch, options.rounds)
            row = f"{transport:<16}{base:>10.0f}"
            for backend in backends:
                rate = toolwire_rate(source, {"transport": transport}, backend, options.batch, options.rounds)
                row += f"{rate:>10.0f} ({rate / base:>4.0%})"
            if options.big:
                row += "   " + big_batch(source, {"transport": transport}, options.big)
            print(row, flush=True)


@contextmanager
def _nothing() -> Iterator[str]:
    yield ""


if __name__ == "__main__":
    main()

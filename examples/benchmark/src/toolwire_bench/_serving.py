"""Serving under load (issue 16): 10 MCP clients, each with 10 calls in flight, against the same four
arithmetic functions served over streamable HTTP by `toolwire serve mcp` (thread and process backends),
by FastMCP, by the mcp SDK's `MCPServer` directly (the floor), and by `toolwire serve mcp` as a gateway
in front of that `MCPServer` (the gateway overhead). Every server runs in a subprocess of its own; the
client is the same for all (the mcp SDK's `Client`, one session per client, all on one event loop).

`python -m toolwire_bench._serving serve KIND PORT` runs one server; `measure()` drives them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from typing import Any

from toolwire_bench import arith
from toolwire_bench.servers import McpEndpoint, _serving, free_port, mcp_server

__all__ = ["CONTENDERS", "measure"]

CONTENDERS = ("toolwire thread", "toolwire process", "fastmcp", "floor", "gateway")
CLIENTS = 10
IN_FLIGHT = 10
TARGETS = {"vs fastmcp": 1.5, "of floor": 0.9, "gateway overhead": 0.15}


def measure(rounds: int, contenders: tuple[str, ...] = CONTENDERS) -> dict[str, Any]:
    """Each contender's warm calls/s (median of `rounds` rounds of 100 concurrent calls, after one warm-up
    round), and the errors seen."""
    rows = []
    for kind in contenders:
        with _server(kind) as url:
            rates, errors = asyncio.run(_drive(url, rounds))
        rows.append({"contender": kind, "calls_per_s": statistics.median(rates), "rounds": rounds,
                     "errors": errors})
    rate = {row["contender"]: row["calls_per_s"] for row in rows}
    ratios = {}
    if "toolwire thread" in rate and "fastmcp" in rate:
        ratios["vs fastmcp"] = rate["toolwire thread"] / rate["fastmcp"]
    if "toolwire thread" in rate and "floor" in rate:
        ratios["of floor"] = rate["toolwire thread"] / rate["floor"]
    if "gateway" in rate and "floor" in rate:
        ratios["gateway overhead"] = rate["floor"] / rate["gateway"] - 1
    return {"clients": CLIENTS, "in_flight": IN_FLIGHT, "rows": rows, "ratios": ratios, "targets": TARGETS}


async def _drive(url: str, rounds: int) -> tuple[list[float], int]:
    from mcp import Client

    errors = 0
    rates = []
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(Client(url)) for _ in range(CLIENTS)]
        for index in range(1 + rounds):
            started = time.perf_counter()
            results = await asyncio.gather(*(
                client.call_tool(arith.OPS[(c + i) % 4], {"a": c + i + 1, "b": 2})
                for c, client in enumerate(clients) for i in range(IN_FLIGHT)))
            elapsed = time.perf_counter() - started
            errors += sum(1 for result in results if result.is_error)
            if index:
                rates.append(len(results) / elapsed)
    return rates, errors


def _server(kind: str) -> Any:
    @contextlib.contextmanager
    def serving() -> Any:
        if kind == "floor":
            with mcp_server("streamable-http") as endpoint:
                yield endpoint.url
            return
        if kind == "gateway":
            with mcp_server("streamable-http") as upstream:
                port = free_port()
                with _serving((sys.executable, "-m", "toolwire_bench._serving", "serve", kind, str(port),
                               _url(upstream)), port, 60):
                    yield f"http://127.0.0.1:{port}/mcp"
            return
        port = free_port()
        with _serving((sys.executable, "-m", "toolwire_bench._serving", "serve", kind, str(port)), port, 60):
            yield f"http://127.0.0.1:{port}/mcp"

    return serving()


def _url(endpoint: McpEndpoint) -> str:
    assert endpoint.url is not None
    return endpoint.url


def _serve(kind: str, port: int, upstream: str | None) -> None:
    if kind == "fastmcp":
        from fastmcp import FastMCP

        server = FastMCP("arith")
        for op in arith.OPS:
            server.tool(getattr(arith, op))
        server.run("streamable-http", host="127.0.0.1", port=port, show_banner=False, log_level="WARNING")
        return
    from toolwire import ToolRegistry

    backend = "thread" if kind in ("toolwire thread", "gateway") else "process"
    registry = ToolRegistry(executor=backend)
    if upstream is not None:
        registry.load("mcp", upstream)
    else:
        for op in arith.OPS:
            registry.register(getattr(arith, op))
    registry.serve("mcp", transport="streamable-http", host="127.0.0.1", port=port)


if __name__ == "__main__":
    _serve(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)

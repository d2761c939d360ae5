"""Serving under load (issue 16): 10 clients, each with 10 calls in flight, against the same four arithmetic
functions, each server in a subprocess of its own on 127.0.0.1.

- MCP over streamable HTTP: `toolwire serve mcp` on the thread and process backends, FastMCP,
  toolregistry-server 0.7.0 (in its own isolated environment, as toolregistry is), the mcp SDK's
  `MCPServer` serving the functions directly (the floor), and `toolwire serve mcp` as a gateway in front of
  that `MCPServer`, beside FastMCP's proxy (`create_proxy`) in front of it, the peer's gateway.
- HTTP (each operation's path read from the server's `/openapi.json`): `toolwire serve http` on both
  backends and toolregistry-server's OpenAPI service.
- Each contender is driven twice: by the lean client of `toolwire_bench._raw_http` (the rates the targets
  use: it costs the machine little, so they say what the servers can do) and by the libraries' own clients
  (the mcp SDK's `Client`, one session per client; httpx), which are slower than the servers here.
- A 10,000-call run: 10 mcp SDK clients against `toolwire serve mcp` (thread), every value checked.

Each row also says how much CPU the servers (every process under the benchmark's, workers included) and
the clients (the benchmark's own process) spent per call.

`python -m toolwire_bench._serving mcp|http KIND PORT [UPSTREAM]` runs one of toolwire's or FastMCP's servers;
`measure()` drives them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from toolwire_bench import arith
from toolwire_bench._harness import compile_bytecode, toolregistry_command
from toolwire_bench._measure import expected, number
from toolwire_bench._raw_http import mcp_call_body, mcp_headers, mcp_value, raw_client
from toolwire_bench.servers import McpEndpoint, _serving, free_port, mcp_server

__all__ = ["HTTP_CONTENDERS", "MCP_CONTENDERS", "measure"]

MCP_CONTENDERS = ("toolwire thread", "toolwire process", "fastmcp", "toolregistry-server", "floor", "gateway",
                  "fastmcp gateway", "fastmcp gateway, shared session")
HTTP_CONTENDERS = ("toolwire thread", "toolwire process", "toolregistry-server")
TOOLREGISTRY_SERVER = "toolregistry-server[mcp,openapi]==0.7.0"
CLIENTS = 10
IN_FLIGHT = 10
LONG_RUN = 10_000
TARGETS = {"mcp vs fastmcp": 1.5, "mcp vs toolregistry-server": 1.5, "http vs toolregistry-server": 1.5,
           "mcp of floor": 0.9, "mcp gateway overhead": 0.15}
_SIDE = Path(__file__).with_name("_toolregistry_server_side.py")

Call = Callable[[int, str, int, int], Awaitable[float | None]]
"""`call(client, op, a, b)`: the value a served operation answered, or None for an error."""


def measure(rounds: int, long_run: int = LONG_RUN, only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Each contender's (or those in `only`) warm calls/s (median of `rounds` rounds of 100 concurrent
    calls after one warm-up round), errors and CPU per call; the ratios the issue targets; and a
    `long_run`-call run."""
    toolregistry = None
    if only is None or "toolregistry-server" in only:
        toolregistry = toolregistry_command(TOOLREGISTRY_SERVER)
        if toolregistry is not None:
            compile_bytecode(toolregistry)  # builds its environment once, untimed
    rows = []
    for protocol, contenders in (("mcp", MCP_CONTENDERS), ("http", HTTP_CONTENDERS)):
        for kind in contenders:
            if (only is not None and kind not in only) or (kind == "toolregistry-server" and toolregistry is None):
                continue
            with _server(protocol, kind, toolregistry) as url:
                raw = asyncio.run(_drive(protocol, url, rounds, "raw"))
                rows.append({"protocol": protocol, "contender": kind, **raw,
                             "sdk": asyncio.run(_drive(protocol, url, rounds, "sdk"))})
    with _server("mcp", "toolwire thread", None) as url:
        long = asyncio.run(_long_run(url, long_run))
    return {"clients": CLIENTS, "in_flight": IN_FLIGHT, "rows": rows, "ratios": _ratios(rows),
            "targets": TARGETS, "long_run": long, "toolregistry_server": TOOLREGISTRY_SERVER}


def _ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    rate = {(row["protocol"], row["contender"]): row["calls_per_s"] for row in rows}
    ratios = {}
    for protocol in ("mcp", "http"):
        ours = rate.get((protocol, "toolwire thread"))
        for peer in ("fastmcp", "toolregistry-server"):
            if ours and (protocol, peer) in rate:
                ratios[f"{protocol} vs {peer}"] = ours / rate[(protocol, peer)]
    if ("mcp", "toolwire thread") in rate and ("mcp", "floor") in rate:
        ratios["mcp of floor"] = rate[("mcp", "toolwire thread")] / rate[("mcp", "floor")]
    for gateway in ("gateway", "fastmcp gateway", "fastmcp gateway, shared session"):
        if ("mcp", gateway) in rate and ("mcp", "floor") in rate:
            ratios[f"mcp {gateway} overhead"] = rate[("mcp", "floor")] / rate[("mcp", gateway)] - 1
    for peer in ("fastmcp gateway", "fastmcp gateway, shared session"):
        if ("mcp", "gateway") in rate and ("mcp", peer) in rate:
            ratios[f"mcp gateway vs {peer}"] = rate[("mcp", "gateway")] / rate[("mcp", peer)]
    return ratios


async def _drive(protocol: str, url: str, rounds: int, client: str) -> dict[str, Any]:
    async with _clients(protocol, url, client) as call:
        rates: list[float] = []
        errors = calls = 0
        server_cpu = client_cpu = 0.0
        for index in range(1 + rounds):
            server_before, client_before = _servers_cpu(), time.process_time()
            started = time.perf_counter()
            values = await asyncio.gather(*(
                _checked(call, c, arith.OPS[(c + i) % 4], c + i + 1, 2)
                for c in range(CLIENTS) for i in range(IN_FLIGHT)))
            elapsed = time.perf_counter() - started
            if index:  # the first round warms up
                rates.append(len(values) / elapsed)
                errors += values.count(False)
                calls += len(values)
                server_cpu += _servers_cpu() - server_before
                client_cpu += time.process_time() - client_before
    return {"calls_per_s": statistics.median(rates), "rounds": rounds, "errors": errors,
            "server_cpu_us": server_cpu / calls * 1e6, "client_cpu_us": client_cpu / calls * 1e6}


async def _long_run(url: str, total: int) -> dict[str, Any]:
    """`total` calls from the clients, each keeping `IN_FLIGHT` in flight; errors and wrong values."""
    async with _clients("mcp", url, "sdk") as call:
        per_client = total // CLIENTS

        async def client(c: int) -> list[bool]:
            outcomes: list[bool] = []
            for start in range(0, per_client, IN_FLIGHT):
                outcomes += await asyncio.gather(*(
                    _checked(call, c, arith.OPS[i % 4], i + 1, c + 2)
                    for i in range(start, min(start + IN_FLIGHT, per_client))))
            return outcomes

        started = time.perf_counter()
        outcomes = [ok for results in await asyncio.gather(*(client(c) for c in range(CLIENTS))) for ok in results]
        elapsed = time.perf_counter() - started
    return {"calls": len(outcomes), "errors": outcomes.count(False), "seconds": elapsed}


async def _checked(call: Call, client: int, op: str, a: int, b: int) -> bool:
    try:
        value = await call(client, op, a, b)
    except Exception:
        return False
    return value is not None and math.isclose(value, expected(op, a, b), rel_tol=1e-9)


@contextlib.asynccontextmanager
async def _clients(protocol: str, url: str, client: str = "raw") -> Any:
    """A `Call` over `CLIENTS` clients: `raw` ones (`toolwire_bench._raw_http`, `IN_FLIGHT` connections each)
    or the libraries' own (`sdk`: the mcp SDK's `Client`, one session each; httpx for HTTP)."""
    async with contextlib.AsyncExitStack() as stack:
        if client == "raw":
            raws = [await stack.enter_async_context(raw_client(url, IN_FLIGHT)) for _ in range(CLIENTS)]
            if protocol == "mcp":
                path = urlsplit(url).path
                ids = itertools.count(1)

                async def call(client: int, op: str, a: int, b: int) -> float | None:
                    status, answer = await raws[client].post(path, mcp_call_body(next(ids), op, {"a": a, "b": b}),
                                                             mcp_headers(op))
                    return number(mcp_value(answer)) if status == 200 else None
            else:
                paths = await _operation_paths(url)

                async def call(client: int, op: str, a: int, b: int) -> float | None:
                    status, answer = await raws[client].post(paths[op], {"a": a, "b": b})
                    return number(answer) if status == 200 else None

        elif protocol == "mcp":
            from mcp import Client

            sessions = [await stack.enter_async_context(Client(url)) for _ in range(CLIENTS)]

            async def call(client: int, op: str, a: int, b: int) -> float | None:
                result = await sessions[client].call_tool(op, {"a": a, "b": b})
                if result.is_error:
                    return None
                if result.structured_content is not None:
                    return number(result.structured_content)
                return number(getattr(result.content[0], "text", None)) if result.content else None

        else:
            import httpx

            clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=60))
                       for _ in range(CLIENTS)]
            paths = await _operation_paths(url)

            async def call(client: int, op: str, a: int, b: int) -> float | None:
                response = await clients[client].post(paths[op], json={"a": a, "b": b})
                return number(response.json()) if response.is_success else None

        yield call


async def _operation_paths(url: str) -> dict[str, str]:
    """Each operation's path, from the server's OpenAPI document."""
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        document = (await client.get("/openapi.json")).json()
    return {operation.get("operationId", ""): path for path, item in document["paths"].items()
            for operation in item.values() if isinstance(operation, dict)}


def _servers_cpu() -> float:
    """CPU seconds spent so far by every live process under this one (servers, their workers)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            times = child.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


@contextlib.contextmanager
def _server(protocol: str, kind: str, toolregistry: list[str] | None) -> Iterator[str]:
    """Run one contender; yields its base URL (MCP: the endpoint)."""
    suffix = "/mcp" if protocol == "mcp" else ""
    if kind == "floor":
        with mcp_server("streamable-http") as endpoint:
            yield _url(endpoint)
        return
    port = free_port()
    if kind == "toolregistry-server":
        assert toolregistry is not None
        with _serving((*toolregistry, str(_SIDE), protocol, str(port)), port, 120):
            yield f"http://127.0.0.1:{port}{suffix}"
        return
    command = [sys.executable, "-m", "toolwire_bench._serving", protocol, kind, str(port)]
    with contextlib.ExitStack() as stack:
        if "gateway" in kind:
            command.append(_url(stack.enter_context(mcp_server("streamable-http"))))
        stack.enter_context(_serving(command, port, 60))
        yield f"http://127.0.0.1:{port}{suffix}"


def _url(endpoint: McpEndpoint) -> str:
    assert endpoint.url is not None
    return endpoint.url


def _serve(protocol: str, kind: str, port: int, upstream: str | None) -> None:
    if kind == "fastmcp":
        from fastmcp import FastMCP

        server = FastMCP("arith")
        for op in arith.OPS:
            server.tool(getattr(arith, op))
        server.run("streamable-http", host="127.0.0.1", port=port, show_banner=False, log_level="WARNING")
        return
    if kind.startswith("fastmcp gateway"):
        asyncio.run(_fastmcp_gateway(upstream, port, shared=kind.endswith("shared session")))
        return
    from toolwire import ToolRegistry

    backend = "process" if kind.endswith("process") else "thread"
    registry = ToolRegistry(executor=backend)
    if upstream is not None:
        registry.load("mcp", upstream)
    else:
        for op in arith.OPS:
            registry.register(getattr(arith, op))
    if protocol == "mcp":
        registry.serve("mcp", transport="streamable-http", host="127.0.0.1", port=port)
    else:
        registry.serve("http", host="127.0.0.1", port=port)


async def _fastmcp_gateway(upstream: str | None, port: int, *, shared: bool) -> None:
    """FastMCP's proxy in front of `upstream`: a session per request (its default for a URL), or one connected
    session for every request (`shared`, as `toolwire serve mcp` keeps one per upstream)."""
    from fastmcp import Client
    from fastmcp.server import create_proxy

    assert upstream is not None
    async with contextlib.AsyncExitStack() as stack:
        target: Any = await stack.enter_async_context(Client(upstream)) if shared else upstream
        await create_proxy(target).run_async("streamable-http", show_banner=False, host="127.0.0.1", port=port,
                                             log_level="WARNING")


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)

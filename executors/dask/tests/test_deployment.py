"""A real deployment on 127.0.0.1: `dask scheduler` and two `dask worker` commands, chosen by a config file."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from toolwire import ErrorKind, ToolCall, ToolRegistry, ToolResult
from toolwire_bench.servers import calculator_service, free_port, mcp_server

BLOCK_S = 60.0


def square(i: int, markers: str) -> list[int]:
    """Square `i` and say which process did it; call 0 blocks (its worker is killed while it runs)."""
    Path(markers, f"{os.getpid()}-{i}").touch()
    time.sleep(BLOCK_S if i == 0 else 0.02)
    return [i * i, os.getpid()]


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """`dask scheduler` and two single-threaded `dask worker` processes (no nanny: a killed worker stays dead)."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    scheduler = _start("distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
                       "--no-dashboard", env=env)
    workers = [_start("distributed.cli.dask_worker", address, "--host", "127.0.0.1", "--nworkers", "1",
                      "--nthreads", "1", "--no-nanny", "--no-dashboard") for _ in range(2)]
    try:
        yield address, workers
    finally:
        for process in [*workers, scheduler]:
            process.kill()
            process.wait(10)


def test_native_openapi_and_mcp_tools_survive_a_killed_worker(
        deployment: tuple[str, list[subprocess.Popen[bytes]]], tmp_path: Path) -> None:
    address, workers = deployment
    loaders = ToolRegistry().plugins.loaders()
    missing = sorted({"openapi", "mcp"} - set(loaders))
    if missing:
        pytest.skip(f"the {' and '.join(missing)} loader(s) are not installed")
    markers = tmp_path / "markers"
    markers.mkdir()
    with calculator_service() as base_url, mcp_server("streamable-http") as endpoint:
        config = tmp_path / "toolwire.toml"
        config.write_text(f'[executor]\nbackend = "dask"\nscheduler = "{address}"\ntimeout = 30\n'
                          f'[[tools]]\nloader = "openapi"\nsource = "{base_url}/openapi.json"\nnamespace = "calc"\n'
                          f'[[tools]]\nloader = "mcp"\nsource = "{endpoint.url}"\nnamespace = "m"\n')
        with ToolRegistry.from_config(config) as registry:
            registry.register(square)
            registry.executor().client.wait_for_workers(2, timeout=60)  # type: ignore[attr-defined]

            remote = [ToolCall(f"{ns}-{i}", f"{ns}_multiply", {"a": i, "b": 3}) for ns in ("calc", "m")
                      for i in range(8)]
            results = registry.execute_tool_calls(remote)
            assert [r.error for r in results] == [None] * len(remote)
            assert [_number(r) for r in results] == [i * 3 for _ in ("calc", "m") for i in range(8)]

            calls = [ToolCall(f"s{i}", "square", {"i": i, "markers": str(markers)}) for i in range(40)]
            outcome: list[list[ToolResult]] = []
            batch = threading.Thread(target=lambda: outcome.append(registry.execute_tool_calls(calls)))
            batch.start()
            victim = _wait_for_marker(markers, "-0", batch)
            [killed] = [w for w in workers if w.pid == victim]
            killed.kill()
            batch.join(60)
            assert not batch.is_alive(), "the batch did not return after its worker was killed"
            [survivor] = [w.pid for w in workers if w is not killed]

            [results] = outcome
            assert len(results) == len(calls)
            crashed = [i for i, r in enumerate(results) if r.error is not None]
            assert 0 in crashed
            assert all(results[i].error.kind == ErrorKind.CRASHED for i in crashed), results[0]
            assert len(crashed) < 10, "calls other than those the killed worker ran failed"
            assert all(r.value == [i * i, survivor] for i, r in enumerate(results) if i not in crashed)

            after = registry.execute_tool_calls([ToolCall("a", "calc_add", {"a": 2, "b": 2}),
                                                 ToolCall("b", "m_subtract", {"a": 5, "b": 3}),
                                                 ToolCall("c", "square", {"i": 3, "markers": str(markers)})])
            assert [_number(after[0]), _number(after[1]), after[2].value] == [4, 2, [9, survivor]]


def test_unreachable_scheduler_is_a_clear_error_at_first_use(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    config = tmp_path / "toolwire.toml"
    config.write_text(f'[executor]\nbackend = "dask"\nscheduler = "{address}"\nconnect_timeout = 1\n')
    with ToolRegistry.from_config(config) as registry:
        registry.register(square)
        with pytest.raises(ConnectionError, match=f"cannot reach the Dask scheduler at {address}"):
            registry.execute_tool_calls([ToolCall("1", "square", {"i": 1, "markers": str(tmp_path)})])


def _number(result: ToolResult) -> float:
    value = result.value
    return value["result"] if isinstance(value, dict) else float(result.text)


def _wait_for_marker(markers: Path, suffix: str, batch: threading.Thread) -> int:
    started = time.monotonic()
    while time.monotonic() - started < 60 and batch.is_alive():
        found = [p.name for p in markers.iterdir() if p.name.endswith(suffix)]
        if found:
            return int(found[0].split("-")[0])
        time.sleep(0.05)
    raise AssertionError("no worker started call 0")

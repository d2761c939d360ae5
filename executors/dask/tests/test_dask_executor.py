from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from distributed import Client, get_task_stream, get_worker
from toolwire import Config, ErrorKind, ExecutorConfig, Job, Outcome, Tool, ToolCall, ToolRegistry, report_progress
from toolwire.executing import listen_progress
from toolwire.testing import Prepares, UnpicklableError, conformance_tools
from toolwire_dask import DaskExecutor
from toolwire_dask._cluster import start_local_cluster
from toolwire_dask._run import CHUNKS_PER_THREAD

_INTS = {"type": "object", "properties": {}}


def pid() -> int:
    return os.getpid()


async def loop_check() -> list[object]:
    """Whether this coroutine runs on its Dask worker's own event loop, and in which process."""
    return [asyncio.get_running_loop() is get_worker().loop.asyncio_loop, os.getpid()]


@pytest.fixture
def executor(client: Client) -> Iterator[DaskExecutor]:
    with DaskExecutor(ExecutorConfig("dask"), client=client) as executor:
        yield executor  # type: ignore[misc]


def _tools() -> dict[str, Tool]:
    return {tool.name: tool for tool in conformance_tools()}


def test_a_local_cluster_is_started_from_config_and_closed_with_the_registry() -> None:
    config = Config(executor=ExecutorConfig("dask", workers=2))
    with ToolRegistry(config=config) as registry:
        registry.register(pid)
        results = registry.execute_tool_calls([ToolCall(str(i), "pid") for i in range(20)])
        assert isinstance(registry.executor(), DaskExecutor)
        assert registry.executor().client.cluster is not None  # type: ignore[attr-defined]
        workers = {r.value for r in results}
    assert all(isinstance(p, int) and p != os.getpid() for p in workers), workers
    _, alive = psutil.wait_procs([psutil.Process(p) for p in workers if psutil.pid_exists(p)], timeout=30)
    assert not alive, f"worker processes still running after close: {alive}"


def test_a_batch_is_sent_in_few_chunks_that_adapt_to_its_size(executor: DaskExecutor, client: Client) -> None:
    threads = sum(client.nthreads().values())
    add = _tools()["add"]
    for size in (6, 2000):
        jobs = [Job(str(i), add, {"a": i, "b": 1}) for i in range(size)]
        with get_task_stream(client=client) as stream:
            outcomes = executor.run(jobs)
        assert [o.value for o in outcomes] == [i + 1 for i in range(size)]
        chunks = [t for t in stream.data if str(t["key"]).startswith("toolwire-chunk-")]
        assert len(chunks) == math.ceil(size / math.ceil(size / (threads * CHUNKS_PER_THREAD)))


def test_each_tool_is_sent_to_the_cluster_once(executor: DaskExecutor, client: Client) -> None:
    add = _tools()["add"]
    executor.run([Job("1", add, {"a": 1, "b": 2})])
    [first] = executor._held.values()
    assert [o.value for o in executor.run([Job(str(i), add, {"a": i, "b": 0}) for i in range(50)])] == list(
        range(50))
    assert list(executor._held.values()) == [first]
    key = executor._shipper.ship(add).key
    loaded = client.run(eval, f"{key!r} in __import__('toolwire_dask._worker', fromlist=['TOOLS']).TOOLS")
    assert set(loaded.values()) == {True}, loaded


def test_a_hanging_call_times_out_and_the_rest_of_its_chunk_runs(client: Client) -> None:
    with DaskExecutor(ExecutorConfig("dask", options={"chunk_size": 10}), client=client) as executor:
        tools = _tools()
        soon, later = time.monotonic() + 0.5, time.monotonic() + 30
        jobs = [Job("h", tools["hang"], {}, soon)] + [Job(str(i), tools["echo"], {"value": i}, later)
                                                       for i in range(9)]
        hung, *rest = executor.run(jobs)
        assert hung.error is not None and hung.error.kind == ErrorKind.TIMEOUT
        assert [(o.error, o.value) for o in rest] == [(None, i) for i in range(9)]


def test_the_calls_after_a_hanging_call_in_its_chunk_do_not_wait_for_it(client: Client) -> None:
    with DaskExecutor(ExecutorConfig("dask", options={"chunk_size": 10}), client=client) as executor:
        tools = _tools()
        deadline = time.monotonic() + 3  # one deadline for the batch, as a registry gives
        jobs = [Job("h", tools["hang"], {}, deadline)] + [Job(str(i), tools["echo"], {"value": i, "delay": 0.05},
                                                              deadline) for i in range(9)]
        hung, *rest = executor.run(jobs)
        assert hung.error is not None and hung.error.kind == ErrorKind.TIMEOUT
        assert [(o.error, o.value) for o in rest] == [(None, i) for i in range(9)]


def test_async_tools_run_on_the_workers_event_loop(executor: DaskExecutor) -> None:
    tool = Tool("loop_check", "", _INTS, loop_check)
    outcomes = executor.run([Job(str(i), tool, {}) for i in range(4)])
    assert [o.error for o in outcomes] == [None] * 4
    assert all(o.value[0] is True and o.value[1] != os.getpid() for o in outcomes), outcomes


@pytest.mark.parametrize(("chunk_size", "lost"), [(10, range(10, 20)), (1, range(17, 18))])
def test_a_call_that_kills_its_worker_loses_its_chunk_and_nothing_else(client: Client, chunk_size: int,
                                                                       lost: range) -> None:
    client.wait_for_workers(2, timeout=30)  # a worker another test ended may still be starting again
    options = {"chunk_size": chunk_size}
    with DaskExecutor(ExecutorConfig("dask", options=options), client=client) as executor:
        tools = _tools()
        jobs = [Job(str(i), tools["add"], {"a": i, "b": 1}) for i in range(40)]
        jobs[17] = Job("boom", tools["crash"], {"code": 3})
        outcomes = executor.run(jobs)
        assert [i for i, o in enumerate(outcomes) if o.error is not None] == list(lost)
        assert all(outcomes[i].error.kind == ErrorKind.CRASHED for i in lost)  # type: ignore[union-attr]
        assert "died" in outcomes[17].error.message  # type: ignore[union-attr]
        assert [o.value for i, o in enumerate(outcomes) if i not in lost] == [i + 1 for i in range(40) if i not in lost]
        client.wait_for_workers(2, timeout=30)
        assert [o.value for o in executor.run([Job(str(i), tools["add"], {"a": i, "b": i}) for i in range(10)])] == [
            2 * i for i in range(10)]


def test_the_tools_survive_the_death_of_the_worker_holding_them() -> None:
    """The only worker dies mid-batch, taking the cluster's copy of the tools with it: the calls after the
    crash still run, on the worker the nanny starts in its place."""
    with (start_local_cluster(1, threads_per_worker=1) as cluster, Client(cluster, set_as_default=False) as client,
          DaskExecutor(ExecutorConfig("dask", options={"chunk_size": 1}), client=client) as executor):
        tools = _tools()
        jobs = [Job(str(i), tools["add"], {"a": i, "b": 1}) for i in range(6)]
        jobs[2] = Job("boom", tools["crash"], {"code": 3})
        outcomes = executor.run(jobs)
        assert [o.error.kind if o.error else o.value for o in outcomes] == [1, 2, ErrorKind.CRASHED, 4, 5, 6]


def forever(path: str) -> Iterator[int]:
    """Yields until it is stopped; says in the file at `path` that it started, then that it stopped."""
    Path(path).write_text("started")
    try:
        while True:
            yield 0
            time.sleep(0.001)
    finally:
        Path(path).write_text("stopped")


def test_an_endless_generator_function_stops_in_its_worker_once_past_its_deadline(client: Client,
                                                                                   tmp_path: Path) -> None:
    """A Dask worker cannot stop a sync call past its deadline: its runner thread is marked abandoned, and
    reading what the generator yields stops at the next item instead of filling the worker's memory."""
    client.wait_for_workers(2, timeout=30)
    said = tmp_path / "said"
    with DaskExecutor(ExecutorConfig("dask"), client=client) as executor, ToolRegistry(executor=executor) as registry:
        registry.register(forever)
        executor.run([Job("warm", _tools()["add"], {"a": 1, "b": 1})])
        [late] = registry.execute_tool_calls([ToolCall("1", "forever", {"path": str(said)})], timeout=2)
    assert late.error is not None and late.error.kind == ErrorKind.TIMEOUT, late
    assert _reads(said, "stopped")


def _reads(path: Path, text: str, within: float = 10) -> bool:
    """Whether the file at `path` says `text` within `within` seconds."""
    ends = time.monotonic() + within
    while not (path.exists() and path.read_text() == text) and time.monotonic() < ends:
        time.sleep(0.05)
    return path.exists() and path.read_text() == text


async def waits_forever(path: str) -> None:
    """Awaits until it is cancelled; says in the file at `path` that it started, then that it stopped."""
    Path(path).write_text("started")
    try:
        await asyncio.Event().wait()
    finally:
        Path(path).write_text("stopped")


@pytest.mark.parametrize("tool", [forever, waits_forever])
def test_a_cancelled_chunk_stops_its_calls_in_its_worker(client: Client, tmp_path: Path, tool: Any) -> None:
    """Dask does not stop a running task it cancels: the worker sees its task cancelled, cancels its async calls
    and marks its sync runner threads abandoned, so reading what a generator yields stops (without a deadline,
    either would run for good)."""
    said = tmp_path / "said"
    with DaskExecutor(ExecutorConfig("dask"), client=client) as executor, ToolRegistry() as registry:
        registry.register(tool)
        jobs = [Job("1", registry.get(tool.__name__), {"path": str(said)})]  # no deadline
        outcomes: list[Outcome] = []
        running = threading.Thread(target=lambda: outcomes.extend(executor.run(jobs)))
        running.start()
        assert _reads(said, "started", 30)
        executor.cancel(jobs)
        running.join(10)
    assert [o.error.kind if o.error else o.value for o in outcomes] == [ErrorKind.CANCELLED]
    assert _reads(said, "stopped")


async def worker_pid() -> int:
    await asyncio.sleep(0.05)
    return os.getpid()


def test_async_calls_sharing_an_affinity_go_to_one_worker(executor: DaskExecutor, client: Client) -> None:
    assert len(client.nthreads()) >= 2
    spread = Tool("spread", "", _INTS, worker_pid)
    shared = Tool("shared", "", _INTS, worker_pid, affinity="http://127.0.0.1:1/mcp")
    assert len({o.value for o in executor.run([Job(str(i), spread, {}) for i in range(40)])}) >= 2
    assert len({o.value for o in executor.run([Job(str(i), shared, {}) for i in range(40)])}) == 1


def test_a_tool_that_cannot_be_shipped_is_that_calls_error(executor: DaskExecutor) -> None:
    opaque = UnpicklableError("held by the closure")
    locked = Tool("locked", "", _INTS, lambda: str(opaque))
    bad, good = executor.run([Job("1", locked, {}), Job("2", _tools()["add"], {"a": 1, "b": 1})])
    assert bad.error is not None and bad.error.kind == ErrorKind.TOOL_ERROR
    assert "cannot be sent to a worker process" in bad.error.message
    assert (good.error, good.value) == (None, 2)


def test_a_result_the_client_cannot_rebuild_fails_its_call_alone(executor: DaskExecutor) -> None:
    """The chunk's records used to be one pickle: one value whose unpickling raised failed every call of it."""
    from toolwire.testing import unrebuildable

    jobs = [Job(str(i), _tools()["add"], {"a": i, "b": 1}) for i in range(20)]
    jobs[7] = Job("7", Tool("unrebuildable", "", _INTS, unrebuildable), {})
    outcomes = executor.run(jobs)
    error = outcomes[7].error
    assert error is not None and error.kind == ErrorKind.TOOL_ERROR
    assert error.message.startswith("the tool's return value cannot be rebuilt here: RuntimeError: not rebuilt (")
    assert [o.value for i, o in enumerate(outcomes) if i != 7] == [i + 1 for i in range(20) if i != 7]


def test_a_result_whose_pickling_raises_system_exit_is_that_calls_error(executor: DaskExecutor) -> None:
    from toolwire.testing import unsendable

    bad, good = executor.run([Job("1", Tool("unsendable", "", _INTS, unsendable), {}),
                              Job("2", _tools()["add"], {"a": 1, "b": 1})])
    assert bad.error is not None and bad.error.kind == ErrorKind.TOOL_ERROR  # the Dask worker died: crashed
    assert bad.error.message == ("the tool's return value (builtins.list) cannot be sent back from the Dask worker: "
                                 "SystemExit: not this one")
    assert (good.error, good.value) == (None, 2)



def counted(steps: int) -> int:
    """Report progress after each step."""
    for step in range(steps):
        report_progress(step + 1, steps, f"step {step + 1}")
    return steps


def test_progress_reported_on_a_worker_reaches_the_listeners_of_its_call_only(executor: DaskExecutor) -> None:
    heard: dict[str, list[tuple[float, float | None, str | None]]] = {"a": [], "b": []}
    stop = listen_progress("a", lambda *progress: heard["a"].append(progress))
    tool = Tool("counted", "Counts.", _INTS, counted)
    try:
        outcomes = executor.run([Job("a", tool, {"steps": 3}), Job("b", tool, {"steps": 2})])
        deadline = time.monotonic() + 10  # events travel through the scheduler, beside the results
        while len(heard["a"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop()
    assert [(o.error, o.value) for o in outcomes] == [(None, 3), (None, 2)]
    assert heard == {"a": [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")], "b": []}

def test_a_client_passed_in_stays_open(client: Client) -> None:
    executor = DaskExecutor(client=client)
    assert executor.run([Job("1", _tools()["add"], {"a": 2, "b": 3})])[0].value == 5
    executor.close()
    assert client.status == "running"
    with pytest.raises(RuntimeError, match="closed"):
        executor.run([Job("1", _tools()["add"], {"a": 2, "b": 3})])


@pytest.mark.parametrize(("options", "message"), [
    ({"schedular": "tcp://127.0.0.1:8786"}, r"unknown option 'schedular' for the dask executor \(did you mean "
                                            r"'scheduler'\?\); accepted: chunk_size, connect_timeout, memory_limit"),
    ({"chunk_size": 0}, "'chunk_size' must be a positive integer"),
    ({"scheduler": 8786}, "'scheduler' must be an address string"),
    ({"connect_timeout": "soon"}, "'connect_timeout' must be a positive number"),
])
def test_bad_options_are_rejected(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DaskExecutor(ExecutorConfig("dask", options=options))


def test_a_local_cluster_of_more_workers_than_a_machine_runs_is_refused() -> None:
    with pytest.raises(ValueError, match=r"a local Dask cluster has at most 1024 workers .*, got 5000"):
        DaskExecutor(ExecutorConfig("dask", workers=5000))
    DaskExecutor(ExecutorConfig("dask", workers=5000, options={"scheduler": "tcp://127.0.0.1:1"})).close()


def test_the_backend_is_found_by_name() -> None:
    spec = ToolRegistry().plugins.get("executor", "dask")
    executor = spec.factory(ExecutorConfig("dask", options={"scheduler": "tcp://127.0.0.1:1"}))
    assert isinstance(executor, DaskExecutor) and executor.scheduler == "tcp://127.0.0.1:1"
    executor.close()


def test_an_unguarded_script_gets_an_error_that_says_what_to_do(tmp_path: Path) -> None:
    body = ("registry = ToolRegistry(config=Config(executor=ExecutorConfig('dask', workers=1)))\n"
            "registry.register(len)\n"
            "print(registry.execute_tool_calls([ToolCall('1', 'len', {'obj': 'abc'})])[0].value)\n"
            "registry.close()\n")
    imports = "from toolwire import Config, ExecutorConfig, ToolCall, ToolRegistry\n"
    script = tmp_path / "script.py"

    script.write_text(imports + body)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("RuntimeError: could not start a local Dask cluster: "), last_line
    assert last_line.endswith('guard its entry point with `if __name__ == "__main__":`'), last_line

    script.write_text(imports + "if __name__ == '__main__':\n" + "".join(f"    {line}\n" for line in body.splitlines()))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "3\n"), done.stderr[-2000:]


def unit_value(unit: object) -> object:
    return getattr(unit, "value", None)


def test_arguments_of_a_class_the_workers_cannot_import_fail_their_own_calls(
    executor: DaskExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "client_only_units.py").write_text("import enum\nclass Unit(enum.Enum):\n    C = 'celsius'\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # here only: the workers started without it
    from client_only_units import Unit  # type: ignore[import-not-found]

    tool = Tool("unit_value", "", _INTS, unit_value)
    jobs = [Job(str(i), tool, {"unit": Unit.C if i == 3 else i}) for i in range(8)]
    with DaskExecutor(ExecutorConfig("dask", options={"chunk_size": 8}), client=executor.client) as chunked:
        outcomes = chunked.run(jobs)
    assert [o.value for i, o in enumerate(outcomes) if i != 3] == [None] * 7  # ints have no .value: they ran
    assert all(o.error is None for i, o in enumerate(outcomes) if i != 3)
    error = outcomes[3].error
    assert error is not None and error.kind == ErrorKind.TOOL_ERROR
    assert error.message.startswith("the argument 'unit' holds a client_only_units.Unit, which the worker process "
                                    "cannot import (ModuleNotFoundError: No module named 'client_only_units')")


@pytest.mark.parametrize("tool", ["hang", "async_hang"])
def test_the_calls_of_a_chunk_that_finish_reach_the_client_before_the_one_it_waits_on(client: Client,
                                                                                      tool: str) -> None:
    with DaskExecutor(ExecutorConfig("dask", options={"chunk_size": 10}), client=client) as executor:
        tools = _tools()
        started = time.monotonic()
        deadline = started + 2.5
        quick = "async_echo" if tool == "async_hang" else "echo"
        jobs = [Job(str(i), tools[quick], {"value": i, "delay": 0.05}, deadline) for i in range(5)]
        jobs.insert(2, Job("h", tools[tool], {}, deadline))
        reported: dict[str, float] = {}
        for job in jobs:
            job.on_report(lambda outcome, job=job: reported.setdefault(job.call_id, time.monotonic() - started))
        outcomes = executor.run(jobs)
        assert [o.value for o in outcomes if o.error is None] == list(range(5))
        assert max(reported[str(i)] for i in range(5)) < 1.5, reported  # not at the hung call's deadline (2.5 s)
        assert reported["h"] >= 2.5


def test_warm_prepares_every_tool_on_every_worker_before_any_call(client: Client, tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {}}
    folder = str(tmp_path)
    invokers = [Prepares(folder, kind) for kind in ("sync", "async", "fails")]
    with ToolRegistry(executor=DaskExecutor(ExecutorConfig("dask"), client=client)) as registry:
        for invoker in invokers:
            registry.add(Tool(invoker.kind, "", schema, invoker))
        registry.warm()
        workers = client.run(os.getpid).values()
        assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
            f"{kind}-{pid}" for kind in ("sync", "async") for pid in workers)
        results = registry.execute_tool_calls([ToolCall(kind, kind, {}) for kind in ("sync", "async", "fails")])
        assert [(r.value, r.error) for r in results] == [("sync", None), ("async", None), ("fails", None)]


def test_with_prepare_false_warm_leaves_the_tools_to_their_first_tasks(client: Client, tmp_path: Path) -> None:
    executor = DaskExecutor(ExecutorConfig("dask", options={"prepare": False}), client=client)
    with ToolRegistry(executor=executor) as registry:
        registry.add(Tool("sync", "", {"type": "object", "properties": {}}, Prepares(str(tmp_path), "sync")))
        registry.warm()
        assert list(tmp_path.iterdir()) == []
        [result] = registry.execute_tool_calls([ToolCall("s", "sync", {})])
        assert (result.value, result.error) == ("sync", None)

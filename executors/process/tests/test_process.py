"""The process backend's own promises: isolation, shipping once, recycling, no leaked processes or fds."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from toolwire import Config, ErrorKind, ExecutorConfig, Job, Tool, ToolCall, ToolRegistry, report_progress
from toolwire.executing import listen_progress
from toolwire.testing import Prepares, add, crash
from toolwire_process import ProcessExecutor
from toolwire_process._process import WorkerProcess
from toolwire_shipping.packing import Shipper

SCHEMA = {"type": "object", "properties": {}}


def _tool(name: str, invoker: object) -> Tool:
    return Tool(name, f"{name} tool", SCHEMA, invoker)  # type: ignore[arg-type]


@pytest.fixture
def executor() -> Iterator[ProcessExecutor]:
    executor = ProcessExecutor(ExecutorConfig(workers=2))
    yield executor
    executor.close()


def test_lambdas_and_closures_travel_by_value(executor: ProcessExecutor) -> None:
    offset = 10
    jobs = [Job("1", _tool("double", lambda x: 2 * x), {"x": 4}),
            Job("2", _tool("shift", lambda x: x + offset), {"x": 1})]
    assert [(o.error, o.value) for o in executor.run(jobs)] == [(None, 8), (None, 11)]



def counted(steps: int) -> int:
    """Report progress after each step; an odd progress value first, which must not break the call."""
    report_progress("not a number")  # type: ignore[arg-type]
    for step in range(steps):
        report_progress(step + 1, steps, f"step {step + 1}")
    return steps


async def counted_async(steps: int) -> int:
    """`counted`, on the worker's event loop."""
    for step in range(steps):
        report_progress(step + 1, steps)
        await asyncio.sleep(0)
    return steps


def test_progress_reported_in_a_worker_reaches_the_listeners_of_its_call_only(executor: ProcessExecutor) -> None:
    heard: dict[str, list[tuple[float, float | None, str | None]]] = {"a": [], "b": [], "c": []}
    stops = [listen_progress(call_id, lambda *p, c=call_id: heard[c].append(p)) for call_id in ("a", "c")]
    try:
        outcomes = executor.run([Job("a", _tool("counted", counted), {"steps": 3}),
                                 Job("b", _tool("counted", counted), {"steps": 2}),
                                 Job("c", _tool("counted_async", counted_async), {"steps": 2})])
    finally:
        for stop in stops:
            stop()
    assert [(o.error, o.value) for o in outcomes] == [(None, 3), (None, 2), (None, 2)]
    assert heard == {"a": [(1.0, 3.0, "step 1"), (2.0, 3.0, "step 2"), (3.0, 3.0, "step 3")], "b": [],
                     "c": [(1.0, 2.0, None), (2.0, 2.0, None)]}


def test_a_progress_listener_that_fails_loses_the_report_not_the_call_or_the_batch(
        executor: ProcessExecutor, caplog: pytest.LogCaptureFixture) -> None:
    def broken(progress: float, total: float | None, message: str | None) -> None:
        raise RuntimeError("the client is gone")

    stop = listen_progress("a", broken)
    try:
        outcomes = executor.run([Job("a", _tool("counted", counted), {"steps": 2}),
                                 Job("b", _tool("counted", counted), {"steps": 1})])
    finally:
        stop()
    assert [(o.error, o.value) for o in outcomes] == [(None, 2), (None, 1)]
    assert "a progress listener failed for call a" in caplog.text


_running = 0


async def overlapping() -> int:
    """How many calls of this tool were running in this worker at once, at the peak seen by this call."""
    global _running
    _running += 1
    try:
        await asyncio.sleep(0.2)
        return _running
    finally:
        _running -= 1


def test_the_async_calls_of_a_batch_run_together_in_each_worker(executor: ProcessExecutor) -> None:
    tool = _tool("overlapping", overlapping)
    outcomes = executor.run([Job(str(i), tool, {}) for i in range(8)])
    assert all(o.error is None for o in outcomes)
    assert max(o.value for o in outcomes) >= 3  # 8 calls, 2 workers: one chunk each, run on one loop


async def worker_pid() -> int:
    await asyncio.sleep(0.05)
    return os.getpid()


def test_async_calls_sharing_an_affinity_stay_in_one_worker(executor: ProcessExecutor) -> None:
    spread = _tool("spread", worker_pid)
    shared = Tool("shared", "shared tool", SCHEMA, worker_pid, affinity="http://127.0.0.1:1/mcp")
    assert len({o.value for o in executor.run([Job(str(i), spread, {}) for i in range(8)])}) == 2
    assert len({o.value for o in executor.run([Job(str(i), shared, {}) for i in range(8)])}) == 1


async def on_shared_loop() -> bool:
    from toolwire.loop import shared_loop

    return asyncio.get_running_loop() is shared_loop().loop


def test_async_tools_run_on_the_workers_shared_background_loop(executor: ProcessExecutor) -> None:
    outcomes = executor.run([Job(str(i), _tool("on_shared_loop", on_shared_loop), {}) for i in range(4)])
    assert [(o.error, o.value) for o in outcomes] == [(None, True)] * 4


def test_unguarded_main_script_runs_once_and_its_functions_work(tmp_path: Path) -> None:
    marker = tmp_path / "imports.txt"
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(f"""
        from toolwire import ExecutorConfig, Job, Tool
        from toolwire_process import ProcessExecutor

        with open({str(marker)!r}, "a") as f:
            f.write("imported\\n")

        def triple(x):
            return 3 * x

        executor = ProcessExecutor(ExecutorConfig(workers=2))
        tool = Tool("triple", "", {{"type": "object"}}, triple)
        print([o.value for o in executor.run([Job(str(i), tool, {{"x": i}}) for i in range(4)])])
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 3, 6, 9]"
    assert marker.read_text() == "imported\n"


def test_classes_of_the_main_script_in_arguments_fail_their_own_calls_with_a_hint(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        from __future__ import annotations  # the tools' annotations do not make dill carry the classes

        import enum, json
        from pydantic import BaseModel
        from toolwire import ToolRegistry

        class Unit(enum.Enum):
            C = "celsius"

        class Point(BaseModel):
            x: float

        def convert(unit: Unit) -> str:
            return unit.value

        def norm(p: Point) -> float:
            return p.x

        def double(a: int) -> int:
            return 2 * a

        def default_unit(unit: Unit = Unit.C) -> str:
            return unit.value

        if __name__ == "__main__":
            with ToolRegistry(executor="process") as registry:
                for function in (convert, norm, double, default_unit):
                    registry.register(function)
                calls = [("convert", {"unit": "celsius"}), ("double", {"a": 1}), ("norm", {"p": {"x": 2}}),
                         ("double", {"a": 2}), ("default_unit", {})]
                results = registry.execute_tool_calls([
                    {"id": str(i), "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                    for i, (name, args) in enumerate(calls)])
                print(json.dumps([r.value if r.error is None else [r.error.kind, r.error.message] for r in results]))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr
    convert, one, norm, two, default_unit = json.loads(done.stdout.splitlines()[0])
    assert (one, two) == (2, 4)
    hint = ("classes defined in the main script do not reach worker processes: define it in a module they can "
            "import, or use the thread backend")
    assert convert[0] == norm[0] == "tool_error"
    assert convert[1].startswith("the argument 'unit' holds a __main__.Unit, which the worker process cannot import")
    assert norm[1].startswith("the argument 'p' holds a __main__.Point, which the worker process cannot import")
    assert convert[1].endswith(hint) and norm[1].endswith(hint)
    assert default_unit[0] == "tool_error"
    assert default_unit[1].startswith("the tool 'default_unit' cannot be sent to a worker process: ")
    assert "Cannot locate reference to <enum 'Unit'>" in default_unit[1]


def test_crash_reports_the_exit_code_and_the_rest_completes() -> None:
    executor = ProcessExecutor(ExecutorConfig(workers=1))
    try:
        jobs = [Job("a", _tool("add", add), {"a": 1, "b": 1}),
                Job("boom", _tool("crash", crash), {"code": 7}),
                Job("b", _tool("add", add), {"a": 2, "b": 2})]
        first, boom, last = executor.run(jobs)
        assert boom.error is not None and boom.error.kind == ErrorKind.CRASHED
        assert "exited with code 7" in boom.error.message and "'crash'" in boom.error.message
        assert (first.value, last.value) == (2, 4)
    finally:
        executor.close()


@pytest.mark.parametrize("at", [0, 1, 5])
def test_calls_sent_behind_a_hung_call_run_on_a_free_worker(at: int) -> None:
    """A worker that is free takes the calls not started yet from behind a hung one, so only the hung call
    times out. (Quick calls are sent in chunks; those sharing a chunk with a hung call used to wait behind
    it and end as "'add' did not finish within 3s", the other worker idle all along: in `toolwire serve`,
    another client's call.)"""
    import time

    from toolwire.testing import hang

    with ProcessExecutor(ExecutorConfig(workers=2)) as executor:
        executor.run([Job(str(i), _tool("add", add), {"a": i, "b": 1}) for i in range(50)])  # known quick
        deadline = time.monotonic() + 3
        jobs = [Job(str(i), _tool("add", add), {"a": i, "b": 1}, deadline) for i in range(8)]
        jobs[at] = Job("hung", _tool("hang", hang), {"seconds": 60}, deadline)
        outcomes = executor.run(jobs)
    assert outcomes[at].error is not None and outcomes[at].error.kind == ErrorKind.TIMEOUT
    assert [o.value for i, o in enumerate(outcomes) if i != at] == [i + 1 for i in range(8) if i != at]


def test_a_call_that_never_got_a_worker_says_so_at_its_deadline() -> None:
    """Both workers hang: the calls sent behind them time out saying they did not start (they said they "did not
    finish", as if they had been slow themselves)."""
    import time

    from toolwire.testing import hang

    with ProcessExecutor(ExecutorConfig(workers=2)) as executor:
        executor.run([Job(str(i), _tool("add", add), {"a": i, "b": 1}) for i in range(50)])  # known quick
        deadline = time.monotonic() + 1
        hung, quick = _tool("hang", hang), _tool("add", add)
        outcomes = executor.run([Job(f"{i}", hung, {"seconds": 60}, deadline) if i % 2 == 0 else
                                 Job(f"{i}", quick, {"a": 1, "b": 1}, deadline) for i in range(4)])
    messages = [o.error.message.replace("0.999s", "1s") for o in outcomes if o.error is not None]
    assert messages == ["'hang' did not finish within 1s", "'add' did not start within 1s: every worker of the "
                        "backend was busy with other calls (give it more workers, or the calls more time)"] * 2


def test_calls_behind_a_hung_call_are_taken_in_runs_with_async_tools_too() -> None:
    """A batch mixing async tools (an MCP server's, say) and sync ones: the calls behind a hung sync call run
    on the free worker, and the async call running before it goes on (taking calls never cancels one that
    started)."""
    import time

    from toolwire.testing import hang

    with ProcessExecutor(ExecutorConfig(workers=2)) as executor:
        executor.run([Job(str(i), _tool("add", add), {"a": i, "b": 1}) for i in range(50)])  # known quick
        deadline = time.monotonic() + 4
        tools = {"nap_async": _tool("nap_async", nap_async), "hang": _tool("hang", hang), "add": _tool("add", add)}
        plan = [("nap_async", {"seconds": 0.5}), ("hang", {"seconds": 60}), ("add", {"a": 2, "b": 1}),
                ("nap_async", {"seconds": 0.05})] + [("add", {"a": i, "b": 1}) for i in range(4, 8)]  # 4 a chunk
        outcomes = executor.run([Job(str(i), tools[name], arguments, deadline)
                                 for i, (name, arguments) in enumerate(plan)])
    assert outcomes[1].error is not None and outcomes[1].error.kind == ErrorKind.TIMEOUT
    assert [o.value for i, o in enumerate(outcomes) if i != 1] == [0.5, 3, 0.05, 5, 6, 7, 8]


def test_a_worker_replaced_after_a_crash_takes_the_calls_waiting_behind_a_hung_one() -> None:
    """The run's other worker dies (its last call crashes it) while calls wait behind a hung one: its
    replacement takes them. (A run only took calls for the workers it held, and a dead one is given up.)"""
    import time

    from toolwire.testing import hang

    with ProcessExecutor(ExecutorConfig(workers=2)) as executor:
        executor.run([Job(str(i), _tool("add", add), {"a": i, "b": 1}) for i in range(50)])  # known quick
        deadline = time.monotonic() + 3
        jobs = [Job(str(i), _tool("add", add), {"a": i, "b": 1}, deadline) for i in range(8)]
        jobs[0] = Job("hung", _tool("hang", hang), {"seconds": 60}, deadline)  # the first chunk: 0-3
        jobs[7] = Job("boom", _tool("crash", crash), {"code": 3}, deadline)  # the last of the second: 4-7
        outcomes = executor.run(jobs)
    assert [o.error.kind for o in outcomes if o.error is not None] == [ErrorKind.TIMEOUT, ErrorKind.CRASHED]
    assert [o.value for o in outcomes[1:7]] == [i + 1 for i in range(1, 7)]


def test_calls_whose_worker_a_chunk_mate_crashed_run_however_many_crash() -> None:
    """A call is sent again each time a call before it in its chunk crashes the worker, and runs in the end.
    (Each such death counted as one of the three starts a call is allowed, and the call failed with "could not
    start: 3 worker processes exited with code 3 before running it".)"""
    with ProcessExecutor(ExecutorConfig(workers=1)) as executor:
        executor.run([Job(str(i), _tool("add", add), {"a": i, "b": 1}) for i in range(50)])  # known quick: one chunk
        jobs = [Job(str(i), _tool("crash", crash), {"code": 3}) if i % 2 == 0 else
                Job(str(i), _tool("add", add), {"a": i, "b": 1}) for i in range(10)]
        outcomes = executor.run(jobs)
    assert [o.error.kind for o in outcomes[::2] if o.error is not None] == [ErrorKind.CRASHED] * 5
    assert [o.value for o in outcomes[1::2]] == [i + 1 for i in range(1, 10, 2)]


def test_unpicklable_tool_names_the_object_and_suggests_threads(executor: ProcessExecutor) -> None:
    numbers = (n for n in range(3))  # generators do not pickle, even with dill

    def guarded(x: int) -> int:
        return x + next(numbers)

    outcome, ok = executor.run([Job("1", _tool("guarded", guarded), {"x": 1}),
                                Job("2", _tool("add", add), {"a": 1, "b": 2})])
    assert outcome.error is not None and outcome.error.kind == ErrorKind.TOOL_ERROR
    message = outcome.error.message
    assert "'guarded'" in message and "closure variable 'numbers'" in message and "thread" in message
    assert ok.value == 3


def test_result_that_cannot_be_sent_back_is_that_calls_tool_error(executor: ProcessExecutor) -> None:
    outcome, ok = executor.run([Job("1", _tool("lock", lambda: {"held": threading.Lock()}), {}),
                                Job("2", _tool("add", add), {"a": 1, "b": 2})])
    assert outcome.error is not None and outcome.error.kind == ErrorKind.TOOL_ERROR
    assert outcome.error.message == ("the tool's return value (builtins.dict) cannot be sent back from the worker "
                                     "process: TypeError: cannot pickle '_thread.lock' object")
    assert ok.value == 3


def test_a_coroutine_inside_a_result_is_named_where_it_is_and_not_awaited(executor: ProcessExecutor) -> None:
    from toolwire.testing import async_echo

    outcome, ok = executor.run([Job("1", _tool("inside", lambda: {"then": [1, async_echo(2)]}), {}),
                                Job("2", _tool("add", add), {"a": 1, "b": 2})])
    assert outcome.error is not None and outcome.error.kind == ErrorKind.TOOL_ERROR
    assert outcome.error.message == ("the tool returned an awaitable (builtins.coroutine) at 'then[1]' of its value "
                                     "that the worker process did not await: declare the tool `async def` and await "
                                     "it there, or return its result")
    assert ok.value == 3


def test_a_result_the_parent_cannot_rebuild_is_that_calls_tool_error(executor: ProcessExecutor) -> None:
    """Unpickling a value runs its own code in the parent; it raised out of the whole batch."""
    from toolwire.testing import unrebuildable

    jobs = [Job(str(i), _tool("add", add), {"a": i, "b": 1}) for i in range(20)]
    jobs[7] = Job("7", _tool("unrebuildable", unrebuildable), {})
    outcomes = executor.run(jobs)
    error = outcomes[7].error
    assert error is not None and error.kind == ErrorKind.TOOL_ERROR
    assert error.message.startswith("the tool's return value cannot be rebuilt here: RuntimeError: not rebuilt (")
    assert [o.value for i, o in enumerate(outcomes) if i != 7] == [i + 1 for i in range(20) if i != 7]


def test_a_result_whose_pickling_raises_system_exit_is_that_calls_tool_error(executor: ProcessExecutor) -> None:
    from toolwire.testing import unsendable

    outcome, ok = executor.run([Job("1", _tool("unsendable", unsendable), {}),
                                Job("2", _tool("add", add), {"a": 1, "b": 2})])
    assert outcome.error is not None and outcome.error.kind == ErrorKind.TOOL_ERROR  # the worker died: crashed
    assert outcome.error.message == ("the tool's return value (builtins.list) cannot be sent back from the worker "
                                     "process: SystemExit: not this one")
    assert ok.value == 3


def test_a_log_read_while_its_worker_writes_and_the_rest_in_one_step_give_every_record_once() -> None:
    import mmap

    from toolwire.tools import Text, ToolOutput
    from toolwire_process import _log

    memory = mmap.mmap(-1, _log.SIZE)
    worker, parent = _log.WorkerLog(memory), _log.ParentLog(memory)
    values = [1, "two", ToolOutput({"x": 3.5}, (Text("x"),)), [None, True], {"nested": {"k": 1}}]  # one pickled
    worker.begin(7)
    parent.reset()
    for position, value in enumerate(values[:2]):
        assert worker.append(_log.encode(position, 0.25, value, None))
    early = parent.records(7)  # the worker has not said how many it wrote yet
    for position, value in enumerate(values[2:], start=2):
        assert worker.append(_log.encode(position, 0.25, value, None))
    worker.append(_log.encode(len(values), 0.5, None, ("tool_error", "ValueError: no")))
    data, count = parent.rest(7, worker.count)
    late = _log.parse(data, count)
    assert [record[2] for record in early + late] == [*values, None]
    assert [record[0] for record in early + late] == list(range(len(values) + 1))
    assert late[-1][3] == ("tool_error", "ValueError: no")
    assert parent.rest(7, worker.count) == (b"", 0)
    memory.close()


def _tools_acting_at(instant: str, at: int, act: Callable[[], None], ran: list[int]) -> Any:
    """A worker's tool cache for keys "0", "1"...: each tool notes in `ran` that it ran; `act` is called as the
    worker looks call `at`'s tool up (`instant == "lookup"`) or while that call runs (`"body"`)."""
    def call(position: int) -> Any:
        def run() -> None:
            if instant == "body" and position == at:
                act()
            ran.append(position)
        return run

    class Tools:
        def get(self, key: str) -> tuple[Any, bool]:
            if instant == "lookup" and int(key) == at:
                act()
            return call(int(key)), False

    return Tools()


@example(count=2, instant="lookup", at=1, cancelled={1})  # the race the worker had: see below
@example(count=3, instant="body", at=0, cancelled={0, 2})
@given(count=st.integers(1, 6), instant=st.sampled_from(["body", "lookup"]), at=st.integers(0, 5),
       cancelled=st.sets(st.integers(0, 5), min_size=1))
def test_a_call_cancelled_before_it_starts_runs_only_where_its_parent_sees_it_running(
        count: int, instant: str, at: int, cancelled: set[int]) -> None:
    """The parent cancels calls as `settle_cancelled` does (those without a record are flagged in the worker's
    log, then `ParentLog.running` says which call runs, and a worker running a flagged sync call is stopped),
    at any instant of a chunk: while call `at` runs, or as the worker looks its tool up. A flagged call that
    begins after that is the one the parent saw running; the worker writes one record per call. (The worker
    used to say a call started only after reading its flag and looking its tool up: a call cancelled in
    between was neither skipped nor seen running, and ran.)"""
    import mmap

    from toolwire_process import _log
    from toolwire_process._worker import Worker

    at, cancelled = at % count, {position % count for position in cancelled}
    memory = mmap.mmap(-1, _log.SIZE)
    worker, parent = Worker(None, memory), _log.ParentLog(memory)  # type: ignore[arg-type]
    ran: list[int] = []
    records: list[int] = []
    seen: dict[str, Any] = {}

    def act() -> None:
        records.extend(record[0] for record in parent.records(7))
        flagged = cancelled - set(records)
        for position in flagged:
            parent.cancel(7, position)
        seen.update(began=set(ran), flagged=flagged, running=parent.running(7))

    worker.tools = _tools_acting_at(instant, at, act, ran)  # type: ignore[assignment]
    keys = [str(position) for position in range(count)]
    worker.run_chunk(7, keys, [{}] * count, [None] * count, keys)
    records.extend(record[0] for record in parent.records(7))
    memory.close()
    assert sorted(records) == list(range(count))
    late = [position for position in ran if position not in seen["began"] and position in seen["flagged"]]
    assert late in ([], [seen["running"]])


@example(count=3, instant="sent", at=0, cut=1)  # taken before the worker began: it ran them too
@given(count=st.integers(2, 8), instant=st.sampled_from(["sent", "body", "lookup"]), at=st.integers(0, 7),
       cut=st.integers(1, 7))
def test_calls_taken_for_another_worker_never_run_where_they_were_taken_from(
        count: int, instant: str, at: int, cut: int) -> None:
    """The parent takes calls for another worker as `Run.steal` does (flags those from `cut` on in one step,
    then reads which call runs; the worker keeps those up to that one), at any instant of a chunk: before the
    worker begins it, while call `at` runs, or as the worker looks its tool up. None it did not keep runs; each
    it kept runs or comes back `taken` (and is sent again); the worker writes one record per call."""
    import mmap

    from toolwire_process import _log
    from toolwire_process._worker import Worker

    at, cut = at % count, max(1, cut % count)
    memory = mmap.mmap(-1, _log.SIZE)
    worker, parent = Worker(None, memory), _log.ParentLog(memory)  # type: ignore[arg-type]
    ran: list[int] = []
    seen: dict[str, int] = {}

    def act() -> None:
        assert parent.take(7, cut, count)
        seen["kept"] = max(cut, parent.running(7) + 1)

    worker.tools = _tools_acting_at(instant, at, act, ran)  # type: ignore[assignment]
    keys = [str(position) for position in range(count)]
    mark = parent.mark()  # sent with the chunk
    if instant == "sent":
        act()
    worker.run_chunk(7, keys, [{}] * count, [None] * count, keys, None, mark)
    records = parent.records(7)
    memory.close()
    assert sorted(record[0] for record in records) == list(range(count))
    skipped = {record[0] for record in records if record[3] == _log.TAKEN}
    assert sorted(ran) == sorted(set(range(count)) - skipped)
    assert set(range(seen["kept"], count)) <= skipped


def test_each_invoker_is_serialised_once() -> None:
    shipper = Shipper()
    tool = _tool("add", add)
    first = shipper.ship(tool)
    assert shipper.ship(tool) is first
    assert shipper.ship(_tool("add", add)).key == first.key
    changed = _tool("add", lambda a, b: a - b)
    assert shipper.ship(changed).key != first.key


def test_workers_are_recycled_after_max_calls() -> None:
    executor = ProcessExecutor(ExecutorConfig(workers=1, options={"max_calls_per_worker": 3}))
    try:
        tool = _tool("pid", os.getpid)
        pids = [o.value for o in executor.run([Job(str(i), tool, {}) for i in range(7)])]
        assert len(set(pids)) == 3 and pids[:3] == [pids[0]] * 3
        assert os.getpid() not in pids
    finally:
        executor.close()


def test_unknown_option_lists_the_accepted_ones_and_the_likely_one() -> None:
    with pytest.raises(ValueError, match="accepted: cpu_time_limit, max_calls_per_worker, max_memory_mb, "
                                         "memory_limit, preload"):
        ProcessExecutor(ExecutorConfig(options={"max_call": 3}))
    with pytest.raises(ValueError, match=r"unknown option 'memory_limt' for the process executor \(did you mean "
                                         r"'memory_limit'\?\)"):
        ProcessExecutor(ExecutorConfig(options={"memory_limt": "1GiB"}))


def test_zero_workers_and_more_than_a_machine_runs_are_refused() -> None:
    with pytest.raises(ValueError, match="'workers' must be a positive integer, got 0"):
        ProcessExecutor(ExecutorConfig(workers=0))
    for workers in (1025, 10**20):  # not a million processes started, nor an OverflowError
        with pytest.raises(ValueError, match=f"'workers' is at most 1024 .*, got {workers}; for more, the dask"):
            ProcessExecutor(ExecutorConfig(workers=workers))


def test_a_worker_closed_before_it_is_ready_leaves_quietly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "slow_to_import.py").write_text("import time\ntime.sleep(0.5)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    worker = WorkerProcess(preload=["slow_to_import"])
    worker.close(wait=10.0)  # before the worker has imported its preload and said it is ready
    assert worker.process.returncode == 0
    assert "Traceback" not in capfd.readouterr().err


def test_without_memfd_create_the_log_is_an_unlinked_temporary_file(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "memfd_create", raising=False)  # as on macOS
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with ProcessExecutor(ExecutorConfig(workers=2)) as executor:
        outcomes = executor.run([Job(str(i), _tool("add", add), {"a": i, "b": 1}) for i in range(100)])
        assert [o.value for o in outcomes] == [i + 1 for i in range(100)]
        assert list(tmp_path.iterdir()) == []  # created there, unlinked at once


def test_windows_is_refused_with_the_alternative(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(RuntimeError, match=r"needs a POSIX system .* use the thread backend on Windows"):
        ProcessExecutor(ExecutorConfig(workers=1))


def test_registry_finds_the_backend_by_name() -> None:
    with ToolRegistry(executor="process") as registry:
        registry.add(_tool("add", add))
        [result] = registry.execute_tool_calls([ToolCall("1", "add", {"a": 2, "b": 3})])
        assert result.value == 5
        assert isinstance(registry.executor(), ProcessExecutor)


def test_a_thousand_batches_with_crashes_leak_no_processes_or_fds() -> None:
    me = psutil.Process()
    children_before = len(me.children(recursive=True))
    executor = ProcessExecutor(ExecutorConfig(workers=2))
    tools = _tool("add", add), _tool("crash", crash)
    executor.warm()
    fds_before = len(os.listdir("/proc/self/fd"))
    for batch in range(1000):
        jobs = [Job(str(i), tools[0], {"a": batch, "b": i}) for i in range(4)]
        if batch % 50 == 0:
            jobs.insert(2, Job("boom", tools[1], {"code": 1}))
        outcomes = executor.run(jobs)
        assert [o.value for o in outcomes if o.error is None] == [batch + i for i in range(4)]
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert len(me.children(recursive=True)) == children_before + 2
    pids = executor.worker_pids()
    executor.close()
    assert len(me.children(recursive=True)) == children_before
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                   for pid in pids)


def test_interpreter_exit_without_close_leaves_no_workers(tmp_path: Path) -> None:
    script = tmp_path / "noclose.py"
    script.write_text(textwrap.dedent("""
        from toolwire import ExecutorConfig, Job, Tool
        from toolwire.testing import add
        from toolwire_process import ProcessExecutor

        executor = ProcessExecutor(ExecutorConfig(workers=2))
        executor.run([Job("1", Tool("add", "", {"type": "object"}, add), {"a": 1, "b": 2})])
        print(*executor.worker_pids())
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(pids) == 2
    assert not any(psutil.pid_exists(pid) for pid in pids)


def start_and_hang(marker: str, new_session: bool = False) -> None:
    """Start a command that outlives its caller unless stopped (in a session of its own: `new_session`), then
    hang."""
    import time

    child = subprocess.Popen(["sleep", "60"], start_new_session=new_session)
    Path(marker).write_text(str(child.pid))
    time.sleep(60)


def _gone(pid: int, within: float) -> bool:
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("new_session", [False, True])
def test_a_command_a_hung_call_started_is_stopped_with_its_worker(tmp_path: Path, new_session: bool) -> None:
    """At the deadline the worker running the call is killed with its process group and the processes it
    started: the `sleep` the tool started was left running, reparented to init, after its call had timed out
    and its registry was closed (until the group kill; started in a session of its own, until the kill of the
    worker's descendants)."""
    marker = tmp_path / "child.pid"
    with ToolRegistry(executor="process") as registry:
        registry.register(start_and_hang)
        registry.executor().warm()  # the two-second deadline is for the call, not for starting the workers
        [result] = registry.execute_tool_calls(
            [ToolCall("c", "start_and_hang", {"marker": str(marker), "new_session": new_session})], timeout=2.0)
        assert result.error is not None and result.error.kind == ErrorKind.TIMEOUT
        assert _gone(int(marker.read_text()), within=5.0)


@pytest.mark.parametrize("new_session", [False, True])
def test_a_command_a_call_started_is_stopped_when_the_parent_dies(tmp_path: Path, new_session: bool) -> None:
    """A worker whose parent is gone leaves with its process group and the processes it started, though a tool
    hangs in it."""
    marker = tmp_path / "child.pid"
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, sys, threading, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_process import start_and_hang
        from toolwire import ToolCall, ToolRegistry

        registry = ToolRegistry(executor="process")
        registry.register(start_and_hang)
        call = ToolCall("c", "start_and_hang", {{"marker": {str(marker)!r}, "new_session": {new_session!r}}})
        threading.Thread(target=registry.execute_tool_calls, args=([call],), daemon=True).start()
        while not os.path.exists({str(marker)!r}):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGKILL)
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    assert _gone(int(marker.read_text()), within=10.0)


def test_a_worker_running_a_native_tool_imports_no_heavy_module(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers start in a few milliseconds: no pickle.py, threading, dataclasses, typing or inspect."""
    heavy = ["asyncio", "dataclasses", "dill", "inspect", "json", "pickle", "re", "threading", "typing"]
    (tmp_path / "loaded_probe.py").write_text(textwrap.dedent("""
        import sys

        def loaded(names: list) -> list:
            return [name for name in names if name in sys.modules]
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import loaded_probe

    with ToolRegistry(executor="process") as registry:
        registry.register(loaded_probe.loaded)
        [result] = registry.execute_tool_calls([ToolCall("1", "loaded", {"names": heavy})])
    assert result.error is None
    assert result.value == []


def allocate(gib: int) -> int:
    """Try to hold `gib` GiB at once."""
    block = bytearray(gib << 30)
    return len(block)


def spin(seconds: float) -> str:
    """Use CPU for `seconds` of wall time."""
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "spun"


def test_a_call_past_the_memory_limit_fails_alone_at_once_and_its_worker_is_replaced() -> None:
    import time

    before = psutil.virtual_memory().available
    with ProcessExecutor(ExecutorConfig(workers=2, options={"memory_limit": "1GiB"})) as executor:
        executor.warm()
        pids = set(executor.worker_pids())
        jobs = [Job("big", _tool("allocate", allocate), {"gib": 8}, time.monotonic() + 30)]
        jobs += [Job(str(i), _tool("add", add), {"a": i, "b": 1}, time.monotonic() + 30) for i in range(6)]
        started = time.monotonic()
        outcomes = executor.run(jobs)
        took = time.monotonic() - started
        assert outcomes[0].error is not None and outcomes[0].error.kind == ErrorKind.RESOURCE_EXHAUSTED
        assert "memory_limit" in outcomes[0].error.message and "1 GiB" in outcomes[0].error.message
        assert [o.value for o in outcomes[1:]] == [i + 1 for i in range(6)]
        assert took < 5.0
        assert set(executor.worker_pids()) != pids  # the worker that hit the limit was replaced
        assert executor.run([Job("after", _tool("add", add), {"a": 2, "b": 2})])[0].value == 4
    assert psutil.virtual_memory().available > before - (2 << 30)  # never came near 8 GiB


def test_the_default_memory_limit_is_a_share_of_the_machine() -> None:
    with ProcessExecutor(ExecutorConfig(workers=4)) as executor:
        total = psutil.virtual_memory().total
        assert executor.limits.memory_bytes == max(1 << 30, int(total * 0.8 / 4))
    with ProcessExecutor(ExecutorConfig(workers=2, options={"memory_limit": "none"})) as executor:
        assert executor.limits.memory_bytes is None
    with pytest.raises(ValueError, match="'memory_limit' must be a size such as"):
        ProcessExecutor(ExecutorConfig(options={"memory_limit": "lots"}))


def test_a_sync_call_past_its_cpu_time_limit_is_stopped() -> None:
    import time

    with ProcessExecutor(ExecutorConfig(workers=1, options={"cpu_time_limit": 1})) as executor:
        jobs = [Job("spin", _tool("spin", spin), {"seconds": 5.0}, time.monotonic() + 30),
                Job("ok", _tool("add", add), {"a": 1, "b": 1}, time.monotonic() + 30)]
        started = time.monotonic()
        outcomes = executor.run(jobs)
    assert outcomes[0].error is not None and outcomes[0].error.kind == ErrorKind.RESOURCE_EXHAUSTED
    assert "cpu_time_limit" in outcomes[0].error.message
    assert outcomes[1].value == 2 and time.monotonic() - started < 4.0


def test_cancelling_a_running_sync_call_kills_only_its_worker(tmp_path: Path) -> None:
    import threading
    import time

    def began_then_hang(path: str) -> None:  # a closure: it travels by value
        import pathlib
        import time

        pathlib.Path(path).touch()
        time.sleep(60)

    began = tmp_path / "began"
    with ProcessExecutor(ExecutorConfig(workers=2)) as executor:
        executor.warm()
        pids = set(executor.worker_pids())
        jobs = [Job("stop", _tool("hang", began_then_hang), {"path": str(began)}, time.monotonic() + 90)]
        outcomes: list = []
        running = threading.Thread(target=lambda: outcomes.extend(executor.run(jobs)))
        running.start()
        for _ in range(600):  # cancelled once it runs: before, a loaded machine could cancel it unstarted
            if began.exists():
                break
            time.sleep(0.05)
        jobs[0].cancel("the client disconnected")
        executor.cancel(jobs)
        running.join(10)
        assert outcomes[0].error.kind == ErrorKind.CANCELLED
        assert len(pids - set(executor.worker_pids())) == 1  # its worker was killed and replaced, the other kept


def nap(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


async def nap_async(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@pytest.mark.parametrize("kind", ["sync, not started yet", "async, running beside others"])
def test_cancelling_a_call_leaves_the_others_on_its_worker_running(kind: str) -> None:
    """Only a running sync call needs its worker stopped: a call that has not started is skipped, and a running
    async one is cancelled on the worker, while the worker goes on with the others (it used to be stopped,
    failing the call it ran: "the worker process was stopped because another call on it was cancelled")."""
    import threading
    import time

    tool = _tool("nap", nap) if kind.startswith("sync") else _tool("nap_async", nap_async)
    cancelled = 1 if kind.startswith("sync") else 0
    with ProcessExecutor(ExecutorConfig(workers=1)) as executor:  # one worker: the calls share its chunk
        executor.run([Job(f"quick{i}", tool, {"seconds": 0.0}) for i in range(50)])  # known quick: one chunk
        pids = set(executor.worker_pids())
        jobs = [Job(str(i), tool, {"seconds": 1.0 if i == 0 else 0.2}, time.monotonic() + 30) for i in range(3)]
        outcomes: list = []
        running = threading.Thread(target=lambda: outcomes.extend(executor.run(jobs)))
        running.start()
        time.sleep(0.4)  # the first call runs (the async ones all run)
        jobs[cancelled].cancel("the client disconnected")
        executor.cancel([jobs[cancelled]])
        running.join(10)
        assert set(executor.worker_pids()) == pids  # not stopped
    assert outcomes[cancelled].error is not None and outcomes[cancelled].error.kind == ErrorKind.CANCELLED
    assert [o.value for i, o in enumerate(outcomes) if i != cancelled] == [
        1.0 if i == 0 else 0.2 for i in range(3) if i != cancelled]


def touch(path: str) -> str:
    Path(path).touch()
    return path


def test_a_call_cancelled_before_its_worker_began_the_chunk_does_not_run(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A call cancelled while its chunk waits for a worker that is still starting is skipped there. (The worker
    compared the parent's count of cancels with its own reading when it began the chunk, so a cancel from
    before that was never looked at, and the call ran: its side effects happened, its result was dropped.)"""
    import threading
    import time

    (tmp_path / "slow_to_import.py").write_text("import time\ntime.sleep(1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    options = {"preload": "slow_to_import"}  # its worker takes a second to begin the chunk sent to it
    with ProcessExecutor(ExecutorConfig(workers=1, options=options)) as executor:
        jobs = [Job(str(i), _tool("touch", touch), {"path": str(tmp_path / str(i))}) for i in range(8)]  # 2 a chunk
        outcomes: list = []
        running = threading.Thread(target=lambda: outcomes.extend(executor.run(jobs)))
        running.start()
        time.sleep(0.3)  # sent, not begun
        jobs[1].cancel("the client disconnected")
        executor.cancel([jobs[1]])
        running.join(30)
    assert outcomes[1].error is not None and outcomes[1].error.kind == ErrorKind.CANCELLED
    assert [o.value for i, o in enumerate(outcomes) if i != 1] == [str(tmp_path / str(i)) for i in range(8) if i != 1]
    assert not (tmp_path / "1").exists()


def test_closing_the_registry_while_another_thread_runs_a_batch_cancels_its_calls() -> None:
    import threading
    import time

    from toolwire.testing import registry_of

    registry = registry_of(["hang", "add"], EXECUTOR="process", WORKERS="2")
    results: list[object] = []
    failures: list[BaseException] = []

    added_done = threading.Event()

    def batch() -> None:
        calls = [ToolCall("h", "hang", {"seconds": 30}), ToolCall("a", "add", {"a": 1, "b": 2})]
        try:
            results.extend(registry.execute_batch(registry.batch(
                calls, timeout=60, on_result=lambda index, _: index == 1 and added_done.set())))
        except BaseException as exc:  # the test fails on it below
            failures.append(exc)

    running = threading.Thread(target=batch)
    running.start()
    assert added_done.wait(30)  # the batch runs: one call done, the other hanging
    started = time.monotonic()
    registry.close()
    running.join(10)
    assert not running.is_alive() and time.monotonic() - started < 10
    assert failures == []
    hung, added = results
    assert hung.error.kind is ErrorKind.CANCELLED and "executor was closed" in hung.error.message  # type: ignore[attr-defined]
    assert added.value == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_an_infinite_timeout_is_no_deadline_and_one_of_0_nan_or_text_is_refused(backend: str) -> None:
    with ToolRegistry(executor=backend) as registry:
        registry.register(add)
        for seconds in (float("inf"), 1e308):  # each raised OverflowError for the whole batch
            [result] = registry.execute_tool_calls([ToolCall("c", "add", {"a": 1, "b": 2})], timeout=seconds)
            assert result.value == 3, result
        for seconds, error in ((0, ValueError), (float("nan"), ValueError), ("5", TypeError)):
            with pytest.raises(error, match=r"^timeout (is|must be)"):  # 0 and nan timed the call out at once, or never
                registry.execute_tool_calls([ToolCall("c", "add", {"a": 1, "b": 2})], timeout=seconds)


def test_a_generator_function_is_collected_in_its_worker_and_stopped_there_at_its_deadline() -> None:
    """What a generator function yields comes back as a list (a generator object does not pickle); one that
    never ends is a call past its deadline, its worker replaced, and the next batch runs."""

    def countdown(start: int) -> Iterator[int]:
        yield from range(start, 0, -1)

    def forever() -> Iterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    with ToolRegistry(config=Config(executor=ExecutorConfig("process", workers=2))) as registry:
        registry.register(countdown)
        registry.register(forever)
        registry.executor().warm()  # the one-second deadline is for the calls, not for starting the workers
        stopped, counted = registry.execute_tool_calls(
            [ToolCall("f", "forever", {}), ToolCall("c", "countdown", {"start": 3})], timeout=1)
        assert stopped.error is not None and stopped.error.kind == ErrorKind.TIMEOUT, stopped
        assert counted.value == [3, 2, 1]
        [again] = registry.execute_tool_calls([ToolCall("c", "countdown", {"start": 2})])
        assert again.value == [2, 1]


def test_warm_prepares_every_tool_in_every_worker_before_any_call(tmp_path: Path) -> None:
    registry = ToolRegistry(config=Config(executor=ExecutorConfig(backend="process", workers=2)))
    for kind in ("sync", "async", "fails"):
        registry.add(_tool(kind, Prepares(str(tmp_path), kind)))
    with registry:
        registry.warm()
        workers = registry.executor().worker_pids()  # type: ignore[attr-defined]
        assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
            f"{kind}-{pid}" for kind in ("sync", "async") for pid in workers)
        results = registry.execute_tool_calls([ToolCall(kind, kind, {}) for kind in ("sync", "async", "fails")])
        assert [(r.value, r.error) for r in results] == [("sync", None), ("async", None), ("fails", None)]
        registry.warm()  # again: nothing to prepare, nothing prepared twice
        assert len(list(tmp_path.iterdir())) == 4


def test_with_prepare_false_warm_starts_the_workers_and_leaves_the_tools_to_their_first_calls(tmp_path: Path) -> None:
    config = ExecutorConfig(backend="process", workers=2, options={"prepare": False})
    with ToolRegistry(config=Config(executor=config)) as registry:
        registry.add(_tool("sync", Prepares(str(tmp_path), "sync")))
        registry.warm()
        assert len(registry.executor().worker_pids()) == 2  # type: ignore[attr-defined]
        assert list(tmp_path.iterdir()) == []
        [result] = registry.execute_tool_calls([ToolCall("s", "sync", {})])
        assert (result.value, result.error) == ("sync", None)


def test_prepare_must_be_true_or_false() -> None:
    with pytest.raises(ValueError, match="option 'prepare' of the process executor must be bool, got 'no'"):
        ProcessExecutor(ExecutorConfig(backend="process", options={"prepare": "no"}))


def test_a_run_on_a_closed_executor_is_refused_and_leaves_no_descriptor_open() -> None:
    """Each refused run left its wake-up pipe open (two descriptors a run). The count is the whole process's, which
    a background thread of another test may change by one or two meanwhile: a leak shows as a hundred."""
    executor = ProcessExecutor(ExecutorConfig(backend="process", workers=1))
    executor.close()
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for _ in range(50):
        with pytest.raises(RuntimeError, match="the process executor is closed"):
            executor.run([Job("1", _tool("add", add), {"a": 1, "b": 2})])
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) - before < 10

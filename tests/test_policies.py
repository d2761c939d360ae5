"""Policies on the thread and process backends: approval, ordering, limits, retries, result caps (and all of them
at once on the dask backend).

Each policy holds in the parent, so the same test runs on both backends; tools record when they ran
(time.monotonic is one clock for every process of the machine) or leave marks in files.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from toolwire import Annotations, ConfigError, ErrorKind, ToolCall, ToolRegistry, load_config

BACKENDS = ["thread", "process"]


def span(label: str, seconds: float = 0.15) -> tuple[str, float, float]:
    """Sleep `seconds`; return when it ran."""
    started = time.monotonic()
    time.sleep(seconds)
    return label, started, time.monotonic()


def mark(path: str, text: str = "ran") -> str:
    """Leave a mark in a file (so a test can see whether the call ran anywhere)."""
    Path(path).write_text(text)
    return text


def flaky(path: str, failures: int) -> int:
    """Fail with a transport error until called `failures` times (counted in a file); then succeed."""
    from toolwire import ToolCallError

    count = int(Path(path).read_text()) if Path(path).exists() else 0
    Path(path).write_text(str(count + 1))
    if count < failures:
        raise ToolCallError("connection reset by peer", kind=ErrorKind.TRANSPORT)
    return count + 1


def dies_once(path: str) -> str:
    """Kill its worker process the first time; return the second time."""
    if not Path(path).exists():
        Path(path).write_text("died")
        os._exit(3)
    return "survived"


def long_text(size: int) -> str:
    return "x" * size


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def make_registry(backend: str, **options: object) -> ToolRegistry:
    config = load_config(environ={"TOOLWIRE_EXECUTOR": backend, "TOOLWIRE_WORKERS": "4"})
    return ToolRegistry(config=config, **options)  # type: ignore[arg-type]


def confirm(path: str, rounds: int = 1) -> str:
    """Write `path` once the user confirms it, asking `rounds` times (each answer's round rides `requestState`);
    counts its runs in `path`.runs."""
    from toolwire import ToolCallError
    from toolwire.executing import call_inputs

    runs = Path(path + ".runs")
    runs.write_text(str(int(runs.read_text()) + 1 if runs.exists() else 1))
    answers = call_inputs()
    done = int(answers["requestState"]) if answers is not None else 0
    if answers is not None and answers["inputResponses"]["ok"]["action"] != "accept":
        return "kept"
    if done < rounds:
        question = {"method": "elicitation/create", "params": {"message": f"Write {path}? ({done + 1})"}}
        raise ToolCallError(f"asks whether to write {path}", ErrorKind.INPUT_REQUIRED,
                            input_required={"inputRequests": {"ok": question}, "requestState": str(done + 1)})
    return mark(path, "written")


# -- approval --------------------------------------------------------------------------------------------


def test_calls_needing_approval_go_to_the_callback_together_and_each_gets_its_answer(
    backend: str, tmp_path: Path
) -> None:
    asked: list[list[str]] = []

    def approve(calls: list[ToolCall]) -> dict[str, object]:
        asked.append([call.id for call in calls])
        return {"a": True, "b": "the file is in use", "c": {"path": str(tmp_path / "edited"), "text": "edited"},
                "d": {"path": 3}}

    with make_registry(backend, approve=approve) as registry:
        registry.register(mark, requires_approval=True)
        registry.register(span)
        calls = [ToolCall(name, "mark", {"path": str(tmp_path / name)}) for name in "abcd"]
        calls.append(ToolCall("free", "span", {"label": "free", "seconds": 0}))
        results = registry.execute_tool_calls(calls)
    assert asked == [["a", "b", "c", "d"]]  # one question for the whole batch, the free call not in it
    assert results[0].value == "ran" and (tmp_path / "a").exists()
    assert results[1].error.kind == ErrorKind.DENIED and "the file is in use" in results[1].content
    assert not (tmp_path / "b").exists()
    assert results[2].value == "edited" and (tmp_path / "edited").read_text() == "edited"
    assert results[3].error.kind == ErrorKind.INVALID_ARGUMENTS and "path" in results[3].content
    assert results[4].value[0] == "free"


def test_without_a_callback_calls_are_pending_until_resumed_with_approvals(backend: str, tmp_path: Path) -> None:
    with make_registry(backend) as registry:
        registry.register(mark, requires_approval=True)
        calls = [ToolCall("x", "mark", {"path": str(tmp_path / "x")}),
                 ToolCall("y", "mark", {"path": str(tmp_path / "y")})]
        first = registry.execute_tool_calls(calls)
        assert [r.error.kind for r in first] == [ErrorKind.APPROVAL_PENDING] * 2
        assert "needs the user's approval" in first[0].content
        assert not list(tmp_path.iterdir())  # nothing ran
        second = registry.execute_tool_calls(calls, approvals={"x": True, "y": False})
    assert second[0].value == "ran" and second[1].error.kind == ErrorKind.DENIED
    assert [p.name for p in tmp_path.iterdir()] == ["x"]


def test_a_blank_reason_is_a_denial_without_a_reason(tmp_path: Path) -> None:
    with make_registry("thread") as registry:
        registry.register(mark, requires_approval=True)
        calls = [ToolCall(name, "mark", {"path": str(tmp_path / name)}) for name in ("blank", "none")]
        blank, none = registry.execute_tool_calls(calls, approvals={"blank": " ", "none": False})
    assert blank.error.kind == none.error.kind == ErrorKind.DENIED  # it ended "so it did not run:  "
    assert blank.content == none.content == ("the user did not approve this call of 'mark', so it did not run; do not "
                                             "repeat it unchanged: ask the user, or do something else")


def test_a_callback_answering_by_call_or_not_by_mapping_is_understood_or_named(tmp_path: Path) -> None:
    answers: list[Any] = [lambda calls: {call: True for call in calls}, lambda calls: True]
    results = []
    for answer in answers:
        with make_registry("thread", approve=answer) as registry:
            registry.register(mark, requires_approval=True)
            results += registry.execute_tool_calls([ToolCall("c", "mark", {"path": str(tmp_path / "c")})])
    keyed_by_call, bare_true = results  # both were pending without a word
    assert keyed_by_call.value == "ran"
    assert bare_true.error.kind == ErrorKind.APPROVAL_PENDING
    assert "(asking for approval failed: the callback returned bool, not a mapping of call ids to answers)" in \
        bare_true.content


def test_answers_keyed_by_call_mix_with_approvals_given_by_id(tmp_path: Path) -> None:
    """The callback is asked only for the calls `approvals=` does not answer; its answers, keyed by the calls
    themselves, and the given ones apply together, each to its own call."""
    asked: list[str] = []

    def approve(calls: list[ToolCall]) -> dict[ToolCall, bool]:
        asked.extend(call.id for call in calls)
        return {call: call.id != "a" for call in calls}

    with make_registry("thread", approve=approve) as registry:
        registry.register(mark, requires_approval=True)
        calls = [ToolCall(name, "mark", {"path": str(tmp_path / name)}) for name in "abcd"]
        a, b, c, d = registry.execute_tool_calls(calls, approvals={"b": "not that one", "c": True})
    assert asked == ["a", "d"]
    assert (a.error.kind, b.error.kind) == (ErrorKind.DENIED, ErrorKind.DENIED)
    assert b.content.endswith("so it did not run: not that one")
    assert (c.value, d.value) == ("ran", "ran")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["c", "d"]


async def test_an_async_callback_is_awaited(tmp_path: Path) -> None:
    async def approve(calls: list[ToolCall]) -> dict[str, object]:
        await asyncio.sleep(0)
        return {call.id: True for call in calls}

    with make_registry("thread", approve=approve) as registry:
        registry.register(mark, requires_approval=True)
        [result] = await registry.aexecute_tool_calls([ToolCall("1", "mark", {"path": str(tmp_path / "m")})])
    assert result.value == "ran"


def test_approval_is_selected_by_glob_tag_namespace_and_annotation(tmp_path: Path) -> None:
    (tmp_path / "toolwire.toml").write_text(
        '[executor]\nbackend = "thread"\n'
        '[[policy.tools]]\nmatch = "fs_*"\nrequires_approval = true\n'
        '[[policy.tools]]\ntag = "money"\nrequires_approval = true\n'
        '[[policy.tools]]\nnamespace = "admin"\nrequires_approval = true\n'
        '[[policy.tools]]\ndestructive = true\nrequires_approval = true\n'
    )
    registry = ToolRegistry.from_config(tmp_path / "toolwire.toml")
    registry.load("native", lambda: 1, name="fs_read")
    registry.load("native", lambda: 1, name="pay", tags=["money"])
    registry.load("native", lambda: 1, name="reset", namespace="admin")
    registry.load("native", lambda: 1, name="drop", annotations=Annotations(destructive=True))
    registry.load("native", lambda: 1, name="free")
    names = ["fs_read", "pay", "admin_reset", "drop", "free"]
    results = registry.execute_tool_calls([ToolCall(n, n, {}) for n in names])
    held = [registry.policy.needs_approval(registry.get(n)) for n in names]  # what a framework asks beforehand
    registry.close()
    assert [r.error.kind if r.error else r.value for r in results] == [ErrorKind.APPROVAL_PENDING] * 4 + [1]
    assert held == [True] * 4 + [False]


def test_a_failing_callback_leaves_the_calls_pending(tmp_path: Path) -> None:
    def approve(calls: list[ToolCall]) -> dict[str, object]:
        raise RuntimeError("the UI is gone")

    with make_registry("thread", approve=approve) as registry:
        registry.register(mark, requires_approval=True)
        [result] = registry.execute_tool_calls([ToolCall("1", "mark", {"path": str(tmp_path / "m")})])
    assert result.error.kind == ErrorKind.APPROVAL_PENDING and "RuntimeError: the UI is gone" in result.content


# -- ordering --------------------------------------------------------------------------------------------


def ordering_registry(backend: str, ordering: str) -> ToolRegistry:
    registry = make_registry(backend, ordering=ordering)
    registry.load("native", span, name="read", annotations=Annotations(read_only=True))
    registry.load("native", span, name="write", annotations=Annotations(read_only=False))
    registry.load("native", span, name="plain")
    return registry


def ran(results: list) -> dict[str, tuple[float, float]]:  # type: ignore[type-arg]
    return {r.value[0]: (r.value[1], r.value[2]) for r in results}


READ_S = 0.5
"""How long the calls that must overlap run: on the process backend each worker loads the tool (importing this
module) at its first call, so calls sent together start up to ~0.2 s apart on a loaded machine."""


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_annotated_ordering_runs_writes_in_order_after_earlier_reads(backend: str) -> None:
    with ordering_registry(backend, "annotated") as registry:
        registry.warm()
        calls = [ToolCall(label, tool, {"label": label, "seconds": READ_S if tool == "read" else 0.15})
                 for label, tool in [("r1", "read"), ("w1", "write"), ("r2", "read"), ("w2", "write"), ("r3", "read")]]
        spans = ran(registry.execute_tool_calls(calls))
    assert spans["w1"][0] >= spans["r1"][1]
    assert spans["w2"][0] >= spans["w1"][1] and spans["w2"][0] >= spans["r2"][1]
    assert overlap(spans["r1"], spans["r2"]) and overlap(spans["r1"], spans["r3"])


def test_sequential_ordering_runs_one_call_after_another(backend: str) -> None:
    with ordering_registry(backend, "sequential") as registry:
        registry.warm()
        spans = ran(registry.execute_tool_calls([ToolCall(str(i), "plain", {"label": str(i)}) for i in range(3)]))
    assert spans["1"][0] >= spans["0"][1] and spans["2"][0] >= spans["1"][1]


def test_parallel_ordering_runs_writes_together(backend: str) -> None:
    with ordering_registry(backend, "parallel") as registry:
        registry.warm()
        calls = [ToolCall(str(i), "write", {"label": str(i), "seconds": READ_S}) for i in range(2)]
        spans = ran(registry.execute_tool_calls(calls))
    assert overlap(spans["0"], spans["1"])


def test_an_unknown_ordering_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="must be one of annotated, parallel, sequential"):
        ToolRegistry(executor="thread", ordering="random")


# -- limits ----------------------------------------------------------------------------------------------


def test_max_concurrency_holds_across_concurrent_batches(backend: str) -> None:
    with make_registry(backend) as registry:
        registry.load("native", span, name="slow", namespace="db", max_concurrency=1)
        registry.warm()
        results: list = []  # type: ignore[type-arg]

        def batch(prefix: str) -> None:
            calls = [ToolCall(f"{prefix}{i}", "db_slow", {"label": f"{prefix}{i}", "seconds": 0.1}) for i in range(2)]
            results.extend(registry.execute_tool_calls(calls))

        threads = [threading.Thread(target=batch, args=(prefix,)) for prefix in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    spans = sorted(ran(results).values())
    assert len(spans) == 4
    assert all(later[0] >= earlier[1] - 0.002 for earlier, later in itertools.pairwise(spans))


def test_a_rate_spaces_the_calls_out(backend: str) -> None:
    with make_registry(backend) as registry:
        registry.load("native", span, name="api", rate="4/s")
        registry.warm()
        before = time.monotonic()  # the bucket starts full at the first call: a burst of 4
        spans = sorted(ran(registry.execute_tool_calls(
            [ToolCall(str(i), "api", {"label": str(i), "seconds": 0}) for i in range(6)])).values())
    starts = [start for start, _ in spans]
    assert starts[4] - before >= 0.25 and starts[5] - before >= 0.5  # then one token every 0.25 s


def test_a_call_waiting_for_a_limit_past_its_deadline_is_a_timeout() -> None:
    with make_registry("thread") as registry:
        registry.load("native", span, name="slow", max_concurrency=1)
        results = registry.execute_tool_calls(
            [ToolCall(str(i), "slow", {"label": str(i), "seconds": 0.4}) for i in range(2)], timeout=0.3)
    kinds = sorted(r.error.kind for r in results)
    assert kinds == [ErrorKind.TIMEOUT, ErrorKind.TIMEOUT]
    assert any("could not start before its deadline" in r.content for r in results)


def test_bad_limits_are_refused_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "toolwire.toml").write_text('[[policy.tools]]\nmatch = "*"\nrate = "fast"\n')
    with pytest.raises(ConfigError, match=r"'policy\.tools\[0\]\.rate': rate 'fast' is not of the form"):
        load_config(tmp_path / "toolwire.toml")
    with pytest.raises(ValueError, match=r"'load\.max_concurrency' must be at least 1"):
        ToolRegistry(executor="thread").load("native", span, max_concurrency=0)


# -- retries ---------------------------------------------------------------------------------------------


def test_retries_run_read_only_calls_again_on_transport_errors(backend: str, tmp_path: Path) -> None:
    with make_registry(backend) as registry:
        registry.load("native", flaky, name="safe", annotations=Annotations(read_only=True), retries=3)
        registry.load("native", flaky, name="unsafe", retries=3)
        safe, unsafe = registry.execute_tool_calls([
            ToolCall("1", "safe", {"path": str(tmp_path / "safe"), "failures": 2}),
            ToolCall("2", "unsafe", {"path": str(tmp_path / "unsafe"), "failures": 2}),
        ])
    assert (safe.value, safe.attempts) == (3, 3)
    assert (unsafe.error.kind, unsafe.attempts) == (ErrorKind.TRANSPORT, 1)  # not idempotent: never twice


def test_retries_give_up_after_the_allowed_attempts(tmp_path: Path) -> None:
    with make_registry("thread") as registry:
        registry.load("native", flaky, name="safe", annotations=Annotations(idempotent=True), retries=1)
        [result] = registry.execute_tool_calls([ToolCall("1", "safe", {"path": str(tmp_path / "f"), "failures": 5})])
    assert (result.error.kind, result.attempts) == (ErrorKind.TRANSPORT, 2)


def test_a_crashed_worker_is_retried_on_the_process_backend(tmp_path: Path) -> None:
    with make_registry("process") as registry:
        registry.load("native", dies_once, name="fragile", annotations=Annotations(idempotent=True), retries=1)
        [result] = registry.execute_tool_calls([ToolCall("1", "fragile", {"path": str(tmp_path / "d")})])
    assert (result.value, result.attempts) == ("survived", 2)


# -- timeouts --------------------------------------------------------------------------------------------


def test_a_tools_own_timeout_replaces_the_batchs_and_each_retry_gets_it(backend: str) -> None:
    with make_registry(backend) as registry:
        registry.load("native", span, name="quick", annotations=Annotations(read_only=True))
        registry.load("native", span, name="patient")
        registry.add_policy(match="quick", timeout=0.5, retries=1)
        registry.add_policy(match="patient", timeout=float("inf"))
        registry.executor().warm()  # the batch's one second is for the calls, not for starting the workers
        quick, patient, plain = registry.execute_tool_calls([
            ToolCall("1", "quick", {"label": "q", "seconds": 5}),
            ToolCall("2", "patient", {"label": "p", "seconds": 1.5}),
            ToolCall("3", "quick", {"label": "fine", "seconds": 0.05}),
        ], timeout=1)
    assert (quick.error.kind, quick.attempts) == (ErrorKind.TIMEOUT, 2)
    assert quick.duration_s < 0.9  # its last attempt had 0.5 s too: the batch gives 1 s
    assert patient.error is None and patient.value[0] == "p"  # past the batch's 1 s: its tool has no limit
    assert plain.value[0] == "fine"


def test_the_shortest_timeout_of_the_matching_tables_holds_and_bad_ones_are_refused() -> None:
    with make_registry("thread") as registry:
        registry.load("native", span, name="slow", tags=["remote"])
        registry.add_policy(match="slow", timeout=30)
        registry.add_policy(tag="remote", timeout=0.3)
        [result] = registry.execute_tool_calls([ToolCall("1", "slow", {"label": "s", "seconds": 3})])
    assert result.error.kind == ErrorKind.TIMEOUT and result.duration_s < 2
    for wrong in (0, "10", True, float("nan")):
        with pytest.raises(ValueError, match=r"'policy.timeout' must be a number of seconds above 0 \(or inf for no "
                                             r"limit\), got "):
            registry.add_policy(match="*", timeout=wrong)


# -- result caps -----------------------------------------------------------------------------------------


def test_content_for_the_model_is_cut_and_the_value_kept_whole(backend: str) -> None:
    with make_registry(backend, max_result_chars=1000) as registry:
        registry.register(long_text)
        [result] = registry.execute_tool_calls([ToolCall("1", "long_text", {"size": 5000})])
    assert len(result.value) == 5000
    assert result.content.startswith("x" * 1000) and not result.content.startswith("x" * 1001)
    assert "the result has 5,000 characters; the first 1,000 are shown" in result.content


def test_results_have_a_cap_by_default() -> None:
    with ToolRegistry(executor="thread") as registry:
        registry.register(long_text)
        [result] = registry.execute_tool_calls([ToolCall("1", "long_text", {"size": 150_000})])
    assert len(result.value) == 150_000 and "the first 100,000 are shown" in result.content


# -- on a cluster ----------------------------------------------------------------------------------------


def test_every_policy_holds_on_the_dask_backend(tmp_path: Path) -> None:
    """The policies live in the parent, so a cluster backend gets them too: approval (a denial, an edit),
    annotated ordering, a concurrency limit, retries and a result cap in one batch on a local Dask cluster."""
    pytest.importorskip("toolwire_dask")

    def approve(pending: list[ToolCall]) -> dict[str, bool | str | dict[str, Any]]:
        return {"w1": True, "w2": {"label": "w2 edited", "seconds": 0.15}, "w3": "not this one"}

    config = load_config(environ={"TOOLWIRE_EXECUTOR": "dask", "TOOLWIRE_WORKERS": "2"})
    with ToolRegistry(config=config, approve=approve, ordering="annotated", max_result_chars=100) as registry:
        registry.load("native", span, name="read", annotations=Annotations(read_only=True), max_concurrency=1)
        registry.load("native", span, name="write", annotations=Annotations(read_only=False), requires_approval=True)
        registry.load("native", flaky, name="safe", annotations=Annotations(read_only=True), retries=2)
        registry.register(long_text)
        registry.warm()
        results = registry.execute_tool_calls([
            ToolCall("r1", "read", {"label": "r1", "seconds": 0.15}),
            ToolCall("w1", "write", {"label": "w1", "seconds": 0.15}),
            ToolCall("r2", "read", {"label": "r2", "seconds": 0.15}),
            ToolCall("w2", "write", {"label": "w2", "seconds": 0.15}),
            ToolCall("w3", "write", {"label": "w3"}),
            ToolCall("s", "safe", {"path": str(tmp_path / "flaky"), "failures": 2}),
            ToolCall("t", "long_text", {"size": 500}),
        ])
    r1, w1, r2, w2, w3, safe, text = results
    assert [r.call_id for r in results] == ["r1", "w1", "r2", "w2", "w3", "s", "t"]
    assert w3.error.kind == ErrorKind.DENIED and "not this one" in w3.content
    assert w2.value[0] == "w2 edited"
    assert w1.value[1] >= r1.value[2] and w2.value[1] >= w1.value[2] and w2.value[1] >= r2.value[2]
    assert not overlap(r1.value[1:], r2.value[1:])  # at most one `read` at a time
    assert (safe.value, safe.attempts) == (3, 3)
    assert len(text.value) == 500 and "the first 100 are shown" in text.content


# -- questions -------------------------------------------------------------------------------------------


def accept_all(asked: list) -> dict[str, object]:  # type: ignore[type-arg]
    return {result.call_id: {"inputResponses": {"ok": {"action": "accept"}},
                             "requestState": result.error.input_required["requestState"]} for result in asked}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_what_tools_ask_goes_to_the_answer_callback_and_the_answered_calls_run_again(
        backend: str, kind: str, tmp_path: Path) -> None:
    """One question a round for the whole batch; a call the callback leaves out keeps its question; a tool that
    asks twice is asked twice; approval is asked once."""
    asked: list[list[str]] = []
    approved: list[list[str]] = []

    def answer(results: list) -> dict[str, object]:  # type: ignore[type-arg]
        asked.append([result.call_id for result in results])
        return accept_all([result for result in results if result.call_id != "left"])

    async def answer_async(results: list) -> dict[str, object]:  # type: ignore[type-arg]
        return answer(results)

    def approve(calls: list[ToolCall]) -> dict[str, bool]:
        approved.append([call.id for call in calls])
        return {call.id: True for call in calls}

    with make_registry(backend, answer=answer if kind == "sync" else answer_async, approve=approve) as registry:
        registry.register(confirm)
        registry.add_policy(match="confirm", requires_approval=True)
        registry.register(span)
        calls = [ToolCall("once", "confirm", {"path": str(tmp_path / "once")}),
                 ToolCall("twice", "confirm", {"path": str(tmp_path / "twice"), "rounds": 2}),
                 ToolCall("left", "confirm", {"path": str(tmp_path / "left")}),
                 ToolCall("free", "span", {"label": "free", "seconds": 0})]
        once, twice, left, free = registry.execute_tool_calls(calls)
    assert asked == [["once", "twice", "left"], ["twice"]]
    assert approved == [["once", "twice", "left"]]  # a call run again is not asked for approval again
    assert (once.value, twice.value, free.value[0]) == ("written", "written", "free")
    assert (once.attempts, twice.attempts) == (2, 3)
    assert (tmp_path / "twice.runs").read_text() == "3"
    assert left.error is not None and left.error.kind == ErrorKind.INPUT_REQUIRED and not (tmp_path / "left").exists()


def confirm_then_wait(path: str, seconds: float) -> str:
    """Ask first; once answered, leave a mark and take `seconds`."""
    from toolwire import ToolCallError
    from toolwire.executing import call_inputs

    if call_inputs() is None:
        question = {"method": "elicitation/create", "params": {"message": "Go on?"}}
        raise ToolCallError("asks first", ErrorKind.INPUT_REQUIRED, input_required={"inputRequests": {"ok": question}})
    Path(path).write_text("started")
    time.sleep(seconds)
    return "finished"


def test_cancelling_a_batch_cancels_a_call_running_again_with_its_answers(backend: str, tmp_path: Path) -> None:
    """A call the answer callback answered runs again as a job of its own: the batch's cancel reaches it (before,
    the batch waited for it to finish)."""
    started = tmp_path / "started"

    def answer(results: list) -> dict[str, object]:  # type: ignore[type-arg]
        return {result.call_id: {"inputResponses": {"ok": {"action": "accept"}}} for result in results}

    with make_registry(backend, answer=answer) as registry:
        registry.register(confirm_then_wait)
        batch = registry.batch([ToolCall("c", "confirm_then_wait", {"path": str(started), "seconds": 30})])
        results: list[Any] = []
        running = threading.Thread(target=lambda: results.extend(registry.execute_batch(batch)))
        running.start()
        deadline = time.monotonic() + 20
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started.exists()
        cancelled_at = time.monotonic()
        batch.cancel(reason="the user stopped the agent")
        running.join(timeout=15)
        assert not running.is_alive() and time.monotonic() - cancelled_at < 10
    [result] = results
    assert result.error is not None and result.error.kind == ErrorKind.CANCELLED, result.content
    assert "the user stopped the agent" in result.content


def test_a_failing_answer_callback_leaves_the_questions(tmp_path: Path) -> None:
    def answer(results: list) -> dict[str, object]:  # type: ignore[type-arg]
        raise RuntimeError("the dialog closed")

    with make_registry("thread", answer=answer) as registry:
        registry.register(confirm)
        [result] = registry.execute_tool_calls([ToolCall("c", "confirm", {"path": str(tmp_path / "c")})])
    assert result.error is not None and result.error.kind == ErrorKind.INPUT_REQUIRED


async def test_a_question_reaches_a_gathered_caller_only_once_answered(tmp_path: Path) -> None:
    """Through a `CallBatcher` (servers, agent frameworks) a result is handed out as soon as it is final: a question
    the callback answers is not."""
    from toolwire import CallBatcher

    with make_registry("thread", answer=accept_all) as registry:
        registry.register(confirm)
        batcher = CallBatcher(registry)
        result = await batcher.call(ToolCall("c", "confirm", {"path": str(tmp_path / "c")}))
    assert result.value == "written"

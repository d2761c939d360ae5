"""Conformance suites for plugin authors; for test code only. It needs pytest (`pip install
'toolwire-core[testing]'`); `import toolwire` does not import it.

Subclass `ExecutorConformance` in a test module of your backend and say how to build it::

    from toolwire.testing import ExecutorConformance
    from my_backend import MyExecutor

    class TestMyExecutor(ExecutorConformance):
        isolates_crashes = True          # the backend survives a tool that kills its worker

        def make_executor(self, config):
            return MyExecutor(config)

pytest then runs every check below against your executor, through `ToolRegistry` (the path users take)
and through `Executor.run`/`arun` directly. The tools the suite runs are module-level functions here, so
backends that pickle tools (by reference or with dill) can run them.

`running(server)` serves a `toolwire.serving.Server` from a thread of its own for a test's duration;
`BatchSizes` records how many calls each batch of a registry had (adapters check that a model turn's
calls went out as one batch); `registry_of(names, EXECUTOR=...)` is a registry of the suite's tools;
`no_leaks()` fails a block that leaves child processes or file descriptors behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import replace
from typing import Any, ClassVar

try:
    import pytest
except ImportError:  # pragma: no cover - said plainly rather than as a bare ModuleNotFoundError
    raise ImportError("toolwire.testing runs its suites with pytest: pip install 'toolwire-core[testing]'") from None

from toolwire.config import Config
from toolwire.executing import Executor, ExecutorConfig, Job, Outcome, call_inputs
from toolwire.hookspecs import Batch, hookimpl
from toolwire.plugins import Plugins
from toolwire.registry import ToolRegistry
from toolwire.serving import Server, in_background
from toolwire.tools import (
    Audio,
    ErrorKind,
    Image,
    Resource,
    Text,
    Tool,
    ToolCall,
    ToolCallError,
    ToolOutput,
    ToolResult,
)

__all__ = [
    "PIXEL", "Abort", "AcceptAll", "BatchSizes", "ExecutorConformance", "Mark", "Opaque", "Prepares",
    "UnpicklableError", "Unreadable", "Unrebuildable", "Unsendable", "add", "ask", "async_ask", "async_echo",
    "async_fail", "async_fail_base", "async_fail_unreadable", "async_hang", "async_marked", "async_which_call",
    "conformance_tools", "crash", "echo", "echo_returned", "endless", "fail", "fail_base", "fail_unpicklable",
    "fail_unreadable", "fail_with", "generator_inside", "hang", "hang_returned", "lazy", "lazy_inside", "marked",
    "media", "model_inside", "no_leaks", "opaque", "pid", "registry_of", "rich", "running", "undecodable_name",
    "unrebuildable", "unsendable", "which_call",
]

HANG_S = 30.0
"""How long the suite's hanging tools sleep; a conforming backend reports them long before."""
DEADLINE_S = 0.5
"""The per-call timeout of the suite's deadline checks."""
PROMPT_S = 10.0
"""A batch with a hanging call must return within this long: far less than `HANG_S`."""

# -- the tools the suite runs ---------------------------------------------------------------------------


def echo(value: Any = None, delay: float = 0.0) -> Any:
    """Return `value`, after sleeping `delay` seconds."""
    if delay:
        time.sleep(delay)
    return value


async def async_echo(value: Any = None, delay: float = 0.0) -> Any:
    """Return `value`, after awaiting `delay` seconds."""
    await asyncio.sleep(delay)
    return value


def echo_returned(value: Any = None, delay: float = 0.0) -> Any:
    """A plain function that returns `async_echo`'s coroutine (as a sync decorator on an async function does)."""
    return async_echo(value, delay)


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def which_call(delay: float = 0.0) -> str | None:
    """The id of the call running this, as `toolwire.current_call_id()` tells it, after `delay` seconds."""
    from toolwire.executing import current_call_id

    if delay:
        time.sleep(delay)
    return current_call_id()


async def async_which_call(delay: float = 0.0) -> str | None:
    """`which_call` for async tools: awaits `delay` seconds, while other calls run on the same loop."""
    from toolwire.executing import current_call_id

    await asyncio.sleep(delay)
    return current_call_id()


def hang(seconds: float | None = None) -> str:
    """Block this thread for `seconds` (default `HANG_S`)."""
    time.sleep(HANG_S if seconds is None else seconds)
    return "finished late"


async def async_hang(seconds: float | None = None) -> str:
    """Await for `seconds` (default `HANG_S`)."""
    await asyncio.sleep(HANG_S if seconds is None else seconds)
    return "finished late"


def hang_returned(seconds: float | None = None) -> Any:
    """A plain function that returns `async_hang`'s coroutine."""
    return async_hang(seconds)


def fail(message: str) -> None:
    """Raise `ValueError(message)`."""
    raise ValueError(message)


async def async_fail(message: str) -> None:
    """Raise `ValueError(message)` from a coroutine."""
    raise ValueError(message)


class UnpicklableError(Exception):
    """An exception whose instances refuse to be pickled (as many third-party exceptions do)."""

    def __reduce__(self) -> Any:
        raise TypeError("UnpicklableError instances cannot be pickled")


def fail_unpicklable(message: str) -> None:
    """Raise an exception that cannot cross a process boundary."""
    raise UnpicklableError(message)


class Abort(BaseException):
    """An exception outside `Exception`'s tree, as some libraries raise one (gevent's `Timeout`)."""


_BASE_EXCEPTIONS: dict[str, type[BaseException]] = {
    "SystemExit": SystemExit, "GeneratorExit": GeneratorExit, "Abort": Abort, "CancelledError": asyncio.CancelledError}


def fail_base(kind: str) -> None:
    """Raise the `BaseException` named `kind` (SystemExit, GeneratorExit, Abort, CancelledError)."""
    raise _BASE_EXCEPTIONS[kind]("from the tool")


async def async_fail_base(kind: str) -> None:
    """Raise the `BaseException` named `kind` from a coroutine (a `CancelledError` of its own, not a cancellation)."""
    raise _BASE_EXCEPTIONS[kind]("from the tool")


class Unreadable(Exception):
    """An exception whose message cannot be read: its `__str__` raises."""

    def __str__(self) -> str:
        raise RuntimeError("no message")


def fail_unreadable() -> None:
    """Raise an exception whose `str()` raises."""
    raise Unreadable


async def async_fail_unreadable() -> None:
    """Raise an exception whose `str()` raises, from a coroutine."""
    raise Unreadable


def fail_with(kind: str, message: str, retry_after: float | None = None) -> None:
    """Raise `ToolCallError(message, kind, retry_after=retry_after)`."""
    raise ToolCallError(message, kind, retry_after=retry_after)


def ask(question: str) -> Any:
    """Ask `question` (an `input_required` error carrying it); once answered (`inputs=`), return the answers."""
    answers = call_inputs()
    if answers is None:
        raise ToolCallError(f"asks: {question}", ErrorKind.INPUT_REQUIRED, input_required=_question(question))
    return dict(answers)


async def async_ask(question: str) -> Any:
    """`ask`, from a coroutine."""
    return ask(question)


def _question(question: str) -> dict[str, Any]:
    return {"inputRequests": {"q": {"method": "elicitation/create", "params": {"message": question}}},
            "requestState": "round 1"}


def rich(text: str) -> ToolOutput:
    """Return a value with a content block."""
    return ToolOutput(value={"text": text}, content=(Text(text),))


PIXEL = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00:~\x9bU\x00\x00"
         b"\x00\nIDATx\x9cc`\x00\x00\x00\x02\x00\x01H\xaf\xa4q\x00\x00\x00\x00IEND\xaeB`\x82")
"""A PNG image of one grey pixel, the image `media` returns."""


def media(title: str) -> ToolOutput:
    """Return content of every kind: text, a PNG image (`PIXEL`), a WAV clip and a PDF document."""
    return ToolOutput(None, (Text(f"the chart {title}"), Image(PIXEL, "image/png"), Audio(b"RIFF0000WAVE", "audio/wav"),
                             Resource("file:///report.pdf", "application/pdf", data=b"%PDF-1.4 report")))


def crash(code: int = 3) -> None:
    """End the process running this tool at once, without cleanup."""
    os._exit(code)


_mark: ContextVar[str | None] = ContextVar("toolwire_testing_mark", default=None)


class Mark:
    """A scope (`Job.scopes`) that sets the mark `marked()` returns while the call runs: picklable, and
    importable wherever toolwire is, so every backend can enter it where the call runs."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._token: Any = None

    def __enter__(self) -> Mark:
        self._token = _mark.set(self.text)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _mark.reset(self._token)

    def __reduce__(self) -> Any:
        return (Mark, (self.text,))


def marked() -> str | None:
    """The mark of the scope the call runs in (None outside one)."""
    return _mark.get()


async def async_marked() -> str | None:
    """`marked` for async tools."""
    await asyncio.sleep(0)
    return _mark.get()


def pid() -> int:
    """The id of the process running the call."""
    return os.getpid()


def undecodable_name() -> str:
    """A file name as `os.fsdecode` reads bytes that are not UTF-8: text with a lone surrogate."""
    return os.fsdecode(b"report-\xff.txt")


class Opaque:
    """An object JSON does not know: it is written as its `repr`."""

    def __repr__(self) -> str:
        return "Opaque()"


def opaque() -> dict[str, Any]:
    """A value holding an object JSON does not know."""
    return {"thing": Opaque()}


def endless() -> Iterator[int]:
    """An iterator that never ends (a plain function returning it): read anywhere, it would never return."""
    return itertools.count()


def lazy(n: int = 3) -> Iterator[int]:
    """A generator object returned by a plain function (it does not pickle)."""
    return (i for i in range(n))


def lazy_inside(n: int = 3) -> dict[str, Any]:
    """An iterator inside the value (`map` pickles, so it reaches the parent from any worker)."""
    return {"rows": map(str, range(n))}


def generator_inside(n: int = 3) -> dict[str, Any]:
    """A generator inside the value (it does not pickle)."""
    return {"rows": (str(i) for i in range(n))}


def model_inside(n: int = 3) -> Any:
    """A pydantic model whose `Iterable[str]` field holds the lazy iterator pydantic made of the list given."""
    from pydantic import BaseModel  # here: the kit's workers import pydantic for this tool only

    class Rows(BaseModel):
        rows: Iterable[str]

    return Rows(rows=[str(i) for i in range(n)])


class Prepares:
    """A tool whose invoker can be prepared (`Executor.prepare`): each process that prepares it leaves a file named
    `{kind}-{pid}` in `folder`. `kind` "async" prepares in the coroutine `prepare()` returns; "fails" raises."""

    def __init__(self, folder: str, kind: str) -> None:
        self.folder, self.kind = folder, kind

    def prepare(self) -> Any:
        """Leave this process's file (from the coroutine returned, for "async"); raise for "fails"."""
        if self.kind == "fails":
            raise RuntimeError("cannot prepare here")
        if self.kind == "async":
            return self._prepared()
        self._mark()
        return None

    async def _prepared(self) -> None:
        await asyncio.sleep(0)
        self._mark()

    def _mark(self) -> None:
        with open(os.path.join(self.folder, f"{self.kind}-{os.getpid()}"), "w"):
            pass

    def __call__(self) -> str:
        return self.kind


class Unsendable:
    """An object whose pickling raises `SystemExit`: a backend that sends results between processes cannot."""

    def __reduce__(self) -> Any:
        raise SystemExit("not this one")


def unsendable() -> list[Any]:
    """A value holding an object whose pickling raises `SystemExit`."""
    return [Unsendable()]


def _refuse(message: str) -> None:
    raise RuntimeError(message)


class Unrebuildable:
    """An object that pickles, but whose unpickling raises: a backend that sends results between processes
    cannot rebuild it where the results are read."""

    def __reduce__(self) -> Any:
        return (_refuse, ("not rebuilt",))


def unrebuildable() -> dict[str, Any]:
    """A value holding an object whose unpickling raises."""
    return {"thing": Unrebuildable()}


class BatchSizes:
    """A plugin recording the number of calls in each batch a registry executes, in order:
    `registry.plugins.register(sizes := BatchSizes())`, run, then read `sizes.sizes`."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    @hookimpl(wrapper=True)
    def toolwire_execute(self, batch: Batch) -> Any:
        self.sizes.append(len(batch.calls))
        return (yield)


class AcceptAll:
    """An `answer` callback (`ToolRegistry(answer=...)`) that accepts every question it is asked and records the call
    ids of each round in `asked`: `ToolRegistry(answer=(answers := AcceptAll()))`, run, then read `answers.asked`."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def __call__(self, results: list[ToolResult]) -> dict[str, Any]:
        self.asked.append([result.call_id for result in results])
        return {result.call_id: {"inputResponses": {key: {"action": "accept"} for key in
                                                    (result.error.input_required or {}).get("inputRequests", {})}}
                for result in results if result.error is not None}


def _schema(properties: dict[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


_ANY_AND_DELAY = _schema({"value": {}, "delay": {"type": "number"}})
_SECONDS = _schema({"seconds": {"type": "number"}})
_MESSAGE = _schema({"message": {"type": "string"}}, ["message"])
_KIND = _schema({"kind": {"type": "string"}}, ["kind"])
_QUESTION = _schema({"question": {"type": "string"}}, ["question"])


def conformance_tools() -> list[Tool]:
    """The tools the suite registers, built directly as `Tool`s with JSON schemas."""
    int_pair = _schema({"a": {"type": "integer"}, "b": {"type": "integer"}}, ["a", "b"])
    kind_and_message = _schema({"kind": {"type": "string"}, "message": {"type": "string"},
                                "retry_after": {"type": "number"}}, ["kind", "message"])
    return [
        Tool("echo", "Return value after delay seconds.", _ANY_AND_DELAY, echo),
        Tool("async_echo", "Return value after delay seconds (async).", _ANY_AND_DELAY, async_echo),
        Tool("echo_returned", "Return async_echo's coroutine.", _ANY_AND_DELAY, echo_returned),
        Tool("add", "Add two integers.", int_pair, add),
        Tool("which_call", "The running call's id.", _schema({"delay": {"type": "number"}}), which_call),
        Tool("async_which_call", "The running call's id (async).", _schema({"delay": {"type": "number"}}),
             async_which_call),
        Tool("hang", "Sleep for a long time.", _SECONDS, hang),
        Tool("async_hang", "Sleep for a long time (async).", _SECONDS, async_hang),
        Tool("hang_returned", "Return async_hang's coroutine.", _SECONDS, hang_returned),
        Tool("fail", "Raise ValueError.", _MESSAGE, fail),
        Tool("async_fail", "Raise ValueError (async).", _MESSAGE, async_fail),
        Tool("fail_unpicklable", "Raise an exception that does not pickle.", _MESSAGE, fail_unpicklable),
        Tool("fail_base", "Raise a BaseException.", _KIND, fail_base),
        Tool("async_fail_base", "Raise a BaseException (async).", _KIND, async_fail_base),
        Tool("fail_unreadable", "Raise an exception whose message cannot be read.", _schema({}), fail_unreadable),
        Tool("async_fail_unreadable", "Raise an exception whose message cannot be read (async).", _schema({}),
             async_fail_unreadable),
        Tool("fail_with", "Raise ToolCallError of a kind.", kind_and_message, fail_with),
        Tool("ask", "Ask a question; return the answers.", _QUESTION, ask),
        Tool("async_ask", "Ask a question; return the answers (async).", _QUESTION, async_ask),
        Tool("rich", "Return content blocks.", _schema({"text": {"type": "string"}}, ["text"]), rich),
        Tool("crash", "Kill the process running it.", _schema({"code": {"type": "integer"}}), crash),
        Tool("marked", "The mark of the call's scope.", _schema({}), marked),
        Tool("pid", "The id of the process running the call.", _schema({}), pid),
        Tool("async_marked", "The mark of the call's scope (async).", _schema({}), async_marked),
        Tool("undecodable_name", "A file name with a lone surrogate.", _schema({}), undecodable_name),
        Tool("opaque", "A value holding an object JSON does not know.", _schema({}), opaque),
        Tool("endless", "An iterator that never ends.", _schema({}), endless),
        Tool("lazy", "A generator object.", _schema({"n": {"type": "integer"}}), lazy),
        Tool("lazy_inside", "An iterator inside the value.", _schema({"n": {"type": "integer"}}), lazy_inside),
        Tool("generator_inside", "A generator inside the value.", _schema({"n": {"type": "integer"}}),
             generator_inside),
        Tool("model_inside", "An iterator in a model's field.", _schema({"n": {"type": "integer"}}), model_inside),
    ]


# -- the suite ------------------------------------------------------------------------------------------


class ExecutorConformance:
    """The executor conformance suite: subclass it (name it `Test...`) and implement `make_executor`.

    Capabilities a backend may declare as class attributes:

    - `isolates_crashes`: a tool that kills its worker (`os._exit`) yields a `crashed` outcome for that
      call, results for every other call of the batch (40 calls, so chunk-mates are checked too), and the
      next batch works.
    - `runs_concurrently`: runs from two threads share the backend, and a call that hangs in one does not
      hold up the other's results.
    - `reports_early`: each job's outcome is reported (`Job.report`) as soon as it is known, before the
      run returns (use `toolwire.Outcomes`).
    - `cancels`: `cancel(jobs)` gives a running job a `cancelled` outcome at once, and the run goes on.
    - `workers`: the worker count the suite configures.

    Every backend enters each job's `scopes` where its invoker runs (`call_invoker` does it).
    """

    isolates_crashes: ClassVar[bool] = False
    runs_concurrently: ClassVar[bool] = False
    reports_early: ClassVar[bool] = False
    cancels: ClassVar[bool] = False
    workers: ClassVar[int] = 4

    def make_executor(self, config: ExecutorConfig) -> Executor:
        """A new executor for `config`; the suite closes it."""
        raise NotImplementedError("subclasses of ExecutorConformance implement make_executor(config)")

    # -- fixtures ----------------------------------------------------------------------------------------

    def executor_config(self) -> ExecutorConfig:
        """The configuration the suite builds executors with."""
        return ExecutorConfig(backend="conformance", workers=self.workers, timeout=60.0)

    @pytest.fixture
    def executor(self) -> Iterator[Executor]:
        executor = self.make_executor(self.executor_config())
        try:
            yield executor
        finally:
            executor.close()

    @pytest.fixture
    def registry(self, executor: Executor) -> Iterator[ToolRegistry]:
        config = Config(executor=replace(self.executor_config(), backend=executor.name))
        registry = ToolRegistry(executor=executor, config=config, plugins=Plugins(autoload=False))
        registry.add(conformance_tools())
        yield registry
        registry.close()  # closes the executor, which the executor fixture closes again

    # -- ordering and one result per call ---------------------------------------------------------------

    @pytest.mark.parametrize("size", [1, 2, 3, 8, 33])
    def test_order_is_kept_with_mixed_fast_and_slow_calls(self, registry: ToolRegistry, size: int) -> None:
        calls = [_call(f"c{i}", "async_echo" if i % 3 == 2 else "echo",
                       value=i, delay=0.2 if i % 2 == 0 and i < 6 else 0.0) for i in range(size)]
        results = registry.execute_tool_calls(calls)
        _assert_values(results, calls, list(range(size)))

    def test_a_tool_knows_the_id_of_the_call_it_serves(self, registry: ToolRegistry) -> None:
        calls = [_call(f"id-{i}", "async_which_call" if i % 2 else "which_call", delay=0.05 * (i % 3))
                 for i in range(12)]
        results = registry.execute_tool_calls(calls)
        _assert_values(results, calls, [call.id for call in calls])

    def test_duplicate_and_empty_ids_each_get_their_result(self, registry: ToolRegistry) -> None:
        calls = [_call("same", "echo", value="a", delay=0.1), _call("same", "echo", value="b"),
                 _call("", "async_echo", value="c", delay=0.05), _call("", "echo", value="d"),
                 _call("same", "async_echo", value="e")]
        results = registry.execute_tool_calls(calls)
        _assert_values(results, calls, ["a", "b", "c", "d", "e"])

    def test_registry_errors_interleave_with_executed_calls(self, registry: ToolRegistry) -> None:
        calls = [_call("0", "echo", value=0, delay=0.1), _call("1", "no_such_tool"),
                 _call("2", "add", a=1, b=2), _call("3", "add", a="one", b=2),
                 ToolCall("4", "echo", '{"value": '), _call("5", "async_echo", value=5)]
        results = registry.execute_tool_calls(calls)
        assert [r.call_id for r in results] == ["0", "1", "2", "3", "4", "5"]
        assert [r.is_error for r in results] == [False, True, False, True, True, False]
        assert [r.value for r in results] == [0, None, 3, None, None, 5]
        assert [r.error.kind for r in results if r.error] == [
            ErrorKind.UNKNOWN_TOOL, ErrorKind.INVALID_ARGUMENTS, ErrorKind.INVALID_ARGUMENTS]

    def test_run_returns_one_outcome_per_job_in_order(self, executor: Executor) -> None:
        tools = _tools()
        jobs = [Job(f"j{i}", tools["async_echo" if i % 2 else "echo"],
                    {"value": i, "delay": 0.15 if i == 0 else 0.0}, _deadline(60.0)) for i in range(12)]
        outcomes = executor.run(jobs)
        assert len(outcomes) == len(jobs)
        assert all(isinstance(o, Outcome) for o in outcomes)
        assert [(o.error, o.value) for o in outcomes] == [(None, i) for i in range(12)]

    def test_run_of_no_jobs_is_empty(self, executor: Executor) -> None:
        assert executor.run([]) == []

    def test_large_batch(self, registry: ToolRegistry) -> None:
        calls = [_call(f"c{i}", "add", a=i, b=i * 1000) for i in range(2000)]
        results = registry.execute_tool_calls(calls)
        _assert_values(results, calls, [i + i * 1000 for i in range(2000)])

    # -- values -----------------------------------------------------------------------------------------

    def test_values_of_every_shape(self, registry: ToolRegistry) -> None:
        values: list[Any] = [None, [1, "two", [3.0]], {"a": {"b": [None, True]}}, "text", 0, 2.5, False]
        calls = [_call(str(i), "async_echo" if i % 2 else "echo", value=v) for i, v in enumerate(values)]
        results = registry.execute_tool_calls(calls)
        _assert_values(results, calls, values)
        assert results[0].content == ""
        assert results[2].text == '{"a":{"b":[null,true]}}'

    def test_tool_output_content_blocks_pass_through(self, registry: ToolRegistry) -> None:
        [result] = registry.execute_tool_calls([_call("r", "rich", text="hello")])
        assert not result.is_error, result.error
        assert result.value == {"text": "hello"}
        assert result.content == (Text("hello"),)

    # -- errors -----------------------------------------------------------------------------------------

    @pytest.mark.parametrize("tool", ["fail", "async_fail"])
    def test_raising_tool_is_a_tool_error_with_type_and_message(self, registry: ToolRegistry,
                                                                tool: str) -> None:
        calls = [_call("ok", "echo", value=1), _call("bad", tool, message="no such city"),
                 _call("ok2", "async_echo", value=2)]
        ok, bad, ok2 = registry.execute_tool_calls(calls)
        assert (ok.value, ok2.value) == (1, 2)
        assert bad.is_error and bad.error is not None
        assert bad.error.kind == ErrorKind.TOOL_ERROR
        assert "ValueError" in bad.error.message and "no such city" in bad.error.message

    def test_any_exception_from_a_tool_is_that_calls_error_alone(self, registry: ToolRegistry) -> None:
        pairs = [(tool, kind) for tool in ("fail_base", "async_fail_base") for kind in _BASE_EXCEPTIONS]
        calls = [_call(f"{tool} {kind}", tool, kind=kind) for tool, kind in pairs]
        unreadable = [_call("unreadable", "fail_unreadable"), _call("async unreadable", "async_fail_unreadable")]
        *failed, ok = registry.execute_tool_calls([*calls, *unreadable, _call("ok", "add", a=2, b=3)],
                                                  timeout=PROMPT_S)
        assert ok.value == 5
        expected = [f"{kind}: from the tool" for _, kind in pairs]
        expected += ["Unreadable: (its message cannot be read: str() raised RuntimeError)"] * 2
        for result, message in zip(failed, expected, strict=True):
            assert result.error is not None and result.error.kind == ErrorKind.TOOL_ERROR, result
            assert result.error.message == message
        assert registry.execute_tool_calls([_call("again", "add", a=1, b=1)])[0].value == 2

    def test_exception_that_does_not_pickle_is_a_tool_error(self, registry: ToolRegistry) -> None:
        calls = [_call("bad", "fail_unpicklable", message="opaque failure"), _call("ok", "add", a=2, b=3)]
        bad, ok = registry.execute_tool_calls(calls)
        assert bad.error is not None and bad.error.kind == ErrorKind.TOOL_ERROR
        assert "UnpicklableError" in bad.error.message and "opaque failure" in bad.error.message
        assert ok.value == 5 and not ok.is_error
        assert registry.execute_tool_calls([_call("again", "add", a=1, b=1)])[0].value == 2

    @pytest.mark.parametrize("tool", ["endless", "lazy", "lazy_inside", "generator_inside", "model_inside"])
    def test_a_returned_iterator_is_refused_unread(self, registry: ToolRegistry, tool: str) -> None:
        refused, ok = registry.execute_tool_calls([_call("it", tool), _call("ok", "add", a=2, b=3)])
        assert refused.error is not None and refused.error.kind == ErrorKind.TOOL_ERROR
        assert "iterator" in refused.error.message and "return a list" in refused.error.message
        if tool.endswith("_inside"):
            assert "at 'rows'" in refused.error.message
        assert ok.value == 5 and not ok.is_error

    @pytest.mark.parametrize("kind", [ErrorKind.TOOL_ERROR, ErrorKind.TRANSPORT, ErrorKind.INVALID_ARGUMENTS,
                                      ErrorKind.UNKNOWN_TOOL, ErrorKind.CANCELLED])
    def test_tool_call_error_kind_passes_through(self, registry: ToolRegistry, kind: ErrorKind) -> None:
        calls = [_call("e", "fail_with", kind=kind.value, message=f"reported as {kind.value}"),
                 _call("w", "fail_with", kind=kind.value, message="later", retry_after=2.5),
                 _call("ok", "echo", value="fine")]
        error, waiting, ok = registry.execute_tool_calls(calls)
        assert error.error is not None
        assert (error.error.kind, error.error.message, error.error.retry_after) == (
            kind, f"reported as {kind.value}", None)
        assert waiting.error is not None and (waiting.error.kind, waiting.error.retry_after) == (kind, 2.5)
        assert ok.value == "fine"

    @pytest.mark.parametrize("tool", ["ask", "async_ask"])
    def test_a_tools_question_comes_back_and_its_answers_reach_its_next_run(self, registry: ToolRegistry,
                                                                           tool: str) -> None:
        """`input_required` keeps what the tool asks; `inputs=` reaches the call it answers (a scope where the call
        runs: `call_inputs()`), and no other."""
        asking = _call("q", tool, question="Sure?")
        [asked] = registry.execute_tool_calls([asking])
        assert asked.error is not None and asked.error.kind == ErrorKind.INPUT_REQUIRED
        assert asked.error.input_required == _question("Sure?")
        answers = {"inputResponses": {"q": {"action": "accept"}}, "requestState": "round 1"}
        answered, other = registry.execute_tool_calls([asking, _call("o", tool, question="And?")],
                                                      inputs={"q": answers})
        assert answered.value == answers
        assert other.error is not None and other.error.input_required == _question("And?")

    # -- deadlines --------------------------------------------------------------------------------------

    @pytest.mark.parametrize("tool", ["hang", "async_hang"])
    def test_call_past_its_deadline_times_out_and_the_batch_returns(self, registry: ToolRegistry,
                                                                    tool: str) -> None:
        calls = [_call("fast", "echo", value="a"), _call("slow", tool),
                 _call("fast2", "async_echo", value="b"), _call("fast3", "add", a=1, b=1)]
        registry.warm()  # the deadline is for the calls, not for starting workers on a busy machine
        started = time.monotonic()
        fast, slow, fast2, fast3 = registry.execute_tool_calls(calls, timeout=DEADLINE_S)
        elapsed = time.monotonic() - started
        assert elapsed < PROMPT_S, f"the batch took {elapsed:.1f}s: it waited for the hanging call"
        assert slow.error is not None and slow.error.kind == ErrorKind.TIMEOUT, slow
        assert slow.value is None
        assert [(r.value, r.error) for r in (fast, fast2, fast3)] == [("a", None), ("b", None), (2, None)]

    def test_a_coroutine_a_plain_function_returns_is_awaited_until_its_time_is_up(self, registry: ToolRegistry) -> None:
        registry.warm()
        started = time.monotonic()
        calls = [_call("a", "echo_returned", value="x", delay=0.05), _call("h", "hang_returned"),
                 _call("ok", "add", a=2, b=3)]
        awaited, hung, ok = registry.execute_tool_calls(calls, timeout=DEADLINE_S)
        assert time.monotonic() - started < PROMPT_S
        assert (awaited.value, awaited.error) == ("x", None)
        assert hung.error is not None and hung.error.kind == ErrorKind.TIMEOUT, hung
        assert (ok.value, ok.error) == (5, None)

    def test_run_reports_timeout_at_each_jobs_own_deadline(self, executor: Executor) -> None:
        tools = _tools()
        jobs = [Job("hang", tools["hang"], {}, _deadline(DEADLINE_S)),
                Job("async_hang", tools["async_hang"], {}, _deadline(DEADLINE_S)),
                Job("ok", tools["echo"], {"value": "ok", "delay": 0.05}, _deadline(60.0))]
        started = time.monotonic()
        hung, async_hung, ok = executor.run(jobs)
        assert time.monotonic() - started < PROMPT_S
        assert hung.error is not None and hung.error.kind == ErrorKind.TIMEOUT
        assert async_hung.error is not None and async_hung.error.kind == ErrorKind.TIMEOUT
        assert (ok.error, ok.value) == (None, "ok")

    def test_next_batch_works_after_a_deadline_passed(self, registry: ToolRegistry) -> None:
        hung = registry.execute_tool_calls([_call("h", "hang")] * self.workers, timeout=DEADLINE_S)
        assert all(r.error is not None and r.error.kind == ErrorKind.TIMEOUT for r in hung)
        calls = [_call(str(i), "add", a=i, b=1) for i in range(3 * self.workers)]
        results = registry.execute_tool_calls(calls, timeout=PROMPT_S)
        _assert_values(results, calls, [i + 1 for i in range(3 * self.workers)])

    # -- async callers ----------------------------------------------------------------------------------

    def test_aexecute_tool_calls(self, registry: ToolRegistry) -> None:
        calls = [_call(str(i), "async_echo" if i % 2 else "echo", value=i, delay=0.1 if i == 1 else 0.0)
                 for i in range(6)]
        results = asyncio.run(registry.aexecute_tool_calls(calls))
        _assert_values(results, calls, list(range(6)))

    def test_aexecute_tool_calls_past_their_deadline(self, registry: ToolRegistry) -> None:
        calls = [_call("slow", "hang"), _call("slow2", "async_hang"), _call("ok", "echo", value=1)]
        registry.warm()  # the deadline is for the calls, not for starting workers on a busy machine
        started = time.monotonic()
        slow, slow2, ok = asyncio.run(registry.aexecute_tool_calls(calls, timeout=DEADLINE_S))
        assert time.monotonic() - started < PROMPT_S
        assert [r.error.kind if r.error else None for r in (slow, slow2)] == [ErrorKind.TIMEOUT] * 2
        assert ok.value == 1

    def test_arun_directly(self, executor: Executor) -> None:
        tools = _tools()
        jobs = [Job(str(i), tools["async_echo" if i % 2 else "echo"], {"value": i}, _deadline(60.0))
                for i in range(5)]
        outcomes = asyncio.run(executor.arun(jobs))
        assert [(o.error, o.value) for o in outcomes] == [(None, i) for i in range(5)]

    # -- lifecycle --------------------------------------------------------------------------------------

    def test_close_then_a_new_executor_works(self) -> None:
        config = self.executor_config()
        job = Job("1", _tools()["add"], {"a": 20, "b": 22}, _deadline(60.0))
        first = self.make_executor(config)
        try:
            first.warm()
            assert first.run([job])[0].value == 42
        finally:
            first.close()
        first.close()  # closing twice is harmless
        second = self.make_executor(config)
        try:
            assert second.run([job, job])[1].value == 42
        finally:
            second.close()

    # -- scopes ------------------------------------------------------------------------------------------

    def test_scopes_are_entered_where_the_call_runs(self, executor: Executor) -> None:
        tools = _tools()
        jobs = [Job("s", tools["marked"], {}, _deadline(60.0), scopes=(Mark("sync"),)),
                Job("a", tools["async_marked"], {}, _deadline(60.0), scopes=(Mark("async"),)),
                Job("n", tools["marked"], {}, _deadline(60.0))]
        assert [(o.error, o.value) for o in executor.run(jobs)] == [(None, "sync"), (None, "async"), (None, None)]

    # -- serving many callers (optional) ----------------------------------------------------------------

    def test_a_hanging_call_in_one_run_does_not_hold_up_another_run(self, executor: Executor) -> None:
        if not self.runs_concurrently:
            pytest.skip("the backend does not declare runs_concurrently")
        tools = _tools()
        slow = [Job("hang", tools["hang"], {"seconds": 3.0}, _deadline(20.0))]
        first = threading.Thread(target=executor.run, args=(slow,))
        first.start()
        time.sleep(0.3)
        started = time.monotonic()
        outcomes = executor.run([Job(str(i), tools["add"], {"a": i, "b": 1}, _deadline(20.0)) for i in range(8)])
        took = time.monotonic() - started
        first.join(30)
        assert [o.value for o in outcomes] == [i + 1 for i in range(8)]
        assert took < 2.0, f"the second run waited {took:.2f}s for the first one's hanging call"

    def test_each_outcome_is_reported_as_soon_as_it_is_known(self, executor: Executor) -> None:
        if not self.reports_early:
            pytest.skip("the backend does not declare reports_early")
        tools = _tools()
        jobs = [Job("quick", tools["echo"], {"value": 1}, _deadline(20.0)),
                Job("slow", tools["echo"], {"value": 2, "delay": 1.5}, _deadline(20.0))]
        reported: list[tuple[str, float]] = []
        for job in jobs:
            job.on_report(functools.partial(_note_report, reported, job.call_id))
        executor.run(jobs)
        ended = time.monotonic()
        assert [call_id for call_id, _ in reported] == ["quick", "slow"]
        assert ended - reported[0][1] > 0.8, "the quick call was reported only when the run ended"

    @pytest.mark.parametrize("name", ["hang", "async_hang"])
    def test_cancel_gives_a_running_call_its_outcome_at_once(self, executor: Executor, name: str) -> None:
        if not self.cancels:
            pytest.skip("the backend does not declare cancels")
        tools = _tools()
        jobs = [Job("stop", tools[name], {}, _deadline(HANG_S)), Job("keep", tools["echo"], {"value": 7},
                                                                      _deadline(HANG_S))]
        outcomes: list[Outcome] = []
        running = threading.Thread(target=lambda: outcomes.extend(executor.run(jobs)))
        running.start()
        time.sleep(0.5)
        asked = time.monotonic()
        jobs[0].cancel("the caller went away")
        executor.cancel(jobs[:1])
        running.join(PROMPT_S)
        assert not running.is_alive() and time.monotonic() - asked < PROMPT_S
        assert outcomes[0].error is not None and outcomes[0].error.kind == ErrorKind.CANCELLED
        assert outcomes[0].error.message == "the caller went away"
        assert outcomes[1].value == 7
        again = executor.run([Job("after", tools["add"], {"a": 1, "b": 2}, _deadline(20.0))])
        assert again[0].value == 3

    # -- crash isolation (optional) ---------------------------------------------------------------------

    def test_crashing_tool_is_isolated(self, registry: ToolRegistry) -> None:
        if not self.isolates_crashes:
            pytest.skip("the backend does not declare isolates_crashes")
        # big enough that a backend sending calls in chunks puts others beside the crash in its chunk
        calls = [_call(str(i), "add", a=i, b=1) for i in range(40)]
        calls[17] = _call("boom", "crash", code=3)
        results = registry.execute_tool_calls(calls, timeout=PROMPT_S)
        boom = results.pop(17)
        assert boom.error is not None and boom.error.kind == ErrorKind.CRASHED, boom
        assert [r.value for r in results] == [i + 1 for i in range(40) if i != 17], [r.error for r in results]
        after = registry.execute_tool_calls([_call(str(i), "add", a=i, b=i) for i in range(10)])
        assert [r.value for r in after] == [2 * i for i in range(10)]


def registry_of(names: Iterable[str], **settings: str) -> ToolRegistry:
    """A registry holding the suite's tools `names`, configured by `TOOLWIRE_<KEY>` settings
    (`registry_of(["add"], EXECUTOR="process", WORKERS="2", TIMEOUT="1")`), its workers started. Close it
    (it is a context manager)."""
    from toolwire.config import load_config

    wanted = set(names)
    registry = ToolRegistry(config=load_config(environ={f"TOOLWIRE_{key}": value for key, value in settings.items()}))
    registry.add([tool for tool in conformance_tools() if tool.name in wanted])
    registry.warm()
    return registry


@contextlib.contextmanager
def no_leaks(settle: float = 10.0) -> Iterator[None]:
    """Fail if the block leaves child processes or open file descriptors behind (after up to `settle`
    seconds for them to go). The process's shared event loop (`toolwire.loop`) is started first: it lives
    on by design. Needs psutil (`pip install 'toolwire-core[testing]'`)."""
    import psutil

    from toolwire.loop import shared_loop

    shared_loop()
    me = psutil.Process()
    children, fds = {child.pid for child in me.children(recursive=True)}, me.num_fds()
    yield
    deadline = time.monotonic() + settle
    while True:
        left = {child.pid for child in me.children(recursive=True)
                if child.is_running() and child.status() != psutil.STATUS_ZOMBIE} - children
        if (not left and me.num_fds() <= fds) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not left, f"child processes left: {left}"
    assert me.num_fds() <= fds, f"file descriptors: {fds} before, {me.num_fds()} after"


@contextlib.contextmanager
def running(server: Server, timeout: float = 30.0) -> Iterator[Server]:
    """`toolwire.serving.in_background`, as the tests' fixtures name it: a server that does not start or
    stop fails the test."""
    with in_background(server, timeout) as started:
        yield started


def _call(call_id: str, name: str, **arguments: Any) -> ToolCall:
    return ToolCall(call_id, name, arguments)


def _tools() -> dict[str, Tool]:
    return {tool.name: tool for tool in conformance_tools()}


def _deadline(seconds: float) -> float:
    return time.monotonic() + seconds


def _note_report(reported: list[tuple[str, float]], call_id: str, outcome: Outcome) -> None:
    reported.append((call_id, time.monotonic()))


def _assert_values(results: Sequence[ToolResult], calls: Sequence[ToolCall], values: Sequence[Any]) -> None:
    assert len(results) == len(calls), f"{len(results)} results for {len(calls)} calls"
    assert [r.call_id for r, c in zip(results, calls, strict=True) if c.id] == [c.id for c in calls if c.id]
    errors = [(r.call_id, r.error) for r in results if r.is_error]
    assert not errors, f"unexpected errors: {errors[:3]}"
    assert [r.value for r in results] == list(values)

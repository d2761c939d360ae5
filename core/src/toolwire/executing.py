"""The executor protocol: a batch of jobs in, one outcome per job out, in order.

An executor never raises for a tool's misbehaviour: a failing, crashing or hanging tool is that job's
`Outcome` with an error, and every other job still gets its own outcome.
"""

from __future__ import annotations

import asyncio
import contextvars
import difflib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import CoroutineType
from typing import Any

from toolwire.loop import shared_loop
from toolwire.tools import ErrorKind, Tool, ToolCallError, ToolError

log = logging.getLogger("toolwire")

__all__ = [
    "CallInputs",
    "Executor",
    "ExecutorConfig",
    "Job",
    "Outcome",
    "Outcomes",
    "abandon_thread",
    "await_returned",
    "call_abandoned",
    "call_inputs",
    "call_invoker",
    "call_invoker_async",
    "cancelled_outcome",
    "check_options",
    "check_timeout",
    "current_call_id",
    "earliest_deadline",
    "enter_scopes",
    "error_from_exception",
    "input_answers",
    "listen_progress",
    "outgoing_headers",
    "progress_listened",
    "progress_listened_among",
    "report_progress",
    "set_current_call_id",
    "task_cancelled",
    "timeout_outcome",
]


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    """A backend's settings: worker count, default per-call timeout in seconds (`None` or `inf` for no
    deadline), and backend-specific options."""

    backend: str = "process"
    workers: int | None = None
    timeout: float | None = 60.0
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_timeout(self.timeout)


def check_timeout(seconds: Any, option: str = "timeout") -> float | None:
    """`seconds` as a timeout option holds it: a number of seconds above 0, or `None` for no limit (given as
    `None` or `inf`, or a time too far away to wait for). Anything else raises `TypeError` or `ValueError` naming
    `option`: a timeout of 0 or nan would time everything out at once, or never."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise TypeError(f"{option} is a number of seconds (or None for no limit), not {type(seconds).__name__} "
                        f"{seconds!r}")
    if not seconds > 0:  # nan too
        raise ValueError(f"{option} must be more than 0 seconds (or inf, or None, for no limit), not {seconds!r}")
    return None if seconds >= threading.TIMEOUT_MAX else float(seconds)


def _deadline_in(seconds: float | None) -> float | None:
    """The `time.monotonic()` instant `seconds` (a checked timeout) from now; `None` when `check_timeout` says
    there is no limit."""
    limit = check_timeout(seconds)
    return None if limit is None else time.monotonic() + limit


@dataclass(slots=True)
class Job:
    """One validated call to run: the tool, its keyword arguments and its deadline.

    `deadline` is a `time.monotonic()` instant of the calling process, or `None` for no deadline.
    `scopes` are picklable context managers a backend enters around the invoker wherever it runs (a
    tracing plugin puts the call's trace context there); `enter_scopes` does it.

    Two signals travel with a job. `cancel(reason)` marks it cancelled (and tells `on_cancel` listeners): a job
    not started never starts, and the registry then calls the backend's `Executor.cancel` with the jobs it runs.
    `report(outcome)` tells whoever waits for this one call that its outcome is known, before the rest of the
    batch ends: backends call it as each job finishes, and the registry calls it for any job left unreported.
    """

    call_id: str
    tool: Tool
    arguments: dict[str, Any]
    deadline: float | None = None
    scopes: tuple[Any, ...] = ()
    context: contextvars.Context | None = field(default=None, repr=False, compare=False)
    """For a batch gathered from several callers (`Batch.contexts`), the context of the one that made this call:
    a backend that runs the invoker in this process runs it in a copy of this (an async one's task started in it;
    `call_invoker` does it for a sync one), so that a tool sees its own caller's context variables, never
    another's. `None`: the batch's own context is the caller's."""
    _signals: _Signals | None = field(default=None, repr=False, compare=False)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or `None` without one."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    @property
    def cancelled(self) -> str | None:
        """Why the job was cancelled, or `None` while it was not."""
        return None if self._signals is None else self._signals.cancelled

    def cancel(self, reason: str = "the call was cancelled") -> None:
        """Mark the job cancelled (`reason` is why); later calls do nothing. The registry asks the backend to stop
        it (`Executor.cancel`)."""
        signals = self._signals_()
        if signals.cancelled is None:
            signals.cancelled = reason
            for callback in list(signals.cancel_callbacks):
                callback(reason)

    def report(self, outcome: Outcome) -> None:
        """Hand this job's outcome to its listeners (once; later reports are ignored)."""
        signals = self._signals
        if signals is not None and not signals.reported:
            signals.reported = True
            for callback in signals.report_callbacks:
                callback(outcome)

    def on_report(self, callback: Callable[[Outcome], None]) -> None:
        """Call `callback(outcome)` when the job's outcome is reported."""
        self._signals_().report_callbacks.append(callback)

    def on_cancel(self, callback: Callable[[str], None]) -> None:
        """Call `callback(reason)` when the job is cancelled, at once if it already is (a policy that runs a job
        again as another, such as a question answered, cancels that one with it). Callbacks run on the cancelling
        thread and may be called twice in a race: make them idempotent."""
        signals = self._signals_()
        signals.cancel_callbacks.append(callback)
        if signals.cancelled is not None:
            callback(signals.cancelled)

    def _signals_(self) -> _Signals:
        if self._signals is None:
            self._signals = _Signals()
        return self._signals


class _Signals:
    """A job's cancellation and report listeners; most jobs never need one (a plain class: a batch whose
    results are handed out early makes one per job)."""

    __slots__ = ("cancel_callbacks", "cancelled", "report_callbacks", "reported")

    def __init__(self) -> None:
        self.cancelled: str | None = None
        self.reported = False
        self.report_callbacks: list[Callable[[Outcome], None]] = []
        self.cancel_callbacks: list[Callable[[str], None]] = []


def enter_scopes(scopes: Sequence[Any]) -> AbstractContextManager[Any]:
    """Enter a job's `scopes` (outermost first) around the code that runs its invoker."""
    if len(scopes) == 1:
        return scopes[0]  # the common case (one tracing scope): entered as it is
    return _stacked(scopes) if scopes else nullcontext()


@contextmanager
def _stacked(scopes: Sequence[Any]) -> Iterator[None]:
    with ExitStack() as stack:
        for scope in scopes:
            stack.enter_context(scope)
        yield


@dataclass(slots=True)
class Outcome:
    """What running one job produced: a value (or `ToolOutput`), or an error."""

    value: Any = None
    error: ToolError | None = None
    duration_s: float = 0.0


_current_call_id: ContextVar[str | None] = ContextVar("toolwire_current_call_id", default=None)

outgoing_headers: ContextVar[Callable[[], Mapping[str, str]] | None] = ContextVar("toolwire_outgoing_headers",
                                                                                default=None)
"""Where a call runs: what gives the headers that the requests it makes should carry, or `None`. A tracing
plugin's job scope sets it (the call's W3C trace context, so that the service called continues the call's
trace); a loader's HTTP client adds what it gives to each request it makes for the call (the `openapi` loader's
does; the mcp SDK's client carries the trace itself). A function, called only by a call that makes a request."""


def current_call_id() -> str | None:
    """The id of the tool call being run, for code inside an invoker; `None` outside a call.

    Every backend sets it where the invoker runs, so a tool (or a loader's invoker, such as an MCP
    progress callback) can tell which of the model's calls it is serving.
    """
    return _current_call_id.get()


_call_inputs: ContextVar[Mapping[str, Any] | None] = ContextVar("toolwire_call_inputs", default=None)


def call_inputs() -> Mapping[str, Any] | None:
    """For code inside an invoker: what the caller answered to the input this call asked for the last time it ran
    (`execute_tool_calls(inputs={call_id: ...})`, after an `input_required` result), or `None`. A loader whose
    tools can ask for input (MCP's) sends it with the call; it is MCP's shape in JSON: `inputResponses` by key, and
    the `requestState` to echo."""
    return _call_inputs.get()


def input_answers(responses: Mapping[str, Any], request_state: Any = None) -> dict[str, Any]:
    """The answers to what a call asked (an `input_required` result), as `execute_tool_calls(inputs={call_id: ...})`
    takes them: `responses` by the keys of its `inputRequests`, and its `requestState` echoed when it had one."""
    return {"inputResponses": responses, **({"requestState": request_state} if request_state is not None else {})}


class CallInputs:
    """A job scope (`Job.scopes`) giving the call its caller's answers (`call_inputs()`) wherever it runs; the
    pipeline adds it to the jobs of calls given `inputs=`."""

    def __init__(self, answers: Mapping[str, Any]) -> None:
        self.answers = answers
        self._tokens: list[Any] = []

    def __reduce__(self) -> tuple[Any, ...]:
        return (CallInputs, (self.answers,))

    def __enter__(self) -> None:
        self._tokens.append(_call_inputs.set(self.answers))

    def __exit__(self, *exc_info: object) -> None:
        _call_inputs.reset(self._tokens.pop())


def set_current_call_id(call_id: str | None) -> None:
    """Set what `current_call_id()` returns in the current context: for executors, once per call, where
    its invoker runs (an asyncio task has a context of its own; a thread reusing its context is set again
    for each call). `call_invoker` and `call_invoker_async` do it themselves."""
    _current_call_id.set(call_id)


def abandon_thread(thread: threading.Thread) -> None:
    """For executors that leave a thread to finish a call they gave up on (past its deadline, or cancelled) in
    the background: mark `thread` so that code the call runs can stop early (`call_abandoned()`)."""
    thread.toolwire_abandoned = True  # type: ignore[attr-defined]  # dies with the thread: no ident to forget


def call_abandoned() -> bool:
    """Whether the executor gave up on the call this thread runs: its outcome is already given (a `timeout` or
    `cancelled`) and its result will be dropped. An invoker that runs on for long (the native loader's, reading a
    generator function item by item) checks it to stop instead of running on in the background."""
    return getattr(threading.current_thread(), "toolwire_abandoned", False)


_progress: dict[str, Callable[[float, float | None, str | None], None]] = {}


def report_progress(progress: float, total: float | None = None, message: str | None = None, *,
                    call_id: str | None = None) -> None:
    """Tell whoever follows a call how far it has come (`progress` of `total`, with an optional message).

    A tool calls it while it runs (the call is `current_call_id()` unless `call_id` names one); a server
    serving the call to a client that asked for progress forwards it there. It reaches listeners in this
    process; the `process` and `dask` backends send it back from their workers to the listeners of the
    process that runs the batch. Where nobody listens, it does nothing. A listener that fails is logged: the
    report is lost, and neither the call nor its batch is.
    """
    call_id = call_id if call_id is not None else _current_call_id.get()
    listener = _progress.get(call_id) if call_id is not None else None
    if listener is not None:
        try:
            listener(progress, total, message)
        except Exception:
            log.exception("a progress listener failed for call %s; the call goes on", call_id)


def listen_progress(call_id: str, listener: Callable[[float, float | None, str | None], None]) -> Callable[[], None]:
    """Hear the progress reported for call `call_id` (from any thread); returns the function that stops it."""
    _progress[call_id] = listener
    return lambda: _progress.pop(call_id, None) and None


def progress_listened(call_id: str | None = None) -> bool:
    """Whether anyone in this process listens for the progress of call `call_id` (default: the current
    call): a tool that must ask for progress elsewhere (an upstream server) asks only then."""
    call_id = call_id if call_id is not None else _current_call_id.get()
    return call_id is not None and call_id in _progress


def progress_listened_among(call_ids: Iterable[str]) -> set[str]:
    """The ids among `call_ids` whose progress someone in this process listens to (for most batches, none):
    a backend that runs calls in other processes forwards their progress here for these calls only."""
    return {call_id for call_id in call_ids if call_id in _progress} if _progress else set()


def error_from_exception(exc: BaseException) -> ToolError:
    """The `ToolError` for an exception raised by a tool; works for exceptions that do not pickle."""
    if isinstance(exc, ToolCallError):
        return ToolError(exc.kind, exc.message, exc.retry_after, exc.input_required)
    try:
        message = str(exc)
    except Exception as failure:  # a broken __str__: the type still says something
        message = f"(its message cannot be read: str() raised {type(failure).__name__})"
    said = message.strip()
    if isinstance(exc, TimeoutError):
        return ToolError(ErrorKind.TIMEOUT, message if said else "the call timed out")
    kind = type(exc).__name__
    return ToolError(ErrorKind.TOOL_ERROR, f"{kind}: {message}" if said else kind)


def task_cancelled() -> bool:
    """Whether the running asyncio task is being cancelled: a `CancelledError` caught then is that cancellation;
    caught otherwise, it is the tool's own error (raised, or re-raised from a task it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def earliest_deadline(deadlines: Sequence[float | None]) -> float | None:
    """The earliest of `deadlines` (jobs' `deadline`s; None is no deadline), or None when none has one. Quick when
    they are all one value, as a batch's usually are: no float is hashed or compared with `<`."""
    if not deadlines:
        return None
    first = deadlines[0]
    if deadlines.count(first) == len(deadlines):
        return first
    return min([deadline for deadline in deadlines if deadline is not None], default=None)


def timeout_outcome(job: Job, started: float, *, ran: bool = True) -> Outcome:
    """The outcome of a job past its deadline; `ran=False` for one that waited for a worker all that time."""
    allowed = max(0.0, job.deadline - started) if job.deadline is not None else 0.0
    if ran:
        message = f"'{job.tool.name}' did not finish within {allowed:.3g}s"
    else:
        message = (f"'{job.tool.name}' did not start within {allowed:.3g}s: every worker of the backend was busy with "
                   "other calls (give it more workers, or the calls more time)")
    return Outcome(error=ToolError(ErrorKind.TIMEOUT, message), duration_s=time.monotonic() - started)


def call_invoker(job: Job) -> Outcome:
    """Run a sync tool's invoker in this thread, inside the job's scopes, and capture its value or error; a
    coroutine it returns is awaited (`await_returned`). A job with a `context` (its caller's, in a gathered batch)
    runs in a copy of it (decision 0074)."""
    if job.context is not None:
        return job.context.copy().run(_call_invoker, job)
    return _call_invoker(job)


def _call_invoker(job: Job) -> Outcome:
    started = time.monotonic()
    token = _current_call_id.set(job.call_id)
    try:
        if job.scopes:
            with enter_scopes(job.scopes):
                value = job.tool.invoker(**job.arguments)
        else:
            value = job.tool.invoker(**job.arguments)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from a tool is that call's error too
        return Outcome(error=error_from_exception(exc), duration_s=time.monotonic() - started)
    finally:
        _current_call_id.reset(token)
    if type(value) is CoroutineType:
        return await_returned(job, value, started)
    return Outcome(value=value, duration_s=time.monotonic() - started)


def await_returned(job: Job, coroutine: Coroutine[Any, Any, Any], started: float,
                   loop: asyncio.AbstractEventLoop | None = None) -> Outcome:
    """The outcome of a sync tool that returned a coroutine (a plain `def` around an async function, as a sync
    decorator on one makes it): awaited on `loop` (default: toolwire's shared loop) inside the job's scopes and
    deadline, this thread waiting for it, as pydantic-ai and FastMCP await what a plain function returns. `started`
    is when the call began. Once the backend abandons this thread (`abandon_thread`: the call was cancelled, or
    overran), the coroutine is cancelled too. On the loop's own thread, which cannot wait for itself, the coroutine
    is the value (and refused where the result is written)."""
    if loop is None:
        loop = shared_loop().loop
    if _running_loop() is loop:
        return Outcome(value=coroutine, duration_s=time.monotonic() - started)
    future = asyncio.run_coroutine_threadsafe(_awaited(job, lambda: coroutine, started), loop)
    while True:
        try:
            return future.result(_ABANDON_POLL_S)
        except TimeoutError:
            if call_abandoned():  # its outcome is given already: this one is dropped
                future.cancel()
                return cancelled_outcome(job, started)


_ABANDON_POLL_S = 0.05
"""How often a thread awaiting a returned coroutine looks whether its backend abandoned it."""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def call_invoker_async(job: Job) -> Outcome:
    """Run an async tool's invoker on the running loop, inside the job's scopes, cancelled at its deadline."""
    return await _awaited(job, lambda: job.tool.invoker(**job.arguments), time.monotonic())


async def _awaited(job: Job, call: Callable[[], Awaitable[Any]], started: float) -> Outcome:
    """The outcome of awaiting what `call` returns, inside the job's scopes, cancelled at its deadline."""
    token = _current_call_id.set(job.call_id)
    try:
        async with asyncio.timeout_at(_loop_deadline(job)):
            with enter_scopes(job.scopes):
                value = await call()
    except TimeoutError:
        if job.deadline is not None and time.monotonic() >= job.deadline:
            return timeout_outcome(job, started)
        return Outcome(error=error_from_exception(TimeoutError()), duration_s=time.monotonic() - started)
    except KeyboardInterrupt:
        raise
    except asyncio.CancelledError as exc:
        if task_cancelled():
            raise
        return Outcome(error=error_from_exception(exc), duration_s=time.monotonic() - started)
    except BaseException as exc:
        return Outcome(error=error_from_exception(exc), duration_s=time.monotonic() - started)
    finally:
        _current_call_id.reset(token)
    return Outcome(value=value, duration_s=time.monotonic() - started)


def _loop_deadline(job: Job) -> float | None:
    """The job's deadline on the running loop's clock."""
    remaining = job.remaining()
    return None if remaining is None else asyncio.get_running_loop().time() + remaining


def cancelled_outcome(job: Job, started: float | None = None) -> Outcome:
    """The outcome of a job cancelled before it finished (its reason as the message)."""
    duration = 0.0 if started is None else time.monotonic() - started
    return Outcome(error=ToolError(ErrorKind.CANCELLED, job.cancelled or "the call was cancelled"),
                   duration_s=duration)


class Outcomes:
    """One run's outcomes, the bookkeeping every backend needs: each job's slot is filled once (a later
    outcome for it, such as a late finish after its timeout, is ignored), the job is told at once
    (`Job.report`), and `on_done()` is called when the last slot fills. Safe from any thread, without a
    lock: filling a slot is one atomic dict operation.
    """

    __slots__ = ("_on_done", "filled", "jobs")

    def __init__(self, jobs: Sequence[Job], on_done: Callable[[], None] | None = None) -> None:
        self.jobs = jobs
        self.filled: dict[int, Outcome] = {}
        """The outcomes given so far, by job index: read it (`index in outcomes.filled`); fill it with `resolve`."""
        self._on_done = on_done

    def resolve(self, index: int, outcome: Outcome) -> bool:
        """Give job `index` its outcome; False (and nothing done) when it already has one."""
        if self.filled.setdefault(index, outcome) is not outcome:
            return False
        self.settled(index, outcome)
        return True

    def settled(self, index: int, outcome: Outcome) -> None:
        """The rest of `resolve` once `filled.setdefault(index, outcome) is outcome`: tell the job's listeners,
        and `on_done()` after the last job. A backend's hot path may fill `filled` itself and call this only
        when the job has listeners (`job._signals`) or was the last."""
        job = self.jobs[index]
        if job._signals is not None:
            job.report(outcome)
        if len(self.filled) == len(self.jobs) and self._on_done is not None:
            self._on_done()

    def resolve_all(self, indices: Sequence[int], outcomes: Iterable[Outcome]) -> None:
        """`resolve` for many jobs at once, in bulk when none of them has an outcome yet. Only for a run whose
        outcomes one thread gives (another thread's `resolve` meanwhile could be overwritten)."""
        filled, jobs = self.filled, self.jobs
        if not filled.keys().isdisjoint(indices):
            for index, outcome in zip(indices, outcomes, strict=True):
                self.resolve(index, outcome)
            return
        filled.update(zip(indices, outcomes, strict=True))
        for index in [index for index in indices if jobs[index]._signals is not None]:
            jobs[index].report(filled[index])
        if len(filled) == len(jobs) and self._on_done is not None:
            self._on_done()

    def get(self, index: int) -> Outcome | None:
        """Job `index`'s outcome, or None while it has none."""
        return self.filled.get(index)

    def __contains__(self, index: int) -> bool:
        return index in self.filled

    @property
    def remaining(self) -> int:
        """How many jobs have no outcome yet."""
        return len(self.jobs) - len(self.filled)

    @property
    def done(self) -> bool:
        """Whether every job has its outcome."""
        return len(self.filled) == len(self.jobs)

    def missing(self) -> list[int]:
        """The indices of the jobs without an outcome, in order."""
        filled = self.filled
        return [index for index in range(len(self.jobs)) if index not in filled]

    def result(self) -> list[Outcome]:
        """One outcome per job, in the jobs' order (every job must have one)."""
        return list(map(self.filled.__getitem__, range(len(self.jobs))))


def check_options(backend: str, options: Mapping[str, Any], accepted: Mapping[str, type | tuple[type, ...]]) -> None:
    """Refuse options a backend does not take, or of the wrong type, with a `ValueError` that lists what it
    accepts and names the option probably meant (the registry turns it into a `ConfigError` naming where the
    setting came from)."""
    for key in options:
        if key not in accepted:
            guess = difflib.get_close_matches(key, list(accepted), n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            raise ValueError(f"unknown option '{key}' for the {backend} executor{hint}; accepted: "
                             f"{', '.join(sorted(accepted)) or 'none'}")
    for key, kind in accepted.items():
        value = options.get(key)
        if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and bool not in (
                kind if isinstance(kind, tuple) else (kind,)))):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise ValueError(f"option '{key}' of the {backend} executor must be {names}, got {value!r}")


class Executor:
    """Base class of execution backends: subclass it and implement `run`.

    `run(jobs)` returns one `Outcome` per job, in the jobs' order, and returns by the latest deadline.
    `arun` defaults to running `run` in a thread; `warm` starts resources eagerly and `prepare` loads tools where
    calls will run; `close` frees them; `cancel(jobs)` stops jobs another thread is running (a backend that can do
    it overrides it).
    """

    name: str = "executor"

    def run(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Run `jobs`; one outcome per job, in order, returned by the latest deadline."""
        raise NotImplementedError

    async def arun(self, jobs: Sequence[Job]) -> list[Outcome]:
        """`run` for async callers (the default runs it in a thread, leaving the caller's loop free)."""
        return await asyncio.to_thread(self.run, jobs)

    def cancel(self, jobs: Sequence[Job]) -> None:
        """Stop these jobs (already marked with `Job.cancel`) where a `run` holds them, and give each that
        has not finished a `cancelled` outcome at once (`cancelled_outcome`). Callable from any thread.

        The default does nothing: the jobs run to their end. A job not yet started never starts anyway
        (the registry does not hand a cancelled job to a backend).
        """

    def warm(self) -> None:
        """Start workers, pools or connections now instead of on first use."""

    def prepare(self, tools: Sequence[Tool]) -> None:
        """Make `tools` ready wherever this backend runs calls, as their first calls would (for a backend whose
        workers load tools: load them there, and call `prepare()` on each invoker that has one, such as an MCP
        tool's, which opens its session), so that no first call pays for it. A tool that fails to load or
        prepare is left for its first call to report. The default does nothing: calls run where the tools are.
        """

    def close(self) -> None:
        """Release every resource; the executor may not be used afterwards."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

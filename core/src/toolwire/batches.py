"""The records hook wrappers see: a `Batch` around a whole `execute_tool_calls`, a `Dispatch` around running
its valid jobs, and the `Gate`s that hold a job back until it may start.

A batch goes through five stages: parse (the provider's shape into `ToolCall`s), resolve (each call's
tool), validate (its arguments), dispatch (the valid jobs on the backend) and results (one `ToolResult`
per call, in order). `toolwire_execute` wraps all five; `toolwire_dispatch` wraps the fourth, where
policies work: they see resolved, validated jobs and shape how they run.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from toolwire import _arguments
from toolwire._scheduling import MAX_RETRY_AFTER_S, run_jobs
from toolwire.config import Config, PolicyConfig
from toolwire.executing import Executor, Job, Outcome, _deadline_in, check_timeout
from toolwire.tools import ErrorKind, Tool, ToolCall, ToolError, ToolResult

__all__ = ["MAX_RETRY_AFTER_S", "Answerer", "Approval", "Approver", "Batch", "Dispatch", "Gate", "RegistryView"]

Approval = bool | str | dict[str, Any]
"""An answer to a call that needs approval: True (run it), False or a reason (deny it: the model reads the
reason), or a dict of edited arguments (run it with those, validated again)."""

Approver = Callable[[list[ToolCall]], Mapping[str, Approval] | Awaitable[Mapping[str, Approval]]]
"""`approve(pending_calls) -> {call_id: True | False | "reason" | {edited arguments}}`, sync or async (the
calls themselves may be the keys)."""


Answerer = Callable[[list[ToolResult]], Mapping[str, Mapping[str, Any]] | Awaitable[Mapping[str, Mapping[str, Any]]]]
"""`answer(asked) -> {call_id: answers}`, sync or async: `asked` are the `input_required` results of a batch (each
`error.input_required` says what its tool asks); the answers are MCP's shape (`inputResponses` by key, the
`requestState` to echo). A call left out keeps its `input_required` result."""


class RegistryView(Protocol):
    """What hook wrappers may use of the `ToolRegistry` a batch runs in."""

    config: Config
    policy: PolicyConfig
    approve: Approver | None
    answer: Answerer | None

    @property
    def version(self) -> int:
        """Counts changes to the tools (for caches of what is derived from them)."""
        ...

    def get(self, name: str) -> Tool:
        """The tool named `name` (`KeyError` when there is none)."""
        ...

    def list(self, *, enabled: bool | None = None) -> list[Tool]:
        """The tools, sorted by name; `enabled=True` keeps only enabled ones."""
        ...

    def executor(self, name: str | None = None) -> Executor:
        """The backend named `name` (default: the registry's), created on first use."""
        ...


@dataclass(slots=True, eq=False)
class Batch:
    """One `execute_tool_calls` batch, as `toolwire_execute` wrappers see it.

    Before the inner call, `calls` may be changed (a policy may drop or rewrite calls); after it,
    `results` holds one `ToolResult` per call.
    """

    calls: list[ToolCall]
    executor: str
    timeout: float | None
    results: list[ToolResult] = field(default_factory=list)
    registry: RegistryView | None = field(default=None, repr=False)
    approvals: Mapping[str, Approval] = field(default_factory=dict)
    """Answers given for calls that need approval, by call id (`execute_tool_calls(approvals=...)`)."""
    inputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Answers to the input calls asked for (`input_required`), by call id (`execute_tool_calls(inputs=...)`)."""
    on_result: Callable[[int, ToolResult], None] | None = field(default=None, repr=False)
    """Told each call's final result (its index, the result) as soon as it is known."""
    contexts: Mapping[int, contextvars.Context] | None = field(default=None, repr=False)
    """Where each call came from, when the batch gathers calls from several callers (`CallBatcher`: a server's
    requests, an agent's tasks): the context its caller submitted it in, by `id()` of its `ToolCall`. A tracing
    plugin parents the call's span in its caller's trace. `None` for a batch made in one place, whose own
    context is its callers'."""
    _cancelled: dict[int | None, str] = field(default_factory=dict, repr=False)
    _jobs: tuple[list[int], list[Job]] = field(default=([], []), repr=False)
    _executor: Executor | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        check_timeout(self.timeout)

    def cancel(self, indices: list[int] | None = None, reason: str = "the call was cancelled") -> None:
        """Cancel the calls at `indices` (default: all) that have not finished; callable from any thread.

        A call that has not started does not start; a running one is stopped where its backend can."""
        with self._lock:
            for index in indices if indices is not None else [None]:
                self._cancelled.setdefault(index, reason)
            positions, jobs = self._jobs
            executor = self._executor
        stopped = [job for index, job in zip(positions, jobs, strict=True) if indices is None or index in indices]
        for job in stopped:
            job.cancel(reason)
        if stopped and executor is not None:
            executor.cancel(stopped)

    def cancelled(self, index: int) -> str | None:
        """Why the call at `index` was cancelled, or None."""
        return self._cancelled.get(index) or self._cancelled.get(None)

    def job(self, index: int) -> Job | None:
        """The job made for the call at `index` (None before the call was validated, or if it was not valid)."""
        positions, jobs = self._jobs
        return next((job for position, job in zip(positions, jobs, strict=True) if position == index), None)

    def attach(self, positions: list[int], jobs: list[Job], executor: Executor) -> None:
        """Record the jobs made for the calls at `positions` and the backend running them, so that `cancel`
        reaches them."""
        with self._lock:
            self._jobs = (positions, jobs)
            self._executor = executor
            pending = dict(self._cancelled) if self._cancelled else None
        if pending:
            for index, job in zip(positions, jobs, strict=True):
                reason = pending.get(index) or pending.get(None)
                if reason is not None:
                    job.cancel(reason)


class Gate(Protocol):
    """Something a job must hold while it runs: a concurrency slot, a rate token.

    `acquire()` takes it without waiting (False when it cannot now); `release()` gives it back when the
    job ends; `ready_at()` is the `time.monotonic()` instant it may next be acquired, or None when that
    depends on another job releasing it. A gate shared by several batches must be thread-safe.
    A gate may also have `acquire_many(n) -> int` (take up to `n` at once; how many were taken) and
    `release_many(n)`: the scheduler then takes it once for all the jobs of a wave that need it.
    """

    def acquire(self) -> bool:
        """Take the gate without waiting; False when it cannot be taken now."""
        ...

    def release(self) -> None:
        """Give the gate back (its job ended)."""
        ...

    def ready_at(self) -> float | None:
        """The `time.monotonic()` instant the gate may next be taken, or None when that depends on a release."""
        ...


RetrySpec = tuple[int, frozenset[ErrorKind], Callable[[int], float]]
"""How a job is retried: at most this many attempts, after these failures, waiting `backoff(n)` seconds."""


def _set_each(items: list[Any], count: int, index: int | Sequence[int], change: Callable[[Any], Any],
              unset: Any) -> list[Any]:
    """`items` (`count` of them, or none yet: all `unset`) with `items[i] = change(items[i])` for `index` or each
    index of a sequence. A range of items none of which is set yet is set in one step (the common case: one
    policy setting for a whole dispatch)."""
    if not items:
        if index == range(count):
            return [change(unset)] * count
        items = [unset] * count
    if isinstance(index, int):
        items[index] = change(items[index])
    elif isinstance(index, range) and index.step == 1 and index and not any(items[index.start:index.stop]):
        items[index.start:index.stop] = [change(items[index.start])] * len(index)
    else:
        for i in index:
            items[i] = change(items[i])
    return items


@dataclass(slots=True, eq=False)
class Dispatch:
    """The valid jobs of one batch, about to run on `executor`, as `toolwire_dispatch` wrappers see them.

    Before `yield`, a wrapper shapes how the jobs run: `settle(i, outcome)` gives job `i` its outcome
    so that it does not run; `after(i, j)` starts job `i` only once job `j` has finished; `gate(i, g)`
    makes job `i` hold gate `g` while it runs; `retry(i, attempts, kinds)` runs a job again when it
    fails with one of `kinds`; `set_timeout(i, seconds)` gives it a time allowance of its own;
    `revalidate(i, arguments)` replaces its arguments, validated again. `gate`, `retry` and `set_timeout`
    also take a sequence of indices, for many jobs at once. After `yield`, `outcomes`
    holds one `Outcome` per job, `attempts` how many times each ran, and `on_outcome` has returned for each.
    """

    registry: RegistryView = field(repr=False)
    executor: Executor
    calls: list[ToolCall]
    """The call each job came from (`calls[i]` for `jobs[i]`)."""
    jobs: list[Job]
    timeout: float | None
    """Each call's time allowance in seconds (its deadline is `jobs[i].deadline`); a retry gets it anew."""
    approvals: Mapping[str, Approval] = field(default_factory=dict)
    outcomes: list[Outcome | None] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    waits_for: dict[int, list[int]] = field(default_factory=dict)
    """The jobs each job waits for (`after`), by index."""
    gates: list[tuple[Gate, ...]] = field(default_factory=list)
    """The gates each job holds while it runs (`gate`): empty until one is set, then one tuple per job."""
    retries: list[RetrySpec | None] = field(default_factory=list)
    """How each job is retried (`retry`): empty until one is set, then one entry per job."""
    timeouts: dict[int, float | None] = field(default_factory=dict)
    """The jobs given a time allowance of their own (`set_timeout`), by index; the others have `timeout`."""
    on_outcome: Callable[[int, Outcome], None] | None = field(default=None, repr=False)
    """Told each job's final outcome as soon as it is known (the registry hands results out early)."""
    stash: dict[Any, Any] = field(default_factory=dict, repr=False)
    """Work that several wrappers need, done once per dispatch: each keys it with an object of its own."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _telling: int = field(default=0, repr=False)
    """How many outcomes `on_outcome` is being told right now (from any thread)."""
    _told: threading.Condition | None = field(default=None, repr=False)
    """Wakes `_all_told` (made by it, on `_lock`, once a batch waits for its listener)."""

    def __post_init__(self) -> None:
        if not self.outcomes:
            self.outcomes = [None] * len(self.jobs)
        if not self.attempts:
            self.attempts = [0] * len(self.jobs)

    def settle(self, index: int, outcome: Outcome) -> None:
        """Give job `index` its outcome now; it will not run (again). The first outcome given stays."""
        if self.outcomes[index] is not None:
            return
        if self.on_outcome is None:
            self.outcomes[index] = outcome
            return
        with self._lock:  # a backend may report a job from its own thread
            if self.outcomes[index] is not None:
                return
            self.outcomes[index] = outcome
            self._telling += 1
        try:
            self.on_outcome(index, outcome)
        finally:
            with self._lock:
                self._telling -= 1
                if not self._telling and self._told is not None:
                    self._told.notify_all()

    def _all_told(self) -> None:
        """Wait until `on_outcome` has been told every outcome settled so far (a backend's thread may still be
        telling one when the last job ends), so that a batch ends after its listener has heard each result."""
        with self._lock:
            if self._telling:
                self._told = self._told or threading.Condition(self._lock)
                self._told.wait_for(lambda: not self._telling)

    def refuse(self, index: int, kind: ErrorKind, message: str) -> None:
        """Settle job `index` with an error of `kind` saying `message`."""
        self.settle(index, Outcome(error=ToolError(kind, message)))

    def after(self, index: int, other: int) -> None:
        """Start job `index` only once job `other` has an outcome."""
        self.waits_for.setdefault(index, []).append(other)

    def gate(self, index: int | Sequence[int], *gates: Gate) -> None:
        """Make job `index` (or each job of a sequence of indices) hold each of `gates` while it runs (it
        waits for them, up to its deadline)."""
        if gates:
            self.gates = _set_each(self.gates, len(self.jobs), index, lambda held: held + gates, ())

    def retry(self, index: int | Sequence[int], attempts: int, kinds: frozenset[ErrorKind],
              backoff: Callable[[int], float]) -> None:
        """Run job `index` (or each job of a sequence of indices) up to `attempts` times while it fails
        with one of `kinds`, waiting `backoff(n)` seconds before attempt `n + 1`, or the failure's
        `retry_after` when longer (one asking for more than `MAX_RETRY_AFTER_S` is not run again); each
        attempt gets the full `timeout`."""
        spec = (attempts, kinds, backoff)
        self.retries = _set_each(self.retries, len(self.jobs), index, lambda _: spec, None)

    def revalidate(self, index: int, arguments: Mapping[str, Any]) -> bool:
        """Replace job `index`'s arguments with `arguments`, validated as the model's are; an invalid
        replacement settles the job as `invalid_arguments`. Returns whether the job can still run."""
        job = self.jobs[index]
        try:
            checked = _arguments.check(job.tool, arguments)
        except ValueError as exc:
            self.refuse(index, ErrorKind.INVALID_ARGUMENTS, f"invalid arguments for '{job.tool.name}': {exc}")
            return False
        self.jobs[index] = replace(job, arguments=checked)
        return True

    def set_timeout(self, index: int | Sequence[int], seconds: float | None) -> None:
        """Give job `index` (or each job of a sequence of indices) `seconds` (None or inf: no limit) in place of
        the batch's `timeout`: its deadline is that far from now, and each retry gets as long."""
        limit = check_timeout(seconds)
        deadline = _deadline_in(limit)
        for i in [index] if isinstance(index, int) else index:
            self.timeouts[i] = limit
            self.jobs[i] = replace(self.jobs[i], deadline=deadline)

    def fresh_deadline(self, index: int | None = None) -> float | None:
        """A deadline for job `index` starting again now: its own allowance (`set_timeout`), else `timeout`."""
        return _deadline_in(self.timeout if index is None else self.timeouts.get(index, self.timeout))

    def run(self, indices: list[int] | None = None) -> None:
        """Run the jobs at `indices` (default: every job without an outcome) on the executor, honouring
        `after`, `gate` and `retry`; returns once each has an outcome."""
        run_jobs(self, range(len(self.jobs)) if indices is None else indices)
